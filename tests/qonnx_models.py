#!/usr/bin/python3
"""QONNX test models and checks for tests/70-onnx.bats (python3-onnx only).

  qonnx_models.py make DIR          hand-built QONNX models (each supported op)
                                    and broken ones, written into DIR
  qonnx_models.py check FILE...     onnx.checker.check_model (full check)
  qonnx_models.py eval FILE SEED    logits of one image under ONNX/QONNX
                                    semantics (an independent numpy evaluator)
  qonnx_models.py same A.json B.json  nash-dump -j -d of two streams describe
                                    the same graphs (tensors by name, meta.onnx
                                    ignored)

The image of a seed is the same as tests/unit/test_onnx.c makes it, so the
logits can be compared with that program's "forward" command.
"""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Q = "qonnx.custom_op.general"
rng = np.random.default_rng(3)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def wq_scale(w, bits, axis0=True):
    """Per-output-channel max|W| / (2^(b-1)-1), shaped to broadcast."""
    hi = 2 ** (bits - 1) - 1
    if axis0:
        s = np.abs(w).reshape(w.shape[0], -1).max(axis=1) / hi
        return f32(s.reshape((-1,) + (1,) * (w.ndim - 1)))
    s = np.abs(w).max(axis=0) / hi
    return f32(s.reshape(1, -1))


class Model:
    def __init__(self, name, inp_shape):
        self.nodes, self.inits, self.name = [], [], name
        self.inp = helper.make_tensor_value_info("global_in", TensorProto.FLOAT, inp_shape)
        self.k = 0
        self.const("zero", f32(0))
        for b in (1, 2, 3, 4, 8, 32):
            self.const("bw%d" % b, f32(b))

    def const(self, name, a):
        self.inits.append(init(name, a))
        return name

    def node(self, op, ins, attrs=None, domain=None, name=None, nout=1):
        self.k += 1
        name = name or "%s_%d" % (op, self.k)
        outs = ["%s_out%d" % (name, i) if i else name + "_out" for i in range(nout)]
        kw = dict(attrs or {})
        if domain:
            kw["domain"] = domain
        self.nodes.append(helper.make_node(op, ins, outs, name=name, **kw))
        return outs[0] if nout == 1 else outs

    def quant(self, x, scale, bits, signed=1, narrow=0, mode="ROUND", name=None):
        s = self.const("s%d" % (self.k + 1), f32(scale))
        return self.node("Quant", [x, s, "zero", "bw%d" % bits],
                         {"signed": signed, "narrow": narrow, "rounding_mode": mode}, Q, name)

    def save(self, path, out, out_shape, opset=13, qver=1, extra_opsets=()):
        g = helper.make_graph(self.nodes, self.name, [self.inp],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)], self.inits)
        ops = [helper.make_opsetid("", opset), helper.make_opsetid(Q, qver)] + list(extra_opsets)
        m = helper.make_model(g, opset_imports=ops, producer_name="qonnx_models.py")
        m.ir_version = 7
        onnx.save(m, path)
        return m


