/*
 * nn_impl.h - private to lib/nn: the compiled net, tensor views and the
 * kernels. Not a public header: only the .c files of lib/nn include it.
 *
 * Layout: every batched activation is stored channels last (a C x H x W
 * tensor as N x H x W x C, "nhwc"; in general the first logical axis
 * moves last), so per-channel loops run over contiguous memory and oneDNN
 * gets its nhwc format. Unbatched tensors (parameters and the outputs of
 * parameter-only nodes such as weight quantizers) keep the graph's
 * row-major layout. Views describe both with per-axis strides.
 */
#ifndef NASH_NN_IMPL_H
#define NASH_NN_IMPL_H

#include "nn/nn.h"

#include <math.h>

#define NN_MAXD NASH_MAXDIM
#define NN_MAXIN 16

enum nn_op {
	OP_CONV, OP_BN, OP_RELU, OP_HARDTANH, OP_MAXPOOL, OP_AVGPOOL, OP_GAP,
	OP_ADD, OP_MUL, OP_CONCAT, OP_FLATTEN, OP_GEMM, OP_SLICE, OP_PAD,
	OP_IDENTITY, OP_QUANT, OP_BIPOLAR, OP_TRUNC, OP_CHOICE
};

/* Kinds of tensors. */
enum { T_ACT, T_INPUT, T_PARAM, T_CONST };
/* T_ACT: batched activation made by a node; T_INPUT: the graph input;
 * T_PARAM: a graph tensor with data; T_CONST: unbatched output of a
 * parameter-only node. */

/* How a quantizer's scale tensor behaves (per scale tensor). */
enum { SC_CONST, SC_STATS, SC_LEARNED, SC_PRODUCT };

typedef struct nn_view {
	int r;                   /* logical rank, without the batch */
	int64_t d[NN_MAXD];      /* logical dims */
	int64_t st[NN_MAXD];     /* element stride of each logical axis */
	int64_t bs;              /* batch stride (0 for unbatched tensors) */
	int64_t numel;           /* elements per image */
} nn_view;

typedef struct nn_tensor {
	const char *name;
	int kind;
	nn_view v;
	float *val;              /* value (batched: batch x numel) */
	float *grad;             /* gradient (NULL when not needed) */
	float *own_val, *own_grad; /* buffers this tensor owns (for freeing) */
	float *home;             /* its value buffer (a sampled Choice output may point elsewhere) */
	int producer;            /* node index or -1 */
	int param;               /* index of its nash_param, or -1 */
	int owner;               /* Choice index that owns it exclusively, or -1 */
	int branch;              /* the branch of that Choice */
	int64_t pool_off;        /* offset in the owner's pool (sample mode) */
	int rg;                  /* requires a gradient in the current backward */
	int gset;                /* gradient written in the current backward */
	int nuse;                /* consumers */
	int dead;                /* never computed (fused away) */
	int pooled;              /* lives in its Choice's pool (sample mode) */
	int shared;              /* inference: a buffer shared by liveness */
	/* quantizer scale tensors */
	int scmode;              /* SC_* when used as a scale, else -1 */
	float *log2v;            /* SC_LEARNED: the trained log2 values (param w) */
	int from[2];             /* SC_PRODUCT: the two source tensors */
	int stats_src;           /* SC_STATS: the weight tensor, -1 if none */
	int stats_bits, stats_binary;
	const nash_tensor *gt;   /* the graph tensor (params) */
} nn_tensor;

typedef struct nn_conv {
	int64_t c, h, w, m, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, group;
} nn_conv;

typedef struct nn_pool {
	int64_t c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
	int include_pad;
} nn_pool;

struct nn_dnn;   /* oneDNN state of one node (dnn.c) */

typedef struct nn_node {
	const nash_node *n;
	int op;
	int nin;
	int in[NN_MAXIN];        /* tensor ids, -1 for absent */
	int out;
	int constant;            /* every input is a parameter: runs in the prologue */
	int owner, branch;       /* Choice ownership, -1 */
	int active;              /* runs in this forward */
	int fuse_relu;           /* BN, Add: a Relu follows inside; Quant: a Relu precedes */
	int dead;                /* fused into another node */
	int epi_q;               /* BN, Add: a Quant node applied last (after the Relu), or -1 */
	int pre_q[2];            /* Add: Quant nodes applied to the inputs first, or -1 */
	int aux[4], naux;        /* scale tensors of fused quantizers (gradient flags) */
	int64_t stamp;           /* prologue version it was computed at */
	union {
		nn_conv conv;
		nn_pool pool;
		struct { double eps, mom; int64_t c; } bn;
		struct { float lo, hi; } ht;
		struct { int axis; } cat;
		struct { int64_t start[NN_MAXD], step[NN_MAXD]; } sl;
		struct { int64_t begin[NN_MAXD]; float value; } pad;
		struct { int64_t k, m; int transb; float alpha, beta; } gemm;
		struct { int bits, is_signed, narrow, rounding; double lo, hi, zp;
		         int sc_axis; int64_t sc_n; double s_div; int trunc_rounding; } q;
		struct { int idx; } choice;
	} a;
	float *save;             /* per-node saved values (BN: mean, invstd) */
	struct nn_dnn *dnn;
} nn_node;

