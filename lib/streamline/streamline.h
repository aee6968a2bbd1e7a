/*
 * streamline.h - streamlining: the rewrite passes that turn a
 * quantization-aware graph (float-level ops with Quant, BipolarQuant and
 * Trunc nodes, nash-ops(7)) into an integer-only dataflow graph of the
 * hardware operators of nash-ops(7); and the reference interpreter that
 * runs every graph on the way (float-level ops in C x H x W, quantizers,
 * MultiThreshold, constants, hardware operators in H x W x C) in double
 * precision, to check that no pass changed what the graph computes.
 *
 * The passes are listed by nash_stream_pass_count/name/doc in the order
 * they run; nash-stream(1) documents each, what it requires and why the
 * integer graph reproduces the fake-quant graph exactly (ties included).
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) with a
 * nash_err naming the graph, node and reason.
 */
#ifndef NASH_STREAMLINE_H
#define NASH_STREAMLINE_H

#include "core/nash.h"

/* ------------------------------------------------ reference interpreter */
/* A simple, slow and exact-as-double executor for any graph nash-stream
 * sees or makes. Values are doubles; integer tensors (those with an
 * integer datatype) are checked to hold integers of their datatype after
 * every node, so a wrong range is reported where it first appears.
 * Parameters are read from their storage type; a float32 tensor that
 * nash-stream made may carry its exact double values in the unknown key
 * "data_f64" (a bin of little-endian doubles), which take precedence. */

typedef struct nash_ref nash_ref;

/* Compile a validated graph (shapes inferred). Fails naming the first
 * node whose op the interpreter does not know (Choice: derive first). */
nash_ref *nash_ref_new(const nash_graph *g, nash_err *e);
void nash_ref_free(nash_ref *r);

/* Run one sample: in[i] holds the values of graph input i in its own
 * layout and shape. Non-finite values are errors naming the node. */
int nash_ref_run(nash_ref *r, const double *const *in, nash_err *e);
/* Values of graph output i (or of any tensor, by name) after the last run;
 * n receives the element count. NULL if unknown. */
const double *nash_ref_output(const nash_ref *r, int i, int64_t *n);
const double *nash_ref_tensor(const nash_ref *r, const char *name, int64_t *n);

/* The values graph input i receives for an image of uint8 pixels given in
 * the datasets' layout C x H x W (c, h, w): a float input gets the float32
 * value pixel/255 (what the float engine feeds), an integer input (the
 * UINT8 pixels of a streamlined graph) gets the pixel itself, reordered to
 * H x W x C (or flattened to 1 x 1 x K when the graph takes a vector). */
int nash_ref_pixels(const nash_graph *g, int input, const uint8_t *chw, int c, int h, int w,
                    double *out, nash_err *e);

/* The logits a graph's first output stands for, from the values of the
 * last run: a float output as it is; an integer output with the "scale"
 * and "bias" keys nash-stream records on it (nash-ops(7)) mapped through
 * them. Returns the logit count, or -1 when the output holds class indices
 * (LabelSelect): then *topk receives the number of indices. */
int64_t nash_ref_logits(const nash_ref *r, double *logits, int64_t max, int64_t *topk);

/* ---------------------------------------------------------- streamlining */

typedef struct nash_stream_opts {
	const char *until;   /* stop after this pass (NULL: run all) */
	int topk;            /* 0: integer logits at the end; k > 0: LabelSelect of the k best */
	int check;           /* > 0: run this many random images through the graph before the
	                        first pass and after every pass that changed something; fail
	                        naming the first pass that changed the outputs */
	uint64_t seed;       /* for the check images */
	/* progress (may be NULL): called after every pass that changed the graph */
	void (*progress)(void *ctx, const char *graph, const char *pass, int rewrites);
	void *progress_ctx;
} nash_stream_opts;

/* Streamline g in place. On success every node is a hardware operator,
 * every tensor has an integer datatype and meta.stream lists the passes
 * that rewrote something (with --until: a mixed graph, labelled as such).
 * A pattern no pass can lower is an error naming the node and what is
 * missing ("node layer1.0.conv1 (Conv): input is not quantized"). */
int nash_streamline(nash_graph *g, const nash_stream_opts *o, nash_err *e);

/* The passes, in the order they run. */
int nash_stream_pass_count(void);
const char *nash_stream_pass_name(int i);
const char *nash_stream_pass_doc(int i);
/* Index of a pass by name, -1 if unknown. */
int nash_stream_pass_find(const char *name);

/* Run exactly one pass to its fixpoint (for tests and inspection); returns
 * the number of rewrites, or -1. The graph stays validated. */
int nash_stream_pass_run(nash_graph *g, int pass, const nash_stream_opts *o, nash_err *e);

/* Compare two graphs on n random images (seeded) with the reference
 * interpreter: 0 if their logits agree (relative 1e-9 of the largest
 * logit) or, for class-index outputs, their top classes do; -1 with the
 * first difference in e. */
int nash_stream_compare(const nash_graph *a, const nash_graph *b, int n, uint64_t seed, nash_err *e);

#endif
