/* bench_nn.c - training speed of the engine as a fraction of this
 * machine's fp32 GEMM peak, measured in one run: ResNet18 (small-input
 * stem, 1x28x28, batch 64) at widths 16 and 64, float and fake-quant
 * (w2a2, 8-bit first and last layer), peak memory, and the cost of the
 * NASH sampled-path search relative to plain training.
 *
 * NASH_BENCH_SECONDS (default 3) sets how long each figure is measured;
 * NASH_BENCH_ONLY=16,64,q16,q64,search picks figures; NASH_BENCH_THREADS
 * (default 2) the threads. */
#include "models/models.h"
#include "nn/nn.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { BATCH = 64 };
static int THREADS = 2;
static double secs = 3;

static void die(const char *what, const nash_err *e)
{
	fprintf(stderr, "bench_nn: %s: %s\n", what, e ? e->msg : "");
	exit(1);
}

/* ------------------------------------------------------------ GEMM peak */
static double gemm_peak(void)
{
	int n = 2048;
	float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
	      *c = malloc((size_t)n * n * sizeof *c);
	for (size_t i = 0; i < (size_t)n * n; i++)
		a[i] = b[i] = (float)(i % 7) * 0.1f;
	omp_set_num_threads(THREADS);
	double best = 0;
	for (int r = 0; r < 8; r++) {
		double t0 = nash_now();
		dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		double t = nash_now() - t0, gf = 2.0 * n * n * n / t / 1e9;
		best = gf > best ? gf : best;
	}
	free(a);
	free(b);
	free(c);
	return best;
}

/* ----------------------------------------------- fake-quant insertion */
/* w2a2 with 8-bit first and last layers, per nash-ops(7): an 8-bit input
 * quantizer, per-output-channel stats weight quantizers, a learned unsigned
 * activation quantizer after every Relu, and the stage-shared signed 8-bit
 * adder quantizer on both inputs of every Add. */
static void scalar(nash_graph *g, const char *name, float v)
{
	nash_tensor *t = nash_tensor_add(g, name, NASH_F32, 0, NULL);
	*(float *)t->data = v;
}

static nash_node *quant(nash_graph *g, const char *x, const char *out, const char *scale, int bits, int sgn,
                        int narrow, const char *mode, const char *target)
{
	char z[256], b[256];
	snprintf(z, sizeof z, "%s.zeropt", out);
	snprintf(b, sizeof b, "%s.bitwidth", out);
	scalar(g, z, 0);
	scalar(g, b, (float)bits);
	nash_node *n = nash_node_add(g, "Quant", out, (const char *[]){x, scale, z, b, NULL}, (const char *[]){out, NULL});
	nash_attr_set_int(n, "signed", sgn);
	nash_attr_set_int(n, "narrow", narrow);
	nash_attr_set_str(n, "scale_mode", mode);
	nash_attr_set_str(n, "target", target);
	return n;
}

