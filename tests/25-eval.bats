#!/usr/bin/env bats
# nash-eval: accuracy, per-class figures, confusion matrix, TSV, agreement
# between graphs, float and integer (hardware) graphs, bad input.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	nash-gen tfc >untrained.nash
	nash-train --limit 2000 --epochs 2 --val-split 0.1 -q untrained.nash >t.nash
	"$NASH_BUILD/tests/test_hwfix" emit resnet18-28-w16 hw.nash
	"$NASH_BUILD/tests/test_hwfix" emit tfc hwtfc.nash
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

meta() { # FILE PATH -> the value of meta PATH of the first graph
	nash-dump --meta "$2" "$1" | head -n 1 | cut -f 2
}

# py EXPR: assert a Python expression
py() { python3 -c "import sys; v = $1; assert v, v" ; }

@test "the test split: top-1 as training measured it; per-class and confusion agree" {
	nash-eval --limit 2000 t.nash >e.nash
	nash-dump --meta eval e.nash | cut -f 2 >e.json
	nash-dump --meta train e.nash | cut -f 2 >tr.json
	python3 - <<-'EOF'
	import json
	e, t = json.load(open("e.json")), json.load(open("tr.json"))
	assert e["dataset"] == "fashion-mnist" and e["split"] == "test" and e["images"] == 2000, e
	assert e["executor"] == "float"
	# the same 2000 test images, the same net: the same accuracy and loss
	assert abs(e["top1"] - t["top1"]) <= 0.05 and abs(e["top5"] - t["top5"]) <= 0.05, (e["top1"], t["top1"])
	assert abs(e["loss"] - t["test_loss"]) < 1e-4, (e["loss"], t["test_loss"])
	pc, cm = e["per_class"], e["confusion"]
	assert [c["class"] for c in pc] == list(range(10)) and pc[9]["name"] == "Ankle boot"
	assert sum(c["images"] for c in pc) == 2000
	assert len(cm) == 10 and all(len(r) == 10 for r in cm)
	for i, c in enumerate(pc):
	    assert sum(cm[i]) == c["images"]
	    assert abs(100.0 * cm[i][i] / c["images"] - c["top1"]) < 1e-9
	    assert c["top5"] >= c["top1"]
	assert abs(100.0 * sum(cm[i][i] for i in range(10)) / 2000 - e["top1"]) < 1e-9
	assert 60 < e["top1"] <= e["top5"] <= 100
	EOF
	# nash-dump's summary prefers meta.eval
	run nash-dump e.nash
	assert_output --regexp "top1=$(python3 -c "import json; print('%.2f' % json.load(open('e.json'))['top1'])")"
	# meta.train passes through
	[ "$(meta e.nash train.epochs)" = 2 ]
}

@test "--tsv: a row for all images and one per class with its confusion row" {
	nash-eval --limit 1000 t.nash >e.nash
	run --separate-stderr nash-eval --limit 1000 --tsv t.nash
	assert_success
	printf '%s\n' "$output" >e.tsv
	nash-dump --meta eval e.nash | cut -f 2 >e.json
	python3 - <<-'EOF'
	import json
	rows = [l.rstrip("\n").split("\t") for l in open("e.tsv")]
	e = json.load(open("e.json"))
	head = rows[0]
	assert head == ["graph", "class", "name", "images", "top1", "top5"] + ["pred_%d" % j for j in range(10)], head
	assert len(rows) == 12 and all(len(r) == 16 for r in rows)
	a = rows[1]
	assert a[:4] == ["tfc", "all", "-", "1000"] and float(a[4]) == round(e["top1"], 2) and float(a[5]) == round(e["top5"], 2)
	cm = e["confusion"]
	assert [int(x) for x in a[6:]] == [sum(cm[i][j] for i in range(10)) for j in range(10)]
	for i, r in enumerate(rows[2:]):
	    c = e["per_class"][i]
	    assert r[1] == str(i) and r[2] == c["name"] and int(r[3]) == c["images"], r
	    assert float(r[4]) == round(c["top1"], 2) and [int(x) for x in r[6:]] == cm[i]
	EOF
	# the stream is not written with --tsv; the summary line goes to stderr
	[[ "$stderr" == "nash-eval: graph tfc: test 1000 images: top1 "*"% top5 "*"%" ]]
}

