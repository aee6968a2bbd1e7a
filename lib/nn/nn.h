/*
 * nn.h - the executors: the float training engine (forward and backward of
 * every float-level op of nash-ops(7), the quantizers with straight-through
 * gradients, Choice nodes on demand), the softmax cross-entropy loss, and
 * the quantizer arithmetic that every stage shares.
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) with a
 * nash_err naming the graph, node and reason. A net is used by one thread
 * of the caller at a time; it parallelises inside (threads option).
 */
#ifndef NASH_NN_H
#define NASH_NN_H

#include "core/nash.h"

/* ------------------------------------------------ quantizer arithmetic */
/* The formulas of nash-ops(7) "Quantization operators", in one place. */

/* Integer range of a b-bit quantizer (b >= 1). */
void nash_qrange(int bits, int is_signed, int narrow, double *lo, double *hi);
/* Round to nearest, ties to even (QONNX "ROUND"). */
double nash_round_even(double x);
/* q = clamp(round(x/scale + zeropt), lo, hi) as an integer-valued double,
 * computed in float32 (x/scale divided, not multiplied by a reciprocal)
 * exactly as the engine's fake quantization does. */
double nash_quant_int(double x, double scale, double zeropt, double lo, double hi);
/* Stats scales of a weight tensor laid out as rows (output channels) of
 * per_row elements: max|W_r| / hi for integer quantizers (hi = 2^(b-1)-1),
 * mean|W_r| for binary ones (binary != 0). A row of zeros gets scale 1.
 * rows = 1 gives a per-tensor scale. */
void nash_qscale_stats(const float *w, int64_t rows, int64_t per_row,
                       int bits, int binary, float *scale);

/* Parameters of one Quant / BipolarQuant node, read from the graph. */
typedef struct nash_qparams {
	int bipolar;          /* BipolarQuant */
	int bits, is_signed, narrow;
	double lo, hi;        /* integer range (bipolar: -1, 1) */
	const char *rounding; /* "ROUND", "FLOOR", "CEIL" */
	const char *mode;     /* scale_mode: stats, learned, const, product */
	const char *target;   /* weight, bias, act, adder, input ("" if absent) */
	const nash_tensor *scale;  /* the scale tensor (float32, with data) */
	double zeropt;
} nash_qparams;
/* Read and check a quantizer node (bits 1..32, scale finite and > 0,
 * shapes broadcastable); -1 naming the node otherwise. */
int nash_qparams_get(const nash_graph *g, const nash_node *n,
                     nash_qparams *q, nash_err *e);

/* ---------------------------------------------------- the float engine */

typedef struct nash_net nash_net;

typedef enum { NASH_RELAX_SAMPLE = 0, NASH_RELAX_SOFTMAX = 1 } nash_relax;

typedef struct nash_net_opts {
	int batch;          /* the largest n forward will be given */
	int train;          /* 1: keep what backward needs and allocate gradients;
	                       0: inference, activations share buffers by liveness */
	int threads;        /* 0: every core */
	nash_relax relax;   /* how Choice nodes run */
} nash_net_opts;

/* Compile a validated graph. The net copies the float parameters it
 * trains; nash_net_sync writes them back. Fails naming the node for an
 * op the engine cannot run, an attribute it does not support, a non-float
 * parameter or a graph that does not end in one logits tensor (K or
 * K x 1 x 1). Activations are kept channels last inside (the API is
 * NCHW); convolutions run on oneDNN, elementwise neighbours (Relu,
 * quantizers) of BatchNormalization and Add nodes run fused into them.
 * With threads = 1 results are bit-identical run to run. OpenMP threads
 * spin at barriers by default: on a machine busier than its cores,
 * OMP_WAIT_POLICY=passive in the environment is much faster.
 * Quantizers train as nash-ops(7) says: straight-through rounding, no
 * input gradient where clamped, LSQ gradients for learned scales (log2
 * domain; a Trunc whose scale tensor is a learned one adds its share);
 * stats and product scales are recomputed from their sources and pass no
 * gradient. Debugging aids read from the environment at compile time:
 * NASH_NN_NO_FUSE=1 runs every node on its own, NASH_NN_NO_DNNL=1 runs
 * convolutions as direct loops instead of oneDNN. */
nash_net *nash_net_new(nash_graph *g, const nash_net_opts *o, nash_err *e);
void nash_net_free(nash_net *net);

/* Train mode: batch normalisation uses batch statistics and updates the
 * running ones (running = momentum * running + (1 - momentum) * batch,
 * with the unbiased batch variance as PyTorch does), stats-mode weight
 * scales are recomputed on every forward. Eval mode (the default): running
 * statistics; nodes computed from parameters only (weight and bias
 * quantizers) are cached until nash_net_train_mode, nash_net_param or
 * nash_net_params_changed is called. */
void nash_net_train_mode(nash_net *net, int on);
/* Tell an eval-mode net that parameter values were changed through
 * pointers obtained earlier (drops its cached quantized weights). */
