// Package wsl is the adapter for the Windows Subsystem for Linux: one
// store per distribution, the distribution's own system store read
// through its root file system.
//
// Distributions are registered per user under
// HKEY_USERS\<SID>\Software\Microsoft\Windows\CurrentVersion\Lxss\{GUID}
// (DistributionName, BasePath, Version); the agent, running as SYSTEM,
// sees those of every loaded profile. A WSL 1 distribution keeps its files
// in BasePath\rootfs; a WSL 2 one in an ext4.vhdx, reachable from Windows
// only as \\wsl.localhost\<name> while it runs and for its user. The store
// reads /etc/os-release there, picks the family's extracted bundle (the
// table of stores/system) and lists it: the CA counts as present only when
// it is in the bundle Linux programs read.
//
// The store is read-only from Windows. Linux metadata of a WSL 1 root
// file system lives in NTFS extended attributes that Windows tools do not
// keep, and the bundle must be rebuilt by the distribution's own tool, so
// Install says what to run instead: anchorwatch inside the distribution
// (wsl -d <name> -u root -- anchorwatch install --ca …), or the agent
// installed there. A distribution that cannot be read (WSL 2 not
// running) is listed with a Note.
//
// The registry walk is Windows-only (register_windows.go); reading a root
// file system is plain code, tested on Linux.
package wsl
