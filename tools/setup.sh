#!/usr/bin/env bash
# tools/setup.sh [--demo] [--fuzz] — installs raoq's Debian build dependencies that are missing
# (with --demo also the embedded datasets: Fashion-MNIST and the fortunes corpus; with --fuzz the
# optional clang, libFuzzer and clang's OpenMP that tools/fuzz.sh needs). Runs apt-get only when needed.
set -euo pipefail
packages=(g++ cmake ninja-build libeigen3-dev catch2 nlohmann-json3-dev libstb-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev
          libplplot-dev plplot-driver-cairo fonts-dejavu-core libopenmpi-dev openmpi-bin)
for option in "$@"; do
  case $option in
    --demo) packages+=(dataset-fashion-mnist fortunes) ;;  # the embedded datasets: Fashion-MNIST, fortunes
    --fuzz) packages+=(clang libclang-rt-dev libomp-dev) ;;  # optional: tools/fuzz.sh and test.sh's fuzz smoke
    *) echo "setup: unknown option $option (expected --demo or --fuzz)" >&2; exit 2 ;;
  esac
done
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
