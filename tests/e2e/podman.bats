#!/usr/bin/env bats
# berth under the real podman: the same tests run against berth and against
# runc (the reference), chosen by RUNTIME=<path to the runtime binary>.
# Each test drives podman as a user would and asserts on what the container
# printed or did, read back from the kernel (cgroupfs, /proc) where podman's
# own word would not prove anything. See scripts/test-e2e-podman.sh.

bats_require_minimum_version 1.5.0

load podman/lib

IMG=localhost/busybox:latest

setup_file() {
    : "${RUNTIME:?set RUNTIME=<path to the runtime under test>}"
    if [ -z "${E2E:-}" ]; then
        E2E=$(mktemp -d /tmp/berth-e2e-podman.XXXXXX)
    fi
    export E2E
    e2e_init
}

teardown_file() {
    pm rm -af -t 0 >/dev/null 2>&1 || true
    if [ -n "${E2E_ARTIFACTS:-}" ]; then
        mkdir -p "$E2E_ARTIFACTS"
        cp "$E2E/runtime-argv.log" "$E2E_ARTIFACTS/$RUNTIME_NAME-argv.log" 2>/dev/null || true
    fi
    if [ "${E2E_KEEP:-0}" != 1 ]; then
        # podman leaves a tmpfs per container (userdata/shm) until rm;
        # anything still mounted below $E2E must go before the files do.
        grep -F " $E2E/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf "$E2E"
    fi
}

# A detached container running its argv; prints its id.
run_detached() {
    pm run -d "$@"
}

ctr_pid() { pm inspect --format '{{.State.Pid}}' "$1"; }
ctr_status() { pm inspect --format '{{.State.Status}}' "$1"; }
ctr_exit() { pm inspect --format '{{.State.ExitCode}}' "$1"; }
is_status() { [ "$(ctr_status "$1")" = "$2" ]; }
logs_have() { pm logs "$1" 2>/dev/null | grep -q -- "$2"; }
runtime_lacks() { ! e2e_runtime_ids | grep -q -- "$1"; }

# podman under a pty (CI has no terminal): script(1) gives the command a
# fresh pty; its stdin is /dev/null so script sees EOF, not a terminal.
pm_tty() {
    local cmd
    cmd=$(printf '%q ' podman --root "$E2E/root" --runroot "$E2E/runroot" \
        --cgroup-manager cgroupfs --events-backend file --runtime "$WRAPPER" "$@")
    timeout -k 5 "$E2E_TIMEOUT" script -qec "$cmd" /dev/null </dev/null | tr -d '\r'
    return "${PIPESTATUS[0]}"
}

@test "podman info reports the runtime" {
    run -0 pm info --format '{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}|{{.Host.OCIRuntime.Version}}'
    # podman 4.3 names a runtime given by path after the whole path (but
    # decides --log-format=json by its basename, see lib.bash).
    [[ "$output" == "$WRAPPER|$WRAPPER|"* ]]
    # podman ran `<runtime> --version` and shows its first line.
    local want
    want=$("$RUNTIME" --version | head -1)
    [[ "$output" == *"$want"* ]]
    run -0 pm info --format '{{.Host.CgroupManager}} {{.Store.GraphDriverName}}'
    [ "$output" = "cgroupfs vfs" ]
}

