#!/usr/bin/env bats
# The bad-input matrix: every tool against every kind of broken input.
#
# Each tool reads the stage of graph it works on (a float graph for
# nash-dump/quant/train/eval, a QAT-trained quantized graph for
# nash-stream and nash-onnx export, a hardware graph for nash-est, a
# folded and estimated graph for nash-hls and nash-pareto), for two nets
# (TFC w1a1 read from stdin, a ResNet18 of width 4 w2a2 read as a FILE
# argument). tests/badinput.py breaks that good input in eight ways:
#
#   case          expected
#   good          exit 0, output written
#   empty         exit 1, one line "nash-TOOL: ...empty input..."
#   truncated     exit 1, one line naming the truncated record
#   random        exit 1, one line ("not a nash record" / binary data)
#   newer         exit 1, one line naming format version 99
#   missing       exit 1, one line naming the undefined tensor
#   shape         exit 1, one line naming the mismatching shape
#   nan           exit 1, one line naming the NaN tensor
#   unknown-kind  exit 0, the unknown record passed on byte for byte
#                 (tools that write a stream) or ignored (table output)
#
# nash-onnx import gets the same cases made from a QONNX export of each net
# (badinput.py --onnx; its "unknown kind" is an unknown op, refused by
# name). Never a signal death (exit > 128), never anything on stdout on a failure,
# never an output file left behind (-o of nash-hls and nash-onnx). The last
# test prints the tools x cases table (make check VERBOSE=1 shows it):
#
#   tool                good empty truncated random newer missing shape nan unknown-kind
#   nash-dump           ok   ok    ok        ok     ok    ok      ok    ok  ok
#   ... (one row per tool; every cell must be "ok")
load helpers

CASES="good empty truncated random newer missing shape nan unknown-kind"

# the unknown record badinput.py puts in front of the good stream
UNKNOWN_BYTES=35

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	local bad="$BATS_TEST_DIRNAME/badinput.py"
	nash-gen tfc >tfc-float.nash
	nash-gen resnet18 --input 1x28x28 --width 4 >r18-float.nash
	nash-quant --preset w1a1 tfc-float.nash >tfc-q.nash
	nash-quant --preset w2a2 r18-float.nash >r18-q.nash
	for net in tfc r18; do
		nash-train --data fashion-mnist --limit 64 --epochs 1 --seed 1 -q $net-q.nash >$net-qat.nash
		nash-stream -q $net-qat.nash >$net-hw.nash
		nash-est -q $net-hw.nash >$net-est.nash
		for stage in float qat hw est; do
			cp $net-$stage.nash $net-$stage-good.nash
			for c in $CASES; do
				[ "$c" = good ] && continue
				/usr/bin/python3 "$bad" "$c" <$net-$stage.nash >$net-$stage-$c.nash
			done
		done
		# QONNX models for nash-onnx import, broken alike
		nash-onnx export -o $net.onnx -q $net-qat.nash >/dev/null
		cp $net.onnx $net-onnx-good.onnx
		for c in $CASES; do
			[ "$c" = good ] && continue
			/usr/bin/python3 "$bad" --onnx "$c" <$net.onnx >$net-onnx-$c.onnx
		done
	done
	: >table
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# the words the one error line must hold, per case (an extended regexp)
want() {
	case $1 in
	empty) echo 'empty input' ;;
	truncated) echo 'truncated' ;;
	random) echo 'not a nash record|binary data' ;;
	newer) echo 'version 99' ;;
	missing) echo 'is not defined' ;;
	shape) echo 'expected|disagree' ;;
	nan) echo 'NaN' ;;
	esac
}

