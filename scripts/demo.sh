#!/usr/bin/env bash
# Anchorwatch demo (make demo): a sandbox that looks like a Debian
# workstation, a freshly made interception CA installed into every trust
# store, audited, then removed by a "user" with the real certutil and
# keytool, and the drift caught by the next audit. Then the fleet side: a
# signed policy, a collector (SQLite) on 127.0.0.1, and the agent keeping
# the sandbox's stores in line, healing deletions within a second and
# reporting them to the collector, whose dashboard URL and a viewer token
# are printed at the end.
#
# Nothing outside ./demo-sandbox is changed: the sandbox is a directory
# tree, every command runs with --root on it, and the collector's database,
# its certificate and the agent's state live in ./demo-sandbox too (no
# service is installed). The collector and the agent stop when the demo
# ends; DEMO_KEEP=1 leaves them running (their PIDs are printed).
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
command -v curl >/dev/null || need+=(curl)
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
# A collector and agent left running by DEMO_KEEP=1 go first.
if [ -f "$DEMO/demo.pids" ]; then
  while read -r pid; do
    if grep -qa anchorwatch "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done < "$DEMO/demo.pids"
  sleep 0.5
fi
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
go run ./internal/mksandbox "$ROOT" >/dev/null

step "A freshly generated demo interception CA"
show_quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$DEMO/demo-ca.key" -out "$DEMO/demo-ca.pem" -days 365 \
  -subj "/O=Example Corp/CN=Example Corp TLS Inspection CA (demo)" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "extendedKeyUsage=serverAuth"
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

# --- the fleet side: signed policy, collector, agent ------------------------
step "A policy-signing key (it never goes to the collector)"
show_quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$DEMO/policy-signer.key" -out "$DEMO/policy-signer.pem" -days 365 \
  -subj "/O=Example Corp/CN=Example Corp Anchorwatch policy signer (demo)"
show "$BIN" policy init --ca "$CA" -o "$DEMO/policy.json"
show "$BIN" policy sign --key "$DEMO/policy-signer.key" --cert "$DEMO/policy-signer.pem" "$DEMO/policy.json" -o "$DEMO/policy.p7m"
show "$BIN" policy verify --signer "$DEMO/policy-signer.pem" "$DEMO/policy.p7m"

step "The collector: SQLite in the sandbox, TLS with its own certificate, on 127.0.0.1"
COLL=("$BIN" collector --data-dir "$DEMO/collector")
show "${COLL[@]}" init
cmdline "${COLL[@]}" secret add demo
SECRET=$("${COLL[@]}" secret add demo)
printf '%s\n' "$SECRET" > "$DEMO/enroll-secret"
chmod 600 "$DEMO/enroll-secret"
echo "(enroll secret written to $DEMO/enroll-secret)"
cmdline "${COLL[@]}" token add demo-viewer --role viewer
VIEWER=$("${COLL[@]}" token add demo-viewer --role viewer)
echo "(viewer token: printed at the end)"
show "${COLL[@]}" policy upload "$DEMO/policy.p7m"

PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -f "$DEMO/demo.pids"
}
if [ "${DEMO_KEEP:-0}" != 1 ]; then trap stop_all EXIT; fi
# fail stops the demo, saying why, with the end of a log.
fail() {
  echo "demo: $1"
  if [ -n "${2:-}" ]; then tail -n 20 "$2"; fi
  exit 1
}

cmdline "${COLL[@]}" serve --listen 127.0.0.1:0 '&'
"${COLL[@]}" serve --listen 127.0.0.1:0 >"$DEMO/collector.out" 2>"$DEMO/collector.log" &
PIDS+=($!)
printf '%s\n' "${PIDS[@]}" > "$DEMO/demo.pids"
URL=
for _ in $(seq 300); do
  URL=$(sed -n 's/.*msg="collector listening" url=\([^ ]*\).*/\1/p' "$DEMO/collector.log")
  [ -n "$URL" ] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || fail "the collector did not start" "$DEMO/collector.log"
  sleep 0.1
done
[ -n "$URL" ] || fail "the collector did not start" "$DEMO/collector.log"
FP=$(sed -n 's/.*fingerprint (pin it in agents): //p' "$DEMO/collector.out")
echo "listening on $URL; certificate SHA-256 $FP"

step "The agent, on the sandbox root, pinned to the collector and the policy signer"
printf '%s\n' "{" \
  "  \"collector_url\": \"$URL\"," \
  "  \"collector_fingerprint\": \"$FP\"," \
  "  \"enroll_secret_file\": \"$DEMO/enroll-secret\"," \
  "  \"policy_signer_file\": \"$DEMO/policy-signer.pem\"," \
  "  \"state_dir\": \"$DEMO/agent-state\"," \
  "  \"heartbeat_interval\": \"30s\"" \
  "}" > "$DEMO/agent.json"
