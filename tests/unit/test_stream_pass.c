/* test_stream_pass.c - the passes one by one on small graphs built for
 * them: each runs (--until) and must have rewritten something, the graph
 * before and after must compute the same logits on random images
 * (reference interpreter), and the whole streamlining must end in an
 * integer graph with the same logits. Exact ties (power-of-two scale
 * ratios, where ROUND's ties-to-even differs from x >= (k + 1/2) s),
 * negative scales, every rounding mode. The error messages of bad input.
 * The comparison itself is shown to catch a one-level change.
 *
 *   test_stream_pass emit NAME FILE   writes a fixture graph for the bats
 *                                     suite (see fixture() below)
 */
#include "test_stream_fix.h"
#include "hwexec/hwexec.h"
#include "quant/quant.h"
#include "unit.h"
#include "hwfix.c"

#include <fcntl.h>
#include <unistd.h>

/* ------------------------------------------------------- graph builders */

static nash_rng R;

static void scalar(nash_graph *g, const char *name, double v)
{
	nash_tensor *t = nash_tensor_add(g, name, NASH_F32, 1, (int64_t[]){1});
	((float *)t->data)[0] = (float)v;
}

static const char *S(const char *fmt, const char *a)
{
	static char buf[8][128];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], fmt, a);
	return buf[k];
}

static nash_node *quant(nash_graph *g, const char *name, const char *x, double scale, int bits, int sgn, int narrow,
                        const char *mode, const char *target)
{
	scalar(g, S("%s.scale", name), scale);
	scalar(g, S("%s.zp", name), 0);
	scalar(g, S("%s.bw", name), bits);
	nash_node *n = nash_node_add(g, "Quant", name, (const char *[]){x, S("%s.scale", name), S("%s.zp", name),
	                             S("%s.bw", name), NULL}, (const char *[]){name, NULL});
	nash_attr_set_int(n, "signed", sgn);
	nash_attr_set_int(n, "narrow", narrow);
	nash_attr_set_str(n, "rounding_mode", mode);
	nash_attr_set_str(n, "target", target);
	return n;
}

static nash_graph *start(const char *name, int c, int h, int w)
{
	nash_graph *g = nash_graph_new(name);
	nash_graph_add_input(g, "input", NASH_F32, 3, (int64_t[]){c, h, w});
	quant(g, "input.q", "input", 1.0 / 255.0, 8, 0, 0, "ROUND", "input");
	return g;
}

/* Conv (or Gemm) with b-bit weights, per-channel scales, random values. */
static const char *layer(nash_graph *g, const char *name, const char *x, int cin, int cout, int k, int stride,
                         const int64_t *pads, int bits, int per_tensor)
{
	int gemm = k == 0;
	int64_t ws[4] = {cout, cin, k, k};
	nash_tensor *w = nash_tensor_add(g, S("%s.weight", name), NASH_F32, gemm ? 2 : 4, ws);
	int64_t n = nash_tensor_numel(w);
	for (int64_t i = 0; i < n; i++)
		((float *)w->data)[i] = (float)nash_rng_normal(&R);
	int64_t ss[4] = {per_tensor ? 1 : cout, 1, 1, 1};
	nash_tensor *s = nash_tensor_add(g, S("%s.wscale", name), NASH_F32, per_tensor ? 1 : gemm ? 2 : 4, ss);
	nash_qscale_stats(w->data, per_tensor ? 1 : cout, per_tensor ? n : n / cout, bits, bits == 1, s->data);
	if (bits == 1) {
		nash_node_add(g, "BipolarQuant", S("%s.wq", name), (const char *[]){S("%s.weight", name),
		              S("%s.wscale", name), NULL}, (const char *[]){S("%s.wq", name), NULL});
	} else {
		scalar(g, S("%s.wzp", name), 0);
		scalar(g, S("%s.wbw", name), bits);
		nash_node *q = nash_node_add(g, "Quant", S("%s.wq", name), (const char *[]){S("%s.weight", name),
		                             S("%s.wscale", name), S("%s.wzp", name), S("%s.wbw", name), NULL},
		                             (const char *[]){S("%s.wq", name), NULL});
		nash_attr_set_int(q, "signed", 1);
		nash_attr_set_int(q, "narrow", 1);
	}
	nash_node *c = nash_node_add(g, gemm ? "Gemm" : "Conv", name, (const char *[]){x, S("%s.wq", name), NULL},
	                             (const char *[]){name, NULL});
	if (gemm)
		nash_attr_set_int(c, "transB", 1);
	else {
		int64_t p = k / 2, dp[4] = {p, p, p, p};
		nash_attr_set_ints(c, "kernel_shape", 2, (int64_t[]){k, k});
		nash_attr_set_ints(c, "strides", 2, (int64_t[]){stride, stride});
		nash_attr_set_ints(c, "pads", 4, pads ? pads : dp);
	}
	return name;
}

