# Shared by the side-by-side benchmarks (sourced): builds berth, makes a
# busybox bundle in $work running ARGS, and removes every container left in
# the per-runtime state roots on exit. crun 1.8 refuses hybrid hosts whose
# v2 tree holds a controller unless a v1 hugetlb hierarchy is mounted, so
# one is mounted when missing (and hugetlb is given back by the unified tree
# first, if a berth test enabled it there).
# Usage: bench_setup NAME ARGS-JSON   (sets $berth and $work)
bin_of() { if [ "$1" = berth ]; then echo "$berth"; else command -v "$1"; fi; }
bench_cleanup() {
    for rt in berth crun runc; do
        for id in $("$(bin_of $rt)" --root "$work/state-$rt" list -q 2>/dev/null); do
            "$(bin_of $rt)" --root "$work/state-$rt" delete -f "$id" >/dev/null 2>&1 || true
        done
    done
    rm -rf "$work"
}
bench_setup() {
    bash scripts/setup.sh
    berth=$(bash scripts/build.sh)
    work=$(mktemp -d "/tmp/berth-bench-$1.XXXXXX")
    trap bench_cleanup EXIT
    mkdir -p "$work/rootfs/bin"
    cp /bin/busybox "$work/rootfs/bin/"
    for a in true sleep sh; do ln -s busybox "$work/rootfs/bin/$a"; done
    "$berth" spec --bundle "$work"
    jq --argjson args "$2" '.process.terminal=false | .process.args=$args | .root.readonly=false' \
        "$work/config.json" > "$work/c" && mv "$work/c" "$work/config.json"
    if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
        echo -hugetlb > /sys/fs/cgroup/unified/berth/cgroup.subtree_control 2>/dev/null || true
        echo -hugetlb > /sys/fs/cgroup/unified/cgroup.subtree_control 2>/dev/null || true
        mkdir -p /sys/fs/cgroup/hugetlb
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb ||
            echo "bench: no v1 hugetlb hierarchy; crun 1.8 will refuse this host" >&2
    fi
}
