# A private containerd (root, state, sockets and the runc shim's --root all
# inside the caller's work dir) so the suites never touch a system
# containerd, plus a bounded `ctr` wrapper. Requires common.bash.
#
# The config also carries a CRI runtime entry for the runtime under test
# (by default runtime_type io.containerd.runc.v2 with options.BinaryName),
# which is how kubelet-driven containerd would be pointed at it.

# e2e_containerd_config WORKDIR RUNTIME_TYPE OPTIONS : write
# WORKDIR/containerd.toml with a CRI runtime entry "berth" (the default
# handler) of RUNTIME_TYPE whose options table holds the TOML lines
# OPTIONS. Sets E2E_CTRD_SOCK, E2E_CTRD_CONFIG, E2E_CTRD_STATE (the shims
# keep bundles under $E2E_CTRD_STATE/io.containerd.runtime.v2.task/<ns>/<id>).
e2e_containerd_config() {
    local dir=$1 runtime_type=$2 options=$3
    E2E_CTRD_SOCK=$dir/ctrd.sock
    E2E_CTRD_CONFIG=$dir/containerd.toml
    E2E_CTRD_STATE=$dir/state
    mkdir -p "$dir/root" "$dir/state"
    cat >"$E2E_CTRD_CONFIG" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
# Snapshotters and plugins this host cannot or need not run: fewer init
# errors in the log and a faster start.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$E2E_CTRD_SOCK"

[ttrpc]
  address = "$E2E_CTRD_SOCK.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${E2E_REGISTRY:-127.0.0.1:1}/pause:latest"
  disable_tcp_service = true
  # Sandboxes ask for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE,
  # which some CI VMs withhold even from root (runc fails the same way).
  # This clamps to containerd's own score instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "$dir/cni/net.d"
    bin_dir = "$dir/cni/bin"
  # The private registry speaks plain http.
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."${E2E_REGISTRY:-127.0.0.1:1}"]
    endpoint = ["http://${E2E_REGISTRY:-127.0.0.1:1}"]
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "berth"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "$runtime_type"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
$options
TOML
}

# e2e_containerd_start WORKDIR RUNTIME : write WORKDIR/containerd.toml (the
# CRI entry: runc's v2 shim with BinaryName RUNTIME), start containerd,
# wait for its socket. Sets what e2e_containerd_config sets and
# E2E_CTRD_PID. Log: WORKDIR/containerd.log (debug level).
e2e_containerd_start() {
    local dir=$1 runtime=$2
    e2e_containerd_config "$dir" io.containerd.runc.v2 "        BinaryName = \"$runtime\"
        Root = \"$dir/cri-runc-root\""
    containerd --config "$E2E_CTRD_CONFIG" >"$dir/containerd.log" 2>&1 </dev/null &
    E2E_CTRD_PID=$!
    if ! e2e_wait_until 30 ctr --address "$E2E_CTRD_SOCK" version; then
        e2e_log "containerd did not come up; its log:"
        tail -50 "$dir/containerd.log" >&2
        return 1
    fi
    e2e_log "containerd on $E2E_CTRD_SOCK (pid $E2E_CTRD_PID)"
}

# e2e_ctr ARGS... : ctr against the private containerd, namespace
# $E2E_NS (default e2e), bounded by $E2E_CTR_TIMEOUT seconds (default 30).
e2e_ctr() {
    timeout -k 5 "${E2E_CTR_TIMEOUT:-30}" ctr --address "$E2E_CTRD_SOCK" -n "${E2E_NS:-e2e}" "$@" </dev/null
}

# e2e_containerd_stop WORKDIR : kill every task left in any namespace,
# remove the containers, stop containerd, then unmount whatever it left
# mounted under WORKDIR (snapshots, rootfs) so WORKDIR can be removed.
e2e_containerd_stop() {
    local dir=$1 id m
    local ns
    if [ -n "${E2E_CTRD_PID:-}" ]; then
        # Every namespace: CRI works in k8s.io.
        for ns in $(E2E_NS=default e2e_ctr namespaces ls -q 2>/dev/null); do
            for id in $(E2E_NS=$ns e2e_ctr tasks ls -q 2>/dev/null); do
                E2E_NS=$ns e2e_ctr tasks resume "$id" >/dev/null 2>&1 || true
                E2E_NS=$ns e2e_ctr tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
                E2E_NS=$ns e2e_ctr tasks delete -f "$id" >/dev/null 2>&1 || true
            done
            for id in $(E2E_NS=$ns e2e_ctr containers ls -q 2>/dev/null); do
                E2E_NS=$ns e2e_ctr containers rm "$id" >/dev/null 2>&1 || true
            done
        done
        kill "$E2E_CTRD_PID" 2>/dev/null || true
        timeout 15 tail --pid="$E2E_CTRD_PID" -f /dev/null 2>/dev/null || kill -9 "$E2E_CTRD_PID" 2>/dev/null || true
        E2E_CTRD_PID=
    fi
    # Deepest first; lazy so a straggler cannot wedge the teardown.
    for m in $(findmnt -rn -o TARGET | grep -F "$dir/" | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}