@test "--compare: agreement with the same graph is 100 %, with another graph less" {
	nash-eval --limit 1000 --compare t.nash t.nash >self.nash 2>self.err
	py "$(meta self.nash eval.compare.agree) == 100"
	[ "$(meta self.nash eval.compare.disagree_images)" = 0 ]
	[[ "$(cat self.err)" == *"agrees with tfc (top1 "*"%) on 100.00%" ]]
	nash-eval --limit 1000 --compare untrained.nash t.nash >cmp.nash
	nash-dump --meta eval cmp.nash | cut -f 2 >c.json
	nash-eval --limit 1000 --compare untrained.nash --tsv t.nash >c.tsv
	nash-eval --limit 1000 untrained.nash >u.nash
	nash-dump --meta eval u.nash | cut -f 2 >u.json
	python3 - <<-'EOF'
	import json
	c, u = json.load(open("c.json")), json.load(open("u.json"))
	k = c["compare"]
	assert k["file"] == "untrained.nash" and k["graph"] == "tfc" and k["executor"] == "float"
	assert k["agree"] < 60 and k["top1"] == u["top1"], (k, u["top1"])
	assert k["disagree_images"] == round(1000 * (100 - k["agree"]) / 100)
	# the agreement can be no larger than what the two confusion matrices allow
	cu, ct = u["confusion"], c["confusion"]
	bound = sum(min(sum(ct[i][j] for i in range(10)), sum(cu[i][j] for i in range(10))) for j in range(10))
	assert 1000 * k["agree"] / 100 <= bound + 1e-6
	rows = [l.rstrip("\n").split("\t") for l in open("c.tsv")]
	assert rows[0][6] == "agree" and float(rows[1][6]) == round(k["agree"], 2)
	# the per-class agreements average (weighted) to the total
	tot = sum(float(r[6]) * int(r[3]) for r in rows[2:]) / 1000
	assert abs(tot - k["agree"]) < 0.05, (tot, k["agree"])
	EOF
	# one reference for every input graph, or one each
	{ cat t.nash; cat untrained.nash; } >both.nash
	run nash-dump --meta eval.compare.agree <(nash-eval -q --limit 300 --compare t.nash both.nash)
	py "${lines[0]#*$'\t'} == 100 and ${lines[1]#*$'\t'} < 100"
	run nash-dump --meta eval.compare.agree <(nash-eval -q --limit 300 --compare both.nash both.nash)
	py "${lines[0]#*$'\t'} == 100 and ${lines[1]#*$'\t'} == 100"
	{ cat both.nash; cat t.nash; } >three.nash
	run --separate-stderr nash-eval -q --limit 300 --compare both.nash three.nash
	assert_error_line nash-eval 1
	[[ "$stderr" == *"both.nash holds 2 graphs but the input has more"* ]]
}

@test "--split train and val (the validation split training carved out)" {
	nash-eval --split train --limit 500 t.nash >tr.nash
	[ "$(meta tr.nash eval.split)" = '"train"' ]
	[ "$(meta tr.nash eval.images)" = 500 ]
	nash-eval --split val --val-split 0.1 --limit 2000 t.nash >v.nash
	[ "$(meta v.nash eval.images)" = 200 ]
	[ "$(meta v.nash eval.top1)" = "$(meta t.nash train.val_top1)" ]
	run --separate-stderr nash-eval --split val t.nash
	assert_equal "$status" 2
	[[ "$stderr" == "nash-eval: --split val needs --val-split F"* ]]
}

@test "results do not depend on the batch size or the thread count" {
	nash-eval --limit 700 -b 256 t.nash | nash-dump --meta eval.confusion >a.txt
	nash-eval --limit 700 -b 7 -j 1 t.nash | nash-dump --meta eval.confusion >b.txt
	cmp a.txt b.txt
}

