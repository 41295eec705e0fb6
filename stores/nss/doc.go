// Package nss is the nss trust-store adapter (in progress).
package nss