@test "run --rm: output, exit 0, no podman or runtime state left" {
    local cid=$E2E/rm.cid
    run -0 pm run --rm --cidfile "$cid" "$IMG" echo "hello from $RUNTIME_NAME"
    [ "$output" = "hello from $RUNTIME_NAME" ]
    local id
    id=$(cat "$cid")
    [ ${#id} = 64 ]
    run -0 pm ps -aq --no-trunc
    [[ "$output" != *"$id"* ]]
    # podman passes no --root (root user): the runtime's default root.
    ! grep -q -- "--root" "$E2E/runtime-argv.log"
    run e2e_runtime_ids
    [[ "$output" != *"$id"* ]]
    [ ! -e "$(e2e_runtime_root)/$id" ]
    # The runtime was asked to create, start and delete exactly this one.
    grep -q "create --bundle .* $id" "$E2E/runtime-argv.log"
    grep -q "^start $id" "$E2E/runtime-argv.log"
    grep -q "^delete --force $id" "$E2E/runtime-argv.log"
}

@test "stdin: run -i passes piped input" {
    run -0 bash -c 'printf "line1\nline2\n" | "$@"' _ \
        timeout 30 podman --root "$E2E/root" --runroot "$E2E/runroot" --runtime "$WRAPPER" \
        run --rm -i "$IMG" sh -c 'wc -l'
    [ "$output" = 2 ]
}

@test "env, workdir and hostname reach the process" {
    run -0 pm run --rm -e FOO=bar -w /tmp --hostname e2e-host "$IMG" \
        sh -c 'echo "$FOO $(pwd) $(hostname)"'
    [ "$output" = "bar /tmp e2e-host" ]
}

@test "exit codes: 3 and 1 come back from the container" {
    run -3 pm run --rm "$IMG" sh -c 'exit 3'
    run -1 pm run --rm "$IMG" false
}

@test "missing command: 127 (podman maps the runtime's error text)" {
    run -127 pm run --rm "$IMG" /bin/no-such-command
    echo "$output"
    [[ "$output" == *"not found"* ]]
    run -127 pm run --rm "$IMG" no-such-command-in-path
    run -0 pm ps -aq
    [ -z "$output" ]
}

@test "non-executable file: 126 (podman maps the runtime's error text)" {
    run -126 pm run --rm "$IMG" /bin/notexec
    echo "$output"
    [[ "$output" == *"ermission denied"* ]]
    run -0 pm ps -aq
    [ -z "$output" ]
}

@test "--user: numeric uid:gid and a passwd name with supplementary groups" {
    run -0 pm run --rm --user 1234:5678 "$IMG" sh -c 'id -u; id -g'
    [ "$output" = $'1234\n5678' ]
    run -0 pm run --rm --user tester "$IMG" sh -c 'id -u; id -g; id -G'
    [ "${lines[0]}" = 1234 ]
    [ "${lines[1]}" = 5678 ]
    [[ " ${lines[2]} " == *" 4321 "* ]]
    # and the kernel agrees (not just id's reading of passwd)
    run -0 pm run --rm --user 65534:65534 "$IMG" sh -c 'grep -E "^(Uid|Gid):" /proc/self/status'
    [[ "${lines[0]}" =~ ^Uid:[[:space:]]+65534[[:space:]]+65534 ]]
    [[ "${lines[1]}" =~ ^Gid:[[:space:]]+65534[[:space:]]+65534 ]]
}

@test "--ulimit: set limits and the containers.conf defaults" {
    # Any --ulimit replaces all of default_ulimits, and podman then asks
    # nproc=1048576 on its own, above this host's hard limit: so both.
    run -0 pm run --rm --ulimit nofile=512:768 --ulimit nproc=100:200 "$IMG" \
        sh -c 'ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu'
    [ "$output" = $'512\n768\n100\n200' ]
    run -0 pm run --rm "$IMG" sh -c 'grep -E "^Max (open files|processes)" /proc/self/limits'
    [[ "${lines[0]}" =~ ^Max\ processes\ +1024\ +1024 ]]
    [[ "${lines[1]}" =~ ^Max\ open\ files\ +1024\ +1024 ]]
}

@test "-t: the process gets a pty as its terminal" {
    run -0 pm_tty run --rm -t "$IMG" sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo isatty'
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *"isatty"* ]]
    # the create was given a console socket
    grep -q -- "create --bundle .*--console-socket" "$E2E/runtime-argv.log" ||
        grep -q -- "--console-socket" "$E2E/runtime-argv.log"
}

