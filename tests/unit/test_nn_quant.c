/* test_nn_quant.c - Quant, BipolarQuant and Trunc in the engine against the
 * formulas of nash-ops(7) on crafted tensors; straight-through and LSQ
 * gradients; weight (stats) and bias (product) quantizers; scale checks. */
#include "nnfix.h"
#include "unit.h"

/* Run input -> node -> output (vector of k), n = 1; returns the output. */
static const float *run1(nash_net **netp, nash_graph *g, const float *x, nash_err *e)
{
	nash_net_opts o = {.batch = 1, .train = 1, .threads = 1};
	*netp = nash_net_new(g, &o, e);
	if (!*netp || nash_net_forward(*netp, x, 1, e) < 0)
		return NULL;
	return nash_net_logits(*netp, NULL);
}

static void test_qmath(void)
{
	double lo, hi;
	nash_qrange(4, 1, 0, &lo, &hi);
	CHECK(lo == -8 && hi == 7, "INT4 range");
	nash_qrange(4, 1, 1, &lo, &hi);
	CHECK(lo == -7 && hi == 7, "INT4 narrow range");
	nash_qrange(2, 0, 0, &lo, &hi);
	CHECK(lo == 0 && hi == 3, "UINT2 range");
	nash_qrange(1, 1, 1, &lo, &hi);
	CHECK(lo == 0 && hi == 0, "1-bit signed narrow is the empty-ish range [0, 0]");
	CHECK(nash_round_even(0.5) == 0 && nash_round_even(1.5) == 2 && nash_round_even(2.5) == 2 &&
	      nash_round_even(-0.5) == 0 && nash_round_even(-1.5) == -2 && nash_round_even(-2.5) == -2 &&
	      nash_round_even(2.4999) == 2 && nash_round_even(-2.5001) == -3, "round half to even");
	CHECK(nash_quant_int(10, 0.5, 0, -4, 3) == 3 && nash_quant_int(-10, 0.5, 0, -4, 3) == -4 &&
	      nash_quant_int(0.75, 0.5, 0, -4, 3) == 2, "nash_quant_int clamps both ends");
	float w[6] = {0.5f, -2, 1, 0, 0, 0}, s[2];
	nash_qscale_stats(w, 2, 3, 3, 0, s);
	CHECK(s[0] == 2.0f / 3 && s[1] == 1, "stats scale max|W|/(2^(b-1)-1) per row; a zero row gets 1");
	nash_qscale_stats(w, 2, 3, 1, 1, s);
	CHECK(fabsf(s[0] - 3.5f / 3) < 1e-7 && s[1] == 1, "binary stats scale mean|W|");
}

static void test_qparams(void)
{
	nash_err e = {{0}};
	const char *bad[] = {"zero", "negative", "nan"};
	float vals[] = {0, -0.5f, NAN};
	for (int i = 0; i < 3; i++) {
		fx_new(bad[i], 4, 0, 0);
		fx_scalar("s", vals[i]);
		nash_node *n = fx_quant("q", "x", "s", 4, 1, 0, "const");
		CHECK(nash_qparams_get(fx_g, n, &(nash_qparams){0}, &e) < 0 && strstr(e.msg, "node q (Quant)") &&
		      strstr(e.msg, "positive finite"), "a %s scale is rejected: %s", bad[i], e.msg);
		fx_finish("q");
		nash_net_opts o = {.batch = 1, .threads = 1};
		nash_net *net = nash_net_new(fx_g, &o, &e);
		CHECK(!net && (strstr(e.msg, "node q (Quant)") || strstr(e.msg, "NaN")), "the engine refuses it too: %s",
		      e.msg);
		nash_graph_free(fx_g);
	}
	fx_new("bits", 4, 0, 0);
	fx_scalar("s", 1);
	nash_node *n = fx_quant("q", "x", "s", 33, 1, 0, "const");
	CHECK(nash_qparams_get(fx_g, n, &(nash_qparams){0}, &e) < 0 && strstr(e.msg, "bit width"), "33 bits: %s", e.msg);
	*nash_tensor_f32(fx_g, "q.bitwidth") = 2.5f;
	CHECK(nash_qparams_get(fx_g, n, &(nash_qparams){0}, &e) < 0, "2.5 bits: %s", e.msg);
	*nash_tensor_f32(fx_g, "q.bitwidth") = 4;
	nash_attr_set_str(n, "scale_mode", "magic");
	fx_finish("q");
	nash_net_opts o = {.batch = 1, .threads = 1};
	CHECK(!nash_net_new(fx_g, &o, &e) && strstr(e.msg, "scale_mode"), "unknown scale_mode: %s", e.msg);
	nash_graph_free(fx_g);
}