typedef struct nn_choice {
	int node;
	int nb;                  /* branches */
	int alpha;               /* tensor id of the logits */
	int chosen;              /* next forward (sample mode) */
	int fwd;                 /* what the last forward used */
	double p[64];            /* softmax(alpha) at the last forward */
	int *bnodes[64];         /* per branch: node indices in order, -1 ended */
	int nbnodes[64];
	int64_t bsize[64];       /* floats per image of a branch's own tensors */
	float *pool, *gpool;     /* sample mode: activations/gradients of the chosen branch */
} nn_choice;

struct nash_net {
	nash_graph *g;
	nash_net_opts o;
	int threads;
	int ntens;
	nn_tensor *t;
	int nnodes;
	nn_node *nodes;
	int nparams;
	nash_param *params;
	int *param_tensor;
	int nchoices;
	nn_choice *ch;
	int input, logits;
	int64_t k;               /* logits per image */
	int train_mode;
	int fwd_n, fwd_train;    /* last forward */
	int have_loss;
	int64_t version, computed;  /* prologue versions */
	int want_input_grad;
	int bf16;                /* convolutions in bfloat16 (nash_net_bf16) */
	int bf16_fwd;            /* ... forward too: set while gates are evaluated */
	int64_t bf16_gen;        /* one per Choice's gate evaluation (shared bf16 inputs) */
	float *input_grad;       /* NCHW */
	float *arena;            /* gate evaluation (sample mode) */
	float **slots;           /* inference: shared activation buffers */
	int nslots;
	size_t bytes;
	struct nn_dnn_ctx *dnn;
	/* name index */
	int *hidx;
	int hcap;
};

/* Quant (round half to even) on one element, branch-free so that loops
 * over it vectorise (fused kernels). */
static inline float nn_qf(float v, float s, float lo, float hi, float z)
{
	float q = rintf(v / s + z);
	q = q < lo ? lo : q > hi ? hi : q;
	return (q - z) * s;
}

/* Straight-through factor of the input gradient (0 or 1); *d receives
 * d output / d scale (LSQ: q - x/s inside, lo or hi where clamped). */
static inline float nn_qb(float v, float s, float lo, float hi, float z, float *d)
{
	float u = v / s + z, q = rintf(u);
	*d = q < lo ? lo - z : q > hi ? hi - z : q - u;
	return q >= lo && q <= hi ? 1.0f : 0.0f;
}

/* fused.c */
int nn_fusable_quant(nash_net *net, int qnode);
void nn_bn_epi_fwd(nash_net *net, nn_node *nd, int64_t P, int64_t C, const float *a, const float *b);
void nn_bn_epi_bwd(nash_net *net, nn_node *nd, int64_t P, int64_t C, const float *a, const float *b,
                   const float *mean, const float *invstd, double *sdy, double *sdyx, int dx_mode,
                   const float *k1, const float *k2, const float *k3);
void nn_add_fused_fwd(nash_net *net, nn_node *nd, int n);
void nn_add_fused_bwd(nash_net *net, nn_node *nd, int n);

/* memory */
float *nn_falloc(nash_net *net, size_t nfloats);

/* views */
void nn_view_batched(nn_view *v, int r, const int64_t *d);
void nn_view_rowmajor(nn_view *v, int r, const int64_t *d);

/* forward and backward of one node; n images. Backward adds (acc) or
 * writes input gradients as the tensors' gset flags say. */
/* mode: 0 eval, 1 train, 2 train without updating running statistics */
int nn_forward_node(nash_net *net, nn_node *nd, int n, int mode, nash_err *e);
int nn_backward_node(nash_net *net, nn_node *nd, int n, int mode, nash_err *e);

/* Gate of a training-mode BN (batch statistics) ending a Choice branch:
 * *gate = sum dy * BN(x) over n images without writing BN(x); -1 (and
 * nothing done) when the node is not a plain BN (fused Relu or Quant). */
int nn_bn_gate(nash_net *net, nn_node *nd, int n, const float *dy, double *gate);

/* scales */
void nn_refresh_scales(nash_net *net);

/* oneDNN (dnn.c) */
int nn_dnn_init(nash_net *net, nash_err *e);
void nn_dnn_free(nash_net *net);
int nn_conv_fwd(nash_net *net, nn_node *nd, int n, nash_err *e);
int nn_bf16_native(void);   /* the CPU has bfloat16 dot products */
int nn_dnn_active(const nash_net *net);   /* oneDNN is in use (not NASH_NN_NO_DNNL) */
/* Gradients gx (input), gw (weights), gb (bias): 0 not wanted, 1 write,
 * 2 add to what is there. */
int nn_conv_bwd(nash_net *net, nn_node *nd, int n, int gx, int gw, int gb, nash_err *e);
void nn_sgemm(nash_net *net, char ta, char tb, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc);

#endif
