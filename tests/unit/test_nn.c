/* test_nn.c - the float engine: every op's backward against double
 * precision central differences of the loss, batch-norm statistics, the
 * loss, determinism, errors, a small ResNet18 learning a fixed batch. */
#include "nnfix.h"
#include "models/models.h"
#include "unit.h"

typedef struct {
	int n;          /* images */
	int train;      /* batch-norm batch statistics */
	int relax;
	int what;       /* NASH_GRAD_* */
	double h, tol;
	int threads;
} fdopt;

static const int *fd_labels;

static double fd_loss(nash_net *net, const float *x, int n)
{
	nash_err e = {{0}};
	if (nash_net_forward(net, x, n, &e) < 0) {
		printf("# forward: %s\n", e.msg);
		return NAN;
	}
	return nash_net_loss(net, fd_labels, 0.1, NULL, NULL);
}

/* Relative error of a gradient against central differences over up to 24
 * entries; one CHECK per parameter and one for the input. */
static void fd_vec(const char *what, const char *pname, nash_net *net, const float *x, int n, float *w,
                   const float *grad, int64_t cnt, double h, double tol)
{
	double num = 0, den = 0, worst = 0;
	int64_t step = cnt <= 24 ? 1 : cnt / 24;
	int64_t worst_i = -1;
	double worst_g = 0, worst_fd = 0;
	for (int64_t i = 0; i < cnt; i += step) {
		float keep = w[i];
		w[i] = keep + (float)h;
		nash_net_params_changed(net);
		double lp = fd_loss(net, x, n);
		w[i] = keep - (float)h;
		nash_net_params_changed(net);
		double lm = fd_loss(net, x, n);
		w[i] = keep;
		nash_net_params_changed(net);
		double fd = (lp - lm) / (2 * h), d = grad[i] - fd;
		num += d * d;
		den += fd * fd > (double)grad[i] * grad[i] ? fd * fd : (double)grad[i] * grad[i];
		if (fabs(d) > worst) {
			worst = fabs(d);
			worst_i = i;
			worst_g = grad[i];
			worst_fd = fd;
		}
	}
	double err = den > 1e-18 ? sqrt(num / den) : sqrt(num);
	CHECK(err <= tol, "%s: d loss / d %s matches central differences (rel. error %.2g)", what, pname, err);
	if (!(err <= tol))
		printf("#   worst entry %lld: backward %.6g, differences %.6g\n", (long long)worst_i, worst_g, worst_fd);
}

static void fd_check(const char *what, nash_graph *g, fdopt o)
{
	nash_err e = {{0}};
	if (!o.n)
		o.n = 3;
	if (!o.h)
		o.h = 3e-3;
	if (!o.tol)
		o.tol = 2e-2;
	if (!o.what)
		o.what = NASH_GRAD_WEIGHTS;
	if (!o.threads)
		o.threads = 1;
	nash_net_opts no = {.batch = o.n, .train = 1, .threads = o.threads, .relax = o.relax};
	nash_net *net = nash_net_new(g, &no, &e);
	CHECK(net != NULL, "%s: compiles (%s)", what, net ? "ok" : e.msg);
	if (!net)
		return;
	nash_net_train_mode(net, o.train);
	nash_net_want_input_grad(net, 1);
	int64_t per = nash_shape_numel(g->inputs[0].ndim, g->inputs[0].shape), m = per * o.n;
	float *x = malloc((size_t)m * sizeof *x);
	int labels[64];
	nash_rng r;
	nash_rng_seed(&r, nash_hash(what));
	fx_fill(x, m, &r, 1.0);
	int k;
	nash_net_forward(net, x, o.n, &e);
	nash_net_logits(net, &k);
	for (int i = 0; i < o.n; i++)
		labels[i] = (int)nash_rng_below(&r, (uint64_t)k);
	fd_labels = labels;
	double l0 = fd_loss(net, x, o.n);
	CHECK(isfinite(l0), "%s: finite loss %g", what, l0);
	nash_net_zero_grad(net);
	CHECK(nash_net_backward(net, o.what, &e) == 0, "%s: backward (%s)", what, e.msg);
	int np = nash_net_nparams(net);
	float **grads = calloc((size_t)np, sizeof *grads);
	for (int i = 0; i < np; i++) {
		nash_param *p = nash_net_param(net, i);
		if (!p->g)
			continue;
		grads[i] = malloc((size_t)p->n * sizeof(float));
		memcpy(grads[i], p->g, (size_t)p->n * sizeof(float));
	}
	float *gx = malloc((size_t)m * sizeof *gx);
	memcpy(gx, nash_net_input_grad(net), (size_t)m * sizeof *gx);
	for (int i = 0; i < np; i++) {
		nash_param *p = nash_net_param(net, i);
		if (!grads[i] || (p->kind == NASH_P_ALPHA && !(o.what & NASH_GRAD_ALPHA)) ||
		    (p->kind != NASH_P_ALPHA && !(o.what & NASH_GRAD_WEIGHTS)))
			continue;
		fd_vec(what, p->name, net, x, o.n, p->w, grads[i], p->n, o.h, o.tol);
	}
	fd_vec(what, "input", net, x, o.n, x, gx, m, o.h, o.tol);
	for (int i = 0; i < np; i++)
		free(grads[i]);
	free(grads);
	free(gx);
	free(x);
	nash_net_free(net);
}

