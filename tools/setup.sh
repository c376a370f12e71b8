#!/usr/bin/env bash
# tools/setup.sh [--demo] — installs raoq's Debian build dependencies that are missing
# (and, with --demo, the embedded datasets: Fashion-MNIST and the fortunes corpus). Runs apt-get only when needed.
set -euo pipefail
packages=(g++ cmake ninja-build libeigen3-dev catch2 nlohmann-json3-dev libstb-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev)
# --demo: the embedded datasets: Fashion-MNIST (images) and the fortunes corpus (text).
if [[ "${1:-}" == "--demo" ]]; then packages+=(dataset-fashion-mnist fortunes); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
