#!/usr/bin/env bash
# berth under the real podman (Debian's 4.3): installs podman, conmon, bats
# and script(1) if missing, builds the static berth, then runs
# tests/e2e/podman.bats against berth and against runc (the reference: the
# same tests must pass there too, or the test is wrong, not berth), and
# finally two negative controls that must FAIL, proving the suite can:
#   - RUNTIME=/bin/false: every test that needs a container must fail;
#   - tests/e2e/podman/runc-nopause (runc that fakes `pause`): the pause
#     test must fail, as it reads the cgroup freezer, not podman's word.
# Needs root and no tty; everything podman keeps lives in a temp dir.
#
# Usage: bash scripts/test-e2e-podman.sh   (BERTH=<path> skips the build)
# One runtime by hand: RUNTIME=/usr/sbin/runc bats tests/e2e/podman.bats
# Writes the TAP output and the argv log of every runtime call podman made
# to target/e2e-podman/.
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS

install_deps() {
    local need=() cmd
    for cmd in podman:podman conmon:conmon bats:bats script:bsdutils runc:runc; do
        command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd#*:}")
    done
    [ ${#need[@]} = 0 ] && return
    echo "test-e2e-podman: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 apt-get install -y -q "${need[@]}" >/dev/null; then
        timeout 300 apt-get update -q >/dev/null
        timeout 600 apt-get install -y -q "${need[@]}" >/dev/null
    fi
}
install_deps

out=$PWD/target/e2e-podman
mkdir -p "$out"
berth=${BERTH:-$(bash scripts/build.sh)}
runc=$(command -v runc)
echo "test-e2e-podman: $(podman --version), $(conmon --version | head -1), berth $berth"

# suite <label> <runtime> [bats args...]: runs the bats file, leaves
# "<passed> <total> <seconds> <rc>" in $result.
suite() {
    local label=$1 rt=$2 t0=$SECONDS rc=0
    shift 2
    echo "== podman e2e: $label (RUNTIME=$rt)"
    RUNTIME=$rt E2E_ARTIFACTS=$out timeout -k 10 400 \
        bats --formatter tap --timing "$@" tests/e2e/podman.bats </dev/null >"$out/$label.tap" 2>&1 || rc=$?
    local passed total skipped
    passed=$(grep -c '^ok ' "$out/$label.tap" || true)
    skipped=$(grep -c '^ok .* # skip' "$out/$label.tap" || true)
    passed=$((passed - skipped))
    total=$(grep -m1 -oE '^1\.\.[0-9]+' "$out/$label.tap" | cut -c4- || true)
    if [ "${quiet:-0}" = 1 ]; then
        grep -E '^not ok' "$out/$label.tap" | head -5 || true
    else
        grep -E '^not ok|^#' "$out/$label.tap" | head -60 || true
    fi
    grep -E '^ok .* # skip' "$out/$label.tap" | sed 's/^/   /' || true
    result="$passed ${total:-0} $((SECONDS - t0)) $rc $skipped"
    echo "-- $label: $passed/${total:-?} passed, $skipped skipped, in $((SECONDS - t0))s (bats rc=$rc)"
}

fail=0
suite berth "$berth"
read -r b_pass b_total b_secs b_rc b_skip <<<"$result"
[ "$b_rc" = 0 ] && [ $((b_pass + b_skip)) = "$b_total" ] && [ "$b_total" -gt 0 ] || fail=1

suite runc "$runc"
read -r r_pass r_total r_secs r_rc _ <<<"$result"
[ "$r_rc" = 0 ] && [ "$r_pass" = "$r_total" ] && [ "$r_total" -gt 0 ] || fail=1

# Negative controls: a pass here means a test that cannot fail.
quiet=1 suite control-false /bin/false
read -r f_pass f_total _ f_rc _ <<<"$result"
if [ "$f_rc" = 0 ] || [ "$f_pass" != 0 ]; then
    echo "test-e2e-podman: RUNTIME=/bin/false passed $f_pass/$f_total tests: the suite cannot fail" >&2
    fail=1
fi
quiet=1 suite control-nopause "$PWD/tests/e2e/podman/runc-nopause" -f 'pause/unpause'
read -r p_pass p_total _ p_rc _ <<<"$result"
if [ "$p_rc" = 0 ] || [ "$p_pass" != 0 ]; then
    echo "test-e2e-podman: the pause test passed against a runc that does not pause" >&2
    fail=1
fi

summary="berth $b_pass/$b_total (${b_secs}s; $b_skip skipped), runc $r_pass/$r_total (${r_secs}s, reference)"
summary+=", controls: /bin/false $f_pass/$f_total, runc-nopause pause test $p_pass/$p_total"
if [ "$fail" = 0 ]; then
    echo "test-e2e-podman: PASS: $summary; $((SECONDS - t_start))s total"
else
    echo "test-e2e-podman: FAIL: $summary; logs in $out" >&2
fi
exit "$fail"