static void free_g(void)
{
	nash_graph_free(fx_g);
	fx_g = NULL;
}

/* ------------------------------------------------------------ op tests */
static void test_conv(void)
{
	nash_node *n;
	fx_new("conv3x3", 3, 7, 7);
	n = fx_conv("c", "x", 3, 4, 3, 3, 1, 1, 0.4);
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	fd_check("Conv 3x3 pad 1 with bias", fx_head("c", 4 * 49, 5), (fdopt){0});
	free_g();

	fx_new("conv_stride", 4, 9, 8);
	n = fx_conv("c", "x", 4, 6, 3, 3, 1, 0, 0.4);
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 0, 2, 1});
	/* out: h (9+3-3)/2+1 = 5, w (8+1-3)/2+1 = 4 */
	fd_check("Conv stride 2, asymmetric pads", fx_head("c", 6 * 5 * 4, 5), (fdopt){0});
	free_g();

	fx_new("conv_group", 4, 8, 8);
	n = fx_conv("c", "x", 4, 6, 3, 2, 2, 1, 0.4);
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){1, 2});
	nash_attr_set_ints(n, "dilations", 2, (int64_t[]){2, 1});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){2, 0, 1, 1});
	/* h: (8+3-5)/1+1 = 7, w: (8+1-2)/2+1 = 4 */
	fd_check("Conv groups 2, dilation 2, stride (1,2), 3x2 kernel", fx_head("c", 6 * 7 * 4, 5), (fdopt){0});
	/* the direct loops, oneDNN's fallback */
	setenv("NASH_NN_NO_DNNL", "1", 1);
	fd_check("Conv groups 2, dilation 2, stride (1,2), direct loops", fx_g, (fdopt){0});
	unsetenv("NASH_NN_NO_DNNL");
	free_g();

	fx_new("conv_depthwise", 4, 6, 6);
	n = fx_conv("c", "x", 4, 8, 3, 3, 4, 0, 0.4);
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	fd_check("Conv depthwise (group = channels, 2 per group)", fx_head("c", 8 * 36, 4), (fdopt){0});
	free_g();

	/* the NASH factorised stride-2 skip: Slice + 1x1/2 conv with pads [0,0,1,1] */
	fx_new("skip", 4, 8, 8);
	n = fx_conv("a", "x", 4, 3, 1, 1, 1, 0, 0.5);
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
	n = fx_node("Slice", "shift", "x", NULL);
	nash_attr_set_ints(n, "starts", 2, (int64_t[]){1, 1});
	nash_attr_set_ints(n, "ends", 2, (int64_t[]){INT32_MAX, INT32_MAX});
	nash_attr_set_ints(n, "axes", 2, (int64_t[]){2, 3});
	n = fx_conv("b", "shift", 4, 3, 1, 1, 1, 0, 0.5);
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){0, 0, 1, 1});
	n = fx_node("Concat", "cat", "a", "b", NULL);
	nash_attr_set_int(n, "axis", 1);
	fx_bn("bn", "cat", 6);
	fd_check("factorised skip: Slice, 1x1/2 conv with pads [0,0,1,1], Concat, BN", fx_head("bn", 6 * 16, 5),
	         (fdopt){.train = 1});
	free_g();
}

/* Pooling forward against a direct loop over NCHW: max and average (with
 * and without counting the padding), strides 1 and 2, dilation,
 * asymmetric pads, channel counts that are not a multiple of the vector. */
static void pool_ref(const float *x, float *y, int n, int C, int H, int W, int kh, int kw, int sh, int sw,
                     int dh, int dw, const int pad[4], int max, int inc, int OH, int OW)
{
	for (int b = 0; b < n; b++)
		for (int c = 0; c < C; c++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					double acc = max ? -INFINITY : 0;
					int cnt = 0;
					for (int i = 0; i < kh; i++)
						for (int j = 0; j < kw; j++) {
							int ih = oh * sh - pad[0] + i * dh, iw = ow * sw - pad[1] + j * dw;
							if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
								cnt += inc && ih >= -pad[0] && ih < H + pad[2] && iw >= -pad[1] && iw < W + pad[3];
								continue;
							}
							float v = x[((b * C + c) * H + ih) * W + iw];
							acc = max ? fmax(acc, v) : acc + v;
							cnt++;
						}
					y[((b * C + c) * OH + oh) * OW + ow] = (float)(max ? acc : cnt ? acc / cnt : 0);
				}
}

