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
# Never a signal death (exit > 128), never anything on stdout on a failure,
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

@test "the matrix table: every tool x every case ok" {
	local hdr
	hdr=$(printf '%-19s' tool)
	for c in $CASES; do hdr+=" $c"; done
	{
		echo "$hdr"
		cat table
	} | sed 's/^/# /' >&3
	[ "$(wc -l <table)" -eq 10 ]
	! grep -q FAIL table
}
