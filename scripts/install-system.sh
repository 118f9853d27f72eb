#!/usr/bin/env bash
# Installs the Debian packages sannuo's tests and tools use, only those missing.
set -euo pipefail
wanted=(mosquitto mosquitto-clients chromium fonts-noto-cjk postgresql espeak-ng)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages start system services on install; the tests start their own on free ports.
for svc in mosquitto postgresql; do
  command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null || true
  command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1 || true
done
echo "system packages ready"