static void test_pool_forward(void)
{
	struct { const char *op; int C, H, W, kh, kw, sh, sw, dh, dw, pad[4], inc; } cs[] = {
		{"MaxPool", 3, 7, 7, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 0},
		{"MaxPool", 20, 6, 5, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 0},
		{"MaxPool", 20, 9, 8, 3, 3, 2, 2, 1, 1, {1, 1, 1, 1}, 0},
		{"MaxPool", 17, 8, 7, 2, 2, 1, 1, 2, 2, {0, 1, 1, 0}, 0},
		{"AveragePool", 20, 6, 5, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 0},
		{"AveragePool", 20, 6, 5, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 1},
		{"AveragePool", 5, 7, 6, 3, 2, 2, 2, 1, 1, {1, 0, 1, 1}, 0},
		{"AveragePool", 5, 7, 6, 3, 2, 2, 2, 1, 1, {1, 0, 1, 1}, 1},
		{"AveragePool", 33, 5, 5, 5, 5, 1, 1, 1, 1, {2, 2, 2, 2}, 1},
	};
	for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) {
		nash_err e = {{0}};
		int C = cs[k].C, H = cs[k].H, W = cs[k].W, n = 3;
		int OH = (H + cs[k].pad[0] + cs[k].pad[2] - cs[k].dh * (cs[k].kh - 1) - 1) / cs[k].sh + 1;
		int OW = (W + cs[k].pad[1] + cs[k].pad[3] - cs[k].dw * (cs[k].kw - 1) - 1) / cs[k].sw + 1;
		fx_new("poolfwd", C, H, W);
		nash_node *nd = fx_node(cs[k].op, "p", "x", NULL);
		nash_attr_set_ints(nd, "kernel_shape", 2, (int64_t[]){cs[k].kh, cs[k].kw});
		nash_attr_set_ints(nd, "strides", 2, (int64_t[]){cs[k].sh, cs[k].sw});
		nash_attr_set_ints(nd, "pads", 4, (int64_t[]){cs[k].pad[0], cs[k].pad[1], cs[k].pad[2], cs[k].pad[3]});
		if (cs[k].dh > 1 || cs[k].dw > 1)
			nash_attr_set_ints(nd, "dilations", 2, (int64_t[]){cs[k].dh, cs[k].dw});
		if (cs[k].op[0] == 'A')
			nash_attr_set_int(nd, "count_include_pad", cs[k].inc);
		fx_node("Flatten", "f", "p", NULL);
		nash_graph *g = fx_finish("f");
		int ok = nash_graph_validate(g, &e) == 0;
		nash_net_opts o = {n, 0, 1, NASH_RELAX_SAMPLE};
		nash_net *net = ok ? nash_net_new(g, &o, &e) : NULL;
		float *x = malloc(sizeof *x * (size_t)(n * C * H * W)), *want = malloc(sizeof *want * (size_t)(n * C * OH * OW));
		fx_fill(x, (int64_t)n * C * H * W, &fx_rng, 1.0);
		pool_ref(x, want, n, C, H, W, cs[k].kh, cs[k].kw, cs[k].sh, cs[k].sw, cs[k].dh, cs[k].dw, cs[k].pad,
		         cs[k].op[0] == 'M', cs[k].inc, OH, OW);
		int kk = 0;
		double worst = 1e30;
		if (net && nash_net_forward(net, x, n, &e) == 0) {
			const float *got = nash_net_logits(net, &kk);
			worst = 0;
			for (int i = 0; i < n * C * OH * OW && kk == C * OH * OW; i++)
				worst = fmax(worst, fabs(got[i] - want[i]));
		}
		CHECK(kk == C * OH * OW && worst < 1e-6, "%s %dx%d/%d dilation %d pads %d,%d,%d,%d%s on %d channels: forward = a direct loop (max diff %.2g%s%s)",
		      cs[k].op, cs[k].kh, cs[k].kw, cs[k].sh, cs[k].dh, cs[k].pad[0], cs[k].pad[1], cs[k].pad[2], cs[k].pad[3],
		      cs[k].op[0] == 'A' ? (cs[k].inc ? ", padding counted" : ", padding not counted") : "", C, worst,
		      e.msg[0] ? ": " : "", e.msg);
		free(x);
		free(want);
		nash_net_free(net);
		free_g();
	}
}

