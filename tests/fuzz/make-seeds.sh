#!/bin/sh
# make-seeds.sh DIR: write the fuzzer's seed corpus (tests/fuzz/corpus) into
# DIR from real streams of the installed tools, each file under 50 KB: small
# nets at every stage (float, quantized, hardware, estimated), a NASH
# supernet cell with Choice nodes, a residual block, a two-graph stream.
# Big graphs are cut to their first nodes (prefix), which keeps them valid.
set -eu
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# prefix N SHAPE < in > out: keep the first N nodes, the last one's output
# (of shape SHAPE) becomes the graph's output, unused tensors go
prefix() {
	/usr/bin/python3 -c '
import sys, msgpack
n, shape = int(sys.argv[1]), [int(x) for x in sys.argv[2].split("x")]
g = next(msgpack.Unpacker(sys.stdin.buffer, raw=False, strict_map_key=False))
g["nodes"] = g["nodes"][:n]
used = {t for nd in g["nodes"] for t in nd["in"] + nd["out"]}
g["tensors"] = {k: v for k, v in g["tensors"].items() if k in used}
g["outputs"] = [dict(g["outputs"][0], name=g["nodes"][-1]["out"][0], shape=shape)]
g["name"] += "-prefix"
sys.stdout.buffer.write(msgpack.packb(g, use_bin_type=True))' "$@"
}

nash-gen tfc --input 1x8x8 >tfc.nash
nash-quant --preset w2a2 tfc.nash >tfc-q.nash
nash-stream -q tfc-q.nash >"$out/tfc-hw.nash"
nash-est -q "$out/tfc-hw.nash" >"$out/tfc-est.nash"
prefix 4 64 <tfc.nash >"$out/tfc-float-fc0.nash"
prefix 7 64 <tfc-q.nash >"$out/tfc-quant-fc0.nash"
cat "$out/tfc-hw.nash" "$out/tfc-est.nash" >"$out/two-graphs.nash"

nash-gen resnet18 --input 1x8x8 --width 2 --classes 4 >r18.nash
nash-quant --preset w2a2 r18.nash >r18-q.nash
nash-stream -q r18-q.nash | nash-est --fps 1000 --best-effort -q >r18-est.nash
prefix 18 2x8x8 <r18-q.nash >"$out/resnet-block-q.nash"
prefix 10 8x8x2 <r18-est.nash >"$out/resnet-block-est.nash"

nash-gen resnet18 --input 1x8x8 --width 2 --classes 4 --nash v2 --search >super.nash
prefix 36 2x8x8 <super.nash >"$out/nash-v2-cell0.nash"

# a record of a kind no tool knows: {"nash": 1, "kind": "note", "text": "hi"}
printf '\203\244nash\001\244kind\244note\244text\242hi' >"$out/note.nash"