/* Quant forward on crafted values, every rounding mode and range. */
static void test_quant_forward(void)
{
	nash_err e = {{0}};
	static const float x[] = {0.25f, 0.75f, 1.25f, -0.25f, -0.75f, -1.25f, 10, -10, 0, 0.3f, -0.3f, 1.0f};
	enum { K = 12 };
	struct { int bits, sgn, narrow; const char *round; } cfg[] = {
		{3, 1, 0, "ROUND"}, {3, 1, 1, "ROUND"}, {2, 0, 0, "ROUND"}, {3, 1, 0, "FLOOR"}, {3, 1, 0, "CEIL"},
		{8, 0, 0, "ROUND"}, {1, 0, 0, "ROUND"},
	};
	for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
		fx_new("qf", K, 0, 0);
		fx_scalar("s", 0.5f);
		nash_node *n = fx_quant("q", "x", "s", cfg[c].bits, cfg[c].sgn, cfg[c].narrow, "const");
		nash_attr_set_str(n, "rounding_mode", cfg[c].round);
		nash_graph *g = fx_finish("q");
		nash_net *net;
		const float *y = run1(&net, g, x, &e);
		double lo, hi;
		nash_qrange(cfg[c].bits, cfg[c].sgn, cfg[c].narrow, &lo, &hi);
		int ok = y != NULL;
		for (int i = 0; ok && i < K; i++) {
			double u = x[i] / 0.5, q = !strcmp(cfg[c].round, "ROUND") ? nash_round_even(u)
			                           : !strcmp(cfg[c].round, "FLOOR") ? floor(u) : ceil(u);
			q = q < lo ? lo : q > hi ? hi : q;
			ok = y[i] == (float)(q * 0.5);
			if (!ok)
				printf("#   x %g: got %g want %g\n", x[i], y[i], q * 0.5);
		}
		CHECK(ok, "Quant %d bits %s%s %s: ties to even, clamping at both ends, zero (%s)", cfg[c].bits,
		      cfg[c].sgn ? "signed" : "unsigned", cfg[c].narrow ? " narrow" : "", cfg[c].round,
		      y ? "ok" : e.msg);
		nash_net_free(net);
		nash_graph_free(g);
	}
	/* exact ties through the engine: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 */
	fx_new("ties", 4, 0, 0);
	fx_scalar("s", 0.25f);
	fx_quant("q", "x", "s", 8, 1, 0, "const");
	nash_graph *g = fx_finish("q");
	nash_net *net;
	const float xt[4] = {0.625f, 0.875f, -0.625f, -0.125f};
	const float *y = run1(&net, g, xt, &e);
	CHECK(y && y[0] == 0.5f && y[1] == 1.0f && y[2] == -0.5f && y[3] == 0.0f, "ties go to the even integer");
	nash_net_free(net);
	nash_graph_free(g);

	/* per-channel activation scales (C x 1 x 1) */
	fx_new("perch", 3, 2, 2);
	const float sc[3] = {0.5f, 0.25f, 2.0f};
	fx_const("s", 3, (int64_t[]){3, 1, 1}, sc);
	fx_quant("q", "x", "s", 4, 1, 1, "const");
	fx_node("Flatten", "f", "q", NULL);
	g = fx_finish("f");
	float xc[12];
	for (int i = 0; i < 12; i++)
		xc[i] = (float)(i - 6) * 0.4f;
	y = run1(&net, g, xc, &e);
	int ok = y != NULL;
	for (int i = 0; ok && i < 12; i++)
		ok = y[i] == (float)(nash_quant_int(xc[i], sc[i / 4], 0, -7, 7) * sc[i / 4]);
	CHECK(ok, "per-channel scales C x 1 x 1 (%s)", y ? "ok" : e.msg);
	nash_net_free(net);
	nash_graph_free(g);

	/* BipolarQuant: sign(0) = +1 */
	fx_new("bip", 5, 0, 0);
	fx_scalar("s", 0.7f);
	nash_node *n = fx_node("BipolarQuant", "b", "x", "s", NULL);
	nash_attr_set_str(n, "scale_mode", "const");
	g = fx_finish("b");
	const float xb[5] = {0, -0.0f, 3, -1e-9f, 1e-9f};
	y = run1(&net, g, xb, &e);
	CHECK(y && y[0] == 0.7f && y[1] == 0.7f && y[2] == 0.7f && y[3] == -0.7f && y[4] == 0.7f,
	      "BipolarQuant: scale * sign, sign(0) = +1");
	nash_net_free(net);
	nash_graph_free(g);

	/* Trunc: y = (floor(round(x/scale)/2^(in-out))) * scale; and ROUND */
	for (int rm = 0; rm < 2; rm++) {
		fx_new("trunc", 6, 0, 0);
		fx_scalar("s", 0.5f);
		fx_scalar("z", 0);
		fx_scalar("bi", 8);
		fx_scalar("bo", 4);
		n = fx_node("Trunc", "t", "x", "s", "z", "bi", "bo", NULL);
		if (rm)
			nash_attr_set_str(n, "rounding_mode", "ROUND");
		g = fx_finish("t");
		const float xr[6] = {0, 7.5f, 8.0f, 12.0f, 20.0f, 100.1f};
		y = run1(&net, g, xr, &e);
		ok = y != NULL;
		for (int i = 0; ok && i < 6; i++) {
			double r = nash_round_even(xr[i] / 0.5) / 16;
			double want = (rm ? nash_round_even(r) : floor(r)) * 0.5;
			ok = y[i] == (float)want;
			if (!ok)
				printf("#   x %g: got %g want %g\n", xr[i], y[i], want);
		}
		CHECK(ok, "Trunc 8 -> 4 bits, rounding %s", rm ? "ROUND (ties to even)" : "FLOOR");
		nash_net_free(net);
		nash_graph_free(g);
	}
}

