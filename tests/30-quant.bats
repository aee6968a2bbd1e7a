#!/usr/bin/env bats
# nash-quant: quantizers inserted into nash-gen graphs, checked through
# nash-dump --json; presets, overrides, the integer export, every error.
load helpers

GT18='c3@0,sk@1,-,mp@2/c1@0,-,sk@0,c5@3/-,-,-,-/c5@0,c5@1,c5@2,c5@3'

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	nash-gen tfc >tfc.nash
	nash-gen cnv --input 1x28x28 >cnv.nash
	nash-gen resnet18 --input 1x28x28 --width 8 >r18.nash
	nash-gen resnet18 --input 1x28x28 --width 8 --nash v1 --genotype "$GT18" >g18.nash
	nash-gen resnet34 --input 1x28x28 --width 8 >r34.nash
	# check.py GRAPHS.json EXPR: evaluate EXPR with the first graph as g and
	# helpers; print the value (assert with "assert" statements in EXPR)
	cat >check.py <<'EOF'
import json, sys
import numpy as np
gs = json.load(open(sys.argv[1]))
g = gs[0]
nodes = g["nodes"]
T = g["tensors"]
prod = {o: n for n in nodes for o in n["out"]}
def node(name): return next(n for n in nodes if n["name"] == name)
def ops(op): return [n for n in nodes if n["op"] == op]
def val(t): return T[t]["data"][0] if isinstance(T[t]["data"], list) else T[t]["data"]["min"]
def bits(q): return int(val(q["in"][3])) if q["op"] == "Quant" else 1
def wq(layer): return prod[node(layer)["in"][1]]
def wdt(layer): return T[wq(layer)["attr"]["int_tensor"]]["datatype"]
def quants(target): return [n for n in nodes if n["op"] in ("Quant", "BipolarQuant") and n["attr"].get("target") == target]
exec(sys.argv[2])
EOF
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

check() { # FILE PYTHON (tensor data summarised: min/max/mean; a scalar's min is its value)
	nash-dump --json "$1" >"$1.json"
	/usr/bin/python3 check.py "$1.json" "$2"
}

check_data() { # FILE PYTHON, with every tensor's data
	nash-dump --json --data "$1" >"$1.json"
	/usr/bin/python3 check.py "$1.json" "$2"
}

@test "tfc w2a2: input, weight and activation quantizers, 2-bit first and last layers as in BNN-PYNQ" {
	nash-quant --preset w2a2 <tfc.nash >q.nash
	run nash-dump q.nash
	assert_output --regexp '^tfc-w2a2	nodes=19	'
	check q.nash '
assert len(ops("Quant")) == 8 and not ops("BipolarQuant")
assert [wdt(l) for l in ("fc0", "fc1", "fc2", "fc3")] == ["INT2"] * 4
assert all(T[wq(l)["attr"]["int_tensor"]]["dtype"] == "int8" for l in ("fc0", "fc3"))
assert T[wq("fc1")["in"][1]]["shape"] == [64, 1] and T[wq("fc3")["in"][1]]["shape"] == []
for a in quants("act"):
    assert a["attr"]["signed"] == 1 and a["attr"]["narrow"] == 1 and a["attr"]["scale_mode"] == "learned"
    assert prod[a["in"][0]]["op"] == "HardTanh" and abs(val(a["in"][1]) - 1.0) < 1e-7
i = quants("input")[0]
assert i["in"][0] == "input" and abs(val(i["in"][1]) - 1 / 255) < 1e-9 and bits(i) == 8 and i["attr"]["signed"] == 0
assert node("flatten")["in"][0] == i["out"][0]
'
}

