#!/usr/bin/env bash
# berth under the real containerd (Debian's 1.6), as the binary of the runc
# v2 shim: runs tests/e2e/containerd.bats against berth and, as the
# reference, against runc; then proves the suite can fail by running three
# of its tests against runc wrappers that break exactly what those tests
# check (pause made a no-op, `kill --all` demoted to a plain kill, delete
# made a no-op that leaves state and cgroups), which must fail.
#
#   bash scripts/test-e2e-containerd.sh            # as root, no tty needed
#   BERTH=target/debug/berth bash scripts/...      # skip the release build
#   E2E_SKIP_NEGATIVE=1 ...                        # skip the can-fail check
#
# Installs containerd, docker-registry, skopeo, umoci, bats and python3-grpcio
# (for the CRI pod test) if missing.
# Everything else (registry, containerd, images) is private to temp dirs
# and torn down; containerd's logs of each run are kept in $E2E_RESULTS
# (default /tmp/berth-e2e-containerd) with the TAP output.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-e2e-containerd: run as root" >&2; exit 1; }
limit=${E2E_LIMIT:-180} # seconds per runtime

# shellcheck source=../tests/e2e/lib/common.bash
. tests/e2e/lib/common.bash
e2e_install_missing test-e2e-containerd containerd=containerd docker-registry=docker-registry \
    skopeo=skopeo umoci=umoci bats=bats busybox-static=busybox runc=runc jq=jq \
    curl=curl file=file util-linux=script python3-grpcio=

berth=${BERTH:-}
if [ -z "$berth" ]; then
    berth=$(timeout 1200 bash scripts/build.sh)
fi
berth=$(readlink -f "$berth")
runc=$(readlink -f "$(command -v runc)")
results=${E2E_RESULTS:-/tmp/berth-e2e-containerd}
rm -rf "$results"
mkdir -p "$results"
echo "test-e2e-containerd: containerd $(containerd --version | awk '{ print $3 }'), berth $berth, runc $runc"

summary=()
failed=0
# suite NAME RUNTIME [BATS-ARGS...] : run the bats file; sets suite_rc and
# appends "NAME: passed/run (skipped) in Ns" to summary.
suite() {
    local name=$1 runtime=$2 t0=$SECONDS tap=$results/$1.tap pass fail skip
    shift 2
    echo "== $name (RUNTIME=$runtime, limit ${limit}s)"
    suite_rc=0
    RUNTIME=$runtime E2E_LOG_DIR=$results/$name timeout -k 20 "$limit" \
        bats --tap --timing "$@" tests/e2e/containerd.bats </dev/null >"$tap" 2>&1 || suite_rc=$?
    grep -v 'level=warning' "$tap" || true
    pass=$(grep -Ec '^ok ' "$tap" || true)
    skip=$(grep -Ec '^ok .* # skip' "$tap" || true)
    fail=$(grep -Ec '^not ok ' "$tap" || true)
    [ "$suite_rc" != 124 ] || echo "test-e2e-containerd: $name timed out after ${limit}s" >&2
    summary+=("$name: $((pass - skip))/$((pass - skip + fail)) passed, $skip skipped, rc=$suite_rc, $((SECONDS - t0))s")
    echo "-- ${summary[-1]}"
}

suite berth "$berth"
[ "$suite_rc" = 0 ] || failed=1
suite runc "$runc"
[ "$suite_rc" = 0 ] || failed=1

if [ "${E2E_SKIP_NEGATIVE:-0}" != 1 ]; then
    wrappers=$(mktemp -d /tmp/berth-e2e-wrappers.XXXXXX)
    trap 'rm -rf "$wrappers"' EXIT
    # runc that reports success for `pause` and does nothing.
    cat >"$wrappers/runc-nopause" <<EOF
#!/bin/sh
for a; do [ "\$a" = pause ] && exit 0; done
exec $runc "\$@"
EOF
    # runc that drops --all from kill, so only init is signalled.
    cat >"$wrappers/runc-noall" <<EOF
#!/bin/bash
args=()
for a; do [ "\$a" = --all ] || [ "\$a" = -a ] || args+=("\$a"); done
exec $runc "\${args[@]}"
EOF
    # runc whose delete succeeds and removes nothing (state dir, cgroups).
    cat >"$wrappers/runc-nodelete" <<EOF
#!/bin/sh
for a; do [ "\$a" = delete ] && exit 0; done
exec $runc "\$@"
EOF
    chmod +x "$wrappers"/runc-*
    for case in "nopause:task pause and resume" "noall:task kill --all" \
        "nodelete:task delete --force and container rm"; do
        name=can-fail-${case%%:*}
        suite "$name" "$wrappers/runc-${case%%:*}" -f "${case#*:}"
        if [ "$suite_rc" = 0 ]; then
            echo "test-e2e-containerd: $name: the suite passed a broken runtime" >&2
            failed=1
            summary[-1]+=" (WRONG: must fail)"
        else
            summary[-1]+=" (failed as it must)"
        fi
    done
fi

echo
echo "test-e2e-containerd summary (results in $results):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" = 0 ]; then
    echo "test-e2e-containerd: PASS in ${SECONDS}s"
else
    echo "test-e2e-containerd: FAIL in ${SECONDS}s"
fi
exit "$failed"
