#!/usr/bin/env bats
# nash-hls: HLS projects from folded hardware graphs, verified by C
# simulation against the integer executor.
# Real pipelines (nash-gen | nash-quant | nash-train, short | nash-stream |
# nash-est | nash-hls) for TFC, CNV, ResNet18 w16 and a NASH-v1 ResNet18;
# the fast checks and error paths use fixture graphs from the test
# generator (tests/unit/test_hls.c on the hwfix fixture, thresholds
# calibrated so that streams vary; "-logits" graphs end at the scores).
load helpers

# a short QAT run on a slice of Fashion-MNIST, then streamlining and folding
pipeline() { # OUT PRESET GEN-ARGS...
	local out=$1 preset=$2
	shift 2
	nash-gen "$@" | nash-quant --preset "$preset" |
		nash-train --data fashion-mnist --limit 64 --epochs 1 --seed 1 -q |
		nash-stream | nash-est --fps 3000 --best-effort -q >"$out"
}

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	gen="$NASH_BUILD/tests/test_hls"
	for g in tfc-logits cnv-logits tfc-relu; do
		"$gen" emit $g $g.nash
	done
	nash-est --fps 20000 tfc-logits.nash >tfc.nash
	nash-est --fps 300 --best-effort -q cnv-logits.nash >cnv.nash
	pipeline real-tfc.nash w1a1 tfc
	pipeline real-cnv.nash w1a1 cnv --input 1x28x28
	pipeline real-r18.nash w2a2 resnet18 --input 1x28x28 --width 16 --style ref
	pipeline real-nash.nash nash-v1 resnet18 --input 1x28x28 --width 16 --style ref --nash v1 \
		--genotype 'conv_3x3@0,skip_connect@1,none,max_pool_3x3@2/skip_connect@0,conv_1x1@1,conv_5x5@0,none/max_pool_3x3@0,none,conv_3x3@2,skip_connect@3/conv_1x1@0,none,none,conv_3x3@1'
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

meta() { # FILE PATH -> the value of meta PATH of the first graph
	nash-dump --meta "$2" "$1" | head -n 1 | cut -f 2
}

# distinct expected output rows in a project's testbench data
distinct() {
	awk '/tb_out/{on=1} on && /^\{/' "$1/tb_data.h" | sort -u | wc -l
}

# C simulation of 100 Fashion-MNIST test images equals the integer executor
csim100() { # GRAPH PROJECT
	nash-hls -o "$2" --images 100 --csim "$1" >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	[ "$(meta out.nash hls.csim.images)" = 100 ]
	[ "$(meta out.nash hls.csim.mismatches)" = 0 ]
	[ "$(meta out.nash hls.inputs)" = '"fashion-mnist test images 0..99"' ]
}

@test "TFC (real pipeline): C simulation equals the integer executor on 100 test images" {
	csim100 real-tfc.nash tfc_p
	grep -q 'csim: 100 images, 100 match, 0 mismatch' tfc_p/csim.log
	[ "$(distinct tfc_p)" -gt 50 ]
	grep -q 'nash::mvau<784, 64, ' tfc_p/top.cpp
	# the graph passes through with the other stages' meta
	[ "$(nash-dump out.nash | cut -f 1)" = tfc-w1a1 ]
	[ "$(meta out.nash est.part)" = '"xczu7ev"' ]
	[ "$(meta out.nash stream)" != null ]
}

@test "CNV (real pipeline): 100 test images bit-exact" {
	csim100 real-cnv.nash cnv_p
	[ "$(distinct cnv_p)" -gt 50 ]
	grep -q 'nash::swg<' cnv_p/top.cpp
	grep -q 'nash::pool<' cnv_p/top.cpp
}

