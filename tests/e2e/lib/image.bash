# Builds a busybox OCI image offline (umoci, from the host's static busybox)
# and pushes it to a registry (skopeo). Requires common.bash.

# e2e_image_build WORKDIR : write the OCI layout WORKDIR/oci holding tag
# "latest": /bin/busybox plus one symlink per applet, /bin/sh as the default
# command, and the few files a shell wants (/etc/passwd, /tmp); and tag
# "pause", the same layer running `sleep` forever, a CRI sandbox image.
e2e_image_build() {
    local dir=$1 busybox=${E2E_BUSYBOX:-/bin/busybox} applet
    if ! file -L "$busybox" | grep -Eq 'statically linked|static-pie linked'; then
        e2e_log "$busybox is not static (install busybox-static)"
        return 1
    fi
    rm -rf "$dir/oci" "$dir/bundle"
    umoci init --layout "$dir/oci" &&
        umoci new --image "$dir/oci:busybox" &&
        umoci unpack --rootless=false --image "$dir/oci:busybox" "$dir/bundle" || return 1
    local root=$dir/bundle/rootfs
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
    chmod 1777 "$root/tmp"
    cp "$busybox" "$root/bin/busybox"
    for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
    umoci repack --image "$dir/oci:busybox" "$dir/bundle" &&
        umoci config --image "$dir/oci:busybox" --tag latest \
            --config.cmd /bin/sh --config.env PATH=/bin:/sbin:/usr/bin:/usr/sbin --config.workingdir / &&
        umoci config --image "$dir/oci:latest" --tag pause \
            --config.cmd /bin/sleep --config.cmd 2147483647 &&
        umoci rm --image "$dir/oci:busybox" &&
        umoci gc --layout "$dir/oci" || return 1
    rm -rf "$dir/bundle"
}

# e2e_image_push WORKDIR REGISTRY : copy WORKDIR/oci:latest to
# docker://REGISTRY/busybox:latest and WORKDIR/oci:pause to
# REGISTRY/pause:latest, over plain http.
e2e_image_push() {
    local dir=$1 registry=$2
    timeout 60 skopeo copy --quiet --dest-tls-verify=false \
        "oci:$dir/oci:latest" "docker://$registry/busybox:latest" &&
        timeout 60 skopeo copy --quiet --dest-tls-verify=false \
            "oci:$dir/oci:pause" "docker://$registry/pause:latest"
}