def tfc_like(path):
    """Brevitas' TFC export: torch's view() shape subgraph, 2x-1 input
    scaling, MatMul on Transpose(Quant(W)), BatchNorm, HardTanh-style signed
    quantizers, Dropout, Gemm with quantized bias, MatMul on a K x N
    initializer behind a per-column quantizer, TensorNorm-style Mul/Add."""
    m = Model("tfc_like", [1, 1, 28, 28])
    sh = m.node("Shape", ["global_in"])
    i0 = m.node("Constant", [], {"value": init("c0", np.array(0, np.int64))})
    g0 = m.node("Gather", [sh, i0], {"axis": 0})
    ax = m.const("ax0", np.array([0], np.int64))
    u0 = m.node("Unsqueeze", [g0, ax])
    mone = m.const("minus1", np.array([-1], np.int64))
    cat = m.node("Concat", [u0, mone], {"axis": 0})
    flat = m.node("Reshape", ["global_in", cat], name="flatten")
    two = m.node("Constant", [], {"value_float": 2.0})
    x = m.node("Mul", [flat, two])
    x = m.node("Sub", [x, m.const("one", f32(1))])
    x = m.quant(x, 1.0 / 127, 8, signed=1, narrow=1, name="inq")
    w0 = f32(rng.normal(0, 0.05, (32, 784)))
    wq = m.node("Quant", [m.const("fc0.w", w0), m.const("fc0.ws", wq_scale(w0, 2)), "zero", "bw2"],
                {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "fc0.wq")
    wt = m.node("Transpose", [wq], {"perm": [1, 0]})
    x = m.node("MatMul", [x, wt], name="fc0")
    bn = [m.const("bn0.%s" % k, f32(v)) for k, v in
          (("g", rng.uniform(0.5, 1.5, 32)), ("b", rng.normal(0, 0.1, 32)),
           ("m", rng.normal(0, 0.1, 32)), ("v", rng.uniform(0.5, 1.5, 32)))]
    x = m.node("BatchNormalization", [x] + bn, {"epsilon": 1e-4}, name="bn0")
    x = m.quant(x, 1.0, 2, signed=1, narrow=1, name="act0")
    x = m.node("Dropout", [x])
    w1 = f32(rng.normal(0, 0.1, (24, 32)))
    b1 = f32(rng.normal(0, 0.1, 24))
    ws1 = wq_scale(w1, 4)
    wq1 = m.node("Quant", [m.const("fc1.w", w1), m.const("fc1.ws", ws1), "zero", "bw4"],
                 {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "fc1.wq")
    bq1 = m.node("Quant", [m.const("fc1.b", b1), m.const("fc1.bs", f32(ws1.reshape(-1) * 1.0)), "zero", "bw32"],
                 {"signed": 1, "narrow": 0, "rounding_mode": "ROUND"}, Q, "fc1.bq")
    x = m.node("Gemm", [x, wq1, bq1], {"transB": 1}, name="fc1")
    x = m.node("Identity", [x])
    x = m.quant(x, 0.25, 4, signed=1, narrow=0, name="act1")
    w2 = f32(rng.normal(0, 0.2, (24, 10)))  # K x N, as after FINN's GemmToMatMul
    wq2 = m.node("Quant", [m.const("fc2.w", w2), m.const("fc2.ws", wq_scale(w2, 8, axis0=False)), "zero", "bw8"],
                 {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "fc2.wq")
    x = m.node("MatMul", [x, wq2], name="fc2")
    x = m.node("Mul", [x, m.const("tn.scale", f32(rng.uniform(0.5, 2, 10)))], name="tn_mul")
    x = m.node("Div", [x, m.const("tn.div", f32(2.0))], name="tn_div")
    x = m.node("Add", [x, m.const("tn.bias", f32(rng.normal(0, 0.1, 10)))], name="tn_add")
    return m.save(path, x, [1, 10])


def cnv_like(path):
    """CNV-style: Conv with per-channel weight quantizers and a bias,
    BatchNorm, Relu, per-channel activation scales of shape 1xCx1x1,
    MaxPool, auto_pad SAME_UPPER, Clip(0, 6), BipolarQuant weights,
    AveragePool, Flatten, Gemm with transB = 0."""
    m = Model("cnv_like", [1, 3, 16, 16])
    x = m.quant("global_in", 1.0 / 255, 8, signed=0, name="inq")
    w0 = f32(rng.normal(0, 0.3, (8, 3, 3, 3)))
    wq0 = m.node("Quant", [m.const("c0.w", w0), m.const("c0.ws", wq_scale(w0, 4)), "zero", "bw4"],
                 {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "c0.wq")
    x = m.node("Conv", [x, wq0, m.const("c0.b", f32(rng.normal(0, 0.1, 8)))],
               {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, name="c0")
    bn = [m.const("bn0.%s" % k, f32(v)) for k, v in
          (("g", rng.uniform(0.5, 1.5, 8)), ("b", rng.normal(0, 0.1, 8)),
           ("m", rng.normal(0, 0.1, 8)), ("v", rng.uniform(0.5, 1.5, 8)))]
    x = m.node("BatchNormalization", [x] + bn, name="bn0")
    x = m.node("Relu", [x], name="relu0")
    x = m.quant(x, f32(rng.uniform(0.1, 0.3, (1, 8, 1, 1))), 3, signed=0, name="act0")
    x = m.node("MaxPool", [x], {"kernel_shape": [2, 2], "strides": [2, 2]}, name="pool0")
    w1 = f32(rng.normal(0, 0.3, (8, 8, 3, 3)))
    wq1 = m.node("BipolarQuant", [m.const("c1.w", w1),
                                  m.const("c1.ws", f32(np.abs(w1.astype(np.float64)).reshape(8, -1).mean(1).reshape(8, 1, 1, 1)))],
                 {}, Q, "c1.wq")
    x = m.node("Conv", [x, wq1], {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, name="c1")
    x = m.node("Clip", [x, m.const("lo", f32(0)), m.const("hi", f32(6))], name="clip0")
    x = m.quant(x, 6.0 / 15, 4, signed=0, name="act1")
    x = m.node("AveragePool", [x], {"kernel_shape": [2, 2], "strides": [2, 2]}, name="apool")
    x = m.node("Flatten", [x], {"axis": 1}, name="flat")
    w2 = f32(rng.normal(0, 0.3, (32, 10)))
    x = m.node("Gemm", [x, m.const("fc.w", w2), m.const("fc.b", f32(rng.normal(0, 0.1, 10)))],
               {"transB": 0}, name="fc")
    return m.save(path, x, [1, 10])


def resnet_like(path):
    """ResNet-style: a residual join whose two inputs have quantizers of
    equal scale (separate initializers), a stride-2 shortcut by Slice, Pad
    and Concat, GlobalAveragePool, Mul by the window and Trunc, Squeeze,
    a Cast in a constant subgraph, and opset 11's Squeeze attribute."""
    m = Model("resnet_like", [1, 2, 8, 8])
    x = m.quant("global_in", 1.0 / 255, 8, signed=0, name="inq")
    w0 = f32(rng.normal(0, 0.4, (4, 2, 3, 3)))
    wq0 = m.node("Quant", [m.const("c0.w", w0), m.const("c0.ws", wq_scale(w0, 4)), "zero", "bw4"],
                 {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "c0.wq")
    x = m.node("Conv", [x, wq0], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, name="c0")
    x = m.node("Relu", [x], name="r0")
    x = m.quant(x, 0.1, 4, signed=0, name="a0")
    # main branch: conv stride 2 to 8 channels
    w1 = f32(rng.normal(0, 0.3, (8, 4, 3, 3)))
    wq1 = m.node("Quant", [m.const("c1.w", w1), m.const("c1.ws", wq_scale(w1, 4)), "zero", "bw4"],
                 {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "c1.wq")
    y = m.node("Conv", [x, wq1], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}, name="c1")
    y = m.quant(y, 0.08, 8, signed=1, narrow=1, name="add.qa")
    # shortcut: x and x shifted by one pixel, subsampled, concatenated
    sl = m.node("Slice", [x, m.const("st", np.array([1, 1], np.int64)),
                          m.const("en", np.array([2 ** 62, 2 ** 62], np.int64)),
                          m.const("ax", np.array([2, 3], np.int64))], name="shift")
    pd = m.node("Pad", [sl, m.const("pads", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))], name="pad")
    a = m.node("MaxPool", [x], {"kernel_shape": [1, 1], "strides": [2, 2]}, name="sub_a")
    b = m.node("MaxPool", [pd], {"kernel_shape": [1, 1], "strides": [2, 2]}, name="sub_b")
    sc = m.node("Concat", [a, b], {"axis": -3}, name="cat")
    sc = m.quant(sc, 0.08, 8, signed=1, narrow=1, name="add.qb")
    x = m.node("Add", [y, sc], name="add")
    x = m.node("Relu", [x], name="r1")
    x = m.quant(x, 0.1, 4, signed=0, name="a1")
    x = m.node("GlobalAveragePool", [x], name="gap")
    x = m.node("Mul", [x, m.const("win", f32(16))], name="gap.sum")
    x = m.node("Trunc", [x, m.nodes[-6].input[1], "zero", m.const("inb", f32(8)), "bw4"],
               {"rounding_mode": "FLOOR"}, Q, "trunc")
    x = m.node("Squeeze", [x, m.const("sq", np.array([2, 3], np.int64))], name="squeeze")
    w2 = f32(rng.normal(0, 0.3, (10, 8)))
    c64 = m.node("Constant", [], {"value": init("c64", np.array([10.0], np.float64))})
    c = m.node("Cast", [c64], {"to": TensorProto.INT64})
    _ = c
    x = m.node("Gemm", [x, m.const("fc.w", w2)], {"transB": 1, "alpha": 0.5}, name="fc")
    return m.save(path, x, [1, 10])


def trunc_v2(path):
    """Newer Brevitas' quantized average pool: Trunc of QONNX opset 2, with
    an output scale (the input scale times 2^4) and an output range."""
    m = Model("trunc_v2", [1, 3, 4, 4])
    x = m.quant("global_in", 1.0 / 255, 8, signed=0, name="inq")
    w0 = f32(rng.normal(0, 0.4, (6, 3, 1, 1)))
    wq0 = m.node("Quant", [m.const("c0.w", w0), m.const("c0.ws", wq_scale(w0, 4)), "zero", "bw4"],
                 {"signed": 1, "narrow": 1, "rounding_mode": "ROUND"}, Q, "c0.wq")
    x = m.node("Conv", [x, wq0], {"kernel_shape": [1, 1]}, name="c0")
    x = m.node("Relu", [x], name="r0")
    x = m.quant(x, 0.05, 3, signed=0, name="a0")
    x = m.node("GlobalAveragePool", [x], name="gap")
    x = m.node("Mul", [x, m.const("win", f32(16))], name="gap.sum")
    x = m.node("Trunc", [x, m.nodes[-3].input[1], "zero", m.const("inb", f32(7)), m.const("os", f32(0.05 * 16)), "bw4"],
               {"rounding_mode": "FLOOR", "signed": 0, "narrow": 0}, Q, "trunc")
    x = m.node("Flatten", [x], {"axis": 1}, name="flat")
    w1 = f32(rng.normal(0, 0.3, (10, 6)))
    x = m.node("Gemm", [x, m.const("fc.w", w1)], {"transB": 1}, name="fc")
    return m.save(path, x, [1, 10], qver=2)


def broken(d):
    """Models nash-onnx must refuse with one line naming file and node."""
    m = Model("unsupported", [1, 4])
    x = m.quant("global_in", 0.5, 4, name="q")
    x = m.node("Softmax", [x], {"axis": 1}, name="softmax0")
    m.save(d + "/unsupported_op.onnx", x, [1, 4])

    m = Model("missing", [1, 4])
    x = m.node("Quant", ["global_in", "no_such_scale", "zero", "bw4"],
               {"signed": 1, "narrow": 0, "rounding_mode": "ROUND"}, Q, "q0")
    g = helper.make_graph(m.nodes, "missing", [m.inp],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4])], m.inits)
    mm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(Q, 1)])
    mm.ir_version = 7
    open(d + "/missing_init.onnx", "wb").write(mm.SerializeToString())  # onnx.save would not check either

    m = Model("old", [1, 4])
    x = m.node("Relu", ["global_in"], name="relu")
    m.save(d + "/opset5.onnx", x, [1, 4], opset=5)

    m = Model("lstm", [1, 4])
    x = m.quant("global_in", 0.5, 4, name="q")
    x = m.node("Foo", [x], {}, "com.example", name="foo0")
    m.save(d + "/custom_domain.onnx", x, [1, 4], extra_opsets=[helper.make_opsetid("com.example", 1)])

    m = Model("ext", [1, 4])
    w = init("w", f32(np.ones((4, 4))))
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    e = w.external_data.add()
    e.key, e.value = "location", "weights.bin"
    m.inits.append(w)
    x = m.node("Gemm", ["global_in", "w"], {"transB": 1}, name="fc")
    g = helper.make_graph(m.nodes, "ext", [m.inp], [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4])],
                          m.inits)
    mm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    mm.ir_version = 7
    open(d + "/external.onnx", "wb").write(mm.SerializeToString())


