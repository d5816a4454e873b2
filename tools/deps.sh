#!/usr/bin/env bash
# Install the Debian packages rhema builds, tests and fuzzes with.
# Skips the install when everything is already there. (gfortran: the static
# OpenBLAS archive needs libgfortran.a at link time.)
#   tools/deps.sh            native build, tests and fuzzing
#   tools/deps.sh --aarch64  also the aarch64 cross toolchain, arm64 libraries and qemu
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config
      libopenblas-dev libbearssl-dev libyaml-dev libcmocka-dev gfortran
      clang-14 libclang-rt-14-dev unicode-data openssl dnsmasq-base python3 python3-numpy)
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if [ "${1:-}" = "--aarch64" ]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
    pkgs+=(gcc-aarch64-linux-gnu gfortran-aarch64-linux-gnu qemu-user-static
           libopenblas-dev:arm64 libbearssl-dev:arm64 libyaml-dev:arm64 libcmocka-dev:arm64)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
