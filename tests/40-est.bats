#!/usr/bin/env bats
# nash-est: folding and resource estimation of hardware graphs.
# Until nash-stream exists, the hardware graphs come from the test fixture
# (tests/unit/hwfix.c) through its generator, test_hwfix emit.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	gen="$NASH_BUILD/tests/test_hwfix"
	"$gen" emit tfc tfc.nash
	"$gen" emit cnv cnv.nash
	"$gen" emit cybsec cybsec.nash
	"$gen" emit resnet18 r18.nash
	"$gen" emit resnet18-28-w16 r16.nash
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

meta() { # FILE PATH -> the value of meta PATH of the first graph
	nash-dump --meta "$2" "$1" | head -n 1 | cut -f 2
}

@test "default: keeps the nodes' folding, writes meta.est and passes the graph on" {
	nash-est cnv.nash >out.nash
	run nash-dump out.nash
	assert_success
	assert_output --regexp "^cnv-w1a1	nodes=[0-9]+	.*lut=[0-9]+	bram18=[0-9]+	dsp=0	fps=[0-9.]+$"
	[ "$(meta out.nash est.part)" = '"xczu7ev"' ]
	[ "$(meta out.nash est.board)" = '"zcu104"' ]
	/usr/bin/python3 -c "assert $(meta out.nash est.clock_mhz) == 200"
	[ "$(meta out.nash est.mode)" = '"attributes"' ]
	for k in fps latency_us latency_cycles bottleneck total.lut total.ff total.bram18 total.uram total.dsp \
	         util.lut util.bram18 util.dsp; do
		[ "$(meta out.nash est.$k)" != null ]
	done
}

@test "--part by part or board name, --clock scales fps" {
	nash-est --part pynq-z1 --clock 100 cnv.nash >a.nash
	nash-est --part xc7z020clg400-1 --clock 200 cnv.nash >b.nash
	[ "$(meta a.nash est.part)" = '"xc7z020"' ]
	[ "$(meta b.nash est.part)" = '"xc7z020"' ]
	a=$(meta a.nash est.fps) b=$(meta b.nash est.fps)
	/usr/bin/python3 -c "assert abs($b - 2 * $a) < 0.02, ($a, $b)"
}

@test "unknown part: one line listing the known parts, exit 1" {
	run --separate-stderr nash-est --part xc7a35t cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"unknown part 'xc7a35t'; known parts: xc7z020 (pynq-z1/pynq-z2)"* ]]
	[[ "$stderr" == *"xcu280"* ]]
	[ -z "$output" ]
}

@test "the device table comes from NASH_SHARE; a broken one is reported with its line" {
	mkdir -p share && printf 'xc7z020\tpynq-z1\tzynq7\t53200\n' >share/devices.tsv
	NASH_SHARE=$PWD/share run --separate-stderr nash-est --part pynq-z1 cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"devices.tsv line 1: expected 8 tab-separated fields"* ]]
	printf 'xcmine\tmyboard\tzynq7\t1000\t2000\t10\t0\t10\n' >share/devices.tsv
	NASH_SHARE=$PWD/share nash-est --part myboard tfc.nash >mine.nash
	[ "$(meta mine.nash est.part)" = '"xcmine"' ]
}

@test "--fps folds every layer for the target (FINN-like search)" {
	nash-est --part pynq-z1 --clock 100 --fps 3000 cnv.nash >f.nash
	fps=$(meta f.nash est.fps)
	/usr/bin/python3 -c "assert $fps >= 3000, $fps"
	[ "$(meta f.nash est.mode)" = '"fps"' ]
	# CNV with BNN-PYNQ's folding runs at 3051.8 fps at 100 MHz (REFERENCE.md: 3,052 predicted)
	printf 'conv0\t16\t3\nconv1\t32\t32\nconv2\t16\t32\nconv3\t16\t32\nconv4\t4\t32\nconv5\t1\t32\nfc0\t1\t4\nfc1\t1\t8\nfc2\t5\t1\n' >bnn.tsv
	nash-est --part pynq-z1 --clock 100 --folding bnn.tsv --fps 3000 cnv.nash >g.nash
	[ "$(meta g.nash est.fps)" = "3051.76" ]
	[ "$(meta g.nash est.bottleneck)" = '"fc0"' ]
}

@test "the paper's bottleneck: ResNet18-224, stem SIMD 3 PE 64, 200 MHz, 325 fps +-1%" {
	printf '# stem as in the NASH paper\nstem_swg\t-\t3\nstem_conv\t64\t3\n' >stem.tsv
	run --separate-stderr nash-est --folding stem.tsv --fps 1000 r18.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"target 1000 fps is not reachable"*"the best is 324.5 fps, limited by layer stem_swg (ConvolutionInputGenerator)"* ]]
	nash-est --folding stem.tsv --fps 1000 --best-effort --quiet r18.nash >p.nash
	fps=$(meta p.nash est.fps)
	/usr/bin/python3 -c "assert abs($fps - 325) / 325 <= 0.01, $fps"
	[ "$(meta p.nash est.bottleneck)" = '"stem_swg"' ]
}

