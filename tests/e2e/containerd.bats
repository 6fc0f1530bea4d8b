#!/usr/bin/env bats
# The runtime named by $RUNTIME under the real containerd, as the binary of
# the runc v2 shim (`ctr run --runc-binary`), which is how containerd and
# everything above it (nerdctl, kubelet's CRI) drive a runc-compatible
# runtime. Each test asserts on what the container printed or did, seen from
# inside (ctr's output) and from the host (/proc, cgroupfs, the shim's
# bundle and the runtime's --root).
#
#   RUNTIME=/path/to/berth bats tests/e2e/containerd.bats
#   RUNTIME=$(command -v runc) bats tests/e2e/containerd.bats   # reference
#
# Everything is private to one temp dir: a docker-registry serving a
# busybox image built offline, a containerd with its own root, state,
# sockets and shim --root, a namespace of its own. Nothing needs a terminal
# or stdin (`--tty` cases get a pty from script(1)); every ctr call is
# bounded by timeout(1).

load lib/common
load lib/registry
load lib/image
load lib/containerd

setup_file() {
    : "${RUNTIME:?set RUNTIME to the path of a runc-compatible runtime}"
    RUNTIME=$(readlink -f "$(command -v "$RUNTIME")")
    export RUNTIME
    E2E_WORK=$(mktemp -d /tmp/e2e-ctrd.XXXXXX)
    # A namespace of its own: containerd puts cgroups at /<ns>/<id>.
    E2E_NS=e2e-${E2E_WORK##*.}
    RUNC_ROOT=$E2E_WORK/runc-root
    export E2E_WORK E2E_NS RUNC_ROOT
    mkdir -p "$E2E_WORK/logs"
    e2e_image_build "$E2E_WORK"
    e2e_registry_start "$E2E_WORK"
    e2e_image_push "$E2E_WORK" "$E2E_REGISTRY"
    e2e_containerd_start "$E2E_WORK" "$RUNTIME"
    export E2E_REGISTRY E2E_REGISTRY_PID E2E_CTRD_SOCK E2E_CTRD_PID E2E_CTRD_CONFIG E2E_CTRD_STATE
    export IMG=$E2E_REGISTRY/busybox:latest
    E2E_CTR_TIMEOUT=60 e2e_ctr images pull --plain-http "$IMG" >/dev/null
}

teardown_file() {
    e2e_containerd_stop "$E2E_WORK"
    e2e_registry_stop
    # The per-namespace parent cgroups containerd's default cgroupsPath
    # makes, and whatever a broken runtime left under them (deepest first).
    find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d \( -path "*/$E2E_NS" -o -path "*/$E2E_NS/*" \
        -o -path "*/$E2E_NS-cri" -o -path "*/$E2E_NS-cri/*" \) 2>/dev/null | sort -r |
        while read -r d; do rmdir "$d" 2>/dev/null || true; done
    if [ -n "${E2E_LOG_DIR:-}" ]; then
        mkdir -p "$E2E_LOG_DIR"
        cp "$E2E_WORK/containerd.log" "$E2E_WORK/registry.log" "$E2E_LOG_DIR/" 2>/dev/null || true
    fi
    [ "${E2E_KEEP:-0}" = 1 ] || rm -rf "$E2E_WORK"
}

teardown() {
    if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        echo "--- runtime logs (log.json) of live bundles:"
        cat "$E2E_CTRD_STATE"/io.containerd.runtime.v2.task/"$E2E_NS"/*/log.json 2>/dev/null | tail -20
        echo "--- containerd errors (last 15; the full log is copied to $E2E_LOG_DIR):"
        grep -E 'level=(error|fatal)' "$E2E_WORK/containerd.log" | grep -v 'failed to load cni' | tail -15
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

# ctr_run ARGS... : `ctr run` with the runtime under test as the shim's binary.
ctr_run() {
    e2e_ctr run --runc-binary "$RUNTIME" --runc-root "$RUNC_ROOT" "$@"
}

# in_pty CMD... : run CMD with a pty as its controlling terminal (script(1)),
# printing its output without the pty's carriage returns and echoed NULs;
# returns CMD's exit status.
in_pty() {
    local cmd rc=0
    cmd=$(printf '%q ' "$@")
    SHELL=/bin/bash timeout -k 5 30 script -qec "$cmd" /dev/null >"$BATS_TEST_TMPDIR/pty.out" </dev/null || rc=$?
    tr -d '\r\000' <"$BATS_TEST_TMPDIR/pty.out" | sed 's/\^@//g'
    return "$rc"
}

# ctr_cmd : the ctr command line (as words) for in_pty, which cannot call
# the e2e_ctr function.
ctr_cmd() { echo ctr --address "$E2E_CTRD_SOCK" -n "$E2E_NS"; }

task_pid() { # ID : host pid of the task's init, from containerd
    e2e_ctr tasks ls | awk -v id="$1" '$1 == id { print $2 }'
}

task_status() { # ID : RUNNING, PAUSED, STOPPED... as containerd sees it
    e2e_ctr tasks ls | awk -v id="$1" '$1 == id { print $3 }'
}

bundle_of() { echo "$E2E_CTRD_STATE/io.containerd.runtime.v2.task/$E2E_NS/$1"; }

# cgroup_dirs PID : every cgroupfs directory PID is in (v1 hierarchies and
# the unified one), one per line.
cgroup_dirs() {
    local _ ctrls path c
    while IFS=: read -r _ ctrls path; do
        # Only the container's own cgroups (containerd puts them at /<ns>/<id>).
        [[ "$path" == */"$E2E_NS"/* ]] || continue
        if [ -z "$ctrls" ]; then
            if [ -d /sys/fs/cgroup/unified ]; then echo "/sys/fs/cgroup/unified$path"; else echo "/sys/fs/cgroup$path"; fi
            continue
        fi
        c=${ctrls#name=}
        [ -d "/sys/fs/cgroup/$c" ] && echo "/sys/fs/cgroup/$c$path"
    done <"/proc/$1/cgroup"
}

# freezer_state PID : FROZEN or THAWED, from the freezer of PID's cgroup
# (v1 freezer.state, or v2 cgroup.freeze on a cgroup2-only host).
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

# assert_gone ID [CGROUP-DIR...] : containerd, the shim and the runtime
# kept nothing of ID: no container, task, snapshot, bundle, runtime state,
# and none of the given cgroup directories.
# dead PID : no such process. A function, because a bare `! cmd` in a
# test body does not fail the test.
dead() { ! kill -0 "$1" 2>/dev/null; }

# no_task ID : containerd lists no task ID.
no_task() { ! e2e_ctr tasks ls -q | grep -qx "$1"; }

assert_gone() {
    local id=$1 d
    shift
    # (`! cmd` would not trip errexit, hence the ifs.)
    if e2e_ctr containers ls -q | grep -qx "$id"; then echo "container left: $id"; return 1; fi
    if e2e_ctr tasks ls -q | grep -qx "$id"; then echo "task left: $id"; return 1; fi
    if e2e_ctr snapshots ls | awk '{ print $1 }' | grep -qx "$id"; then echo "snapshot left: $id"; return 1; fi
    [ ! -e "$(bundle_of "$id")" ] || { echo "bundle left: $(bundle_of "$id")"; return 1; }
    [ ! -e "$RUNC_ROOT/$E2E_NS/$id" ] || { echo "runtime state left: $(ls -la "$RUNC_ROOT/$E2E_NS/$id")"; return 1; }
    for d in "$@"; do
        [ ! -d "$d" ] || { echo "cgroup left: $d"; return 1; }
    done
    d=$(find /sys/fs/cgroup -maxdepth 4 -type d -path "*/$E2E_NS/$id" 2>/dev/null | head -3)
    [ -z "$d" ] || { echo "cgroup left: $d"; return 1; }
}

@test "run --rm: the command's output comes back and nothing is left behind" {
    run ctr_run --rm "$IMG" rm1 sh -c 'echo hello; echo "pid $$"; id -u; cat /etc/hostname 2>/dev/null; true'
    echo "$output"
    [ "$status" = 0 ]
    [ "${lines[0]}" = hello ]
    [ "${lines[1]}" = "pid 1" ] # its own pid namespace
    [ "${lines[2]}" = 0 ]
    assert_gone rm1
}

@test "spec options from ctr reach the process: env, cwd, read-only rootfs, limits" {
    run ctr_run --rm --env FOO=bar --cwd /tmp --read-only "$IMG" spec1 \
        sh -c 'echo "$FOO"; pwd; if touch /x 2>/dev/null; then echo writable; else echo read-only; fi'
    echo "$output"
    [ "$status" = 0 ]
    [ "${lines[0]}" = bar ]
    [ "${lines[1]}" = /tmp ]
    [ "${lines[2]}" = read-only ]
    ctr_run -d --memory-limit 33554432 --cpus 0.5 --cpu-shares 512 "$IMG" spec2 sleep 300
    local pid
    pid=$(task_pid spec2)
    [ -n "$pid" ]
    if [ -d /sys/fs/cgroup/memory ]; then
        local mem cpu
        mem=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")
        cpu=$(grep -E '^[0-9]+:([^:]*,)?cpu(,[^:]*)?:' "/proc/$pid/cgroup" | cut -d: -f3)
        cpu=$(ls -d /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpu 2>/dev/null | head -1)$cpu
        echo "memory $mem cpu $cpu"
        [ "$(cat "$mem/memory.limit_in_bytes")" = 33554432 ]
        [ "$(cat "$cpu/cpu.cfs_quota_us")" = 50000 ]
        [ "$(cat "$cpu/cpu.cfs_period_us")" = 100000 ]
        [ "$(cat "$cpu/cpu.shares")" = 512 ]
    else
        local cg
        cg=/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
        [ "$(cat "$cg/memory.max")" = 33554432 ]
        [ "$(cat "$cg/cpu.max")" = "50000 100000" ]
    fi
}

@test "exit codes propagate: ctr run exits with the container's code" {
    local code
    for code in 0 1 7 42 255; do
        run ctr_run --rm "$IMG" "exit$code" sh -c "echo bye $code; exit $code"
        echo "code $code: status $status output $output"
        [ "$status" = "$code" ]
        [ "$output" = "bye $code" ]
    done
    run ctr_run --rm "$IMG" exitnf /no/such/binary
    echo "missing binary: status $status output $output"
    [ "$status" != 0 ]
    assert_gone exitnf
}

@test "--tty: the process gets a terminal, without it none" {
    run in_pty $(ctr_cmd) run --rm -t --runc-binary "$RUNTIME" --runc-root "$RUNC_ROOT" "$IMG" tty1 \
        sh -c 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; exit 3'
    echo "$output"
    [ "$status" = 3 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *all-tty* ]]
    run ctr_run --rm "$IMG" tty2 sh -c '[ -t 0 ] || [ -t 1 ] || echo no-tty'
    echo "$output"
    [ "$output" = no-tty ]
    assert_gone tty1
}

