#!/bin/sh
# imagectl build vs buildah bud on the same Dockerfile (examples/busybox:
# FROM scratch, COPY busybox, two RUNs, a COPY, metadata), cold cache
# (fresh store each run) and warm cache (everything cached), with
# hyperfine. Run as root from the repository root after
# `cargo build --release -p imagectl -p berth` (or set IMAGECTL/BERTH).
set -eu
IMAGECTL=${IMAGECTL:-target/release/imagectl}
BERTH=${BERTH:-$(pwd)/target/release/berth}
RUNS=${RUNS:-5}
command -v hyperfine >/dev/null || { echo "install hyperfine" >&2; exit 1; }
command -v buildah >/dev/null || { echo "install buildah" >&2; exit 1; }
W=$(mktemp -d /tmp/bench-build.XXXXXX)
trap 'rm -rf "$W"' EXIT
cp -r examples/busybox "$W/ctx"
cp /bin/busybox "$W/ctx/busybox"
B="buildah --storage-driver vfs --root $W/bh --runroot $W/bhrun"
I="$IMAGECTL --root $W/ic build --runtime $BERTH -q -t localhost/bench:latest $W/ctx"
hyperfine --runs "$RUNS" --export-markdown "$W/cold.md" \
  --prepare "rm -rf $W/ic" -n "imagectl cold" "$I" \
  --prepare "rm -rf $W/bh $W/bhrun" -n "buildah cold" "$B bud -q --isolation chroot --layers -t localhost/bench:latest $W/ctx"
$I >/dev/null
$B bud -q --isolation chroot --layers -t localhost/bench:latest "$W/ctx" >/dev/null
hyperfine --runs "$RUNS" --export-markdown "$W/warm.md" \
  -n "imagectl warm" "$I" \
  -n "buildah warm" "$B bud -q --isolation chroot --layers -t localhost/bench:latest $W/ctx"
cat "$W/cold.md" "$W/warm.md"