@test "impossible target: the best reachable fps and the limiting layer, exit 1" {
	run --separate-stderr nash-est --fps 1e9 tfc.nash
	assert_error_line nash-est 1
	[[ "$stderr" == "nash-est: graph tfc-w1a1: target 1e+09 fps is not reachable"*"the best is "*" fps, limited by layer "* ]]
	[ -z "$output" ]
}

@test "--fit: the fastest folding under the cap, every resource" {
	nash-est --part pynq-z1 --fit cnv.nash >fit.nash
	nash-est --part pynq-z1 --fit --cap 40 cnv.nash >fit40.nash
	for k in lut ff bram18 uram dsp; do
		/usr/bin/python3 -c "assert $(meta fit.nash est.util.$k) <= 85"
		/usr/bin/python3 -c "assert $(meta fit40.nash est.util.$k) <= 40"
	done
	/usr/bin/python3 -c "assert $(meta fit40.nash est.fps) <= $(meta fit.nash est.fps)"
	[ "$(meta fit.nash est.mode)" = '"fit"' ]
}

@test "--budget caps the named resources; too small names the resource" {
	nash-est --budget lut=20000,bram=100 cnv.nash >bud.nash
	/usr/bin/python3 -c "assert $(meta bud.nash est.total.lut) <= 20000 and $(meta bud.nash est.total.bram18) <= 100"
	[ "$(meta bud.nash est.mode)" = '"budget"' ]
	run --separate-stderr nash-est --budget lut=500 cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"the smallest folding (every layer at PE = SIMD = 1) needs "*" lut, more than the budget of 500" ]]
	run --separate-stderr nash-est --budget bram=1 cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"bram18, more than the budget of 1" ]]
}

@test "--folding: TSV and FINN's JSON; the folding lands in the node attributes" {
	printf 'conv1\t32\t32\tblock\nconv1_swg\t-\t32\n' >f.tsv
	nash-est --folding f.tsv cnv.nash >t.nash
	nash-dump --json t.nash >t.json
	/usr/bin/python3 -c '
import json
n = {x["name"]: x for x in json.load(open("t.json"))[0]["nodes"]}
a = n["conv1"]["attr"]
assert (a["PE"], a["SIMD"], a["ram_style"], a["resType"]) == (32, 32, "block", "lut"), a
assert n["conv1_swg"]["attr"]["SIMD"] == 32'

	cat >f.json <<-'EOF'
	{
	  "Defaults": {},
	  "conv1": {"PE": 16, "SIMD": 64, "ram_style": "distributed", "mem_mode": "decoupled"},
	  "fc2": {"PE": 5, "SIMD": 1, "resType": "lut"}
	}
	EOF
	nash-est --folding f.json --tsv cnv.nash >t.tsv
	run awk -F'\t' '$2 == "conv1" { print $4, $5, $12 }' t.tsv
	assert_output "16 64 lutram"
}

@test "bad folding files: layer and rule, or the line, exit 1" {
	printf 'conv1\t5\t32\n' >bad.tsv
	run --separate-stderr nash-est --folding bad.tsv cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"bad.tsv line 1: layer conv1 (MVAU): PE 5 does not divide MH 64" ]]
	printf 'conv1\t32\t32\n\nconv2 16 32\n' >bad2.tsv
	run --separate-stderr nash-est --folding bad2.tsv cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"bad2.tsv line 3: expected name, PE, SIMD"* ]]
	printf '{"conv1": {"PE": 32,\n "SIMD": 32,}\n}\n' >bad.json
	run --separate-stderr nash-est --folding bad.json cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"bad.json line 2: malformed JSON"* ]]
	printf 'conv9\t1\t1\n' >bad3.tsv
	run --separate-stderr nash-est --folding bad3.tsv cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"no hardware layer named conv9"* ]]
	run --separate-stderr nash-est --folding nosuchfile cnv.nash
	assert_error_line nash-est 1
}

@test "a graph that is not streamlined: the first non-hardware node, run nash-stream" {
	nash-gen tfc >float.nash
	run --separate-stderr nash-est float.nash
	assert_error_line nash-est 1
	[[ "$stderr" == "nash-est: graph tfc: node "*" is not a hardware layer; this graph is not streamlined, run nash-stream first" ]]
	[ -z "$output" ]
}

