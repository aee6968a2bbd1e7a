#!/usr/bin/env bats
# nash-onnx: QONNX export and import.
# Quantized graphs come from nash-gen | nash-quant; hand-built QONNX models
# and an independent numpy evaluator of ONNX/QONNX from tests/qonnx_models.py
# (Debian's python3-onnx only); reference logits of nash graphs from the
# double-precision evaluator in tests/unit/test_onnx.c (test_onnx forward).
load helpers

PY=/usr/bin/python3
MODELS="$BATS_TEST_DIRNAME/qonnx_models.py"
GENO='skip_connect@0,max_pool_3x3@0,conv_5x5@1,conv_1x1@2/skip_connect@0,max_pool_3x3@0,none,conv_3x3@0/c1@0,-,-,-/-,-,-,-'

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	nash-gen tfc | nash-quant --preset w2a2 >tfc.nash
	nash-gen tfc | nash-quant --preset w1a1 >tfc-w1a1.nash
	nash-gen cnv | nash-quant --preset w1a2 >cnv.nash
	nash-gen resnet18 --input 1x28x28 --width 4 | nash-quant --preset w2a2 >resnet.nash
	nash-gen resnet18 --input 1x28x28 --width 4 --style ref --nash v1 --genotype "$GENO" |
		nash-quant --preset nash-v1 >nash.nash
	mkdir -p hb && $PY "$MODELS" make hb
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	fwd="$NASH_BUILD/tests/test_onnx"
}

# nash-dump -j -d of two streams describe the same graphs (meta.onnx aside)
same() { # A.nash B.nash
	nash-dump -j -d "$1" >a.json && nash-dump -j -d "$2" >b.json && $PY "$MODELS" same a.json b.json
}

@test "export: a QONNX model that passes onnx.checker; the stream passes on" {
	nash-onnx export -o tfc.onnx tfc.nash >pass.nash
	run $PY "$MODELS" check tfc.onnx
	assert_success
	assert_output "tfc.onnx: ok (16 nodes, opsets ai.onnx:13,qonnx.custom_op.general:1)"
	run same tfc.nash pass.nash
	assert_success
	[ "$(nash-dump --meta onnx.exported pass.nash | cut -f 2)" = '"tfc.onnx"' ]
	$PY - <<-'EOF'
	import onnx
	m = onnx.load("tfc.onnx")
	g = m.graph
	q = [n for n in g.node if n.op_type == "Quant"]
	assert q and all(n.domain == "qonnx.custom_op.general" for n in q)
	a = {x.name: onnx.helper.get_attribute_value(x) for x in q[0].attribute}
	assert set(a) == {"signed", "narrow", "rounding_mode"}, a
	assert [d.dim_value for d in g.input[0].type.tensor_type.shape.dim] == [1, 1, 28, 28]
	assert [d.dim_value for d in g.output[0].type.tensor_type.shape.dim] == [1, 10]
	inits = {t.name for t in g.initializer}
	assert "fc0.weight" in inits and "fc0.wq.scale" in inits and "fc0.wq.int" not in inits
	gemm = [n for n in g.node if n.op_type == "Gemm"]
	assert all(onnx.helper.get_attribute_value(a) == 1 for n in gemm for a in n.attribute if a.name == "transB")
	assert not [n for n in g.node if n.op_type in ("HardTanh", "Clip")], "redundant HardTanh kept"
	assert [p.key for p in m.metadata_props] == ["nash.graph"]
	EOF
}

