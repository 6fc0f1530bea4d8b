#!/usr/bin/env bash
# Registry pull throughput: `imagectl pull` against `skopeo copy
# docker://... oci:DIR` of the same multi-layer image (LAYERS layers, MB
# megabytes of incompressible data in all, so gzip does not shrink it) from
# a docker-registry on 127.0.0.1, in one hyperfine run, each sample into a
# fresh store / layout. Reported, never asserted. (No debootstrap rootfs:
# the VM has no Debian mirror for it, so the layers are generated.)
#
#   bash bench/pull.sh                            # builds imagectl --release
#   IMAGECTL=path RUNS=10 MB=300 LAYERS=5 bash bench/pull.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/pull: run as root (umoci unpack)" >&2; exit 1; }
for c in docker-registry skopeo umoci hyperfine curl; do
    command -v "$c" >/dev/null || { echo "bench/pull: $c missing (apt-get install docker-registry skopeo umoci hyperfine curl)" >&2; exit 1; }
done
runs=${RUNS:-5}
mb=${MB:-300}
layers=${LAYERS:-5}
if [ -z "${IMAGECTL:-}" ]; then
    cargo build --release -q -p imagectl
    IMAGECTL=target/release/imagectl
fi
imagectl=$(readlink -f "$IMAGECTL")

# shellcheck source=../tests/e2e/lib/common.bash
. tests/e2e/lib/common.bash
# shellcheck source=../tests/e2e/lib/registry.bash
. tests/e2e/lib/registry.bash

work=$(mktemp -d /tmp/imagectl-bench-pull.XXXXXX)
cleanup() { e2e_registry_stop; rm -rf "$work"; }
trap cleanup EXIT
e2e_registry_start "$work"

e2e_log "building a $layers-layer image of ${mb} MB"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:big"
umoci unpack --rootless=false --image "$work/oci:big" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/data"
for i in $(seq "$layers"); do
    head -c "$((mb * 1024 * 1024 / layers))" /dev/urandom >"$work/bundle/rootfs/data/layer$i.bin"
    umoci repack --refresh-bundle --image "$work/oci:big" "$work/bundle"
done
umoci config --image "$work/oci:big" --config.cmd /bin/sh
rm -rf "$work/bundle"
timeout 600 skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:big" "docker://$E2E_REGISTRY/big:latest"

hyperfine --runs "$runs" --warmup 1 \
    --prepare "rm -rf $work/store $work/skopeo; sync" \
    -n "imagectl pull" "timeout 600 $imagectl --root $work/store pull -q $E2E_REGISTRY/big:latest" \
    -n "skopeo copy" "timeout 600 skopeo copy --quiet --src-tls-verify=false docker://$E2E_REGISTRY/big:latest oci:$work/skopeo:latest" \
    --export-markdown "$work/pull.md"
cat "$work/pull.md"
