#!/usr/bin/env bats
# berth's own containerd shim (containerd-shim-berth-v2, runtime name
# io.containerd.berth.v2) under the real containerd (Debian's 1.6), driving
# the runtime named by $RUNTIME through its CLI. Each test asserts on what
# the container printed or did (ctr's output, /proc, cgroupfs) and on the
# shim itself (its process, its bundle files).
#
#   SHIM=target/release/containerd-shim-berth-v2 RUNTIME=/path/to/berth \
#       bats tests/e2e/containerd-shim.bats
#   SHIM=... RUNTIME=$(command -v runc) bats ...   # runc under our shim
#
# The runtime is chosen the way a CRI runtime class would choose it: a
# runtime config file (BinaryName, Root) named by runtimeoptions'
# ConfigPath (`ctr --runtime-config-path`, or the CRI entry's options);
# one test runs without options, where the shim's default `berth` on PATH
# (a symlink to $RUNTIME) is used. Everything is private to one temp dir.

load lib/common
load lib/registry
load lib/image
load lib/containerd
load lib/shim

setup_file() {
    : "${SHIM:?set SHIM to the path of containerd-shim-berth-v2}"
    : "${RUNTIME:?set RUNTIME to the path of a runc-compatible runtime}"
    SHIM=$(readlink -f "$SHIM")
    RUNTIME=$(readlink -f "$(command -v "$RUNTIME")")
    export SHIM RUNTIME
    E2E_WORK=$(mktemp -d /tmp/e2e-shim.XXXXXX)
    E2E_NS=shim-${E2E_WORK##*.}
    export E2E_WORK E2E_NS
    mkdir -p "$E2E_WORK/logs"
    e2e_image_build "$E2E_WORK"
    e2e_registry_start "$E2E_WORK"
    e2e_image_push "$E2E_WORK" "$E2E_REGISTRY"
    shim_containerd_setup "$E2E_WORK" "$SHIM" "$RUNTIME"
    shim_containerd_start "$E2E_WORK"
    RT_ROOT=$E2E_WORK/shim-runtime-root
    export E2E_REGISTRY E2E_REGISTRY_PID E2E_CTRD_SOCK E2E_CTRD_PID E2E_CTRD_CONFIG E2E_CTRD_STATE
    export SHIM_RUNTIME_CONFIG RT_ROOT
    export IMG=$E2E_REGISTRY/busybox:latest
    E2E_CTR_TIMEOUT=60 e2e_ctr images pull --plain-http "$IMG" >/dev/null
}

teardown_file() {
    E2E_CTRD_PID=$(shim_containerd_pid "$E2E_WORK")
    e2e_containerd_stop "$E2E_WORK"
    e2e_registry_stop
    find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d \( -path "*/$E2E_NS" -o -path "*/$E2E_NS/*" \
        -o -path "*/$E2E_NS-cri" -o -path "*/$E2E_NS-cri/*" \) 2>/dev/null | sort -r |
        while read -r d; do rmdir "$d" 2>/dev/null || true; done
    if [ -n "${E2E_LOG_DIR:-}" ]; then
        mkdir -p "$E2E_LOG_DIR"
        cp "$E2E_WORK/containerd.log" "$E2E_WORK/registry.log" "$E2E_LOG_DIR/" 2>/dev/null || true
        cp "$E2E_WORK"/logs/*.txt "$E2E_LOG_DIR/" 2>/dev/null || true
    fi
    # The default --root's namespace directory (runtime-choice test).
    rmdir "/run/containerd/berth/$E2E_NS" 2>/dev/null || true
    [ "${E2E_KEEP:-0}" = 1 ] || rm -rf "$E2E_WORK"
}

teardown() {
    if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        echo "--- runtime logs (log.json) of live bundles:"
        cat "$E2E_CTRD_STATE"/io.containerd.runtime.v2.task/"$E2E_NS"/*/log.json 2>/dev/null | tail -20
        echo "--- shim and containerd errors (last 20):"
        grep -E 'berth-shim|level=(error|fatal)' "$E2E_WORK/containerd.log" | grep -v 'failed to load cni' | tail -20
    fi
    # A test that killed containerd may have failed before restarting it.
    E2E_CTRD_PID=$(shim_containerd_pid "$E2E_WORK")
    if [ -z "${E2E_CTRD_PID:-}" ] || ! kill -0 "$E2E_CTRD_PID" 2>/dev/null; then
        shim_containerd_start "$E2E_WORK" || true
    fi
    local id
    for id in $(e2e_ctr tasks ls -q 2>/dev/null); do
        e2e_ctr tasks resume "$id" >/dev/null 2>&1 || true
        e2e_ctr tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
        e2e_ctr tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(e2e_ctr containers ls -q 2>/dev/null); do
        e2e_ctr containers rm "$id" >/dev/null 2>&1 || true
    done
}

# ctr_run ARGS... : `ctr run` on our shim, the runtime chosen by the config.
ctr_run() {
    e2e_ctr run --runtime io.containerd.berth.v2 --runtime-config-path "$SHIM_RUNTIME_CONFIG" "$@"
}

in_pty() {
    local cmd rc=0
    cmd=$(printf '%q ' "$@")
    SHELL=/bin/bash timeout -k 5 30 script -qec "$cmd" /dev/null >"$BATS_TEST_TMPDIR/pty.out" </dev/null || rc=$?
    tr -d '\r\000' <"$BATS_TEST_TMPDIR/pty.out" | sed 's/\^@//g'
    return "$rc"
}

ctr_cmd() { echo ctr --address "$E2E_CTRD_SOCK" -n "$E2E_NS"; }

task_pid() { e2e_ctr tasks ls | awk -v id="$1" '$1 == id { print $2 }'; }
task_status() { e2e_ctr tasks ls | awk -v id="$1" '$1 == id { print $3 }'; }
bundle_of() { echo "$E2E_CTRD_STATE/io.containerd.runtime.v2.task/$E2E_NS/$1"; }
dead() { ! kill -0 "$1" 2>/dev/null; }

# is_our_shim PID : PID runs containerd-shim-berth-v2 (not runc's shim).
is_our_shim() { [ "$(readlink -f "/proc/$1/exe")" = "$SHIM" ]; }

freezer_state() {
    local path
    if [ -d /sys/fs/cgroup/freezer ]; then
        path=$(awk -F: '$2 == "freezer" { print $3 }' "/proc/$1/cgroup")
        cat "/sys/fs/cgroup/freezer$path/freezer.state"
    else
        path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
        if grep -qx 'frozen 1' "/sys/fs/cgroup$path/cgroup.events"; then echo FROZEN; else echo THAWED; fi
    fi
}

# assert_gone ID SHIMPID [SOCKET] : containerd, the shim and the runtime
# kept nothing of ID, the shim process has exited (and removed SOCKET).
assert_gone() {
    local id=$1 shim=$2
    if e2e_ctr containers ls -q | grep -qx "$id"; then echo "container left: $id"; return 1; fi
    if e2e_ctr tasks ls -q | grep -qx "$id"; then echo "task left: $id"; return 1; fi
    [ ! -e "$(bundle_of "$id")" ] || { echo "bundle left: $(ls -la "$(bundle_of "$id")")"; return 1; }
    [ ! -e "$RT_ROOT/$E2E_NS/$id" ] || { echo "runtime state left: $RT_ROOT/$E2E_NS/$id"; return 1; }
    e2e_wait_until 10 dead "$shim" || { echo "shim $shim still running"; return 1; }
    [ ! -e "${3:-/nonexistent}" ] || { echo "shim socket left: $3"; return 1; }
}

@test "run: output captured, exit codes propagate, the shim and the runtime's state go with the task" {
    local out=$BATS_TEST_TMPDIR/run.out shim code sock
    (ctr_run --rm "$IMG" run1 sh -c 'echo hello; echo "pid $$"; echo to-stderr >&2; sleep 1' >"$out" 2>&1 || rc=$?
        echo "rc=${rc:-0}" >>"$out") 3>&- &
    e2e_wait_until 15 test -s "$(bundle_of run1)/shim.pid"
    shim=$(shim_pid_of run1)
    is_our_shim "$shim"
    # The address containerd reconnects to, and the runtime under test
    # holding the container in the configured root.
    grep -q '^unix:///run/containerd/s/' "$(bundle_of run1)/address"
    sock=$(sed 's|^unix://||' "$(bundle_of run1)/address")
    [ -S "$sock" ]
    e2e_wait_until 15 grep -q '^rc=' "$out"
    cat "$out"
    grep -qx hello "$out"
    grep -qx 'pid 1' "$out"
    grep -qx to-stderr "$out"
    grep -qx rc=0 "$out"
    assert_gone run1 "$shim" "$sock"
    for code in 1 7 255; do
        run ctr_run --rm "$IMG" "exit$code" sh -c "echo bye $code; exit $code"
        echo "code $code: status $status output $output"
        [ "$status" = "$code" ]
        [ "$output" = "bye $code" ]
    done
    run ctr_run --rm "$IMG" exitnf /no/such/binary
    echo "missing binary: status $status output $output"
    [ "$status" != 0 ]
}

@test "stdin reaches the container and its EOF too" {
    run bash -c "printf 'line1\nline2\n' | timeout 30 ctr --address '$E2E_CTRD_SOCK' -n '$E2E_NS' run --rm \
        --runtime io.containerd.berth.v2 --runtime-config-path '$SHIM_RUNTIME_CONFIG' '$IMG' stdin1 sh -c 'cat; echo done'"
    echo "$output"
    [ "$status" = 0 ]
    [ "${lines[0]}" = line1 ]
    [ "${lines[1]}" = line2 ]
    [ "${lines[2]}" = done ]
}

@test "--tty: the process gets a terminal, without it none" {
    run in_pty $(ctr_cmd) run --rm -t --runtime io.containerd.berth.v2 --runtime-config-path "$SHIM_RUNTIME_CONFIG" \
        "$IMG" tty1 sh -c 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; stty size; exit 3'
    echo "$output"
    [ "$status" = 3 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *all-tty* ]]
    run ctr_run --rm "$IMG" tty2 sh -c '[ -t 0 ] || [ -t 1 ] || echo no-tty'
    echo "$output"
    [ "$output" = no-tty ]
}