@test "export: the quantized average pool in the form FINN's AvgPoolAndTruncToQuantAvgPool matches" {
	nash-onnx export -o r.onnx resnet.nash >/dev/null
	$PY - <<-'EOF'
	import onnx
	from onnx import numpy_helper
	m = onnx.load("r.onnx")
	g = m.graph
	init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
	by_in = {}
	for n in g.node:
	    for i in n.input:
	        by_in.setdefault(i, []).append(n)
	pool = [n for n in g.node if n.op_type == "AveragePool"]
	assert len(pool) == 1 and not [n for n in g.node if n.op_type == "GlobalAveragePool"]
	a = {x.name: onnx.helper.get_attribute_value(x) for x in pool[0].attribute}
	assert a["kernel_shape"] == [4, 4] and a["strides"] == [4, 4] and a["pads"] == [0, 0, 0, 0], a
	mul = by_in[pool[0].output[0]]
	assert [n.op_type for n in mul] == ["Mul"] and init[mul[0].input[1]].shape == () and init[mul[0].input[1]] == 16
	tr = by_in[mul[0].output[0]]
	assert [n.op_type for n in tr] == ["Trunc"] and tr[0].domain == "qonnx.custom_op.general"
	assert onnx.helper.get_attribute_value(tr[0].attribute[0]) == b"FLOOR"
	assert all(init[i].shape == () for i in tr[0].input[2:])
	EOF
}

@test "export then import gives the same graph, tensors bit for bit" {
	for a in tfc tfc-w1a1 cnv resnet nash; do
		nash-onnx export -o "$a.onnx" "$a.nash" >/dev/null
		nash-onnx import "$a.onnx" >"$a.back.nash"
		run same "$a.nash" "$a.back.nash"
		assert_success
		assert_output "same 1 graphs"
		[ "$(nash-dump --meta onnx.imported "$a.back.nash" | cut -f 2)" = "\"$a.onnx\"" ]
	done
}

# |a - b| <= 1e-5 line by line, and as many lines
close() { # A.txt B.txt
	[ "$(wc -l <"$1")" -eq "$(wc -l <"$2")" ] &&
		paste "$1" "$2" | awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5) exit 1}'
}

@test "the exported ONNX computes what the nash graph computes (numpy QONNX evaluator)" {
	# exact against the reference evaluator (the same precision: sums in
	# double, quantizers in float32 as QONNX's reference), close to the nn
	# engine (float sums; binary nets can flip signs there, so not cnv w1a2)
	for a in tfc cnv resnet nash; do
		nash-onnx export -o "$a.onnx" "$a.nash" >/dev/null
		for s in 1 2; do
			$PY "$MODELS" eval "$a.onnx" $s >onnx.txt
			"$fwd" forward "$a.nash" $s >nash.txt
			[ "$(wc -l <nash.txt)" -eq 10 ]
			diff onnx.txt nash.txt
			if [ $a != cnv ]; then
				"$fwd" forward "$a.nash" $s nn >nn.txt
				close onnx.txt nn.txt
			fi
		done
	done
}

