#!/usr/bin/env bash
# Packs AniFarm for air-gapped machines: one .tar.xz with the binaries,
# libanifarm_engine.so, every shared library they load that is not part of
# the C/C++ runtime of the target (found with ldd), the model files, the
# systemd units and an install.sh.
#
#   scripts/bundle-offline.sh [--build-dir DIR] [--models-dir DIR] [-o FILE.tar.xz]
#
#   --build-dir DIR   use this existing build (DIR/bin/anifarm-coordinator ...);
#                     without it, scripts/build.sh builds into build/ first
#   --models-dir DIR  model files to include [DIR/models of the build, else
#                     $ANIFARM_MODELS_DIR, else ~/.local/share/anifarm/models];
#                     "none" packs no models
#   -o FILE           where to write the bundle [out/anifarm-VERSION-ARCH.tar.xz]
#   --xz-level N      xz preset 0-9 [1]; 6 is ~10% smaller and ~4x slower
#
# The target needs glibc and libstdc++ at least as new as the build
# machine's (Debian 12: glibc 2.36, GCC 12), and for CUDA nodes an NVIDIA
# driver (libcuda is never bundled). With a CPU-only LibTorch (Debian's
# libtorch-dev) the nodes run on CPU; build against a CUDA LibTorch
# (README: CMAKE_PREFIX_PATH of a pip-installed PyTorch) for GPU nodes.
# On the target: tar xf anifarm-*.tar.xz && sudo ./anifarm-*/install.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=""
models_dir=""
output=""
xz_level=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=${2:?--build-dir needs a folder}; shift 2 ;;
    --models-dir) models_dir=${2:?--models-dir needs a folder}; shift 2 ;;
    -o|--output) output=${2:?-o needs a file name}; shift 2 ;;
    --xz-level) xz_level=${2:?--xz-level needs 0-9}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bundle-offline.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$build_dir" ]; then
  bash "$root/scripts/build.sh"
  build_dir="$root/build"
fi
build_dir=$(cd "$build_dir" && pwd)
bin="$build_dir/bin"
for f in anifarm-coordinator anifarm-node anifarm libanifarm_engine.so; do
  [ -f "$bin/$f" ] || { echo "bundle-offline.sh: $bin/$f is missing (a build with the engine is needed)" >&2; exit 3; }
done

if [ -z "$models_dir" ]; then
  if [ -d "$build_dir/models" ]; then models_dir="$build_dir/models"
  elif [ -n "${ANIFARM_MODELS_DIR:-}" ]; then models_dir=$ANIFARM_MODELS_DIR
  else models_dir="${XDG_DATA_HOME:-$HOME/.local/share}/anifarm/models"; fi
fi
if [ "$models_dir" != none ] && [ ! -d "$models_dir" ]; then
  echo "bundle-offline.sh: models folder $models_dir does not exist (anifarm models fetch, or --models-dir none)" >&2
  exit 3
fi

version=$(sed -n 's/^project(AniFarm VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)
arch=$(uname -m)
name="anifarm-${version:-0}${commit:+-$commit}-linux-$arch"
[ -n "$output" ] || output="$root/out/$name.tar.xz"
mkdir -p "$(dirname "$output")"
output="$(cd "$(dirname "$output")" && pwd)/$(basename "$output")"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dest="$stage/$name"
mkdir -p "$dest/bin" "$dest/lib" "$dest/models" "$dest/systemd" "$dest/doc"

cp "$bin/anifarm-coordinator" "$bin/anifarm-node" "$bin/anifarm" "$bin/libanifarm_engine.so" "$dest/bin/"

# Shared libraries: everything ldd resolves, except the C/C++ runtime the
# target provides (glibc and its parts, the dynamic loader, libstdc++,
# libgcc_s) and the NVIDIA driver's libraries (they must match the kernel
# module). Copied under their soname, dereferenced.
system_libs='^(ld-linux.*|libc|libm|libmvec|libpthread|libdl|librt|libutil|libresolv|libanl|libnsl|libBrokenLocale|libstdc\+\+|libgcc_s|libcuda|libnvidia-.*|libnvcuvid|libdxcore)\.so'
missing=$( (ldd "$bin/anifarm-coordinator" "$bin/anifarm-node" "$bin/anifarm" "$bin/libanifarm_engine.so" || true) |
  awk '/not found/ { print $1 }' | sort -u | grep -Ev "$system_libs|^libanifarm_engine\.so" || true)
if [ -n "$missing" ]; then
  echo "bundle-offline.sh: ldd cannot resolve: $missing" >&2
  exit 3
fi
count=0
while read -r soname path; do
  case "$soname" in libanifarm_engine.so) continue ;; esac
  if printf '%s\n' "$soname" | grep -Eq "$system_libs"; then continue; fi
  cp -L "$path" "$dest/lib/$soname"
  count=$((count + 1))
done < <(ldd "$bin/anifarm-coordinator" "$bin/anifarm-node" "$bin/anifarm" "$bin/libanifarm_engine.so" |
           awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u -k1,1)

