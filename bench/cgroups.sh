#!/usr/bin/env bash
# cgroup benchmarks for issue 4, berth vs crun vs runc in the same run.
# Reported, never asserted:
#  1. the smallest memory limit (memsw pinned to it, so no swap) with which
#     `run /bin/true` succeeds: what the runtime itself charges to the
#     container's cgroup before the program runs (bisection, KiB);
#  2. `events --stats` latency on a running container;
#  3. a pause + resume round trip.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_setup cg '["/bin/true"]'

# 1. smallest memory limit
runs_with() { # runtime kib -> exit status of `run /bin/true`
    local rt=$1 kib=$2 b="$work/mem-$1"
    mkdir -p "$b"
    jq --arg r "$work/rootfs" --argjson l $((kib * 1024)) \
        '.root.path=$r | .linux.resources.memory={limit:$l, swap:$l}' "$work/config.json" > "$b/config.json"
    timeout 20 "$(bin_of "$rt")" --root "$work/state-$rt" run --bundle "$b" "m$kib" >/dev/null 2>&1
    local rc=$?
    "$(bin_of "$rt")" --root "$work/state-$rt" delete -f "m$kib" >/dev/null 2>&1 || true
    return $rc
}
echo "smallest memory limit for run /bin/true (KiB, 4 KiB steps):"
declare -A minimum
for rt in berth crun runc; do
    lo=4; hi=32768
    if ! runs_with "$rt" "$hi"; then echo "  $rt: fails even at $hi KiB"; continue; fi
    while [ $((hi - lo)) -gt 4 ]; do
        mid=$(( (lo + hi) / 2 / 4 * 4 ))
        if runs_with "$rt" "$mid"; then hi=$mid; else lo=$mid; fi
    done
    minimum[$rt]=$hi
    printf '  %-6s %6d\n' "$rt" "$hi"
done
if [ -n "${minimum[berth]:-}" ] && [ -n "${minimum[crun]:-}" ] && [ -n "${minimum[runc]:-}" ]; then
    echo "  ratios: berth/crun = $(jq -n "${minimum[berth]} / ${minimum[crun]} * 100 | round / 100"), berth/runc = $(jq -n "${minimum[berth]} / ${minimum[runc]} * 100 | round / 100")"
fi

# 2 and 3: a running container per runtime
jq '.process.args=["/bin/sleep","1000"]' "$work/config.json" > "$work/c" && mv "$work/c" "$work/config.json"
started=()
for rt in berth crun runc; do
    if "$(bin_of "$rt")" --root "$work/state-$rt" run -d --bundle "$work" "s-$rt" </dev/null >/dev/null 2>&1; then
        started+=("$rt")
    else
        echo "  ($rt could not start a container; left out below)"
    fi
done
runs=${RUNS:-50}
echo
echo "events --stats (crun 1.8's events is left out where it fails on this host):"
cmds=()
for rt in "${started[@]}"; do
    if "$(bin_of "$rt")" --root "$work/state-$rt" events --stats "s-$rt" >/dev/null 2>&1; then
        cmds+=(-n "$rt" "$(bin_of "$rt") --root $work/state-$rt events --stats s-$rt")
    fi
done
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/events.json" "${cmds[@]}"
echo
echo "pause + resume round trip (one sh -c each):"
cmds=()
for rt in "${started[@]}"; do
    b=$(bin_of "$rt")
    cmds+=(-n "$rt" "sh -c '$b --root $work/state-$rt pause s-$rt && $b --root $work/state-$rt resume s-$rt'")
done
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/pause.json" "${cmds[@]}"
for f in events pause; do
    jq -r --arg f "$f" '.results | (map({(.command): .mean}) | add) as $m
        | "\($f) ratios (mean): " + ([("crun", "runc") | select($m[.]) | "berth/\(.) = \($m.berth / $m[.] * 100 | round / 100)"] | join(", "))' "$work/$f.json"
done