/* STE input gradient and the LSQ scale gradient (log2 domain). */
static void test_quant_grad(void)
{
	nash_err e = {{0}};
	for (int perch = 0; perch < 2; perch++) {
		fx_new(perch ? "lsq_c" : "lsq", perch ? 2 : 8, perch ? 2 : 0, perch ? 2 : 0);
		const float sv[2] = {0.3f, 0.45f};
		if (perch)
			fx_const("s", 3, (int64_t[]){2, 1, 1}, sv);
		else
			fx_scalar("s", sv[0]);
		fx_quant("q", "x", "s", 2, 1, 0, "learned");  /* [-2, 1] */
		fx_node("Flatten", "f", "q", NULL);
		nash_graph *g = fx_finish("f");
		nash_net_opts o = {.batch = 2, .train = 1, .threads = 1};
		nash_net *net = nash_net_new(g, &o, &e);
		CHECK(net != NULL, "compile (%s)", net ? "ok" : e.msg);
		if (!net)
			return;
		nash_net_want_input_grad(net, 1);
		float x[16] = {0.1f, -0.2f, 0.4f, -0.7f, 0.9f, -1.0f, 0.05f, 0.31f,
		               -0.1f, 0.16f, 0.5f, -0.5f, 2.0f, -0.61f, 0.44f, 0.0f};
		int lab[2] = {1, 6};
		nash_net_forward(net, x, 2, &e);
		const float *z = nash_net_logits(net, NULL);
		double dz[16];
		for (int b = 0; b < 2; b++) {
			double s = 0;
			for (int k = 0; k < 8; k++)
				s += exp(z[b * 8 + k]);
			for (int k = 0; k < 8; k++)
				dz[b * 8 + k] = (exp(z[b * 8 + k]) / s - (k == lab[b])) / 2;
		}
		nash_net_loss(net, lab, 0, NULL, NULL);
		nash_net_zero_grad(net);
		nash_net_backward(net, NASH_GRAD_WEIGHTS, &e);
		const float *gx = nash_net_input_grad(net);
		nash_param *p = nash_net_param(net, 0);
		CHECK(p && p->kind == NASH_P_QSCALE && fabsf(p->w[0] - log2f(sv[0])) < 1e-6,
		      "a learned scale is a parameter stored as log2");
		double want[2] = {0, 0};
		int ok = 1;
		for (int i = 0; i < 16; i++) {
			int c = perch ? (i % 8) / 4 : 0;
			double s = sv[c], u = x[i] / s, q = nash_round_even(u), d, gwant;
			if (q < -2)
				d = -2, gwant = 0;
			else if (q > 1)
				d = 1, gwant = 0;
			else
				d = q - u, gwant = dz[i];
			want[c] += dz[i] * d * s * M_LN2;
			ok &= fabs(gx[i] - gwant) < 1e-7;
		}
		CHECK(ok, "%s: straight-through input gradient, zero where clamped", perch ? "per channel" : "per tensor");
		for (int c = 0; c < (perch ? 2 : 1); c++)
			CHECK_NEAR(p->g[c], want[c], 1e-6, "%s: LSQ scale gradient in the log2 domain [%d]",
			           perch ? "per channel" : "per tensor", c);
		/* sync writes the scale itself back */
		p->w[0] += 1;
		nash_net_sync(net, &e);
		CHECK(fabsf(nash_tensor_f32(g, "s")[0] - 2 * sv[0]) < 1e-6, "sync stores 2^u in the graph");
		nash_net_free(net);
		nash_graph_free(g);
	}
	/* BipolarQuant passes the gradient where |x| <= scale */
	fx_new("bipgrad", 4, 0, 0);
	fx_scalar("s", 0.5f);
	fx_node("BipolarQuant", "b", "x", "s", NULL);
	nash_graph *g = fx_finish("b");
	nash_net_opts o = {.batch = 1, .train = 1, .threads = 1};
	nash_net *net = nash_net_new(g, &o, &e);
	nash_net_want_input_grad(net, 1);
	float x[4] = {0.2f, -0.5f, 0.6f, -3};
	int lab = 0;
	nash_net_forward(net, x, 1, &e);
	nash_net_loss(net, &lab, 0, NULL, NULL);
	nash_net_backward(net, NASH_GRAD_WEIGHTS, &e);
	const float *gx = nash_net_input_grad(net);
	CHECK(gx[0] != 0 && gx[1] != 0 && gx[2] == 0 && gx[3] == 0, "BipolarQuant straight-through within the scale");
	nash_net_free(net);
	nash_graph_free(g);
}