static void test_bn_act_pool(void)
{
	nash_node *n;
	fx_new("bnrelu", 3, 5, 5);
	fx_conv("c", "x", 3, 4, 3, 3, 1, 0, 0.5);
	fx_bn("bn", "c", 4);
	fx_node("Relu", "r", "bn", NULL);
	fd_check("BatchNormalization (batch statistics) + Relu", fx_head("r", 4 * 9, 5), (fdopt){.train = 1, .n = 4});
	fd_check("BatchNormalization (running statistics) + Relu", fx_g, (fdopt){.train = 0, .n = 4});
	free_g();

	/* Add + Relu (fused in the engine), a residual */
	fx_new("addrelu", 3, 5, 5);
	n = fx_conv("c", "x", 3, 3, 3, 3, 1, 1, 0.5);
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	fx_node("Add", "a", "c", "x", NULL);
	fx_node("Relu", "r", "a", NULL);
	fx_node("Add", "a2", "r", "r", NULL);
	fx_node("Relu", "r2", "a2", NULL);
	fd_check("Add + Relu (a residual), x + x + Relu", fx_head("r2", 75, 5), (fdopt){.h = 3e-4});
	free_g();

	fx_new("bn1d", 12, 0, 0);
	fx_bn("bn", "x", 12);
	n = fx_node("HardTanh", "ht", "bn", NULL);
	nash_attr_set_float(n, "min_val", -0.7);
	nash_attr_set_float(n, "max_val", 0.9);
	fd_check("BatchNormalization on vectors + HardTanh", fx_head("ht", 12, 5), (fdopt){.train = 1, .n = 5});
	free_g();

	fx_new("maxpool", 3, 7, 7);
	n = fx_node("MaxPool", "p", "x", NULL);
	nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	fd_check("MaxPool 3x3/2 pad 1", fx_head("p", 3 * 16, 5), (fdopt){.h = 1e-3});
	free_g();

	for (int inc = 0; inc < 2; inc++) {
		char nm[64];
		snprintf(nm, sizeof nm, "avgpool%d", inc);
		fx_new(nm, 3, 7, 6);
		n = fx_node("AveragePool", "p", "x", NULL);
		nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){3, 2});
		nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
		nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 0, 1, 1});
		nash_attr_set_int(n, "count_include_pad", inc);
		snprintf(nm, sizeof nm, "AveragePool 3x2/2 asymmetric pads, count_include_pad %d", inc);
		/* h: (7+2-3)/2+1 = 4, w: (6+1-2)/2+1 = 3 */
		fd_check(nm, fx_head("p", 3 * 12, 5), (fdopt){0});
		free_g();
	}

	fx_new("gap", 5, 4, 3);
	fx_node("GlobalAveragePool", "p", "x", NULL);
	fd_check("GlobalAveragePool", fx_head("p", 5, 4), (fdopt){0});
	free_g();
}

static void test_elementwise(void)
{
	nash_node *n;
	/* Add and Mul with per-channel constants and broadcasting activations */
	fx_new("bcast", 4, 5, 5);
	n = fx_conv("c", "x", 4, 4, 3, 3, 1, 0, 0.5);
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	fx_node("GlobalAveragePool", "gp", "x", NULL);           /* 4x1x1 activation */
	fx_node("Mul", "m", "c", "gp", NULL);                      /* per-channel, per-image */
	float k[4] = {0.5f, -1.5f, 2.0f, 0.25f};
	fx_const("k", 3, (int64_t[]){4, 1, 1}, k);
	fx_node("Mul", "mk", "m", "k", NULL);
	fx_node("Add", "a", "mk", "x", NULL);                      /* same shape */
	fx_const("b", 3, (int64_t[]){4, 1, 1}, k);
	fx_node("Add", "ab", "b", "a", NULL);                      /* constant first */
	float row[5] = {1, 2, -1, 0.5f, 3};
	fx_const("row", 1, (int64_t[]){5}, row);                  /* broadcast along W */
	fx_node("Mul", "mr", "ab", "row", NULL);
	fx_node("Identity", "id", "mr", NULL);
	fd_check("Add/Mul broadcasting (per-channel constants, 4x1x1 activations, a W-vector), Identity",
	         fx_head("id", 100, 5), (fdopt){0});
	free_g();

	/* spatial broadcast of a batched 1xHxW tensor */
	fx_new("bcast2", 3, 4, 4);
	fx_conv("c1", "x", 3, 1, 1, 1, 1, 0, 0.5);                /* 1x4x4 */
	fx_node("Add", "a", "x", "c1", NULL);
	fx_node("Mul", "m", "a", "c1", NULL);
	fd_check("Add/Mul broadcasting a 1xHxW activation over channels", fx_head("m", 48, 5), (fdopt){0});
	free_g();

	/* Concat of the same tensor twice, Pad on channels and space, Slice with steps */
	fx_new("shape_ops", 3, 6, 6);
	fx_conv("c", "x", 3, 2, 1, 1, 1, 0, 0.7);
	n = fx_node("Concat", "dup", "c", "c", NULL);
	nash_attr_set_int(n, "axis", 1);
	n = fx_node("Pad", "pc", "dup", NULL);
	nash_attr_set_ints(n, "pads", 8, (int64_t[]){0, 0, 1, 0, 0, 2, 2, 1});  /* 7 x 7 x 8 */
	nash_attr_set_float(n, "value", 0.5);
	n = fx_node("Slice", "s", "pc", NULL);
	nash_attr_set_ints(n, "starts", 3, (int64_t[]){1, 0, -6});
	nash_attr_set_ints(n, "ends", 3, (int64_t[]){7, 7, 100});
	nash_attr_set_ints(n, "axes", 3, (int64_t[]){1, 2, 3});
	nash_attr_set_ints(n, "steps", 3, (int64_t[]){2, 3, 2});  /* 3 x 3 x 3 */
	n = fx_node("Pad", "crop", "s", NULL);
	nash_attr_set_ints(n, "pads", 8, (int64_t[]){0, 0, -1, 1, 0, 0, 0, -1}); /* 3 x 3 x 2 */
	fd_check("Concat (same input twice), Pad (channels, space, negative), Slice with steps",
	         fx_head("crop", 18, 5), (fdopt){0});
	free_g();

	/* Gemm without transB, with alpha and beta; a K x 1 x 1 logits output */
	fx_new("gemm", 6, 0, 0);
	fx_param("w", 2, (int64_t[]){6, 4}, 0, 0.5);
	fx_param("bb", 1, (int64_t[]){4}, 0, 0.5);
	n = fx_node("Gemm", "g", "x", "w", "bb", NULL);
	nash_attr_set_float(n, "alpha", 0.5);
	nash_attr_set_float(n, "beta", 2.0);
	fx_node("Relu", "r", "g", NULL);
	fd_check("Gemm transB 0, alpha, beta", fx_head("r", 4, 3), (fdopt){0});
	free_g();

	fx_new("convlogits", 2, 3, 3);
	fx_node("GlobalAveragePool", "gp", "x", NULL);
	fx_conv("c", "gp", 2, 5, 1, 1, 1, 1, 0.7);
	fd_check("1x1 conv producing K x 1 x 1 logits", fx_finish("c"), (fdopt){0});
	free_g();
}

