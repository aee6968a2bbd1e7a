#!/usr/bin/env bats
# nash-train: training on Fashion-MNIST slices and synthetic CIFAR-10,
# determinism, checkpoints through signals and kills, every bad input.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	python3 "$BATS_TEST_DIRNAME/data-fixtures.py" "$FMNIST"
	nash-gen tfc >tfc.nash
	nash-gen tfc -i 3x32x32 >tfc3.nash
	nash-gen resnet18 -i 1x28x28 -w 4 >r4.nash
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

meta() { # FILE PATH -> the value of meta PATH of the first graph
	nash-dump --meta "$2" "$1" | head -n 1 | cut -f 2
}

# A digest of every graph's tensors (names, shapes, data), one per line.
tensors() { # FILE
	nash-dump --json --data "$1" | python3 -c '
import hashlib, json, sys
for g in json.load(sys.stdin):
    print(hashlib.sha1(json.dumps(g["tensors"], sort_keys=True).encode()).hexdigest())'
}

# py EXPR: assert a Python expression
py() { python3 -c "import sys; v = $1; assert v, v" ; }

@test "tfc on a Fashion-MNIST slice: accuracy rises far above chance" {
	nash-train -j 1 --limit 3000 --epochs 3 --batch 64 -q tfc.nash >t.nash
	top1=$(meta t.nash train.top1)
	py "$top1 > 70"
	# the first epoch's test accuracy is lower than the last one's
	first=$(nash-dump --meta train.history t.nash | cut -f 2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["test_top1"])')
	py "$first < $top1 + 0.01"
	run nash-dump t.nash
	assert_output --regexp "^tfc	nodes=11	.*top1=[0-9.]+$"
}

@test "a small ResNet-18 (width 4) trains on a slice" {
	nash-train -j 1 --limit 600 --epochs 2 --batch 32 -q r4.nash >r.nash
	py "$(meta r.nash train.top1) > 25"
	py "$(meta r.nash train.images_per_s) > 0"
}

@test "meta.train records data, settings, final and best accuracy, history and speed" {
	nash-train -j 1 --limit 1000 --epochs 2 --batch 50 --lr 0.05 --wd 1e-4 --warmup 0.5 --clip 5 \
		--label-smoothing 0.1 --seed 3 -q tfc.nash >m.nash
	nash-dump --meta train m.nash | cut -f 2 >m.json
	python3 - <<-'EOF'
	import json
	m = json.load(open("m.json"))
	assert m["dataset"] == "fashion-mnist" and m["source"].endswith("fashion-mnist"), m
	assert m["images"] == {"train": 1000, "test": 1000} and m["limit"] == 1000, m["images"]
	assert m["epochs"] == 2 and m["batch"] == 50 and m["seed"] == 3
	o = m["optimizer"]
	assert o == {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "clip": 5}, o
	assert m["schedule"] == {"name": "cosine", "warmup_epochs": 0.5, "min_lr": 0}, m["schedule"]
	assert m["label_smoothing"] == 0.1 and m["augment"] == {"crop_pad": 2, "flip": True}
	h = m["history"]
	assert [e["epoch"] for e in h] == [1, 2]
	for e in h:
	    for k in ("lr", "loss", "top1", "test_loss", "test_top1", "test_top5", "seconds", "images_per_s"):
	        assert k in e, (k, e)
	assert m["top1"] == h[-1]["test_top1"] and m["top5"] == h[-1]["test_top5"]
	assert m["best_top1"] == max(e["test_top1"] for e in h)
	assert m["best_epoch"] in (1, 2) and m["loss"] == h[-1]["loss"]
	assert m["seconds"] > 0 and m["images_per_s"] > 0
	assert h[-1]["lr"] < 0.001   # the cosine went down to 0
	EOF
	# the other stages' meta passes through
	[ "$(meta m.nash gen.arch)" = '"tfc"' ]
}

