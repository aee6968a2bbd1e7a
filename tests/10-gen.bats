#!/usr/bin/env bats
# nash-gen: backbones, NASH supernets and genotypes, sweeps, bad options.
load helpers

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "resnet18 224x224 has torchvision's 11,689,512 parameters and ~1.82 GMAC" {
	run bash -c 'nash-gen resnet18 --input 3x224x224 --classes 1000 | nash-dump'
	assert_success
	assert_output --partial "params=11689512"
	macs=$(echo "$output" | sed -n 's/.*macs=\([0-9]*\).*/\1/p')
	[ "$macs" -gt 1800000000 ] && [ "$macs" -lt 1840000000 ]
}

@test "resnet34 has torchvision's 21,797,672 parameters" {
	run bash -c 'nash-gen resnet34 | nash-dump'
	assert_success
	assert_output --partial "params=21797672"
}

@test "small-input stem: resnet18 width 16 on 1x28x28 has 28.6 MMAC" {
	run bash -c 'nash-gen resnet18 --input 1x28x28 --width 16 | nash-dump'
	assert_success
	assert_output --regexp "^resnet18-w16	nodes=[0-9]+	params=[0-9]+	macs=285[0-9]{5} "
	run bash -c 'nash-gen resnet18 --input 1x28x28 --width 16 | nash-dump --nodes'
	refute_output --partial "stem.pool"
	assert_output --regexp "stem.conv +16x28x28"
}

@test "ResNet18 supernet: 16 nodes, 4 x 10 edges, one Choice each" {
	nash-gen resnet18 --input 1x28x28 --width 16 --nash v1 --search >s.nash
	run nash-dump --nodes s.nash
	[ "$(grep -c ' Choice ' <<<"$output")" -eq 40 ]
	for c in 0 1 2 3; do
		[ "$(grep -cE " Choice +cell$c\.n[0-3]\.e[0-3] " <<<"$output")" -eq 10 ]
	done
	# the edges from state 0 of a down-sampling cell have stride 2
	nash-dump --json s.nash >s.json
	/usr/bin/python3 - <<'PY'
import json
g = json.load(open("s.json"))[0]
ch = {n["name"]: n["attr"] for n in g["nodes"] if n["op"] == "Choice"}
for name, a in ch.items():
    want = 2 if a["cell"] > 0 and a["from"] == 0 else 1
    assert a["stride"] == want, (name, a)
assert ch["cell1.n3.e0"]["stride"] == 2 and ch["cell0.n3.e0"]["stride"] == 1
PY
	run nash-dump s.nash
	assert_output --partial "arch=240"
}

@test "ResNet34 supernet bunches nodes 6/4/4/6/6/6 (104 edges)" {
	run bash -c 'nash-gen resnet34 --input 1x28x28 --width 8 --nash v3 --search | nash-dump --nodes'
	assert_success
	[ "$(grep -c ' Choice ' <<<"$output")" -eq 104 ]
	[ "$(grep -cE ' Choice +cell0\.' <<<"$output")" -eq 21 ]
	[ "$(grep -cE ' Choice +cell1\.' <<<"$output")" -eq 10 ]
	[ "$(grep -cE ' Choice +cell5\.' <<<"$output")" -eq 21 ]
}

@test "v4 searches none and the three convs only" {
	run bash -c 'nash-gen resnet18 -i 1x28x28 -w 8 --nash v4 --search | nash-dump --json'
	assert_success
	assert_output --partial '"ops": ["none", "conv_1x1", "conv_3x3", "conv_5x5"]'
	refute_output --partial 'max_pool_3x3.pool'
}

@test "genotype: fixed network with cascade adders, normalised in meta.gen" {
	G='c3@0,sk@1,none,mp@2/conv_1x1@0,none,skip_connect@0,conv_5x5@3/max_pool_3x3@0,-,-,-/conv_3x3@0,-,-,-'
	nash-gen resnet18 -i 1x28x28 -w 16 --nash v1 --genotype "$G" >g.nash
	run nash-dump -m gen.genotype g.nash
	assert_output --partial '"conv_3x3@0,skip_connect@1,none,max_pool_3x3@2/conv_1x1@0,none,skip_connect@0,conv_5x5@3/max_pool_3x3@0,none,none,none/conv_3x3@0,none,none,none"'
	run nash-dump --nodes g.nash
	# second conv of a block with an op: backbone + shortcut + op = two adds
	assert_output --regexp "Add +layer1\.0\.add "
	assert_output --regexp "Add +cell0\.n1\.add2 "
	# the stride-2 skip is the factorised reduce
	assert_output --regexp "Slice +cell1\.n2\.e0\.skip_connect\.shift"
	# the normalised genotype rebuilds the same graph
	N=$(nash-dump -m gen.genotype g.nash | cut -f2 | tr -d '"')
	nash-gen resnet18 -i 1x28x28 -w 16 --nash v1 --genotype "$N" --name x >h.nash
	nash-gen resnet18 -i 1x28x28 -w 16 --nash v1 --genotype "$G" --name x >i.nash
	cmp h.nash i.nash
}

