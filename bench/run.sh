#!/usr/bin/env bash
# Side-by-side start-path benchmark: `run` of /bin/true from one busybox
# bundle with berth, crun and runc in the same hyperfine run, plus each
# runtime's peak RSS for the same command. Reported, never asserted.
#
# crun 1.8 refuses hosts whose cgroup v2 tree holds a controller unless a v1
# hugetlb hierarchy is mounted, so one is mounted here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
berth=$(bash scripts/build.sh)
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/true"
"$berth" spec --bundle "$work"
jq '.process.terminal=false | .process.args=["/bin/true"] | .root.readonly=false' "$work/config.json" > "$work/c" && mv "$work/c" "$work/config.json"
if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi
runs=${RUNS:-100}
hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/times.json" \
    -n berth "$berth --root $work/state-berth run --bundle $work b" \
    -n crun "crun --root $work/state-crun run --bundle $work c" \
    -n runc "runc --root $work/state-runc run --bundle $work r"
echo
echo "peak RSS of the run process (KiB, max of 10):"
for rt in berth crun runc; do
    bin=$berth; [ $rt = berth ] || bin=$(command -v $rt)
    max=0
    for i in $(seq 10); do
        kb=$(/usr/bin/time -f %M "$bin" --root "$work/state-$rt" run --bundle "$work" "rss$i" 2>&1 >/dev/null | tail -1)
        [ "$kb" -gt "$max" ] && max=$kb
    done
    printf '  %-6s %6d\n' "$rt" "$max"
done
ratios() {
    jq -r '.results | (map({(.command): .mean}) | add) as $m
        | "ratios (mean): berth/crun = \($m.berth / $m.crun * 1000 | round / 1000), berth/runc = \($m.berth / $m.runc * 1000 | round / 1000)"
          + (if $m["berth-nocache"] then ", cached/uncached berth = \($m.berth / $m["berth-nocache"] * 1000 | round / 1000)" else "" end)' "$1"
}
ratios "$work/times.json"

# The same with containers-common's default seccomp profile, reduced to an
# OCI profile for this host and the bundle's capabilities as podman does.
# berth twice: with its compiled-filter cache and without it.
seccomp=$(jq --argjson caps "$(jq .process.capabilities.bounding "$work/config.json")" '
    def has($l; $x): ($l // []) | index($x) != null;
    {defaultAction, defaultErrnoRet,
     architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
     syscalls: [.syscalls[]
        | select(((.includes.arches // []) | length == 0) or has(.includes.arches; "amd64"))
        | select(all((.includes.caps // [])[]; . as $c | $caps | index($c) != null))
        | select(has(.excludes.arches; "amd64") | not)
        | select(any((.excludes.caps // [])[]; . as $c | $caps | index($c) != null) | not)
        | {names, action} + (if .args then {args} else {} end)
          + (if .errnoRet then {errnoRet} else {} end)]}' /usr/share/containers/seccomp.json)
mkdir -p "$work/sc"
jq --argjson s "$seccomp" --arg rootfs "$work/rootfs" '.linux.seccomp = $s | .root.path = $rootfs' \
    "$work/config.json" > "$work/sc/config.json"
echo
echo "with containers-common's default seccomp profile ($(jq '.syscalls | length' <<<"$seccomp") entries):"
hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/seccomp.json" \
    -n berth "env BERTH_SECCOMP_CACHE=1 $berth --root $work/state-berth run --bundle $work/sc b" \
    -n berth-nocache "env BERTH_SECCOMP_CACHE=0 $berth --root $work/state-berth run --bundle $work/sc b" \
    -n crun "crun --root $work/state-crun run --bundle $work/sc c" \
    -n runc "runc --root $work/state-runc run --bundle $work/sc r"
ratios "$work/seccomp.json"

# CVE-2019-5736: berth's protection is three prctl(PR_SET_DUMPABLE) calls;
# runc 1.1 copies its own binary into a memfd on every call instead. This is
# the cost of that copy for runc's binary, for scale.
echo
echo "the work berth's exec protection avoids (copying runc's binary once):"
hyperfine -N --warmup 10 --runs "$runs" -n copy-runc-binary "cp $(command -v runc) $work/runc-copy"
