#!/usr/bin/env bash
# Prepare a Wine prefix in which Go (>= 1.22) Windows binaries run:
#   scripts/wine-setup.sh PREFIX
# Creates PREFIX with `wineboot -i`, builds bcryptprimitives.dll (ProcessPrng
# over RtlGenRandom, which Wine 8 lacks) with mingw-w64 and copies it into
# PREFIX/drive_c/windows/system32/. Then run programs with
#   WINEPREFIX=PREFIX WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=;bcryptprimitives=n' wine64 prog.exe
# Needs the Debian packages wine64 and gcc-mingw-w64-x86-64-win32.
# Used by stores/windows/wine_test.go; never touches a prefix it did not get.
set -euo pipefail

prefix=${1:?usage: wine-setup.sh PREFIX}
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/stores/windows/testdata/processprng.c

wine=$(command -v wine64 || true)
[ -n "$wine" ] || { [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64; } || true
[ -n "$wine" ] || { echo "wine-setup: wine64 not found: apt-get install wine64" >&2; exit 1; }
wineserver=$(command -v wineserver || true)
[ -n "$wineserver" ] || wineserver=/usr/lib/wine/wineserver
cc=$(command -v x86_64-w64-mingw32-gcc || true)
[ -n "$cc" ] || { echo "wine-setup: x86_64-w64-mingw32-gcc not found: apt-get install gcc-mingw-w64-x86-64-win32" >&2; exit 1; }

mkdir -p "$prefix"
export WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml='
"$wine" wineboot -i >"$prefix/wineboot.log" 2>&1 || { cat "$prefix/wineboot.log" >&2; exit 1; }
"$wineserver" -w

sys32=$prefix/drive_c/windows/system32
[ -d "$sys32" ] || { echo "wine-setup: $sys32 missing after wineboot (see $prefix/wineboot.log)" >&2; exit 1; }
"$cc" -shared -O2 -o "$sys32/bcryptprimitives.dll" "$src" -ladvapi32 -Wl,--kill-at
echo "wine-setup: prefix $prefix ready (wine: $wine)"