static const char *bnorm(nash_graph *g, const char *name, const char *x, int C)
{
	const char *suf[4] = {"g", "b", "m", "v"};
	for (int k = 0; k < 4; k++) {
		char nm[160];
		snprintf(nm, sizeof nm, "%s.%s", name, suf[k]);
		nash_tensor *t = nash_tensor_add(g, nm, NASH_F32, 1, (int64_t[]){C});
		for (int i = 0; i < C; i++) {
			double v = k == 0 ? (nash_rng_uniform(&R) < 0.3 ? -1 : 1) * (0.5 + nash_rng_uniform(&R))
			           : k == 1 ? 0.5 * nash_rng_normal(&R) : k == 2 ? 2 * nash_rng_normal(&R) : 1 + 4 * nash_rng_uniform(&R);
			((float *)t->data)[i] = (float)v;
		}
	}
	char in[4][160];
	for (int k = 0; k < 4; k++)
		snprintf(in[k], sizeof in[k], "%s.%s", name, suf[k]);
	nash_node_add(g, "BatchNormalization", name, (const char *[]){x, in[0], in[1], in[2], in[3], NULL},
	              (const char *[]){name, NULL});
	return name;
}

static nash_node *op1(nash_graph *g, const char *op, const char *name, const char *x)
{
	return nash_node_add(g, op, name, (const char *[]){x, NULL}, (const char *[]){name, NULL});
}

/* The head: a global average pool when the map has more than one pixel
 * (a Flatten of C x H x W has no streaming form), Flatten, Gemm. */