# one cell: "ok" or what went wrong
cell() { # TOOL STAGE KIND(stream|table) NET CASE OUTFILE ARGS...
	local tool=$1 stage=$2 kind=$3 net=$4 c=$5 outfile=$6
	shift 6
	local in=$net-$stage-$c.nash
	rm -rf "$outfile" out.bin err.txt
	if [ "$net" = tfc ]; then
		$tool "$@" <"$in" >out.bin 2>err.txt
	else
		$tool "$@" "$in" >out.bin 2>err.txt </dev/null
	fi
	local rc=$? lines
	lines=$(grep -c . err.txt)
	if [ $rc -gt 128 ]; then
		echo "signal $((rc - 128))"
		return
	fi
	case $c in
	good | unknown-kind)
		if [ $rc -ne 0 ] || [ "$lines" -ne 0 ]; then
			echo "exit $rc: $(head -n 2 err.txt)"
		elif [ ! -s out.bin ]; then
			echo "no output"
		elif [ "$c" = unknown-kind ] && [ "$kind" = stream ] &&
			! cmp -s -n $UNKNOWN_BYTES out.bin "$in"; then
			echo "unknown record not passed through"
		else
			echo ok
		fi
		;;
	*)
		if [ $rc -ne 1 ]; then
			echo "exit $rc"
		elif [ "$lines" -ne 1 ]; then
			echo "$lines stderr lines"
		elif ! grep -q "^$tool: " err.txt; then
			echo "no '$tool: ' prefix"
		elif ! grep -Eq "$(want $c)" err.txt; then
			echo "unclear: $(cat err.txt)"
		elif [ -s out.bin ]; then
			echo "output written"
		elif [ -n "$outfile" ] && [ -e "$outfile" ]; then
			echo "left $outfile"
		else
			echo ok
		fi
		;;
	esac
}

# one row of the matrix: every case on both nets; fails naming bad cells
row() { # TOOL STAGE KIND OUTFILE ARGS...
	local tool=$1 stage=$2 kind=$3 outfile=$4
	shift 4
	local line fails="" r c net
	line=$(printf '%-19s' "$tool${TAG:+ $TAG}")
	for c in $CASES; do
		local res=ok
		for net in tfc r18; do
			r=$(cell "$tool" "$stage" "$kind" $net "$c" "$outfile" "$@")
			if [ "$r" != ok ]; then
				res=FAIL
				fails+="$tool $net $c: $r"$'\n'
			fi
		done
		line+=" $(printf "%-${#c}s" $res)"
	done
	echo "$line" >>table
	if [ -n "$fails" ]; then
		printf '%s' "$fails" >&2
		return 1
	fi
}

@test "nash-dump x bad inputs" {
	row nash-dump float table ""
}

@test "nash-quant x bad inputs" {
	row nash-quant float stream "" --preset w2a2
}

@test "nash-train x bad inputs" {
	row nash-train float stream "" --data fashion-mnist --limit 64 --epochs 1 -q
}

@test "nash-eval x bad inputs" {
	row nash-eval float stream "" --data fashion-mnist --limit 64 -q
}

@test "nash-stream x bad inputs" {
	row nash-stream qat stream "" -q
}

@test "nash-onnx export x bad inputs" {
	TAG=export row nash-onnx qat stream x.onnx export -o x.onnx -q
}

@test "nash-est x bad inputs" {
	row nash-est hw stream "" --fps 1000 --best-effort -q
}

@test "nash-hls x bad inputs" {
	row nash-hls est stream p.tar.gz -o p.tar.gz -n 2 -q
}

@test "nash-pareto x bad inputs" {
	row nash-pareto est table "" -q
}

@test "nash-pareto --pass x bad inputs" {
	TAG=--pass row nash-pareto est stream t.tsv --pass -o t.tsv -q
}

# nash-onnx import reads ONNX files: the same cases, where an unknown op
# (ONNX has no records to pass on) is refused by name
@test "nash-onnx import x bad files" {
	local c net line r res fails="" status stderr
	line=$(printf '%-19s' "nash-onnx import")
	for c in $CASES; do
		res=ok
		for net in tfc r18; do
			r=ok
			status=0
			nash-onnx import -q $net-onnx-$c.onnx >out.bin 2>err.txt || status=$?
			stderr=$(cat err.txt)
			if [ "$c" = good ]; then
				[ "$status" -eq 0 ] && [ -s out.bin ] || r="exit $status: $stderr"
			elif [ "$status" -ne 1 ] || [ "$(grep -c . err.txt)" -ne 1 ] ||
				[[ "$stderr" != "nash-onnx: $net-onnx-$c.onnx: "* ]] || [ -s out.bin ]; then
				r="exit $status: $stderr"
			else
				case $c in
				empty) [[ "$stderr" == *"empty file"* ]] || r="unclear: $stderr" ;;
				truncated | random) [[ "$stderr" == *"not an ONNX model"* ]] || r="unclear: $stderr" ;;
				newer) [[ "$stderr" == *"opset 99"* ]] || r="unclear: $stderr" ;;
				missing) [[ "$stderr" == *"not defined"* ]] || r="unclear: $stderr" ;;
				shape) [[ "$stderr" == *"expected"* ]] || r="unclear: $stderr" ;;
				nan) [[ "$stderr" == *"NaN"* ]] || r="unclear: $stderr" ;;
				unknown-kind) [[ "$stderr" == *"unsupported op NoSuchOp"* ]] || r="unclear: $stderr" ;;
				esac
			fi
			if [ "$r" != ok ]; then
				res=FAIL
				fails+="nash-onnx import $net $c: $r"$'\n'
			fi
		done
		line+=" $(printf "%-${#c}s" $res)"
	done
	echo "$line" >>table
	[ -z "$fails" ] || { printf '%s' "$fails" >&2; return 1; }
}