@test "exec: output, exit code, a terminal with -t, and the namespaces of the container" {
    ctr_run -d "$IMG" exec1 sleep 300
    local pid n
    pid=$(task_pid exec1)
    [ -n "$pid" ]
    [ "$(task_status exec1)" = RUNNING ]
    run e2e_ctr tasks exec --exec-id e1 exec1 sh -c 'echo out; echo err >&2; readlink /proc/self/ns/pid; exit 5'
    echo "$output"
    [ "$status" = 5 ]
    [[ "$output" == *out* && "$output" == *err* ]]
    grep -Fqx "$(readlink "/proc/$pid/ns/pid")" <<<"$output"
    run in_pty $(ctr_cmd) tasks exec -t --exec-id t1 exec1 sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo exec-tty; exit 6'
    echo "$output"
    [ "$status" = 6 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *exec-tty* ]]
    # task ps: the init and a detached exec, as the runtime sees them.
    e2e_ctr tasks exec -d --exec-id bg exec1 sleep 303
    e2e_wait_until 10 pgrep -f '^sleep 303$'
    run e2e_ctr tasks ps exec1
    echo "$output"
    grep -qw "$pid" <<<"$output"
    grep -qw "$(pgrep -f '^sleep 303$')" <<<"$output"
    [ "$(task_pid exec1)" = "$pid" ]
}