@test "integer hardware graphs run on the integer executor" {
	nash-eval --limit 200 hw.nash >h.nash
	[ "$(meta h.nash eval.executor)" = '"integer"' ]
	[ "$(meta h.nash eval.images)" = 200 ]
	[ "$(meta h.nash eval.loss)" = null ]
	# its LabelSelect keeps one class: top-5 is top-1
	[ "$(meta h.nash eval.top1)" = "$(meta h.nash eval.top5)" ]
	nash-eval --limit 200 --compare hw.nash hw.nash >hh.nash
	py "$(meta hh.nash eval.compare.agree) == 100"
	[ "$(meta hh.nash eval.compare.executor)" = '"integer"' ]
	# an MLP's hardware graph takes the image as a 784-vector
	nash-eval --limit 200 hwtfc.nash >ht.nash
	[ "$(meta ht.nash eval.executor)" = '"integer"' ]
}

@test "a streamlined integer graph predicts what its fake-quantized graph predicts" {
	nash-quant --preset w2a2 t.nash | nash-train -j 1 --limit 2000 --epochs 1 --lr 0.02 -q >q.nash
	nash-stream <q.nash >s.nash
	nash-eval -j 1 --limit 2000 --compare q.nash s.nash >se.nash 2>se.err
	[ "$(meta se.nash eval.executor)" = '"integer"' ]
	[ "$(meta se.nash eval.compare.executor)" = '"float"' ]
	# float rounding near a threshold may flip an image or two
	py "$(meta se.nash eval.compare.agree) >= 99"
	py "abs($(meta se.nash eval.top1) - $(meta se.nash eval.compare.top1)) <= 1"
	py "$(meta se.nash eval.top1) > 50"
}

@test "bad input: one line, exit 1; usage errors exit 2" {
	run --separate-stderr nash-eval -d nowhere t.nash
	assert_error_line nash-eval 1
	[[ "$stderr" == "nash-eval: nowhere: No such file or directory"* ]]
	nash-gen tfc -i 3x32x32 >t3.nash
	run --separate-stderr nash-eval --limit 10 t3.nash
	assert_error_line nash-eval 1
	assert_equal "$stderr" "nash-eval: graph tfc: input input is 3x32x32 but fashion-mnist images are 1x28x28"
	run --separate-stderr nash-eval --limit 10 --compare missing.nash t.nash
	assert_error_line nash-eval 1
	[[ "$stderr" == *"missing.nash"* ]]
	run --separate-stderr nash-eval --limit 10 --compare t3.nash t.nash
	assert_error_line nash-eval 1
	[[ "$stderr" == "nash-eval: t3.nash: graph tfc: input input is 3x32x32"* ]]
	truncate_stream t.nash 200 >cut.nash
	run --separate-stderr nash-eval --limit 10 cut.nash
	assert_error_line nash-eval 1
	run --separate-stderr bash -c "nash-eval -q --limit 10 t.nash >/dev/full"
	assert_error_line nash-eval 1
	run --separate-stderr nash-eval --limit 10 </dev/null
	assert_error_line nash-eval 1
	for args in "--split dev" "--batch 0" "--limit x" "--val-split 2" "--bogus"; do
		run --separate-stderr nash-eval $args t.nash
		assert_equal "$status" 2
		assert_equal "${stderr%%: *}" nash-eval
	done
}

@test "the man page's examples run" {
	nash-gen tfc | nash-train --limit 2000 --epochs 2 > tfc.nash
	nash-eval tfc.nash > tfc-eval.nash
	nash-dump --meta eval.per_class tfc-eval.nash
	[ "$(meta tfc-eval.nash eval.images)" = 10000 ]
	nash-eval --limit 1000 --tsv tfc.nash
	run --separate-stderr bash -c "nash-eval --limit 1000 --tsv tfc.nash | awk -F '\t' '\$2 != \"all\"' \
		| sort -t \"\$(printf '\t')\" -k5,5n | cut -f 3,5"
	assert_success
	assert_equal "${#lines[@]}" 11
	nash-gen tfc > untrained.nash
	nash-eval --compare untrained.nash tfc.nash | nash-dump --meta eval.compare
	nash-quant --preset w2a2 < tfc.nash \
		| nash-train --limit 2000 --epochs 2 --lr 0.02 > q.nash
	nash-stream < q.nash > hw.nash
	nash-eval --limit 2000 --compare q.nash hw.nash | nash-dump --meta eval
	nash-gen tfc | nash-train --val-split 0.1 --limit 2000 --epochs 2 > v.nash
	nash-eval --split val --val-split 0.1 --limit 2000 v.nash | nash-dump
}
