/*
 * quant.h - quantizer insertion (what nash-quant does), bit-width presets
 * and the integer export of weight and bias quantizers.
 *
 * The quantizers are the Quant, BipolarQuant and Trunc operators of
 * nash-ops(7); their arithmetic is lib/nn's (nash_qrange, nash_quant_int,
 * nash_qscale_stats). The conventions (node and tensor names, which layer
 * gets which quantizer, initial scales, the int_tensor export) are written
 * down in nash-quant(1) and, where other stages rely on them, nash-ops(7).
 *
 * Contract: no printing, no exiting; failures return -1 with a nash_err
 * naming the graph, node and reason.
 */
#ifndef NASH_QUANT_H
#define NASH_QUANT_H

#include "core/nash.h"

#define NASH_QUANT_MAXBITS 16  /* widest weight or activation nash-quant makes */

/* Bit widths of one quantization setting. A weight width of 1 means binary
 * weights (BipolarQuant); an activation width of 1 after HardTanh means
 * bipolar activations. A 0 is "derived" (see nash_quant_resolve). */
typedef struct nash_qbits {
	int w;       /* backbone Conv/Gemm weights */
	int a;       /* activations (after Relu: unsigned; after HardTanh: signed) */
	int first;   /* layers reading the graph input (0: 8, or w on BNN-PYNQ nets) */
	int last;    /* layers making the graph output (0: 8, or w on BNN-PYNQ nets) */
	int down;    /* 1x1 downsample convs, role "downsample" (0: w) */
	int nas_w;   /* NAS-operation convs, role "nas" (0: w) */
	int skip_w;  /* skip_connect's factorized-reduce convs (0: nas_w) */
	int nas_a;   /* activations read by NAS operations of their own cell (0: a) */
	int adder;   /* the stage-shared signed adder quantizer (0: 8) */
	int pool;    /* output of the quantized global average pool (0: automatic,
	                the widest keeping the pooled value within twice the
	                window average, at most 8; see nash-quant(1)) */
} nash_qbits;

/* Preset names, NULL-terminated, in the order nash-quant --list prints them. */
extern const char *const nash_quant_presets[];
/* One line saying what a preset is (NULL for an unknown name). */
const char *nash_quant_preset_about(const char *name);
/* The bit widths of preset name for a graph of architecture arch (the
 * graph's meta.gen.arch; NULL when unknown). Unknown presets, and NASH
 * presets on architectures without NASH cells, are an error; the message
 * lists the known presets. */
int nash_quant_preset(const char *name, const char *arch, nash_qbits *out, nash_err *e);
/* Replace the derived (0) fields of b by their values for arch. */
void nash_quant_resolve(nash_qbits *b, const char *arch);
/* Parse an override "wN", "aM" or "wNaM" (N, M in 1..16); absent parts
 * are 0. -1 with a message otherwise. */
int nash_quant_spec_parse(const char *spec, int *w, int *a, nash_err *e);
/* The reference code's clipping range r(b) of an unsigned b-bit activation
 * quantizer; apply starts a learned one at scale r(b) * sqrt(k) / (2^b - 1),
 * k the number of terms the Relu's input sums (nash-quant(1)). */
double nash_quant_act_range(int bits);

/* A per-layer override: layers (Conv/Gemm by node name) matching glob get
 * w-bit weights, activations (Relu/HardTanh by node name) a bits; 0 leaves
 * that part alone. Later overrides win. apply counts the matches. */
typedef struct nash_qoverride {
	const char *glob;
	int w, a;
	int hits_w, hits_a;   /* out: matching weight layers / activations */
} nash_qoverride;

typedef struct nash_quant_opts {
	const char *preset;   /* name recorded in meta.quant (e.g. "w2a2", "custom") */
	nash_qbits bits;      /* resolved bit widths (no zeros) */
	nash_qoverride *ov;
	int nov;
} nash_quant_opts;

typedef struct nash_quant_result {
	int weights, binary, acts, adders, adder_scales, biases, pools, inputs;
	int nwarn;
	char **warn;          /* lines for the caller to show; free with _result_free */
} nash_quant_result;
void nash_quant_result_free(nash_quant_result *r);

/* 1 if g already holds quantizers (Quant, BipolarQuant, Trunc) or hardware
 * layers, with a message naming one; 0 otherwise. */
int nash_quant_present(const nash_graph *g, nash_err *e);

/* Insert quantizers into a validated float graph (nash-quant(1) describes
 * every rule), record meta.quant, revalidate and export. Refuses graphs
 * that are already quantized and weights that are not finite. */
int nash_quant_apply(nash_graph *g, nash_quant_opts *o, nash_quant_result *r, nash_err *e);

/* The integer export, for a graph that may have been trained: every weight
 * quantizer (target "weight") gets its stats scale recomputed from its
 * float weights (nash_qscale_stats), and every weight and bias quantizer
 * its integer values q (nash_quant_int; +-1 for BipolarQuant) in a tensor
 * named by the quantizer's int_tensor attribute ("<node>.int"): int8
 * storage up to 8 bits, int16 up to 16, int32 for biases; datatype INT<b>,
 * UINT<b>, BIPOLAR or INT32; shape of the quantized tensor. A bias
 * quantizer (scale_mode "product") gets its scale refreshed to the product
 * of its scale_from tensors first. Then q * scale is exactly what the
 * quantizer outputs. Idempotent; returns the number of quantizers
 * exported, or -1 (non-finite weights, malformed quantizers). */
int nash_quant_export(nash_graph *g, nash_err *e);

#endif