@test "kill: SIGKILL gives 137 to ctr run and to delete; SIGTERM to an exec gives 143" {
    local out=$BATS_TEST_TMPDIR/kill.out pid shim
    (ctr_run --rm "$IMG" kill1 sh -c 'echo ready; exec sleep 300' >"$out" 2>&1 || rc=$?
        echo "rc=${rc:-0}" >>"$out") 3>&- &
    e2e_wait_until 15 grep -qx ready "$out"
    e2e_ctr tasks kill -s SIGKILL kill1
    e2e_wait_until 15 grep -q '^rc=' "$out"
    cat "$out"
    grep -qx 'rc=137' "$out"
    ctr_run -d "$IMG" kill2 sleep 300
    pid=$(task_pid kill2)
    shim=$(shim_pid_of kill2)
    out=$BATS_TEST_TMPDIR/exec.out
    (e2e_ctr tasks exec --exec-id x1 kill2 sh -c 'echo exec-ready; exec sleep 301' >"$out" 2>&1 || rc=$?
        echo "rc=${rc:-0}" >>"$out") 3>&- &
    e2e_wait_until 10 grep -qx exec-ready "$out"
    e2e_ctr tasks kill --exec-id x1 -s SIGTERM kill2
    e2e_wait_until 15 grep -q '^rc=' "$out"
    cat "$out"
    grep -qx 'rc=143' "$out"
    [ "$(task_status kill2)" = RUNNING ]
    e2e_ctr tasks kill -s SIGKILL kill2
    e2e_wait_output 10 STOPPED task_status kill2
    dead "$pid"
    run e2e_ctr tasks delete kill2
    echo "$output"
    [[ "$output" == *"exit code 137"* ]]
    e2e_ctr containers rm kill2
    assert_gone kill2 "$shim"
}

