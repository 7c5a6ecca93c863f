#!/usr/bin/env bash
# Installs what the test suite needs beyond the .NET SDK, on Debian:
#   mosquitto_pub / mosquitto_sub   (Debian: mosquitto-clients)
#   paho-mqtt for /usr/bin/python3  (Debian: python3-paho-mqtt; 1.6.x on bookworm, MQTT v5 capable)
#   node + npm                      (Debian: nodejs, npm; skipped when already on PATH, e.g. NodeSource)
#   MQTT.js 5                       (npm ci in tests/Gatehouse.Interop.Tests/clients, from package-lock.json)
# Idempotent: checks before installing, runs `apt-get update` only when a package is missing.
# Works unattended (CI=true, no stdin). Needs root or passwordless sudo for the apt part.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
clients_dir="$here/Gatehouse.Interop.Tests/clients"

log() { echo "install-test-deps: $*"; }

missing=()
command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1 \
  || missing+=(mosquitto-clients)
if [[ ! -x /usr/bin/python3 ]]; then
  missing+=(python3 python3-paho-mqtt)
elif ! /usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1; then
  missing+=(python3-paho-mqtt)
fi
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
      log "need root to apt-get install ${missing[*]}"; exit 1
    fi
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

paho_version="$(/usr/bin/python3 -c 'import paho.mqtt; print(paho.mqtt.__version__)')"
case "$paho_version" in
  0.* | 1.[0-4] | 1.[0-4].*) log "paho-mqtt $paho_version has no MQTT v5 support (need >= 1.5)"; exit 1 ;;
esac

# MQTT.js: reinstall only when package-lock.json changed since the last install.
if [[ ! -f "$clients_dir/node_modules/mqtt/package.json" \
   || "$clients_dir/package-lock.json" -nt "$clients_dir/node_modules/.package-lock.json" ]]; then
  log "npm ci in ${clients_dir#"$PWD"/}"
  (cd "$clients_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
fi

log "ok: $(mosquitto_sub --help 2>/dev/null | sed -n 2p | cut -d' ' -f1-3)," \
  "paho-mqtt $paho_version, node $(node --version)," \
  "mqtt.js $(node -p "require('$clients_dir/node_modules/mqtt/package.json').version")"
