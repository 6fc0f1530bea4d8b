#!/usr/bin/env bash
# CI stage: berth on a pure cgroup2 host. Boots a throw-away qemu guest (TCG,
# no KVM needed) whose only cgroup mount is cgroup2 at /sys/fs/cgroup (kernel
# booted with cgroup_no_v1=all), and runs in it every integration test binary
# of the berth crate plus the conformance suite against berth and against
# runc. The guest reports on its serial console (see scripts/guest/run); this
# script reads that log and exits non-zero if any stage failed.
#
# Needs root (the kernel image in /boot is root-only, apt-get). Never reads
# stdin and never waits without a bound: qemu runs under `timeout`.
#
# Environment:
#   BERTH_GUEST_TESTS=lifecycle,process   only these integration test binaries
#                                         (default: every one cargo builds)
#   BERTH_GUEST_TEST_ARGS="kill_all"      extra libtest args (e.g. a filter)
#   BERTH_GUEST_SKIP="a b"                tests to --skip (default below; "" for none)
#   BERTH_GUEST_RUNC_ARGS="--filter cgroups/"  driver args for the runc run ("" for all)
#   BERTH_GUEST_CONFORMANCE=berth,runc    conformance runs in the guest: any of
#                                         berth, runc, or none (default both)
#   BERTH_GUEST_MODULES="fuse loop bfq"   kernel modules to ship and load
#                                         (fuse: tests bind /dev/fuse; loop, bfq: blockIO cases)
#   BERTH_GUEST_TIMEOUT=1300              wall-clock limit for qemu, seconds
#   BERTH_GUEST_STAGE_TIMEOUT=600         limit per stage inside the guest
#   BERTH_GUEST_MEM=2048 BERTH_GUEST_SMP=2
#   BERTH_GUEST_KERNEL=/boot/vmlinuz-...  default: newest with /lib/modules
#   BERTH_GUEST_NO_BUILD=1                reuse binaries already built
# Output: target/guest/{serial.log,initrd.cpio}.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
t_begin=$(date +%s)