@test "resnet18 w2a2: 8-bit first and last layers, 2-bit backbone, one adder scale per stage, quantized pool" {
	nash-quant --preset w2a2 <r18.nash >q.nash
	check q.nash '
m = g["meta"]["quant"]
assert m["preset"] == "w2a2" and m["weights"]["stem.conv"] == "INT8" and m["weights"]["head.fc"] == "INT8"
assert m["weights"]["layer2.0.downsample.conv"] == "INT8"
assert {v for k, v in m["weights"].items() if k.startswith("layer") and "downsample" not in k} == {"INT2"}
assert wdt("layer3.1.conv2") == "INT2" and wdt("stem.conv") == "INT8"
assert T[wq("head.fc")["in"][1]]["shape"] == [], "classifier scale is per tensor"
assert T[wq("layer1.0.conv1")["in"][1]]["shape"] == [8, 1, 1, 1]
adds = ops("Add")
assert len(adds) == 8
scales = set()
for a in adds:
    qa, qb = prod[a["in"][0]], prod[a["in"][1]]
    assert qa["attr"]["target"] == qb["attr"]["target"] == "adder"
    assert qa["in"][1] == qb["in"][1] == "cell%d.adder.scale" % a["attr"]["cell"]
    assert bits(qa) == 8 and qa["attr"]["narrow"] == 1 and qa["attr"]["signed"] == 1
    scales.add(qa["in"][1])
assert scales == {"cell%d.adder.scale" % c for c in range(4)}
assert abs(val("cell2.adder.scale") - 10 / 127) < 1e-7
for r in ops("Relu"):
    q = [n for n in nodes if r["out"][0] in n["in"]]
    assert len(q) == 1 and q[0]["op"] == "Quant" and q[0]["attr"]["target"] == "act" and bits(q[0]) == 2
    # range 1.5 (2 bits) times sqrt(terms summed): 2 after a residual Add, else 1
    k = 2 if prod[r["in"][0]]["op"] == "Add" else 1
    assert q[0]["attr"]["signed"] == 0 and abs(val(q[0]["in"][1]) - 1.5 * k ** 0.5 / 3) < 1e-7
tr = prod[node("head.flatten")["in"][0]]
# 16 two-bit values need 6 bits; automatic output 3 bits: the sum / 8, at most twice the average
assert tr["op"] == "Trunc" and val(tr["in"][3]) == 6 and val(tr["in"][4]) == 3 and tr["attr"]["rounding_mode"] == "FLOOR"
assert m["bits"]["pool"] == "auto" and m["pools"]["head.pool"] == "UINT3"
assert prod[tr["in"][0]]["op"] == "Mul" and val(prod[tr["in"][0]]["in"][1]) == 16
assert tr["in"][1] == prod[node("head.pool")["in"][0]]["in"][1]
b = prod[node("head.fc")["in"][2]]
assert b["attr"]["target"] == "bias" and b["attr"]["scale_mode"] == "product" and bits(b) == 32
assert b["attr"]["scale_from"] == [tr["in"][1], wq("head.fc")["in"][1]]
assert T[b["attr"]["int_tensor"]]["datatype"] == "INT32"
c = m["counts"]
assert (c["weights"], c["acts"], c["adders"], c["adder_scales"], c["biases"], c["pools"], c["inputs"]) == (21, 17, 16, 4, 1, 1, 1)
'
}

@test "nash-v1, v3, v4 on a NASH network: the reference code's per-version bits" {
	nash-quant --preset nash-v1 <g18.nash >v1.nash
	check v1.nash '
assert wdt("layer1.0.conv1") == "INT8" and wdt("cell0.n0.e0.conv_3x3.conv") == "BIPOLAR"
assert wdt("cell1.n2.e0.skip_connect.conv_a") == "INT4" and wdt("layer2.0.downsample.conv") == "INT8"
assert wq("cell3.n0.e0.conv_5x5.conv")["op"] == "BipolarQuant"
assert not any(n["name"].endswith(".aq_nas") for n in nodes), "v1: NAS inputs have the backbone bits"
tr = prod[node("head.flatten")["in"][0]]
assert val(tr["in"][4]) == 4
'
	nash-quant --preset nash-v3 <g18.nash >v3.nash
	check v3.nash '
assert wdt("layer1.0.conv1") == "INT4" and wdt("cell0.n0.e0.conv_3x3.conv") == "BIPOLAR" and wdt("stem.conv") == "INT8"
mp = node("cell0.n3.e2.max_pool_3x3.pool")
qn = prod[mp["in"][0]]
# layer1.0.relu2 sums 3 terms (conv, residual, skip_connect): ranges 10 and 4 times sqrt(3)
assert qn["name"] == "layer1.0.relu2.aq_nas" and bits(qn) == 8 and abs(val(qn["in"][1]) - 10 * 3 ** 0.5 / 255) < 1e-7
qb = prod[node("layer1.1.conv1")["in"][0]]
assert qb["name"] == "layer1.0.relu2.aq" and bits(qb) == 4 and abs(val(qb["in"][1]) - 4 * 3 ** 0.5 / 15) < 1e-7
'
	nash-quant --preset nash-v4 <g18.nash >v4.nash
	check v4.nash '
assert wdt("layer1.0.conv1") == "BIPOLAR" and wdt("cell0.n0.e0.conv_3x3.conv") == "INT8"
assert {v for k, v in g["meta"]["quant"]["acts"].items()} == {"UINT8"}
'
}

