#!/usr/bin/env bash
# exec latency: `exec ID /bin/true` into a running busybox container, berth
# vs crun vs runc in one hyperfine run (Kubernetes exec probes make this the
# hottest path in production). Reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_setup exec '["/bin/sleep","1000"]'
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