/* Flatten keeps ONNX (C, H, W) order whatever the internal layout. */
static void test_flatten_order(void)
{
	nash_err e = {{0}};
	fx_new("flat", 3, 2, 4);
	fx_node("Flatten", "f", "x", NULL);
	nash_graph *g = fx_finish("f");
	nash_net_opts o = {.batch = 2, .threads = 1};
	nash_net *net = nash_net_new(g, &o, &e);
	float x[48];
	for (int i = 0; i < 48; i++)
		x[i] = (float)i;
	int k, ok = net && nash_net_forward(net, x, 2, &e) == 0;
	const float *y = ok ? nash_net_logits(net, &k) : NULL;
	for (int i = 0; ok && i < 48; i++)
		ok = y[i] == x[i];
	CHECK(ok && k == 24, "Flatten returns the images in C, H, W order");
	nash_net_free(net);
	free_g();
}

/* ---------------------------------------------------------- the loss */
static void test_loss(void)
{
	nash_err e = {{0}};
	fx_new("loss", 4, 0, 0);
	fx_node("Identity", "z", "x", NULL);
	nash_graph *g = fx_finish("z");
	nash_net_opts o = {.batch = 2, .train = 1, .threads = 1};
	nash_net *net = nash_net_new(g, &o, &e);
	float x[8] = {1, 2, 3, 4, 0, 0, 5, 0};
	int lab[2] = {2, 3}, t1, t5;
	nash_net_forward(net, x, 2, &e);
	double l = nash_net_loss(net, lab, 0.2, &t1, &t5);
	double want = 0;
	for (int b = 0; b < 2; b++) {
		double s = 0;
		for (int k = 0; k < 4; k++)
			s += exp(x[b * 4 + k]);
		for (int k = 0; k < 4; k++)
			want -= ((k == lab[b]) * 0.8 + 0.05) * (x[b * 4 + k] - log(s));
	}
	CHECK_NEAR(l, want / 2, 1e-6, "cross-entropy with label smoothing 0.2");
	CHECK(t1 == 0 && t5 == 2, "top-1 and top-5 counts (%d, %d)", t1, t5);
	lab[1] = 2;
	nash_net_loss(net, lab, 0, &t1, &t5);
	CHECK(t1 == 1, "top-1 counts a correct prediction");
	lab[0] = 4;
	CHECK(isnan(nash_net_loss(net, lab, 0, NULL, NULL)), "a label out of range gives NaN");
	CHECK(nash_net_backward(net, NASH_GRAD_WEIGHTS, &e) < 0, "no backward without a valid loss: %s", e.msg);
	nash_net_free(net);
	free_g();
}

