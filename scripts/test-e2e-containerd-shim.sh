#!/usr/bin/env bash
# berth's own containerd shim (containerd-shim-berth-v2) under the real
# containerd (Debian's 1.6): runs tests/e2e/containerd-shim.bats with berth
# as the runtime and, as the reference, with runc under the same shim; then
# proves the suite can fail: a runtime wrapper whose `pause` does nothing,
# and a shim wrapper whose daemon dies with containerd (as a shim in
# containerd's kill path would), must each fail the test that checks it.
#
#   bash scripts/test-e2e-containerd-shim.sh            # as root, no tty needed
#   SHIM=target/release/containerd-shim-berth-v2 BERTH=target/release/berth bash scripts/...
#   E2E_SKIP_NEGATIVE=1 ...                             # skip the can-fail check
#
# Builds the shim with `cargo build --release -p berth-shim` when SHIM is
# unset (and berth with scripts/build.sh when BERTH is unset). Installs
# containerd, docker-registry, skopeo, umoci, bats, jq and python3-grpcio if
# missing. Results (TAP, containerd logs, rss.txt) go to $E2E_RESULTS
# (default /tmp/berth-e2e-containerd-shim).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-e2e-containerd-shim: run as root" >&2; exit 1; }
limit=${E2E_LIMIT:-300} # seconds per suite run

# shellcheck source=../tests/e2e/lib/common.bash
. tests/e2e/lib/common.bash
e2e_install_missing test-e2e-containerd-shim containerd=containerd docker-registry=docker-registry \
    skopeo=skopeo umoci=umoci bats=bats busybox-static=busybox runc=runc jq=jq \
    curl=curl file=file util-linux=script procps=pgrep python3-grpcio=

shim=${SHIM:-}
if [ -z "$shim" ]; then
    timeout 1800 cargo build --release -p berth-shim >&2
    shim=target/release/containerd-shim-berth-v2
fi
shim=$(readlink -f "$shim")
berth=${BERTH:-}
if [ -z "$berth" ]; then
    berth=$(timeout 1200 bash scripts/build.sh)
fi
berth=$(readlink -f "$berth")
runc=$(readlink -f "$(command -v runc)")
results=${E2E_RESULTS:-/tmp/berth-e2e-containerd-shim}
rm -rf "$results"
mkdir -p "$results"
echo "test-e2e-containerd-shim: containerd $(containerd --version | awk '{ print $3 }'), shim $shim, berth $berth, runc $runc"

summary=()
failed=0
# suite NAME SHIM RUNTIME [BATS-ARGS...] : run the bats file; sets suite_rc
# and appends "NAME: passed/run (skipped) in Ns" to summary.
suite() {
    local name=$1 s=$2 runtime=$3 t0=$SECONDS tap=$results/$1.tap pass fail skip
    shift 3
    echo "== $name (SHIM=$s RUNTIME=$runtime, limit ${limit}s)"
    suite_rc=0
    SHIM=$s RUNTIME=$runtime E2E_LOG_DIR=$results/$name timeout -k 20 "$limit" \
        bats --tap --timing "$@" tests/e2e/containerd-shim.bats </dev/null >"$tap" 2>&1 || suite_rc=$?
    grep -v 'level=warning' "$tap" || true
    pass=$(grep -Ec '^ok ' "$tap" || true)
    skip=$(grep -Ec '^ok .* # skip' "$tap" || true)
    fail=$(grep -Ec '^not ok ' "$tap" || true)
    [ "$suite_rc" != 124 ] || echo "test-e2e-containerd-shim: $name timed out after ${limit}s" >&2
    summary+=("$name: $((pass - skip))/$((pass - skip + fail)) passed, $skip skipped, rc=$suite_rc, $((SECONDS - t0))s")
    echo "-- ${summary[-1]}"
}

# The RSS target (<= 0.3x containerd-shim-runc-v2) is asserted for the
# release build only: a debug build carries its debug-info-sized text.
case $shim in */release/*) export E2E_RSS_RATIO_MAX=${E2E_RSS_RATIO_MAX:-30} ;; esac

suite berth "$shim" "$berth"
[ "$suite_rc" = 0 ] || failed=1
[ ! -f "$results/berth/rss.txt" ] || summary+=("rss (berth run): $(cat "$results/berth/rss.txt")")
suite runc "$shim" "$runc"
[ "$suite_rc" = 0 ] || failed=1

if [ "${E2E_SKIP_NEGATIVE:-0}" != 1 ]; then
    wrappers=$(mktemp -d /tmp/berth-e2e-shim-wrappers.XXXXXX)
    trap 'rm -rf "$wrappers"' EXIT
    # A runtime whose pause reports success and freezes nothing.
    cat >"$wrappers/runtime-nopause" <<WRAP
#!/bin/sh
for a; do [ "\$a" = pause ] && exit 0; done
exec $berth "\$@"
WRAP
    # A shim whose daemon dies when containerd does, as one would that
    # lived in containerd's session or cgroup kill path.
    cat >"$wrappers/containerd-shim-berth-v2" <<WRAP
#!/bin/bash
if [ "\${!#}" = start ]; then
    addr=\$($shim "\$@") || exit
    ppid=\$PPID
    pid=\$(cat shim.pid)
    (while kill -0 \$ppid 2>/dev/null; do sleep 0.2; done; kill -9 \$pid) </dev/null >/dev/null 2>&1 &
    printf %s "\$addr"
    exit 0
fi
exec $shim "\$@"
WRAP
    chmod +x "$wrappers"/*
    for case in "nopause|$shim|$wrappers/runtime-nopause|pause and resume" \
        "dieswithcontainerd|$wrappers/containerd-shim-berth-v2|$berth|survives containerd"; do
        IFS='|' read -r cname cshim cruntime cfilter <<<"$case"
        name=can-fail-$cname
        suite "$name" "$cshim" "$cruntime" -f "$cfilter"
        if [ "$suite_rc" = 0 ]; then
            echo "test-e2e-containerd-shim: $name: the suite passed a broken shim or runtime" >&2
            failed=1
            summary[-1]+=" (WRONG: must fail)"
        else
            summary[-1]+=" (failed as it must)"
        fi
    done
fi

echo
echo "test-e2e-containerd-shim summary (results in $results):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" = 0 ]; then
    echo "test-e2e-containerd-shim: PASS in ${SECONDS}s"
else
    echo "test-e2e-containerd-shim: FAIL in ${SECONDS}s"
fi
exit "$failed"
