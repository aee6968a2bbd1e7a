#!/usr/bin/env bats
# nash-stream: streamlining quantized graphs into integer hardware graphs,
# on nash-gen | nash-quant output (trained briefly on Fashion-MNIST where
# accuracy matters), checked by its own reference interpreter (--check),
# by the integer executor against the fake-quant graph (nash-eval), and by
# nash-est; every error path. Graphs nash-quant cannot make (bad input)
# come from the unit test's fixture writer.
load helpers

NASH_GENO='c3@0,sk@1,-,mp@2/c3@0,c1@1,-,sk@0/c3@0,-,-,-/c5@0,-,-,-'

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	nash-gen tfc | nash-quant -p w1a1 >tfc11.nash
	nash-gen tfc | nash-quant -p w2a2 | nash-train --limit 2000 --epochs 2 -q >tfc22.nash
	nash-gen resnet18 -i 1x28x28 -w 4 --genotype "$NASH_GENO" | nash-quant -p w2a2 \
		| nash-train --limit 300 --epochs 1 -q >nash.nash
	fix="$NASH_BUILD/tests/test_stream_pass"
	for f in missing-act mixed-adder softmax wide-acc narrow-acc tfc-w2a2 ties near-tie; do
		"$fix" emit "$f" "$f.nash"
	done
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

meta() { # FILE PATH -> the value of meta PATH of the first graph
	nash-dump --meta "$2" "$1" | head -n 1 | cut -f 2
}

# ops FILE: the distinct ops of the first graph, sorted, one line
ops() {
	nash-dump --nodes "$1" | awk '!/^#/ {print $2}' | sort -u | tr '\n' ' '
}

@test "--help, --version, --list (the passes in their order)" {
	run nash-stream --help
	assert_success
	assert_output --partial "Usage: nash-stream"
	run nash-stream --version
	assert_output --regexp "^nash-stream \(nash\) [0-9.]+$"
	run nash-stream --list
	assert_success
	[ "$(printf '%s\n' "$output" | grep -Ec '^ ?[0-9]+  [a-z]')" -eq 24 ]
	[[ "$(printf '%s\n' "$output" | head -n 1)" == " 1  tidy "* ]]
	printf '%s\n' "$output" | grep -q '^12  absorb '
	printf '%s\n' "$output" | grep -q '^24  duplicate-streams '
	[ -z "$(printf '%s\n' "$output" | grep ' $' || true)" ]
}

@test "tfc w1a1: XNOR MVAUs on a 1 x 1 x 784 pixel vector, every tensor an integer, checked after every pass" {
	nash-stream --check=3 tfc11.nash >hw.nash
	[ "$(ops hw.nash)" = "MVAU " ]
	nash-dump --json hw.nash >hw.json
	python3 - <<-'EOF'
	import json
	g = json.load(open("hw.json"))[0]
	assert g["inputs"] == [{"name": "input", "shape": [1, 1, 784], "dtype": "uint8", "datatype": "UINT8"}], g["inputs"]
	for name, t in g["tensors"].items():
	    assert t.get("datatype", "").startswith(("INT", "UINT", "BIPOLAR", "BINARY")), (name, t)
	    assert t["dtype"] != "float32", name
	mv = [n for n in g["nodes"]]
	assert [n["attr"]["binaryXnorMode"] for n in mv] == [0, 1, 1, 0], mv
	assert [n["attr"]["outputDataType"] for n in mv[:3]] == ["BIPOLAR"] * 3
	for n in mv:
	    for k in ("MW", "MH", "numInputVectors", "inputDataType", "weightDataType", "accDataType", "outputDataType"):
	        assert k in n["attr"], (n["name"], k)
	out = g["outputs"][0]
	assert out["name"] == "logits" and out["shape"] == [1, 1, 10] and len(out["scale"]) == 1, out
	m = g["meta"]["stream"]
	assert m["checked_images"] == 3 and m["output"] == "logits" and m["passes"]["absorb"] > 0, m
	EOF
}