static void fake_quant(nash_graph *g)
{
	nash_err e;
	char nm[256], sc[256];
	int nn = g->nnodes;
	/* input */
	nash_graph_replace_uses(g, "input", "input.q");
	scalar(g, "input.q.scale", 1.0f / 255);
	quant(g, "input", "input.q", "input.q.scale", 8, 0, 0, "const", "input");
	for (int i = 0; i < nn; i++) {
		nash_node *n = g->nodes[i];
		if (!strcmp(n->op, "Conv") || !strcmp(n->op, "Gemm")) {
			nash_tensor *w = nash_tensor_find(g, n->in[1]);
			int first_last = !strcmp(n->name, "stem.conv") || !strcmp(n->op, "Gemm");
			int64_t shape[4] = {w->shape[0], 1, 1, 1};
			snprintf(sc, sizeof sc, "%s.qscale", w->name);
			nash_tensor *s = nash_tensor_add(g, sc, NASH_F32, w->ndim, shape);
			int bits = first_last ? 8 : 2;
			nash_qscale_stats(w->data, w->shape[0], nash_tensor_numel(w) / w->shape[0], bits, 0, s->data);
			snprintf(nm, sizeof nm, "%s.q", w->name);
			char wname[256];
			snprintf(wname, sizeof wname, "%s", w->name);
			nash_node_set_in(n, 1, nm);
			quant(g, wname, nm, sc, bits, 1, 1, "stats", "weight");
		} else if (!strcmp(n->op, "Relu")) {
			char r[256];
			snprintf(r, sizeof r, "%s", n->out[0]);
			snprintf(nm, sizeof nm, "%s.q", r);
			snprintf(sc, sizeof sc, "%s.q.scale", r);
			nash_graph_replace_uses(g, r, nm);
			scalar(g, sc, 0.5f);
			quant(g, r, nm, sc, 2, 0, 0, "learned", "act");
		} else if (!strcmp(n->op, "Add")) {
			int cell = (int)nash_attr_int(n, "cell", 0);
			snprintf(sc, sizeof sc, "cell%d.adder.scale", cell);
			if (!nash_tensor_find(g, sc))
				scalar(g, sc, 10.0f / 127);
			for (int k = 0; k < 2; k++) {
				char x[256];
				snprintf(x, sizeof x, "%s", n->in[k]);
				snprintf(nm, sizeof nm, "%s.in%d.q", n->name, k);
				nash_node_set_in(n, k, nm);
				quant(g, x, nm, sc, 8, 1, 1, "learned", "adder");
			}
		}
	}
	/* the graph output is unchanged (logits from the Gemm) */
	if (nash_graph_toposort(g, &e) < 0 || nash_graph_validate(g, &e) < 0)
		die("fake-quant graph", &e);
}

/* ------------------------------------------------------------ training */
typedef struct {
	nash_net *net;
	float *x, **mom;
	int lab[BATCH];
} trainer;

static nash_graph *build(int width, int version, int search, int fq)
{
	nash_err e;
	nash_model_opts mo = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = width,
	                      .version = version, .search = search, .seed = 1};
	nash_graph *g = nash_model_build(&mo, &e);
	if (!g)
		die("build", &e);
	if (fq)
		fake_quant(g);
	return g;
}

static void trainer_init(trainer *t, nash_graph *g)
{
	nash_err e;
	nash_net_opts o = {.batch = BATCH, .train = 1, .threads = THREADS, .relax = NASH_RELAX_SAMPLE};
	t->net = nash_net_new(g, &o, &e);
	if (!t->net)
		die("compile", &e);
	nash_net_train_mode(t->net, 1);
	t->x = malloc((size_t)BATCH * 784 * sizeof *t->x);
	nash_rng r;
	nash_rng_seed(&r, 1);
	for (int i = 0; i < BATCH * 784; i++)
		t->x[i] = (float)nash_rng_uniform(&r);
	for (int i = 0; i < BATCH; i++)
		t->lab[i] = i % 10;
	int np = nash_net_nparams(t->net);
	t->mom = calloc((size_t)np, sizeof *t->mom);
	for (int i = 0; i < np; i++)
		t->mom[i] = calloc((size_t)nash_net_param(t->net, i)->n, sizeof(float));
}

static void trainer_free(trainer *t)
{
	for (int i = 0; i < nash_net_nparams(t->net); i++)
		free(t->mom[i]);
	free(t->mom);
	free(t->x);
	nash_net_free(t->net);
}

/* One step: forward, loss, backward (what), SGD with momentum on the
 * trained parameters of that kind. */
static void step(trainer *t, int what, nash_rng *rng)
{
	nash_err e;
	if (rng)
		nash_net_sample(t->net, rng);
	if (nash_net_forward(t->net, t->x, BATCH, &e) < 0)
		die("forward", &e);
	double l = nash_net_loss(t->net, t->lab, 0.1, NULL, NULL);
	if (!isfinite(l))
		die("loss is not finite", NULL);
	nash_net_zero_grad(t->net);
	if (nash_net_backward(t->net, what, &e) < 0)
		die("backward", &e);
	for (int i = 0; i < nash_net_nparams(t->net); i++) {
		nash_param *p = nash_net_param(t->net, i);
		if (!p->g || (p->kind == NASH_P_ALPHA) != (what == NASH_GRAD_ALPHA))
			continue;
		float *m = t->mom[i];
		for (int64_t k = 0; k < p->n; k++) {
			m[k] = 0.9f * m[k] + p->g[k] + 5e-4f * p->w[k];
			p->w[k] -= 0.01f * m[k];
		}
	}
}

