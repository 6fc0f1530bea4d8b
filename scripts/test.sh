#!/usr/bin/env bash
# Front door, command 2: the whole test suite, as root. Unit tests, the
# integration tests that run real containers, then the conformance suite
# against berth (must pass fully) and against runc (the reference: proves the
# checks can fail and that runc's known deviations are still the only ones),
# then berth under the real containerd and podman (each suite also run with
# runc as the reference), containerd through berth's own shim, then the same integration tests and conformance
# suite in a qemu guest that mounts only cgroup v2 (this host is v1/hybrid).
#
# Every stage has a time limit, so a hang fails the run with its name rather
# than eating CI's budget; each prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
stage() { # name limit-seconds command...
    local name=$1 limit=$2 t0=$SECONDS rc=0
    shift 2
    echo "== $name (limit ${limit}s)"
    timeout -k 20 "$limit" "$@" </dev/null || rc=$?
    echo "-- $name: $((SECONDS - t0))s, rc=$rc"
    if [ "$rc" != 0 ]; then
        [ "$rc" = 124 ] && echo "test.sh: stage '$name' timed out after ${limit}s" >&2
        exit "$rc"
    fi
}
stage setup 900 bash scripts/setup.sh
stage "cargo test (unit + integration, real containers)" 1500 cargo test --workspace
stage "build conformance driver" 600 cargo build --release -p berth-conformance
checker=$(bash conformance/build-checker.sh)
berth=$(bash scripts/build.sh)
driver=target/release/berth-conformance
stage "conformance against berth" 600 "$driver" --runtime "$berth" --checker "$checker"
stage "conformance against runc $(runc --version | head -1 | awk '{print $3}') (reference)" 600 \
    "$driver" --runtime "$(command -v runc)" --checker "$checker"
stage "containerd e2e (berth, runc reference, can-fail checks)" 900 \
    env BERTH="$berth" bash scripts/test-e2e-containerd.sh
if [ -f scripts/test-e2e-podman.sh ]; then
    stage "podman e2e (berth, runc reference, can-fail checks)" 900 \
        env BERTH="$berth" bash scripts/test-e2e-podman.sh
fi
if [ -f scripts/test-e2e-containerd-shim.sh ]; then
    stage "containerd e2e through containerd-shim-berth-v2" 900 \
        env BERTH="$berth" bash scripts/test-e2e-containerd-shim.sh
fi
if [ "${BERTH_SKIP_GUEST:-0}" != 1 ]; then
    stage "cgroup v2 guest (qemu)" 2100 bash scripts/test-cgroup2.sh
fi
echo "test.sh: all stages passed in ${SECONDS}s"