models=0
if [ "$models_dir" != none ]; then
  for f in "$models_dir"/*; do
    case "$f" in
      *.pth|*.pt|*.safetensors|*.ckpt|*.bin|*.param) cp "$f" "$dest/models/"; models=$((models + 1)) ;;
    esac
  done
fi

cp "$root"/deploy/systemd/* "$dest/systemd/"
[ -f "$root/docs/operations.md" ] && cp "$root/docs/operations.md" "$dest/doc/"

cat > "$dest/install.sh" <<'INSTALL'
#!/bin/sh
# Installs this AniFarm bundle. Run as root from the unpacked folder:
#   ./install.sh [--prefix /opt/anifarm] [--no-models]
# Puts the programs in PREFIX/{bin,lib}, starters in /usr/local/bin (they
# set LD_LIBRARY_PATH to PREFIX/lib), the systemd units in
# /etc/systemd/system, examples of /etc/default/anifarm-{coordinator,node}
# (existing files are kept), creates the user anifarm, and copies the models
# to /var/lib/anifarm/models. It enables nothing; see the end of its output.
# DESTDIR=/some/root installs under that folder instead (no user, no systemctl).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/anifarm
with_models=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --no-models) with_models=0; shift ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
root=${DESTDIR:-}
if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or set DESTDIR)" >&2; exit 1
fi
cd "$here"
sha256sum --quiet -c SHA256SUMS || { echo "install.sh: the bundle is damaged (SHA256SUMS)" >&2; exit 1; }

install -d "$root$prefix/bin" "$root$prefix/lib" "$root/usr/local/bin" \
  "$root/etc/systemd/system" "$root/etc/default" "$root/etc/sysusers.d" \
  "$root/usr/local/share/doc/anifarm"
cp bin/* "$root$prefix/bin/"
cp lib/* "$root$prefix/lib/" 2>/dev/null || true
for program in anifarm-coordinator anifarm-node anifarm; do
  cat > "$root/usr/local/bin/$program" <<EOF
#!/bin/sh
# Starter installed by the AniFarm offline bundle.
LD_LIBRARY_PATH="$prefix/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$prefix/bin/$program" "\$@"
EOF
  chmod 0755 "$root/usr/local/bin/$program"
done
cp systemd/*.service "$root/etc/systemd/system/"
cp systemd/anifarm.sysusers "$root/etc/sysusers.d/anifarm.conf"
for f in anifarm-coordinator anifarm-node; do
  [ -e "$root/etc/default/$f" ] || cp "systemd/$f.default" "$root/etc/default/$f"
done
[ -f doc/operations.md ] && cp doc/operations.md "$root/usr/local/share/doc/anifarm/"

if [ -z "$root" ]; then
  if ! getent passwd anifarm >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
      systemd-sysusers /etc/sysusers.d/anifarm.conf
    else
      useradd --system --user-group --home-dir /var/lib/anifarm --no-create-home \
        --shell /usr/sbin/nologin anifarm
    fi
  fi
fi
if [ "$with_models" = 1 ] && [ -n "$(ls models 2>/dev/null)" ]; then
  install -d -m 0750 "$root/var/lib/anifarm" "$root/var/lib/anifarm/models"
  cp models/* "$root/var/lib/anifarm/models/"
  [ -n "$root" ] || chown -R anifarm:anifarm /var/lib/anifarm
fi

# Smoke test: every program starts with the bundled libraries.
for program in anifarm-coordinator anifarm-node anifarm; do
  if ! LD_LIBRARY_PATH="$root$prefix/lib" "$root$prefix/bin/$program" --help >/dev/null 2>&1; then
    echo "install.sh: $program does not start here:" >&2
    LD_LIBRARY_PATH="$root$prefix/lib" ldd "$root$prefix/bin/$program" | grep 'not found' >&2 || true
    exit 1
  fi
done
if [ -z "$root" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

cat <<EOF
AniFarm installed in $root$prefix (starters in $root/usr/local/bin).
Coordinator machine:  systemctl enable --now anifarm-coordinator
GPU nodes, one per GPU: set ANIFARM_COORDINATOR=HOST:50051 in /etc/default/anifarm-node, then
                      systemctl enable --now anifarm-node@0 anifarm-node@1 ...
More: /usr/local/share/doc/anifarm/operations.md
EOF
INSTALL
chmod 0755 "$dest/install.sh"

cat > "$dest/README" <<EOF
AniFarm $version${commit:+ ($commit)} for Linux $arch, built $(date -u +%Y-%m-%d).
  sudo ./install.sh          install (see the comment at its top)
bin/      anifarm-coordinator, anifarm-node, anifarm, libanifarm_engine.so
lib/      $count shared libraries they need (not glibc, libstdc++, libgcc_s, NVIDIA driver)
models/   $models model files (installed to /var/lib/anifarm/models)
systemd/  units, /etc/default examples, sysusers.d entry
EOF
(cd "$dest" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS)

echo "packing $count libraries, $models models ..." >&2
tar -C "$stage" -cf - "$name" | xz -T0 "-$xz_level" > "$output.partial"
mv "$output.partial" "$output"
echo "bundle: $output ($(du -h "$output" | cut -f1))"