@test "one thread and one seed give a bit-identical graph; another seed does not" {
	nash-train --limit 800 --epochs 2 -j 1 -s 5 -q tfc.nash >a.nash
	nash-train --limit 800 --epochs 2 -j 1 -s 5 -q tfc.nash >b.nash
	nash-train --limit 800 --epochs 2 -j 1 -s 6 -q tfc.nash >c.nash
	[ "$(tensors a.nash)" = "$(tensors b.nash)" ]
	[ "$(tensors a.nash)" != "$(tensors c.nash)" ]
	[ "$(tensors a.nash)" != "$(tensors tfc.nash)" ]
}

@test "every graph of a stream is trained in turn; other records pass" {
	{ nash-gen tfc -n one; nash-gen tfc -n two -s 4; } >two.nash
	nash-train -j 1 --limit 600 --epochs 1 -q two.nash >out.nash
	run nash-dump --meta train.epochs out.nash
	assert_output "$(printf 'one\t1\ntwo\t1')"
}

@test "quantization-aware training: a w2a2 graph trains, its integer export follows the weights" {
	nash-train -j 1 --limit 2000 --epochs 2 -q tfc.nash >f.nash
	nash-quant --preset w2a2 f.nash >q.nash
	nash-train -j 1 --limit 2000 --epochs 2 --lr 0.02 -q q.nash >qt.nash
	py "$(meta qt.nash train.top1) > 50"
	# the learned scales and the integer weights moved with training
	[ "$(nash-dump --tensors q.nash | grep -c 'wq.int')" -gt 0 ]
	ints() { nash-dump --json --data "$1" | python3 -c 'import json,sys; t=json.load(sys.stdin)[0]["tensors"]; print(sorted((k, v["data"]) for k, v in t.items() if k.endswith(".int")))'; }
	[ "$(ints q.nash)" != "$(ints qt.nash)" ]
	# and the export nash-train left is the one nash-quant computes from them
	nash-quant --export qt.nash >re.nash
	[ "$(tensors re.nash)" = "$(tensors qt.nash)" ]
	# a stopped and resumed QAT run (learned scales in the state) ends alike
	nash-train -j 1 --limit 4000 --epochs 2 --batch 8 --lr 0.02 -q q.nash >qfull.nash
	nash-train -j 1 --limit 4000 --epochs 2 --batch 8 --lr 0.02 -c q.ckpt q.nash >/dev/null 2>q.err &
	pid=$!
	for i in $(seq 400); do grep -q "epoch 1/2" q.err && break; sleep 0.05; done
	kill -TERM $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 1
	nash-train -j 1 --limit 4000 --epochs 2 --batch 8 --lr 0.02 -c q.ckpt --resume -q q.nash >qres.nash
	[ "$(tensors qres.nash)" = "$(tensors qfull.nash)" ]
}

@test "optimisers and schedules: adam, adamw, step, const, no nesterov" {
	for args in "-o adam" "-o adamw --wd 0.05" "--schedule step:1:0.5" "--schedule const --lr 0.01" \
		"--no-nesterov --momentum 0.5" "--no-flip --crop 0"; do
		nash-train -j 1 --limit 600 --epochs 2 -q $args tfc.nash >o.nash
		py "$(meta o.nash train.top1) > 40"
	done
	nash-train -j 1 --limit 600 --epochs 2 -q -o adam tfc.nash >o.nash
	[ "$(meta o.nash train.optimizer.name)" = '"adam"' ]
	py "$(meta o.nash train.optimizer.lr) == 0.001"
	nash-train -j 1 --limit 600 --epochs 2 -q --schedule step:1:0.5 tfc.nash >o.nash
	run nash-dump --meta train.history o.nash
	python3 -c "import json,sys; h = json.loads(sys.argv[1].split('\t')[1]); assert abs(h[1]['lr'] - 0.05) < 1e-12, h" "$output"
}