@test "--detach, then exec: the runtime holds the state, exec shares the namespaces, its code comes back" {
    ctr_run -d --log-uri "file://$E2E_WORK/logs/det1.log" "$IMG" det1 sh -c 'echo init-up; exec sleep 300'
    local pid n
    pid=$(task_pid det1)
    [ -n "$pid" ]
    [ "$(task_status det1)" = RUNNING ]
    e2e_wait_until 10 grep -qx init-up "$E2E_WORK/logs/det1.log"
    # The shim was told to use the runtime under test, and that runtime
    # (reading its own --root) knows the container by containerd's pid.
    [ "$(jq -r .binary_name "$(bundle_of det1)/options.json")" = "$RUNTIME" ]
    run "$RUNTIME" --root "$RUNC_ROOT/$E2E_NS" state det1
    echo "$output"
    [ "$(jq -r .pid <<<"$output")" = "$pid" ]
    [ "$(jq -r .status <<<"$output")" = running ]
    run e2e_ctr tasks exec --exec-id e1 det1 \
        sh -c 'for n in ipc mnt net pid uts; do echo "$n $(readlink /proc/self/ns/$n)"; done'
    echo "$output"
    [ "$status" = 0 ]
    [ "${#lines[@]}" = 5 ]
    for n in ipc mnt net pid uts; do
        grep -Fqx "$n $(readlink "/proc/$pid/ns/$n")" <<<"$output"
        [ "$(readlink "/proc/$pid/ns/$n")" != "$(readlink "/proc/self/ns/$n")" ]
    done
    run e2e_ctr tasks exec --exec-id e2 det1 sh -c 'echo out; echo err >&2; exit 5'
    echo "$output"
    [ "$status" = 5 ]
    [[ "$output" == *out* && "$output" == *err* ]]
    run e2e_ctr tasks exec --exec-id e3 --user 65534 --cwd /tmp det1 sh -c 'id -u; pwd'
    echo "$output"
    [ "$status" = 0 ]
    [ "${lines[0]}" = 65534 ]
    [ "${lines[1]}" = /tmp ]
    # The exec'd processes are gone; init is untouched.
    [ "$(task_pid det1)" = "$pid" ]
    [ "$(task_status det1)" = RUNNING ]
}

