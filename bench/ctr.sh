#!/usr/bin/env bash
# End-to-end start path under containerd: `ctr run --rm <busybox> /bin/true`
# with berth and with runc as the runc v2 shim's binary, in one hyperfine
# run. Each sample is the whole round trip: snapshot prepare, shim start,
# create/start/wait/delete by the runtime, shim exit, snapshot removal.
# Reported, never asserted.
#
#   bash bench/ctr.sh                       # builds berth (scripts/build.sh)
#   BERTH=path RUNS=50 bash bench/ctr.sh
#
# Uses the same private registry + containerd as tests/e2e/containerd.bats
# (tests/e2e/lib), torn down on exit. Packages as scripts/test-e2e-containerd.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/ctr: run as root" >&2; exit 1; }
for c in containerd ctr docker-registry skopeo umoci hyperfine jq; do
    command -v "$c" >/dev/null || { echo "bench/ctr: $c missing (bash scripts/test-e2e-containerd.sh installs it)" >&2; exit 1; }
done
berth=$(readlink -f "${BERTH:-$(bash scripts/build.sh)}")
runc=$(readlink -f "$(command -v runc)")
runs=${RUNS:-30}

# shellcheck source=../tests/e2e/lib/common.bash
. tests/e2e/lib/common.bash
# shellcheck source=../tests/e2e/lib/registry.bash
. tests/e2e/lib/registry.bash
# shellcheck source=../tests/e2e/lib/image.bash
. tests/e2e/lib/image.bash
# shellcheck source=../tests/e2e/lib/containerd.bash
. tests/e2e/lib/containerd.bash

work=$(mktemp -d /tmp/berth-bench-ctr.XXXXXX)
export E2E_NS=bench-${work##*.}
cleanup() {
    e2e_containerd_stop "$work" || true
    e2e_registry_stop || true
    find /sys/fs/cgroup -maxdepth 3 -type d -name "$E2E_NS" -exec rmdir {} + 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
e2e_image_build "$work"
e2e_registry_start "$work"
e2e_image_push "$work" "$E2E_REGISTRY"
e2e_containerd_start "$work" "$berth"
img=$E2E_REGISTRY/busybox:latest
E2E_CTR_TIMEOUT=60 e2e_ctr images pull --plain-http "$img" >/dev/null

ctr_base="ctr --address $E2E_CTRD_SOCK -n $E2E_NS run --rm"
# A failed run must not be timed as a fast one: check both first.
for rt in "$berth" "$runc"; do
    out=$(timeout 30 $ctr_base --runc-binary "$rt" --runc-root "$work/root-check" "$img" check sh -c 'echo ok' </dev/null)
    [ "$out" = ok ] || { echo "bench/ctr: $rt under containerd printed '$out'" >&2; exit 1; }
done
echo "containerd $(containerd --version | awk '{ print $3 }'), berth $berth, runc $runc, $runs runs"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/times.json" \
    -n "ctr run + berth" "$ctr_base --runc-binary $berth --runc-root $work/root-berth $img b /bin/true" \
    -n "ctr run + runc" "$ctr_base --runc-binary $runc --runc-root $work/root-runc $img r /bin/true" \
    </dev/null
echo
jq -r '.results[] | "\(.command): mean \(.mean * 1000 | floor) ms, median \(.median * 1000 | floor) ms, min \(.min * 1000 | floor) ms, sd \(.stddev * 1000 | floor) ms"' "$work/times.json"
