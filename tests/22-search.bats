#!/usr/bin/env bats
# nash-train --search: short searches of tiny supernets on Fashion-MNIST
# slices, the derived networks, hardware-aware alphas, checkpoints, every
# bad input.
load helpers

# a tiny search: width 4, 512 images, 4 steps per epoch, 200 evaluation images
S="--search --limit 512 --steps 4 --eval-images 200 -j 1"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	nash-gen resnet18 -i 1x28x28 -w 4 --nash v2 --search >v2.nash
	nash-gen resnet18 -i 1x28x28 -w 4 --nash v1 --search >v1.nash
	nash-gen resnet18 -i 1x28x28 -w 4 >plain.nash
	# one search shared by several tests: 3 epochs, the supernet kept
	nash-train $S --epochs 3 --keep-supernet -q v2.nash >kept.nash
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

meta() { # FILE PATH -> the value of meta PATH of the first graph
	nash-dump --meta "$2" "$1" | head -n 1 | cut -f 2
}

tensors() { # FILE -> a digest of each graph's tensors
	nash-dump --json --data "$1" | python3 -c '
import hashlib, json, sys
for g in json.load(sys.stdin):
    print(hashlib.sha1(json.dumps(g["tensors"], sort_keys=True).encode()).hexdigest())'
}

@test "a short search lowers the validation loss; meta.search has edges, history, winners, entropy, costs" {
	nash-dump --meta search kept.nash | cut -f 2 >m.json
	python3 - <<-'EOF'
	import json, math
	m = json.load(open("m.json"))
	h = m["history"]
	assert [e["epoch"] for e in h] == [1, 2, 3], h
	# the supernet's validation loss (sampled paths) falls from where it started
	assert h[-1]["val_loss"] < m["initial"]["val_loss"], (m["initial"], [e["val_loss"] for e in h])
	assert m["relax"] == "sample" and m["epochs"] == 3 and m["steps_per_epoch"] == 4 and m["batch"] == 64
	assert m["weights"]["lr"] == 0.025 and m["weights"]["momentum"] == 0.9 and m["weights"]["clip"] == 5
	assert m["weights"]["weight_decay"] == 3e-4 and m["weights"]["images"] == 256
	prec = m["arch"].pop("precision")
	assert prec in ("bf16", "f32"), prec   # bf16 where the CPU has bfloat16 dot products
	assert m["arch"] == {"optimizer": "adam", "lr": 3e-4, "betas": [0, 0.999], "weight_decay": 1e-3, "every": 1, "images": 256}
	assert len(m["edges"]) == 40
	for e in m["edges"]:
	    assert abs(sum(e["p"]) - 1) < 1e-9 and len(e["p"]) == len(e["ops"]) == len(e["cost"]) == 6
	    assert e["cost"][0] == 0 and e["cost"][5] > e["cost"][4] > e["cost"][3] > 0   # none, ..., convs
	for e in h:
	    assert len(e["winners"]) == 4 and all(w["skip"] + w["pool"] + w["conv"] + w["none"] == 4 for w in e["winners"])
	    assert 0 < e["entropy"] <= math.log(6) + 1e-9 and len(e["entropy_stage"]) == 4
	    assert e["expected_cost"] > 0 and e["genotype_cost"] > 0 and "," in e["genotype"]
	hw = m["hw"]
	assert hw["cost"] == "lut" and hw["weight"] == 0 and hw["part"] == "xczu7ev" and hw["model"].startswith("lib/hw")
	assert m["derive"]["rules"] == "v2" and m["genotype"] == h[-1]["genotype"] and m["network"] == "supernet"
	EOF
}