@test "exec -t: the exec'd process gets a terminal" {
    ctr_run -d "$IMG" ext1 sleep 300
    run in_pty $(ctr_cmd) tasks exec -t --exec-id t1 ext1 \
        sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo exec-tty; exit 6'
    echo "$output"
    [ "$status" = 6 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *exec-tty* ]]
}

@test "task ps lists exactly the container's processes" {
    ctr_run -d "$IMG" ps1 sh -c 'sleep 301 & sleep 302 & wait'
    local pid
    pid=$(task_pid ps1)
    [ -n "$pid" ]
    e2e_wait_output 10 2 pgrep -c -P "$pid"
    e2e_ctr tasks exec -d --exec-id bg ps1 sleep 303
    e2e_wait_until 10 pgrep -f '^sleep 303$'
    local want got
    want=$( (echo "$pid"; pgrep -P "$pid"; pgrep -f '^sleep 303$') | sort -n | tr '\n' ' ')
    run e2e_ctr tasks ps ps1
    echo "$output"
    [ "$status" = 0 ]
    got=$(tail -n +2 <<<"$output" | awk '{ print $1 }' | sort -n | tr '\n' ' ')
    echo "want [$want] got [$got]"
    [ "$got" = "$want" ]
}

@test "task kill SIGTERM: the process sees it and ctr run returns its exit code" {
    local out=$BATS_TEST_TMPDIR/term.out
    (ctr_run --rm "$IMG" term1 sh -c 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.1; done' >"$out" 2>&1 || rc=$?
        echo "rc=${rc:-0}" >>"$out") 3>&- &
    e2e_wait_until 15 grep -qx ready "$out"
    e2e_ctr tasks kill term1
    e2e_wait_until 15 grep -q '^rc=' "$out"
    cat "$out"
    grep -qx 'got TERM' "$out"
    grep -qx 'rc=3' "$out"
    assert_gone term1
}

