#!/usr/bin/env bats
# Faults around the tools: a full disk (/dev/full for stdout and -o files,
# a file-size limit for files written under a temporary name), a closed
# pipe, an output directory that cannot exist, SIGTERM and SIGKILL during
# training. Each ends with exit 1 and one line (a closed pipe: quietly),
# never a crash, and leaves no partial or temporary file behind.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	nash-gen tfc >float.nash
	nash-quant --preset w1a1 float.nash |
		nash-train --data fashion-mnist --limit 64 --epochs 1 --seed 1 -q >qat.nash
	nash-stream -q qat.nash >hw.nash
	nash-est -q hw.nash >est.nash
	nash-onnx export -o model.onnx -q qat.nash >/dev/null
	: >afile
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# every tool writing to stdout, one command per line (input files are
# fixtures of setup_file)
STDOUT_CMDS='nash-gen tfc
nash-gen --list
nash-gen --help
nash-dump float.nash
nash-dump --nodes est.nash
nash-dump --json est.nash
nash-quant float.nash
nash-quant --list
nash-train --data fashion-mnist --limit 64 --epochs 1 -q float.nash
nash-eval --data fashion-mnist --limit 64 -q float.nash
nash-eval --data fashion-mnist --limit 64 -q --tsv float.nash
nash-stream -q qat.nash
nash-stream --list
nash-onnx export -o out/x.onnx -q qat.nash
nash-onnx import -q model.onnx
nash-est -q hw.nash
nash-est -q --tsv hw.nash
nash-hls -o out/p.tar.gz -n 2 -q est.nash
nash-pareto -q est.nash
nash-pareto -q --pass -o out/t.tsv est.nash
nash-pareto --version'

# only these names may be in DIR (a partial or temporary file fails)
only() { # DIR NAME...
	local dir=$1 want got
	shift
	want=$(printf '%s\n' "$@" | sort | grep . || true)
	got=$(ls -A "$dir" | sort)
	if [ "$got" != "$want" ]; then
		echo "$dir holds: $(echo $got); expected: $(echo $want)" >&2
		return 1
	fi
}

# run CMD with a file-size limit of KB kilobytes (SIGXFSZ ignored, so a
# write past it fails with EFBIG as on a full disk); stderr to err.txt
limited() { # KB CMD...
	local kb=$1
	shift
	# stderr through a pipe: err.txt is written by cat, outside the limit
	( trap '' XFSZ; ulimit -f "$kb"; "$@" 2>&1 >/dev/null ) | cat >err.txt
	return "${PIPESTATUS[0]}"
}

one_line() { # TOOL: err.txt holds one line "TOOL: ..."
	local n
	n=$(grep -c . err.txt)
	if [ "$n" -ne 1 ] || ! grep -q "^$1: " err.txt; then
		echo "expected one '$1: ' line, got: $(cat err.txt)" >&2
		return 1
	fi
}

@test "stdout on a full disk (/dev/full): every tool exits 1 with one line" {
	local fails="" cmd rc
	while IFS= read -r cmd; do
		rm -rf out && mkdir out
		rc=0
		$cmd >/dev/full 2>err.txt || rc=$?
		if [ $rc -ne 1 ]; then
			fails+="$cmd: exit $rc"$'\n'
		elif ! one_line "${cmd%% *}" 2>/dev/null || ! grep -q "stdout" err.txt; then
			fails+="$cmd: $(cat err.txt)"$'\n'
		fi
	done <<<"$STDOUT_CMDS"
	[ -z "$fails" ] || { printf '%s' "$fails" >&2; return 1; }
	[ -c /dev/full ]
}

@test "-o files on /dev/full: exit 1 with one line, the device stays a device" {
	run --separate-stderr nash-onnx export -o /dev/full -q qat.nash
	assert_error_line nash-onnx
	[[ "$stderr" == *"/dev/full: write error: No space left on device" ]]
	run --separate-stderr nash-pareto -q -o /dev/full est.nash
	assert_error_line nash-pareto
	[[ "$stderr" == *"/dev/full: write error"* ]]
	run --separate-stderr nash-train --data fashion-mnist --limit 64 --epochs 1 -q --checkpoint /dev/full float.nash
	assert_error_line nash-train
	[[ "$stderr" == *"checkpoint /dev/full: write error"* ]]
	run --separate-stderr nash-hls -o /dev/full -n 2 -q est.nash
	assert_error_line nash-hls
	[ -c /dev/full ]
	ls /dev | grep -c 'full\.tmp' | grep -qx 0
}

