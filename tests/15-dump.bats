#!/usr/bin/env bats
# nash-dump: summary, node and tensor tables, JSON, meta paths, bad streams.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	nash-gen tfc >tfc.nash
}

@test "summary line: name, nodes, exact parameters, MACs" {
	run nash-dump tfc.nash
	assert_success
	assert_output "tfc	nodes=11	params=59392	macs=59008 (59k)"
}

@test "several graphs and files: one line each, stdin or files" {
	nash-gen tfc --sweep seed=1,2,3 >three.nash
	run nash-dump three.nash tfc.nash
	[ "${#lines[@]}" -eq 4 ]
	run bash -c 'cat three.nash | nash-dump'
	[ "${#lines[@]}" -eq 3 ]
}

@test "--nodes shows every node with op, name, output shape, MACs" {
	run nash-dump --nodes tfc.nash
	assert_success
	assert_line --regexp "^0 +Flatten +flatten +784 "
	assert_line --regexp "^1 +Gemm +fc0 +64 +50176 "
	[ "${#lines[@]}" -eq 13 ]
}

@test "--tensors lists parameters and activations" {
	run nash-dump --tensors tfc.nash
	assert_success
	assert_line --regexp "^fc0.weight +float32 +64x784 .* 50176 parameter"
}

@test "--json is valid JSON, data summarised unless --data" {
	nash-dump --json tfc.nash >t.json
	/usr/bin/python3 -c 'import json,sys; d=json.load(open("t.json")); assert d[0]["name"]=="tfc"; assert d[0]["summary"]["params"]==59392; assert d[0]["tensors"]["fc0.weight"]["data"]["numel"]==50176'
	nash-dump --json --data tfc.nash >d.json
	/usr/bin/python3 -c 'import json; d=json.load(open("d.json")); assert len(d[0]["tensors"]["fc3.weight"]["data"])==640'
	nash-gen tfc --sweep seed=1,2 | nash-dump --json >two.json
	/usr/bin/python3 -c 'import json; assert len(json.load(open("two.json")))==2'
}

@test "--meta prints a value per graph" {
	run nash-dump --meta gen.arch tfc.nash
	assert_output 'tfc	"tfc"'
	run nash-dump --meta gen.nothing tfc.nash
	assert_output 'tfc	null'
}

@test "bad streams: one line naming the problem, exit 1, nothing on stdout" {
	run --separate-stderr nash-dump </dev/null
	assert_error_line nash-dump 1
	assert_equal "$stderr" "nash-dump: empty input: no records on stdin"
	head -c 300 tfc.nash >cut.nash
	run --separate-stderr nash-dump cut.nash
	assert_error_line nash-dump 1
	[[ "$stderr" == *"cut.nash: record 1: truncated"* ]]
	assert_output ""
	head -c 4096 /dev/urandom >rnd.bin
	run --separate-stderr nash-dump rnd.bin
	[ "$status" -eq 1 ]
	run --separate-stderr nash-dump missing.nash
	assert_error_line nash-dump 1
	[[ "$stderr" == *"missing.nash: No such file or directory"* ]]
	# "nash": 99 (the version is the record's second byte pair: 0xa4 "nash" 0x01)
	/usr/bin/python3 -c 'import sys; b=open("tfc.nash","rb").read(); i=b.index(b"\xa4nash\x01"); sys.stdout.buffer.write(b[:i+5]+b"\x63"+b[i+6:])' >v99.nash
	run --separate-stderr nash-dump v99.nash
	assert_error_line nash-dump 1
	[[ "$stderr" == *"format version 99 is newer"* ]]
}

@test "an undefined tensor and a shape mismatch are named" {
	/usr/bin/python3 - <<'PY'
b = open("tfc.nash", "rb").read()
# rename the first input of fc1 ("fc0.act") to an undefined tensor
open("undef.nash", "wb").write(b.replace(b"\xa7fc0.act\xaafc1.weight", b"\xa7fc9.act\xaafc1.weight", 1))
# give the parameter fc1.weight the shape 32x128 (same bytes as 64x64)
i = b.index(b"\xaafc1.weight\x83")
j = b.index(b"\xa5shape\x92\x40\x40", i)
open("shape.nash", "wb").write(b[:j] + b"\xa5shape\x92\x20\xcc\x80" + b[j + 9:])
PY
	run --separate-stderr nash-dump undef.nash
	assert_error_line nash-dump 1
	[[ "$stderr" == *"node fc1: input fc9.act is not defined"* ]]
	run --separate-stderr nash-dump shape.nash
	assert_error_line nash-dump 1
	[[ "$stderr" == *"node fc1 (Gemm): shape mismatch"* ]]
}

@test "a record of an unknown kind is reported and skipped" {
	printf '\x82\xa4nash\x01\xa4kind\xa4note' >note.nash
	cat note.nash tfc.nash >mixed.nash
	run nash-dump mixed.nash
	assert_success
	assert_output --partial "tfc	nodes=11"
}

@test "--help and --version" {
	run nash-dump --help
	assert_success
	assert_output --partial "Usage: nash-dump"
	run nash-dump --version
	assert_output --regexp "^nash-dump \(nash\) "
	run --separate-stderr nash-dump --data tfc.nash
	[ "$status" -eq 2 ]
}
