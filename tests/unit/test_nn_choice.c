/* test_nn_choice.c - Choice nodes: the softmax relaxation against central
 * differences, the sampled path's alpha gradient against the formula of
 * REFERENCE.md section 1 and, in expectation, against the gradient of the
 * expected loss; branches on demand; errors; a NASH supernet. */
#include "nnfix.h"
#include "models/models.h"
#include "unit.h"

enum { NB = 5 };

/* Choice "ch<i>" over state s (C x H x W): none, max-pool + BN, identity,
 * 1x1 conv + BN, 3x3 conv. */
static const char *add_choice(int i, const char *s, int c, double sd)
{
	char nm[8][64];
	snprintf(nm[0], 64, "ch%d.pool", i);
	nash_node *n = fx_node("MaxPool", nm[0], s, NULL);
	nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	snprintf(nm[1], 64, "ch%d.pool.bn", i);
	fx_bn(nm[1], nm[0], c);
	snprintf(nm[2], 64, "ch%d.c1", i);
	fx_conv(nm[2], s, c, c, 1, 1, 1, 0, sd);
	snprintf(nm[3], 64, "ch%d.c1.bn", i);
	fx_bn(nm[3], nm[2], c);
	snprintf(nm[4], 64, "ch%d.c3", i);
	n = fx_conv(nm[4], s, c, c, 3, 3, 1, 1, sd);
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	snprintf(nm[5], 64, "ch%d.alpha", i);
	const float al[NB] = {0.3f, -0.4f, 0.1f, 0.5f, -0.2f};
	fx_const(nm[5], 1, (int64_t[]){NB}, al);
	snprintf(nm[6], 64, "ch%d", i);
	fx_node("Choice", nm[6], "", nm[1], s, nm[3], nm[4], nm[5], NULL);
	static char out[64];
	snprintf(out, sizeof out, "ch%d", i);
	return out;
}

/* x -> conv s -> [s + eps * Choice0(s)] -> relu -> [.. + eps * Choice1] -> head
 * (smooth: identities instead of the Relu) */
static nash_graph *supernet(int nchoices, float eps, int smooth)
{
	fx_new(nchoices == 1 ? "sup1" : "sup2", 2, 4, 4);
	nash_node *n = fx_conv("s0", "x", 2, 3, 3, 3, 1, 0, 0.5);
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	const char *state = "s0";
	char a[64], m[64], r[64], k[64];
	(void)r;
	for (int i = 0; i < nchoices; i++) {
		const char *ch = add_choice(i, state, 3, 0.5);
		snprintf(k, 64, "eps%d", i);
		float ev[3] = {eps, eps, eps};
		fx_const(k, 3, (int64_t[]){3, 1, 1}, ev);
		snprintf(m, 64, "scaled%d", i);
		fx_node("Mul", m, ch, k, NULL);
		snprintf(a, 64, "sum%d", i);
		fx_node("Add", a, state, m, NULL);
		snprintf(r, 64, "state%d", i + 1);
		fx_node(i + 1 < nchoices && !smooth ? "Relu" : "Identity", r, a, NULL);
		state = fx_g->nodes[fx_g->nnodes - 1]->name;
	}
	return fx_head(fx_g->nodes[fx_g->nnodes - 1]->name, 3 * 16, 4);
}

static float *alpha_of(nash_net *net, int c, float **grad)
{
	char nm[32];
	snprintf(nm, sizeof nm, "ch%d.alpha", c);
	for (int i = 0; i < nash_net_nparams(net); i++) {
		nash_param *p = nash_net_param(net, i);
		if (!strcmp(p->name, nm)) {
			if (grad)
				*grad = p->g;
			return p->w;
		}
	}
	return NULL;
}

static void softmaxd(const float *a, int k, double *p)
{
	double mx = a[0], s = 0;
	for (int i = 1; i < k; i++)
		mx = fmax(mx, a[i]);
	for (int i = 0; i < k; i++)
		s += (p[i] = exp(a[i] - mx));
	for (int i = 0; i < k; i++)
		p[i] /= s;
}

static float X[4 * 32];
static int LAB[4] = {0, 3, 1, 2};
enum { N = 4 };