@test "the derived network: no Choice, the genotype's cascade adders, as nash-gen --genotype builds it" {
	nash-train $S --epochs 1 -s 7 -q v2.nash >d.nash
	run nash-dump --nodes d.nash
	refute_output --partial " Choice "
	G=$(meta d.nash search.genotype | tr -d '"')
	[ "$(meta d.nash gen.genotype | tr -d '"')" = "$G" ]
	[ "$(meta d.nash search.network)" = '"derived"' ]
	[ "$(meta d.nash search.inherit_weights)" = false ]
	[[ "$(nash-dump d.nash)" =~ ^resnet18-nash-v2-w4-g[0-9a-f]{8}$'\t' ]]
	# fresh weights: exactly nash-gen's network of that genotype with the same seed
	nash-gen resnet18 -i 1x28x28 -w 4 --nash v2 --genotype "$G" -s 7 >g.nash
	[ "$(tensors d.nash)" = "$(tensors g.nash)" ]
	# ready for training
	nash-train --limit 200 --epochs 1 -q d.nash >t.nash
	[ "$(meta t.nash search.genotype)" = "\"$G\"" ]
}

@test "--inherit-weights copies the searched weights; the default does not" {
	nash-train --search --derive-only --inherit-weights -q kept.nash >inh.nash
	nash-train --search --derive-only -q kept.nash >fresh.nash
	nash-dump --json --data kept.nash >k.json
	nash-dump --json --data inh.nash >i.json
	nash-dump --json --data fresh.nash >f.json
	python3 - <<-'EOF'
	import json
	k, i, f = (json.load(open(n))[0]["tensors"] for n in ("k.json", "i.json", "f.json"))
	shared = [n for n in i if "data" in i[n] and n in k]
	assert len(shared) > 50
	assert all(i[n]["data"] == k[n]["data"] for n in shared)
	assert sum(f[n]["data"] != k[n]["data"] for n in shared) > 30   # searched weights moved
	EOF
	[ "$(meta inh.nash search.inherited_tensors)" -gt 50 ]
}

@test "derivation again from a kept supernet: rules per version, --max-skip, a given genotype" {
	for v in v1 v2 v3 v4; do
		nash-train --search --derive-only --derive $v -q kept.nash >r$v.nash
		[ "$(meta r$v.nash search.derive.rules)" = "\"$v\"" ]
		[ "$(meta r$v.nash gen.nash)" = "\"$v\"" ]
	done
	# v2, v3 and v4 keep skip and pool off the stride-2 edges (state 0 of cells 1-3)
	for v in v2 v3 v4; do
		G=$(meta r$v.nash search.genotype | tr -d '"')
		for c in 2 3 4; do
			! echo "$G" | cut -d/ -f$c | tr , '\n' | grep -Eq '^(skip_connect|max_pool_3x3)@0$'
		done
	done
	G=$(meta rv4.nash search.genotype | tr -d '"')
	! echo "$G" | grep -Eq 'skip|pool|none'
	nash-train --search --derive-only --max-skip 0 -q kept.nash >ms.nash
	! meta ms.nash search.genotype | grep -q skip
	[ "$(meta ms.nash search.derive.max_skip)" = 0 ]
	H='conv_3x3@0,none,none,none/conv_1x1@0,none,none,none/none,none,none,none/conv_5x5@0,none,none,none'
	nash-train --search --derive-only --genotype "$H" -q kept.nash >h.nash
	[ "$(meta h.nash gen.genotype)" = "\"$H\"" ]
	[ "$(meta h.nash search.genotype_given)" = true ]
}

@test "--hw-weight pulls the alphas to cheaper operations (LUT costs from lib/hw)" {
	args="$S --epochs 2 --arch-lr 0.05 --keep-supernet -s 3"
	nash-train $args -q v1.nash >hw0.nash
	nash-train $args --hw-weight 20 -q v1.nash >hw1.nash
	c0=$(meta hw0.nash search.expected_cost)
	c1=$(meta hw1.nash search.expected_cost)
	i1=$(meta hw1.nash search.initial.expected_cost)
	python3 -c "assert $c1 < 0.95 * $c0 and $c1 < 0.9 * $i1, ($c0, $c1, $i1)"
	python3 -c "assert $(meta hw1.nash search.hw.weight) == 20"
	# MAC counts as the cost
	nash-train $S --epochs 1 --hw-weight 1 --hw-cost macs --keep-supernet -q v1.nash >macs.nash
	[ "$(meta macs.nash search.hw.cost)" = '"macs"' ]
	nash-dump --meta search.edges macs.nash | cut -f 2 | python3 -c '
import json, sys
e = json.load(sys.stdin)[0]
assert e["ops"][4] == "conv_3x3" and e["cost"][4] == 4 * 4 * 9 * 28 * 28 and e["cost"][2] == 0, e'
}

@test "--relax softmax searches the mixture" {
	nash-train $S --epochs 1 --relax softmax --keep-supernet -q v2.nash >soft.nash
	[ "$(meta soft.nash search.relax)" = '"softmax"' ]
	nash-dump --meta search.history soft.nash | cut -f 2 | python3 -c '
import json, sys
h = json.load(sys.stdin)
assert h[0]["val_loss"] > 0 and h[0]["derived_val_top1"] >= 0'
}

@test "--arch-precision: f32 where the CPU lacks bfloat16 (auto), a warning when bf16 is asked there; f32 on request" {
	# DNNL_MAX_CPU_ISA hides AVX512-BF16 from oneDNN, as on an older CPU
	DNNL_MAX_CPU_ISA=AVX2 nash-train $S -q --epochs 1 --keep-supernet v2.nash >a.nash 2>a.err
	[ "$(meta a.nash search.arch.precision)" = '"f32"' ]
	[ ! -s a.err ]
	DNNL_MAX_CPU_ISA=AVX2 nash-train $S --epochs 1 --keep-supernet --arch-precision bf16 v2.nash >b.nash 2>b.err
	grep -q "^nash-train: warning: --arch-precision bf16: this CPU has no bfloat16 dot products" b.err
	nash-train $S -q --epochs 1 --keep-supernet --arch-precision f32 v2.nash >c.nash
	[ "$(meta c.nash search.arch.precision)" = '"f32"' ]
	run --separate-stderr nash-train $S --arch-precision f16 v2.nash
	assert_error_line nash-train 2
	[[ "$stderr" == *"--arch-precision: 'f16' is not auto, bf16 or f32"* ]]
}

@test "one thread and one seed repeat a search exactly" {
	nash-train $S --epochs 1 --keep-supernet -s 4 -q v2.nash >a.nash
	nash-train $S --epochs 1 --keep-supernet -s 4 -q v2.nash >b.nash
	[ "$(tensors a.nash)" = "$(tensors b.nash)" ]
	[ "$(tensors a.nash)" != "$(tensors v2.nash)" ]
}

@test "SIGTERM writes a checkpoint (alphas and Adam state) and exits 1; --resume ends as an uninterrupted search" {
	args="$S --epochs 3 --keep-supernet"
	nash-train $args -q v2.nash >full.nash
	rm -f s.ckpt
	nash-train $args -c s.ckpt v2.nash >part.nash 2>term.err &
	pid=$!
	for i in $(seq 400); do grep -q "search epoch 1/3" term.err && break; sleep 0.05; done
	kill -TERM $pid
	st=0; wait $pid || st=$?
	assert_equal "$st" 1
	run tail -n 1 term.err
	[[ "$output" =~ ^"nash-train: graph resnet18-nash-v2-super-w4: search interrupted by SIGTERM at epoch "[23]" step "[0-9]/4"; checkpoint written to s.ckpt (continue with --resume)"$ ]]
	[ ! -s part.nash ]
	[ "$(meta s.ckpt checkpoint.loop)" = '"search"' ]
	nash-dump --meta checkpoint s.ckpt | cut -f 2 | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["alpha_optim"]["kind"] == "adam" and len(c["alpha"]) == 40 and c["epoch"] >= 1, c.keys()'
	nash-train $args -c s.ckpt --resume v2.nash >resumed.nash 2>resume.err
	grep -q "resuming the search from s.ckpt at epoch" resume.err
	[ "$(tensors resumed.nash)" = "$(tensors full.nash)" ]
	a=$(nash-dump --meta search.history full.nash | cut -f 2 | python3 -c "import json,sys; print([(e['loss'], e['val_loss'], e['genotype']) for e in json.load(sys.stdin)])")
	b=$(nash-dump --meta search.history resumed.nash | cut -f 2 | python3 -c "import json,sys; print([(e['loss'], e['val_loss'], e['genotype']) for e in json.load(sys.stdin)])")
	[ "$a" = "$b" ]
	# a finished checkpoint gives its output again without searching
	run --separate-stderr nash-train $args -c s.ckpt --resume v2.nash
	assert_success
	[[ "$stderr" == *"searched already (s.ckpt)"* ]]
	# another input is refused, and so is a training checkpoint
	run --separate-stderr nash-train $args -c s.ckpt --resume v1.nash
	assert_error_line nash-train 1
	nash-train --limit 100 --epochs 1 -q -c t.ckpt plain.nash >/dev/null
	run --separate-stderr nash-train $args -c t.ckpt --resume v2.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"t.ckpt"* ]]
}

