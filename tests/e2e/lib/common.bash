# Shared helpers for the end-to-end suites: logging, bounded waits and a free
# TCP port. Sourced by bats files and scripts; defines functions only.
# Every helper that could block is bounded, so a hang fails instead of eating
# CI's budget (the suites run with stdin closed and no terminal).

# e2e_log MSG... : progress to stderr (bats shows it only on failure, or with
# --show-output-of-passing-tests; to fd 3 it would always show).
e2e_log() { echo "e2e: $*" >&2; }

# e2e_wait_until SECONDS CMD... : rerun CMD every 0.1s until it succeeds;
# fails after SECONDS.
e2e_wait_until() {
    local limit=$1 end
    shift
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$end" ]; then
            e2e_log "timed out after ${limit}s waiting for: $*"
            return 1
        fi
        sleep 0.1
    done
}

# e2e_free_port : print a TCP port on 127.0.0.1 nobody listens on. The kernel
# picks it (bind to port 0), so parallel suites do not collide on a guess.
e2e_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null && return
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 20000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
    return 1
}

# e2e_wait_output SECONDS EXPECTED CMD... : rerun CMD every 0.1s until its
# output is EXPECTED; fails after SECONDS, naming the last output.
e2e_wait_output() {
    local limit=$1 want=$2 got end
    shift 2
    end=$((SECONDS + limit))
    while got=$("$@" 2>/dev/null) || true; [ "$got" != "$want" ]; do
        if [ "$SECONDS" -ge "$end" ]; then
            e2e_log "timed out after ${limit}s waiting for '$want' from: $* (last: '$got')"
            return 1
        fi
        sleep 0.1
    done
}

# e2e_install_missing WHO PACKAGE=COMMAND... : apt-get install every
# PACKAGE whose COMMAND is not on PATH (python3-grpcio is checked by
# importing grpc: the CRI client, tests/e2e/cri/, needs it and bookworm has
# no crictl). WHO prefixes the one line it prints.
e2e_install_missing() {
    local who=$1 pair missing=()
    shift
    for pair in "$@"; do
        if [ "${pair%%=*}" = python3-grpcio ]; then
            /usr/bin/python3 -c 'import grpc' 2>/dev/null || missing+=(python3-grpcio)
        else
            command -v "${pair#*=}" >/dev/null || missing+=("${pair%%=*}")
        fi
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "$who: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null ||
        { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
            apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null; }
}