@test "trained tfc w2a2: the integer graph predicts what the fake-quant graph predicts on Fashion-MNIST" {
	nash-stream tfc22.nash >hw.nash
	nash-eval --limit 2000 --compare tfc22.nash hw.nash >e.nash 2>err.txt
	grep -q "agrees with tfc-w2a2.* on 100.00%$" err.txt
	[ "$(meta e.nash eval.executor)" = '"integer"' ]
}

@test "a NASH network (skip at stride 2, max-pool, conv_5x5): lowered, estimated, executed, same classes" {
	nash-stream --check=2 --progress nash.nash >hw.nash 2>progress.txt
	grep -Eq "^nash-stream: graph .*: shift-to-conv +1 rewrite$" progress.txt
	grep -q "absorb" progress.txt
	o=$(ops hw.nash)
	for op in ConvolutionInputGenerator MVAU Thresholding StreamingMaxPool AddStreams DuplicateStreams \
	          StreamingConcat QuantAvgPool; do
		[[ "$o" == *"$op "* ]] || { echo "no $op in: $o"; false; }
	done
	[[ "$o" != *"LabelSelect"* ]]
	# the skip's two convolutions: 1 x 1 / 2, and the shifted one as 2 x 2 / 2
	nash-dump --nodes hw.nash | grep -q 'skip_connect.conv_b.swg .*"ConvKernelDim":\[2,2\]'
	nash-est --fps 1000 --best-effort -q hw.nash | nash-dump | grep -q 'fps='
	nash-eval --limit 500 --compare nash.nash hw.nash >/dev/null 2>err.txt
	agree=$(sed -n 's/.* on \([0-9.]*\)%$/\1/p' err.txt)
	python3 -c "assert $agree >= 99.6, $agree"
}

@test "--topk K ends in LabelSelect; the integer executor returns the classes" {
	nash-stream --topk 3 nash.nash >top.nash
	nash-dump --nodes top.nash | tail -n 1 | grep -q 'LabelSelect .*"K":3'
	nash-dump --json top.nash | python3 -c '
import json, sys
g = json.load(sys.stdin)[0]
out = g["outputs"][0]
assert out["topk"] == 3 and "scale" not in out and out["shape"] == [1, 1, 3], out'
	nash-eval --limit 200 -q top.nash | nash-dump --meta eval.top1 - | cut -f 2 | grep -Eq '^[0-9.]+$'
}

@test "--until PASS writes the mixed graph; streamlining it further gives the same graph" {
	nash-stream --until absorb tfc22.nash >mid.nash
	[ "$(meta mid.nash stream.output)" = '"mixed"' ]
	[ "$(meta mid.nash stream.until)" = '"absorb"' ]
	o=$(ops mid.nash)
	[[ "$o" == *"MultiThreshold "* && "$o" == *"Gemm "* && "$o" != *"MVAU"* ]]
	nash-stream mid.nash >a.nash
	nash-stream tfc22.nash >b.nash
	cmp <(nash-dump --nodes a.nash) <(nash-dump --nodes b.nash)
	# a hardware graph passes through
	nash-stream b.nash >c.nash
	cmp <(nash-dump --nodes b.nash) <(nash-dump --nodes c.nash)
}

@test "--check names the first pass that changed the outputs (a fault injected after it)" {
	for p in bn-to-affine absorb round-thresholds mvau-thresholds; do
		NASH_STREAM_FAULT=$p run --separate-stderr nash-stream --check=2 tfc22.nash
		assert_error_line nash-stream 1
		[[ "$stderr" == "nash-stream: graph tfc-w2a2: pass $p changed the outputs: image "*": logit "*" was "*", is now "* ]] \
			|| [[ "$stderr" == *"--check after pass $p: "* ]]
	done
	# without --check the fault goes unnoticed: that is what --check is for
	NASH_STREAM_FAULT=absorb nash-stream tfc22.nash >/dev/null
}

@test "exact ties: ROUND's ties to even survive as integer thresholds (scale ratio 2)" {
	nash-stream --check=8 ties.nash >t.nash
	[ "$(meta t.nash stream.checked_images)" = 8 ]
}