@test "resnet34 with a nash preset: the reference code's 2-bit ResNet34 setting" {
	nash-quant --preset nash-v2 <r34.nash >q.nash
	check q.nash '
m = g["meta"]["quant"]
assert m["bits"]["weights"] == 2 and m["bits"]["acts"] == 2 and m["bits"]["nas"] == 1 and m["bits"]["nas_acts"] == 8
assert wdt("layer3.5.conv2") == "INT2" and wdt("stem.conv") == "INT8" and wdt("head.fc") == "INT8"
assert m["counts"]["adder_scales"] == 6
'
}

@test "cnv w1a1: binary weights in every layer, bipolar activations" {
	nash-quant --preset w1a1 <cnv.nash >q.nash
	check q.nash '
assert len([n for n in ops("BipolarQuant") if n["attr"]["target"] == "weight"]) == 9
acts = [n for n in ops("BipolarQuant") if n["attr"]["target"] == "act"]
assert len(acts) == 8 and all(a["attr"]["scale_mode"] == "const" and val(a["in"][1]) == 1 for a in acts)
assert wdt("conv0") == "BIPOLAR" and wdt("fc2") == "BIPOLAR"
assert len(ops("Quant")) == 1
'
}

@test "bit options override the preset; the graph name says so" {
	nash-quant --preset w2a2 -w 3 -a 5 --first-bits 6 --last-bits 7 --down-bits 4 --nas-bits 1 \
		--adder-bits 10 --pool-bits 6 <g18.nash >q.nash
	run nash-dump --meta quant.bits q.nash
	assert_output --partial '"weights":3,"acts":5,"first":6,"last":7,"downsample":4,"nas":1,"skip":1,"nas_acts":5,"adder":10,"pool":6,"input":8'
	run nash-dump q.nash
	assert_output --regexp '^resnet18-nash-v1-w8-g[0-9a-f]+-w3a5	'
	check q.nash '
assert wdt("layer1.0.conv1") == "INT3" and wdt("stem.conv") == "INT6" and wdt("head.fc") == "INT7"
assert wdt("layer2.0.downsample.conv") == "INT4" and wdt("cell0.n0.e0.conv_3x3.conv") == "BIPOLAR"
assert bits(prod[node("cell0.n0.add1")["in"][0]]) == 10
assert val(prod[node("head.flatten")["in"][0]]["in"][4]) == 6
'
}

@test "--layer overrides by name pattern, later ones win, recorded in meta.quant" {
	nash-quant --preset w2a2 --layer 'layer4.*=w4a4' --layer 'layer4.1.conv2=w8' --layer 'stem.*=a3' \
		<r18.nash >q.nash
	check q.nash '
m = g["meta"]["quant"]
assert m["overrides"] == ["layer4.*=w4a4", "layer4.1.conv2=w8", "stem.*=a3"]
assert m["weights"]["layer4.0.conv1"] == "INT4" and m["weights"]["layer4.0.downsample.conv"] == "INT4"
assert m["weights"]["layer4.1.conv2"] == "INT8" and m["weights"]["layer3.1.conv2"] == "INT2"
assert m["acts"]["layer4.1.relu1.aq"] == "UINT4" and m["acts"]["layer3.1.relu1.aq"] == "UINT2"
assert m["acts"]["stem.relu.aq"] == "UINT3" and m["weights"]["stem.conv"] == "INT8"
'
}

