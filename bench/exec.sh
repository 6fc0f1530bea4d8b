#!/usr/bin/env bash
# exec latency: `exec ID /bin/true` into a running busybox container, berth
# vs crun vs runc in one hyperfine run (Kubernetes exec probes make this the
# hottest path in production). Reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
berth=$(bash scripts/build.sh)
work=$(mktemp -d /tmp/berth-bench-exec.XXXXXX)
bin_of() { if [ "$1" = berth ]; then echo "$berth"; else command -v "$1"; fi; }
cleanup() {
    for rt in berth crun runc; do
        "$(bin_of $rt)" --root "$work/state-$rt" delete -f "x-$rt" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for a in true sleep sh; do ln -s busybox "$work/rootfs/bin/$a"; done
"$berth" spec --bundle "$work"
jq '.process.terminal=false | .process.args=["/bin/sleep","1000"] | .root.readonly=false' \
    "$work/config.json" > "$work/c" && mv "$work/c" "$work/config.json"
if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi
cmds=()
for rt in berth crun runc; do
    if "$(bin_of $rt)" --root "$work/state-$rt" run -d --bundle "$work" "x-$rt" </dev/null >/dev/null 2>&1; then
        cmds+=(-n "$rt" "$(bin_of $rt) --root $work/state-$rt exec x-$rt /bin/true")
    else
        echo "($rt could not start a container; left out)"
    fi
done
runs=${RUNS:-100}
hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/exec.json" "${cmds[@]}"
jq -r '.results | (map({(.command): .mean}) | add) as $m
    | "ratios (mean): " + ([("crun", "runc") | select($m[.]) | "berth/\(.) = \($m.berth / $m[.] * 100 | round / 100)"] | join(", "))' "$work/exec.json"