@test "the matrix table: every tool x every case ok" {
	local hdr
	hdr=$(printf '%-19s' tool)
	for c in $CASES; do hdr+=" $c"; done
	{
		echo "$hdr"
		cat table
	} | sed 's/^/# /' >&3
	[ "$(wc -l <table)" -eq 11 ]
	! grep -q FAIL table
}

# Limits: absurd sizes are refused from the record's header or the shapes,
# before anything that big is allocated (the tools run under a 2 GB
# address-space cap, so a large allocation would abort them; under
# AddressSanitizer, whose shadow memory needs terabytes of address space,
# its own allocator refuses a large allocation instead).
limited_run() { # CMD... (stdin from the caller)
	local cap='ulimit -v 2000000;'
	[ -n "${ASAN_OPTIONS:-}" ] && cap=''
	run --separate-stderr bash -c "$cap"' exec "$@"' _ "$@"
}

@test "limits: 10^15 elements, deep nesting, huge counts, huge inferred shapes are refused before allocation" {
	/usr/bin/python3 - <<'PY'
import msgpack
def load(f):
    return next(msgpack.Unpacker(open(f, "rb"), raw=False, strict_map_key=False))
def save(f, g):
    open(f, "wb").write(msgpack.packb(g, use_bin_type=True))
g = load("tfc-float.nash")
t = g["tensors"]["fc0.weight"]
t["shape"] = [10**15]
del t["data"]
save("lim-numel.nash", g)
g = load("tfc-float.nash")
v = "bottom"
for _ in range(40):
    v = [v]
g["meta"]["deep"] = v
save("lim-deep.nash", g)
# a map claiming 2^32-1 pairs, a bin claiming 4 GB
open("lim-count.nash", "wb").write(b"\xdf\xff\xff\xff\xff" + b"\xa4nash\x01" * 100)
open("lim-bin.nash", "wb").write(b"\x82\xa4nash\x01\xa4data\xc6\xff\xff\xff\xf0" + bytes(1000))
# pads of 10^5: the first conv's output would be 4x200026x200026
g = load("r18-float.nash")
for n in g["nodes"]:
    if n["op"] == "Conv":
        n["attr"]["pads"] = [100000] * 4
        break
save("lim-pads.nash", g)
# pads of 10^4: within the element limit, but 1.6 TB at batch 256
for n in g["nodes"]:
    if n["op"] == "Conv":
        n["attr"]["pads"] = [10000] * 4
        break
save("lim-mem.nash", g)
PY
	local c tool
	for c in numel deep count bin pads; do
		for tool in nash-dump nash-quant nash-eval nash-stream nash-est; do
			limited_run $tool lim-$c.nash
			assert_error_line $tool
		done
	done
	limited_run nash-dump lim-numel.nash
	[[ "$stderr" == *"tensor fc0.weight: shape dimension 0 is 1000000000000000, over the limit" ]]
	limited_run nash-dump lim-deep.nash
	[[ "$stderr" == *"nested deeper than 24 levels" ]]
	limited_run nash-dump lim-count.nash
	[[ "$stderr" == *"over the limit"* ]]
	limited_run nash-dump lim-bin.nash
	[[ "$stderr" == *"size over the limit"* ]]
	limited_run nash-dump lim-pads.nash
	[[ "$stderr" == *"node stem.conv: output stem.conv would be 4x200026x200026, over the limit of 4294967296 elements" ]]
	# a lowered window over the limit is the input's fault, not an internal error
	nash-quant -p w2a2 lim-mem.nash >lim-memq.nash
	limited_run nash-stream lim-memq.nash
	assert_error_line nash-stream
	[[ "$stderr" == *"over the limit of"* && "$stderr" != *"internal error"* ]]
	# the executors refuse a graph whose tensors cannot fit in memory
	for tool in nash-eval nash-train; do
		limited_run $tool --data fashion-mnist --limit 8 -q lim-mem.nash
		assert_error_line $tool
		[[ "$stderr" == *"tensor stem.conv alone needs"*"GB at batch"*"more than this machine's"* ]]
	done
}
