/*
 * sl_private.h - PRIVATE to lib/streamline (not a public header: other
 * folders use streamline.h only). The pass context, the graph helpers the
 * passes share, value ranges, exact-double parameters.
 */
#ifndef NASH_SL_PRIVATE_H
#define NASH_SL_PRIVATE_H

#include "core/nash.h"
#include "streamline/streamline.h"

/* ------------------------------------------------ string -> int64 map */
/* Open addressing; keys are borrowed unless own is set (then copied). */
typedef struct sl_map {
	char **k;
	int64_t *v;
	size_t cap, n;
	int own;
} sl_map;
void sl_map_init(sl_map *m, size_t want);
void sl_map_put(sl_map *m, const char *k, int64_t v);
int64_t sl_map_get(const sl_map *m, const char *k);   /* 0 when absent */
void sl_map_clear(sl_map *m);
void sl_map_free(sl_map *m);

/* ------------------------------------------------------- parameters */
/* Values of a parameter as doubles (malloc'd, numel + 1 entries): the
 * exact copy in extra "data_f64" when present, else the stored data. */
double *sl_tensor_f64(const nash_tensor *t);
/* Create (or replace) a float32 parameter holding vals; values float32
 * cannot hold exactly are kept in "data_f64". */
nash_tensor *sl_param_f64(nash_graph *g, const char *name, int ndim, const int64_t *shape, const double *vals);
/* Create an integer parameter of datatype dt (storage from dt). */
nash_tensor *sl_param_int(nash_graph *g, const char *name, int ndim, const int64_t *shape, const int64_t *vals,
                          nash_datatype dt);
static inline void sl_iset(nash_tensor *t, int64_t i, int64_t v)
{
	switch (t->dtype) {
	case NASH_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
	case NASH_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
	case NASH_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
	case NASH_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
	case NASH_I64: ((int64_t *)t->data)[i] = v; break;
	default: ((float *)t->data)[i] = (float)v; break;
	}
}
/* An integer parameter of datatype dt with zeroed data (fill with sl_iset). */
nash_tensor *sl_param_int0(nash_graph *g, const char *name, int ndim, const int64_t *shape, nash_datatype dt);
/* The "strict" attribute of a MultiThreshold as steps flags (malloc'd). */
char *sl_strict_get(const nash_node *n, int64_t steps);
/* BatchNormalization as y = A x + B (the interpreter uses the same). */
void sl_bn_affine(const double *gamma, const double *beta, const double *mean, const double *var, double eps,
                  int64_t c, double *A, double *B);
int sl_ref_knows(const char *op);
int sl_is_hw_op(const char *op);   /* a hardware operator of nash-ops(7) */
/* Datatype of [lo, hi] in FINN's words (BINARY for [0, 1]). */
nash_datatype sl_fit(int64_t lo, int64_t hi);

/* ------------------------------------------------------ value ranges */
typedef struct sl_vi {
	int isint;          /* integer valued with the range below */
	int bipolar;        /* values in {-1, +1} */
	int64_t lo, hi;
} sl_vi;

/* ------------------------------------------------------ pass context */
typedef struct sl_wsum { int64_t n; double *pos, *neg; } sl_wsum;

typedef struct sl_ctx {
	nash_graph *g;
	const nash_stream_opts *o;
	nash_err *e;
	int dirty;
	sl_map prod;        /* tensor -> producer node index + 1 */
	sl_map uses;        /* tensor -> uses as node input or graph output */
	sl_map cons;        /* tensor -> first consuming node index + 1 */
	sl_map vmap;        /* tensor -> index into vi + 1 */
	sl_vi *vi;
	int nvi, capvi;
	sl_map wmap;        /* owned keys: weight tensor + role -> index into ws + 1 */
	sl_wsum *ws;
	int nws;
	int rewrites;
	sl_map names;       /* owned: every tensor and node name seen or issued */
	sl_map suffix;      /* owned: base name -> next suffix to try */
	sl_map labels;      /* finish: stream -> index into label + 1 */
	nash_datatype *label;
} sl_ctx;

void sl_ctx_init(sl_ctx *c, nash_graph *g, const nash_stream_opts *o, nash_err *e);
void sl_ctx_free(sl_ctx *c);
/* Shapes, producers, uses and value ranges up to date (after rewrites);
 * -1 if the graph no longer validates (a bug: the message says which). */
int sl_refresh(sl_ctx *c);
void sl_touch(sl_ctx *c);   /* the graph changed: refresh before the next query */