@test "-o DIR/ writes one file per graph, named after the graph" {
	cat tfc.nash resnet.nash nash.nash | nash-onnx export -o sweep/ >pass.nash
	run ls sweep
	assert_output "$(printf '%s\n' resnet18-nash-v1-w4-g77338539-nash-v1.onnx resnet18-w4-w2a2.onnx tfc-w2a2.onnx)"
	run $PY "$MODELS" check sweep/*.onnx
	assert_success
	[ "$(nash-dump pass.nash | cut -f 1 | tr '\n' ' ')" = "tfc-w2a2 resnet18-w4-w2a2 resnet18-nash-v1-w4-g77338539-nash-v1 " ]
	# an existing directory works without the slash
	nash-onnx export -o sweep tfc.nash >/dev/null
	[ -z "$(ls -A sweep | grep -v '\.onnx$')" ]
}

@test "graph names become safe file names; two graphs on one file name are an error" {
	nash-onnx export -o t.onnx tfc.nash >/dev/null
	nash-onnx import --name 'a/b c' t.onnx >odd.nash
	nash-onnx export -o odd/ odd.nash >/dev/null
	[ -f "odd/a_b_c.onnx" ]
	cat tfc.nash tfc.nash >two.nash
	run --separate-stderr nash-onnx export -o dup/ two.nash
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"dup/tfc-w2a2.onnx: two graphs of the stream map to this file"* ]]
	run --separate-stderr nash-onnx export -o one.onnx two.nash
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"one.onnx: the stream holds more than one graph"*"-o DIR/"* ]]
}

@test "an attribute edited in the ONNX file wins over nash's metadata; nash's own attributes stay" {
	nash-onnx export -o e.onnx resnet.nash >/dev/null
	$PY - <<-'EOF'
	import onnx
	m = onnx.load("e.onnx")
	for n in m.graph.node:
	    if n.name == "stem.bn":
	        [a for a in n.attribute if a.name == "epsilon"][0].f = 0.001
	onnx.save(m, "edited.onnx")
	EOF
	nash-onnx import edited.onnx >edited.nash
	nash-dump -j edited.nash >edited.json
	$PY - <<-'EOF'
	import json
	g = json.load(open("edited.json"))[0]
	n = {x["name"]: x["attr"] for x in g["nodes"]}
	assert abs(n["stem.bn"]["epsilon"] - 0.001) < 1e-9, n["stem.bn"]
	assert n["stem.bn"]["role"] == "stem", n["stem.bn"]
	assert n["layer1.0.bn1"]["epsilon"] == 1e-05, n["layer1.0.bn1"]  # exact, from the metadata
	EOF
}

@test "--opset 11 and 17 are valid ONNX; --opset 9 is a usage error" {
	for o in 11 17; do
		nash-onnx export --opset $o -o r$o.onnx resnet.nash >/dev/null
		run $PY "$MODELS" check r$o.onnx
		assert_success
		assert_output --partial "opsets ai.onnx:$o,"
		nash-onnx import r$o.onnx >r$o.nash
		run same resnet.nash r$o.nash
		assert_success
	done
	run --separate-stderr nash-onnx export --opset 9 -o x.onnx resnet.nash
	assert_error_line nash-onnx 2
}

@test "--no-nash-meta: the import infers the quantizers' roles" {
	nash-onnx export --no-nash-meta -o bare.onnx resnet.nash >/dev/null
	$PY -c 'import onnx, sys; sys.exit(len(onnx.load("bare.onnx").metadata_props))'
	nash-onnx import bare.onnx >bare.nash
	[ "$(nash-dump bare.nash | cut -f 1)" = bare ]
	nash-dump -j bare.nash >bare.json
	$PY - <<-'EOF'
	import json
	g = json.load(open("bare.json"))[0]
	n = {x["name"]: x["attr"] for x in g["nodes"]}
	def role(name, target, mode):
	    a = n[name]
	    assert (a.get("target"), a.get("scale_mode")) == (target, mode), (name, a)
	role("input.q", "input", "const")
	role("stem.conv.wq", "weight", "stats")
	role("stem.relu.aq", "act", "learned")
	role("layer1.0.add.qa", "adder", "learned")
	role("layer1.0.add.qb", "adder", "learned")
	role("head.fc.bq", "bias", "product")
	assert n["head.fc.bq"]["scale_from"] == ["layer4.1.relu2.aq.scale", "head.fc.wq.scale"], n["head.fc.bq"]
	assert n["stem.conv.wq"]["int_tensor"] == "stem.conv.wq.int"
	t = g["tensors"]["stem.conv.wq.int"]
	assert t["dtype"] == "int8" and t["datatype"] == "INT8" and t["shape"] == [4, 1, 3, 3], t
	EOF
	# and the same logits
	for s in 1 2; do diff <("$fwd" forward resnet.nash $s) <("$fwd" forward bare.nash $s); done
	# --ignore-nash-meta reads a file with metadata the same way
	nash-onnx export -o full.onnx resnet.nash >/dev/null
	nash-onnx import --ignore-nash-meta --name bare full.onnx >ign.nash
	run same bare.nash ign.nash
	assert_success
}

@test "import: a Brevitas TFC-style model (shape subgraph, Transpose(Quant(W)), MatMul, TensorNorm)" {
	nash-onnx import hb/tfc_like.onnx >tfc_like.nash
	run nash-dump --nodes tfc_like.nash
	assert_success
	assert_output --partial "Flatten                    flatten                            784"
	assert_output --regexp "Gemm +fc0 +32 +25088 +\"transB\":1"
	assert_output --regexp "Quant +fc0.wq +32x784 .*\"target\":\"weight\""
	assert_output --regexp "Quant +fc2.wq +10x24 .*\"scale_mode\":\"stats\",\"target\":\"weight\""
	assert_output --regexp "Quant +fc1.bq +24 .*\"scale_mode\":\"product\",\"target\":\"bias\""
	assert_output --regexp "Add +Sub_9 +784"
	refute_output --partial "Shape"
	refute_output --partial "MatMul"
	for s in 1 2 3; do  # the reference evaluator and the nn engine
		$PY "$MODELS" eval hb/tfc_like.onnx $s >onnx.txt
		"$fwd" forward tfc_like.nash $s >nash.txt
		close onnx.txt nash.txt
		"$fwd" forward tfc_like.nash $s nn >nn.txt
		close onnx.txt nn.txt
	done
}

@test "import: a CNV-style model (per-channel scales, auto_pad, Clip, BipolarQuant, AveragePool, Gemm transB 0)" {
	nash-onnx import hb/cnv_like.onnx >cnv_like.nash
	run nash-dump --nodes cnv_like.nash
	assert_success
	assert_output --regexp "Quant +act0 +8x16x16"
	assert_output --regexp "Conv +c1 +8x4x4 .*\"pads\":\[0,0,1,1\]"
	assert_output --regexp "HardTanh +clip0 .*\"min_val\":0,\"max_val\":6"
	assert_output --regexp "BipolarQuant +c1.wq .*\"scale_mode\":\"stats\""
	assert_output --regexp "Gemm +fc +10 +320 +\"transB\":1"
	nash-dump -j cnv_like.nash >c.json
	$PY -c '
import json
g = json.load(open("c.json"))[0]
act0 = [n for n in g["nodes"] if n["name"] == "act0"][0]
assert g["tensors"][act0["in"][1]]["shape"] == [8, 1, 1], g["tensors"][act0["in"][1]]'
	for s in 1 2 3; do  # the reference evaluator and the nn engine
		$PY "$MODELS" eval hb/cnv_like.onnx $s >onnx.txt
		"$fwd" forward cnv_like.nash $s >nash.txt
		close onnx.txt nash.txt
		"$fwd" forward cnv_like.nash $s nn >nn.txt
		close onnx.txt nn.txt
	done
}

@test "import: a ResNet-style model (residual adder pair, Slice/Pad/Concat shortcut, Trunc, Squeeze)" {
	nash-onnx import hb/resnet_like.onnx >resnet_like.nash
	run nash-dump --nodes resnet_like.nash
	assert_success
	assert_output --regexp "Quant +add.qa .*\"target\":\"adder\""
	assert_output --regexp "Quant +add.qb .*\"target\":\"adder\""
	assert_output --regexp "Slice +shift +4x7x7"
	assert_output --regexp "Pad +pad +4x8x8"
	assert_output --regexp "Concat +cat +8x4x4 +0 +\"axis\":1"
	assert_output --regexp "Trunc +trunc +8x1x1"
	assert_output --regexp "Flatten +squeeze +8"
	# the pair shares one scale tensor
	nash-dump -j resnet_like.nash >r.json
	$PY -c '
import json
g = json.load(open("r.json"))[0]
q = {n["name"]: n for n in g["nodes"]}
assert q["add.qa"]["in"][1] == q["add.qb"]["in"][1], (q["add.qa"]["in"], q["add.qb"]["in"])'
	for s in 1 2 3; do  # the reference evaluator and the nn engine
		$PY "$MODELS" eval hb/resnet_like.onnx $s >onnx.txt
		"$fwd" forward resnet_like.nash $s >nash.txt
		close onnx.txt nash.txt
		"$fwd" forward resnet_like.nash $s nn >nn.txt
		close onnx.txt nn.txt
	done
}

@test "import: Trunc of QONNX opset 2 (output scale) becomes Trunc, Mul and a clamping Quant, same values" {
	nash-onnx import hb/trunc_v2.onnx >t2.nash
	run nash-dump --nodes t2.nash
	assert_success
	assert_output --regexp "Trunc +trunc +6x1x1 .*\"rounding_mode\":\"FLOOR\""
	assert_output --regexp "Mul +trunc.rescale +6x1x1"
	assert_output --regexp "Quant +trunc.clamp +6x1x1 +0 +\"signed\":0"
	for s in 1 2 3; do
		$PY "$MODELS" eval hb/trunc_v2.onnx $s >onnx.txt
		"$fwd" forward t2.nash $s >nash.txt
		diff onnx.txt nash.txt
		"$fwd" forward t2.nash $s nn >nn.txt
		close onnx.txt nn.txt
	done
}

@test "import: several files make a stream in order; names from the files; stdin" {
	nash-onnx import hb/tfc_like.onnx hb/cnv_like.onnx hb/resnet_like.onnx >three.nash
	[ "$(nash-dump three.nash | cut -f 1 | tr '\n' ' ')" = "tfc_like cnv_like resnet_like " ]
	nash-onnx import --name mine - <hb/cnv_like.onnx >one.nash
	[ "$(nash-dump one.nash | cut -f 1)" = mine ]
	[ "$(nash-dump --meta onnx.imported one.nash | cut -f 2)" = '"stdin"' ]
	run --separate-stderr nash-onnx import --name x hb/tfc_like.onnx hb/cnv_like.onnx
	assert_error_line nash-onnx 2
}

@test "import then export: a hand-built model goes out again as valid QONNX" {
	nash-onnx import hb/resnet_like.onnx | nash-onnx export -o again.onnx >/dev/null
	run $PY "$MODELS" check again.onnx
	assert_success
	for s in 1 2; do
		$PY "$MODELS" eval hb/resnet_like.onnx $s >a.txt
		$PY "$MODELS" eval again.onnx $s >b.txt
		close a.txt b.txt
	done
}

@test "bad models: one line naming the file and the node, exit 1" {
	run --separate-stderr nash-onnx import hb/unsupported_op.onnx
	assert_error_line nash-onnx 1
	assert_equal "$stderr" "nash-onnx: hb/unsupported_op.onnx: node softmax0 (Softmax): unsupported op Softmax"
	[ -z "$output" ]
	run --separate-stderr nash-onnx import hb/missing_init.onnx
	assert_error_line nash-onnx 1
	[[ "$stderr" == "nash-onnx: hb/missing_init.onnx: node q0 (Quant): input no_such_scale is not defined"* ]]
	run --separate-stderr nash-onnx import hb/opset5.onnx
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"hb/opset5.onnx: ai.onnx opset 5 is not supported"* ]]
	run --separate-stderr nash-onnx import hb/custom_domain.onnx
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"node foo0 (Foo): unsupported op Foo of domain com.example"* ]]
	run --separate-stderr nash-onnx import hb/external.onnx
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"hb/external.onnx: initializer w: its data is stored in an external file"* ]]
}

@test "not ONNX: text, empty, truncated, a nash stream, a missing file" {
	echo "hello" >text.onnx
	: >empty.onnx
	nash-onnx export -o t.onnx tfc.nash >/dev/null
	head -c 5000 t.onnx >cut.onnx
	for f in text.onnx empty.onnx cut.onnx tfc.nash nosuch.onnx; do
		run --separate-stderr nash-onnx import "$f"
		assert_error_line nash-onnx 1
		[[ "$stderr" == "nash-onnx: $f: "* ]]
		[ -z "$output" ]
	done
	run --separate-stderr nash-onnx import tfc.nash
	[[ "$stderr" == *"not an ONNX model but a nash stream"* ]]
}

@test "export refuses graphs without quantizers, supernets and hardware graphs" {
	nash-gen tfc >float.nash
	run --separate-stderr nash-onnx export -o f.onnx float.nash
	assert_error_line nash-onnx 1
	assert_equal "$stderr" "nash-onnx: f.onnx: graph tfc: no quantizers (Quant, BipolarQuant, Trunc): QONNX export wants a quantized graph; run nash-quant first"
	[ ! -e f.onnx ]
	nash-gen resnet18 --input 1x28x28 --width 4 --nash v1 --search >super.nash
	run --separate-stderr nash-onnx export -o s.onnx super.nash
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"no quantizers"* ]]
	[ -z "$(ls -A | grep '\.tmp\.')" ]
}

@test "I/O errors: full disk, unwritable directory, no partial files" {
	run --separate-stderr nash-onnx export -o /dev/full tfc.nash
	assert_error_line nash-onnx 1
	[[ "$stderr" == *"/dev/full"*"No space left on device"* ]]
	[ -c /dev/full ]
	run --separate-stderr sh -c 'nash-onnx import hb/cnv_like.onnx >/dev/full'
	assert_error_line nash-onnx 1
	run --separate-stderr nash-onnx export -o /nonexistent/dir/m.onnx tfc.nash
	assert_error_line nash-onnx 1
	run --separate-stderr sh -c 'nash-onnx export -o ok.onnx tfc.nash >/dev/full'
	assert_error_line nash-onnx 1
	# a truncated stream: the first graph's file is written whole, nothing else
	cat tfc.nash resnet.nash >two.nash
	head -c $(( $(wc -c <tfc.nash) + 1000 )) two.nash >trunc.nash
	run --separate-stderr nash-onnx export -o part/ trunc.nash
	assert_error_line nash-onnx 1
	[ "$(ls part)" = tfc-w2a2.onnx ]
	$PY "$MODELS" check part/tfc-w2a2.onnx
}

@test "-o - writes the model to stdout (and not the stream)" {
	nash-onnx export -o - tfc.nash >std.onnx
	nash-onnx export -o file.onnx tfc.nash >/dev/null
	cmp std.onnx file.onnx
}

@test "usage errors exit 2; --help and --version" {
	for args in "" "frobnicate" "export tfc.nash" "import" "import -o x.onnx t.onnx" "export --name x -o y.onnx" \
	            "export --opset x -o y.onnx" "export --bogus"; do
		run --separate-stderr nash-onnx $args
		[ "$status" -eq 2 ]
		[[ "$stderr" == "nash-onnx: "* ]]
	done
	run nash-onnx --help
	assert_success
	assert_output --partial "Usage: nash-onnx export"
	run nash-onnx import --help
	assert_success
	run nash-onnx --version
	assert_success
	assert_output --regexp "^nash-onnx \(nash\) [0-9.]+$"
}

@test "the man page's examples run" {
	cp resnet.nash q.nash
	nash-onnx export -o model.onnx q.nash >/dev/null
	$PY -c 'import onnx; onnx.checker.check_model("model.onnx")'
	cat tfc.nash resnet.nash >q.nash
	run sh -c 'nash-onnx export -o qonnx/ q.nash | nash-dump'
	assert_success
	assert_line --index 0 --regexp "^tfc-w2a2	nodes="
	[ "$(ls qonnx | wc -l)" -eq 2 ]
	cp hb/cnv_like.onnx brevitas_cnv.onnx
	nash-onnx import brevitas_cnv.onnx >cnv.nash
	nash-dump --nodes cnv.nash >/dev/null
	nash-onnx export -o cnv-again.onnx cnv.nash >/dev/null
	cp resnet.nash q.nash
	nash-onnx export -o m.onnx q.nash >/dev/null
	run sh -c 'nash-onnx import m.onnx | nash-dump --nodes'
	assert_success
	assert_output --partial "Quant                      input.q "
}