@test "an override that matches nothing is a warning, not silence, and not an error" {
	run --separate-stderr nash-quant --layer 'layer9.*=w4' --layer 'layer1.0.conv1=w4a4' r18.nash
	assert_success
	assert_equal "${#stderr_lines[@]}" 2
	[[ "${stderr_lines[0]}" == "nash-quant: warning: graph resnet18-w8: --layer 'layer9.*=w4' matches no layer" ]]
	[[ "${stderr_lines[1]}" == "nash-quant: warning: graph resnet18-w8: --layer 'layer1.0.conv1=w4a4': a4 matches no Relu or HardTanh" ]]
	run --separate-stderr nash-quant --quiet --layer 'layer9.*=w4' r18.nash
	assert_success
	assert_equal "$stderr" ""
}

@test "the integer export: q = clamp(round-half-even(W / s)) in float32, s = max|W| / (2^(b-1) - 1); --export is idempotent" {
	nash-quant --preset w2a2 --layer 'layer3.*=w5' --layer 'layer4.*=w1' <r18.nash >q.nash
	check_data q.nash '
n = 0
for q in quants("weight"):
    W = np.array(T[q["in"][0]]["data"], dtype=np.float32)
    S = np.array(T[q["in"][1]]["data"], dtype=np.float32)
    I = np.array(T[q["attr"]["int_tensor"]]["data"])
    rows = S.size
    W = W.reshape(rows, -1)
    I = I.reshape(rows, -1)
    if q["op"] == "BipolarQuant":
        assert np.allclose(S, np.abs(W).mean(axis=1), rtol=1e-6)
        assert (I == np.where(W >= 0, 1, -1)).all()
    else:
        hi = 2 ** (bits(q) - 1) - 1
        assert np.allclose(S, np.abs(W).max(axis=1) / hi, rtol=1e-6)
        # float32 division, as the engine and QONNX compute it; numpy rounds ties to even
        want = np.clip(np.round(W / S.reshape(rows, 1)), -hi, hi)
        assert (I == want).all(), q["name"]
    n += 1
assert n == 21, n
'
	nash-quant --export <q.nash >again.nash
	cmp q.nash again.nash
	run --separate-stderr nash-quant --export tfc.nash
	assert_success
	assert_equal "$stderr" "nash-quant: warning: graph tfc has no weight or bias quantizers to export"
}

@test "the exported integers are not counted as parameters" {
	nash-quant --preset w2a2 <tfc.nash >q.nash
	float=$(nash-dump tfc.nash | sed 's/.*params=\([0-9]*\).*/\1/')
	quant=$(nash-dump q.nash | sed 's/.*params=\([0-9]*\).*/\1/')
	# scales, zero points and bit widths only: a few hundred
	[ "$quant" -gt "$float" ] && [ "$quant" -lt $((float + 300)) ]
}

@test "a supernet: Choice outputs enter the adders through the cell's quantizer" {
	nash-gen resnet18 --input 1x28x28 --width 8 --nash v2 --search | nash-quant --preset w1a2 >q.nash
	check q.nash '
ch = {n["out"][0] for n in ops("Choice")}
assert len(ch) == 40
seen = 0
for a in ops("Add"):
    for t in a["in"]:
        q = prod[t]
        assert q["attr"]["target"] == "adder" and q["in"][1] == "cell%d.adder.scale" % a["attr"]["cell"]
        seen += q["in"][0] in ch
assert seen == 40
'
}

@test "streams: every graph of a sweep, other meta and record kinds pass through" {
	nash-gen tfc --sweep seed=1,2,3 | nash-quant --preset w4a4 >q.nash
	run nash-dump q.nash
	assert_equal "${#lines[@]}" 3
	assert_line --index 2 --regexp '^tfc-seed3-w4a4	'
	run nash-dump --meta gen.seed q.nash
	assert_line --index 1 'tfc-seed2-w4a4	2'
	run nash-dump --meta quant.tool q.nash
	assert_line --index 0 --regexp '"nash-quant [0-9.]+"'
}

@test "--list, --help and --version" {
	run nash-quant --list
	assert_success
	assert_line --regexp '^nash-v3 +4 +4 +8 +8 +8 +1 +4 +8 +8 +4 '
	assert_line --regexp '^w2a2 +2 +2 +8 '
	run nash-quant --help
	assert_success
	assert_line --partial '--layer GLOB=SPEC'
	run nash-quant --version
	assert_output --regexp '^nash-quant \(nash\) [0-9.]+$'
}