static double loss_of(nash_net *net)
{
	nash_err e = {{0}};
	if (nash_net_forward(net, X, N, &e) < 0) {
		printf("# %s\n", e.msg);
		return NAN;
	}
	return nash_net_loss(net, LAB, 0, NULL, NULL);
}

/* Softmax relaxation: exact gradients for alpha and weights. */
static void test_softmax(void)
{
	nash_err e = {{0}};
	nash_graph *g = supernet(2, 1.0f, 0);
	nash_net_opts o = {.batch = N, .train = 1, .threads = 1, .relax = NASH_RELAX_SOFTMAX};
	nash_net *net = nash_net_new(g, &o, &e);
	CHECK(net != NULL, "softmax supernet compiles (%s)", net ? "ok" : e.msg);
	if (!net)
		return;
	nash_net_train_mode(net, 1);
	loss_of(net);
	nash_net_zero_grad(net);
	CHECK(nash_net_backward(net, NASH_GRAD_WEIGHTS | NASH_GRAD_ALPHA, &e) == 0, "backward (%s)", e.msg);
	for (int i = 0; i < nash_net_nparams(net); i++) {
		nash_param *p = nash_net_param(net, i);
		if (!p->g || (p->kind != NASH_P_ALPHA && strncmp(p->name, "ch1.c3", 6)))
			continue;
		double num = 0, den = 0, h = 1e-3;
		for (int64_t k = 0; k < p->n && k < 12; k++) {
			float keep = p->w[k];
			p->w[k] = keep + (float)h;
			double lp = loss_of(net);
			p->w[k] = keep - (float)h;
			double lm = loss_of(net);
			p->w[k] = keep;
			double fd = (lp - lm) / (2 * h);
			num += pow(p->g[k] - fd, 2);
			den += fmax(fd * fd, (double)p->g[k] * p->g[k]);
		}
		double err = sqrt(num / fmax(den, 1e-20));
		CHECK(err < 1e-2, "softmax relaxation: d loss / d %s matches central differences (rel. error %.2g)", p->name,
		      err);
	}
	/* only alphas: weights untouched */
	nash_net_zero_grad(net);
	loss_of(net);
	nash_net_backward(net, NASH_GRAD_ALPHA, &e);
	int clean = 1, got = 0;
	for (int i = 0; i < nash_net_nparams(net); i++) {
		nash_param *p = nash_net_param(net, i);
		for (int64_t k = 0; p->g && k < p->n; k++) {
			if (p->kind == NASH_P_ALPHA)
				got |= p->g[k] != 0;
			else
				clean &= p->g[k] == 0;
		}
	}
	CHECK(clean && got, "NASH_GRAD_ALPHA alone leaves weight gradients at zero");
	nash_net_free(net);
	nash_graph_free(g);
}

