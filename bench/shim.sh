#!/usr/bin/env bash
# Idle cost of the per-container monitors, in one run: each keeps one
# sleeping busybox container, and its resident memory (VmRSS, and PSS, which
# splits shared library pages among their users) is read from /proc once
# the container has settled.
#   standalone:  conmon 2.x (podman's, CRI-O's)  vs  berth-shim
#   containerd:  containerd-shim-runc-v2         vs  containerd-shim-berth-v2
# Every monitor drives the same runtime (berth) on the same bundle.
# Reported, never asserted.
#
#   bash bench/shim.sh                 # builds berth and the shims (release)
#   BERTH=path SHIM_DIR=dir bash bench/shim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/shim: run as root" >&2; exit 1; }
for c in conmon containerd ctr containerd-shim-runc-v2 jq; do
    command -v "$c" >/dev/null || { echo "bench/shim: $c missing (bash scripts/test-e2e-podman.sh and test-e2e-containerd.sh install it)" >&2; exit 1; }
done
# shellcheck source=lib.sh
. bench/lib.sh
bench_setup shim '["sleep","100000"]'
if [ -n "${BERTH:-}" ]; then berth=$(readlink -f "$BERTH"); fi
shim_dir=${SHIM_DIR:-}
if [ -z "$shim_dir" ]; then
    cargo build --release -q -p berth-shim
    shim_dir=$PWD/target/release
fi
shim_dir=$(readlink -f "$shim_dir")

# shellcheck source=../tests/e2e/lib/common.bash
. tests/e2e/lib/common.bash
# shellcheck source=../tests/e2e/lib/containerd.bash
. tests/e2e/lib/containerd.bash
export E2E_NS=bench-${work##*.}
cleanup_all() {
    e2e_containerd_stop "$work/ctrd" 2>/dev/null || true
    find /sys/fs/cgroup -maxdepth 3 -type d -name "$E2E_NS" -exec rmdir {} + 2>/dev/null || true
    bench_cleanup
}
trap cleanup_all EXIT

# mem NAME PID : one result line, after the process has had time to settle.
mem() {
    local name=$1 pid=$2 rss pss threads
    sleep 2
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")
    printf '%-28s RSS %6d KiB   PSS %6d KiB   threads %s\n' "$name" "$rss" "$pss" "$threads"
    echo "$name $rss" >>"$work/rss"
}

# Each monitor's runtime state lives in its own root.
cp -a "$work/rootfs" "$work/rootfs-ro"
mkdir -p "$work/conmon/exit" "$work/conmon/sock"
conmon -c cm -u cm -n cm -r "$berth" -b "$work" -p "$work/conmon/cpid" -P "$work/conmon/pid" \
    -l "$work/conmon/log" --exit-dir "$work/conmon/exit" --socket-dir-path "$work/conmon/sock" \
    --runtime-arg "--root=$work/state-berth" </dev/null
# conmon returns before the runtime's create has: wait for its pid file.
e2e_wait_until 10 test -s "$work/conmon/cpid"
"$berth" --root "$work/state-berth" start cm
echo "conmon $(conmon --version | awk 'NR==1 { print $3 }'), containerd $(containerd --version | awk '{ print $3 }'), berth $berth"
mem conmon "$(cat "$work/conmon/pid")"

mkdir -p "$work/bshim"
"$shim_dir/berth-shim" --id bs --bundle "$work" --runtime "$berth" --runtime-root "$work/state-berth" \
    --state-dir "$work/bshim" --log-path "$work/bshim/log" </dev/null >/dev/null
mem "berth-shim" "$(cat "$work/bshim/shim.pid")"

# containerd with our shim on its PATH; both containers run from a plain
# rootfs directory (ctr run --rootfs), so no image or snapshot is involved.
mkdir -p "$work/ctrd" "$work/path"
ln -s "$shim_dir/containerd-shim-berth-v2" "$berth" "$work/path/"
PATH=$work/path:$PATH e2e_containerd_start "$work/ctrd" "$berth" >/dev/null
ctr_pid() { pgrep -f -- "-namespace $E2E_NS -id $1( |$)" | head -1; }
e2e_ctr run -d --rootfs --runc-binary "$berth" --runc-root "$work/state-runcv2" "$work/rootfs" r1 sleep 100000 >/dev/null
mem "containerd-shim-runc-v2" "$(ctr_pid r1)"
e2e_ctr run -d --rootfs --runtime io.containerd.berth.v2 "$work/rootfs-ro" b1 sleep 100000 >/dev/null
mem "containerd-shim-berth-v2" "$(ctr_pid b1)"

echo
awk '{ v[$1] = $2 } END {
    printf "berth-shim / conmon: %.2fx (target <= 1)\n", v["berth-shim"] / v["conmon"];
    printf "containerd-shim-berth-v2 / containerd-shim-runc-v2: %.2fx (target <= 0.3)\n",
        v["containerd-shim-berth-v2"] / v["containerd-shim-runc-v2"] }' "$work/rss"
