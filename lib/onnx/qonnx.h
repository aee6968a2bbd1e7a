/*
 * qonnx.h - QONNX export and import: nash graphs to and from ONNX models
 * that carry the QONNX quantizers (Quant, BipolarQuant, Trunc in the
 * qonnx.custom_op.general domain), the form Brevitas exports and FINN's
 * builder reads. Protobuf encoding goes through the protobuf-c bindings
 * generated at build time from the onnx.proto Debian ships.
 *
 * Contract: no printing, no exiting. Failures return -1 (or NULL) with a
 * nash_err naming the graph or file, the node and the reason.
 *
 * Conventions of the ONNX side: NCHW with a batch dimension of 1 on graph
 * inputs, outputs and value_info; parameters as initializers (raw data,
 * little endian); pads [top, left, bottom, right] as in nash; Gemm with
 * transB = 1. nash attributes that ONNX has no place for (role, cell,
 * scale_mode, target, ...) and the meta sections travel in the model's
 * metadata_props under the key "nash.graph": the graph's nash(5) record
 * without tensor data, base64-encoded. Standard ONNX nodes carry only
 * their standard attributes, so onnx.checker and onnxruntime accept them.
 */
#ifndef NASH_QONNX_H
#define NASH_QONNX_H

#include "core/nash.h"

#define NASH_QONNX_DOMAIN "qonnx.custom_op.general"
#define NASH_ONNX_OPSET_MIN 7       /* ai.onnx opsets import reads */
#define NASH_ONNX_OPSET_MAX 18
#define NASH_ONNX_EXPORT_MIN 11     /* ai.onnx opsets export can write */
#define NASH_ONNX_EXPORT_MAX 17
#define NASH_ONNX_OPSET_DEFAULT 13  /* what export writes unless told */
#define NASH_ONNX_METADATA_KEY "nash.graph"

typedef struct nash_onnx_export_opts {
	int opset;      /* ai.onnx opset to declare: 11..17; 0 = 13 */
	int no_nash;    /* 1: leave out the "nash.graph" metadata */
} nash_onnx_export_opts;

/* Encode a quantized float-level graph (validated) as an ONNX ModelProto
 * in a malloc'd buffer. Fails naming the node for a Choice node (derive
 * first), a hardware or streamlining op, an op without ONNX form, a
 * 1-bit signed Quant (QONNX reads it as bipolar) or a quantizer whose
 * scale, zero point or bit width is not a parameter; and for a graph with
 * no quantizer at all. A HardTanh whose output feeds only quantizers whose
 * range lies inside [min_val, max_val] is left out (the quantizer clamps
 * already, as in Brevitas' exports); another one becomes Clip. */
int nash_onnx_export(const nash_graph *g, const nash_onnx_export_opts *o,
                     unsigned char **buf, size_t *n, nash_err *e);

typedef struct nash_onnx_import_opts {
	const char *name;   /* graph name; NULL: the name in "nash.graph",
	                       else the label's file name without .onnx */
	int ignore_nash;    /* 1: ignore the "nash.graph" metadata */
} nash_onnx_import_opts;

/* Decode an ONNX model (n bytes) into a validated nash graph. label names
 * the source in messages and in meta.onnx. Handles ai.onnx opsets
 * NASH_ONNX_OPSET_MIN..MAX and the QONNX quantizers in the domains
 * qonnx.custom_op.general, onnx.brevitas and finn.custom_op.general.
 * Shape subgraphs are folded (Shape, Gather, Unsqueeze, Concat, Cast, ...),
 * Reshape/Squeeze that flatten become Flatten, MatMul and Gemm become Gemm
 * with transB = 1 (weights transposed as needed, also through a Quant),
 * Sub and Div by constants become Add and Mul, Clip becomes HardTanh or
 * Relu, Dropout becomes Identity, Trunc of QONNX opset 2 (an output
 * scale) becomes Trunc, Mul and a clamping Quant. Quantizers without nash's scale_mode and
 * target get them inferred: a Quant on a graph input is the input
 * quantizer (const), on the weight of a Conv/Gemm a weight quantizer
 * (stats when the scale is exactly what nash_qscale_stats gives, else
 * learned), on a bias a bias quantizer (product when its scale is exactly
 * the product of the input and weight scales), two quantizers of equal
 * scale feeding one Add the adder pair (they then share one scale tensor),
 * any other an activation quantizer (learned). Then nash_quant_export
 * (lib/quant) stores the integers of weight and bias quantizers, so the
 * graph is what nash-quant would hand on. Unsupported ops, opsets,
 * external data and undefined inputs (a missing initializer) fail naming
 * the node. */
nash_graph *nash_onnx_import(const void *buf, size_t n, const char *label,
                             const nash_onnx_import_opts *o, nash_err *e);

/* Read path (whole; "-" is stdin) and import it; the label is path. */
nash_graph *nash_onnx_import_file(const char *path, const nash_onnx_import_opts *o,
                                  nash_err *e);

#endif