@test "task kill SIGKILL: exit status 137, foreground and detached" {
    local out=$BATS_TEST_TMPDIR/kill.out
    (ctr_run --rm "$IMG" kill1 sh -c 'echo ready; exec sleep 300' >"$out" 2>&1 || rc=$?
        echo "rc=${rc:-0}" >>"$out") 3>&- &
    e2e_wait_until 15 grep -qx ready "$out"
    e2e_ctr tasks kill -s SIGKILL kill1
    e2e_wait_until 15 grep -q '^rc=' "$out"
    cat "$out"
    grep -qx 'rc=137' "$out"
    assert_gone kill1
    ctr_run -d "$IMG" kill2 sleep 300
    local pid
    pid=$(task_pid kill2)
    e2e_ctr tasks kill -s SIGKILL kill2
    e2e_wait_output 10 STOPPED task_status kill2
    dead "$pid"
    run e2e_ctr tasks delete kill2
    echo "$output"
    [[ "$output" == *"exit code 137"* ]]
}

@test "task kill --all reaches exec'd processes, not only init" {
    ctr_run -d --log-uri "file://$E2E_WORK/logs/all1.log" "$IMG" all1 \
        sh -c 'trap "echo init got USR1" USR1; echo ready; while :; do sleep 0.2; done'
    e2e_wait_until 10 grep -qx ready "$E2E_WORK/logs/all1.log"
    local out=$BATS_TEST_TMPDIR/exec.out
    (e2e_ctr tasks exec --exec-id x1 all1 \
        sh -c 'trap "echo exec got USR1; exit 4" USR1; echo exec-ready; while :; do sleep 0.2; done' >"$out" 2>&1 || rc=$?
        echo "rc=${rc:-0}" >>"$out") 3>&- &
    e2e_wait_until 10 grep -qx exec-ready "$out"
    e2e_ctr tasks kill --all -s SIGUSR1 all1
    e2e_wait_until 15 grep -q '^rc=' "$out"
    cat "$out" "$E2E_WORK/logs/all1.log"
    grep -qx 'exec got USR1' "$out"
    grep -qx 'rc=4' "$out"
    e2e_wait_until 10 grep -qx 'init got USR1' "$E2E_WORK/logs/all1.log"
    [ "$(task_status all1)" = RUNNING ]
}

