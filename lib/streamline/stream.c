/* stream.c - the pass list and the pass manager of nash-stream: passes in
 * a fixed order, each to its fixpoint, rounds until nothing changes; the
 * --check comparison after every pass; meta.stream. */
#include "streamline/sl_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *name, *doc;
	sl_pass_fn fn;
} pass;

/* Passes before this index streamline float-level graphs; they reach
 * their common fixpoint before the lowering passes start. */
#define FIRST_LOWERING 14

static const pass passes[] = {
	{"tidy", "drop Identity and Dropout; Sub and Div by constants become Add and Mul; constants go second; "
	         "reject ops nash-stream cannot lower and Choice nodes (derive the network first)", sl_pass_tidy},
	{"input-pixels", "the graph input quantizer (8 bits, scale 1/255) makes the input UINT8 pixels: the "
	                 "quantizer becomes a Mul by its scale (or thresholds on the pixel for another scale)",
	 sl_pass_input},
	{"bn-to-affine", "BatchNormalization becomes Mul by A = gamma / sqrt(var + eps) and Add of "
	                 "B = beta - mean A, per channel", sl_pass_bn},
	{"weights-to-int", "a Conv or Gemm whose weights pass through Quant or BipolarQuant takes the integer "
	                   "weights, followed by a Mul by the weight scale per output channel and an Add of the "
	                   "bias (a quantized bias in real units)", sl_pass_weights},
	{"shift-to-conv", "the NASH stride-2 skip's Slice (the input shifted by one pixel) folds into the 1 x 1 "
	                  "convolutions that read it: a 2 x 2 kernel whose only non-zero tap is the bottom-right "
	                  "one (needs no top/left padding)", sl_pass_slice},
	{"pad-to-conv", "zero padding of channels (the v2 max-pool edge) becomes a 1 x 1 convolution with 0/1 "
	                "weights", sl_pass_pad},
	{"quant-to-threshold", "every activation quantizer (Quant, BipolarQuant; a Relu or HardTanh before it "
	                       "folds in) becomes a MultiThreshold giving the integer level, then a Mul by the "
	                       "scale; thresholds at (k + 1/2) s with ties to even (strict where the lower level "
	                       "is even)", sl_pass_quant},
	{"split-scales", "a Mul or Add by a constant that feeds several nodes is copied, one per consumer",
	 sl_pass_fanout},
	{"collapse", "Mul of Mul and Add of Add merge; Add before Mul is reordered (x a + b); unit scales and "
	             "zero offsets go", sl_pass_collapse},
	{"flip-negative", "a negative scale after a Conv or Gemm with integer weights negates that output "
	                  "channel's weights (the scale becomes positive)", sl_pass_flip},
	{"move-scales", "scales and offsets move forward past Conv and Gemm (one scale; an offset only without "
	                "padding), MaxPool (MoveMulPastMaxPool: scales >= 0), average pools, Relu, Flatten, "
	                "Slice, Transpose, Pad, Concat (per input) and the residual Add (both operands with the "
	                "same scale: the cascade adder)", sl_pass_move},
	{"absorb", "a Mul (a > 0) or Add before a MultiThreshold is absorbed: T' = T / a, T' = T - b per channel; "
	           "a negative scale with no weights to negate gets a 1 x 1 sign convolution", sl_pass_absorb},
	{"split-thresholds", "a MultiThreshold after a channel Concat splits into one per input",
	 sl_pass_split},
	{"round-thresholds", "thresholds on an integer input become integers (x >= T is x >= ceil T, x > T is "
	                     "x >= floor T + 1), clipped to the input range [lo, hi + 1]; columns every channel "
	                     "always or never passes go; an identity disappears", sl_pass_round},
	{"avgpool", "GlobalAveragePool/AveragePool on an integer input with the quantized-average-pool pattern "
	            "(Mul by K*K, Trunc) becomes QuantAvgPool (window sum, shift by in_bits - out_bits); without "
	            "it, QuantAvgPool with shift 0 and a Mul by 1/(K*K)", sl_pass_avgpool},
	{"conv-to-mvau", "Conv with an integer input becomes ConvolutionInputGenerator + MVAU (none for 1 x 1 "
	                 "stride 1), Gemm becomes an MVAU; weights as MW x MH integers, (ky, kx, c) order; the "
	                 "layout changes to H x W x C; a BIPOLAR input of a padded convolution becomes INT2 "
	                 "(hardware pads BIPOLAR streams with -1)", sl_pass_conv},
	{"maxpool", "MaxPool on an integer input becomes StreamingMaxPool", sl_pass_maxpool},
	{"concat", "Concat of integer channels becomes StreamingConcat", sl_pass_concat},
	{"add-streams", "Add of two integer tensors becomes AddStreams", sl_pass_add},
	{"thresholding", "MultiThreshold with integer thresholds on an integer input becomes Thresholding",
	 sl_pass_thresh},
	{"layout", "inverse Transposes cancel; the pixel input becomes H x W x C (1 x 1 x K when the first "
	           "layer flattens it); a Flatten that keeps the element order goes", sl_pass_layout},
	{"mvau-thresholds", "an MVAU without activation followed by a Thresholding takes its thresholds",
	 sl_pass_mvau_thresh},
	{"classifier", "the scale and bias after the last layer leave the graph: integer logits, with scale and "
	               "bias recorded on the output (logits = scale out + bias); with one scale, an integer bias "
	               "joins the logits through a constant input; --topk K adds LabelSelect instead (needs one "
	               "positive scale for all classes)", sl_pass_classifier},
	{"duplicate-streams", "a stream read by several layers goes through DuplicateStreams (at most 4 outputs, "
	                      "chained beyond)", sl_pass_dup},
};

