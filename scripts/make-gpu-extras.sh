#!/usr/bin/env bash
# Packs the Debian 12 packages that AniFarm builds with beyond the shared
# offline prefix (../shared/offline-deps: gRPC, Abseil, FFmpeg, SQLite,
# GoogleTest) into one relocatable tarball laid out like that prefix, so that
# a GPU host without package access can configure the whole project:
# spdlog and fmt (logging), CLI11 (flags), cpp-httplib with OpenSSL, zlib and
# brotli headers (the dashboard), toml++ (the client's config file).
#
#   scripts/make-gpu-extras.sh OUT.tar.xz     (on Debian 12 with apt access)
#
# Unpack it over the prefix (tar -xJf OUT.tar.xz -C /opt/deps) and source
# /opt/deps/env.sh as usual. Runtime libraries a CUDA host already has
# (libssl3, libz) are not packed: their development symlinks are pointed at
# the host's copies, as the prefix does.
set -euo pipefail
out=$(realpath -m "${1:?usage: make-gpu-extras.sh OUT.tar.xz}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

packages="libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libcli11-dev libcpp-httplib-dev libcpp-httplib0.11
          libtomlplusplus-dev libtomlplusplus3 libssl-dev zlib1g-dev libbrotli-dev libbrotli1"
mkdir -p "$work/debs" "$work/root"
# shellcheck disable=SC2086
(cd "$work/debs" && apt-get download $packages >/dev/null)
for f in "$work"/debs/*.deb; do dpkg -x "$f" "$work/root"; done

cd "$work/root"
L=usr/lib/x86_64-linux-gnu
rm -rf usr/share/doc usr/share/man usr/share/lintian
# Debian keeps arch-specific headers (openssl/configuration.h) in
# include/x86_64-linux-gnu, which compilers search only under /usr: merge them.
if [ -d usr/include/x86_64-linux-gnu ]; then
  cp -a usr/include/x86_64-linux-gnu/. usr/include/
  rm -rf usr/include/x86_64-linux-gnu
  sed -i 's#/x86_64-linux-gnu##' $L/pkgconfig/*.pc
fi
find . -name '*.a' -delete
# A development symlink whose target is not packed points at a library the
# host has: retarget it at the host's copy, by soname.
for link in $L/*.so; do
  [ -L "$link" ] && [ ! -e "$link" ] || continue
  soname=$(basename "$(readlink "$link")" | sed -E 's/(\.so\.[0-9]+).*/\1/')
  ln -sf "/usr/lib/x86_64-linux-gnu/$soname" "$link"
done
# pkg-config files name /usr outright: make them relative to where they lie.
sed -i -E 's#^(prefix|exec_prefix|libdir|includedir)=/usr#\1=${pcfiledir}/../../..#' \
  $L/pkgconfig/*.pc usr/share/pkgconfig/*.pc 2>/dev/null || true
# CMake package files of spdlog, fmt and CLI11 find their headers relative to
# themselves already; nothing else to move.
tar cf - . | xz -9 -T2 >"$out"
ls -la "$out"