/* Sampled path: output = chosen branch; alpha gradient per the formula. */
static void test_sample_formula(void)
{
	nash_err e = {{0}};
	nash_graph *g = supernet(1, 1.0f, 0);
	/* logits = fc(flat(s0 + ch0)): the head is linear, so g_j can be read
	 * from the logits */
	nash_net_opts o = {.batch = N, .train = 1, .threads = 1, .relax = NASH_RELAX_SAMPLE};
	nash_net *net = nash_net_new(g, &o, &e);
	CHECK(net != NULL, "sampled supernet compiles (%s)", net ? "ok" : e.msg);
	if (!net)
		return;
	nash_net_train_mode(net, 1);
	CHECK(nash_net_nchoices(net) == 1 && !strcmp(nash_net_choice(net, 0)->name, "ch0"), "one Choice");
	CHECK(nash_net_chosen(net, 0) == 3, "the initial choice is the largest logit (%d)", nash_net_chosen(net, 0));
	int k;
	float z[NB][N * 4];
	for (int j = 0; j < NB; j++) {
		nash_net_choose(net, 0, j);
		loss_of(net);
		memcpy(z[j], nash_net_logits(net, &k), sizeof z[j]);
	}
	double p[NB];
	float *ga, *al = alpha_of(net, 0, &ga);
	softmaxd(al, NB, p);
	float *rm = nash_tensor_f32(g, "ch0.c1.bn.mean");
	int ok_all = 1;
	for (int s = 0; s < NB; s++) {
		nash_net_choose(net, 0, s);
		nash_net_sync(net, &e);
		float rm_before = rm[0];
		double l = loss_of(net);
		(void)l;
		const float *zs = nash_net_logits(net, NULL);
		double dz[N * 4];
		for (int b = 0; b < N; b++) {
			double se = 0;
			for (int c = 0; c < 4; c++)
				se += exp(zs[b * 4 + c]);
			for (int c = 0; c < 4; c++)
				dz[b * 4 + c] = (exp(zs[b * 4 + c]) / se - (c == LAB[b])) / N;
		}
		/* g_j = <dL/dout, branch_j> = <dz, z_j - z_none> (the head is linear) */
		double gate[NB], want[NB];
		for (int j = 0; j < NB; j++) {
			gate[j] = 0;
			for (int i = 0; i < N * 4; i++)
				gate[j] += dz[i] * (z[j][i] - z[0][i]);
		}
		for (int i = 0; i < NB; i++) {
			want[i] = 0;
			for (int j = 0; j < NB; j++)
				want[i] += gate[j] * p[j] * ((i == j) - p[i]);
		}
		nash_net_zero_grad(net);
		nash_net_backward(net, NASH_GRAD_ALPHA | NASH_GRAD_WEIGHTS, &e);
		double err = 0, nrm = 0;
		for (int i = 0; i < NB; i++) {
			err += pow(ga[i] - want[i], 2);
			nrm += want[i] * want[i];
		}
		ok_all &= sqrt(err / nrm) < 1e-4;
		if (!(sqrt(err / nrm) < 1e-4))
			printf("#   sampled %d: rel. error %.3g\n", s, sqrt(err / nrm));
		/* the weight gradient flows through the sampled branch only */
		int only = 1;
		for (int i = 0; i < nash_net_nparams(net); i++) {
			nash_param *q = nash_net_param(net, i);
			if (!q->g || strncmp(q->name, "ch0.", 4) || q->kind == NASH_P_ALPHA)
				continue;
			int mine = (s == 1 && !strncmp(q->name, "ch0.pool", 8)) || (s == 3 && !strncmp(q->name, "ch0.c1", 6)) ||
			           (s == 4 && !strncmp(q->name, "ch0.c3", 6));
			double sum = 0;
			for (int64_t t = 0; t < q->n; t++)
				sum += fabs(q->g[t]);
			if ((sum != 0) != mine) {
				only = 0;
				printf("#   sampled %d: %s has gradient %g\n", s, q->name, sum);
			}
		}
		CHECK(only, "sampled %d: weight gradients reach the sampled branch only", s);
		nash_net_sync(net, &e);
		CHECK(s == 3 || rm[0] == rm_before, "sampled %d: evaluating the other candidates leaves their running statistics", s);
	}
	CHECK(ok_all, "sampled path: dL/dalpha_i = sum_j g_j p_j (delta_ij - p_i) with g_j = sum(grad_out * op_j(x)), every sample");
	nash_net_free(net);
	nash_graph_free(g);
}

/* In expectation over samples the estimator approaches the gradient of the
 * expected loss: exactly so when the loss is linear in the Choice outputs,
 * to first order in the branch outputs otherwise (it is a linearisation).
 * Branch outputs are scaled by 0.01 so the loss is nearly linear in them;
 * the states are not rectified, because a Relu's exact zeros sit on the
 * kink of the next one and make the loss non-smooth at first order (with
 * them the error stays near 10 %; without, it falls linearly with the
 * scale: 7 % at 0.1, 1.5 % at 0.02, 0.8 % at 0.01). */
