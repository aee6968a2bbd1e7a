#!/usr/bin/env bats
# nash-hls: HLS projects from folded hardware graphs, verified by C
# simulation against the integer executor. Until nash-stream exists the
# graphs come from the test generator (tests/unit/test_hls.c, built on the
# hwfix fixture, thresholds calibrated so every stream varies); nash-est
# folds them. "-logits" graphs end at the integer scores (no LabelSelect).
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	gen="$NASH_BUILD/tests/test_hls"
	for g in tfc-logits cnv-logits resnet18-28-w16 resnet18-nash-w16-logits tfc-relu; do
		"$gen" emit $g $g.nash
	done
	nash-est --fps 20000 tfc-logits.nash >tfc.nash
	nash-est --fps 300 --best-effort -q cnv-logits.nash >cnv.nash
	nash-est --fps 3000 --best-effort -q resnet18-28-w16.nash >r18.nash
	nash-est --fps 3000 --best-effort -q resnet18-nash-w16-logits.nash >r18nash.nash
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

@test "tfc: C simulation equals the integer executor on 100 Fashion-MNIST images" {
	nash-hls -o tfc_p --images 100 --csim tfc.nash >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	[ "$(meta out.nash hls.csim.images)" = 100 ]
	[ "$(meta out.nash hls.csim.mismatches)" = 0 ]
	[ "$(meta out.nash hls.inputs)" = '"fashion-mnist test images 0..99"' ]
	grep -q 'csim: 100 images, 100 match, 0 mismatch' tfc_p/csim.log
	[ "$(distinct tfc_p)" -gt 50 ]
	# the graph passes through with meta.est kept
	[ "$(nash-dump out.nash | cut -f 1)" = tfc-w1a1 ]
	[ "$(meta out.nash est.part)" = '"xczu7ev"' ]
}

@test "cnv: C simulation equals the integer executor on 100 random CIFAR-shaped inputs" {
	nash-hls -o cnv_p --images 100 --csim cnv.nash >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	[ "$(meta out.nash hls.csim.mismatches)" = 0 ]
	[[ "$(meta out.nash hls.inputs)" == '"random INT8 values, seed 1'* ]]
	[ "$(distinct cnv_p)" -gt 50 ]
	grep -q 'nash::swg<32, 32, 3, 3, 3' cnv_p/top.cpp
	grep -q 'nash::pool<' cnv_p/top.cpp
}

@test "ResNet18 w16 baseline: 100 images bit-exact, one image in far less than 60 s" {
	nash-hls -o r18_p --images 100 --csim r18.nash >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	[ "$(meta out.nash hls.csim.mismatches)" = 0 ]
	[ "$(distinct r18_p)" -gt 1 ]
	per=$(meta out.nash hls.csim.per_image_s)
	echo "# ResNet18 w16: $per s per image in C simulation" >&3
	/usr/bin/python3 -c "assert $per <= 60, $per"
	grep -q 'nash::label_select<10, ' r18_p/top.cpp
	grep -q 'nash::add_streams<' r18_p/top.cpp
	grep -q 'nash::duplicate<' r18_p/top.cpp
	# FIFO depths from nash-est's StreamingFIFO nodes
	grep -q '#pragma HLS STREAM variable=.* depth=[0-9][0-9]' r18_p/top.cpp
}

@test "ResNet18 w16 NASH cells: 100 images bit-exact, written as an archive" {
	nash-hls -o r18nash.tar.gz --images 100 --csim r18nash.nash >out.nash
	[ "$(meta out.nash hls.csim.passed)" = true ]
	[ "$(meta out.nash hls.format)" = '"archive"' ]
	tar tzf r18nash.tar.gz | sort >list
	for f in r18nash/ r18nash/Makefile r18nash/README.md r18nash/run_hls.tcl r18nash/tb.cpp r18nash/tb_data.h \
	         r18nash/top.cpp r18nash/top.h r18nash/nash/nash_hls.h r18nash/nash/nash_shim.h r18nash/csim.log; do
		grep -qx "$f" list
	done
	tar xzf r18nash.tar.gz
	grep -q 'nash::concat<' r18nash/top.cpp
	[ "$(distinct r18nash)" -gt 50 ]
	# the archive's project builds and passes on its own
	run make -C r18nash csim
	assert_success
	assert_output --partial 'csim: PASS'
	ls | grep -v tmp >/dev/null
	[ -z "$(ls -d *.tmp.* 2>/dev/null)" ]
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
