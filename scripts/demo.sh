#!/usr/bin/env bash
# Front door, command 1: set up, build berth and imagectl, build the example
# image from examples/busybox/Dockerfile (FROM scratch plus the host's static
# busybox: no registry, no network), unpack it into a bundle and run it with
# berth. No network needed beyond the first package install.
#
#   bash scripts/demo.sh
#   DEMO_DIR=/tmp/demo bash scripts/demo.sh     # where the store and bundle go
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
berth=$(bash scripts/build.sh)
cargo build --release -q -p imagectl
imagectl=$PWD/target/release/imagectl
dir=${DEMO_DIR:-$PWD/target/demo}
store=$dir/store
bundle=$dir/bundle
[ -d "$bundle" ] && "$imagectl" --root "$store" unpack --remove "$bundle" 2>/dev/null || true
rm -rf "$dir/context" "$bundle"
mkdir -p "$dir"
# The build context: the example plus the binary it copies in.
cp -r examples/busybox "$dir/context"
cp /bin/busybox "$dir/context/busybox"
echo "+ imagectl build -t localhost/busybox-example examples/busybox"
"$imagectl" --root "$store" build --runtime "$berth" -t localhost/busybox-example "$dir/context"
echo "+ imagectl unpack localhost/busybox-example $bundle"
"$imagectl" --root "$store" unpack localhost/busybox-example "$bundle"
echo "+ berth run --bundle $bundle demo"
rc=0
"$berth" --root "${BERTH_ROOT:-/run/berth}" run --bundle "$bundle" "demo-$$" || rc=$?
"$imagectl" --root "$store" unpack --remove "$bundle"
exit "$rc"
