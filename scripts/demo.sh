#!/usr/bin/env bash
# Anchorwatch demo (make demo): a sandbox that looks like a Debian
# workstation, a freshly made interception CA installed into every trust
# store, audited, then removed by a "user" with the real certutil and
# keytool, and the drift caught by the next audit.
#
# Nothing outside ./demo-sandbox is changed: the sandbox is a directory
# tree, and every command runs with --root on it.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-./bin/anchorwatch}
DEMO=${DEMO_DIR:-./demo-sandbox}
export PATH=/usr/local/go/bin:$PATH

bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
if [ ! -t 1 ]; then bold=; dim=; off=; fi
step() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
# cmdline prints a command the way it could be pasted back into a shell.
cmdline() {
  local out=() a
  for a in "$@"; do
    if [[ $a =~ [^A-Za-z0-9_./:=,@+-] ]]; then out+=("'${a//\'/\'\\\'\'}'"); else out+=("$a"); fi
  done
  printf '%s$ %s%s\n' "$dim" "${out[*]}" "$off"
}
show() { cmdline "$@"; "$@"; }
show_quiet() { cmdline "$@"; "$@" 2>/dev/null; }
# show_rc runs a command whose non-zero exit is part of the story.
show_rc() { cmdline "$@"; set +e; "$@"; rc=$?; set -e; printf '%s(exit status %d)%s\n' "$dim" "$rc" "$off"; }

# --- what the demo needs -------------------------------------------------
need=()
command -v go >/dev/null || { echo "demo: Go is needed (https://go.dev/dl/, or /usr/local/go)"; exit 1; }
command -v openssl >/dev/null || need+=(openssl)
command -v certutil >/dev/null || need+=(libnss3-tools)
[ -x /usr/sbin/update-ca-certificates ] || need+=(ca-certificates)
KEYTOOL=$(ls /usr/lib/jvm/java-17-openjdk-*/bin/keytool 2>/dev/null | head -n1 || true)
[ -n "$KEYTOOL" ] || KEYTOOL=$(command -v keytool || true)
[ -n "$KEYTOOL" ] || need+=(openjdk-17-jdk-headless)
[ -f /etc/ssl/certs/java/cacerts ] || need+=(ca-certificates-java)
if [ ${#need[@]} -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${need[*]}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "demo: installing what it needs: $cmd"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $cmd
    KEYTOOL=$(ls /usr/lib/jvm/java-17-openjdk-*/bin/keytool 2>/dev/null | head -n1 || command -v keytool)
  else
    echo "demo: missing Debian packages: ${need[*]}"
    echo "run:  sudo $cmd"
    exit 1
  fi
fi
[ -x "$BIN" ] || make build

# --- the sandbox -----------------------------------------------------------
step "A sandbox that looks like a Debian workstation"
if [ -e "$DEMO" ]; then
  if [ -f "$DEMO/root/.anchorwatch-sandbox" ] || [ -z "$(ls -A "$DEMO")" ]; then
    rm -rf "$DEMO"
  else
    echo "demo: $DEMO exists and is not a demo sandbox; move it away first"; exit 1
  fi
fi
mkdir -p "$DEMO"
DEMO=$(cd "$DEMO" && pwd)
ROOT=$DEMO/root
echo "Building $ROOT: Debian system store (full Mozilla bundle, real update-ca-certificates),"
echo "alice's Firefox profile and Chromium nssdb (real certutil), OpenJDK 17 (Debian's shared JKS)"
echo "and Temurin 25 (its own PKCS12 cacerts)."
go run ./scripts/mksandbox "$ROOT" >/dev/null

step "A freshly generated demo interception CA"
show_quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$DEMO/demo-ca.key" -out "$DEMO/demo-ca.pem" -days 30 \
  -subj "/O=Example Corp/CN=Example Corp TLS Inspection CA (demo)" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
show openssl x509 -in "$DEMO/demo-ca.pem" -noout -subject -fingerprint -sha256
CA=$DEMO/demo-ca.pem
LABEL=anchorwatch-$(openssl x509 -in "$CA" -outform DER | sha256sum | cut -c1-16)

step "Every trust store on the host"
show "$BIN" stores --root "$ROOT"

step "Install the CA everywhere"
show "$BIN" install --ca "$CA" --root "$ROOT"
step "Install again: idempotent"
show "$BIN" install --ca "$CA" --root "$ROOT"

step "Audit: every store holds the CA, trusted for TLS server auth"
show_rc "$BIN" audit --ca "$CA" --root "$ROOT"
echo "The real tools agree:"
show certutil -L -d "sql:$ROOT/home/alice/.mozilla/firefox/k3x9w2p1.default-release"

step "A user deletes it from Firefox and from Java (with the real tools)"
show certutil -D -d "sql:$ROOT/home/alice/.mozilla/firefox/k3x9w2p1.default-release" -n "$LABEL"
show "$KEYTOOL" -delete -keystore "$ROOT/etc/ssl/certs/java/cacerts" -storepass changeit -alias "$LABEL"

echo "...and some shopping add-on slips its own root into Chromium's database:"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
  -out "$DEMO/rogue.pem" -days 3650 -subj "/CN=Shopping Helper Secure Root" \
  -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
show certutil -A -d "sql:$ROOT/home/alice/.pki/nssdb" -n "Shopping Helper" -t C,, -a -i "$DEMO/rogue.pem"

step "Audit again: the drift is shown"
show_rc "$BIN" audit --ca "$CA" --root "$ROOT"

step "Everything else these stores trust"
show_rc "$BIN" inventory --ca "$CA" --root "$ROOT" --class managed,unknown,blocked

step "Try next"
cat <<EOF
  $BIN install --ca $CA --root $ROOT          # heal the drift
  $BIN audit --ca $CA --root $ROOT --json     # machine output, exit 0/1/2
  $BIN inventory --root $ROOT --json | jq '.summary'
  $BIN remove --ca $CA --root $ROOT --dry-run
  $BIN remove --sha256 \$(openssl x509 -in $CA -noout -fingerprint -sha256 | cut -d= -f2) --root $ROOT --stores nss
Docs: docs/commands/README.md. The sandbox stays in $DEMO (gitignored); make demo rebuilds it.
EOF
