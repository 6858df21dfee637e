#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages coreroute needs, only those that are missing.
set -euo pipefail
packages=(cmake g++ clang libclang-rt-14-dev catch2 librapidcheck-dev libtrilinos-kokkos-dev libcli11-dev
          nlohmann-json3-dev python3 python3-torch libtorch-dev python3-pytest python3-numpy clang-format)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "coreroute: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