@test "same seed gives identical bytes, another seed other weights" {
	nash-gen resnet18 -i 1x28x28 -w 8 --seed 3 >a.nash
	nash-gen resnet18 -i 1x28x28 -w 8 --seed 3 >b.nash
	nash-gen resnet18 -i 1x28x28 -w 8 --seed 4 >c.nash
	cmp a.nash b.nash
	! cmp -s a.nash c.nash
}

@test "sweep: cartesian product, names encode the settings, meta.gen records them" {
	run bash -c 'nash-gen resnet18 -i 1x28x28 --sweep width=8,16 --sweep nash=none,v2 --search --sweep seed=1,2 | nash-dump'
	assert_success
	[ "${#lines[@]}" -eq 8 ]
	assert_line --regexp "^resnet18-w8-seed1	"
	assert_line --regexp "^resnet18-nash-v2-super-w16-seed2	"
	run bash -c 'nash-gen tfc --sweep classes=10,12 | nash-dump -m gen.classes'
	assert_output "tfc-classes10	10
tfc-classes12	12"
}

@test "BNN-PYNQ topologies" {
	run bash -c 'for a in tfc sfc lfc cnv; do nash-gen $a; done | nash-dump'
	assert_success
	assert_line --regexp "^tfc	nodes=11	params=59392	"
	assert_line --regexp "^cnv	nodes=28	params=1546688	"
	run bash -c 'nash-gen cnv --input 1x28x28 | nash-dump'
	assert_success
}

@test "bad options: one line, exit 1 for bad values, 2 for usage" {
	run --separate-stderr nash-gen resnet99
	assert_error_line nash-gen 1
	assert_equal "$stderr" "nash-gen: unknown architecture 'resnet99' (known: resnet18, resnet34, cnv, lfc, sfc, tfc)"
	run --separate-stderr nash-gen resnet18 --nash v5 --search
	assert_error_line nash-gen 2
	run --separate-stderr nash-gen resnet18 --input 1x28
	assert_error_line nash-gen 2
	run --separate-stderr nash-gen resnet18 --width -4
	assert_error_line nash-gen 2
	run --separate-stderr nash-gen resnet18 --nash v1 --genotype 'c3@0'
	assert_error_line nash-gen 1
	assert_output ""
	[[ "$stderr" == *"genotype has 1 cells, the backbone has 4"* ]]
	run --separate-stderr nash-gen resnet18 --nash v2 -i 1x28x28 -g 'c3@0,c3@0,c3@0,c3@0/sk@0,none,none,none/-,-,-,-/-,-,-,-'
	assert_error_line nash-gen 1
	[[ "$stderr" == *"v2 allows only convs"* ]]
	run --separate-stderr nash-gen resnet18 --nash v4 -g 'mp@0,-,-,-/-,-,-,-/-,-,-,-/-,-,-,-'
	assert_error_line nash-gen 1
	run --separate-stderr nash-gen resnet18 --search
	assert_error_line nash-gen 1
	run --separate-stderr nash-gen tfc --width 16
	assert_error_line nash-gen 1
	run --separate-stderr nash-gen resnet18 --bogus
	[ "$status" -eq 2 ]
}

@test "--help, --version, --list" {
	run nash-gen --help
	assert_success
	assert_output --partial "Usage: nash-gen"
	run nash-gen --version
	assert_output --regexp "^nash-gen \(nash\) [0-9]+\.[0-9]+"
	run nash-gen --list
	assert_output --partial "v4: none conv_1x1 conv_3x3 conv_5x5"
	assert_output --partial "resnet34 cells: 6 4(stride 2) 4 6(stride 2) 6 6(stride 2) nodes; 104 edges"
}

@test "refuses to write a binary stream to a terminal" {
	command -v script >/dev/null || skip "script(1) not installed"
	run script -qec 'nash-gen tfc' /dev/null
	[ "$status" -ne 0 ]
	assert_output --partial "refusing to write a binary stream to a terminal"
}
