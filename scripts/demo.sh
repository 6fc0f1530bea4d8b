#!/usr/bin/env bash
# Front door, command 1: set up, build berth, make a busybox bundle and run a
# container from it. No network needed beyond the first package install.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
berth=$(bash scripts/build.sh)
bundle=${BUNDLE:-$PWD/target/demo-bundle}
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
"$berth" spec --bundle "$bundle"
jq '.process.terminal = false
    | .process.args = ["/bin/sh", "-c", "echo \"hello from $(hostname), pid $$\"; ls /"]' \
    "$bundle/config.json" > "$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
echo "+ berth run --bundle $bundle demo"
"$berth" --root "${BERTH_ROOT:-/run/berth}" run --bundle "$bundle" "demo-$$"