/* A quantized 1x1 conv: stats weight scales per output channel, a learned
 * input scale, a bias quantizer with product scale; forward, weight
 * gradients and sync against hand computation. */
static void test_weight_quant(void)
{
	nash_err e = {{0}};
	for (int binary = 0; binary < 2; binary++) {
		fx_new(binary ? "wq_bin" : "wq", 3, 1, 1);
		fx_param("w", 4, (int64_t[]){2, 3, 1, 1}, 0, 0.5);
		fx_param("bias", 1, (int64_t[]){2}, 0, 0.3);
		const float one[2] = {1, 1};
		fx_const("ws", 4, (int64_t[]){2, 1, 1, 1}, one);
		fx_scalar("as", 0.1f);
		fx_const("bs", 1, (int64_t[]){2}, one);
		fx_quant("xq", "x", "as", 8, 0, 0, "learned");
		if (binary) {
			nash_node *n = fx_node("BipolarQuant", "wq", "w", "ws", NULL);
			nash_attr_set_str(n, "scale_mode", "stats");
		} else
			fx_quant("wq", "w", "ws", 4, 1, 1, "stats");
		nash_node *bq = fx_quant("bq", "bias", "bs", 32, 1, 0, "product");
		nash_val *sf = nash_val_arr();
		nash_val_push(sf, nash_val_str("as"));
		nash_val_push(sf, nash_val_str("ws"));
		nash_val_set(bq->attr, "scale_from", sf);
		fx_node("Conv", "c", "xq", "wq", "bq", NULL);
		fx_node("Flatten", "f", "c", NULL);
		nash_graph *g = fx_finish("f");
		nash_net_opts o = {.batch = 2, .train = 1, .threads = 1};
		nash_net *net = nash_net_new(g, &o, &e);
		CHECK(net != NULL, "quantized conv compiles (%s)", net ? "ok" : e.msg);
		if (!net)
			return;
		nash_net_train_mode(net, 1);
		float *w = NULL, *b = NULL;
		for (int i = 0; i < nash_net_nparams(net); i++) {
			nash_param *p = nash_net_param(net, i);
			if (!strcmp(p->name, "w"))
				w = p->w;
			if (!strcmp(p->name, "bias"))
				b = p->w;
			CHECK(strcmp(p->name, "ws") && strcmp(p->name, "bs"), "stats and product scales are not trained (%s)",
			      p->name);
		}
		w[0] = 0.8f;   /* change the weights: the scale follows in train mode */
		float x[6] = {0.33f, 0.52f, 0.07f, 1.2f, 0.0f, 0.5f};
		int lab[2] = {0, 1};
		nash_net_forward(net, x, 2, &e);
		const float *y = nash_net_logits(net, NULL);
		double s[2], wq[6], xq[6], bqv[2];
		for (int m = 0; m < 2; m++) {
			double mx = 0, sum = 0;
			for (int c = 0; c < 3; c++) {
				mx = fmax(mx, fabs(w[m * 3 + c]));
				sum += fabs(w[m * 3 + c]);
			}
			s[m] = binary ? (double)(float)(sum / 3) : (double)(float)(mx / 7);
			for (int c = 0; c < 3; c++)
				wq[m * 3 + c] = binary ? (w[m * 3 + c] >= 0 ? s[m] : -s[m])
				                       : nash_quant_int(w[m * 3 + c], (float)s[m], 0, -7, 7) * (float)s[m];
			double bsc = (double)((float)s[m] * 0.1f);
			bqv[m] = nash_quant_int(b[m], (float)bsc, 0, -2147483648.0, 2147483647.0) * (float)bsc;
		}
		for (int i = 0; i < 6; i++)
			xq[i] = nash_quant_int(x[i], 0.1f, 0, 0, 255) * 0.1f;
		int ok = 1;
		for (int bi = 0; bi < 2; bi++)
			for (int m = 0; m < 2; m++) {
				double want = bqv[m];
				for (int c = 0; c < 3; c++)
					want += wq[m * 3 + c] * xq[bi * 3 + c];
				ok &= fabs(y[bi * 2 + m] - want) < 1e-5;
				if (fabs(y[bi * 2 + m] - want) >= 1e-5)
					printf("#   y[%d][%d] %g want %g\n", bi, m, y[bi * 2 + m], want);
			}
		CHECK(ok, "%s weights (stats scale per output channel, recomputed after a change), "
		      "8-bit input, product-scale bias", binary ? "binary" : "4-bit narrow");
		/* weight gradient: straight through the weight quantizer */
		nash_net_loss(net, lab, 0, NULL, NULL);
		nash_net_zero_grad(net);
		nash_net_backward(net, NASH_GRAD_WEIGHTS, &e);
		double dz[4];
		for (int bi = 0; bi < 2; bi++) {
			double se = exp(y[bi * 2]) + exp(y[bi * 2 + 1]);
			for (int m = 0; m < 2; m++)
				dz[bi * 2 + m] = (exp(y[bi * 2 + m]) / se - (m == lab[bi])) / 2;
		}
		float *gw = NULL;
		for (int i = 0; i < nash_net_nparams(net); i++)
			if (!strcmp(nash_net_param(net, i)->name, "w"))
				gw = nash_net_param(net, i)->g;
		ok = 1;
		for (int m = 0; m < 2; m++)
			for (int c = 0; c < 3; c++) {
				double want = 0;
				for (int bi = 0; bi < 2; bi++)
					want += dz[bi * 2 + m] * xq[bi * 3 + c];
				if (binary && fabs(w[m * 3 + c] / s[m]) > 1)
					want = 0;
				ok &= fabs(gw[m * 3 + c] - want) < 1e-6;
			}
		CHECK(ok, "%s weights: straight-through weight gradient", binary ? "binary" : "4-bit");
		CHECK(nash_net_sync(net, &e) == 0, "sync");
		const float *ws = nash_tensor_f32(g, "ws"), *bs = nash_tensor_f32(g, "bs");
		CHECK(ws[0] == (float)s[0] && ws[1] == (float)s[1] && bs[1] == (float)s[1] * 0.1f,
		      "sync writes the stats scales and the product bias scale");
		nash_net_free(net);
		nash_graph_free(g);
	}
}