# ------------------------------------------------------------- evaluator

def image(shape, seed):
    """Pixel k of the image of a seed: ((k * 37 + seed * 101) mod 256) / 255,
    as tests/unit/test_onnx.c makes it."""
    n = int(np.prod(shape))
    k = np.arange(n, dtype=np.int64)
    return (((k * 37 + seed * 101) % 256).astype(np.float32) / np.float32(255)).reshape(shape)


def qrange(bits, signed, narrow):
    if signed:
        return -(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1 - narrow


def rnd(x, mode):
    return {"ROUND": np.round, "FLOOR": np.floor, "CEIL": np.ceil}[mode.upper()](x)


def attrs(n):
    return {a.name: helper.get_attribute_value(a) for a in n.attribute}


def conv2d(x, w, b, strides, pads, group=1, dil=(1, 1)):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // strides[1] + 1
    out = np.zeros((n, m, oh, ow))
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg].astype(np.float64)
        ws = w[g * (m // group):(g + 1) * (m // group)].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dil[0]:i * dil[0] + strides[0] * oh:strides[0],
                           j * dil[1]:j * dil[1] + strides[1] * ow:strides[1]]
                out[:, g * (m // group):(g + 1) * (m // group)] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def pool(x, k, s, p, kind, count_pad=0, ceil_mode=0):
    n, c, h, w = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=fill)
    ones = np.pad(np.ones((h, w)), ((p[0], p[2]), (p[1], p[3])))
    oh = (h + p[0] + p[2] - k[0]) // s[0] + 1
    ow = (w + p[1] + p[3] - k[1]) // s[1] + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                cnt = k[0] * k[1] if count_pad else ones[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].sum()
                out[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return out


def auto_pads(n, a, x, k):
    ap = a.get("auto_pad", b"NOTSET")
    ap = ap.decode() if isinstance(ap, bytes) else ap
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        st = a.get("strides", [1, 1])
        p = [0, 0, 0, 0]
        for i in range(2):
            ln = x.shape[2 + i]
            o = -(-ln // st[i])
            tot = max((o - 1) * st[i] + k[i] - ln, 0)
            lo = tot // 2 if ap == "SAME_UPPER" else tot - tot // 2
            p[i], p[i + 2] = lo, tot - lo
        return p
    return list(a.get("pads", [0, 0, 0, 0]))


def evaluate(model, x):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for n in model.graph.node:
        a = attrs(n)
        i = [env[k] if k else None for k in n.input]
        op = n.op_type
        if op in ("Quant", "IntQuant"):
            # float32 throughout, as QONNX's numpy reference computes on
            # float32 initializers (and Brevitas in torch)
            lo, hi = qrange(int(i[3]), a.get("signed", 1), a.get("narrow", 0))
            s, z = f32(i[1]), f32(i[2])
            y = f32(i[0]) / s + z
            mode = a.get("rounding_mode", b"ROUND")
            y = rnd(np.clip(y, f32(lo), f32(hi)), mode.decode() if isinstance(mode, bytes) else mode)
            r = (y - z) * s
        elif op == "BipolarQuant":
            s = f32(i[1])
            r = np.where(i[0] >= 0, s, -s)
        elif op == "Trunc" and len(i) == 6:  # QONNX opset 2: an output scale
            s, z, os_ = f32(i[1]), f32(i[2]), f32(i[4])
            mode = a.get("rounding_mode", b"FLOOR")
            ts = f32(2.0 ** np.round(np.log2(os_ / s)))
            y = np.round(f32(i[0]) / s + z) / ts
            lo, hi = qrange(int(i[5]), a.get("signed", 1), a.get("narrow", 0))
            y = rnd(np.clip(y, f32(lo), f32(hi)), mode.decode() if isinstance(mode, bytes) else mode)
            r = (y - z / ts) * os_
        elif op == "Trunc":
            s, z = f32(i[1]), f32(i[2])
            mode = a.get("rounding_mode", b"FLOOR")
            y = np.round(f32(i[0]) / s + z)
            y = rnd(y / f32(2.0 ** (float(i[3]) - float(i[4]))), mode.decode() if isinstance(mode, bytes) else mode)
            r = (y - z) * s
        elif op == "Conv":
            w = i[1]
            k = a.get("kernel_shape", list(w.shape[2:]))
            r = conv2d(i[0], w, i[2] if len(i) > 2 else None, a.get("strides", [1, 1]), auto_pads(n, a, i[0], k),
                       a.get("group", 1), a.get("dilations", [1, 1]))
        elif op == "BatchNormalization":
            sh = (1, -1) + (1,) * (i[0].ndim - 2)
            xx = np.asarray(i[0], np.float64)
            r = (xx - i[3].reshape(sh)) / np.sqrt(i[4].reshape(sh).astype(np.float64) + a.get("epsilon", 1e-5)) \
                * i[1].reshape(sh) + i[2].reshape(sh)
        elif op == "Relu":
            r = np.maximum(i[0], 0)
        elif op == "Clip":
            r = np.clip(i[0], i[1] if len(i) > 1 and i[1] is not None else -np.inf,
                        i[2] if len(i) > 2 and i[2] is not None else np.inf)
        elif op in ("MaxPool", "AveragePool"):
            k = a["kernel_shape"]
            r = pool(i[0], k, a.get("strides", [1, 1]), auto_pads(n, a, i[0], k), "max" if op == "MaxPool" else "avg",
                     a.get("count_include_pad", 0))
        elif op == "GlobalAveragePool":
            r = np.asarray(i[0], np.float64).sum(axis=(2, 3), keepdims=True) / (i[0].shape[2] * i[0].shape[3])
        elif op in ("Add", "Sub", "Mul", "Div"):
            u, v = np.asarray(i[0]), np.asarray(i[1])
            fl = u.dtype.kind == "f" or v.dtype.kind == "f"
            if fl:
                u, v = u.astype(np.float32), v.astype(np.float32)
            r = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
                 "Div": np.divide if fl else np.floor_divide}[op](u, v)
        elif op == "Gemm":
            A = np.asarray(i[0], np.float64)
            B = np.asarray(i[1], np.float64)
            if a.get("transB", 0):
                B = B.T
            r = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                r = r + a.get("beta", 1.0) * i[2]
        elif op == "MatMul":
            r = np.asarray(i[0], np.float64) @ np.asarray(i[1], np.float64)
        elif op in ("Identity", "Dropout"):
            r = i[0]
        elif op == "Flatten":
            r = i[0].reshape(i[0].shape[0], -1)
        elif op == "Reshape":
            sh = [i[0].shape[k] if v == 0 else v for k, v in enumerate(i[1])]
            r = i[0].reshape(sh)
        elif op == "Squeeze":
            r = np.squeeze(i[0], axis=tuple(i[1]) if len(i) > 1 else tuple(a["axes"]))
        elif op == "Unsqueeze":
            r = i[0]
            for ax in sorted(i[1] if len(i) > 1 else a["axes"]):
                r = np.expand_dims(r, ax)
        elif op == "Concat":
            r = np.concatenate(i, axis=a["axis"])
        elif op == "Shape":
            r = np.array(i[0].shape, np.int64)
        elif op == "Gather":
            r = np.take(i[0], i[1], axis=a.get("axis", 0))
        elif op == "Constant":
            r = numpy_helper.to_array(a["value"]) if "value" in a else np.array(a["value_float"], np.float32)
        elif op == "Cast":
            r = i[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])
        elif op == "Transpose":
            r = np.transpose(i[0], a.get("perm"))
        elif op == "Slice":
            r = i[0]
            axes = i[3] if len(i) > 3 else range(len(i[1]))
            steps = i[4] if len(i) > 4 else [1] * len(i[1])
            sl = [slice(None)] * r.ndim
            for s0, e0, ax, sp in zip(i[1], i[2], axes, steps):
                sl[ax] = slice(int(s0), int(min(e0, 2 ** 31)), int(sp))
            r = r[tuple(sl)]
        elif op == "Pad":
            p = i[1]
            h = len(p) // 2
            r = np.pad(i[0], [(p[k], p[k + h]) for k in range(h)],
                       constant_values=float(i[2]) if len(i) > 2 and i[2] is not None else 0.0)
        else:
            raise SystemExit("eval: op %s not in the evaluator" % op)
        r = np.asarray(r)
        env[n.output[0]] = r.astype(np.float32) if r.dtype.kind == "f" else r
    return env[model.graph.output[0].name]


# ----------------------------------------------------------------- same

def same(a_path, b_path):
    a, b = json.load(open(a_path)), json.load(open(b_path))
    if len(a) != len(b):
        raise SystemExit("%d graphs and %d" % (len(a), len(b)))
    for ga, gb in zip(a, b):
        for g in (ga, gb):
            g.get("meta", {}).pop("onnx", None)
            g.pop("summary", None)
        ta, tb = ga.pop("tensors", {}), gb.pop("tensors", {})
        if ga != gb:
            for k in ga:
                if ga[k] != gb.get(k):
                    raise SystemExit("graph %s: %s differs" % (ga.get("name"), k))
            raise SystemExit("graph %s: keys differ" % ga.get("name"))
        if ta != tb:
            raise SystemExit("graph %s: tensors differ: %s" % (ga.get("name"),
                             sorted(k for k in set(ta) | set(tb) if ta.get(k) != tb.get(k))[:5]))
    print("same %d graphs" % len(a))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "make":
        d = sys.argv[2]
        tfc_like(d + "/tfc_like.onnx")
        cnv_like(d + "/cnv_like.onnx")
        resnet_like(d + "/resnet_like.onnx")
        trunc_v2(d + "/trunc_v2.onnx")
        broken(d)
    elif cmd == "check":
        for f in sys.argv[2:]:
            m = onnx.load(f)
            onnx.checker.check_model(m, full_check=True)
            print("%s: ok (%d nodes, opsets %s)" % (f, len(m.graph.node),
                  ",".join("%s:%d" % (o.domain or "ai.onnx", o.version) for o in m.opset_import)))
    elif cmd == "eval":
        m = onnx.load(sys.argv[2])
        dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        y = evaluate(m, image(dims, int(sys.argv[3])))
        for v in np.asarray(y).reshape(-1):
            print("%.9g" % v)
    elif cmd == "same":
        same(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
