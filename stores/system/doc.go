// Package system is the system trust-store adapter (in progress).
package system