/* Eval mode caches quantized weights until told that parameters changed. */
static void test_eval_cache(void)
{
	nash_err e = {{0}};
	fx_new("cache", 2, 1, 1);
	const float wv[2] = {0.5f, 0.1f};
	fx_const("w", 4, (int64_t[]){1, 2, 1, 1}, wv);
	fx_scalar("ws", 1);
	fx_quant("wq", "w", "ws", 8, 1, 1, "stats");
	fx_node("Conv", "c", "x", "wq", NULL);
	fx_node("Flatten", "f", "c", NULL);
	nash_graph *g = fx_finish("f");
	nash_net_opts o = {.batch = 1, .threads = 1};
	nash_net *net = nash_net_new(g, &o, &e);
	CHECK(net != NULL, "compile (%s)", net ? "ok" : e.msg);
	if (!net)
		return;
	float x[2] = {1, 0};
	nash_net_forward(net, x, 1, &e);
	float y0 = nash_net_logits(net, NULL)[0];
	nash_param *p = nash_net_param(net, 0);
	p->w[0] *= 2;
	nash_net_forward(net, x, 1, &e);
	float y1 = nash_net_logits(net, NULL)[0];
	CHECK(fabsf(y1 - 2 * y0) < 1e-5 * fabsf(y0) + 1e-6, "a parameter fetched with nash_net_param refreshes the cache");
	p->w[0] /= 2;
	nash_net_params_changed(net);
	nash_net_forward(net, x, 1, &e);
	CHECK(nash_net_logits(net, NULL)[0] == y0, "nash_net_params_changed refreshes it too");
	nash_net_free(net);
	nash_graph_free(g);
}