#define NPASS ((int)(sizeof passes / sizeof passes[0]))

int nash_stream_pass_count(void) { return NPASS; }
const char *nash_stream_pass_name(int i) { return i >= 0 && i < NPASS ? passes[i].name : NULL; }
const char *nash_stream_pass_doc(int i) { return i >= 0 && i < NPASS ? passes[i].doc : NULL; }

int nash_stream_pass_find(const char *name)
{
	for (int i = 0; i < NPASS; i++)
		if (strcmp(passes[i].name, name) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------- checking */

typedef struct {
	int n, c, h, w;
	uint8_t *img;       /* n x c x h x w */
	double *logits;     /* n x k of the reference graph */
	int64_t k;
} samples;

static int sample_shape(const nash_graph *g, int *c, int *h, int *w)
{
	const nash_io *io = &g->inputs[0];
	if (io->ndim == 3)
		*c = (int)io->shape[0], *h = (int)io->shape[1], *w = (int)io->shape[2];
	else
		*c = 1, *h = 1, *w = (int)nash_shape_numel(io->ndim, io->shape);
	return 0;
}

/* Run graph g on the samples: logits (or top-k indices) into out; returns
 * the count per image, -1 for class indices (count in *topk). */
static int64_t run_all(const nash_graph *g, const samples *s, double *out, int64_t max, int64_t *topk, nash_err *e)
{
	nash_ref *r = nash_ref_new(g, e);
	if (!r)
		return -2;
	int64_t numel = (int64_t)s->c * s->h * s->w, k = 0;
	double *x = nash_alloc((size_t)numel * sizeof *x);
	for (int i = 0; i < s->n; i++) {
		const double *in[1] = {x};
		if (nash_ref_pixels(g, 0, s->img + i * numel, s->c, s->h, s->w, x, e) < 0 || nash_ref_run(r, in, e) < 0) {
			k = -2;
			break;
		}
		k = nash_ref_logits(r, out + i * max, max, topk);
	}
	free(x);
	nash_ref_free(r);
	return k;
}

static int samples_init(samples *s, const nash_graph *g, int n, uint64_t seed, nash_err *e)
{
	memset(s, 0, sizeof *s);
	sample_shape(g, &s->c, &s->h, &s->w);
	s->n = n;
	int64_t numel = (int64_t)s->c * s->h * s->w;
	s->img = nash_alloc((size_t)(n * numel) + 1);
	nash_rng rng;
	nash_rng_seed(&rng, seed);
	for (int64_t i = 0; i < n * numel; i++)
		s->img[i] = (uint8_t)nash_rng_below(&rng, 256);
	s->logits = nash_alloc((size_t)n * 65536 * sizeof *s->logits);
	int64_t topk;
	s->k = run_all(g, s, s->logits, 65536, &topk, e);
	if (s->k == -2)
		return -1;
	if (s->k < 0)
		return nash_fail(e, "graph %s: the graph to check already outputs class indices", g->name);
	return 0;
}

static void samples_free(samples *s)
{
	free(s->img);
	free(s->logits);
}

/* The top-k indices of v (ties: lower index first). */
static void topk_of(const double *v, int64_t n, int64_t k, int64_t *idx)
{
	char *used = nash_alloc((size_t)n + 1);
	for (int64_t j = 0; j < k; j++) {
		int64_t best = -1;
		for (int64_t i = 0; i < n; i++)
			if (!used[i] && (best < 0 || v[i] > v[best]))
				best = i;
		used[best] = 1;
		idx[j] = best;
	}
	free(used);
}

/* Compare g against the reference logits; msg names what differs. */
static int compare(const nash_graph *g, const samples *s, char *msg, size_t nmsg, nash_err *e)
{
	double *out = nash_alloc((size_t)s->n * 65536 * sizeof *out);
	int64_t topk = 0, k = run_all(g, s, out, 65536, &topk, e);
	int rc = 0;
	if (k == -2)
		rc = -1;
	for (int i = 0; i < s->n && rc == 0; i++) {
		const double *ref = s->logits + (int64_t)i * 65536, *got = out + (int64_t)i * 65536;
		if (k == -1) {
			int64_t want[64];
			topk_of(ref, s->k, topk < 64 ? topk : 64, want);
			for (int64_t j = 0; j < topk && j < 64 && rc == 0; j++)
				if ((int64_t)got[j] != want[j]) {
					snprintf(msg, nmsg, "image %d: class %lld of the top %lld is %lld, the reference says %lld", i,
					         (long long)j + 1, (long long)topk, (long long)got[j], (long long)want[j]);
					rc = 1;
				}
			continue;
		}
		if (k != s->k) {
			snprintf(msg, nmsg, "%lld outputs instead of %lld", (long long)k, (long long)s->k);
			rc = 1;
			break;
		}
		double mx = 1;
		for (int64_t j = 0; j < k; j++)
			mx = fmax(mx, fabs(ref[j]));
		for (int64_t j = 0; j < k && rc == 0; j++)
			if (!(fabs(got[j] - ref[j]) <= 1e-9 * mx)) {
				snprintf(msg, nmsg, "image %d: logit %lld was %.12g, is now %.12g", i, (long long)j, ref[j], got[j]);
				rc = 1;
			}
	}
	free(out);
	return rc;
}

int nash_stream_compare(const nash_graph *a, const nash_graph *b, int n, uint64_t seed, nash_err *e)
{
	samples s;
	if (samples_init(&s, a, n, seed, e) < 0) {
		samples_free(&s);
		return -1;
	}
	char msg[512];
	int rc = compare(b, &s, msg, sizeof msg, e);
	samples_free(&s);
	if (rc > 0)
		return nash_fail(e, "graphs %s and %s differ: %s", a->name, b->name, msg);
	return rc;
}

/* ---------------------------------------------------------------- manager */

static void all_transient(nash_graph *g)
{
	for (int i = 0; i < g->ntensors; i++)
		if (!g->tensors[i]->data)
			g->tensors[i]->transient = 1;
}

static int run_pass(sl_ctx *c, int p)
{
	int total = 0;
	for (;;) {
		int r = passes[p].fn(c);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		total += r;
		if (total > 1000000)
			return nash_fail(c->e, "graph %s: pass %s does not reach a fixpoint (internal error)", c->g->name,
			                 passes[p].name);
	}
	if (total) {
		sl_prune(c);
		if (sl_refresh(c) < 0)
			return -1;
	}
	return total;
}

/* Test hook for --check itself (NASH_STREAM_FAULT=PASS, nash-stream(1)
 * ENVIRONMENT): after that pass, move one activation level or scale, so
 * that the outputs change and --check must name the pass. */
static void fault(sl_ctx *c, const char *pass)
{
	const char *want = getenv("NASH_STREAM_FAULT");
	if (!want || strcmp(want, pass) != 0)
		return;
	nash_graph *g = c->g;
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if (!strcmp(n->op, "MultiThreshold")) {
			nash_attr_set_float(n, "out_bias", nash_attr_float(n, "out_bias", 0) + nash_attr_float(n, "out_scale", 1));
			break;
		}
		if (!strcmp(n->op, "Thresholding") || (!strcmp(n->op, "MVAU") && n->nin > 2)) {
			nash_attr_set_int(n, "ActVal", nash_attr_int(n, "ActVal", 0) - 1);
			break;
		}
		if (!strcmp(n->op, "Mul") && n->nin == 2 && nash_tensor_find(g, n->in[1]) &&
		    nash_tensor_find(g, n->in[1])->data) {
			nash_tensor *t = nash_tensor_find(g, n->in[1]);
			double *v = sl_tensor_f64(t);
			for (int64_t k = 0; k < nash_tensor_numel(t); k++)
				v[k] *= 2;
			char *nm = sl_fresh(c, t->name);
			sl_param_f64(g, nm, t->ndim, t->shape, v);
			nash_node_set_in(n, 1, nm);
			free(nm);
			free(v);
			break;
		}
	}
	sl_touch(c);
}

int nash_stream_pass_run(nash_graph *g, int p, const nash_stream_opts *o, nash_err *e)
{
	if (p < 0 || p >= NPASS)
		return nash_fail(e, "no pass %d", p);
	nash_stream_opts def = {0};
	sl_ctx c;
	all_transient(g);
	sl_ctx_init(&c, g, o ? o : &def, e);
	int r = sl_refresh(&c) < 0 ? -1 : run_pass(&c, p);
	sl_ctx_free(&c);
	return r;
}

int nash_streamline(nash_graph *g, const nash_stream_opts *o, nash_err *e)
{
	nash_stream_opts def = {0};
	if (!o)
		o = &def;
	double t0 = nash_now();
	int last = NPASS - 1;
	if (o->until) {
		last = nash_stream_pass_find(o->until);
		if (last < 0)
			return nash_fail(e, "unknown pass '%s' (nash-stream --list names them)", o->until);
	}
	samples s = {0};
	if (o->check > 0 && samples_init(&s, g, o->check, o->seed, e) < 0) {
		samples_free(&s);
		nash_err_prefix(e, "--check: ");
		return -1;
	}
	all_transient(g);
	sl_ctx c;
	sl_ctx_init(&c, g, o, e);
	int counts[NPASS] = {0}, rc = 0, round;
	if (sl_refresh(&c) < 0)
		rc = -1;
	int limit = last < FIRST_LOWERING ? last : FIRST_LOWERING - 1;
	for (round = 0; rc == 0 && round < 64; round++) {
		int total = 0;
		for (int p = 0; p <= limit && rc == 0; p++) {
			int r = run_pass(&c, p);
			if (r < 0) {
				rc = -1;
				break;
			}
			if (!r)
				continue;
			if (!counts[p])
				fault(&c, passes[p].name);
			counts[p] += r;
			total += r;
			if (o->progress)
				o->progress(o->progress_ctx, g->name, passes[p].name, r);
			if (o->check > 0) {
				char msg[512];
				int d = compare(g, &s, msg, sizeof msg, e);
				if (d < 0) {
					nash_err_prefix(e, "--check after pass %s: ", passes[p].name);
					rc = -1;
				} else if (d > 0)
					rc = nash_fail(e, "graph %s: pass %s changed the outputs: %s", g->name, passes[p].name, msg);
			}
		}
		if (rc == 0 && total == 0) {
			if (limit == last)
				break;
			limit = last; /* streamlined: now lower too */
		}
	}
	if (rc == 0 && round >= 64)
		rc = nash_fail(e, "graph %s: the passes do not reach a fixpoint (internal error)", g->name);
	if (rc == 0 && !o->until)
		rc = sl_finish(&c);
	if (rc == 0 && o->check > 0 && !o->until) {
		char msg[512];
		int d = compare(g, &s, msg, sizeof msg, e);
		if (d > 0)
			rc = nash_fail(e, "graph %s: the streamlined graph changed the outputs: %s", g->name, msg);
		else if (d < 0)
			rc = -1;
	}
	sl_ctx_free(&c);
	samples_free(&s);
	if (rc < 0)
		return -1;
	nash_val *m = nash_meta(g, "stream");
	nash_val_set(m, "tool", nash_val_str("nash-stream " NASH_VERSION));
	nash_val *pl = nash_val_map();
	for (int p = 0; p <= last; p++)
		if (counts[p])
			nash_val_set(pl, passes[p].name, nash_val_int(counts[p]));
	nash_val_set(m, "passes", pl);
	nash_val_set(m, "rounds", nash_val_int(round + 1));
	if (o->until)
		nash_val_set(m, "until", nash_val_str(o->until));
	nash_val_set(m, "output", nash_val_str(o->until ? "mixed" : o->topk ? "topk" : "logits"));
	if (o->topk)
		nash_val_set(m, "topk", nash_val_int(o->topk));
	if (o->check)
		nash_val_set(m, "checked_images", nash_val_int(o->check));
	nash_val_set(m, "seconds", nash_val_f64(nash_now() - t0));
	return 0;
}