@test "bad input: one line, exit 1 for data, 2 for usage" {
	run --separate-stderr nash-train $S --epochs 1 plain.nash
	assert_error_line nash-train 1
	assert_equal "$stderr" "nash-train: graph resnet18-w4 has no Choice nodes: nothing to search (make a supernet with nash-gen --nash vN --search)"
	run --separate-stderr nash-train --search --derive-only --genotype 'c3@0,-,-,-/c3@0,-,-,-/-,-,-,-' v2.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"genotype has 3 cells, the backbone has 4" ]]
	run --separate-stderr nash-train --search --derive-only --genotype 'sk@0,-,-,-/sk@0,-,-,-/-,-,-,-/-,-,-,-' v2.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"v2 allows only convs on the stride-2 edges from state 0" ]]
	run --separate-stderr nash-train --search --derive-only --genotype 'c7@0,-,-,-/-,-,-,-/-,-,-,-/-,-,-,-' v2.nash
	assert_error_line nash-train 1
	run --separate-stderr nash-train --search --derive-only --derive v4 --genotype 'sk@1,-,-,-/-,-,-,-/-,-,-,-/-,-,-,-' v2.nash
	assert_error_line nash-train 1
	# a supernet without --search is the trainer's to refuse
	run --separate-stderr nash-train --epochs 1 --limit 100 v2.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"search it with --search"* ]]
	# broken streams
	head -c 3000 v2.nash >cut.nash
	run --separate-stderr nash-train --search --derive-only cut.nash
	assert_error_line nash-train 1
	run --separate-stderr nash-train $S --epochs 1 -d idx:/nonexistent v2.nash
	assert_error_line nash-train 1
	for args in "--hw-weight -1" "--temperature -2" "--temperature 0" "--derive v5" "--derive 5x" \
		"--relax gumbel" "--hw-cost area" "--arch-lr -1" "--arch-wd -1" "--arch-betas 0.9" "--split 1" \
		"--max-skip -1" "--hw-bits 2" "--hw-bits 0,2" "--lr -0.1" "--wd -1"; do
		run --separate-stderr nash-train --search $args v2.nash
		assert_equal "$status" 2
		assert_equal "${stderr%%: *}" nash-train
	done
	run --separate-stderr nash-train --hw-weight 1 v2.nash
	assert_equal "$status" 2
	[[ "$stderr" == *"need --search"* ]]
	run --separate-stderr nash-train --search --keep-supernet --inherit-weights v2.nash
	assert_equal "$status" 2
	run --separate-stderr nash-train --search --hw-part nosuch --epochs 1 --limit 200 v2.nash
	assert_error_line nash-train 1
	[[ "$stderr" == *"unknown part 'nosuch'"* ]]
}

@test "the man page's quick search example runs" {
	nash-gen resnet18 -i 1x28x28 -w 4 --nash v2 --search \
		| nash-train --search --limit 512 --epochs 2 --steps 4 -q > ex.nash
	run nash-dump --meta search.genotype ex.nash
	assert_success
	assert_output --regexp '^resnet18-nash-v2-w4-g[0-9a-f]{8}	"[a-z0-9_@,/]+"$'
}
