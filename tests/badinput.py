#!/usr/bin/python3
"""badinput.py CASE < good.nash > bad.nash
   badinput.py --onnx CASE < good.onnx > bad.onnx

Makes the broken inputs of the bad-input matrix (tests/95-badinput.bats)
from a good stream, reproducibly:

  empty          no bytes at all
  truncated      the first record cut in the middle
  random         4 KiB of seeded random bytes
  newer          the first record claims format version 99
  missing        a parameter tensor a node reads is removed
  shape          a weight tensor one row longer than its node expects
  nan            a NaN in the first float parameter (or an integer weight
                 turned into float32 holding a NaN)
  unknown-kind   a record of a kind no tool knows, then the good stream

With --onnx the same cases break a QONNX model for nash-onnx import
(python3-onnx): newer claims opset 99, missing drops the first
initializer, shape adds an output channel to the first float weight, nan
puts a NaN in the first float initializer, unknown-kind renames the second
node's op to one nobody knows.
"""
import random
import struct
import sys

import msgpack


def records(data):
    u = msgpack.Unpacker(raw=False, strict_map_key=False)
    u.feed(data)
    return list(u)


def params(g):
    """(node, input index, tensor name) for every input that has data."""
    t = g.get("tensors", {})
    for n in g.get("nodes", []):
        for i, name in enumerate(n.get("in", [])):
            if name in t and t[name].get("data") is not None:
                yield n, i, name


def weights(g):
    """Weight tensors with data of Conv/Gemm/MVAU nodes, also when a
    quantizer sits between the float weight and its consumer."""
    t = g.get("tensors", {})
    prod = {o: n for n in g.get("nodes", []) for o in n.get("out", [])}
    for n in g.get("nodes", []):
        if n["op"] not in ("Conv", "Gemm", "MVAU") or len(n.get("in", [])) < 2:
            continue
        name = n["in"][1]
        if name not in t and name in prod and prod[name]["op"].endswith("Quant"):
            name = prod[name]["in"][0]
        if name in t and t[name].get("data") is not None:
            yield name


SIZES = {"float32": 4, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8}


def onnx_case(case):
    import copy

    import numpy as np
    import onnx
    from onnx import numpy_helper

    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    if case == "empty":
        return
    if case == "truncated":
        out.write(data[: len(data) // 2])
        return
    if case == "random":
        r = random.Random(12345)
        out.write(bytes(r.getrandbits(8) for _ in range(4096)))
        return
    m = onnx.ModelProto()
    m.ParseFromString(data)
    g = m.graph
    if case == "newer":
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = 99
    elif case == "missing":
        del g.initializer[0]
    elif case in ("shape", "nan"):
        for i, t in enumerate(g.initializer):
            a = numpy_helper.to_array(t).copy()
            if case == "shape" and a.ndim >= 2 and a.dtype == np.float32:
                a = np.concatenate([a, a[:1]], 0)
            elif case == "nan" and a.dtype == np.float32 and a.size > 1:
                a.flat[0] = np.nan
            else:
                continue
            g.initializer[i].CopyFrom(numpy_helper.from_array(a, t.name))
            break
    elif case == "unknown-kind":
        g.node[1].op_type = "NoSuchOp"
    else:
        sys.exit("badinput.py: unknown case " + case)
    out.write(m.SerializeToString())


def main():
    if sys.argv[1] == "--onnx":
        return onnx_case(sys.argv[2])
    case = sys.argv[1]
    out = sys.stdout.buffer
    if case == "empty":
        return
    data = sys.stdin.buffer.read()
    if case == "random":
        r = random.Random(12345)
        out.write(bytes(r.getrandbits(8) for _ in range(4096)))
        return
    if case == "truncated":
        first = msgpack.packb(records(data)[0], use_bin_type=True)
        out.write(first[: len(first) // 2])
        return
    if case == "unknown-kind":
        out.write(msgpack.packb({"nash": 1, "kind": "lab-notebook", "text": "kept"}, use_bin_type=True))
        out.write(data)
        return
    recs = records(data)
    g = recs[0]
    if case == "newer":
        g["nash"] = 99
    elif case == "missing":
        _, _, name = next(params(g))
        del g["tensors"][name]
    elif case == "shape":
        for name in weights(g):
            t = g["tensors"][name]
            if t.get("shape"):
                row = len(t["data"]) // t["shape"][0]
                t["shape"][0] += 1
                t["data"] = bytes(t["data"]) + bytes(row)
                break
        else:
            sys.exit("badinput.py: no weight tensor to reshape")
    elif case == "nan":
        for _, _, name in params(g):
            t = g["tensors"][name]
            if t.get("dtype") == "float32":
                t["data"] = struct.pack("<f", float("nan")) + bytes(t["data"])[4:]
                break
        else:
            _, _, name = next(params(g))
            t = g["tensors"][name]
            n = len(t["data"]) // SIZES[t["dtype"]]
            t["dtype"] = "float32"
            t["data"] = struct.pack("<f", float("nan")) * n
    else:
        sys.exit("badinput.py: unknown case " + case)
    for r in recs:
        out.write(msgpack.packb(r, use_bin_type=True))


if __name__ == "__main__":
    main()