@test "-d, logs, exec (same namespaces as init, exit code), exec -t, top" {
    local id pid
    id=$(run_detached "$IMG" sh -c 'echo started-ok; exec sleep 1000')
    wait_for 10 is_status "$id" running
    wait_for 10 logs_have "$id" started-ok
    run -0 pm logs "$id"
    [ "$output" = started-ok ]

    pid=$(ctr_pid "$id")
    [ "$pid" -gt 0 ]
    local ns want got
    for ns in mnt pid net ipc uts cgroup user; do
        want=$(readlink "/proc/$pid/ns/$ns")
        got=$(pm exec "$id" readlink "/proc/self/ns/$ns")
        echo "$ns: init $want exec $got"
        [ "$want" = "$got" ]
    done
    # exec sees the init as PID 1 of its pid namespace
    run -0 pm exec "$id" cat /proc/1/cmdline
    [[ "$output" == sleep* ]]

    run -7 pm exec "$id" sh -c 'exit 7'
    run -127 pm exec "$id" /bin/no-such-command
    run -126 pm exec "$id" /bin/notexec
    run -0 pm exec --user 1234 -e X=y -w /tmp "$id" sh -c 'echo $(id -u) $X $(pwd)'
    [ "$output" = "1234 y /tmp" ]

    run -0 pm_tty exec -t "$id" sh -c 'tty; [ -t 0 ] && echo isatty'
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *"isatty"* ]]

    run -0 pm top "$id"
    [[ "${lines[0]}" == *PID*COMMAND* ]]
    [[ "$output" == *"sleep 1000"* ]]
    run -0 pm top "$id" pid args
    [[ "${lines[1]}" =~ ^1\ +sleep\ 1000 ]]

    pm rm -f -t 0 "$id"
}