cat "$DEMO/agent.json"
cmdline "$BIN" agent run --config "$DEMO/agent.json" --root "$ROOT" '&'
"$BIN" agent run --config "$DEMO/agent.json" --root "$ROOT" 2>"$DEMO/agent.log" &
PIDS+=($!)
printf '%s\n' "${PIDS[@]}" > "$DEMO/demo.pids"
STATUS=$DEMO/agent-state/status.json
settled() {
  [ -f "$STATUS" ] && grep -q '"policy_serial": 1' "$STATUS" && grep -q '"spool_pending": 0' "$STATUS" \
    && ! grep -q '"status": "\(missing\|untrusted\|error\)"' "$STATUS"
}
for _ in $(seq 600); do
  settled && break
  kill -0 "${PIDS[1]}" 2>/dev/null || fail "the agent stopped" "$DEMO/agent.log"
  sleep 0.1
done
settled || fail "the agent did not settle within a minute" "$DEMO/agent.log"
# events prints the event lines of the agent's log from line $1 on.
events() {
  tail -n +"$1" "$DEMO/agent.log" | grep 'msg=event' \
    | sed -n -e 's/.*msg=event type=\([^ ]*\) store="".*/  \1/p' -e 's/.*msg=event type=\([^ ]*\) store=\([^ ]*\).*/  \1  \2/p'
}
echo "It enrolled, fetched and verified the signed policy, and put the CA back where the"
echo "user had deleted it (events from its log):"
events 1
show_rc "$BIN" audit --ca "$CA" --root "$ROOT"

step "The user deletes the CA again, from Firefox and from Java"
mark=$(($(wc -l < "$DEMO/agent.log") + 1))
show certutil -D -d "sql:$ROOT/home/alice/.mozilla/firefox/k3x9w2p1.default-release" -n "$LABEL"
show "$KEYTOOL" -delete -keystore "$ROOT/etc/ssl/certs/java/cacerts" -storepass changeit -alias "$LABEL"
t0=$(date +%s%N)
until "$BIN" audit --ca "$CA" --root "$ROOT" --stores nss,java >/dev/null 2>&1; do
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ] || fail "the CA did not come back" "$DEMO/agent.log"
  sleep 0.02
done
echo "Back in every NSS database and Java keystore $(( ($(date +%s%N) - t0) / 1000000 )) ms after keytool returned:"
show_rc "$BIN" audit --ca "$CA" --root "$ROOT"

step "What the collector received: installs, then removed + healed pairs (dashboard API, viewer token)"
for _ in $(seq 100); do
  [ "$(events "$mark" | grep -c healed)" -ge 2 ] && break
  sleep 0.1
done
for _ in $(seq 100); do
  grep -q '"spool_pending": 0' "$STATUS" && break
  sleep 0.1
done
sleep 0.3
since=$(date -u -d "@$((t0 / 1000000000 - 5))" +%Y-%m-%dT%H:%M:%SZ)
cmdline curl -s --cacert "$DEMO/collector/collector-cert.pem" -H 'Authorization: Bearer $VIEWER' "$URL/api/v1/events?since=$since&order=asc"
curl -s --cacert "$DEMO/collector/collector-cert.pem" -H "Authorization: Bearer $VIEWER" "$URL/api/v1/events?since=$since&order=asc" \
  | sed -e 's/},{"id"/}\n{"id"/g' \
  | sed -n 's/.*"time":"\([^"]*\)","type":"\([^"]*\)","store_id":"\([^"]*\)".*"hostname":"\([^"]*\)".*/  \1  \4  \2  \3/p'

step "The dashboard"
echo "  URL:          $URL/"
echo "  viewer token: $VIEWER"
echo "  (TLS: the collector's self-signed certificate $DEMO/collector/collector-cert.pem,"
echo "   SHA-256 $FP)"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  echo "DEMO_KEEP=1: the collector (pid ${PIDS[0]}) and the agent (pid ${PIDS[1]}) keep running;"
  echo "stop them with: kill ${PIDS[*]}   (the next make demo stops them too)"
else
  echo "The collector and the agent stop now; DEMO_KEEP=1 make demo keeps them running."
fi

step "Try next"
cat <<EOF
  $BIN install --ca $CA --root $ROOT          # heal the drift
  $BIN audit --ca $CA --root $ROOT --json     # machine output, exit 0/1/2
  $BIN inventory --root $ROOT --json | jq '.summary'
  $BIN remove --ca $CA --root $ROOT --dry-run
  $BIN remove --sha256 \$(openssl x509 -in $CA -noout -fingerprint -sha256 | cut -d= -f2) --root $ROOT --stores nss
  $BIN agent status --config $DEMO/agent.json   # what the agent last saw
Docs: docs/commands/README.md, docs/agent.md, docs/policy.md, docs/collector.md.
The sandbox stays in $DEMO (gitignored); make demo rebuilds it.
EOF
