#!/usr/bin/env bash
# Registry to runnable bundle, end to end: `imagectl pull` + `imagectl
# unpack` against `skopeo copy docker://... oci:DIR` + `umoci unpack` of the
# same multi-layer image from a docker-registry on 127.0.0.1, in one
# hyperfine run, each sample from an empty store (cold layer cache). Then
# the cost of a second bundle from a stored image. Reported, never asserted.
#
# The image stands in for a debootstrap minbase rootfs (this VM has no
# Debian mirror): one layer per host tree in $TREES (default: locales,
# python's stdlib, /usr/share/doc, perl, /etc; ~400 MB of ordinary files,
# many of them small, gzip-compressible as a distribution's are).
#
#   bash bench/image.sh                     # builds imagectl --release
#   IMAGECTL=path RUNS=5 TREES="/usr/share/locale /etc" bash bench/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/image: run as root (unpack mounts overlay)" >&2; exit 1; }
for c in docker-registry skopeo umoci hyperfine curl; do
    command -v "$c" >/dev/null || { echo "bench/image: $c missing (bash scripts/setup.sh installs it)" >&2; exit 1; }
done
runs=${RUNS:-5}
trees=${TREES:-/usr/share/locale /usr/lib/python3.11 /usr/share/doc /usr/share/perl /etc}
if [ -z "${IMAGECTL:-}" ]; then
    cargo build --release -q -p imagectl
    IMAGECTL=target/release/imagectl
fi
imagectl=$(readlink -f "$IMAGECTL")

# shellcheck source=../tests/e2e/lib/common.bash
. tests/e2e/lib/common.bash
# shellcheck source=../tests/e2e/lib/registry.bash
. tests/e2e/lib/registry.bash

work=$(mktemp -d /var/tmp/imagectl-bench-image.XXXXXX)
cleanup() {
    for b in "$work"/b-*; do [ -d "$b" ] && "$imagectl" --root "$work/store" unpack --remove "$b" 2>/dev/null; done
    findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r umount -l 2>/dev/null || true
    e2e_registry_stop
    rm -rf "$work"
}
trap cleanup EXIT
e2e_registry_start "$work"

e2e_log "building an image with one layer per tree: $trees"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:big"
umoci unpack --rootless=false --image "$work/oci:big" "$work/bundle" >/dev/null
for t in $trees; do
    mkdir -p "$work/bundle/rootfs$(dirname "$t")"
    cp -a "$t" "$work/bundle/rootfs$t"
    umoci repack --refresh-bundle --image "$work/oci:big" "$work/bundle"
done
umoci config --image "$work/oci:big" --config.cmd /bin/sh
echo "image: $(du -sh "$work/bundle/rootfs" | cut -f1) unpacked, $(du -sh "$work/oci/blobs" | cut -f1) compressed, $(echo $trees | wc -w) layers"
rm -rf "$work/bundle"
timeout 600 skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:big" "docker://$E2E_REGISTRY/big:latest"
img=$E2E_REGISTRY/big:latest

hyperfine --runs "$runs" --warmup 1 \
    --prepare "bash -c 'for b in $work/b-*; do [ -d \$b ] && $imagectl --root $work/store unpack --remove \$b; done; rm -rf $work/store $work/skopeo $work/umoci-b; sync'" \
    -n "imagectl pull + unpack" "bash -c 'timeout 600 $imagectl --root $work/store pull -q $img >/dev/null && timeout 600 $imagectl --root $work/store unpack $img $work/b-1 >/dev/null'" \
    -n "skopeo copy + umoci unpack" "bash -c 'timeout 600 skopeo copy --quiet --src-tls-verify=false docker://$img oci:$work/skopeo:latest && timeout 600 umoci unpack --image $work/skopeo:latest $work/umoci-b >/dev/null'" \
    --export-markdown "$work/cold.md"
cat "$work/cold.md"

# A second bundle from the stored image (the cache is warm): imagectl only
# mounts an overlay; umoci extracts every layer again.
for b in "$work"/b-*; do [ -d "$b" ] && "$imagectl" --root "$work/store" unpack --remove "$b"; done
"$imagectl" --root "$work/store" pull -q "$img" >/dev/null
"$imagectl" --root "$work/store" unpack "$img" "$work/b-warm" >/dev/null
"$imagectl" --root "$work/store" unpack --remove "$work/b-warm"
hyperfine --runs "$runs" --warmup 1 \
    --prepare "bash -c '[ -d $work/b-2 ] && $imagectl --root $work/store unpack --remove $work/b-2; rm -rf $work/umoci-2; true'" \
    -n "imagectl unpack (second bundle)" "$imagectl --root $work/store unpack $img $work/b-2" \
    -n "umoci unpack (same image)" "umoci unpack --image $work/skopeo:latest $work/umoci-2" \
    --export-markdown "$work/warm.md"
cat "$work/warm.md"