@test "a value within float32 rounding of a step: the float engine differs, the exact arithmetic (nash-eval --exact) agrees" {
	# B = 1/2 + 1.8e-8 on every image: level 1 exactly, level 0 in float32
	nash-stream --check near-tie.nash >nt.nash
	agree() { nash-eval --limit 50 -q -t "$@" nt.nash --compare near-tie.nash | awk -F'\t' '$2 == "all" {print $7}'; }
	[ "$(agree)" = 0.00 ]
	[ "$(agree --exact)" = 100.00 ]
	nash-eval --limit 50 --exact near-tie.nash | nash-dump --meta eval.executor | grep -q exact
	[ "$(nash-eval --limit 50 --exact near-tie.nash | nash-dump --meta eval.top1 | cut -f 2)" = \
	  "$(nash-eval --limit 50 nt.nash | nash-dump --meta eval.top1 | cut -f 2)" ]
}

@test "a stream of several graphs: each streamlined, other records pass through" {
	cat tfc11.nash tfc22.nash | nash-stream >two.nash
	[ "$(nash-dump two.nash | wc -l)" -eq 2 ]
}

@test "an unquantized graph: the node without a quantizer, exit 1" {
	run --separate-stderr nash-stream < <(nash-gen tfc)
	assert_error_line nash-stream 1
	[[ "$stderr" == "nash-stream: graph tfc: node fc0 (Gemm): weights are not quantized"* ]]
	run --separate-stderr nash-stream missing-act.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"node layer1.0.conv1 (Conv): input is not quantized (it comes from node stem.relu (Relu))" ]]
}

@test "adder operands with different scales, an unsupported op, a supernet: one line, exit 1" {
	run --separate-stderr nash-stream mixed-adder.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"node add (Add): operand scales differ"*"shared quantizer"* ]]
	run --separate-stderr nash-stream softmax.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"node softmax (Softmax): unsupported op"* ]]
	nash-gen resnet18 -i 1x28x28 -w 4 --nash v1 --search | nash-quant -p w2a2 >super.nash
	run --separate-stderr nash-stream super.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"(Choice): a supernet: derive a network first"* ]]
}

@test "accumulators and thresholds that overflow their type: one line, exit 1" {
	run --separate-stderr nash-stream wide-acc.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"node fc0 (MVAU): the accumulator needs INT40"*"more than 32 bits"* ]]
	run --separate-stderr nash-stream narrow-acc.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"node fc1 (MVAU): thresholds and accumulator values"*"overflow the accumulator type INT4" ]]
}

@test "--topk with one scale per class is refused, naming the classifier" {
	run --separate-stderr nash-stream --topk 1 tfc-w2a2.nash
	assert_error_line nash-stream 1
	[[ "$stderr" == *"node fc3 (MVAU): LabelSelect needs one positive scale"* ]]
}

@test "usage errors exit 2" {
	run --separate-stderr nash-stream --until nope tfc11.nash
	assert_error_line nash-stream 2
	[[ "$stderr" == *"unknown pass 'nope'"* ]]
	for bad in "--topk 0" "--check=0" "--seed x" "--bogus"; do
		run --separate-stderr nash-stream $bad tfc11.nash
		[ "$status" -eq 2 ]
	done
	run --separate-stderr nash-stream --list tfc11.nash
	[ "$status" -eq 2 ]
}

@test "bad streams: truncated, empty, missing file, full disk: one line, exit 1" {
	run --separate-stderr nash-stream < <(truncate_stream tfc11.nash 100)
	assert_error_line nash-stream 1
	run --separate-stderr nash-stream </dev/null
	assert_error_line nash-stream 1
	[[ "$stderr" == *"empty input"* ]]
	run --separate-stderr nash-stream nope.nash
	assert_error_line nash-stream 1
	run --separate-stderr bash -c 'nash-stream tfc11.nash >/dev/full'
	assert_error_line nash-stream 1
}

@test "the man page's examples run" {
	nash-gen tfc | nash-quant -p w1a1 | nash-stream --check >tfc.nash
	nash-dump --nodes tfc.nash | grep -q MVAU
	nash-gen tfc | nash-quant -p w2a2 | nash-stream --until absorb | nash-dump --nodes | grep -q MultiThreshold
	nash-stream tfc22.nash >ex.nash
	nash-eval --limit 100 --compare tfc22.nash ex.nash >/dev/null
}