@test "usage errors exit 2: bits outside 1..16, unknown presets (listed), bad overrides" {
	for args in "-w 0" "-w 17" "-a 0" "--abits 99" "--first-bits 17" "--last-bits 0" "--down-bits x" \
		"--nas-bits 17" "--adder-bits 1" "--pool-bits 0" "--layer foo" "--layer =w4" "--layer x=w17" \
		"--layer x=q4" "--layer x=" "--export --preset w2a2" "--bogus"; do
		run --separate-stderr nash-quant $args tfc.nash
		assert_equal "$status" 2
		assert_equal "${stderr%%: *}" nash-quant
		[ -z "$output" ]
	done
	run --separate-stderr nash-quant --preset w3a3 tfc.nash
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "nash-quant: --preset: unknown preset 'w3a3' (known: w1a1, w1a2, w2a2, w4a4, w8a8, nash-v1, nash-v2, nash-v3, nash-v4)"
	run --separate-stderr nash-quant -w 17 tfc.nash
	assert_equal "${stderr_lines[0]}" "nash-quant: --wbits: 17 is out of range [1, 16]"
}

@test "bad data exits 1 with one line: already quantized, NaN weights, nash preset without cells, bad streams" {
	nash-quant <tfc.nash >q.nash
	run --separate-stderr nash-quant q.nash
	assert_error_line nash-quant 1
	assert_equal "$stderr" "nash-quant: graph tfc-w8a8: layer fc0 is already quantized (its weights pass through Quant node fc0.wq); nash-quant takes float graphs"
	[ -z "$output" ]
	# a NaN in fc1.weight, patched into the stream's bytes
	nash-dump --json --data tfc.nash >t.json
	/usr/bin/python3 -c '
import json, struct
w = json.load(open("t.json"))[0]["tensors"]["fc1.weight"]["data"]
b = open("tfc.nash", "rb").read()
pat = struct.pack("<4f", *w[:4])
assert b.count(pat) == 1
open("nan.nash", "wb").write(b.replace(pat, struct.pack("<f", float("nan")) + pat[4:]))'
	run --separate-stderr nash-quant nan.nash
	assert_error_line nash-quant 1
	assert_equal "$stderr" "nash-quant: graph tfc: tensor fc1.weight: NaN at element 0"
	run --separate-stderr nash-quant --preset nash-v1 tfc.nash
	assert_error_line nash-quant 1
	assert_output ""
	[[ "$stderr" == *"preset nash-v1 is the NASH reference code's ResNet setting; tfc has no NASH cells"* ]]
	run --separate-stderr nash-quant </dev/null
	assert_error_line nash-quant 1
	assert_equal "$stderr" "nash-quant: empty input: no records on stdin"
	truncate_stream tfc.nash 500 >cut.nash
	run --separate-stderr nash-quant cut.nash
	assert_error_line nash-quant 1
	run --separate-stderr nash-quant missing.nash
	assert_error_line nash-quant 1
	run --separate-stderr bash -c 'nash-quant tfc.nash >/dev/full'
	assert_error_line nash-quant 1
}

@test "nash-quant: the man page's examples run" {
	man=$(dirname "$(command -v nash-quant)")/../share/man/man1/nash-quant.1
	[ -f "$man" ]
	# every literal block of EXAMPLES, escapes undone, run in order
	awk '/^\.Sh EXAMPLES/ { ex = 1; next } /^\.Sh / { ex = 0 }
		ex && /^\.Bd -literal/ { lit = 1; next } ex && /^\.Ed/ { lit = 0; print ""; next }
		ex && lit { gsub(/\\e/, "\\"); print }' "$man" >examples.sh
	[ "$(grep -c nash-quant examples.sh)" -ge 5 ]
	run bash -e examples.sh
	assert_success
	assert_line --regexp '^resnet18-w16-w2a2	nodes=[0-9]+	'
	assert_line --partial '"weights":21'
	assert_line --regexp '^fc0.wq.int +int8 +64x784 +BIPOLAR '
	assert_line --regexp '^cell0.n0.e0.conv_3x3.conv.wq.int .* BIPOLAR '
	assert_line --regexp '^nash-v4 '
}