# count_above PID N : the pause test's counter inside PID's rootfs is past N.
count_above() { [ "$(cat "/proc/$1/root/tmp/count")" -gt "$2" ]; }

@test "task pause and resume freeze and thaw the container's cgroup" {
    # The counter is renamed into place: a freeze between a truncate and its
    # write would otherwise leave it empty.
    ctr_run -d "$IMG" pause1 sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/c.new; mv /tmp/c.new /tmp/count; sleep 0.05; done'
    local pid c1 c2
    pid=$(task_pid pause1)
    e2e_wait_until 10 test -s "/proc/$pid/root/tmp/count"
    [ "$(freezer_state "$pid")" = THAWED ]
    e2e_ctr tasks pause pause1
    e2e_wait_output 10 FROZEN freezer_state "$pid"
    [ "$(task_status pause1)" = PAUSED ]
    [ "$(jq -r .status < <("$RUNTIME" --root "$RUNC_ROOT/$E2E_NS" state pause1))" = paused ]
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
    echo "resumed: $(cat "/proc/$pid/root/tmp/count")"
}

@test "task metrics and the runtime's events --stats report the container's cgroup" {
    ctr_run -d --memory-limit 67108864 "$IMG" met1 sh -c 'sleep 301 & exec sleep 300'
    local pid
    pid=$(task_pid met1)
    e2e_wait_output 10 1 pgrep -c -P "$pid"
    run e2e_ctr tasks metrics --format json met1
    echo "$output" | head -c 2000
    [ "$status" = 0 ]
    # containerd's v1 (cgroup v1) or v2 metrics type.
    [ "$(jq -r '.pids.current' <<<"$output")" = 2 ]
    [ "$(jq -r '.memory.usage.limit // .memory.usage_limit' <<<"$output")" = 67108864 ]
    [ "$(jq -r '.memory.usage.usage // .memory.usage' <<<"$output")" -gt 0 ]
    run e2e_ctr tasks metrics met1
    [[ "$output" == *pids.current* ]]
    # The same cgroup through the runtime itself, on containerd's container.
    run timeout 10 "$RUNTIME" --root "$RUNC_ROOT/$E2E_NS" events --stats met1
    echo "$output" | head -c 2000
    [ "$status" = 0 ]
    [ "$(jq -r .type <<<"$output")" = stats ]
    [ "$(jq -r .id <<<"$output")" = met1 ]
    [ "$(jq -r .data.pids.current <<<"$output")" = 2 ]
    [ "$(jq -r .data.memory.usage.limit <<<"$output")" = 67108864 ]
    [ "$(jq -r .data.memory.usage.usage <<<"$output")" -gt 0 ]
}