@test "files on a full disk (file-size limit): exit 1, one line, nothing left behind" {
	local -a cmds=(
		"nash-onnx export -o out/x.onnx -q qat.nash"
		"nash-onnx export -o out/d/ -q qat.nash"
		"nash-hls -o out/p.tar.gz -n 2 -q est.nash"
		"nash-hls -o out/proj -n 2 -q est.nash"
		"nash-pareto -q -o out/t.tsv est.nash"
		"nash-pareto -q --plot out/p.png est.nash"
		"nash-pareto -q --plot out/p.svg est.nash"
		"nash-pareto -q --plot out/p.pdf est.nash"
		"nash-train --data fashion-mnist --limit 64 --epochs 1 -q --checkpoint out/ck float.nash"
	)
	local cmd rc fails=""
	for cmd in "${cmds[@]}"; do
		rm -rf out && mkdir out
		# every file is bigger than 4 KB but the TSV table (0 KB for it)
		local kb=4
		[[ "$cmd" == *t.tsv* ]] && kb=0
		rc=0
		limited $kb $cmd || rc=$?
		if [ $rc -ne 1 ]; then
			fails+="$cmd: exit $rc: $(cat err.txt)"$'\n'
		elif ! one_line "${cmd%% *}" 2>/dev/null; then
			fails+="$cmd: $(cat err.txt)"$'\n'
		elif [[ "$cmd" == *"-o out/d/"* ]]; then
			# the directory itself may stay, empty
			[ -z "$(ls -A out/d 2>/dev/null)" ] || fails+="$cmd: left $(ls -A out/d)"$'\n'
		elif [ -n "$(ls -A out)" ]; then
			fails+="$cmd: left $(ls -A out)"$'\n'
		fi
	done
	[ -z "$fails" ] || { printf '%s' "$fails" >&2; return 1; }
	# the temporary files of the plot are gone too
	[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'nash-pareto.*' -newer afile 2>/dev/null)" ]
}

@test "out of memory (a 1 GB address-space cap): exit 1, one line naming the tool, never an abort" {
	# AddressSanitizer's shadow memory cannot live under such a cap
	[ -z "${ASAN_OPTIONS:-}" ] || skip "under AddressSanitizer"
	nash-gen resnet18 -i 1x28x28 -w 16 >r18.nash
	nash-gen resnet18 -i 1x28x28 -w 64 >r18w64.nash
	local -a cmds=(
		"nash-train --data fashion-mnist --limit 256 --batch 4096 --epochs 1 -q r18.nash"
		"nash-eval --data fashion-mnist --limit 4096 --batch 4096 -q r18w64.nash"
	)
	for c in "${cmds[@]}"; do
		run --separate-stderr bash -c "ulimit -v 1000000; exec $c >/dev/null"
		assert_error_line "${c%% *}" 1
		[[ "$stderr" == *"out of memory"* ]]
	done
}

@test "a closed pipe: every tool ends quietly (exit 0 or SIGPIPE), no partial file" {
	local fails="" cmd st
	while IFS= read -r cmd; do
		rm -rf out && mkdir out
		# the reader is gone before the tool writes its first byte
		(sleep 0.2; exec $cmd 2>err.txt) | true
		st=${PIPESTATUS[0]}
		if [ "$st" -ne 0 ] && [ "$st" -ne 141 ]; then
			fails+="$cmd: exit $st: $(cat err.txt)"$'\n'
		elif [ -s err.txt ]; then
			fails+="$cmd: said $(cat err.txt)"$'\n'
		elif ls -A out | grep -q '\.tmp\.'; then
			fails+="$cmd: left $(ls -A out)"$'\n'
		fi
		# and a reader that takes one byte, then goes
		$cmd 2>err.txt | head -c 1 >/dev/null
		st=${PIPESTATUS[0]}
		if { [ "$st" -ne 0 ] && [ "$st" -ne 141 ]; } || [ -s err.txt ]; then
			fails+="$cmd | head -c 1: exit $st: $(cat err.txt)"$'\n'
		fi
	done <<<"$STDOUT_CMDS"
	[ -z "$fails" ] || { printf '%s' "$fails" >&2; return 1; }
	# a project written before the stream is whole
	(sleep 0.2; exec nash-hls -o out/p.tar.gz -n 2 -q est.nash) | true
	only out p.tar.gz
	tar -tzf out/p.tar.gz >/dev/null
}

@test "an output directory that cannot exist (under a regular file): exit 1, one line" {
	run --separate-stderr nash-hls -o afile/p.tar.gz -n 2 -q est.nash
	assert_error_line nash-hls
	[[ "$stderr" == *"afile/p.tar.gz: cannot create the project: Not a directory" ]]
	run --separate-stderr nash-hls -o afile/proj -n 2 -q est.nash
	assert_error_line nash-hls
	run --separate-stderr nash-hls -o 'afile/sub/%n/' -n 2 -q est.nash
	assert_error_line nash-hls
	run --separate-stderr nash-pareto --plot afile/p.png -q est.nash
	assert_error_line nash-pareto
	[[ "$stderr" == *"cannot write plot afile/p.png: Not a directory" ]]
	run --separate-stderr nash-pareto -o afile/t.tsv -q est.nash
	assert_error_line nash-pareto
	run --separate-stderr nash-onnx export -o afile/x.onnx -q qat.nash
	assert_error_line nash-onnx
	[[ "$stderr" == *"afile/x.onnx: cannot create: Not a directory" ]]
	run --separate-stderr nash-onnx export -o afile/d/ -q qat.nash
	assert_error_line nash-onnx
	run --separate-stderr nash-train --checkpoint afile/ck --data fashion-mnist --limit 64 --epochs 1 -q float.nash
	assert_error_line nash-train
	[[ "$stderr" == *"checkpoint afile/ck: cannot create: Not a directory" ]]
	# nothing was written to stdout on any of these
	run --separate-stderr nash-onnx export -o afile/x.onnx -q qat.nash
	assert_output ""
	[ ! -s afile ]
}