@test "progress: a line per epoch off a terminal, a bar with --progress, silence with --quiet" {
	run --separate-stderr nash-train -j 1 --limit 500 --epochs 2 tfc.nash
	assert_success
	[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 2 ]
	[[ "$stderr" == *"nash-train: graph tfc epoch 1/2 loss "*" train "*"% test "*"% top5 "*" img/s "* ]]
	[[ "$stderr" != *"ETA"* ]]
	run --separate-stderr nash-train -j 1 --limit 500 --epochs 2 --progress tfc.nash
	[[ "$stderr" == *"epoch 2/2 ["*"] "*" loss "*" acc "*" img/s ETA "* ]]
	run --separate-stderr nash-train -j 1 --limit 500 --epochs 2 --quiet tfc.nash
	assert_success
	[ -z "$stderr" ]
}

@test "--val-split carves a validation split and reports its accuracy" {
	nash-train -j 1 --limit 1000 --val-split 0.2 --epochs 2 -q tfc.nash >v.nash
	[ "$(meta v.nash train.images)" = '{"train":800,"val":200,"test":1000}' ]
	py "$(meta v.nash train.val_top1) > 30"
}

@test "CIFAR-10 from the tar.gz archive and from a directory, with flips" {
	nash-train -d cifar10:cifar.tar.gz --epochs 3 -b 32 -j 1 -q tfc3.nash >c1.nash
	nash-train -d cifar-dir --epochs 3 -b 32 -j 1 -q tfc3.nash >c2.nash
	[ "$(tensors c1.nash)" = "$(tensors c2.nash)" ]
	[ "$(meta c1.nash train.images)" = '{"train":500,"test":200}' ]
	[ "$(meta c1.nash train.augment)" = '{"crop_pad":4,"flip":true}' ]
	py "$(meta c1.nash train.top1) > 60"
	# a bare archive path is CIFAR-10 too
	nash-train -j 1 -d cifar.tar.gz --epochs 1 -q tfc3.nash >c3.nash
	[ "$(meta c3.nash train.images)" = '{"train":500,"test":200}' ]
}

@test "an IDX directory of raw and gzip files (the test fixture's slice)" {
	nash-train -j 1 -d slice --epochs 2 -q tfc.nash >s.nash
	[ "$(meta s.nash train.images)" = '{"train":1200,"test":400}' ]
	[ "$(meta s.nash train.augment)" = '{"crop_pad":2,"flip":false}' ]
	nash-train -j 1 -d "mnist:$PWD/slice" --epochs 1 -q tfc.nash >s2.nash
	[ "$(meta s2.nash train.dataset)" = "\"mnist:$PWD/slice\"" ]
	[ "$(meta s2.nash train.augment)" = '{"crop_pad":2,"flip":false}' ]
}

@test "bad data: one line naming the file and the reason, exit 1" {
	check() { # SPEC GRAPH EXPECTED-SUBSTRING
		run --separate-stderr nash-train -j 1 -d "$1" --epochs 1 "$2"
		assert_error_line nash-train 1
		[[ "$stderr" == *"$3"* ]] || { echo "got: $stderr"; return 1; }
		[ -z "$output" ]
	}
	check nowhere tfc.nash "nash-train: nowhere: No such file or directory"
	check mnist:nowhere tfc.nash "nowhere: No such file or directory"
	check bad-magic tfc.nash "bad-magic/train-images-idx3-ubyte: not an IDX image file: magic 0x00000802"
	check bad-count tfc.nash "bad-count/train-labels-idx1-ubyte.gz: 1199 labels, but bad-count/train-images-idx3-ubyte holds 1200 images"
	check mnist:bad-range tfc.nash "bad-range/train-labels-idx1-ubyte.gz: label 12 of image 7 is out of range 0..9"
	check bad-gzip tfc.nash "bad-gzip/train-labels-idx1-ubyte.gz: "
	check bad-trunc tfc.nash "bad-trunc/t10k-images-idx3-ubyte.gz: truncated gzip input"
	check no-test tfc.nash "no-test: no t10k-labels-idx1-ubyte[.gz] in this directory"
	check cifar10:cifar-damaged.tar.gz tfc3.nash "cifar-damaged.tar.gz: Damaged tar archive"
	check cifar10:cifar-trunc.tar.gz tfc3.nash "cifar-trunc.tar.gz: cifar-10-batches-bin/data_batch_2.bin: truncated gzip input"
	check cifar10:cifar-notest.tar.gz tfc3.nash "cifar-notest.tar.gz: no test_batch.bin"
	check cifar10:cifar-odd.tar.gz tfc3.nash "data_batch_2.bin: 614500 bytes is not a whole number of 3073-byte records"
	check cifar10:nowhere.tar.gz tfc3.nash "nowhere.tar.gz: No such file or directory"
	NASH_DATASETS=$PWD/none check fashion-mnist tfc.nash "dataset fashion-mnist (Debian package dataset-fashion-mnist) not found"
}

