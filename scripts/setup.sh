#!/usr/bin/env bash
# Installs what building and testing berth needs on a fresh Debian machine
# (root): busybox-static for test rootfses, runc and crun as reference
# runtimes, jq for the demo, file to check static binaries, and the
# benchmark tools, and containers-common for its default seccomp profile
# (/usr/share/containers/seccomp.json), which the tests run; and for the
# shim and imagectl tests: conmon (the idle-memory reference),
# docker-registry (a real registry on loopback), skopeo and umoci (test
# images and the reference unpack), apache2-utils (htpasswd) and openssl
# (the token issuer's key); podman, buildah and containerd (archives they
# must read and write, and the Dockerfile build reference), libcap2-bin
# (setcap for file-capability layers), zstd. Safe to run again.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup: run as root (containers need it)" >&2; exit 1; }
packages=(busybox-static runc crun jq file hyperfine time golang-github-containers-common
    docker-registry skopeo umoci apache2-utils openssl conmon
    podman buildah containerd libcap2-bin zstd gzip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
