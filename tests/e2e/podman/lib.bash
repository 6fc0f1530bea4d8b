# Helpers for tests/e2e/podman.bats: a private podman world in one temp dir.
#
# Everything podman would otherwise keep in /var/lib/containers, /run/libpod,
# /etc/containers or the journal lives under $E2E: its own containers.conf,
# storage.conf and registries.conf (through the CONTAINERS_* variables, so
# the host's files are never read), file locks instead of the shared
# /libpod_lock segment, a file events log, cgroupfs, no network setup. The
# runtime under test ($RUNTIME) is reached through a wrapper that logs every
# argv it is given to $E2E/runtime-argv.log, so a failure can be read next
# to the exact command podman ran.
#
# Sourced by the bats file; every function here is also usable by hand:
#   RUNTIME=/usr/sbin/runc E2E=/tmp/x; source tests/e2e/podman/lib.bash
#   e2e_init; pm run --rm localhost/busybox echo hi

# Podman itself hangs on a wedged runtime (conmon waits on the sync pipe
# for minutes), so every call has its own limit.
: "${E2E_TIMEOUT:=60}"

# The hard limits of this host: the kernel refuses to raise a hard rlimit
# even for root here, and podman's built-in defaults (nofile and nproc
# 1048576) would make every create fail in the runtime's setrlimit.
e2e_hard_limit() { # ulimit-flag
    local v
    v=$(ulimit -H "$1")
    [ "$v" = unlimited ] && v=1048576
    echo "$v"
}

e2e_write_configs() {
    local name=$1 wrapper=$2 nofile nproc
    nofile=$(e2e_hard_limit -n)
    nproc=$(e2e_hard_limit -u)
    # 1024 is below any sane hard limit and is what the ulimit test
    # expects unless it asks for more.
    [ "$nofile" -gt 1024 ] && nofile=1024
    [ "$nproc" -gt 1024 ] && nproc=1024
    mkdir -p "$E2E/etc" "$E2E/tmp" "$E2E/volumes" "$E2E/net" "$E2E/root" "$E2E/runroot"
    cat >"$E2E/etc/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$E2E/events.log"
lock_type = "file"
tmp_dir = "$E2E/tmp"
volume_path = "$E2E/volumes"
static_dir = "$E2E/root/libpod"
network_cmd_path = ""
runtime = "$name"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "$name"]

[engine.runtimes]
$name = ["$wrapper"]

[network]
network_config_dir = "$E2E/net"
EOF
    cat >"$E2E/etc/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$E2E/root"
runroot = "$E2E/runroot"
EOF
    cat >"$E2E/etc/registries.conf" <<EOF
unqualified-search-registries = []
EOF
}

# The wrapper is named after the runtime (podman names a runtime given by
# path after its basename, and that name decides whether it gets
# --log-format=json), so "berth" and "runc" keep their own names.
e2e_write_wrapper() {
    local wrapper=$1
    mkdir -p "$(dirname "$wrapper")"
    cat >"$wrapper" <<EOF
#!/bin/bash
{ printf '%q ' "\$@"; echo; } >>"$E2E/runtime-argv.log"
# keep what the argv points at, for whoever reads the log: the resources
# of an update, and the spec of the first create (the bundle goes with
# the container)
prev=
for a in "\$@"; do
    case \$a in
    --resources=*) { echo "  resources: \$(cat "\${a#--resources=}")"; } >>"$E2E/runtime-argv.log" ;;
    esac
    if [ "\$prev" = --bundle ] && [ ! -e "$E2E/first-config.json" ]; then
        cp "\$a/config.json" "$E2E/first-config.json" 2>/dev/null
    fi
    prev=\$a
done
exec "$RUNTIME" "\$@"
EOF
    chmod 755 "$wrapper"
}

# busybox-static and its applets, a passwd with a non-root user, and one
# file that is not executable (for the 126 case). No network: this is the
# whole image.
e2e_make_image() {
    local r=$E2E/rootfs a
    rm -rf "$r"
    mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,root,home/tester,run}
    cp /bin/busybox "$r/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\ntester:x:1234:5678:tester:/home/tester:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\ntesters:x:5678:\nextra:x:4321:tester\nnogroup:x:65534:\n' >"$r/etc/group"
    printf '#!/bin/sh\necho never\n' >"$r/bin/notexec"
    chmod 644 "$r/bin/notexec"
    chmod 1777 "$r/tmp"
    tar -C "$r" -cf "$E2E/rootfs.tar" .
    pm import --change 'CMD=["/bin/sh"]' "$E2E/rootfs.tar" localhost/busybox:latest >/dev/null
}

e2e_init() {
    : "${RUNTIME:?RUNTIME must name the runtime binary}"
    : "${E2E:?E2E must name a scratch dir}"
    RUNTIME_NAME=$(basename "$RUNTIME")
    WRAPPER=$E2E/bin/$RUNTIME_NAME
    export RUNTIME RUNTIME_NAME WRAPPER E2E
    export CONTAINERS_CONF=$E2E/etc/containers.conf
    export CONTAINERS_STORAGE_CONF=$E2E/etc/storage.conf
    export CONTAINERS_REGISTRIES_CONF=$E2E/etc/registries.conf
    e2e_write_wrapper "$WRAPPER"
    e2e_write_configs "$RUNTIME_NAME" "$WRAPPER"
    e2e_make_image
}

# podman, pinned to the private world, with the runtime given by path as a
# user would (`podman --runtime /path/to/berth`).
# Run from $E2E: conmon (2.1.6, cgroup v1) drops a file named "oom" into
# its working directory when the memory cgroup's OOM eventfd fires, and it
# inherits podman's.
pm() {
    (cd "$E2E" && timeout -k 5 "$E2E_TIMEOUT" podman \
        --root "$E2E/root" --runroot "$E2E/runroot" \
        --cgroup-manager cgroupfs --events-backend file \
        --runtime "$WRAPPER" "$@")
}

# The runtime's own --root as podman passes it (podman 4.3: <runroot>/<name>
# for a root user; read back from the argv log so a change shows).
e2e_runtime_root() {
    local root
    root=$(grep -m1 -oE -- '--root [^ ]+' "$E2E/runtime-argv.log" 2>/dev/null | awk '{print $2}')
    echo "${root:-/run/$RUNTIME_NAME}"
}

# The runtime's view of its containers (ids only).
e2e_runtime_ids() {
    timeout 10 "$RUNTIME" --root "$(e2e_runtime_root)" list -q 2>/dev/null
}

# Wait until a command succeeds: wait_for seconds cmd...
wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# The freezer state of a container's cgroup (v1 freezer.state, else the
# unified cgroup.freeze rendered the same way).
e2e_freezer_state() { # pid
    local pid=$1 path
    path=$(awk -F: '$2 == "freezer" {print $3}' "/proc/$pid/cgroup")
    if [ -n "$path" ] && [ -e "/sys/fs/cgroup/freezer$path/freezer.state" ]; then
        cat "/sys/fs/cgroup/freezer$path/freezer.state"
        return
    fi
    path=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
    local f
    for f in "/sys/fs/cgroup$path/cgroup.freeze" "/sys/fs/cgroup/unified$path/cgroup.freeze"; do
        if [ -e "$f" ]; then
            [ "$(cat "$f")" = 1 ] && echo FROZEN || echo THAWED
            return
        fi
    done
    echo "no-freezer"
}

# A v1 controller's cgroup dir of a process: e2e_cgroup_dir pid controller
e2e_cgroup_dir() {
    local path
    path=$(awk -F: -v c="$2" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$1/cgroup")
    echo "/sys/fs/cgroup/$2$path"
}