@test "--tsv replaces the stream with a per-layer table for awk" {
	nash-est --part pynq-z1 --fps 1000 --tsv cnv.nash tfc.nash >all.tsv
	run head -n 1 all.tsv
	assert_output "graph	layer	op	PE	SIMD	cycles	lut	ff	bram18	uram	dsp	mem	depth"
	[ "$(grep -c '^graph	' all.tsv)" -eq 1 ]
	[ "$(cut -f 1 all.tsv | sort -u | grep -vc graph)" -eq 2 ]
	# the rows add up to meta.est.total
	nash-est --part pynq-z1 --fps 1000 cnv.nash >c.nash
	sum=$(awk -F'\t' '$1 == "cnv-w1a1" { s += $7 } END { print s }' all.tsv)
	[ "$sum" = "$(meta c.nash est.total.lut)" ]
}

@test "--report: a human table on stderr, the stream on stdout" {
	nash-est --report --fps 500 r16.nash >r.nash 2>r.txt
	grep -q "bottleneck" r.txt
	grep -q "^  total" r.txt
	grep -q "^  utilisation" r.txt
	grep -q "StreamingFIFO" r.txt
	nash-dump r.nash >/dev/null
}

@test "FIFOs and width converters: inserted as nodes, counted, re-estimation is stable" {
	nash-est --fps 2000 r16.nash >e1.nash
	n1=$(nash-dump e1.nash | cut -f 2)
	[ "$(nash-dump --nodes e1.nash | grep -c StreamingFIFO)" -gt 0 ]
	nash-est --fps 2000 e1.nash >e2.nash
	[ "$(nash-dump e2.nash | cut -f 2)" = "$n1" ]
	[ "$(meta e2.nash est.total.lut)" = "$(meta e1.nash est.total.lut)" ]
	[ "$(meta e2.nash est.fps)" = "$(meta e1.nash est.fps)" ]
	nash-est --fps 2000 --no-insert r16.nash >e3.nash
	[ "$(nash-dump --nodes e3.nash | grep -c StreamingFIFO)" -eq 0 ]
	[ "$(meta e3.nash est.total.lut)" = "$(meta e1.nash est.total.lut)" ]
	nash-dump --json e1.nash >e1.json
	/usr/bin/python3 -c '
import json
g = json.load(open("e1.json"))[0]
ls = g["meta"]["est"]["layers"]
f = [l for l in ls if l["op"] == "StreamingFIFO"]
assert f and all(l["depth"] > 2 and l["from"] and l["to"] for l in f)
assert sum(l["lut"] for l in ls) == g["meta"]["est"]["total"]["lut"]
assert all("PE" in n["attr"] or "SIMD" in n["attr"] for n in g["nodes"] if n["op"] in ("MVAU", "ConvolutionInputGenerator"))'
}

@test "a stream of several graphs; other meta sections and records pass through" {
	cat tfc.nash cnv.nash | nash-est --fps 1000 >two.nash
	run nash-dump two.nash
	[ "${#lines[@]}" -eq 2 ]
}

@test "usage errors exit 2" {
	run --separate-stderr nash-est --fps abc cnv.nash
	[ "$status" -eq 2 ]
	run --separate-stderr nash-est --fps 100 --fit cnv.nash
	[ "$status" -eq 2 ]
	run --separate-stderr nash-est --budget lut=lots cnv.nash
	[ "$status" -eq 2 ]
	run --separate-stderr nash-est --ram-style 'conv*=flash' cnv.nash
	[ "$status" -eq 2 ]
	run --separate-stderr nash-est --cap 50 cnv.nash
	[ "$status" -eq 2 ]
	run nash-est --help
	assert_success
	assert_output --partial "Usage: nash-est"
	run nash-est --version
	assert_output --regexp "^nash-est \(nash\) [0-9.]+"
}

@test "--ram-style moves memories; URAM on a part without it is an error" {
	nash-est --part zcu104 --ram-style 'conv5=ultra' --tsv cnv.nash >u.tsv
	run awk -F'\t' '$2 == "conv5" { print $10, $12 }' u.tsv
	[[ "$output" != "0 "* ]]
	[[ "$output" == *" uram" ]]
	run --separate-stderr nash-est --part pynq-z1 --ram-style 'conv5=ultra' cnv.nash
	assert_error_line nash-est 1
	[[ "$stderr" == *"layer conv5 asks for URAM (ram_style ultra) but part xc7z020 has none" ]]
}

@test "estimation takes milliseconds" {
	start=$(date +%s%N)
	nash-est --fps 300 r18.nash >/dev/null
	end=$(date +%s%N)
	# 15 MB of weights to read and write dominate; the estimate itself is < 1 ms
	[ $(( (end - start) / 1000000 )) -lt 2000 ]
}
