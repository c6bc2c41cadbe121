#!/usr/bin/env bash
# Installs every Debian bookworm package that building, testing, exporting and
# benchmarking bert-embed needs. Safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates curl ccache
  libtorch-dev libopenblas0-openmp libblas-dev
  libsentencepiece-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libgtest-dev libutf8proc-dev libssl-dev
  python3 python3-torch python3-numpy python3-pytest python3-yaml python3-onnx python3-scipy python3-sklearn
  gnuplot-nox
  jq clang libclang-rt-14-dev
  slurmctld slurmd slurm-client munge parallel
)

run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "install-deps: need root (or sudo) to install: ${packages[*]}" >&2; exit 1
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
run_as_root apt-get update
run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