count_above() { [ "$(cat "/proc/$1/root/tmp/count")" -gt "$2" ]; }

@test "pause and resume freeze and thaw the container" {
    # The counter is replaced by rename, so a freeze between truncate and
    # write cannot leave it empty.
    ctr_run -d "$IMG" pause1 sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/c.new; mv /tmp/c.new /tmp/count; sleep 0.05; done'
    local pid c1 c2
    pid=$(task_pid pause1)
    e2e_wait_until 10 test -s "/proc/$pid/root/tmp/count"
    [ "$(freezer_state "$pid")" = THAWED ]
    e2e_ctr tasks pause pause1
    e2e_wait_output 10 FROZEN freezer_state "$pid"
    [ "$(task_status pause1)" = PAUSED ]
    c1=$(cat "/proc/$pid/root/tmp/count")
    sleep 0.5
    c2=$(cat "/proc/$pid/root/tmp/count")
    echo "paused: $c1 then $c2"
    [ -n "$c1" ]
    [ "$c1" = "$c2" ]
    e2e_ctr tasks resume pause1
    e2e_wait_output 10 THAWED freezer_state "$pid"
    [ "$(task_status pause1)" = RUNNING ]
    e2e_wait_until 10 count_above "$pid" "$c2"
}

@test "task metrics: the container's pids, memory and cpu (cgroups v1 Metrics, v2 on a unified host)" {
    ctr_run -d --memory-limit 67108864 "$IMG" met1 sh -c 'sleep 301 & exec sleep 300'
    local pid limit usage
    pid=$(task_pid met1)
    e2e_wait_output 10 1 pgrep -c -P "$pid"
    run e2e_ctr tasks metrics met1
    echo "$output"
    [ "$status" = 0 ]
    [ "$(awk '$1 == "pids.current" { print $2 }' <<<"$output")" = 2 ]
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        limit=memory.usage_limit usage=memory.usage
    else
        limit=memory.limit_in_bytes usage=memory.usage_in_bytes
    fi
    [ "$(awk -v k="$limit" '$1 == k { print $2 }' <<<"$output")" = 67108864 ]
    [ "$(awk -v k="$usage" '$1 == k { print $2 }' <<<"$output")" -gt 0 ]
    run e2e_ctr tasks metrics --format json met1
    [ "$(jq -r '.memory.usage.limit // .memory.usage_limit' <<<"$output")" = 67108864 ]
    [ "$(jq -r '.cpu.usage.total // .cpu.usage_usec' <<<"$output")" -gt 0 ]
}

@test "events: containerd hears create, start, exec, pause, resume, exit, delete and oom" {
    local ev=$BATS_TEST_TMPDIR/events.out evpid t
    (exec timeout 90 ctr --address "$E2E_CTRD_SOCK" events >"$ev" 2>&1 </dev/null) 3>&- &
    evpid=$!
    sleep 0.5
    ctr_run -d "$IMG" ev1 sleep 300
    e2e_ctr tasks exec --exec-id x1 ev1 true
    e2e_ctr tasks pause ev1
    e2e_ctr tasks resume ev1
    e2e_ctr tasks kill -s SIGKILL ev1
    e2e_wait_output 10 STOPPED task_status ev1
    e2e_ctr tasks delete ev1
    # A shell that holds 64 MiB in a variable under a 16 MiB limit.
    run ctr_run --rm --memory-limit 16777216 "$IMG" oom1 sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" a); echo survived'
    echo "oom1: status $status output $output"
    [ "$status" = 137 ]
    for t in create start exec-added exec-started paused resumed exit delete; do
        e2e_wait_until 10 grep -Eq " $E2E_NS /tasks/$t .*\"ev1\"" "$ev" || { cat "$ev"; false; }
    done
    grep -Eq " $E2E_NS /tasks/exit .*\"exit_status\":137" "$ev"
    e2e_wait_until 10 grep -Eq " $E2E_NS /tasks/oom .*\"oom1\"" "$ev" || { cat "$ev"; false; }
    kill "$evpid" 2>/dev/null || true
}