/* One training step of g with and without fusion; outputs and every
 * gradient (weights, BN, learned scales, input) must agree. */
static void fused_vs_plain(const char *what, nash_graph *g, int n, int64_t per)
{
	nash_err e = {{0}};
	nash_net_opts o = {.batch = n, .train = 1, .threads = 1};
	setenv("NASH_NN_NO_FUSE", "1", 1);
	nash_net *a = nash_net_new(g, &o, &e);
	unsetenv("NASH_NN_NO_FUSE");
	nash_net *b = a ? nash_net_new(g, &o, &e) : NULL;
	CHECK(a && b && nash_net_bytes(b) < nash_net_bytes(a), "%s: compiles fused and unfused; fused stores less (%s)", what,
	      b ? "ok" : e.msg);
	if (!a || !b)
		return;
	float *x = malloc((size_t)(n * per) * sizeof *x);
	nash_rng r;
	nash_rng_seed(&r, 3);
	fx_fill(x, n * per, &r, 1.0);
	int lab[16];
	for (int i = 0; i < n; i++)
		lab[i] = i % 3;
	double loss[2], worst = 0;
	const char *wname = "";
	nash_net *nets[2] = {a, b};
	for (int k = 0; k < 2; k++) {
		nash_net_train_mode(nets[k], 1);
		nash_net_want_input_grad(nets[k], 1);
		nash_net_forward(nets[k], x, n, &e);
		loss[k] = nash_net_loss(nets[k], lab, 0, NULL, NULL);
		nash_net_zero_grad(nets[k]);
		nash_net_backward(nets[k], NASH_GRAD_WEIGHTS, &e);
	}
	int k_;
	const float *za = nash_net_logits(a, &k_), *zb = nash_net_logits(b, NULL);
	int same = 1;
	for (int i = 0; i < n * k_; i++)
		same &= za[i] == zb[i];
	CHECK(same && loss[0] == loss[1], "%s: fused forward is bit-identical", what);
	for (int i = 0; i < nash_net_nparams(a); i++) {
		nash_param *p = nash_net_param(a, i), *q = nash_net_param(b, i);
		if (!p->g)
			continue;
		double num = 0, den = 0;
		for (int64_t j = 0; j < p->n; j++) {
			num += pow(p->g[j] - q->g[j], 2);
			den += pow(p->g[j], 2);
		}
		double err = den > 0 ? sqrt(num / den) : sqrt(num);
		if (err > worst) {
			worst = err;
			wname = p->name;
		}
	}
	const float *ga = nash_net_input_grad(a), *gb = nash_net_input_grad(b);
	double num = 0, den = 0;
	for (int64_t j = 0; j < n * per; j++) {
		num += pow(ga[j] - gb[j], 2);
		den += pow(ga[j], 2);
	}
	CHECK(worst < 1e-4 && sqrt(num / den) < 1e-5, "%s: fused gradients agree (worst %.2g at %s, input %.2g)", what,
	      worst, wname, sqrt(num / den));
	free(x);
	nash_net_free(a);
	nash_net_free(b);
}

