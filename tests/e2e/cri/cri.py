#!/usr/bin/python3
"""A crictl-sized CRI (runtime.v1) client for the containerd e2e suite.

Bookworm has no crictl; python3-grpcio is in Debian, but the CRI protobuf
bindings are not. CRI messages here are encoded and decoded by hand (the
wire format is small: varints and length-delimited fields), with only the
fields the suite needs, numbered as in k8s.io/cri-api's runtime/v1
api.proto; unknown fields in responses are skipped, as protobuf allows.

Usage: cri.py --sock SOCKET COMMAND ARGS...   (see COMMANDS below)
Each command prints its result (ids, JSON) on stdout; gRPC errors go to
stderr with exit status 2.
"""

import argparse
import json
import sys

import grpc

RUNTIME = "/runtime.v1.RuntimeService/"
IMAGE = "/runtime.v1.ImageService/"

# NamespaceMode: the pod uses the node's network namespace, so no CNI is
# needed.
NODE = 2
CONTAINER_STATES = {0: "CREATED", 1: "RUNNING", 2: "EXITED", 3: "UNKNOWN"}


def varint(n):
    n &= (1 << 64) - 1  # negative int64s are ten-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc(fields):
    """Encode [(number, value)]: str/bytes/list (a sub-message) as
    length-delimited, int/bool as varint. None values are left out."""
    out = bytearray()
    for num, val in fields:
        if val is None:
            continue
        if isinstance(val, list):
            val = enc(val)
        if isinstance(val, str):
            val = val.encode()
        if isinstance(val, (bytes, bytearray)):
            out += varint(num << 3 | 2) + varint(len(val)) + val
        else:
            out += varint(num << 3 | 0) + varint(int(val))
    return bytes(out)


def str_map(num, d):
    """A map<string,string> field: one entry message per key."""
    return [(num, [(1, k), (2, v)]) for k, v in d.items()]


def dec(buf):
    """Decode to {number: [values]}: ints for varints, bytes otherwise."""
    fields, i = {}, 0

    def rd_varint():
        nonlocal i
        shift = n = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(buf):
        key = rd_varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            val = rd_varint()
        elif wt == 2:
            ln = rd_varint()
            val, i = buf[i:i + ln], i + ln
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        fields.setdefault(num, []).append(val)
    return fields


def one(fields, num, default=None):
    return fields.get(num, [default])[0]


def s(fields, num):
    return one(fields, num, b"").decode()


def signed32(n):
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def decode_map(fields, num):
    out = {}
    for entry in fields.get(num, []):
        e = dec(entry)
        out[s(e, 1)] = s(e, 2)
    return out


def sandbox_config(name, log_dir, cgroup_parent):
    """PodSandboxConfig; the same every time for one name, because
    CreateContainer repeats it."""
    return [
        (1, [(1, name), (2, name + "-uid"), (3, "e2e"), (4, 0)]),  # metadata
        (3, log_dir),
        (8, [  # linux
            (1, cgroup_parent or None),
            (2, [(1, [(1, NODE)])]),  # security_context.namespace_options.network
        ]),
    ]