static nash_graph *finish(nash_graph *g, const char *head, int K, int bits, int per_tensor)
{
	nash_err e;
	nash_graph_infer(g, &e);
	const nash_tensor *h = nash_graph_shape(g, head);
	if (h && h->ndim == 3 && h->shape[1] * h->shape[2] > 1) {
		op1(g, "GlobalAveragePool", "head.gap", head);
		head = "head.gap";
		K = (int)h->shape[0];
	}
	op1(g, "Flatten", "flat", head);
	layer(g, "fc", "flat", K, 10, 0, 1, NULL, bits, per_tensor);
	nash_graph_add_output(g, "fc");
	if (nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	return g;
}

/* ------------------------------------------------------------ the checks */

static int64_t meta_count(const nash_graph *g, const char *pass)
{
	char path[128];
	snprintf(path, sizeof path, "stream.passes.%s", pass);
	return nash_val_as_int(nash_val_path(g->meta, path), 0);
}

/* Run the passes up to `pass`: it must rewrite and keep the logits; then
 * the rest: an integer graph with the same logits. */
static void pass_case(const char *label, nash_graph *g, const char *pass, int check)
{
	nash_err e = {{0}};
	nash_graph *orig = nash_graph_copy(g);
	nash_stream_opts o = {0};
	o.until = pass;
	o.check = check;
	o.seed = 5;
	int rc = nash_streamline(g, &o, &e);
	CHECK(rc == 0 && meta_count(g, pass) > 0, "%s: pass %s rewrote %lld times (%s)", label, pass,
	      (long long)meta_count(g, pass), e.msg);
	if (rc == 0) {
		CHECK(nash_stream_compare(orig, g, 6, 17, &e) == 0, "%s: same logits after %s (%s)", label, pass, e.msg);
		o.until = NULL;
		rc = nash_streamline(g, &o, &e);
		CHECK(rc == 0, "%s: streamlined to the end (%s)", label, e.msg);
		if (rc == 0)
			CHECK(nash_stream_compare(orig, g, 6, 19, &e) == 0, "%s: integer graph, same logits (%s)", label, e.msg);
	}
	nash_graph_free(orig);
	nash_graph_free(g);
}

static void expect_error(const char *label, nash_graph *g, const char *want1, const char *want2)
{
	nash_err e = {{0}};
	int rc = nash_streamline(g, NULL, &e);
	CHECK(rc < 0 && strstr(e.msg, want1) && (!want2 || strstr(e.msg, want2)), "%s: %s", label,
	      rc < 0 ? e.msg : "no error");
	CHECK(!strchr(e.msg, '\n'), "%s: one line", label);
	nash_graph_free(g);
}

/* ------------------------------------------------------------- graphs */

/* Exact ties: the activation scale is 2 (or 4) times the input scale, so
 * p / 2 hits k + 1/2 for every odd pixel: ROUND goes to the even level,
 * where thresholds x >= (k + 1/2) s would go up. A negated branch makes
 * ties at negative halves (and needs a sign convolution). */
static nash_graph *ties(int ratio, const char *mode)
{
	nash_graph *g = start("ties", 1, 8, 8);
	double s_in = (double)(1.0f / 255.0f);
	quant(g, "pos", "input.q", ratio * s_in, 8, 0, 0, mode, "act");
	scalar(g, "minus1", -1);
	nash_node_add(g, "Mul", "neg", (const char *[]){"input.q", "minus1", NULL}, (const char *[]){"neg", NULL});
	quant(g, "negq", "neg", ratio * s_in, 8, 1, 1, mode, "act");
	nash_node *cat = nash_node_add(g, "Concat", "cat", (const char *[]){"pos", "negq", NULL}, (const char *[]){"cat", NULL});
	nash_attr_set_int(cat, "axis", 1);
	return finish(g, "cat", 128, 8, 0);
}

/* A near-tie: ten 28 x 28 convolutions with zero weights (their output is
 * 0 on every image) and a batch normalization whose channel 1 gives
 * B = beta - mean A = 1/2 + 1.8e-8: the quantizer (scale 1) takes level 1,
 * the float32 engine computes b = 1/2 and rounds the tie to level 0. The
 * logits order as the levels, so the exact arithmetic predicts class 1 and the
 * float engine class 0 on every image, as real networks do at the rare
 * values that lie within float32 rounding of a step. */
static nash_graph *near_tie(void)
{
	nash_graph *g = start("near-tie", 1, 28, 28);
	layer(g, "c", "input.q", 1, 10, 28, 1, (int64_t[]){0, 0, 0, 0}, 2, 0);
	float *w = nash_tensor_f32(g, "c.weight"), *ws = nash_tensor_f32(g, "c.wscale");
	for (int i = 0; i < 10 * 28 * 28; i++)
		w[i] = 0;
	for (int i = 0; i < 10; i++)
		ws[i] = 1;
	bnorm(g, "bn", "c", 10);
	float *gm = nash_tensor_f32(g, "bn.g"), *bt = nash_tensor_f32(g, "bn.b"), *mn = nash_tensor_f32(g, "bn.m"),
	      *vr = nash_tensor_f32(g, "bn.v");
	for (int i = 0; i < 10; i++)
		gm[i] = 1, bt[i] = 0, mn[i] = 0, vr[i] = 1;
	bt[1] = -0x1.bc299cp-1f;
	mn[1] = -0x1.6dee72p+0f;
	vr[1] = 0x1.17b40ep+0f;
	quant(g, "a", "bn", 1.0, 2, 0, 0, "ROUND", "act");
	/* the head: 8-bit identity weights, so the logits order as the levels */
	nash_graph *h = finish(g, "a", 10, 8, 1);
	float *fw = nash_tensor_f32(h, "fc.weight");
	for (int i = 0; i < 100; i++)
		fw[i] = i % 11 == 0;
	nash_qscale_stats(fw, 1, 100, 8, 0, nash_tensor_f32(h, "fc.wscale"));
	return h;
}

/* A network that ends in an activation quantizer: conv (8 x 8 kernel on an
 * 8 x 8 image), BN, 2-bit act, Flatten of the 10 x 1 x 1 levels as the
 * logits (scale 1: no Mul follows). The Flatten of the Thresholding's
 * 1 x 1 x 10 stream goes, and the Thresholding makes the graph output. */
static nash_graph *act_out(void)
{
	nash_graph *g = start("act-out", 1, 8, 8);
	layer(g, "c", "input.q", 1, 10, 8, 1, (int64_t[]){0, 0, 0, 0}, 2, 0);
	bnorm(g, "bn", "c", 10);
	quant(g, "a", "bn", 1.0, 2, 0, 0, "ROUND", "act");
	op1(g, "Flatten", "flat", "a");
	nash_graph_add_output(g, "flat");
	nash_err e;
	if (nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	return g;
}

/* A classifier whose bias is an integer in the accumulator's unit only up
 * to the float32 rounding of its product scale: class 0 scores x s_in s_w
 * (weight 1 on the one pixel), class 1 scores 64 S with S = fl(s_in s_w)
 * > s_in s_w. At x = 64 the integer logits tie, the logits do not: class 1
 * is the larger by 64 (S - s_in s_w). */
static nash_graph *bias_tie(float *sw_out)
{
	float s_in = 1.0f / 255.0f, sw = 0.01f;
	while (!((double)(s_in * sw) > (double)s_in * (double)sw))
		sw = nextafterf(sw, 1);
	*sw_out = sw;
	nash_graph *g = start("bias-tie", 1, 1, 1);
	op1(g, "Flatten", "flat", "input.q");
	nash_tensor *w = nash_tensor_add(g, "fc.weight", NASH_F32, 2, (int64_t[]){2, 1});
	((float *)w->data)[0] = sw;
	((float *)w->data)[1] = 0;
	nash_node *q = quant(g, "fc.wq", "fc.weight", sw, 8, 1, 1, "ROUND", "weight");
	(void)q;
	nash_tensor *b = nash_tensor_add(g, "fc.b", NASH_F32, 1, (int64_t[]){2});
	((float *)b->data)[0] = 0;
	((float *)b->data)[1] = 64 * (s_in * sw);
	nash_node *fc = nash_node_add(g, "Gemm", "fc", (const char *[]){"flat", "fc.wq", "fc.b", NULL},
	                              (const char *[]){"fc", NULL});
	nash_attr_set_int(fc, "transB", 1);
	nash_graph_add_output(g, "fc");
	nash_err e;
	if (nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	return g;
}

/* The class of pixel x: the reference interpreter on the fake-quant graph
 * and the integer executor on the streamlined one (its argmax, lowest
 * index on ties, as nash-eval takes it). */
static void bias_tie_case(int topk)
{
	float sw;
	nash_graph *g = bias_tie(&sw), *h = nash_graph_copy(g);
	nash_err e = {{0}};
	nash_stream_opts o = {0};
	o.topk = topk;
	int rc = nash_streamline(h, &o, &e);
	CHECK(rc == 0, "bias tie%s: streamlined (%s)", topk ? " --topk 1" : "", e.msg);
	nash_ref *r = rc == 0 ? nash_ref_new(g, &e) : NULL;
	nash_hwnet *hw = r ? nash_hwnet_new(h, 1, 1, &e) : NULL;
	CHECK(hw != NULL, "bias tie: executors (%s)", e.msg);
	for (int x = 62; hw && x <= 66; x++) {
		uint8_t px = (uint8_t)x;
		double in[1], lg[2];
		const double *ip[1] = {in};
		int64_t tk;
		nash_ref_pixels(g, 0, &px, 1, 1, 1, in, &e);
		nash_ref_run(r, ip, &e);
		nash_ref_logits(r, lg, 2, &tk);
		int want = lg[1] > lg[0];
		nash_hwnet_run(hw, &px, 1, &e);
		int k;
		nash_hwout kind;
		const int64_t *out = nash_hwnet_output(hw, &k, &kind);
		int got = kind == NASH_HWOUT_TOPK ? (int)out[0] : out[1] > out[0];
		CHECK(got == want && want == (x <= 64), "bias tie%s, pixel %d: integer graph class %d, logits' class %d",
		      topk ? " --topk 1" : "", x, got, want);
	}
	nash_hwnet_free(hw);
	nash_ref_free(r);
	nash_graph_free(g);
	nash_graph_free(h);
}

/* conv - BN - act, max-pool with a negative BN after it, residual add of
 * two branches through one shared adder quantizer, the quantized average
 * pool: the streamlining passes in one small net. */
static nash_graph *block(int neg_after_pool, int shared_adder, int pool_quant)
{
	nash_graph *g = start("block", 1, 8, 8);
	layer(g, "c1", "input.q", 1, 4, 3, 1, NULL, 8, 0);
	bnorm(g, "bn1", "c1", 4);
	op1(g, "Relu", "r1", "bn1");
	quant(g, "a1", "r1", 0.2, 2, 0, 0, "ROUND", "act");
	layer(g, "c2", "a1", 4, 4, 3, 1, NULL, 2, 0);
	bnorm(g, "bn2", "c2", 4);
	nash_node *mp = op1(g, "MaxPool", "mp", "a1");
	nash_attr_set_ints(mp, "kernel_shape", 2, (int64_t[]){3, 3});
	nash_attr_set_ints(mp, "strides", 2, (int64_t[]){1, 1});
	nash_attr_set_ints(mp, "pads", 4, (int64_t[]){1, 1, 1, 1});
	bnorm(g, "bnp", "mp", 4);
	if (!neg_after_pool) {
		/* positive BN scales */
		float *gm = nash_tensor_f32(g, "bnp.g");
		for (int i = 0; i < 4; i++)
			gm[i] = fabsf(gm[i]);
	}
	quant(g, "q0", "bn2", 0.05, 8, 1, 1, "ROUND", "adder");
	quant(g, "q1", "bnp", shared_adder ? 0.05 : 0.07, 8, 1, 1, "ROUND", "adder");
	nash_node_add(g, "Add", "add", (const char *[]){"q0", "q1", NULL}, (const char *[]){"add", NULL});
	op1(g, "Relu", "r2", "add");
	quant(g, "a2", "r2", 0.1, 2, 0, 0, "ROUND", "act");
	op1(g, "GlobalAveragePool", "gap", "a2");
	const char *head = "gap";
	if (pool_quant) {
		scalar(g, "kk", 64);
		nash_node_add(g, "Mul", "win", (const char *[]){"gap", "kk", NULL}, (const char *[]){"win", NULL});
		scalar(g, "tz", 0);
		scalar(g, "tib", 8);
		scalar(g, "tob", 4);
		nash_node *t = nash_node_add(g, "Trunc", "trunc", (const char *[]){"win", "a2.scale", "tz", "tib", "tob", NULL},
		                             (const char *[]){"trunc", NULL});
		nash_attr_set_str(t, "rounding_mode", "FLOOR");
		head = "trunc";
	}
	return finish(g, head, 4, 8, 0);
}

/* The v2 max-pool edge: stride-2 pool, channels padded with zeros. */
static nash_graph *padded(void)
{
	nash_graph *g = start("pad", 1, 8, 8);
	layer(g, "c1", "input.q", 1, 3, 3, 1, NULL, 8, 0);
	bnorm(g, "bn1", "c1", 3);
	op1(g, "Relu", "r1", "bn1");
	quant(g, "a1", "r1", 0.3, 2, 0, 0, "ROUND", "act");
	nash_node *mp = op1(g, "MaxPool", "mp", "a1");
	nash_attr_set_ints(mp, "kernel_shape", 2, (int64_t[]){3, 3});
	nash_attr_set_ints(mp, "strides", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(mp, "pads", 4, (int64_t[]){1, 1, 1, 1});
	nash_node *p = op1(g, "Pad", "pad", "mp");
	nash_attr_set_ints(p, "pads", 8, (int64_t[]){0, 0, 0, 0, 0, 3, 0, 0});
	bnorm(g, "bnp", "pad", 6);
	quant(g, "q", "bnp", 0.05, 8, 1, 1, "ROUND", "adder");
	return finish(g, "q", 6 * 16, 8, 0);
}

/* The NASH stride-2 skip, factorised: two 1 x 1 / 2 convolutions, the
 * second on the input shifted by one pixel, concatenated. */
static nash_graph *skip(int odd)
{
	int H = odd ? 7 : 8;
	nash_graph *g = start("skip", 2, H, H);
	quant(g, "a0", "input.q", 0.02, 4, 0, 0, "ROUND", "act");
	layer(g, "ca", "a0", 2, 3, 1, 2, (int64_t[]){0, 0, 0, 0}, 1, 0);
	nash_node *s = op1(g, "Slice", "shift", "a0");
	nash_attr_set_ints(s, "starts", 2, (int64_t[]){1, 1});
	nash_attr_set_ints(s, "ends", 2, (int64_t[]){INT32_MAX, INT32_MAX});
	nash_attr_set_ints(s, "axes", 2, (int64_t[]){2, 3});
	layer(g, "cb", "shift", 2, 3, 1, 2, (int64_t[]){0, 0, 1, 1}, 1, 0);
	nash_node *cat = nash_node_add(g, "Concat", "cat", (const char *[]){"ca", "cb", NULL}, (const char *[]){"cat", NULL});
	nash_attr_set_int(cat, "axis", 1);
	bnorm(g, "bn", "cat", 6);
	quant(g, "q", "bn", 0.05, 8, 1, 1, "ROUND", "adder");
	int o = (H - 1) / 2 + 1;
	return finish(g, "q", 6 * o * o, 8, 0);
}

/* Every rounding mode, signed and unsigned, HardTanh, BipolarQuant. */
static nash_graph *rounding(const char *mode, int sgn, int hard, int bipolar)
{
	nash_graph *g = start("rounding", 1, 6, 6);
	layer(g, "c1", "input.q", 1, 5, 3, 1, NULL, 8, 0);
	bnorm(g, "bn1", "c1", 5);
	const char *x = "bn1";
	if (hard) {
		nash_node *h = op1(g, "HardTanh", "ht", "bn1");
		nash_attr_set_float(h, "min_val", -0.7);
		nash_attr_set_float(h, "max_val", 0.9);
		x = "ht";
	}
	if (bipolar) {
		scalar(g, "b.scale", 0.5);
		nash_node_add(g, "BipolarQuant", "b", (const char *[]){x, "b.scale", NULL}, (const char *[]){"b", NULL});
		layer(g, "c2", "b", 5, 4, 3, 1, NULL, 1, 0);
	} else {
		quant(g, "b", x, 0.13, 3, sgn, sgn, mode, "act");
		layer(g, "c2", "b", 5, 4, 3, 1, NULL, 2, 0);
	}
	bnorm(g, "bn2", "c2", 4);
	quant(g, "q2", "bn2", 0.1, 4, 1, 0, mode, "act");
	return finish(g, "q2", 4 * 36, 8, 0);
}

/* Gemm chain with alpha/beta and quantized biases; an unquantized global
 * average pool before it (QuantAvgPool with shift 0). */
static nash_graph *gemms(void)
{
	nash_graph *g = start("gemm", 2, 4, 4);
	quant(g, "a0", "input.q", 0.01, 4, 0, 0, "ROUND", "act");
	op1(g, "GlobalAveragePool", "gap", "a0");
	op1(g, "Flatten", "flat0", "gap");
	layer(g, "f1", "flat0", 2, 6, 0, 1, NULL, 4, 0);
	nash_node *f1 = nash_node_find(g, "f1");
	nash_attr_set_float(f1, "alpha", 0.5);
	nash_attr_set_float(f1, "beta", 2);
	nash_tensor *b = nash_tensor_add(g, "f1.bias", NASH_F32, 1, (int64_t[]){6});
	for (int i = 0; i < 6; i++)
		((float *)b->data)[i] = (float)nash_rng_normal(&R);
	nash_tensor *bs = nash_tensor_add(g, "f1.bscale", NASH_F32, 1, (int64_t[]){6});
	for (int i = 0; i < 6; i++)
		((float *)bs->data)[i] = 0.001f * (float)(i + 1);
	scalar(g, "f1.bzp", 0);
	scalar(g, "f1.bbw", 32);
	nash_node *bq = nash_node_add(g, "Quant", "f1.bq", (const char *[]){"f1.bias", "f1.bscale", "f1.bzp", "f1.bbw", NULL},
	                              (const char *[]){"f1.bq", NULL});
	nash_attr_set_str(bq, "target", "bias");
	nash_node_set_in(f1, 2, "f1.bq");
	/* the bias quantizer must come before the layer */
	nash_err e;
	nash_graph_toposort(g, &e);
	bnorm(g, "bn", "f1", 6);
	quant(g, "q", "bn", 0.2, 2, 1, 1, "ROUND", "act");
	layer(g, "fc", "q", 6, 10, 0, 1, NULL, 8, 0);
	nash_graph_add_output(g, "fc");
	if (nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	return g;
}

/* ------------------------------------------------------------ fixtures */

static nash_graph *fixture(const char *name)
{
	sfix_opts o = sfix_default();
	if (!strcmp(name, "tfc-w2a2"))
		return sfix_model("tfc", 0, NULL, 0, NULL, &o);
	if (!strcmp(name, "tfc-w1a1")) {
		o.wbits = o.abits = 1, o.bipolar_act = 1, o.last_per_tensor = 1;
		return sfix_model("tfc", 0, NULL, 0, NULL, &o);
	}
	if (!strcmp(name, "resnet18-w4"))
		return sfix_model("resnet18", 4, "1x28x28", 0, NULL, &o);
	if (!strcmp(name, "nash-v1-w4"))
		return sfix_model("resnet18", 4, "1x28x28", 1, "c3@0,sk@1,-,mp@2/c3@0,c1@1,-,sk@0/c3@0,-,-,-/c5@0,-,-,-", &o);
	if (!strcmp(name, "nash-v4-w4"))
		return sfix_model("resnet18", 4, "1x28x28", 4, "c1@0,c3@1,c5@2,-/c5@0,c1@0,c3@2,c1@3/c3@0,-,-,-/c1@0,c5@1,-,-", &o);
	if (!strcmp(name, "missing-act")) {
		/* the stem's activation quantizer removed */
		nash_graph *g = sfix_model("resnet18", 4, "1x28x28", 0, NULL, &o);
		nash_graph_replace_uses(g, "stem.relu.q", "stem.relu");
		nash_graph_prune(g);
		return g;
	}
	if (!strcmp(name, "mixed-adder")) {
		nash_graph *g = block(0, 0, 1);
		return g;
	}
	if (!strcmp(name, "wide-acc")) {
		o.first_bits = 24;
		return sfix_model("tfc", 0, NULL, 0, NULL, &o);
	}
	if (!strcmp(name, "softmax")) {
		nash_graph *g = sfix_model("tfc", 0, NULL, 0, NULL, &o);
		nash_node_add(g, "Softmax", "softmax", (const char *[]){"logits", NULL}, (const char *[]){"probs", NULL});
		free(g->outputs[0].name);
		g->outputs[0].name = nash_strdup("probs");
		g->outputs[0].ndim = 0;
		nash_err e;
		nash_graph_validate(g, &e);
		return g;
	}
	if (!strcmp(name, "ties"))
		return ties(2, "ROUND");
	if (!strcmp(name, "near-tie"))
		return near_tie();
	if (!strcmp(name, "narrow-acc")) {
		nash_graph *g = hwfix_cybsec();
		nash_attr_set_str(nash_node_find(g, "fc1"), "accDataType", "INT4");
		return g;
	}
	return NULL;
}

static int emit(const char *name, const char *path)
{
	nash_rng_seed(&R, 42);
	nash_graph *g = fixture(name);
	if (!g) {
		fprintf(stderr, "test_stream_pass: unknown fixture %s\n", name);
		return 2;
	}
	nash_err e;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = fd < 0 || nash_write_graph(fd, g, &e) < 0 || close(fd) < 0;
	nash_graph_free(g);
	return rc;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "emit"))
		return emit(argv[2], argv[3]);
	nash_rng_seed(&R, 1);
	nash_err e = {{0}};

	/* the passes, each on a graph that needs it */
	pass_case("ties at +-(k + 1/2), scale ratio 2", ties(2, "ROUND"), "quant-to-threshold", 6);
	pass_case("ties, scale ratio 4", ties(4, "ROUND"), "round-thresholds", 6);
	bias_tie_case(0);
	bias_tie_case(1);
	pass_case("ties under FLOOR", ties(2, "FLOOR"), "round-thresholds", 0);
	pass_case("ties under CEIL", ties(4, "CEIL"), "round-thresholds", 0);
	pass_case("the input quantizer", ties(2, "ROUND"), "input-pixels", 4);
	pass_case("a quantizer whose output is one constant level", ties(1000, "ROUND"), "round-thresholds", 2);
	pass_case("batch norm, negative scales", block(1, 1, 1), "bn-to-affine", 4);
	pass_case("integer weights", block(1, 1, 1), "weights-to-int", 4);
	pass_case("scales moved forward", block(1, 1, 1), "move-scales", 4);
	pass_case("negative scales flipped into weights", block(1, 1, 1), "flip-negative", 4);
	pass_case("absorbed into thresholds (sign conv after a max-pool)", block(1, 1, 1), "absorb", 4);
	pass_case("quantized average pool", block(0, 1, 1), "avgpool", 4);
	pass_case("average pool without quantizer", block(0, 1, 0), "avgpool", 4);
	pass_case("the residual add", block(0, 1, 1), "add-streams", 4);
	pass_case("the NASH skip, even size", skip(0), "shift-to-conv", 4);
	pass_case("the NASH skip, odd size", skip(1), "split-thresholds", 4);
	pass_case("concat lowered", skip(1), "concat", 4);
	pass_case("channel padding", padded(), "pad-to-conv", 4);
	pass_case("ROUND unsigned", rounding("ROUND", 0, 0, 0), "round-thresholds", 4);
	pass_case("ROUND signed narrow with HardTanh", rounding("ROUND", 1, 1, 0), "quant-to-threshold", 4);
	pass_case("FLOOR signed", rounding("FLOOR", 1, 0, 0), "round-thresholds", 4);
	pass_case("CEIL unsigned with HardTanh", rounding("CEIL", 0, 1, 0), "round-thresholds", 4);
	pass_case("BipolarQuant after HardTanh", rounding("ROUND", 0, 1, 1), "quant-to-threshold", 4);
	pass_case("Gemm alpha, beta, quantized bias", gemms(), "weights-to-int", 4);
	pass_case("conv to MVAU", block(0, 1, 1), "conv-to-mvau", 4);
	pass_case("max-pool lowered", block(0, 1, 1), "maxpool", 4);
	pass_case("thresholds lowered", rounding("ROUND", 0, 0, 0), "thresholding", 4);
	pass_case("layout", rounding("ROUND", 0, 0, 0), "layout", 4);
	pass_case("MVAU takes its thresholds", rounding("ROUND", 0, 0, 0), "mvau-thresholds", 4);
	pass_case("classifier", gemms(), "classifier", 4);
	pass_case("fan-out", block(0, 1, 1), "duplicate-streams", 4);

	/* one pass alone: batch norms to affine maps, and nothing else */
	{
		nash_graph *g = block(1, 1, 1), *orig = nash_graph_copy(g);
		int r = nash_stream_pass_run(g, nash_stream_pass_find("bn-to-affine"), NULL, &e);
		int bns = 0, muls = 0;
		for (int i = 0; i < g->nnodes; i++) {
			bns += !strcmp(g->nodes[i]->op, "BatchNormalization");
			muls += !strcmp(g->nodes[i]->op, "Mul");
		}
		CHECK(r == 3 && bns == 0 && muls == 4 && nash_stream_compare(orig, g, 4, 1, &e) == 0,
		      "nash_stream_pass_run runs one pass: %d rewrites, %d BN, %d Mul (3 + the pool's) (%s)", r, bns, muls, e.msg);
		CHECK(nash_stream_pass_run(g, 99, NULL, &e) < 0, "no pass 99");
		nash_graph_free(g);
		nash_graph_free(orig);
	}

	/* the comparison sees a one-level change */
	{
		nash_graph *g = rounding("ROUND", 0, 0, 0), *orig = nash_graph_copy(g);
		int rc = nash_streamline(g, NULL, &e);
		nash_node *th = NULL;
		for (int i = 0; i < g->nnodes && !th; i++)
			if (!strcmp(g->nodes[i]->op, "MVAU") && g->nodes[i]->nin > 2)
				th = g->nodes[i];
		CHECK(rc == 0 && th && nash_stream_compare(orig, g, 4, 3, &e) == 0, "baseline for the mutation test");
		if (th)
			nash_attr_set_int(th, "ActVal", nash_attr_int(th, "ActVal", 0) + 1);
		CHECK(th && nash_stream_compare(orig, g, 4, 3, &e) < 0 && strstr(e.msg, "is not a UINT3 value"),
		      "activations one level off are caught: %s", e.msg);
		if (th)
			nash_attr_set_int(th, "ActVal", nash_attr_int(th, "ActVal", 0) - 1);
		/* the classifier's first column of weights one step off */
		nash_node *fc = nash_node_find(g, "fc");
		nash_tensor *w = fc ? nash_tensor_find(g, fc->in[1]) : NULL;
		for (int64_t k = 0; w && k < w->shape[0]; k++)
			((int8_t *)w->data)[k * w->shape[1]] = (int8_t)(((int8_t *)w->data)[k * w->shape[1]] / 2);
		CHECK(w && w->dtype == NASH_I8 && nash_stream_compare(orig, g, 4, 3, &e) < 0 && strstr(e.msg, "logit 0 was"),
		      "weights changed are caught: %s", e.msg);
		nash_graph_free(g);
		nash_graph_free(orig);
	}

	/* idempotent on hardware graphs, and the pass list */
	{
		nash_graph *g = hwfix_tfc();
		int nn = g->nnodes;
		CHECK(nash_streamline(g, NULL, &e) == 0 && g->nnodes == nn, "a hardware graph passes through (%s)", e.msg);
		nash_graph_free(g);
		CHECK(nash_stream_pass_count() == 24 && nash_stream_pass_find("absorb") >= 0 &&
		      nash_stream_pass_find("nope") < 0, "the pass list");
		nash_stream_opts o = {0};
		o.until = "nope";
		g = ties(2, "ROUND");
		CHECK(nash_streamline(g, &o, &e) < 0 && strstr(e.msg, "unknown pass 'nope'"), "unknown pass: %s", e.msg);
		nash_graph_free(g);
	}

	/* bad input: one line naming the node and what is missing */
	{
		nash_model_opts mo;
		memset(&mo, 0, sizeof mo);
		mo.arch = "tfc";
		expect_error("an unquantized graph", nash_model_build(&mo, &e), "node fc0 (Gemm): weights are not quantized",
		             NULL);
		expect_error("a missing activation quantizer", fixture("missing-act"),
		             "node layer1.0.conv1 (Conv): input is not quantized", "stem.relu");
		expect_error("adder operands with different scales", fixture("mixed-adder"), "node add (Add): operand scales differ",
		             "shared");
		expect_error("an unsupported op", fixture("softmax"), "node softmax (Softmax): unsupported op", NULL);
		expect_error("an accumulator of more than 32 bits", fixture("wide-acc"), "node fc0 (MVAU): the accumulator needs",
		             "32 bits");
		expect_error("thresholds beyond the accumulator type", fixture("narrow-acc"), "node fc1 (MVAU)",
		             "overflow the accumulator type INT4");
		nash_graph *g = block(0, 1, 1);
		nash_tensor *ts = nash_tensor_find(g, "a2.scale");
		nash_tensor *t2 = nash_tensor_add(g, "other.scale", NASH_F32, 1, (int64_t[]){1});
		((float *)t2->data)[0] = ((float *)ts->data)[0] * 1.5f;
		nash_node_set_in(nash_node_find(g, "trunc"), 1, "other.scale");
		expect_error("a truncation with another scale", g, "node trunc (Trunc)", "scale of the pool's input");
		sfix_opts o = sfix_default();
		o.last_per_tensor = 0;
		g = sfix_model("tfc", 0, NULL, 0, NULL, &o);
		nash_stream_opts so = {0};
		so.topk = 1;
		CHECK(nash_streamline(g, &so, &e) < 0 && strstr(e.msg, "LabelSelect needs one positive scale"),
		      "top-k on per-class scales: %s", e.msg);
		nash_graph_free(g);
		/* nash-quant's integer export made stale by changing a weight */
		g = nash_model_build(&mo, &e);
		nash_quant_opts qo;
		memset(&qo, 0, sizeof qo);
		qo.preset = "w2a2";
		nash_quant_preset("w2a2", "tfc", &qo.bits, &e);
		nash_quant_resolve(&qo.bits, "tfc");
		nash_quant_result qr;
		memset(&qr, 0, sizeof qr);
		CHECK(nash_quant_apply(g, &qo, &qr, &e) == 0, "nash-quant's tfc (%s)", e.msg);
		nash_quant_result_free(&qr);
		float *w0 = nash_tensor_f32(g, "fc1.weight");
		w0[0] = w0[0] > 0 ? -1.0f : 1.0f;
		expect_error("a stale integer export", g, "node fc1.wq (Quant): its integer export", "nash-quant --export");
		mo.arch = "resnet18";
		mo.width = 4;
		mo.in_c = 1, mo.in_h = mo.in_w = 28;
		mo.version = 1;
		mo.search = 1;
		expect_error("a supernet", nash_model_build(&mo, &e), "(Choice): a supernet", "derive");
	}
	/* last: its random weights would move the other graphs' */
	pass_case("an activation quantizer makes the logits", act_out(), "layout", 6);
	UNIT_DONE();
}
