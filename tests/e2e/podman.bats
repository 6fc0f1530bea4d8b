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
    # podman's cgroupfs manager makes a plain directory for every
    # controller in /proc/cgroups, hugetlb too, which this hybrid host
    # carries on the unified hierarchy: note whether it was there.
    E2E_HUGETLB_DIR_BEFORE=0
    [ -e /sys/fs/cgroup/hugetlb ] && E2E_HUGETLB_DIR_BEFORE=1
    export E2E_HUGETLB_DIR_BEFORE
    e2e_init
}

teardown_file() {
    # podman cannot remove what a broken runtime left in a state it does
    # not expect (a "paused" container the runtime never froze: rm -f asks
    # for resume, which fails): delete those in the runtime directly, as
    # podman would, so no container outlives the suite.
    local ids id
    ids=$(pm ps -aq --no-trunc 2>/dev/null || true)
    pm rm -af -t 0 >/dev/null 2>&1 || true
    for id in $ids; do
        timeout 10 "$WRAPPER" delete --force "$id" >/dev/null 2>&1 || true
    done
    if [ -n "${E2E_ARTIFACTS:-}" ]; then
        mkdir -p "$E2E_ARTIFACTS"
        cp "$E2E/runtime-argv.log" "$E2E_ARTIFACTS/$RUNTIME_NAME-argv.log" 2>/dev/null || true
        cp "$E2E/first-config.json" "$E2E_ARTIFACTS/$RUNTIME_NAME-config.json" 2>/dev/null || true
    fi
    if [ "${E2E_KEEP:-0}" != 1 ]; then
        # podman leaves a tmpfs per container (userdata/shm) until rm;
        # anything still mounted below $E2E must go before the files do.
        grep -F " $E2E/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf "$E2E"
    fi
    # That directory is on /sys/fs/cgroup's tmpfs, not a cgroup: other
    # tools that list /sys/fs/cgroup would take it for a v1 hierarchy.
    local h=/sys/fs/cgroup/hugetlb
    if [ "$E2E_HUGETLB_DIR_BEFORE" = 0 ] && [ -d "$h" ] && ! mountpoint -q "$h" &&
        [ "$(stat -f -c %T "$h")" = tmpfs ]; then
        rm -rf "$h"
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
tick_moved() { [ "$(cat "/proc/$1/root/tmp/tick" 2>/dev/null)" != "$2" ]; }
runtime_lacks() { ! e2e_runtime_ids | grep -q -- "$1"; }


# podman under a pty (CI has no terminal): script(1) gives the command a
# fresh pty; its stdin is /dev/null so script sees EOF, not a terminal.
pm_tty() {
    local cmd
    cmd=$(printf '%q ' podman --root "$E2E/root" --runroot "$E2E/runroot" \
        --cgroup-manager cgroupfs --events-backend file --runtime "$WRAPPER" "$@")
    (cd "$E2E" && timeout -k 5 "$E2E_TIMEOUT" script -qec "$cmd" /dev/null </dev/null | tr -d '\r'
        exit "${PIPESTATUS[0]}")
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
    run -1 grep -q -- "--root" "$E2E/runtime-argv.log"
    run e2e_runtime_ids
    [[ "$output" != *"$id"* ]]
    [ ! -e "$(e2e_runtime_root)/$id" ]
    # The runtime was asked to create, start and delete exactly this one.
    grep -q "create --bundle .* $id" "$E2E/runtime-argv.log"
    grep -q "^start $id" "$E2E/runtime-argv.log"
    grep -q "^delete --force $id" "$E2E/runtime-argv.log"
}

@test "stdin: run -i passes piped input" {
    cd "$E2E"
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
    grep -q -- "create --bundle .*--console-socket" "$E2E/runtime-argv.log"
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
    # 143 is the trap's own exit: a SIGKILL after the timeout would be 137
    # (no upper bound on the time: a loaded CI machine is slow anyway)
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
    # a counter that moves every 0.1s while the container runs (written to
    # a new file and renamed, so a reader never sees it half written)
    id=$(run_detached "$IMG" sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/t.new; mv /tmp/t.new /tmp/tick; sleep 0.1; done')
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    wait_for 10 test -s "/proc/$pid/root/tmp/tick"
    [ "$(e2e_freezer_state "$pid")" = THAWED ]
    run -0 pm pause "$id"
    [ "$(ctr_status "$id")" = paused ]
    [ "$(e2e_freezer_state "$pid")" = FROZEN ]
    # frozen means frozen: the counter stops
    local a b
    a=$(cat "/proc/$pid/root/tmp/tick")
    sleep 0.5
    b=$(cat "/proc/$pid/root/tmp/tick")
    [ "$a" = "$b" ]
    run -0 pm unpause "$id"
    [ "$(ctr_status "$id")" = running ]
    [ "$(e2e_freezer_state "$pid")" = THAWED ]
    wait_for 10 tick_moved "$pid" "$b"
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

@test "-it: an interactive shell reads piped input through the pty" {
    local cmd
    cmd=$(printf '%q ' podman --root "$E2E/root" --runroot "$E2E/runroot" \
        --runtime "$WRAPPER" run --rm -it "$IMG" sh)
    cd "$E2E"
    run -5 bash -c 'printf "echo it-\$((6*7))\nexit 5\n" | timeout -k 5 30 script -qec "$1" /dev/null' _ "$cmd"
    # the shell computed it, so it read the input (the echo of the typed
    # line shows the unexpanded text)
    [[ "$output" == *it-42* ]]
}

@test "resources at create: memory (OOM kill 137), pids, cpu quota, oom_score_adj" {
    run -0 pm run --rm --memory 32m --memory-swap 32m --pids-limit 77 --cpus 0.5 \
        --oom-score-adj 123 "$IMG" sh -c '
            cat /proc/self/oom_score_adj
            cg=$(grep -E "^[0-9]+:pids:" /proc/self/cgroup | cut -d: -f3)
            echo "$cg"'
    [ "${lines[0]}" = 123 ]
    local id
    id=$(run_detached --memory 32m --memory-swap 32m --pids-limit 77 --cpus 0.5 "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    local pid
    pid=$(ctr_pid "$id")
    [ "$(cat "$(e2e_cgroup_dir "$pid" memory)/memory.limit_in_bytes")" = $((32 << 20)) ]
    [ "$(cat "$(e2e_cgroup_dir "$pid" pids)/pids.max")" = 77 ]
    [ "$(cat "$(e2e_cgroup_dir "$pid" cpu)/cpu.cfs_quota_us")" = 50000 ]
    [ "$(cat "$(e2e_cgroup_dir "$pid" cpu)/cpu.cfs_period_us")" = 100000 ]
    pm rm -f -t 0 "$id"
    # a 64 MiB buffer under a 32 MiB limit: the kernel kills it
    run -137 pm run --rm --memory 32m --memory-swap 32m "$IMG" \
        dd if=/dev/zero of=/dev/null bs=64M count=1
}

@test "security: caps, no-new-privileges, seccomp, read-only rootfs" {
    run -0 pm run --rm --cap-drop all --cap-add NET_ADMIN --security-opt no-new-privileges \
        "$IMG" grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status
    [[ "$output" == *$'CapPrm:\t0000000000001000'* ]]
    [[ "$output" == *$'CapEff:\t0000000000001000'* ]]
    [[ "$output" == *$'CapBnd:\t0000000000001000'* ]]
    [[ "$output" == *$'NoNewPrivs:\t1'* ]]
    [[ "$output" == *$'Seccomp:\t2'* ]]
    # podman's default set: CHOWN (bit 0) and KILL (5) yes, SYS_ADMIN (21) no
    run -0 pm run --rm "$IMG" sh -c 'grep -E "^CapEff:" /proc/self/status | cut -f2'
    local eff=$((16#$output))
    [ $((eff & 1)) = 1 ]
    [ $(((eff >> 5) & 1)) = 1 ]
    [ $(((eff >> 21) & 1)) = 0 ]
    run -0 pm run --rm --security-opt seccomp=unconfined "$IMG" grep -E '^Seccomp:' /proc/self/status
    [[ "$output" == $'Seccomp:\t0' ]]
    run -0 pm run --rm --read-only "$IMG" sh -c 'touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y && echo tmp-rw'
    [ "$output" = $'ro\ntmp-rw' ]
}

@test "mounts: bind volume (ro), tmpfs with options, --init" {
    mkdir -p "$E2E/vol"
    echo host-data >"$E2E/vol/f"
    run -0 pm run --rm -v "$E2E/vol:/mnt:ro" --tmpfs /scratch:size=1m,mode=1777 "$IMG" sh -c '
        cat /mnt/f
        echo x 2>/dev/null >/mnt/g && echo mnt-rw || echo mnt-ro
        grep " /scratch " /proc/mounts | cut -d" " -f3,4
        stat -c %a /scratch'
    [ "${lines[0]}" = host-data ]
    [ "${lines[1]}" = mnt-ro ]
    [[ "${lines[2]}" == tmpfs\ rw,*size=1024k* ]]
    [ "${lines[3]}" = 1777 ]
    [ ! -e "$E2E/vol/g" ]
    # --init bind-mounts catatonit as PID 1, which runs the command
    run -0 pm run --rm --init "$IMG" sh -c 'tr "\0" " " </proc/1/cmdline; echo; echo $$'
    [[ "${lines[0]}" == "/run/podman-init -- sh -c "* ]]
    [ "${lines[1]}" != 1 ]
}

@test "user namespace: --uidmap/--gidmap" {
    run -0 pm run --rm --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" sh -c '
        cat /proc/self/uid_map /proc/self/gid_map; id -u
        touch /tmp/z && stat -c "%u %g" /tmp/z'
    [[ "${lines[0]}" =~ ^\ +0\ +200000\ +65536$ ]]
    [[ "${lines[1]}" =~ ^\ +0\ +200000\ +65536$ ]]
    [ "${lines[2]}" = 0 ]
    [ "${lines[3]}" = "0 0" ]
    local id pid
    id=$(run_detached --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    # seen from the host, the container's root is uid 200000
    [[ "$(grep -E '^Uid:' "/proc/$pid/status")" =~ ^Uid:[[:space:]]+200000[[:space:]] ]]
    [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]
    run -0 pm exec "$id" sh -c 'id -u; cat /proc/self/uid_map'
    [ "${lines[0]}" = 0 ]
    # Cleanup only (rm is tested on its own): podman's rm of a container it
    # has just killed can find the shm mount still busy, under runc too.
    pm rm -f -t 0 "$id" || { sleep 1; pm rm -f "$id"; }
}

@test "OCI hooks from --hooks-dir run with the container's state" {
    local hd=$E2E/hooks.d st
    mkdir -p "$hd"
    cat >"$hd/rec.sh" <<EOF2
#!/bin/sh
echo "\$1 \$(cat)" >>"$E2E/hooks.log"
EOF2
    chmod 755 "$hd/rec.sh"
    # startContainer is left out: it runs inside the container, where this
    # script does not exist
    for st in prestart createRuntime createContainer poststart poststop; do
        cat >"$hd/$st.json" <<EOF2
{"version": "1.0.0", "hook": {"path": "$hd/rec.sh", "args": ["rec.sh", "$st"]},
 "when": {"annotations": {"^e2e\\\\.hook\$": "^yes\$"}}, "stages": ["$st"]}
EOF2
    done
    rm -f "$E2E/hooks.log"
    run -0 pm --hooks-dir "$hd" run --rm --cidfile "$E2E/hook.cid" --annotation e2e.hook=yes "$IMG" echo hooked
    [ "$output" = hooked ]
    local id
    id=$(cat "$E2E/hook.cid")
    cat "$E2E/hooks.log"
    run -0 awk '{print $1}' "$E2E/hooks.log"
    [ "$output" = $'prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop' ]
    [ "$(grep -c "\"id\":\"$id\"" "$E2E/hooks.log")" = 5 ]
    grep -q '^prestart .*"status":"creating".*"pid":[1-9]' "$E2E/hooks.log"
    grep -q '^poststop .*"status":"stopped"' "$E2E/hooks.log"
    # no annotation, no hooks
    rm -f "$E2E/hooks.log"
    run -0 pm --hooks-dir "$hd" run --rm "$IMG" true
    [ ! -e "$E2E/hooks.log" ]
}

@test "restart, stop/start again, exec refused while paused" {
    local id pid1 pid2
    id=$(run_detached "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    pid1=$(ctr_pid "$id")
    run -0 pm restart -t 0 "$id"
    wait_for 10 is_status "$id" running
    pid2=$(ctr_pid "$id")
    [ "$pid1" != "$pid2" ]
    run -0 pm exec "$id" echo after-restart
    [ "$output" = after-restart ]
    run -0 pm stop -t 0 "$id"
    run -0 pm start "$id"
    wait_for 10 is_status "$id" running
    run -0 pm exec "$id" echo after-start
    [ "$output" = after-start ]
    run -0 pm pause "$id"
    run ! pm exec "$id" echo no
    run -0 pm unpause "$id"
    pm rm -f -t 0 "$id"
}

@test "pod: a container joins the infra container's ipc, net and uts namespaces" {
    run -0 pm pod create --name e2epod
    local id infra ipid cpid ns
    id=$(run_detached --pod e2epod "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    infra=$(pm pod inspect --format '{{.InfraContainerID}}' e2epod)
    ipid=$(ctr_pid "$infra")
    cpid=$(ctr_pid "$id")
    for ns in ipc net uts; do
        [ "$(readlink "/proc/$ipid/ns/$ns")" = "$(readlink "/proc/$cpid/ns/$ns")" ]
    done
    [ "$(readlink "/proc/$ipid/ns/mnt")" != "$(readlink "/proc/$cpid/ns/mnt")" ]
    # this host's podman cannot remove a pod's cgroup (it made a plain
    # directory for hugetlb, which lives on the unified hierarchy here):
    # the containers must go all the same
    pm pod rm -f -t 0 e2epod || true
    run -0 pm ps -aq --no-trunc
    [[ "$output" != *"$id"* ]]
    [[ "$output" != *"$infra"* ]]
    run e2e_runtime_ids
    [[ "$output" != *"$id"* ]]
}

@test "--privileged: every capability, no seccomp, the host's devices" {
    run -0 pm run --rm --privileged "$IMG" sh -c '
        grep -E "^(CapBnd|Seccomp):" /proc/self/status | cut -f2
        ls /dev | wc -l
        [ -b /dev/loop0 ] || [ ! -b /dev/loop0 ] && echo done'
    # podman's privileged set is every cap it knows of; at least 38 bits
    local bnd=$((16#${lines[0]}))
    [ $((bnd & 0x3fffffffff)) = $((0x3fffffffff & ~(1 << 24))) ] || [ $((bnd & 0x3fffffffff)) = $((0x3fffffffff)) ]
    [ "${lines[1]}" = 0 ]
    [ "${lines[2]}" -gt 20 ]
    if [ -b /dev/loop0 ]; then
        run -0 pm run --rm --privileged "$IMG" sh -c '[ -b /dev/loop0 ] && echo has-loop0'
        [ "$output" = has-loop0 ]
    fi
}

@test "--pid/--ipc container:<id>: a second container joins the first's namespaces" {
    local id pid1 cid pid2 ns
    id=$(run_detached "$IMG" sleep 1000)
    wait_for 10 is_status "$id" running
    cid=$(run_detached --pid "container:$id" --ipc "container:$id" "$IMG" sleep 1001)
    wait_for 10 is_status "$cid" running
    pid1=$(ctr_pid "$id")
    pid2=$(ctr_pid "$cid")
    for ns in pid ipc; do
        [ "$(readlink "/proc/$pid1/ns/$ns")" = "$(readlink "/proc/$pid2/ns/$ns")" ]
    done
    [ "$(readlink "/proc/$pid1/ns/mnt")" != "$(readlink "/proc/$pid2/ns/mnt")" ]
    run -0 pm exec "$cid" sh -c 'ps -o pid,args | grep -c "[s]leep 100[01]"'
    [ "$output" = 2 ]
    pm rm -f -t 0 "$cid"
    pm rm -f -t 0 "$id"
}

@test "kill -s USR1 reaches a trap; exec -d runs in the background" {
    local id
    id=$(run_detached "$IMG" sh -c 'trap "echo got-USR1" USR1; echo ready; while :; do sleep 0.1; done')
    wait_for 10 logs_have "$id" ready
    run -0 pm kill -s USR1 "$id"
    wait_for 10 logs_have "$id" got-USR1
    grep -q "^kill $id 10" "$E2E/runtime-argv.log"
    [ "$(ctr_status "$id")" = running ]
    run -0 pm exec -d "$id" sleep 555
    run -0 pm top "$id" args
    [[ "$output" == *"sleep 555"* ]]
    pm rm -f -t 0 "$id"
}

@test "--pid host: stop signals every process of the cgroup (kill --all), 143" {
    local id pid
    id=$(run_detached --pid host "$IMG" sleep 1002)
    wait_for 10 is_status "$id" running
    pid=$(ctr_pid "$id")
    [ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink /proc/$$/ns/pid)" ]
    run -0 pm stop -t 5 "$id"
    [ "$(ctr_exit "$id")" = 143 ]
    grep -q "^kill --all $id 15" "$E2E/runtime-argv.log"
    [ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat")" = Z ]
    pm rm "$id"
}

@test "--rootfs: a plain directory as the root filesystem; --device under a new name" {
    mkdir -p "$E2E/rfs"
    tar -C "$E2E/rfs" -xf "$E2E/rootfs.tar"
    echo marker >"$E2E/rfs/marker"
    run -0 pm run --rm --rootfs "$E2E/rfs" cat /marker
    echo "$output"
    [ "$output" = marker ]
    run -0 pm run --rm --device /dev/null:/dev/mynull "$IMG" sh -c \
        'stat -c "%F %t:%T" /dev/mynull; echo x >/dev/mynull && echo write-ok'
    [ "$output" = $'character special file 1:3\nwrite-ok' ]
}

@test "back-to-back: 25 run --rm in a row, each started right after create" {
    # podman starts a container the moment create returns; a runtime whose
    # init is not yet waiting on its start signal then must still start.
    local i fails=0 out
    for i in $(seq 25); do
        out=$(pm run --rm "$IMG" true 2>&1) || {
            fails=$((fails + 1))
            echo "run $i: $out"
        }
    done
    [ "$fails" = 0 ]
}

@test "an impossible memory limit fails (126) and the error says why" {
    # 1 KiB is below what the container already uses when the limit is set
    run -126 pm run --rm --memory 1k "$IMG" true
    echo "$output"
    [[ "$output" == *"memory"* ]]
}