@test "the shim survives containerd being killed; the restarted containerd reconnects to it" {
    ctr_run -d --log-uri "file://$E2E_WORK/logs/rst1.log" "$IMG" rst1 \
        sh -c 'trap "echo got TERM; exit 9" TERM; echo up; while :; do sleep 0.1; done'
    local pid shim old sock
    pid=$(task_pid rst1)
    shim=$(shim_pid_of rst1)
    e2e_wait_until 10 grep -qx up "$E2E_WORK/logs/rst1.log"
    E2E_CTRD_PID=$(shim_containerd_pid "$E2E_WORK")
    old=$E2E_CTRD_PID
    shim_containerd_kill
    dead "$old"
    sleep 1
    kill -0 "$shim"
    kill -0 "$pid"
    sock=$(sed 's|^unix://||' "$(bundle_of rst1)/address")
    # Its own session: nothing aimed at containerd's group reaches it.
    [ "$(ps -o sid= -p "$shim" | tr -d ' ')" = "$shim" ]
    shim_containerd_start "$E2E_WORK"
    [ "$(task_status rst1)" = RUNNING ]
    [ "$(task_pid rst1)" = "$pid" ]
    run e2e_ctr tasks exec --exec-id after rst1 sh -c 'echo reconnected; exit 2'
    echo "$output"
    [ "$status" = 2 ]
    [ "$output" = reconnected ]
    e2e_ctr tasks kill rst1
    e2e_wait_output 10 STOPPED task_status rst1
    e2e_wait_until 10 grep -qx 'got TERM' "$E2E_WORK/logs/rst1.log"
    run e2e_ctr tasks delete rst1
    echo "$output"
    [[ "$output" == *"exit code 9"* ]]
    e2e_ctr containers rm rst1
    assert_gone rst1 "$shim" "$sock"
}

@test "runtime choice: BinaryName from the config file is the binary run; no options mean berth on PATH" {
    local wrap=$E2E_WORK/bin/logging-runtime conf=$E2E_WORK/logging.toml
    cat >"$wrap" <<EOF
#!/bin/sh
echo "\$*" >>$E2E_WORK/logs/runtime-calls.log
exec $RUNTIME "\$@"
EOF
    chmod +x "$wrap"
    printf 'BinaryName = "%s"\nRoot = "%s"\n' "$wrap" "$RT_ROOT" >"$conf"
    run e2e_ctr run --rm --runtime io.containerd.berth.v2 --runtime-config-path "$conf" "$IMG" bin1 echo wrapped
    echo "$output"
    [ "$output" = wrapped ]
    cat "$E2E_WORK/logs/runtime-calls.log"
    grep -q -- "--root $RT_ROOT/$E2E_NS .* create --bundle .* bin1\$" "$E2E_WORK/logs/runtime-calls.log"
    grep -q -- " start bin1\$" "$E2E_WORK/logs/runtime-calls.log"
    # No options: `berth` from containerd's PATH (our symlink to $RUNTIME),
    # --root under /run/containerd/berth/<namespace>.
    e2e_ctr run -d --runtime io.containerd.berth.v2 "$IMG" bin2 sleep 300
    [ -e "/run/containerd/berth/$E2E_NS/bin2" ]
    run "$RUNTIME" --root "/run/containerd/berth/$E2E_NS" state bin2
    echo "$output"
    [ "$(jq -r .pid <<<"$output")" = "$(task_pid bin2)" ]
}

@test "a BinaryName that does not exist fails the create, named, and leaves nothing" {
    local conf=$E2E_WORK/missing.toml
    printf 'BinaryName = "%s"\n' "$E2E_WORK/no-such-runtime" >"$conf"
    run e2e_ctr run --rm --runtime io.containerd.berth.v2 --runtime-config-path "$conf" "$IMG" miss1 true
    echo "$output"
    [ "$status" != 0 ]
    [[ "$output" == *"no-such-runtime: no such executable"* ]]
    e2e_wait_until 10 bash -c "! pgrep -f 'containerd-shim-berth-v2 .*-id miss1( |\$)'"
    if e2e_ctr tasks ls -q | grep -qx miss1; then echo "task left"; false; fi
}

