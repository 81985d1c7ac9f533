#!/usr/bin/env bash
# Checks deploy/systemd with `systemd-analyze verify` (and the sysusers file
# with `systemd-sysusers --dry-run`).
#
#   tests/deploy/systemd_verify_test.sh BIN_DIR [SOURCE_DIR]
#
# BIN_DIR holds the built anifarm-coordinator and anifarm-node. The units
# start /usr/local/bin/...; verify insists that ExecStart= names an
# executable, so they are copied to a temporary folder with /usr/local/bin
# replaced by BIN_DIR. Any warning verify prints about our units (unknown
# key, bad value) fails the test, not only its exit status.
#
# Exit 0 pass, 1 fail, 77 skip (no usable systemd-analyze; Debian package
# `systemd`). CTest: SKIP_RETURN_CODE 77.
set -uo pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [SOURCE_DIR]" >&2; exit 2; }
bin_dir=$(cd "$1" 2>/dev/null && pwd) || fail "bin dir '$1' does not exist"
source_dir=$(cd "${2:-$(dirname "$0")/../..}" 2>/dev/null && pwd) || fail "source dir '${2:-}' does not exist"
unit_dir="$source_dir/deploy/systemd"
[ -d "$unit_dir" ] || fail "no unit folder $unit_dir"

command -v systemd-analyze >/dev/null 2>&1 ||
  skip "systemd-analyze is not installed (Debian package 'systemd'); the units were not verified"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Can verify run here at all? Some containers cannot (no /run, seccomp...).
true_bin=$(command -v true)
printf '[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=%s\n' "$true_bin" \
  > "$work/anifarm-probe.service"
if ! probe_out=$(systemd-analyze verify "$work/anifarm-probe.service" 2>&1); then
  skip "systemd-analyze verify does not work in this environment: $probe_out"
fi
rm -f "$work/anifarm-probe.service"

[ -x "$bin_dir/anifarm-coordinator" ] || fail "$bin_dir/anifarm-coordinator is missing (build first)"
node_bin="$bin_dir/anifarm-node"
if [ ! -x "$node_bin" ]; then
  # A build with -DANIFARM_BUILD_ENGINE=OFF has no node: still verify the
  # unit's syntax, with a stand-in executable.
  echo "note: $node_bin is missing (engine not built); verifying anifarm-node@.service against $true_bin"
  node_bin=$true_bin
fi

units=(anifarm-coordinator.service anifarm-node@.service)
for unit in "${units[@]}"; do
  [ -f "$unit_dir/$unit" ] || fail "missing unit $unit_dir/$unit"
  grep -q '^ExecStart=/usr/local/bin/' "$unit_dir/$unit" ||
    fail "$unit: ExecStart= must start /usr/local/bin/... (what install.sh and docs/operations.md install)"
  sed -e "s#^ExecStart=/usr/local/bin/anifarm-node #ExecStart=$node_bin #" \
      -e "s#^ExecStart=/usr/local/bin/#ExecStart=$bin_dir/#" \
      "$unit_dir/$unit" > "$work/$unit"
done

status=0
verify() {
  local out rc
  out=$(cd "$work" && systemd-analyze verify "$@" 2>&1)
  rc=$?
  # Warnings about our own files fail too; lines about the host's units
  # (which verify also loads) are only shown.
  local ours
  ours=$(printf '%s\n' "$out" | grep -E "anifarm|$work" || true)
  if [ $rc -ne 0 ] || [ -n "$ours" ]; then
    echo "FAIL: systemd-analyze verify $* (exit $rc):" >&2
    printf '%s\n' "$out" >&2
    status=1
  else
    echo "ok: systemd-analyze verify $*"
    [ -n "$out" ] && printf '  (about other units: %s)\n' "$out"
  fi
}
verify "$work/anifarm-coordinator.service"
# A template is verified through instances: GPU 0 and GPU 1.
verify "$work/anifarm-node@0.service" "$work/anifarm-node@1.service"

# The instance must choose the GPU and the cache folder.
grep -q -- '--device cuda:%i' "$unit_dir/anifarm-node@.service" ||
  { echo "FAIL: anifarm-node@.service must run --device cuda:%i" >&2; status=1; }
grep -q '^CacheDirectory=anifarm/node-%i' "$unit_dir/anifarm-node@.service" ||
  { echo "FAIL: anifarm-node@.service must have CacheDirectory=anifarm/node-%i" >&2; status=1; }
for unit in "${units[@]}"; do
  for key in User=anifarm Group=anifarm Restart= RestartSec=; do
    grep -q "^$key" "$unit_dir/$unit" ||
      { echo "FAIL: $unit has no $key" >&2; status=1; }
  done
done

if [ -f "$unit_dir/anifarm.sysusers" ] && command -v systemd-sysusers >/dev/null 2>&1; then
  mkdir -p "$work/root/etc"
  if out=$(systemd-sysusers --dry-run --root="$work/root" "$unit_dir/anifarm.sysusers" 2>&1) &&
     printf '%s\n' "$out" | grep -q "Creating user 'anifarm'"; then
    echo "ok: systemd-sysusers --dry-run anifarm.sysusers"
  else
    echo "FAIL: systemd-sysusers --dry-run $unit_dir/anifarm.sysusers:" >&2
    printf '%s\n' "$out" >&2
    status=1
  fi
fi

[ $status -eq 0 ] && echo "PASS: deploy/systemd units verify cleanly"
exit $status
