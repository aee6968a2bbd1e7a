/* bench_search.c - what a NASH search epoch costs next to a plain training
 * epoch: the ResNet18 width-16 v2 supernet on Fashion-MNIST (sampled
 * path, batch 64, the reference hyper-parameters) against the plain
 * ResNet18 width 16 trained with SGD at batch 64, both measured in this
 * run, interleaved in rounds so that the machine's load hits both alike;
 * once with the default alpha-step arithmetic (bfloat16 gate evaluation
 * and backward-data on CPUs with bf16 dot products) and once all f32,
 * next to the ratio the f32 algorithm's multiply-accumulates imply.
 *
 * A search epoch is one pass over the weight half (n/2 images): n/2/64
 * steps, each an Adam step on alpha with an architecture batch and an SGD
 * step on the weights. A plain epoch is n/64 SGD steps. The ratio of
 * their times is t(search step) / (2 t(plain step)).
 *
 * NASH_BENCH_STEPS x NASH_BENCH_ROUNDS (default 4 x 3) rounds are run,
 * after one to warm up; NASH_BENCH_THREADS (default 1) threads. */
#include "search/search.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int envint(const char *k, int def)
{
	const char *v = getenv(k);
	return v && atoi(v) > 0 ? atoi(v) : def;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The per-epoch ratio that MAC counts alone imply for the f32 algorithm:
 * a weight step runs the backbone P and the sampled candidates S forward
 * and backward (3x their MACs), an alpha step runs them forward and
 * backward-data (2x) and every other candidate forward (A - S); a plain
 * step runs the plain network B 3x, and a plain epoch has twice the steps.
 * At alpha = 0 each of an edge's 6 candidates is sampled with p = 1/6. */
static double mac_bound(nash_graph *sup, nash_graph *plain)
{
	static const char *const ops[] = {"max_pool_3x3", "skip_connect", "conv_1x1", "conv_3x3", "conv_5x5"};
	nash_counts cs, cp;
	nash_err e;
	nash_graph_count(sup, &cs, &e);
	nash_graph_count(plain, &cp, &e);
	double cand = 0;
	for (int i = 0; i < sup->nnodes; i++) {
		int64_t m = nash_node_macs(sup, sup->nodes[i]);
		for (int k = 0; k < 5 && m > 0; k++)
			if (strstr(sup->nodes[i]->name, ops[k])) {
				cand += (double)m;
				break;
			}
	}
	double P = (double)cs.macs - cand, S = cand / 6, A = cand, B = (double)cp.macs;
	return (3 * (P + S) + 2 * (P + S) + (A - S)) / (2 * 3 * B);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const nash_err *e)
{
	fprintf(stderr, "bench_search: %s: %s\n", what, e->msg);
	exit(1);
}

int main(void)
{
	nash_err e = {{0}};
	int steps = envint("NASH_BENCH_STEPS", 4), rounds = envint("NASH_BENCH_ROUNDS", 3);
	/* one thread by default: with a shared machine's load, two threads'
	 * barriers stall the supernet's many small operations more than the
	 * plain network's large ones, and the ratio drifts with the load */
	int threads = envint("NASH_BENCH_THREADS", 1);
	nash_dataset *d = nash_dataset_load("fashion-mnist", 4096, 0, 1, &e);
	if (!d) {
		printf("search: skipped (%s)\n", e.msg);
		return 0;
	}
	nash_model_opts mo = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 16, .version = 2,
	                      .search = 1, .seed = 1};
	nash_graph *sg = nash_model_build(&mo, &e), *sg32 = nash_model_build(&mo, &e);
	mo.version = 0;
	mo.search = 0;
	nash_graph *pg = nash_model_build(&mo, &e);
	if (!sg || !sg32 || !pg)
		die("build", &e);
	nash_search_opts so;
	nash_search_defaults(&so);
	so.epochs = 1000;   /* never reaches an epoch end: only steps are timed */
	so.threads = threads;
	nash_search *s = nash_search_new(sg, d, &so, &e);
	so.arch_prec = NASH_ARCH_F32;
	nash_search *s32 = s ? nash_search_new(sg32, d, &so, &e) : NULL;
	if (!s || !s32)
		die("search", &e);
	/* the plain network: SGD, momentum 0.9, wd 3e-4, batch 64, clip 5 */
	nash_net_opts no = {64, 1, threads, NASH_RELAX_SAMPLE};
	nash_net *pn = nash_net_new(pg, &no, &e);
	if (!pn)
		die("plain net", &e);
	nash_net_train_mode(pn, 1);
	nash_param **pp = malloc(sizeof *pp * (size_t)nash_net_nparams(pn));
	int np = 0;
	for (int i = 0; i < nash_net_nparams(pn); i++)
		if (nash_net_param(pn, i)->g)
			pp[np++] = nash_net_param(pn, i);
	nash_optim_opts oo;
	nash_optim_defaults(&oo, NASH_OPT_SGD);
	oo.wd = 3e-4;
	oo.threads = threads;
	nash_optim *opt = nash_optim_new(&oo, pp, np);
	nash_batcher b;
	nash_batcher_init(&b, d, &d->train, 64, 1, NULL, 1);
	float *x = malloc(sizeof(float) * 64 * 784);
	int y[64];
	/* architecture steps alone, to split the search step */
	nash_batcher ab;
	nash_batcher_init(&ab, d, &d->train, 64, 1, NULL, 2);
	/* finely interleaved: each round is two plain steps, one search step of
	 * each arithmetic and one alpha gradient, so that the machine's load
	 * hits all alike; the ratios reported are medians of the rounds' */
	int n = steps * rounds;
	double *rs = malloc(sizeof *rs * (size_t)n * 3), *r32 = rs + n, *ra = rs + 2 * n;
	double ts = 0, tp = 0;
	for (int r = -1; r < n; r++) {   /* round -1 warms up */
		double t0 = nash_now();
		for (int i = 0; i < 2; i++) {
			int m = nash_batcher_next(&b, x, y);
			if (m < 64) {
				nash_batcher_epoch(&b);
				m = nash_batcher_next(&b, x, y);
			}
			if (nash_net_forward(pn, x, m, &e) < 0)
				die("plain forward", &e);
			nash_net_loss(pn, y, 0, NULL, NULL);
			nash_net_zero_grad(pn);
			if (nash_net_backward(pn, NASH_GRAD_WEIGHTS, &e) < 0)
				die("plain backward", &e);
			nash_optim_clip(opt, 5);
			nash_optim_step(opt, 0.025);
		}
		double t1 = nash_now();
		if (nash_search_step(s, &e) < 0)
			die("search step", &e);
		double t2 = nash_now();
		int m = nash_batcher_next(&ab, x, y);
		if (m < 64) {
			nash_batcher_epoch(&ab);
			m = nash_batcher_next(&ab, x, y);
		}
		if (nash_search_arch_grad(s, x, y, m, 1, NULL, NULL, &e) < 0)
			die("arch step", &e);
		double t3 = nash_now();
		if (nash_search_step(s32, &e) < 0)
			die("f32 search step", &e);
		double t4 = nash_now();
		if (r < 0)
			continue;
		tp += t1 - t0;
		ts += t2 - t1;
		rs[r] = (t2 - t1) / (t1 - t0);
		ra[r] = (t3 - t2) / (t1 - t0);
		r32[r] = (t4 - t3) / (t1 - t0);
	}
	double ratio = median(rs, n), aratio = median(ra, n), ratio32 = median(r32, n);
	double wratio = ratio - aratio;   /* weight step / plain pair */
	const char *name = nash_search_arch_bf16(s) ? "bf16" : "f32";
	printf("search: ResNet18-w16 v2 supernet, sampled path, batch 64, %d thread%s, an alpha step at every step (the "
	       "reference): a search step %.3f s, a plain ResNet18-w16 training step %.3f s on average; "
	       "search epoch / plain epoch = %.2f (target <= 3; median of %d interleaved rounds) with the alpha step's "
	       "gates and backward-data in %s; %.2f all in f32 (MAC counts alone imply %.2f for f32); "
	       "the alpha step is %.0f%% of a search step, so with --arch-every 2 the ratio is %.2f, with --arch-every "
	       "5 %.2f\n",
	       threads, threads == 1 ? "" : "s", ts / n, tp / (2 * n), ratio, n, name, ratio32, mac_bound(sg, pg),
	       100 * aratio / ratio, wratio + aratio / 2, wratio + aratio / 5);
	free(rs);
	free(x);
	free(pp);
	nash_batcher_free(&b);
	nash_batcher_free(&ab);
	nash_optim_free(opt);
	nash_net_free(pn);
	nash_search_free(s);
	nash_search_free(s32);
	nash_graph_free(sg);
	nash_graph_free(sg32);
	nash_graph_free(pg);
	nash_dataset_free(d);
	return 0;
}