tests_sel=${BERTH_GUEST_TESTS:-}
test_args=${BERTH_GUEST_TEST_ARGS:-}
skip=${BERTH_GUEST_SKIP-}
for t in ${skip//,/ }; do test_args+=" --skip $t"; done
conf_sel=${BERTH_GUEST_CONFORMANCE:-berth,runc}
# runc is the reference for what v2 means; under emulation its whole-suite
# run costs four minutes, so by default it runs the cgroup cases only.
runc_args=${BERTH_GUEST_RUNC_ARGS---filter cgroups/}
modules=${BERTH_GUEST_MODULES-fuse loop bfq}
qemu_timeout=${BERTH_GUEST_TIMEOUT:-1300}
stage_timeout=${BERTH_GUEST_STAGE_TIMEOUT:-600}
mem=${BERTH_GUEST_MEM:-2048}
smp=${BERTH_GUEST_SMP:-2}
export CARGO_TERM_COLOR=never

say() { echo "== test-cgroup2: $*" >&2; }
die() {
    say "error: $*"
    exit 2
}
elapsed() { echo $(($(date +%s) - t_begin)); }

[ "$(id -u)" -eq 0 ] || die "run as root (reads /boot/vmlinuz-*, may apt-get install)"

# --- host packages ---------------------------------------------------------
kernel_ok() { compgen -G '/boot/vmlinuz-*' >/dev/null; }
busybox_ok() { [ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked'; }
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
kernel_ok || missing+=(linux-image-amd64)
command -v cpio >/dev/null || missing+=(cpio)
busybox_ok || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${missing[@]}" </dev/null ||
        { apt-get update </dev/null && apt-get install -y "${missing[@]}" </dev/null; } ||
        die "cannot install ${missing[*]}"
fi
busybox_ok || die "/bin/busybox is not busybox-static"

kernel=${BERTH_GUEST_KERNEL:-}
if [ -z "$kernel" ]; then
    for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
        [ -d "/lib/modules/${k#/boot/vmlinuz-}" ] && kernel=$k
    done
fi
[ -n "$kernel" ] && [ -r "$kernel" ] || die "no readable kernel in /boot (set BERTH_GUEST_KERNEL)"
kver=${kernel#/boot/vmlinuz-}

# --- build on the host -----------------------------------------------------
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory 2>/dev/null ||
    cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$target_dir/guest
mkdir -p "$work"
json=$work/test-artifacts.json
if [ -z "${BERTH_GUEST_NO_BUILD:-}" ] || [ ! -s "$json" ]; then
    say "building integration tests"
    cargo test -p berth --no-run --message-format=json >"$json"
fi
# Integration test binaries: artifacts whose target kind is "test".
mapfile -t test_lines < <(grep '"kind":\["test"\]' "$json" | grep '"executable":"' |
    sed -n 's/.*"target":{[^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' | sort -u)
[ ${#test_lines[@]} -gt 0 ] || die "no integration test executables in $json"
# The berth binary the tests run (env!("CARGO_BIN_EXE_berth")).
berth_debug=$(grep '"kind":\["bin"\]' "$json" | grep '"name":"berth"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | head -1)
[ -x "$berth_debug" ] || die "no berth binary in $json"

want_conf() { case ",$conf_sel," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
driver="" checker="" berth_static="" runc=""
if want_conf berth || want_conf runc; then
    if [ -z "${BERTH_GUEST_NO_BUILD:-}" ] || [ ! -x "$target_dir/release/berth-check-static" ]; then
        say "building berth (static), the conformance driver and checker"
        bash scripts/build.sh >/dev/null
        cargo build --release -p berth-conformance
        bash conformance/build-checker.sh >/dev/null
    fi
    driver=$target_dir/release/berth-conformance
    checker=$target_dir/release/berth-check-static
    berth_static=$target_dir/release/berth
    for f in "$driver" "$checker" "$berth_static"; do [ -x "$f" ] || die "missing $f"; done
fi
if want_conf runc; then
    runc=$(command -v runc || true)
    [ -n "$runc" ] || say "warning: runc not installed: no reference conformance run"
fi
t_built=$(elapsed)

# --- initramfs -------------------------------------------------------------
stage=$work/root
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,guest,proc,sys,dev,tmp,run,root}

# put SRC [DEST]: copies SRC to DEST (default: the same path) in the guest,
# without debug info, plus the shared libraries and loader it needs.
put() {
    local src=$1 dst=${2:-$1}
    mkdir -p "$stage$(dirname "$dst")"
    [ -e "$stage$dst" ] && return 0
    if file -L "$src" | grep -q 'ELF.*not stripped'; then
        strip --strip-debug -o "$stage$dst" "$src"
    else
        cp -L "$src" "$stage$dst"
    fi
    chmod --reference="$src" "$stage$dst"
    if file -L "$src" | grep -q 'dynamically linked'; then
        local lib
        for lib in $(ldd "$src" | grep -o '/[^ ]*'); do put "$lib"; done
    fi
}

put /bin/busybox /bin/busybox
# util-linux's losetup: the conformance blockIO cases need --find --show,
# which busybox's lacks (they attach a loop device and select BFQ on it).
command -v losetup >/dev/null && put "$(command -v losetup)" /usr/sbin/losetup
cp scripts/guest/init "$stage/init"
cp scripts/guest/run "$stage/guest/run"
chmod 0755 "$stage/init" "$stage/guest/run"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$stage/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
echo berth-guest >"$stage/etc/hostname"
echo "$stage_timeout" >"$stage/guest/stage-timeout"
# Files the tests read on the host side.
for f in /usr/share/containers/seccomp.json; do
    if [ -e "$f" ]; then put "$f"; else say "warning: $f missing on the host (tests using it fail)"; fi
done
put "$berth_debug"

plan=$stage/guest/plan
: >"$plan"
selected=()
for line in "${test_lines[@]}"; do
    name=${line%% *} exe=${line#* }
    if [ -n "$tests_sel" ]; then
        case ",$tests_sel," in *",$name,"*) ;; *) continue ;; esac
    fi
    put "$exe"
    echo "test $name $exe $test_args" >>"$plan"
    selected+=("$name")
done
if [ -n "$tests_sel" ]; then
    for n in ${tests_sel//,/ }; do
        case " ${selected[*]} " in *" $n "*) ;; *) die "BERTH_GUEST_TESTS: no test binary named $n" ;; esac
    done
fi
if [ -n "$driver" ]; then
    put "$driver"
    put "$checker"
    put "$berth_static"
    want_conf berth && echo "conformance conformance-berth $driver $berth_static $checker" >>"$plan"
    [ -n "$runc" ] && put "$runc" && echo "conformance conformance-runc $driver $runc $checker $runc_args" >>"$plan"
fi

if [ -n "$modules" ]; then
    : >"$stage/guest/modules"
    for m in $modules; do
        for ko in $(modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'); do
            put "$ko"
        done
        echo "$m" >>"$stage/guest/modules"
    done
    for f in modules.dep modules.dep.bin modules.alias modules.alias.bin modules.builtin modules.builtin.bin modules.order; do
        [ -e "/lib/modules/$kver/$f" ] && put "/lib/modules/$kver/$f"
    done
fi

initrd=$work/initrd.cpio
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$initrd"
say "initramfs $(du -h "$initrd" | cut -f1), plan:"
sed 's/^/    /' "$plan" >&2

# --- boot ------------------------------------------------------------------
log=$work/serial.log
: >"$log"
cmdline="console=ttyS0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 panic=-1 loglevel=4 mitigations=off"
say "booting $kernel (tcg, ${smp} cpus, ${mem} MiB, limit ${qemu_timeout}s)"
t_boot=$(date +%s)
qemu_rc=0
timeout -k 10 "$qemu_timeout" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -m "$mem" -smp "$smp" \
    -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
    -nodefaults -display none -monitor none -no-reboot \
    -serial "file:$log" </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
# Echo the console's markers while the guest runs (the full log stays in
# $log): polling, so nothing is left running when qemu is gone.
shown=0
show_markers() {
    local n
    n=$(tr -d '\r' <"$log" | grep -c '^@@' || true)
    if [ "$n" -gt "$shown" ]; then
        tr -d '\r' <"$log" | grep '^@@' | sed -n "$((shown + 1)),${n}p" | sed 's/^/  guest: /' >&2
        shown=$n
    fi
}
while kill -0 "$qemu_pid" 2>/dev/null; do
    sleep 2
    show_markers
done
wait "$qemu_pid" || qemu_rc=$?
show_markers
t_end=$(date +%s)

# --- verdict ---------------------------------------------------------------
clean=$work/serial.txt
tr -d '\r' <"$log" >"$clean"
boot_secs=$(sed -n 's/^@@ BOOTED uptime=\([0-9.]*\).*/\1/p' "$clean")
failed=()
echo
echo "== test-cgroup2 results"
while read -r kind name _; do
    case "$kind" in test | conformance) ;; *) continue ;; esac
    res=$(grep "^@@ RESULT $name " "$clean" | tail -1 || true)
    if [ -z "$res" ]; then
        echo "  $name: NO RESULT (guest stopped before it finished)"
        failed+=("$name")
        continue
    fi
    rc=$(echo "$res" | sed -n 's/.* rc=\([0-9]*\).*/\1/p')
    secs=$(echo "$res" | sed -n 's/.* secs=\([0-9.]*\).*/\1/p')
    summary=$(sed -n "/^@@ START $name\$/,/^@@ RESULT $name /p" "$clean" |
        grep -E '^test result:|^[0-9]+ passed, [0-9]+ failed' | tr '\n' ' ' || true)
    if [ "$rc" = 0 ]; then
        echo "  $name: ok (${secs}s) $summary"
    else
        echo "  $name: FAILED rc=$rc (${secs}s) $summary"
        failed+=("$name")
    fi
done <"$plan"

for name in "${failed[@]}"; do
    echo
    echo "---- $name: guest output (last 150 lines)"
    sed -n "/^@@ START $name\$/,/^@@ RESULT $name /p" "$clean" | tail -150
done
done_ok=1
grep -q '^@@ DONE' "$clean" || done_ok=0
if [ "$done_ok" = 0 ]; then
    echo
    echo "---- guest did not finish (qemu exit $qemu_rc; 124 = timed out): serial log tail"
    tail -60 "$clean"
    tail -20 "$work/qemu.out"
fi
echo
echo "== test-cgroup2 timings: build ${t_built}s, guest $((t_end - t_boot))s (boot to tests ${boot_secs:-?}s), total $(elapsed)s; log $clean"
if [ ${#failed[@]} -gt 0 ] || [ "$done_ok" = 0 ]; then
    echo "== test-cgroup2: FAILED: ${failed[*]:-guest did not finish}"
    exit 1
fi
echo "== test-cgroup2: all stages passed"