cri() {
    timeout -k 5 60 /usr/bin/python3 "$BATS_TEST_DIRNAME/cri/cri.py" --sock "$E2E_CTRD_SOCK" "$@" </dev/null
}

@test "CRI: a runtime entry with runtime_type io.containerd.berth.v2 runs a pod" {
    run timeout 20 containerd --config "$E2E_CTRD_CONFIG" config dump
    [ "$status" = 0 ]
    grep -Fq 'runtime_type = "io.containerd.berth.v2"' <<<"$output"
    if ! /usr/bin/python3 -c 'import grpc' 2>/dev/null; then
        skip "python3-grpcio is not installed"
    fi
    local logs=$E2E_WORK/pods parent=/$E2E_NS-cri pod cid pid st
    mkdir -p "$logs"
    cri pull "$IMG" >/dev/null
    pod=$(cri runp pod1 --log-dir "$logs" --handler berth --cgroup-parent "$parent")
    run cri podstatus "$pod"
    echo "$output"
    [ "$(jq -r .state <<<"$output")" = READY ]
    cid=$(cri create "$pod" c1 --pod-name pod1 --log-dir "$logs" --cgroup-parent "$parent" \
        --image "$IMG" --log-path c1.log -- /bin/sh -c 'echo hello-cri; exec sleep 300')
    cri start "$cid"
    st=$(cri status "$cid")
    echo "$st"
    [ "$(jq -r .state <<<"$st")" = RUNNING ]
    pid=$(jq -r .pid <<<"$st")
    # Our shim runs it, with the runtime the ConfigPath file names.
    is_our_shim "$(cat "$E2E_CTRD_STATE/io.containerd.runtime.v2.task/k8s.io/$cid/shim.pid")"
    [ -e "$RT_ROOT/k8s.io/$cid" ]
    e2e_wait_until 10 grep -q ' stdout F hello-cri$' "$logs/c1.log"
    run cri exec "$cid" -- sh -c 'echo exec-out; echo exec-err >&2; exit 3'
    echo "$output"
    [ "$status" = 3 ]
    [[ "$output" == *exec-out* && "$output" == *exec-err* ]]
    # UpdateContainerResources goes through the shim to `<runtime> update`.
    cri update "$cid" --memory 100663296 --cpu-shares 256
    if [ -d /sys/fs/cgroup/memory ]; then
        [ "$(cat "/sys/fs/cgroup/memory$parent/$cid/memory.limit_in_bytes")" = 100663296 ]
    fi
    cri stop "$cid" --timeout 5
    st=$(cri status "$cid")
    echo "$st"
    [ "$(jq -r .state <<<"$st")" = EXITED ]
    [ "$(jq -r .exit_code <<<"$st")" = 143 ]
    cri rm "$cid"
    cri stopp "$pod"
    cri rmp "$pod"
    [ -z "$(ls -A "$E2E_CTRD_STATE/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null)" ]
    find /sys/fs/cgroup -maxdepth 2 -type d -path "*$parent" -exec rmdir {} + 2>/dev/null || true
}

@test "memory: RSS of our shim vs containerd-shim-runc-v2, one sleeping container each" {
    local ours theirs
    ctr_run -d "$IMG" rss1 sleep 300
    e2e_ctr run -d --runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" "$IMG" rss2 sleep 300
    sleep 1
    ours=$(vmrss_kb "$(shim_pid_of rss1)")
    # runc's shim writes no shim.pid; it is the parent of the task's init.
    theirs=$(vmrss_kb "$(ps -o ppid= -p "$(task_pid rss2)" | tr -d ' ')")
    is_our_shim "$(shim_pid_of rss1)"
    [[ "$(readlink -f "/proc/$(ps -o ppid= -p "$(task_pid rss2)" | tr -d ' ')/exe")" == *containerd-shim-runc-v2 ]]
    echo "containerd-shim-berth-v2 ${ours} kB, containerd-shim-runc-v2 ${theirs} kB" |
        tee "$E2E_WORK/logs/rss.txt"
    [ "$ours" -gt 0 ] && [ "$theirs" -gt 0 ]
    # The target: at most 0.3x runc's shim (checked when the caller asks,
    # i.e. for a release build).
    if [ -n "${E2E_RSS_RATIO_MAX:-}" ]; then
        [ $((ours * 100)) -le $((theirs * E2E_RSS_RATIO_MAX)) ]
    fi
}