/* ------------------------------------------------------ batch norm */
static void test_bn_stats(void)
{
	nash_err e = {{0}};
	fx_new("bnstats", 2, 3, 3);
	fx_bn("bn", "x", 2);
	fx_node("Flatten", "f", "bn", NULL);
	nash_graph *g = fx_finish("f");
	nash_attr_set_float(nash_node_find(g, "bn"), "momentum", 0.8);
	float *gam = nash_tensor_f32(g, "bn.scale"), *bet = nash_tensor_f32(g, "bn.bias");
	float rm0[2], rv0[2];
	memcpy(rm0, nash_tensor_f32(g, "bn.mean"), sizeof rm0);
	memcpy(rv0, nash_tensor_f32(g, "bn.var"), sizeof rv0);
	nash_net_opts o = {.batch = 4, .train = 1, .threads = 1};
	nash_net *net = nash_net_new(g, &o, &e);
	CHECK(net != NULL, "compile (%s)", net ? "ok" : e.msg);
	if (!net)
		return;
	float x[72];
	nash_rng r;
	nash_rng_seed(&r, 5);
	for (int i = 0; i < 72; i++)
		x[i] = (float)(3 + 2 * nash_rng_normal(&r));
	nash_net_train_mode(net, 1);
	nash_net_forward(net, x, 4, &e);
	int k;
	const float *y = nash_net_logits(net, &k);
	double mean[2] = {0}, var[2] = {0}, ym[2] = {0}, yv[2] = {0};
	for (int c = 0; c < 2; c++) {
		for (int b = 0; b < 4; b++)
			for (int s = 0; s < 9; s++)
				mean[c] += x[(b * 2 + c) * 9 + s] / 36.0;
		for (int b = 0; b < 4; b++)
			for (int s = 0; s < 9; s++) {
				double d = x[(b * 2 + c) * 9 + s] - mean[c];
				var[c] += d * d / 36.0;
				ym[c] += y[(b * 2 + c) * 9 + s] / 36.0;
			}
		for (int b = 0; b < 4; b++)
			for (int s = 0; s < 9; s++)
				yv[c] += pow(y[(b * 2 + c) * 9 + s] - ym[c], 2) / 36.0;
	}
	CHECK(fabs(ym[0] - bet[0]) < 1e-5 && fabs(ym[1] - bet[1]) < 1e-5, "train mode: output mean is beta");
	CHECK(fabs(yv[0] - gam[0] * gam[0] * var[0] / (var[0] + 1e-5)) < 1e-4 &&
	      fabs(yv[1] - gam[1] * gam[1] * var[1] / (var[1] + 1e-5)) < 1e-4, "train mode: output variance is gamma^2");
	CHECK(nash_net_sync(net, &e) == 0, "sync");
	float *rm = nash_tensor_f32(g, "bn.mean"), *rv = nash_tensor_f32(g, "bn.var");
	CHECK(fabs(rm[0] - (0.8 * rm0[0] + 0.2 * mean[0])) < 1e-5 && fabs(rm[1] - (0.8 * rm0[1] + 0.2 * mean[1])) < 1e-5,
	      "running mean = momentum * running + (1 - momentum) * batch mean");
	CHECK(fabs(rv[1] - (0.8 * rv0[1] + 0.2 * var[1] * 36 / 35)) < 1e-4,
	      "running variance uses the unbiased batch variance");
	nash_net_train_mode(net, 0);
	nash_net_forward(net, x, 4, &e);
	y = nash_net_logits(net, &k);
	double want = (x[9 * 3 + 4] - rm[1]) / sqrt(rv[1] + 1e-5) * gam[1] + bet[1];
	CHECK_NEAR(y[9 * 3 + 4], want, 1e-5, "eval mode uses the running statistics");
	nash_net_free(net);
	free_g();
}

/* ------------------------------------------------------- determinism */
static nash_graph *small_resnet(int width, int version, int search)
{
	nash_err e = {{0}};
	nash_model_opts mo = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = width,
	                      .version = version, .search = search, .seed = 3};
	nash_graph *g = nash_model_build(&mo, &e);
	if (!g)
		printf("# build: %s\n", e.msg);
	return g;
}

static void run_steps(nash_graph *g, int threads, int steps, int n, float *loss, float **grad_out, int64_t *ng)
{
	nash_err e = {{0}};
	nash_net_opts o = {.batch = n, .train = 1, .threads = threads};
	nash_net *net = nash_net_new(g, &o, &e);
	if (!net) {
		printf("# %s\n", e.msg);
		return;
	}
	nash_net_train_mode(net, 1);
	float *x = malloc((size_t)n * 784 * sizeof *x);
	int lab[64];
	nash_rng r;
	nash_rng_seed(&r, 11);
	for (int i = 0; i < n * 784; i++)
		x[i] = (float)nash_rng_uniform(&r);
	for (int i = 0; i < n; i++)
		lab[i] = i % 10;
	for (int s = 0; s < steps; s++) {
		if (nash_net_forward(net, x, n, &e) < 0) {
			printf("# %s\n", e.msg);
			break;
		}
		loss[s] = (float)nash_net_loss(net, lab, 0, NULL, NULL);
		nash_net_zero_grad(net);
		nash_net_backward(net, NASH_GRAD_WEIGHTS, &e);
		for (int i = 0; i < nash_net_nparams(net); i++) {
			nash_param *p = nash_net_param(net, i);
			if (p->g)
				for (int64_t k = 0; k < p->n; k++)
					p->w[k] -= 0.05f * p->g[k];
		}
	}
	if (grad_out) {
		int64_t tot = 0;
		for (int i = 0; i < nash_net_nparams(net); i++)
			tot += nash_net_param(net, i)->g ? nash_net_param(net, i)->n : 0;
		float *gv = malloc((size_t)tot * sizeof *gv);
		int64_t o2 = 0;
		for (int i = 0; i < nash_net_nparams(net); i++) {
			nash_param *p = nash_net_param(net, i);
			if (p->g) {
				memcpy(gv + o2, p->g, (size_t)p->n * sizeof(float));
				o2 += p->n;
			}
		}
		*grad_out = gv;
		*ng = tot;
	}
	free(x);
	nash_net_free(net);
}