void nash_net_params_changed(nash_net *net);

/* Forward n <= batch images, float32 N x C x H x W (each the graph input's
 * shape, values pixel/255). A non-finite input value is refused; non-finite
 * logits are an error naming the first node whose output is not finite. */
int nash_net_forward(nash_net *net, const float *x, int n, nash_err *e);
/* Logits of the last forward, n x k row-major. */
const float *nash_net_logits(const nash_net *net, int *k);

/* Softmax cross-entropy of the last forward against labels (mean over n),
 * label smoothing eps in [0, 1); sets the gradient backward starts from.
 * top1/top5 (may be NULL) receive the counts of correct predictions (ties
 * rank the lower class first). A label outside 0..k-1 or a bad eps gives
 * NaN and no gradient. */
double nash_net_loss(nash_net *net, const int *labels, double smoothing,
                     int *top1, int *top5);

/* Backward from the gradient nash_net_loss set. what is a mask:
 * NASH_GRAD_WEIGHTS: every trained parameter except Choice alphas;
 * NASH_GRAD_ALPHA: the alphas (sample relaxation: every candidate of every
 * Choice runs to get its gate gradient, REFERENCE.md section 1).
 * Gradients accumulate until nash_net_zero_grad. */
enum { NASH_GRAD_WEIGHTS = 1, NASH_GRAD_ALPHA = 2 };
int nash_net_backward(nash_net *net, int what, nash_err *e);
void nash_net_zero_grad(nash_net *net);
/* Also compute the gradient of the loss with respect to the graph input
 * (off by default); after backward, nash_net_input_grad gives it for the
 * n images of the last forward, N x C x H x W (NULL when off). */
void nash_net_want_input_grad(nash_net *net, int on);
const float *nash_net_input_grad(const nash_net *net);

/* bfloat16 mode, for steps whose result tolerates rounding (a search's
 * architecture step): backward-data convolutions, and the forward
 * convolutions of the Choice candidates run only for their gate
 * gradients, round their activations and weights to bfloat16 and
 * accumulate and write f32. The forward pass, weight gradients, batch norm
 * and everything else stay f32 (a bf16 forward moved the alpha gradient of
 * the ResNet18 supernet by 10 %, these two by 0.3 %). Returns whether it
 * is on: never on a net without oneDNN (NASH_NN_NO_DNNL) or one built for
 * inference. nash_bf16_native tells whether this CPU has bfloat16 dot
 * products (without them oneDNN emulates bf16, slower than f32). */
int nash_net_bf16(nash_net *net, int on);
int nash_bf16_native(void);

/* Trained parameters and state buffers. */
typedef enum {
	NASH_P_WEIGHT,      /* Conv / Gemm weights */
	NASH_P_BIAS,        /* Conv / Gemm biases */
	NASH_P_BN,          /* batch-norm scale and bias */
	NASH_P_QSCALE,      /* learned quantizer scale, stored as log2 */
	NASH_P_ALPHA,       /* Choice logits */
	NASH_P_STATE        /* not trained: BN running mean and variance */
} nash_pkind;
typedef struct nash_param {
	const char *name;   /* the graph tensor */
	nash_pkind kind;
	int64_t n;
	float *w;           /* value (QSCALE: log2 of the scale) */
	float *g;           /* gradient (NULL for STATE or an eval-only net) */
} nash_param;
int nash_net_nparams(const nash_net *net);
nash_param *nash_net_param(nash_net *net, int i);

/* Choice nodes, in graph order. The nodes that compute a branch input
 * and nothing else belong to that branch (found by walking back from the
 * Choice); a Choice inside another Choice's branch is refused.
 * Sample relaxation: only the chosen branch's nodes run forward and the
 * output is that branch; backward with NASH_GRAD_ALPHA runs every other
 * candidate forward (batch-norm in batch statistics, running statistics
 * untouched) for its gate gradient g_j = sum(grad_out * branch_j), and
 * dL/dalpha_i = sum_j g_j p_j (delta_ij - p_i); the input gradient flows
 * through the chosen branch only. Softmax relaxation: output
 * sum_j p_j branch_j, exact gradients. A none ("") branch is zero. */
int nash_net_nchoices(const nash_net *net);
const nash_node *nash_net_choice(const nash_net *net, int i);
/* Sample relaxation: draw every Choice's candidate from softmax(alpha) for
 * the next forward (in graph order, one uniform draw each); or set choice
 * i to candidate k. Until then a Choice uses its largest logit (the first
 * on ties). nash_net_chosen reads the current candidate. */
void nash_net_sample(nash_net *net, nash_rng *rng);
void nash_net_choose(nash_net *net, int i, int k);
int nash_net_chosen(const nash_net *net, int i);

/* Write every parameter, running statistic and quantizer scale back into
 * the graph's tensors. */
int nash_net_sync(nash_net *net, nash_err *e);

/* Peak bytes the net allocated for activations, gradients and scratch. */
size_t nash_net_bytes(const nash_net *net);

#endif