@test "bad graphs: shape mismatch, an op the engine cannot train, a supernet, broken streams" {
	run --separate-stderr nash-train -j 1 --limit 100 tfc3.nash
	assert_error_line nash-train 1
	assert_equal "$stderr" "nash-train: graph tfc: input input is 3x32x32 but fashion-mnist images are 1x28x28"
	nash-gen tfc -c 12 >c12.nash
	run --separate-stderr nash-train -j 1 --limit 100 c12.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"output "*" is 12 but fashion-mnist has 10 classes"* ]]
	# a hardware graph: its operators are not the training engine's
	"$NASH_BUILD/tests/test_hwfix" emit resnet18-28-w16 hw.nash
	run --separate-stderr nash-train -j 1 --limit 100 hw.nash
	assert_error_line nash-train 1
	assert_equal "$stderr" "nash-train: graph resnet18-28x28-w16-hw: node stem_swg is a hardware operator (ConvolutionInputGenerator): nash-train trains float-level graphs"
	nash-gen resnet18 -i 1x28x28 -w 4 --nash v1 --search >sn.nash
	run --separate-stderr nash-train -j 1 --limit 100 sn.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"is a Choice (a NASH supernet): search it with --search, or derive a network first"* ]]
	truncate_stream tfc.nash 100 >cut.nash
	run --separate-stderr nash-train -j 1 --limit 100 cut.nash
	assert_error_line nash-train 1
	run --separate-stderr nash-train -j 1 --limit 100 </dev/null
	assert_error_line nash-train 1
	[[ "$stderr" == *"empty input"* ]]
	run --separate-stderr bash -c "nash-train -j 1 -q --limit 100 --epochs 1 tfc.nash >/dev/full"
	assert_error_line nash-train 1
}

@test "usage errors exit 2" {
	for args in "--resume" "--schedule linear" "--schedule step:0" "-o lion" "--lr -1" "--val-split 1" \
		"--epochs 0" "--batch x" "--warmup 20 --epochs 2" "--min-lr 1 --lr 0.1" "--bogus"; do
		run --separate-stderr nash-train -j 1 $args tfc.nash
		assert_equal "$status" 2
		assert_equal "${stderr%%: *}" nash-train
	done
}

@test "SIGTERM writes a checkpoint and exits 1; --resume ends like an uninterrupted run" {
	nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -q tfc.nash >full.nash
	rm -f term.ckpt
	nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -c term.ckpt tfc.nash >part.nash 2>term.err &
	pid=$!
	for i in $(seq 200); do grep -q "epoch 1/3" term.err && break; sleep 0.05; done
	sleep 0.1
	kill -TERM $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 1
	run cat term.err
	[[ "${lines[-1]}" =~ ^"nash-train: graph tfc: interrupted by SIGTERM at epoch "[23]" step "[0-9]+/750"; checkpoint written to term.ckpt (continue with --resume)"$ ]]
	[ ! -s part.nash ]
	[ "$(meta term.ckpt checkpoint.format)" = 1 ]
	ls | grep -c 'term.ckpt.tmp' | grep -qx 0
	nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -c term.ckpt --resume tfc.nash >resumed.nash 2>resume.err
	grep -q "resuming from term.ckpt at epoch" resume.err
	[ "$(tensors resumed.nash)" = "$(tensors full.nash)" ]
	# the histories agree too (timings aside)
	for k in loss top1 test_top1; do
		a=$(nash-dump --meta train.history full.nash | cut -f 2 | python3 -c "import json,sys; print([e['$k'] for e in json.load(sys.stdin)])")
		b=$(nash-dump --meta train.history resumed.nash | cut -f 2 | python3 -c "import json,sys; print([e['$k'] for e in json.load(sys.stdin)])")
		[ "$a" = "$b" ]
	done
	# a finished checkpoint resumes to its output without training
	run --separate-stderr nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -c term.ckpt --resume tfc.nash
	assert_success
	[[ "$stderr" == *"graph tfc: trained already (term.ckpt)"* ]]
}