static void test_resnet(void)
{
	nash_graph *g = small_resnet(4, 0, 0);
	CHECK(g != NULL, "resnet18 width 4 builds");
	if (!g)
		return;
	float l1[6], l2[6];
	float *g1 = NULL, *g2 = NULL;
	int64_t n1 = 0, n2 = 0;
	run_steps(g, 1, 6, 8, l1, &g1, &n1);
	CHECK(l1[5] < l1[0] * 0.8, "ResNet18 (width 4): six SGD steps lower the loss on a fixed batch (%.4f -> %.4f)",
	      l1[0], l1[5]);
	run_steps(g, 1, 6, 8, l2, &g2, &n2);
	CHECK(n1 == n2 && n1 > 0 && memcmp(l1, l2, sizeof l1) == 0 && memcmp(g1, g2, (size_t)n1 * sizeof *g1) == 0,
	      "one thread: losses and gradients are bit-identical run to run");
	free(g1);
	free(g2);
	/* the first step's gradients (later steps amplify rounding differences) */
	run_steps(g, 1, 1, 8, l1, &g1, &n1);
	run_steps(g, 2, 1, 8, l2, &g2, &n2);
	double num = 0, den = 0;
	for (int64_t i = 0; i < n1 && g2; i++) {
		num += pow(g1[i] - g2[i], 2);
		den += pow(g1[i], 2);
	}
	CHECK(g2 && sqrt(num / den) < 1e-3, "two threads agree with one (rel. difference %.2g)", sqrt(num / den));
	free(g1);
	free(g2);
	/* an inference net shares buffers by liveness and computes the same */
	nash_err e = {{0}};
	nash_net_opts ot = {.batch = 8, .train = 1, .threads = 1}, oi = {.batch = 8, .threads = 1};
	nash_net *nt = nash_net_new(g, &ot, &e), *ni = nash_net_new(g, &oi, &e);
	float *x = malloc(8 * 784 * sizeof *x);
	nash_rng r;
	nash_rng_seed(&r, 4);
	fx_fill(x, 8 * 784, &r, 0.5);
	int ok = nt && ni && nash_net_forward(nt, x, 8, &e) == 0 && nash_net_forward(ni, x, 8, &e) == 0;
	ok = ok && memcmp(nash_net_logits(nt, NULL), nash_net_logits(ni, NULL), 80 * sizeof(float)) == 0;
	ok = ok && nash_net_forward(ni, x + 784, 5, &e) == 0 && nash_net_forward(nt, x + 784, 5, &e) == 0 &&
	     memcmp(nash_net_logits(nt, NULL), nash_net_logits(ni, NULL), 50 * sizeof(float)) == 0;
	CHECK(ok && nash_net_bytes(ni) * 3 < nash_net_bytes(nt),
	      "an inference net gives the same logits with shared buffers (%.1f MB vs %.1f MB)", nash_net_bytes(ni) / 1e6,
	      nash_net_bytes(nt) / 1e6);
	nash_net_free(nt);
	nash_net_free(ni);
	free(x);
	nash_graph_free(g);
}