@test "ResNet18 w16 (real pipeline): 100 test images bit-exact, one image well within 60 s, archive" {
	nash-hls -o r18.tar.gz --images 100 --csim real-r18.nash >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	[ "$(meta out.nash hls.csim.mismatches)" = 0 ]
	[ "$(meta out.nash hls.format)" = '"archive"' ]
	per=$(meta out.nash hls.csim.per_image_s)
	echo "# ResNet18 w16: $per s per image in C simulation" >&3
	/usr/bin/python3 -c "assert $per <= 60, $per"
	tar tzf r18.tar.gz | sort >list
	for f in r18/ r18/Makefile r18/README.md r18/run_hls.tcl r18/tb.cpp r18/tb_data.h \
	         r18/top.cpp r18/top.h r18/nash/nash_hls.h r18/nash/nash_shim.h r18/csim.log; do
		grep -qx "$f" list
	done
	[ "$(wc -l <list)" -eq 12 ]
	tar xzf r18.tar.gz
	[ "$(distinct r18)" -gt 50 ]
	grep -q 'nash::add_streams<' r18/top.cpp
	grep -q 'nash::duplicate<' r18/top.cpp
	grep -q '#pragma HLS STREAM variable=.* depth=[0-9][0-9]' r18/top.cpp
	[ -z "$(ls -d *.tmp.* 2>/dev/null)" ]
}

@test "ResNet18 w16 with NASH-v1 cells (real pipeline): 100 test images bit-exact" {
	csim100 real-nash.nash nash_p
	[ "$(distinct nash_p)" -gt 50 ]
	grep -q 'nash::concat<' nash_p/top.cpp
	grep -q 'nash::pool<.*, 0, 0, ' nash_p/top.cpp
}

@test "fixture graphs: label select, random inputs where the shape is not an image; an archive builds on its own" {
	nash-hls -q -o cnvfix --images 3 cnv.nash >out.nash
	[[ "$(meta out.nash hls.inputs)" == '"random INT8 values, seed 1'* ]]
	nash-hls -q -o tfc.tgz --images 5 real-tfc.nash >/dev/null
	tar xzf tfc.tgz
	run make -C tfc csim
	assert_success
	assert_output --partial 'csim: 5 images, 5 match, 0 mismatch'
	assert_output --partial 'csim: PASS'
	"$NASH_BUILD/tests/test_hls" emit resnet18-nash-w16 lab.nash
	nash-est --fps 3000 --best-effort -q lab.nash | nash-hls -q -o labp --images 20 --csim >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	grep -q 'nash::label_select<10, ' labp/top.cpp
}

@test "a directory project: files, meta.hls, Tcl script and Makefile" {
	nash-hls -o proj tfc.nash >out.nash
	for f in Makefile README.md run_hls.tcl tb.cpp tb_data.h top.cpp top.h nash/nash_hls.h nash/nash_shim.h; do
		[ -f "proj/$f" ]
	done
	[ "$(meta out.nash hls.project)" = '"proj"' ]
	[ "$(meta out.nash hls.layers)" = 5 ]
	[ "$(meta out.nash hls.images)" = 10 ]
	[ "$(meta out.nash hls.csim)" = null ]
	grep -q 'set_part {xczu7ev}' proj/run_hls.tcl
	grep -q 'csim_design' proj/run_hls.tcl
	grep -q 'csynth_design' proj/run_hls.tcl
	grep -q 'export_design' proj/run_hls.tcl
	grep -q '#pragma HLS INTERFACE axis port=in' proj/top.cpp
	grep -q '#pragma HLS DATAFLOW' proj/top.cpp
	grep -q 'BIND_STORAGE variable=w' proj/top.cpp
	grep -q '^csim:' proj/Makefile
	# writing again replaces the project
	nash-hls -q -o proj --images 3 tfc.nash >/dev/null
	[ "$(grep -c '^{' proj/tb_data.h)" -eq 6 ]
}

@test "several graphs: %n names one project per graph" {
	cat tfc.nash cnv.nash | nash-hls -q -o 'many-%n' --images 2 >out.nash
	[ -f many-tfc-w1a1/top.cpp ]
	[ -f many-cnv-w1a1/top.cpp ]
	[ "$(nash-dump out.nash | wc -l)" -eq 2 ]
	run --separate-stderr sh -c 'cat tfc.nash tfc.nash | nash-hls -q -o one --images 2 >/dev/null'
	assert_error_line nash-hls 1
	[[ "$stderr" == *"put %n in the path"* ]]
}

