#!/bin/sh
# Builds the in-container checker as a static binary (static-pie, glibc,
# x86_64-unknown-linux-gnu: no musl target needed), copies it to
# <target>/release/berth-check-static (a later plain `cargo build --release`
# would overwrite release/berth-check with a dynamic one) and prints that path.
# Usage: conformance/build-checker.sh   (honours CARGO_TARGET_DIR)
set -eu
cd "$(dirname "$0")"
cargo rustc --release -p berth-conformance --bin berth-check -- -C target-feature=+crt-static >&2
bin="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}/release/berth-check"
if ! file "$bin" | grep -Eq 'statically linked|static-pie linked'; then
    echo "build-checker: $bin is not static: $(file "$bin")" >&2
    exit 1
fi
cp "$bin" "$bin-static"
echo "$bin-static"