/* ------------------------------------------------------------ errors */
static void test_errors(void)
{
	nash_err e = {{0}};
	nash_net_opts o = {.batch = 2, .train = 1, .threads = 1};
	fx_new("bad_op", 2, 4, 4);
	fx_node("Softmax", "sm", "x", NULL);
	nash_graph *g = fx_finish("sm");
	CHECK(!nash_net_new(g, &o, &e) && strstr(e.msg, "node sm (Softmax)") && strstr(e.msg, "cannot run"),
	      "an unknown op names the node: %s", e.msg);
	free_g();

	fx_new("bad_attr", 2, 4, 4);
	nash_node *n = fx_conv("c", "x", 2, 2, 3, 3, 1, 0, 0.5);
	nash_attr_set_str(n, "auto_pad", "SAME_UPPER");
	g = fx_head("c", 2 * 2 * 2, 3);
	CHECK(!nash_net_new(g, &o, &e) && strstr(e.msg, "node c (Conv)") && strstr(e.msg, "auto_pad"),
	      "an unsupported attribute names the node: %s", e.msg);
	free_g();

	fx_new("bad_pad", 2, 4, 4);
	n = fx_node("Pad", "p", "x", NULL);
	nash_attr_set_ints(n, "pads", 8, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1});
	nash_attr_set_str(n, "mode", "reflect");
	g = fx_head("p", 2 * 6 * 6, 3);
	CHECK(!nash_net_new(g, &o, &e) && strstr(e.msg, "node p (Pad)") && strstr(e.msg, "reflect"),
	      "Pad mode reflect is refused: %s", e.msg);
	free_g();

	/* overflow to infinity inside the net is reported, naming the node */
	fx_new("overflow", 1, 2, 2);
	n = fx_conv("c", "x", 1, 2, 1, 1, 1, 0, 1.0);
	float big[2] = {3e38f, -3e38f};
	memcpy(nash_tensor_f32(fx_g, "c.weight"), big, sizeof big);
	fx_node("Relu", "r", "c", NULL);
	g = fx_head("r", 8, 3);
	nash_net *net = nash_net_new(g, &o, &e);
	float x[8] = {10, 10, 10, 10, 10, 10, 10, 10};
	CHECK(net && nash_net_forward(net, x, 2, &e) < 0 && strstr(e.msg, "node c (Conv)") && strstr(e.msg, "non-finite"),
	      "a non-finite activation is an error naming the first node: %s", e.msg);
	nash_net_opts oi = {.batch = 2, .threads = 1};
	nash_net *inet = nash_net_new(g, &oi, &e);
	CHECK(inet && nash_net_forward(inet, x, 2, &e) < 0 && strstr(e.msg, "node c (Conv)"),
	      "an inference net (shared buffers) names it too: %s", e.msg);
	nash_net_free(inet);
	x[3] = NAN;
	CHECK(net && nash_net_forward(net, x, 2, &e) < 0 && strstr(e.msg, "non-finite"), "a NaN input is refused: %s", e.msg);
	x[3] = 10;
	CHECK(net && nash_net_forward(net, x, 3, &e) < 0 && strstr(e.msg, "1..2"), "more images than the batch: %s", e.msg);
	nash_net_free(net);
	free_g();

	/* a NaN made inside the net is not swallowed by Relu or MaxPool */
	fx_new("nan_inside", 1, 2, 2);
	n = fx_conv("c", "x", 1, 2, 1, 1, 1, 0, 1.0);
	float huge[2] = {3e38f, -3e38f};
	memcpy(nash_tensor_f32(fx_g, "c.weight"), huge, sizeof huge);  /* times 10: +-inf */
	fx_param("z", 3, (int64_t[]){2, 1, 1}, 0, 0);
	fx_node("Mul", "zero", "c", "z", NULL);      /* inf * 0 = NaN */
	fx_node("Relu", "r", "zero", NULL);
	n = fx_node("MaxPool", "p", "r", NULL);
	nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
	g = fx_head("p", 2, 3);
	fx_g = g;
	nash_graph_validate(g, &e);
	net = nash_net_new(g, &o, &e);
	float x4[8] = {10, 0, 0, 0, 0, 0, 10, 0}; /* one NaN per pooling window */
	CHECK(net && nash_net_forward(net, x4, 2, &e) < 0 && strstr(e.msg, "node c (Conv)"),
	      "a NaN made inside the net reaches the check through Relu and MaxPool: %s", e.msg);
	nash_net_free(net);
	free_g();

	fx_new("two_outputs", 2, 0, 0);
	fx_node("Relu", "a", "x", NULL);
	fx_node("Relu", "b", "x", NULL);
	nash_graph_add_output(fx_g, "a");
	g = fx_finish("b");
	CHECK(!nash_net_new(g, &o, &e) && strstr(e.msg, "one graph output"), "two outputs are refused: %s", e.msg);
	free_g();

	fx_new("eval_only", 2, 0, 0);
	fx_node("Relu", "a", "x", NULL);
	g = fx_finish("a");
	o.train = 0;
	net = nash_net_new(g, &o, &e);
	float xv[4] = {1, 2, 3, 4};
	int lab[2] = {0, 1};
	nash_net_forward(net, xv, 2, &e);
	nash_net_loss(net, lab, 0, NULL, NULL);
	CHECK(nash_net_backward(net, NASH_GRAD_WEIGHTS, &e) < 0 && strstr(e.msg, "inference"),
	      "backward on an inference net is refused: %s", e.msg);
	nash_net_free(net);
	free_g();
}

int main(void)
{
	test_conv();
	test_bn_act_pool();
	test_pool_forward();
	test_elementwise();
	test_flatten_order();
	test_loss();
	test_bn_stats();
	test_errors();
	test_resnet();
	UNIT_DONE();
}