class Client:
    def __init__(self, sock, timeout):
        self.chan = grpc.insecure_channel("unix://" + sock)
        self.timeout = timeout

    def call(self, path, fields):
        fn = self.chan.unary_unary(path, request_serializer=None, response_deserializer=None)
        return dec(fn(enc(fields), timeout=self.timeout))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sock", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version")
    p = sub.add_parser("pull")
    p.add_argument("image")
    for name in ("runp", "create"):
        p = sub.add_parser(name)
        if name == "create":
            p.add_argument("pod_id")
        p.add_argument("name")
        p.add_argument("--log-dir", required=True)
        p.add_argument("--cgroup-parent", default="")
        if name == "runp":
            p.add_argument("--handler", default="")
        else:
            p.add_argument("--pod-name", required=True)
            p.add_argument("--image", required=True)
            p.add_argument("--log-path", required=True)
            p.add_argument("argv", nargs="+")
    for name in ("start", "status", "rm", "stopp", "rmp", "podstatus"):
        sub.add_parser(name).add_argument("id")
    p = sub.add_parser("stop")
    p.add_argument("id")
    p.add_argument("--timeout", dest="grace", type=int, default=0)
    p = sub.add_parser("exec")
    p.add_argument("id")
    p.add_argument("--timeout", dest="limit", type=int, default=30)
    p.add_argument("argv", nargs="+")
    p = sub.add_parser("update")
    p.add_argument("id")
    p.add_argument("--memory", type=int, default=0)
    p.add_argument("--cpu-shares", type=int, default=0)
    a = ap.parse_args()
    c = Client(a.sock, a.timeout)

    try:
        if a.cmd == "version":
            r = c.call(RUNTIME + "Version", [(1, "v1")])
            print(json.dumps({"runtime_name": s(r, 2), "runtime_version": s(r, 3),
                              "runtime_api_version": s(r, 4)}))
        elif a.cmd == "pull":
            r = c.call(IMAGE + "PullImage", [(1, [(1, a.image)])])
            print(s(r, 1))
        elif a.cmd == "runp":
            r = c.call(RUNTIME + "RunPodSandbox",
                       [(1, sandbox_config(a.name, a.log_dir, a.cgroup_parent)),
                        (2, a.handler or None)])
            print(s(r, 1))
        elif a.cmd == "create":
            config = [
                (1, [(1, a.name), (2, 0)]),  # metadata
                (2, [(1, a.image)]),  # image
                *[(3, x) for x in a.argv[:1]],  # command
                *[(4, x) for x in a.argv[1:]],  # args
                (11, a.log_path),
            ]
            r = c.call(RUNTIME + "CreateContainer",
                       [(1, a.pod_id), (2, config),
                        (3, sandbox_config(a.pod_name, a.log_dir, a.cgroup_parent))])
            print(s(r, 1))
        elif a.cmd == "start":
            c.call(RUNTIME + "StartContainer", [(1, a.id)])
        elif a.cmd == "status":
            r = c.call(RUNTIME + "ContainerStatus", [(1, a.id), (2, True)])
            st = dec(one(r, 1, b""))
            info = decode_map(r, 2)
            extra = json.loads(info.get("info", "{}"))
            print(json.dumps({
                "id": s(st, 1),
                "state": CONTAINER_STATES.get(one(st, 3, 0), "?"),
                "exit_code": signed32(one(st, 7, 0)),
                "reason": s(st, 10),
                "log_path": s(st, 15),
                "pid": extra.get("pid"),
                "runtime_type": extra.get("runtimeType"),
                "runtime_options": extra.get("runtimeOptions"),
            }))
        elif a.cmd == "podstatus":
            r = c.call(RUNTIME + "PodSandboxStatus", [(1, a.id), (2, True)])
            st = dec(one(r, 1, b""))
            extra = json.loads(decode_map(r, 2).get("info", "{}"))
            print(json.dumps({
                "id": s(st, 1),
                "state": {0: "READY", 1: "NOTREADY"}.get(one(st, 3, 0), "?"),
                "runtime_handler": s(st, 9),
                "pid": extra.get("pid"),
            }))
        elif a.cmd == "exec":
            r = c.call(RUNTIME + "ExecSync", [(1, a.id), *[(2, x) for x in a.argv], (3, a.limit)])
            sys.stdout.buffer.write(one(r, 1, b""))
            sys.stderr.buffer.write(one(r, 2, b""))
            sys.exit(signed32(one(r, 3, 0)))
        elif a.cmd == "update":
            res = [(3, a.cpu_shares or None), (4, a.memory or None)]
            c.call(RUNTIME + "UpdateContainerResources", [(1, a.id), (2, res)])
        elif a.cmd == "stop":
            c.call(RUNTIME + "StopContainer", [(1, a.id), (2, a.grace)])
        elif a.cmd == "rm":
            c.call(RUNTIME + "RemoveContainer", [(1, a.id)])
        elif a.cmd == "stopp":
            c.call(RUNTIME + "StopPodSandbox", [(1, a.id)])
        elif a.cmd == "rmp":
            c.call(RUNTIME + "RemovePodSandbox", [(1, a.id)])
    except grpc.RpcError as e:
        print(f"cri.py {a.cmd}: {e.code().name}: {e.details()}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
