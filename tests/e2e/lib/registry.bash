# A private docker-registry (distribution 2.8, Debian's docker-registry)
# on 127.0.0.1:<free port>, filesystem storage in the caller's work dir, so
# images can be pushed and pulled with no internet. Requires common.bash.

# e2e_registry_start WORKDIR : start the registry in the background; sets
# E2E_REGISTRY (host:port) and E2E_REGISTRY_PID. Its log is WORKDIR/registry.log.
e2e_registry_start() {
    local dir=$1 port
    port=$(e2e_free_port) || return 1
    mkdir -p "$dir/registry-data"
    cat >"$dir/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
    docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 </dev/null &
    E2E_REGISTRY_PID=$!
    E2E_REGISTRY=127.0.0.1:$port
    if ! e2e_wait_until 20 curl -fsS --max-time 2 "http://$E2E_REGISTRY/v2/"; then
        e2e_log "registry did not come up; its log:"
        cat "$dir/registry.log" >&2
        return 1
    fi
    e2e_log "registry on $E2E_REGISTRY (pid $E2E_REGISTRY_PID)"
}

# e2e_registry_stop : stop the registry started by e2e_registry_start.
e2e_registry_stop() {
    [ -n "${E2E_REGISTRY_PID:-}" ] || return 0
    kill "$E2E_REGISTRY_PID" 2>/dev/null || true
    timeout 10 tail --pid="$E2E_REGISTRY_PID" -f /dev/null 2>/dev/null || kill -9 "$E2E_REGISTRY_PID" 2>/dev/null || true
    E2E_REGISTRY_PID=
}