@test "SIGKILL in the middle of an epoch, then --resume: the same weights" {
	nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -q tfc.nash >full.nash
	rm -f kill.ckpt
	nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -c kill.ckpt tfc.nash >/dev/null 2>kill.err &
	pid=$!
	for i in $(seq 200); do grep -q "epoch 1/3" kill.err && break; sleep 0.05; done
	sleep 0.15
	kill -KILL $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 137
	[ "$(meta kill.ckpt checkpoint.epoch)" -ge 1 ]
	nash-train --limit 6000 --epochs 3 --batch 8 -j 1 -c kill.ckpt --resume -q tfc.nash >resumed.nash
	[ "$(tensors resumed.nash)" = "$(tensors full.nash)" ]
}

@test "a stream of graphs resumes: finished ones come from the checkpoint" {
	{ nash-gen tfc -n one; nash-gen tfc -n two -s 4; } >two.nash
	nash-train -j 1 --limit 4000 --batch 8 --epochs 2 -q two.nash >two-full.nash
	rm -f two.ckpt
	nash-train -j 1 --limit 4000 --batch 8 --epochs 2 -c two.ckpt two.nash >/dev/null 2>two.err &
	pid=$!
	# stop it once the first graph is done, inside the second one's training
	for i in $(seq 400); do grep -q "graph one epoch 2/2" two.err && break; sleep 0.05; done
	kill -TERM $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 1
	grep -q "graph two: interrupted by SIGTERM" two.err
	run nash-dump two.ckpt
	assert_equal "${#lines[@]}" 2
	[ "$(meta two.ckpt train.epochs)" = 2 ]
	# killed again once the second graph resumes: the checkpoint still holds
	# the finished first graph and the second one's state
	nash-train -j 1 --limit 4000 --batch 8 --epochs 2 -c two.ckpt --resume two.nash >/dev/null 2>res.err &
	pid=$!
	for i in $(seq 400); do grep -q "graph two: resuming from two.ckpt" res.err && break; sleep 0.02; done
	kill -KILL $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 137
	grep -q "graph one: trained already (two.ckpt)" res.err
	run nash-dump --meta checkpoint.format two.ckpt
	assert_output "$(printf 'one\tnull\ntwo\t1')"
	nash-train -j 1 --limit 4000 --batch 8 --epochs 2 -c two.ckpt --resume -q two.nash >two-res.nash
	[ "$(tensors two-res.nash)" = "$(tensors two-full.nash)" ]
}

