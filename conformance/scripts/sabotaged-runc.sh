#!/bin/sh
# A deliberately broken "runtime" for checking that the suite can fail: it
# wraps runc but, on create, quietly drops or alters parts of the bundle's
# config.json (the checker still reads the original copy in the rootfs), and
# makes `update` a no-op that reports success.
# Usage: berth-conformance --runtime conformance/scripts/sabotaged-runc.sh
set -eu
REAL=${SABOTAGE_REAL_RUNTIME:-/usr/sbin/runc}
bundle=""
prev=""
for a in "$@"; do
    [ "$a" = "update" ] && exit 0
    [ "$prev" = "--bundle" ] && bundle=$a
    prev=$a
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
proc = c.setdefault("process", {})
proc.pop("rlimits", None)
proc.pop("oomScoreAdj", None)
proc.pop("apparmorProfile", None)
proc["env"] = [e for e in proc.get("env", []) if not e.startswith("WITH_SPACES=")]
if "hostname" in c:
    c["hostname"] = "sabotaged"
lin = c.setdefault("linux", {})
lin["maskedPaths"] = []
lin["readonlyPaths"] = []
lin.pop("sysctl", None)
lin.pop("seccomp", None)
res = lin.get("resources", {})
lin["resources"] = {"devices": res["devices"]} if "devices" in res else {}
lin["namespaces"] = [n for n in lin.get("namespaces", []) if n.get("type") != "ipc"]
for m in c.get("mounts", []):
    m["options"] = [o for o in m.get("options", []) if o not in ("ro", "noexec", "nodev")]
if "capabilities" in proc:
    proc["capabilities"]["bounding"] = proc["capabilities"].get("bounding", []) + ["CAP_SYS_ADMIN"]
json.dump(c, open(p, "w"))
PY
fi
exec "$REAL" "$@"