static void test_sample_expectation(void)
{
	nash_err e = {{0}};
	nash_graph *g = supernet(2, 0.01f, 1);
	nash_net_opts o = {.batch = N, .train = 1, .threads = 1, .relax = NASH_RELAX_SAMPLE};
	nash_net *net = nash_net_new(g, &o, &e);
	CHECK(net != NULL, "two-Choice supernet compiles (%s)", net ? "ok" : e.msg);
	if (!net)
		return;
	nash_net_train_mode(net, 1);
	float *g0, *g1, *a0 = alpha_of(net, 0, &g0), *a1 = alpha_of(net, 1, &g1);
	double L[NB][NB], est[NB][NB][2 * NB];
	for (int i = 0; i < NB; i++)
		for (int j = 0; j < NB; j++) {
			nash_net_choose(net, 0, i);
			nash_net_choose(net, 1, j);
			L[i][j] = loss_of(net);
			nash_net_zero_grad(net);
			nash_net_backward(net, NASH_GRAD_ALPHA, &e);
			for (int k = 0; k < NB; k++) {
				est[i][j][k] = g0[k];
				est[i][j][NB + k] = g1[k];
			}
		}
	/* expected loss and its gradient by central differences over alpha */
	double fd[2 * NB], exp_est[2 * NB] = {0};
	for (int v = 0; v < 2 * NB; v++) {
		float *a = v < NB ? a0 : a1;
		int k = v % NB;
		double h = 1e-3, E[2];
		for (int sgn = 0; sgn < 2; sgn++) {
			float keep = a[k];
			a[k] = keep + (float)(sgn ? -h : h);
			double p0[NB], p1[NB];
			softmaxd(a0, NB, p0);
			softmaxd(a1, NB, p1);
			E[sgn] = 0;
			for (int i = 0; i < NB; i++)
				for (int j = 0; j < NB; j++)
					E[sgn] += p0[i] * p1[j] * L[i][j];
			a[k] = keep;
		}
		fd[v] = (E[0] - E[1]) / (2 * h);
	}
	double p0[NB], p1[NB];
	softmaxd(a0, NB, p0);
	softmaxd(a1, NB, p1);
	for (int i = 0; i < NB; i++)
		for (int j = 0; j < NB; j++)
			for (int v = 0; v < 2 * NB; v++)
				exp_est[v] += p0[i] * p1[j] * est[i][j][v];
	double num = 0, den = 0;
	for (int v = 0; v < 2 * NB; v++) {
		num += pow(exp_est[v] - fd[v], 2);
		den += fd[v] * fd[v];
	}
	CHECK(sqrt(num / den) < 0.03, "the estimator's exact expectation matches the gradient of the expected loss (rel. error %.3g)",
	      sqrt(num / den));
	/* Monte Carlo: nash_net_sample and averaging */
	nash_rng r;
	nash_rng_seed(&r, 42);
	double mc[2 * NB] = {0};
	int S = 3000, count[NB] = {0};
	for (int s = 0; s < S; s++) {
		nash_net_sample(net, &r);
		int i = nash_net_chosen(net, 0), j = nash_net_chosen(net, 1);
		count[i]++;
		for (int v = 0; v < 2 * NB; v++)
			mc[v] += est[i][j][v] / S;
	}
	double chi = 0;
	for (int i = 0; i < NB; i++)
		chi += pow(count[i] - S * p0[i], 2) / (S * p0[i]);
	CHECK(chi < 20, "nash_net_sample draws from softmax(alpha) (chi2 %.2f, 4 d.o.f.)", chi);
	num = 0;
	for (int v = 0; v < 2 * NB; v++)
		num += pow(mc[v] - fd[v], 2);
	CHECK(sqrt(num / den) < 0.05, "averaged over %d samples the estimator approaches it (rel. error %.3g)", S,
	      sqrt(num / den));
	/* and the engine's own sampled runs agree with the table */
	nash_net_sample(net, &r);
	int i = nash_net_chosen(net, 0), j = nash_net_chosen(net, 1);
	double l = loss_of(net);
	nash_net_zero_grad(net);
	nash_net_backward(net, NASH_GRAD_ALPHA, &e);
	CHECK(l == L[i][j] && g0[2] == (float)est[i][j][2] && g1[4] == (float)est[i][j][NB + 4],
	      "a sampled run reproduces the chosen configuration");
	nash_net_free(net);
	nash_graph_free(g);
}

