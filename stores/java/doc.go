// Package java is the java trust-store adapter (in progress).
package java