# a QAT ResNet18 w4, trained in a pipeline with a checkpoint
TRAIN="nash-train --data fashion-mnist --limit 1000 --epochs 2 --batch 16 -j 1 --seed 3"

weights() { # FILE: a digest of every tensor
	nash-dump --json --data "$1" | /usr/bin/python3 -c '
import hashlib, json, sys
for g in json.load(sys.stdin):
    print(hashlib.sha1(json.dumps(g["tensors"], sort_keys=True).encode()).hexdigest())'
}

@test "SIGTERM during training in a pipeline: checkpoint, exit 1, one line; --resume finishes alike" {
	rm -rf run && mkdir run
	nash-gen resnet18 --input 1x28x28 --width 4 | nash-quant --preset w2a2 >run/r18q.nash
	$TRAIN -q run/r18q.nash >run/full.nash
	# train -c | stream through a FIFO (to know nash-train's pid); TERM to
	# nash-train in its second epoch
	mkfifo run/pipe
	nash-stream -q <run/pipe >run/hw.nash 2>run/stream.err &
	local spid=$! i st sst
	$TRAIN -c run/r18.ckpt run/r18q.nash 2>run/train.err >run/pipe &
	local pid=$!
	for i in $(seq 1200); do grep -q "epoch 1/2" run/train.err && break; sleep 0.05; done
	kill -TERM $pid
	st=0; wait $pid || st=$?
	sst=0; wait $spid || sst=$?
	rm run/pipe
	# nash-train: exit 1 (nash-train(1)), one line after the epoch lines
	assert_equal "$st" 1
	run tail -n 1 run/train.err
	[[ "$output" =~ ^"nash-train: graph resnet18-w4-w2a2: interrupted by SIGTERM at epoch "[12]" step "[0-9]+/63"; checkpoint written to run/r18.ckpt (continue with --resume)"$ ]]
	[ "$(grep -vc ' epoch [0-9]/2 ' run/train.err)" -eq 1 ]
	# the next stage does not take the cut stream for a result
	assert_equal "$sst" 1
	run cat run/stream.err
	assert_output "nash-stream: empty input: no records on stdin"
	[ ! -s run/hw.nash ]
	only run r18q.nash full.nash r18.ckpt train.err hw.nash stream.err
	[ "$(nash-dump --meta checkpoint.format run/r18.ckpt | cut -f 2)" = 1 ]
	# resumed, it ends with the weights of the uninterrupted run
	$TRAIN -q -c run/r18.ckpt --resume run/r18q.nash | tee run/resumed.nash | nash-stream -q >run/hw.nash
	[ "$(weights run/resumed.nash)" = "$(weights run/full.nash)" ]
	nash-dump run/hw.nash | grep -q '^resnet18-w4-w2a2	'
	only run r18q.nash full.nash r18.ckpt train.err hw.nash stream.err resumed.nash
}

@test "SIGKILL at any moment of training (also while a checkpoint is written): no temporary file; --resume finishes" {
	rm -rf kill && mkdir kill
	# LFC: a 12 MB checkpoint written every short epoch, so kills land in writes
	nash-gen lfc >kill/lfc.nash
	local args="--data fashion-mnist --limit 16 --batch 8 --epochs 40 -j 1 --seed 2 -q"
	local d st i
	for d in 0.3 0.45 0.6 0.75 0.9 1.1; do
		rm -f kill/ck
		nash-train $args -c kill/ck kill/lfc.nash >/dev/null &
		sleep $d
		kill -KILL $! 2>/dev/null || true
		st=0; wait $! || st=$?
		[ "$st" -eq 137 ] || [ "$st" -eq 0 ]
		# the checkpoint (once the first one is written) and nothing else
		if [ -e kill/ck ]; then
			only kill lfc.nash ck
			nash-dump kill/ck >/dev/null
		else
			only kill lfc.nash
		fi
	done
	# and once more after the first checkpoint exists (a loaded machine may
	# not have reached it in the delays above)
	rm -f kill/ck
	nash-train $args -c kill/ck kill/lfc.nash >/dev/null &
	for i in $(seq 1200); do [ -e kill/ck ] && break; sleep 0.05; done
	kill -KILL $! 2>/dev/null || true
	wait $! || true
	[ -e kill/ck ]
	only kill lfc.nash ck
	nash-train $args -c kill/ck --resume kill/lfc.nash >kill/out.nash
	nash-dump --meta train.epochs kill/out.nash | grep -q '	40$'
	only kill lfc.nash ck out.nash
}
