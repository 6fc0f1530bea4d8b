# containerd with berth's own shim (containerd-shim-berth-v2) on its PATH.
# Like lib/containerd.bash's e2e_containerd_start (whose e2e_ctr and
# e2e_containerd_stop work unchanged on the containerd started here), but
# the config's CRI runtime entry is runtime_type io.containerd.berth.v2,
# its options a ConfigPath file naming the runtime binary, and containerd
# can be stopped and started again on the same state (restart tests).
# Requires common.bash and containerd.bash.

# shim_containerd_setup WORKDIR SHIM RUNTIME : make WORKDIR/bin holding
# containerd-shim-berth-v2 -> SHIM and berth -> RUNTIME (the shim's default
# binary is `berth` on PATH), the runtime config file and containerd.toml.
# Sets E2E_CTRD_SOCK, E2E_CTRD_CONFIG, E2E_CTRD_STATE, SHIM_RUNTIME_CONFIG.
shim_containerd_setup() {
    local dir=$1 shim=$2 runtime=$3
    SHIM_RUNTIME_CONFIG=$dir/berth-runtime.toml
    mkdir -p "$dir/bin"
    ln -sf "$shim" "$dir/bin/containerd-shim-berth-v2"
    ln -sf "$runtime" "$dir/bin/berth"
    cat >"$SHIM_RUNTIME_CONFIG" <<TOML
# Read by containerd-shim-berth-v2 (runtimeoptions ConfigPath).
BinaryName = "$runtime"
Root = "$dir/shim-runtime-root"
TOML
    e2e_containerd_config "$dir" io.containerd.berth.v2 "        ConfigPath = \"$SHIM_RUNTIME_CONFIG\""
}

# shim_containerd_start WORKDIR : start containerd on the config
# shim_containerd_setup wrote (again, after a stop: same root and state);
# sets E2E_CTRD_PID and records it in WORKDIR/containerd.pid, so that a
# containerd restarted inside one test is found by teardown_file (each bats
# test runs in its own process). Log appended to WORKDIR/containerd.log.
# fd 3 is closed: bats waits for every holder of it before it ends.
shim_containerd_start() {
    local dir=$1
    PATH=$dir/bin:$PATH containerd --config "$E2E_CTRD_CONFIG" >>"$dir/containerd.log" 2>&1 </dev/null 3>&- &
    E2E_CTRD_PID=$!
    echo "$E2E_CTRD_PID" >"$dir/containerd.pid"
    if ! e2e_wait_until 30 ctr --address "$E2E_CTRD_SOCK" version; then
        e2e_log "containerd did not come up; its log:"
        tail -50 "$dir/containerd.log" >&2
        return 1
    fi
    e2e_log "containerd on $E2E_CTRD_SOCK (pid $E2E_CTRD_PID)"
}

# shim_containerd_pid WORKDIR : the pid of the containerd last started.
shim_containerd_pid() { cat "$1/containerd.pid" 2>/dev/null; }

# shim_containerd_kill : SIGKILL containerd (no cleanup of its shims) and
# wait until it is gone.
shim_containerd_kill() {
    kill -9 "$E2E_CTRD_PID" 2>/dev/null || true
    timeout 15 tail --pid="$E2E_CTRD_PID" -f /dev/null 2>/dev/null || true
    E2E_CTRD_PID=
}

# shim_pid_of ID : the pid of ID's shim daemon (the bundle's shim.pid).
shim_pid_of() {
    cat "$E2E_CTRD_STATE/io.containerd.runtime.v2.task/$E2E_NS/$1/shim.pid" 2>/dev/null
}

# vmrss_kb PID : resident set size of PID in kB (VmRSS).
vmrss_kb() {
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}
