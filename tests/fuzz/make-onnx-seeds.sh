#!/bin/sh
# make-onnx-seeds.sh DIR: small QONNX models for the importer's fuzzer
# (make fuzz FUZZ_TARGET=onnx), exported by the tools on PATH: an MLP at 1
# and 2 bits, a tiny ResNet18 and a NASH-v1 ResNet18 with every kind of
# cell operation, all at 2 bits.
set -eu
out=$1
mkdir -p "$out"
g="conv_3x3@0,skip_connect@0,conv_1x1@1,max_pool_3x3@2"
g="$g/$g/$g/$g"
nash-gen tfc --input 1x4x4 | nash-quant --preset w1a1 | nash-onnx export -o "$out/tfc-w1a1.onnx" >/dev/null
nash-gen tfc --input 1x8x8 | nash-quant --preset w2a2 | nash-onnx export -o "$out/tfc-w2a2.onnx" >/dev/null
nash-gen resnet18 -i 1x8x8 -w 2 | nash-quant --preset w2a2 | nash-onnx export -o "$out/r18w2.onnx" >/dev/null
nash-gen resnet18 -i 1x8x8 -w 2 --nash v1 --genotype "$g" | nash-quant --preset w2a2 |
	nash-onnx export -o "$out/nash-w2.onnx" >/dev/null