@test "a graph without folding: one line saying to run nash-est, no project" {
	run --separate-stderr nash-hls -o nofold tfc-logits.nash
	assert_error_line nash-hls 1
	[[ "$stderr" == *"graph tfc-w1a1 has no folding"*"run nash-est"* ]]
	[ ! -e nofold ]
	[ -z "$(ls -d nofold* 2>/dev/null)" ]
}

@test "a layer type without a template is named" {
	run --separate-stderr nash-hls -o bad tfc-relu.nash
	assert_error_line nash-hls 1
	[[ "$stderr" == *"node pre_relu: op Relu has no HLS template"* ]]
	[ ! -e bad ]
}

@test "unwritable output path: one line, exit 1, nothing left" {
	mkdir -p ro && chmod 555 ro
	run --separate-stderr nash-hls -o /proc/nash-hls-proj tfc.nash
	assert_error_line nash-hls 1
	[[ "$stderr" == *"/proc/nash-hls-proj: cannot create the project"* ]]
	run --separate-stderr nash-hls -o nodir/sub/p.tar.gz tfc.nash
	assert_error_line nash-hls 1
	[[ "$stderr" == *"nodir/sub/p.tar.gz"* ]]
}

@test "full disk: stdout on /dev/full or a file size limit leave no project" {
	run --separate-stderr sh -c 'nash-hls -o full_p tfc.nash >/dev/full'
	assert_error_line nash-hls 1
	[[ "$stderr" == *"stdout"* ]]
	[ ! -e full_p ]
	run --separate-stderr sh -c 'ulimit -f 40; nash-hls -o big_p --images 50 cnv.nash >/dev/null'
	assert_error_line nash-hls 1
	[[ "$stderr" == *"big_p"* ]]
	[ ! -e big_p ]
	run --separate-stderr sh -c 'ulimit -f 40; nash-hls -o big.tar --images 50 cnv.nash >/dev/null'
	assert_error_line nash-hls 1
	[ ! -e big.tar ]
	[ -z "$(ls -d big* full_p* 2>/dev/null)" ]
}

@test "SIGTERM or SIGINT during the C simulation: the temporary project and the compiler go, the signal's status" {
	for sig in TERM INT; do
		mkdir -p "sig$sig" && cd "sig$sig"
		nash-hls --csim -o p ../tfc.nash >out.nash 2>err &
		pid=$!
		# wait until the build has started inside the temporary directory
		for _ in $(seq 200); do
			ls p.tmp.*/csim.log >/dev/null 2>&1 && break
			sleep 0.05
		done
		ls -d p.tmp.* >/dev/null
		tmp=$(ls -d p.tmp.*)
		kill -"$sig" "$pid"
		rc=0
		wait "$pid" || rc=$?
		[ "$rc" -eq $((128 + $(kill -l "$sig"))) ]
		sleep 1   # a compiler still running would have written into it by now
		[ -z "$(ls -d p p.tmp.* 2>/dev/null)" ]
		# nothing runs in the removed directory any more
		! ls -l /proc/[0-9]*/cwd 2>/dev/null | grep -q -- "$tmp"
		cd ..
	done
}

@test "bad input: truncated stream, missing file, missing data directory" {
	head -c 300 tfc.nash >trunc.nash
	run --separate-stderr nash-hls -o t trunc.nash
	assert_error_line nash-hls 1
	run --separate-stderr nash-hls -o t nosuch.nash
	assert_error_line nash-hls 1
	[[ "$stderr" == *"nosuch.nash"* ]]
	run --separate-stderr nash-hls -o t --data /nonexistent tfc.nash
	assert_error_line nash-hls 1
	[[ "$stderr" == *"/nonexistent"* ]]
	[ -z "$(ls -d t t.* 2>/dev/null)" ]
}

@test "usage: -o is required, --help, --version, terminal refused" {
	run --separate-stderr nash-hls tfc.nash
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"-o PATH is required"* ]]
	run nash-hls --help
	assert_success
	assert_output --partial 'Usage: nash-hls -o PATH'
	run nash-hls --version
	assert_success
	assert_output --regexp '^nash-hls \(nash\) [0-9]'
	run --separate-stderr nash-hls --images 0 -o x tfc.nash
	[ "$status" -eq 2 ]
}
