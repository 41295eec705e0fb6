#!/usr/bin/env bash
# make packages: every deployment artifact for the demo collector, built on
# Linux without Docker, macOS or Windows, into dist/:
#
#   anchorwatch_V-1_amd64.deb  anchorwatch-V-1.x86_64.rpm   Linux agent (static binary)
#   anchorwatch-V-x64.msi      (Authenticode-signed with a demo code-signing certificate)
#   anchorwatch-V.pkg          macOS agent, universal binary (unsigned: productsign it)
#   demo-ca.mobileconfig       the CA as a signed Apple profile
#   gpo/  intune/              the GPO and Intune kits (intune/graph/lob-app.json for the MSI)
#   demo/                      the demo PKI, agent config and the collector's data directory
#
# The demo collector: everything the packages pin lives in dist/demo/collector
# (its TLS certificate, the enroll secret, the signed policy); start it with
#   ./bin/anchorwatch collector --data-dir dist/demo/collector serve --listen :8443
# Agents reach it at COLLECTOR_URL (default https://$(hostname -f):8443).
# The demo keys in dist/demo are for trying things out only.
set -euo pipefail
cd "$(dirname "$0")/.."

DIST=${DIST:-dist}
V=${PKG_VERSION:-0.1.0}
MAINTAINER=${PKG_MAINTAINER:-Anchorwatch demo <anchorwatch@localhost>}
HOST=$(hostname -f 2>/dev/null || hostname)
URL=${COLLECTOR_URL:-https://$HOST:8443}
GO=${GO:-go}
export PATH=/usr/local/go/bin:$PATH

need=()
for t in openssl wixl:wixl msibuild:msitools osslsigncode:osslsigncode msiinfo:msitools; do
  cmd=${t%%:*} pkg=${t#*:}; [ "$pkg" = "$t" ] && pkg=$cmd
  command -v "$cmd" >/dev/null || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "packages: missing Debian packages: ${need[*]} (apt-get install ${need[*]})" >&2
  exit 1
fi

rm -rf "$DIST"
mkdir -p "$DIST/bin" "$DIST/demo/collector"
D=$DIST/demo
BIN=$DIST/bin

echo "== binaries (version $V, no cgo)"
ldflags="-s -w -X main.version=$V"
build() { CGO_ENABLED=0 GOOS=$1 GOARCH=$2 $GO build -trimpath -ldflags "$ldflags" -o "$3" ./cmd/anchorwatch; }
build linux amd64 "$BIN/anchorwatch-linux-amd64"
build windows amd64 "$BIN/anchorwatch.exe"
build darwin arm64 "$BIN/anchorwatch-darwin-arm64"
build darwin amd64 "$BIN/anchorwatch-darwin-amd64"
AW=$BIN/anchorwatch-linux-amd64

echo "== demo PKI and collector ($URL)"
q() { "$@" >/dev/null 2>&1; }
ec() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "${4:-30}" -keyout "$1.key" -out "$1.pem" -subj "$2" $3; }
q ec "$D/demo-ca" "/O=Example Corp/CN=Example Corp TLS Inspection CA (demo)" \
  "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
q ec "$D/policy-signer" "/O=Example Corp/CN=Example Corp Anchorwatch policy signer (demo)" "" 365
q ec "$D/profile-signer" "/O=Example Corp/CN=Example Corp profile signer (demo)" "" 365
q ec "$D/codesign" "/O=Example Corp/CN=Example Corp code signing (demo)" \
  "-addext extendedKeyUsage=codeSigning -addext keyUsage=critical,digitalSignature" 365
# The collector's own certificate, as `collector serve` would make it: its
# own CA, for this host.
q ec "$D/collector/collector" "/O=Example Corp/CN=anchorwatch collector $HOST" \
  "-addext basicConstraints=critical,CA:TRUE,pathlen:0 -addext keyUsage=critical,digitalSignature,keyCertSign -addext extendedKeyUsage=serverAuth -addext subjectAltName=DNS:$HOST,DNS:localhost,IP:127.0.0.1" 3650
mv "$D/collector/collector.pem" "$D/collector/collector-cert.pem"
mv "$D/collector/collector.key" "$D/collector/collector-key.pem"
chmod 600 "$D"/*.key "$D/collector/collector-key.pem"
"$AW" collector --data-dir "$D/collector" init >/dev/null
"$AW" collector --data-dir "$D/collector" secret add packages > "$D/enroll-secret"
chmod 600 "$D/enroll-secret"
"$AW" policy init --ca "$D/demo-ca.pem" -o "$D/policy.json" >/dev/null
"$AW" policy sign --key "$D/policy-signer.key" --cert "$D/policy-signer.pem" "$D/policy.json" -o "$D/policy.p7m" >/dev/null
"$AW" collector --data-dir "$D/collector" policy upload "$D/policy.p7m" >/dev/null
cp "$D/collector/collector-cert.pem" "$D/collector-ca.pem"
# One config for every package: file names relative to the config.
cat > "$D/agent.json" <<EOF
{
  "collector_url": "$URL",
  "collector_ca_file": "collector-ca.pem",
  "enroll_secret_file": "enroll-secret",
  "policy_signer_file": "policy-signer.pem"
}
EOF

echo "== packages"
common=(--config "$D/agent.json" --signer "$D/policy-signer.pem" --enroll-secret "$D/enroll-secret"
  --collector-ca "$D/collector-ca.pem" --version "$V" -o "$DIST")
"$AW" package deb --binary "$AW" --maintainer "$MAINTAINER" "${common[@]}"
"$AW" package rpm --binary "$AW" --maintainer "$MAINTAINER" "${common[@]}"
"$AW" package msi --binary "$BIN/anchorwatch.exe" --sign-cert "$D/codesign.pem" --sign-key "$D/codesign.key" "${common[@]}"
"$AW" package pkg --binary "$BIN/anchorwatch-darwin-arm64" --binary "$BIN/anchorwatch-darwin-amd64" "${common[@]}"
"$AW" package mobileconfig --ca "$D/demo-ca.pem" --sign-key "$D/profile-signer.key" --sign-cert "$D/profile-signer.pem" \
  --name "Example Corp TLS Inspection CA" --organization "Example Corp" -o "$DIST/demo-ca.mobileconfig"
"$AW" package gpo --ca "$D/demo-ca.pem" -o "$DIST/gpo"
"$AW" package intune --ca "$D/demo-ca.pem" --msi "$DIST/anchorwatch-$V-x64.msi" -o "$DIST/intune"

echo "== check"
for f in "$DIST/anchorwatch_$V-1_amd64.deb" "$DIST/anchorwatch-$V-1.x86_64.rpm" "$DIST/anchorwatch-$V-x64.msi" \
  "$DIST/anchorwatch-$V.pkg" "$DIST/demo-ca.mobileconfig" "$DIST/gpo/Machine/Registry.pol" \
  "$DIST/gpo/Install-AnchorwatchGPO.ps1" "$DIST/intune/graph/lob-app.json" "$DIST/intune/Import-AnchorwatchIntune.ps1"; do
  [ -s "$f" ] || { echo "packages: $f is missing or empty" >&2; exit 1; }
done
osslsigncode verify -CAfile "$D/codesign.pem" -in "$DIST/anchorwatch-$V-x64.msi" | grep -q "Signature verification: ok" \
  || { echo "packages: the MSI signature does not verify" >&2; exit 1; }
openssl cms -verify -inform DER -in "$DIST/demo-ca.mobileconfig" -CAfile "$D/profile-signer.pem" -purpose any -out /dev/null 2>/dev/null \
  || { echo "packages: the profile signature does not verify" >&2; exit 1; }
ls -l "$DIST" "$DIST/gpo" "$DIST/intune"
echo "Start the demo collector: $AW collector --data-dir $D/collector serve --listen :8443"
