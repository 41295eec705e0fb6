package fsroot

import "golang.org/x/sys/unix"

// dirFlags open a directory for lookups only (O_PATH needs no read
// permission, so a user can walk to their home through a 0711 parent).
const dirFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