/* Seconds per step, after two warm-up steps. */
static double time_steps(trainer *t, int what, nash_rng *rng, int *count)
{
	step(t, what, rng);
	step(t, what, rng);
	double t0 = nash_now(), dt;
	int n = 0;
	do {
		step(t, what, rng);
		n++;
		dt = nash_now() - t0;
	} while (dt < secs || n < 3);
	*count = n;
	return dt / n;
}

static int want(const char *what)
{
	const char *only = getenv("NASH_BENCH_ONLY");
	if (!only || !*only)
		return 1;
	char buf[256];
	snprintf(buf, sizeof buf, ",%s,", only);
	char key[64];
	snprintf(key, sizeof key, ",%s,", what);
	return strstr(buf, key) != NULL;
}

static double maxrss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
}

int main(void)
{
	const char *s = getenv("NASH_BENCH_SECONDS");
	if (s && atof(s) > 0)
		secs = atof(s);
	s = getenv("NASH_BENCH_THREADS");
	if (s && atoi(s) > 0)
		THREADS = atoi(s);
	double peak = gemm_peak();
	printf("nn: fp32 GEMM peak (dnnl_sgemm 2048^3, %d threads): %.0f GFLOP/s\n", THREADS, peak);
	double ips[2][2] = {{0}};  /* [width16/64][float/quant] */
	const int widths[2] = {16, 64};
	for (int wi = 0; wi < 2; wi++)
		for (int q = 0; q < 2; q++) {
			char key[16];
			snprintf(key, sizeof key, "%s%d", q ? "q" : "", widths[wi]);
			if (!want(key))
				continue;
			nash_graph *g = build(widths[wi], 0, 0, q);
			nash_counts c;
			nash_err e;
			if (nash_graph_count(g, &c, &e) < 0)
				die("count", &e);
			trainer t;
			trainer_init(&t, g);
			int n;
			double sp = time_steps(&t, NASH_GRAD_WEIGHTS, NULL, &n);
			ips[wi][q] = BATCH / sp;
			double frac = ips[wi][q] * 6.0 * (double)c.macs / (peak * 1e9);
			printf("nn: resnet18 w%d %s training, batch %d: %.0f images/s (%.1f MMAC/image, %d steps), "
			       "%.0f %% of GEMM peak%s; net %.0f MB, max RSS %.0f MB\n",
			       widths[wi], q ? "w2a2 fake-quant" : "float", BATCH, ips[wi][q], c.macs / 1e6, n, 100 * frac,
			       q ? "" : widths[wi] == 16 ? " (PyTorch 2 cores: 24 %)" : " (PyTorch 2 cores: 55 %)",
			       nash_net_bytes(t.net) / 1e6, maxrss_mb());
			trainer_free(&t);
			nash_graph_free(g);
		}
	for (int wi = 0; wi < 2; wi++)
		if (ips[wi][0] > 0 && ips[wi][1] > 0)
			printf("nn: resnet18 w%d QAT / float throughput: %.2f\n", widths[wi], ips[wi][1] / ips[wi][0]);
	if (want("search")) {
		nash_graph *gb = build(16, 0, 0, 0), *gs = build(16, 1, 1, 0);
		trainer tb, ts;
		trainer_init(&tb, gb);
		int n1, n2, n3;
		double tp = time_steps(&tb, NASH_GRAD_WEIGHTS, NULL, &n1);
		trainer_free(&tb);
		trainer_init(&ts, gs);
		nash_rng r;
		nash_rng_seed(&r, 7);
		double tw = time_steps(&ts, NASH_GRAD_WEIGHTS, &r, &n2);
		double ta = time_steps(&ts, NASH_GRAD_ALPHA, &r, &n3);
		printf("nn: v1 supernet w16 search (sampled path): weight step %.3f s, alpha step %.3f s, plain step %.3f s; "
		       "weight + alpha step = %.2fx a plain step, %.2fx plain training per epoch (target <= 3x); net %.0f MB\n",
		       tw, ta, tp, (tw + ta) / tp, (tw + ta) / (2 * tp), nash_net_bytes(ts.net) / 1e6);
		trainer_free(&ts);
		nash_graph_free(gb);
		nash_graph_free(gs);
	}
	printf("nn: max RSS %.0f MB\n", maxrss_mb());
	return 0;
}