@test "--resume refuses other options, another input, a missing checkpoint" {
	rm -f r.ckpt
	nash-train -j 1 --limit 500 --epochs 1 -c r.ckpt -q tfc.nash >/dev/null
	run --separate-stderr nash-train -j 1 --limit 500 --epochs 2 -c r.ckpt --resume tfc.nash
	assert_error_line nash-train 1
	assert_equal "$stderr" "nash-train: r.ckpt: graph tfc was trained with epochs=1, this run has epochs=2"
	run --separate-stderr nash-train -j 1 --limit 600 --epochs 1 -c r.ckpt --resume tfc.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"trained on fashion-mnist (500 training, 500 test images), this run uses fashion-mnist (600, 600)"* ]]
	# a checkpoint in the middle of training, resumed with another lr
	nash-train -j 1 --limit 3000 --epochs 3 --batch 16 -c mid.ckpt tfc.nash >/dev/null 2>mid.err &
	pid=$!
	for i in $(seq 200); do grep -q "epoch 1/3" mid.err && break; sleep 0.05; done
	kill -INT $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 1
	grep -q "interrupted by SIGINT at epoch .* checkpoint written to mid.ckpt" mid.err
	run --separate-stderr nash-train -j 1 --limit 3000 --epochs 3 --batch 16 --lr 0.2 -c mid.ckpt --resume tfc.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"the checkpoint was made with optimizer.lr=0.1, this run has optimizer.lr=0.2"* ]]
	nash-gen tfc -s 9 >other.nash
	run --separate-stderr nash-train -j 1 --limit 3000 --epochs 3 --batch 16 -c mid.ckpt --resume other.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"mid.ckpt: graph tfc of the checkpoint was trained from another input graph"* ]]
	run --separate-stderr nash-train -j 1 --limit 500 -c none.ckpt --resume tfc.nash
	assert_error_line nash-train 1
	assert_equal "$stderr" "nash-train: none.ckpt: no checkpoint to resume from"
	echo garbage >bad.ckpt
	run --separate-stderr nash-train -j 1 --limit 500 -c bad.ckpt --resume tfc.nash
	assert_error_line nash-train 1
	run --separate-stderr nash-train -j 1 --limit 500 -c /nonexistent/dir/x.ckpt tfc.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"/nonexistent/dir/x.ckpt"* ]]
}

@test "a non-finite loss stops training naming epoch and step; the checkpoint stays intact" {
	rm -f nan.ckpt
	run --separate-stderr nash-train --limit 1000 --epochs 3 --lr 1e8 -j 1 -c nan.ckpt tfc.nash
	assert_error_line nash-train 1
	[[ "$stderr" =~ "graph tfc: "("the loss is "(NaN|infinite)" at epoch 1 step "|"training stopped at epoch 1 step ")[0-9]+/8 ]]
	[[ "$stderr" == *"(checkpoint nan.ckpt keeps epoch 0)" ]]
	first=$stderr
	# the checkpoint holds the last good state: the start, the input's weights
	[ "$(meta nan.ckpt checkpoint.epoch)" = 0 ]
	[ "$(tensors nan.ckpt)" = "$(tensors tfc.nash)" ]
	# and resuming from it meets the same failure at the same step
	run --separate-stderr nash-train --limit 1000 --epochs 3 --lr 1e8 -j 1 -c nan.ckpt --resume -q tfc.nash
	assert_error_line nash-train 1
	assert_equal "$stderr" "$first"
}

@test "the man page's quick examples run" {
	nash-gen tfc | nash-train --limit 2000 --epochs 2 > tfc-ex.nash
	nash-dump tfc-ex.nash
	nash-dump --meta train.history tfc-ex.nash
	for w in 4 8; do nash-gen resnet18 -i 1x28x28 -w $w; done \
		| nash-train -o adam --lr 0.002 --warmup 1 --val-split 0.1 \
		--limit 500 --epochs 2 > sweep.nash
	run nash-dump sweep.nash
	assert_equal "${#lines[@]}" 2
}

@test "SIGINT in the middle of steps, many times: always a clean exit 1 with a checkpoint, never an abort" {
	# a signal frame once landed where oneDNN's JIT code had the stack pointer (heap corruption,
	# an abort in a few percent of interrupts); the handler now runs on its own stack
	local k i pid st
	for k in $(seq 25); do
		rm -f sig.ckpt sig.err
		nash-train -j 1 --limit 3000 --epochs 3 --batch 16 -c sig.ckpt tfc.nash >/dev/null 2>sig.err &
		pid=$!
		for i in $(seq 400); do grep -q "epoch 1/3" sig.err && break; sleep 0.01; done
		kill -INT $pid 2>/dev/null || true
		st=0; wait $pid || st=$?
		# 0 only when training finished before the signal came
		[ "$st" -eq 1 ] || [ "$st" -eq 0 ] || { echo "run $k: exit $st: $(cat sig.err)"; return 1; }
		[ -s sig.ckpt ]
	done
}
