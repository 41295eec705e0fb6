#!/usr/bin/env bash
# Checks that the real tools the test suite runs against are on this
# machine. As root it installs what is missing with apt-get; otherwise it
# prints the exact command to run and fails.
set -euo pipefail

# command-or-path  Debian package  [# used: what in the repository uses a
# package checked by one of its files] — every entry is used by something
# (cmd/anchorwatch TestTestDepsAreUsed).
checks=(
  "openssl openssl"
  "/usr/sbin/update-ca-certificates ca-certificates"
  "chattr e2fsprogs"
  "certutil libnss3-tools"
  "tstclnt libnss3-tools"
  "/etc/ssl/certs/java/cacerts ca-certificates-java"
  "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool openjdk-17-jdk-headless"
  "/usr/lib/postgresql/15/bin/initdb postgresql"
  "squid squid-openssl"
  "/usr/lib/squid/security_file_certgen squid-openssl"
  "chromium chromium"
  "curl curl"
  "/usr/lib/wine/wine64 wine64"
  "x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64-win32"
  "systemd-analyze systemd"
  "promtool prometheus"
  "git git"
  "node nodejs"
  "npm npm"
  "/usr/share/python-wheels python3-venv"  # used: "-m", "venv"
  "/usr/lib/python3/dist-packages/requests python3-requests"
  "wget wget"
  "plistutil libplist-utils"
  "aws awscli"
  "wixl wixl"
  "msibuild msitools"
  "osslsigncode osslsigncode"
  "/usr/sbin/debootstrap debootstrap"
  "cpio cpio"
  "file file"
  "readelf binutils"
  "/usr/include/stdio.h libc6-dev"  # used: #include <stdio.h>
  "make make"
  "/usr/bin/python3 python3"
  "bsdtar libarchive-tools"
  "rpm rpm"
  "dpkg-deb dpkg"
  "gcc gcc"
  "/usr/lib/firefox-esr/libsoftokn3.so firefox-esr"
  "useradd passwd"
  "softhsm2-util softhsm2"
  "pkcs11-tool opensc"
  "/usr/sbin/haproxy haproxy"
)
need=()
for c in "${checks[@]}"; do
  what=${c% *} pkg=${c##* }
  if [[ $what == /* ]]; then [ -e "$what" ] && continue
  else command -v "$what" >/dev/null 2>&1 && continue; fi
  [[ " ${need[*]-} " == *" $pkg "* ]] || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test-deps: installing what the tests need: $cmd"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  $cmd
else
  echo "test-deps: the tests run against real tools that are missing here."
  echo "Install them with:"
  echo "  sudo $cmd"
  exit 1
fi
