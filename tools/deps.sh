#!/usr/bin/env bash
# Install the Debian packages rhema builds, tests and fuzzes with.
# Skips the install when everything is already there.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config
      libopenblas-dev libbearssl-dev libyaml-dev libcmocka-dev
      clang-14 libclang-rt-14-dev unicode-data openssl python3 python3-numpy)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