@test "update --resources - (the shim's own command line) changes the live cgroup" {
    # ctr 1.6 has no `task update`; the runc v2 shim's Update runs exactly
    # `<binary> --root R --log L --log-format json update --resources - ID`
    # with the resources JSON on stdin, so that is what runs here.
    ctr_run -d --memory-limit 67108864 --cpu-shares 512 "$IMG" upd1 sleep 300
    local bundle
    bundle=$(bundle_of upd1)
    echo '{"memory":{"limit":100663296},"cpu":{"shares":256},"pids":{"limit":50}}' |
        timeout 10 "$RUNTIME" --root "$RUNC_ROOT/$E2E_NS" --log "$bundle/log.json" --log-format json \
            update --resources - upd1
    run e2e_ctr tasks metrics --format json upd1
    echo "$output" | head -c 1000
    [ "$(jq -r '.memory.usage.limit // .memory.usage_limit' <<<"$output")" = 100663296 ]
    [ "$(jq -r '.pids.limit' <<<"$output")" = 50 ]
    local pid cpu
    pid=$(task_pid upd1)
    if [ -d /sys/fs/cgroup/memory ]; then
        cpu=$(grep -E '^[0-9]+:([^:]*,)?cpu(,[^:]*)?:' "/proc/$pid/cgroup" | cut -d: -f3)
        cpu=$(ls -d /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpu 2>/dev/null | head -1)$cpu
        [ "$(cat "$cpu/cpu.shares")" = 256 ]
    fi
    [ "$(task_status upd1)" = RUNNING ]
}

@test "task delete --force and container rm leave no runtime state, cgroup or bundle" {
    ctr_run -d "$IMG" del1 sh -c 'sleep 301 & exec sleep 300'
    local pid xpid cgs
    pid=$(task_pid del1)
    e2e_ctr tasks exec -d --exec-id bg del1 sleep 304
    e2e_wait_until 10 pgrep -f '^sleep 304$'
    xpid=$(pgrep -f '^sleep 304$')
    cgs=$(cgroup_dirs "$pid")
    echo "cgroups: $cgs"
    [ -n "$cgs" ]
    [ -d "$RUNC_ROOT/$E2E_NS/del1" ]
    [ -d "$(bundle_of del1)" ]
    e2e_ctr tasks delete --force del1
    no_task del1
    dead "$pid"
    e2e_wait_until 5 dead "$xpid"
    [ ! -e "$RUNC_ROOT/$E2E_NS/del1" ]
    [ ! -e "$(bundle_of del1)" ]
    e2e_ctr containers rm del1
    # shellcheck disable=SC2086 # one directory per word
    assert_gone del1 $cgs
}

@test "update through ctr task update" {
    if ! ctr tasks --help | grep -qw update; then
        skip "ctr $(ctr --version | awk '{ print $3 }') has no 'tasks update' (covered by the shim-command-line test)"
    fi
    ctr_run -d "$IMG" upd2 sleep 300
    e2e_ctr tasks update --memory-limit 100663296 upd2
    [ "$(e2e_ctr tasks metrics --format json upd2 | jq -r '.memory.usage.limit // .memory.usage_limit')" = 100663296 ]
}

@test "CRI: containerd accepts a runtimes entry with BinaryName = the runtime" {
    run e2e_ctr plugins ls
    echo "$output" | grep -E 'cri|runtime'
    grep -Eq '^io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]]+[^[:space:]]+[[:space:]]+ok' <<<"$output"
    grep -Eq '^io\.containerd\.runtime\.v2[[:space:]]+task[[:space:]]+[^[:space:]]+[[:space:]]+ok' <<<"$output"
    run timeout 20 containerd --config "$E2E_CTRD_CONFIG" config dump
    [ "$status" = 0 ]
    local section
    section=$(awk '/^ *\[/ { on = ($0 ~ /runtimes\.berth(\.options)?\]/) } on' <<<"$output")
    echo "$section"
    grep -Eq "runtime_type = \"io\\.containerd\\.runc\\.v2\"" <<<"$section"
    grep -Fq "BinaryName = \"$RUNTIME\"" <<<"$section"
    run grep -E 'failed to load plugin.*cri|cri.*level=(error|fatal)' "$E2E_WORK/containerd.log"
    echo "$output"
    [ "$status" = 1 ]
}

