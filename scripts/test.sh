#!/usr/bin/env bash
# Front door, command 2: the whole test suite, as root. Unit tests, the
# integration tests that run real containers, then the conformance suite
# against berth (must pass fully) and against runc (the reference: proves the
# checks can fail and that runc's known deviations are still the only ones).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
echo "== cargo test (unit + integration, real containers)"
cargo test --workspace
echo "== conformance suite"
cargo build --release -p berth-conformance
checker=$(bash conformance/build-checker.sh)
berth=$(bash scripts/build.sh)
driver=target/release/berth-conformance
echo "-- against berth"
"$driver" --runtime "$berth" --checker "$checker"
echo "-- against runc $(runc --version | head -1 | awk '{print $3}') (reference)"
"$driver" --runtime "$(command -v runc)" --checker "$checker"