/* A quantized residual block: BN -> Relu -> Quant, two adder quantizers
 * sharing one learned scale on an Add, Add -> Relu -> Quant; per-tensor and
 * per-channel scales, a BipolarQuant. */
static void test_fusion(void)
{
	for (int perch = 0; perch < 2; perch++) {
		fx_new(perch ? "fuse_c" : "fuse", 4, 5, 5);
		const float sc4[4] = {0.3f, 0.5f, 0.2f, 0.7f};
		if (perch)
			fx_const("as", 3, (int64_t[]){4, 1, 1}, sc4);
		else
			fx_scalar("as", 0.4f);
		fx_scalar("adder", 0.05f);
		fx_scalar("bs", 0.6f);
		nash_node *n = fx_conv("c1", "x", 4, 4, 3, 3, 1, 0, 0.5);
		nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
		fx_bn("bn1", "c1", 4);
		fx_node("Relu", "r1", "bn1", NULL);
		fx_quant("q1", "r1", "as", 2, 0, 0, "learned");
		n = fx_conv("c2", "q1", 4, 4, 3, 3, 1, 0, 0.5);
		nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
		fx_bn("bn2", "c2", 4);
		fx_quant("qa", "bn2", "adder", 8, 1, 1, "learned");
		fx_quant("qb", "x", "adder", 8, 1, 1, "learned");
		fx_node("Add", "add", "qa", "qb", NULL);
		fx_node("Relu", "r2", "add", NULL);
		fx_quant("q2", "r2", "as", 3, 0, 0, "learned");
		fx_bn("bn3", "q2", 4);
		n = fx_node("BipolarQuant", "bq", "bn3", "bs", NULL);
		nash_attr_set_str(n, "scale_mode", "learned");
		nash_graph *g = fx_head("bq", 100, 3);
		fused_vs_plain(perch ? "quantized block, per-channel scales" : "quantized block, per-tensor scales", g, 6, 100);
		nash_graph_free(g);
	}
}

int main(void)
{
	test_qmath();
	test_qparams();
	test_quant_forward();
	test_quant_grad();
	test_weight_quant();
	test_eval_cache();
	test_fusion();
	UNIT_DONE();
}
