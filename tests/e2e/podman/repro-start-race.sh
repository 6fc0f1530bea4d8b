#!/usr/bin/env bash
# Reproduces, without podman, the create->start race the podman suite hit:
# `start` right after `create` fails now and then with "container init
# exited before start". Usage: repro-start-race.sh <runtime> [rounds]
# Prints "<runtime>: <failed>/<rounds> starts failed" and exits 1 if any did.
set -euo pipefail
rt=${1:?usage: repro-start-race.sh <runtime> [rounds]}
rounds=${2:-200}
d=$(mktemp -d /tmp/berth-start-race.XXXXXX)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/rootfs/bin" "$d/rootfs/proc" "$d/rootfs/dev" "$d/rootfs/sys" "$d/rootfs/tmp"
cp /bin/busybox "$d/rootfs/bin/busybox"
ln -s busybox "$d/rootfs/bin/true"
(cd "$d" && "$rt" spec)
python3 - "$d/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["process"]["args"] = ["/bin/true"]
s["process"]["terminal"] = False
json.dump(s, open(p, "w"))
EOF
fails=0
for i in $(seq "$rounds"); do
    id=race-$$-$i
    timeout 10 "$rt" --root "$d/state" create --bundle "$d" "$id" </dev/null >/dev/null
    if ! timeout 10 "$rt" --root "$d/state" start "$id" 2>"$d/err"; then
        fails=$((fails + 1))
        echo "round $i: $(cat "$d/err")"
    fi
    timeout 10 "$rt" --root "$d/state" delete --force "$id" >/dev/null 2>&1 || true
done
echo "$rt: $fails/$rounds starts failed"
[ "$fails" = 0 ]