static void test_errors(void)
{
	nash_err e = {{0}};
	/* a Choice inside another Choice's branch */
	fx_new("nested", 2, 3, 3);
	fx_node("Relu", "r", "x", NULL);
	const float al[2] = {0, 0};
	fx_const("ai", 1, (int64_t[]){2}, al);
	fx_const("ao", 1, (int64_t[]){2}, al);
	fx_node("Relu", "r2", "x", NULL);
	fx_node("Choice", "inner", "r", "", "ai", NULL);
	fx_node("Choice", "outer", "inner", "r2", "ao", NULL);
	nash_graph *g = fx_head("outer", 18, 3);
	nash_net_opts o = {.batch = 2, .train = 1, .threads = 1};
	CHECK(!nash_net_new(g, &o, &e) && strstr(e.msg, "outer") && strstr(e.msg, "nested"),
	      "a Choice nested in a branch is refused: %s", e.msg);
	nash_graph_free(g);
}

/* A NASH v1 supernet from the model builder: both relaxations run. */
static void test_nash_supernet(void)
{
	nash_err e = {{0}};
	nash_model_opts mo = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 4,
	                      .version = 1, .search = 1, .seed = 1};
	nash_graph *g = nash_model_build(&mo, &e);
	CHECK(g != NULL, "v1 supernet builds (%s)", g ? "ok" : e.msg);
	if (!g)
		return;
	float *x = malloc(4 * 784 * sizeof *x);
	nash_rng r;
	nash_rng_seed(&r, 9);
	fx_fill(x, 4 * 784, &r, 0.5);
	int lab[4] = {1, 2, 3, 4};
	for (int relax = 0; relax < 2; relax++) {
		nash_net_opts o = {.batch = 4, .train = 1, .threads = 1, .relax = relax};
		nash_net *net = nash_net_new(g, &o, &e);
		CHECK(net != NULL, "%s: compiles (%s)", relax ? "softmax" : "sample", net ? "ok" : e.msg);
		if (!net)
			continue;
		nash_net_train_mode(net, 1);
		nash_net_sample(net, &r);
		int ok = nash_net_forward(net, x, 4, &e) == 0;
		double l = nash_net_loss(net, lab, 0, NULL, NULL);
		nash_net_zero_grad(net);
		ok &= nash_net_backward(net, NASH_GRAD_WEIGHTS | NASH_GRAD_ALPHA, &e) == 0;
		int nz = 0, na = 0;
		for (int i = 0; i < nash_net_nparams(net); i++) {
			nash_param *p = nash_net_param(net, i);
			if (p->kind != NASH_P_ALPHA)
				continue;
			na++;
			for (int64_t k = 0; k < p->n; k++)
				if (p->g[k] != 0) {
					nz++;
					break;
				}
		}
		CHECK(ok && isfinite(l) && na == 40 && nz == 40 && nash_net_nchoices(net) == 40,
		      "%s: forward and backward of the 40-edge supernet, every alpha gets a gradient (%d/%d; %s)",
		      relax ? "softmax" : "sample", nz, na, ok ? "ok" : e.msg);
		if (relax == 0) {
			/* an inference net (pools and shared buffers) agrees in eval mode */
			nash_net_opts oi = {.batch = 4, .threads = 1, .relax = relax};
			nash_net_sync(net, &e); /* the running statistics the train-mode forward updated */
			nash_net *ni = nash_net_new(g, &oi, &e);
			nash_net_train_mode(net, 0);
			for (int c = 0; c < nash_net_nchoices(net); c++)
				nash_net_choose(ni, c, nash_net_chosen(net, c));
			int same = ni && nash_net_forward(net, x, 4, &e) == 0 && nash_net_forward(ni, x, 4, &e) == 0 &&
			           memcmp(nash_net_logits(net, NULL), nash_net_logits(ni, NULL), 40 * sizeof(float)) == 0;
			CHECK(same, "an inference supernet gives the same logits for the same choices (%.0f MB vs %.0f MB)",
			      ni ? nash_net_bytes(ni) / 1e6 : 0, nash_net_bytes(net) / 1e6);
			nash_net_free(ni);
		}
		nash_net_free(net);
	}
	free(x);
	nash_graph_free(g);
}

int main(void)
{
	nash_rng r;
	nash_rng_seed(&r, 1);
	fx_fill(X, sizeof X / sizeof *X, &r, 1.0);
	test_softmax();
	test_sample_formula();
	test_sample_expectation();
	test_errors();
	test_nash_supernet();
	UNIT_DONE();
}