nash_node *sl_producer(sl_ctx *c, const char *t);
int sl_nuses(sl_ctx *c, const char *t);
/* The node reading t when it is its only use (not a graph output), else NULL. */
nash_node *sl_only_consumer(sl_ctx *c, const char *t);
/* Every node reading t, in graph order (malloc'd, NULL terminated). */
nash_node **sl_consumers(sl_ctx *c, const char *t, int *n);
const sl_vi *sl_info(sl_ctx *c, const char *t);   /* NULL when not integer */
int sl_is_param(sl_ctx *c, const char *t);
const nash_tensor *sl_shape(sl_ctx *c, const char *t);
/* Per output channel sums of the positive and negative weights of a
 * Conv (M x ...), Gemm (role 'g': transB rows, 'G': columns) or MVAU
 * (MW x MH, role 'm') weight tensor. Cached. */
const sl_wsum *sl_wsums(sl_ctx *c, const char *w, char role);
/* The same sums for a reordered copy w (role) of tensor from (from_role). */
void sl_wsums_alias(sl_ctx *c, const char *w, char role, const char *from, char from_role);
/* Range of the dot products of those weights with inputs in [lo, hi]
 * (zero: the window may fall on zero padding). */
sl_vi sl_dot_range(const sl_wsum *s, int64_t lo, int64_t hi, int zero);

/* Nodes */
nash_node *sl_insert_after(sl_ctx *c, nash_node *after, const char *op, const char *name,
                           const char *const *in, const char *const *out);
nash_node *sl_insert_before(sl_ctx *c, nash_node *before, const char *op, const char *name,
                            const char *const *in, const char *const *out);
void sl_remove(sl_ctx *c, nash_node *n);
/* Replace every use of tensor from (node inputs, graph outputs) by to. */
void sl_replace_uses(sl_ctx *c, const char *from, const char *to);
/* A fresh tensor or node name from base (malloc'd). */
char *sl_fresh(sl_ctx *c, const char *base);
/* Remove nodes whose outputs nobody uses and unused parameters. */
void sl_prune(sl_ctx *c);
void sl_drop_inputs(nash_node *n, int keep);
/* Take out a node whose output equals its input 0 (identities): readers
 * read the input; a graph output keeps its name (the producer writes it).
 * Returns 0 (nothing done) when the output is a graph output the input
 * cannot take the name of. */
int sl_bypass(sl_ctx *c, nash_node *n);

/* A Mul or Add by a constant: returns the index (0/1) of the data input
 * and fills vals (malloc'd) with nc values: 1 (scalar) or the channel count
 * (the constant is C x 1 x 1 for a C x H x W input, C for a vector). -1
 * when n is not such a node. */
int sl_const_op(sl_ctx *c, const nash_node *n, const char *op, double **vals, int64_t *nc);
/* Create a constant parameter for data of rank ndim: nc = 1 scalar, else
 * per channel (C x 1 x 1 or C). Returns its name (malloc'd). */
char *sl_const_new(sl_ctx *c, const char *base, const double *vals, int64_t nc, int ndim);
/* Channels of a tensor (dim 0 of a C x H x W or vector), 1 for a scalar. */
int64_t sl_channels(sl_ctx *c, const char *t);

/* Error for node n: "graph G: node N (Op): <fmt>". Returns -1. */
int sl_fail(sl_ctx *c, const nash_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The passes (passes.c, lower.c): each sweeps the graph once and returns
 * the number of rewrites, or -1. */
typedef int (*sl_pass_fn)(sl_ctx *c);
int sl_pass_tidy(sl_ctx *c);
int sl_pass_input(sl_ctx *c);
int sl_pass_bn(sl_ctx *c);
int sl_pass_weights(sl_ctx *c);
int sl_pass_slice(sl_ctx *c);
int sl_pass_pad(sl_ctx *c);
int sl_pass_quant(sl_ctx *c);
int sl_pass_fanout(sl_ctx *c);
int sl_pass_collapse(sl_ctx *c);
int sl_pass_flip(sl_ctx *c);
int sl_pass_move(sl_ctx *c);
int sl_pass_absorb(sl_ctx *c);
int sl_pass_split(sl_ctx *c);
int sl_pass_round(sl_ctx *c);
int sl_pass_avgpool(sl_ctx *c);
int sl_pass_conv(sl_ctx *c);
int sl_pass_maxpool(sl_ctx *c);
int sl_pass_concat(sl_ctx *c);
int sl_pass_add(sl_ctx *c);
int sl_pass_thresh(sl_ctx *c);
int sl_pass_layout(sl_ctx *c);
int sl_pass_mvau_thresh(sl_ctx *c);
int sl_pass_classifier(sl_ctx *c);
int sl_pass_dup(sl_ctx *c);
/* After the passes: every node a hardware operator (else a diagnosis of
 * the first one that is not), datatype attributes, invariants. */
int sl_finish(sl_ctx *c);

#endif