@test "stop -t 2: PID 1 without a TERM handler is killed after the timeout (137)" {
    local id t0 took
    # PID 1 of a pid namespace does not die of an unhandled SIGTERM.
    id=$(run_detached "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    t0=$(date +%s%N)
    run -0 pm stop -t 2 "$id"
    took=$((($(date +%s%N) - t0) / 1000000))
    echo "stop took ${took}ms"
    [ "$took" -ge 1900 ]
    [ "$took" -lt 15000 ]
    [ "$(ctr_status "$id")" = exited ]
    [ "$(ctr_exit "$id")" = 137 ]
    grep -q "^kill $id 15" "$E2E/runtime-argv.log"
    grep -q "^kill $id 9" "$E2E/runtime-argv.log"
    pm rm "$id"
}

@test "stop -t 2: a shell that traps TERM exits on its own (143)" {
    local id t0 took
    id=$(run_detached "$IMG" sh -c 'trap "echo got-TERM; exit 143" TERM; echo ready; while :; do sleep 0.1; done')
    wait_for 10 logs_have "$id" ready
    t0=$(date +%s%N)
    run -0 pm stop -t 2 "$id"
    took=$((($(date +%s%N) - t0) / 1000000))
    echo "stop took ${took}ms"
    [ "$took" -lt 1900 ]
    [ "$(ctr_exit "$id")" = 143 ]
    run -0 pm logs "$id"
    [[ "$output" == *got-TERM* ]]
    pm rm "$id"
}

@test "kill -s KILL: exit 137, process gone" {
    local id pid
    id=$(run_detached "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    run -0 pm kill -s KILL "$id"
    wait_for 10 is_status "$id" exited
    [ "$(ctr_exit "$id")" = 137 ]
    [ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat")" = Z ]
    grep -q "^kill $id 9" "$E2E/runtime-argv.log"
    pm rm "$id"
}

@test "pause/unpause: the cgroup freezer says FROZEN, then THAWED" {
    local id pid
    id=$(run_detached "$IMG" sh -c 'while :; do date +%s%N > /tmp/tick; sleep 0.1; done')
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    [ "$(e2e_freezer_state "$pid")" = THAWED ]
    run -0 pm pause "$id"
    [ "$(ctr_status "$id")" = paused ]
    [ "$(e2e_freezer_state "$pid")" = FROZEN ]
    # frozen means frozen: the loop's tick file stops changing
    local a b
    a=$(cat "/proc/$pid/root/tmp/tick")
    sleep 0.5
    b=$(cat "/proc/$pid/root/tmp/tick")
    [ "$a" = "$b" ]
    run -0 pm unpause "$id"
    [ "$(ctr_status "$id")" = running ]
    [ "$(e2e_freezer_state "$pid")" = THAWED ]
    wait_for 5 bash -c "[ \"\$(cat /proc/$pid/root/tmp/tick)\" != $b ]"
    grep -q "^pause $id" "$E2E/runtime-argv.log"
    grep -q "^resume $id" "$E2E/runtime-argv.log"
    pm rm -f -t 0 "$id"
}

@test "rm -f: process, conmon, runtime state and cgroup all gone" {
    local id pid conmon memcg pidscg
    id=$(run_detached "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    conmon=$(pm inspect --format '{{.State.ConmonPid}}' "$id")
    memcg=$(e2e_cgroup_dir "$pid" memory)
    pidscg=$(e2e_cgroup_dir "$pid" pids)
    echo "pid $pid conmon $conmon cgroups $memcg $pidscg"
    [ -d "$memcg" ] && [ "$memcg" != /sys/fs/cgroup/memory/ ]
    [ -d "$pidscg" ]
    run e2e_runtime_ids
    [[ "$output" == *"$id"* ]]
    run -0 pm rm -f -t 0 "$id"
    wait_for 10 bash -c "[ ! -e /proc/$pid ]"
    wait_for 10 bash -c "[ ! -e /proc/$conmon ]"
    [ ! -d "$memcg" ]
    [ ! -d "$pidscg" ]
    run e2e_runtime_ids
    [[ "$output" != *"$id"* ]]
    [ ! -e "$(e2e_runtime_root)/$id" ]
    run -0 pm ps -aq --no-trunc
    [[ "$output" != *"$id"* ]]
}

@test "a container that exits by itself is cleaned up; inspect shows its exit code" {
    local id pid memcg
    id=$(run_detached "$IMG" sh -c 'sleep 1; exit 42')
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    memcg=$(e2e_cgroup_dir "$pid" memory)
    wait_for 20 is_status "$id" exited
    [ "$(ctr_exit "$id")" = 42 ]
    # conmon ran `podman container cleanup`, which deleted it in the runtime
    wait_for 10 runtime_lacks "$id"
    run e2e_runtime_ids
    [[ "$output" != *"$id"* ]]
    [ ! -d "$memcg" ]
    run -0 pm wait "$id"
    [ "$output" = 42 ]
    pm rm "$id"
}

@test "update --memory --cpu-shares: reaches the cgroup through <runtime> update" {
    local id pid
    id=$(run_detached --memory 128m --cpu-shares 256 "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    local mem cpu
    mem=$(e2e_cgroup_dir "$pid" memory)
    cpu=$(e2e_cgroup_dir "$pid" cpu)
    [ "$(cat "$mem/memory.limit_in_bytes")" = $((128 * 1024 * 1024)) ]
    [ "$(cat "$cpu/cpu.shares")" = 256 ]
    run -0 pm update --memory 64m --cpu-shares 512 "$id"
    [ "$(cat "$mem/memory.limit_in_bytes")" = $((64 * 1024 * 1024)) ]
    [ "$(cat "$cpu/cpu.shares")" = 512 ]
    grep -q -- "^update --resources=[^ ]* $id" "$E2E/runtime-argv.log"
    # still alive and well
    run -0 pm exec "$id" echo alive
    [ "$output" = alive ]
    pm rm -f -t 0 "$id"
}
