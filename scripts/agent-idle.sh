#!/usr/bin/env bash
# Measure an idle agent: RSS, CPU time and wake-ups (context switches)
# over DURATION seconds (default 600), after it reconciled a Debian-like
# sandbox against a local collector (SQLite) and everything is quiet.
#
#   scripts/agent-idle.sh [DURATION]
#
# Everything lives in a temporary directory that is removed at the end;
# the collector listens on 127.0.0.1 only. Nothing on the host changes.
# Timers in force: heartbeat 5m and rescan 15m (the policy defaults), so a
# 10-minute window holds two heartbeats and no rescan.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
BIN=${BIN:-./bin/anchorwatch}
export PATH=/usr/local/go/bin:$PATH
[ -x "$BIN" ] || make build >/dev/null

W=$(mktemp -d /tmp/aw-idle.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

go run ./internal/mksandbox "$W/root" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" -days 30 \
  -subj "/CN=Idle Test CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/signer.key" -out "$W/signer.pem" -days 30 \
  -subj "/CN=Idle Test policy signer" 2>/dev/null
"$BIN" policy init --ca "$W/ca.pem" -o "$W/policy.json"
"$BIN" policy sign --key "$W/signer.key" --cert "$W/signer.pem" "$W/policy.json" -o "$W/policy.p7m" >/dev/null

C="$BIN collector --data-dir $W/collector"
$C secret add idle > "$W/enroll-secret"
$C policy upload "$W/policy.p7m" >/dev/null
$C serve --listen 127.0.0.1:0 >"$W/collector.out" 2>"$W/collector.log" &
pids+=($!)
url=
for _ in $(seq 100); do
  url=$(sed -n 's/.*msg="collector listening" url=\([^ ]*\).*/\1/p' "$W/collector.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$W/collector.log"; echo "idle: the collector did not start"; exit 1; }

cat > "$W/agent.json" <<EOF2
{"collector_url": "$url", "collector_ca_file": "$W/collector/collector-cert.pem",
 "enroll_secret_file": "$W/enroll-secret", "policy_signer_file": "$W/signer.pem",
 "state_dir": "$W/agent-state"}
EOF2
"$BIN" agent run --config "$W/agent.json" --root "$W/root" 2>"$W/agent.log" &
agent=$!
pids+=($agent)

# Settled: every store compliant and nothing left to send.
for _ in $(seq 600); do
  if [ -f "$W/agent-state/status.json" ] && ! grep -q '"status": "\(missing\|untrusted\|error\)"' "$W/agent-state/status.json" \
     && grep -q '"spool_pending": 0' "$W/agent-state/status.json" && grep -q '"policy_serial": 1' "$W/agent-state/status.json"; then
    break
  fi
  sleep 0.1
done
sleep 5
grep -c '"id"' "$W/agent-state/status.json" | sed 's/^/stores reconciled: /'

cpu() { awk '{print $14+$15}' "/proc/$agent/stat"; }
switches() { cat /proc/"$agent"/task/*/status 2>/dev/null | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s+=$2} END {print s}'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$agent/status"; }
hz=$(getconf CLK_TCK)
c0=$(cpu); s0=$(switches); r0=$(rss); t0=$(date +%s.%N)
echo "idle window: ${DURATION}s starting $(date -u +%FT%TZ); RSS at start ${r0} KiB"
sleep "$DURATION"
c1=$(cpu); s1=$(switches); r1=$(rss); t1=$(date +%s.%N)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status")
threads=$(ls /proc/"$agent"/task | wc -l)
awk -v c0="$c0" -v c1="$c1" -v hz="$hz" -v s0="$s0" -v s1="$s1" -v t0="$t0" -v t1="$t1" -v r1="$r1" -v hwm="$hwm" -v th="$threads" 'BEGIN {
  el = t1 - t0; cpu = (c1 - c0) / hz; sw = s1 - s0
  printf "elapsed %.0f s\nCPU time %.2f s (%.4f%% of one core)\ncontext switches %d (%.2f per second, all %d threads)\nRSS at end %.1f MiB, peak %.1f MiB\n",
    el, cpu, 100 * cpu / el, sw, sw / el, th, r1 / 1024, hwm / 1024 }'
grep -E "^(RssAnon|RssFile)" "/proc/$agent/status" | tr -s " \t" " "
echo "agent log lines during the run: $(wc -l < "$W/agent.log")"