# cri ARGS... : the suite's CRI client (tests/e2e/cri/cri.py) on containerd's
# socket, bounded.
cri() {
    timeout -k 5 60 /usr/bin/python3 "$BATS_TEST_DIRNAME/cri/cri.py" --sock "$E2E_CTRD_SOCK" "$@" </dev/null
}

@test "CRI pod on runtime handler 'berth': sandbox, container, exec, update, stop, remove" {
    if ! /usr/bin/python3 -c 'import grpc' 2>/dev/null; then
        skip "python3-grpcio is not installed"
    fi
    local logs=$E2E_WORK/pods parent=/$E2E_NS-cri pod cid pid st
    mkdir -p "$logs"
    run cri version
    echo "$output"
    [ "$(jq -r .runtime_name <<<"$output")" = containerd ]
    cri pull "$IMG" >/dev/null
    # The pod shares the node's network namespace, so no CNI is needed.
    pod=$(cri runp pod1 --log-dir "$logs" --handler berth --cgroup-parent "$parent")
    run cri podstatus "$pod"
    echo "$output"
    [ "$(jq -r .state <<<"$output")" = READY ]
    [ "$(jq -r .runtime_handler <<<"$output")" = berth ]
    cid=$(cri create "$pod" c1 --pod-name pod1 --log-dir "$logs" --cgroup-parent "$parent" \
        --image "$IMG" --log-path c1.log -- /bin/sh -c 'echo hello-cri; exec sleep 300')
    cri start "$cid"
    st=$(cri status "$cid")
    echo "$st"
    [ "$(jq -r .state <<<"$st")" = RUNNING ]
    [ "$(jq -r .runtime_options.binary_name <<<"$st")" = "$RUNTIME" ]
    pid=$(jq -r .pid <<<"$st")
    # CRI's cgroupfs layout: <cgroup_parent>/<container id>.
    grep -q ":memory:$parent/$cid\$" "/proc/$pid/cgroup"
    e2e_wait_until 10 grep -q ' stdout F hello-cri$' "$logs/c1.log"
    run cri exec "$cid" -- sh -c 'echo exec-out; echo exec-err >&2; exit 3'
    echo "$output"
    [ "$status" = 3 ]
    [[ "$output" == *exec-out* && "$output" == *exec-err* ]]
    # The container shares the sandbox's pid namespace (CRI's POD default).
    [ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink "/proc/$(jq -r .pid < <(cri podstatus "$pod"))/ns/pid")" ]
    # UpdateContainerResources goes through the shim to `<runtime> update`.
    cri update "$cid" --memory 100663296 --cpu-shares 256
    if [ -d /sys/fs/cgroup/memory ]; then
        [ "$(cat "/sys/fs/cgroup/memory$parent/$cid/memory.limit_in_bytes")" = 100663296 ]
        [ "$(cat "$(ls -d /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpu 2>/dev/null | head -1)$parent/$cid/cpu.shares")" = 256 ]
    fi
    cri stop "$cid" --timeout 5
    st=$(cri status "$cid")
    echo "$st"
    [ "$(jq -r .state <<<"$st")" = EXITED ]
    [ "$(jq -r .exit_code <<<"$st")" = 143 ] # SIGTERM: not pid 1, the pause process is
    cri rm "$cid"
    cri stopp "$pod"
    cri rmp "$pod"
    [ -z "$(ls -A "$E2E_WORK/cri-runc-root/k8s.io" 2>/dev/null)" ]
    [ -z "$(ls -A "$E2E_CTRD_STATE/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null)" ]
    [ -z "$(find /sys/fs/cgroup -maxdepth 3 -type d -path "*$parent/*")" ]
    find /sys/fs/cgroup -maxdepth 2 -type d -path "*$parent" -exec rmdir {} + 2>/dev/null || true
}
