/* bench_hwexec.c - integer inference throughput of the hardware-graph
 * executor on ResNet18 width 16 (1x28x28, the NASH reference layout,
 * w2a2: nash-gen | nash-quant --preset w2a2 | nash-stream done through the
 * libraries), batch 64 on every core, against the fake-quant float forward
 * of the same network (lib/nn, eval mode, same batch and cores), measured
 * in the same run. Also per GEMM kernel this CPU runs, and against the
 * float GEMMs alone (oneDNN sgemm of every MVAU's im2col matrix): a floor
 * that any float forward needs before im2col, batch norm and quantizers.
 * The contenders are measured in three interleaved rounds, best of each.
 * On a busy machine (load above the CPU count) it re-executes itself with
 * OMP_WAIT_POLICY=PASSIVE unless a policy is set (spinning threads wait
 * whole time slices for a parked partner, which punishes whoever runs
 * the most parallel regions). */
#include "core/nash.h"
#include "hwexec/hwexec.h"
#include "models/models.h"
#include "nn/nn.h"
#include "quant/quant.h"
#include "streamline/streamline.h"

#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BATCH 64

static double int_rate(const nash_graph *g, const char *isa, const uint8_t *x, const char **kname)
{
	nash_err e;
	if (isa)
		setenv("NASH_HWEXEC_ISA", isa, 1);
	nash_hwnet *h = nash_hwnet_new(g, BATCH, 0, &e);
	unsetenv("NASH_HWEXEC_ISA");
	if (!h)
		return -1;
	*kname = nash_hwnet_kernel(h);
	if (nash_hwnet_run(h, x, BATCH, &e) < 0) { /* warm-up */
		fprintf(stderr, "bench_hwexec: %s\n", e.msg);
		exit(1);
	}
	double t0 = nash_now(), t;
	int n = 0;
	do {
		nash_hwnet_run(h, x, BATCH, &e);
		n += BATCH;
		t = nash_now() - t0;
	} while (t < 1.0);
	nash_hwnet_free(h);
	return n / t;
}

/* images/s of the float GEMMs alone (every MVAU as an sgemm over the batch) */
static double float_floor(const nash_graph *g)
{
	int64_t maxa = 0, maxb = 0, maxc = 0;
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		if (strcmp(n->op, "MVAU"))
			continue;
		const nash_tensor *x = nash_graph_shape(g, n->in[0]);
		int64_t mw = nash_attr_int(n, "MW", 0), mh = nash_attr_int(n, "MH", 0);
		int64_t pix = nash_tensor_numel(x) / mw * BATCH;
		if (pix * mw > maxa) maxa = pix * mw;
		if (mw * mh > maxb) maxb = mw * mh;
		if (pix * mh > maxc) maxc = pix * mh;
	}
	float *a = nash_alloc((size_t)maxa * 4), *b = nash_alloc((size_t)maxb * 4), *c = nash_alloc((size_t)maxc * 4);
	for (int64_t i = 0; i < maxa; i++)
		a[i] = (float)(i % 7) - 3;
	for (int64_t i = 0; i < maxb; i++)
		b[i] = (float)(i % 3) - 1;
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = nash_now();
		for (int i = 0; i < g->nnodes; i++) {
			const nash_node *n = g->nodes[i];
			if (strcmp(n->op, "MVAU"))
				continue;
			const nash_tensor *x = nash_graph_shape(g, n->in[0]);
			int64_t mw = nash_attr_int(n, "MW", 0), mh = nash_attr_int(n, "MH", 0);
			int64_t pix = nash_tensor_numel(x) / mw * BATCH;
			dnnl_sgemm('N', 'N', pix, mh, mw, 1.0f, a, mw, b, mh, 0.0f, c, mh);
		}
		double t = nash_now() - t0;
		if (t < best)
			best = t;
	}
	free(a), free(b), free(c);
	return BATCH / best;
}

static void need(int ok, const char *what, const nash_err *e)
{
	if (!ok) {
		fprintf(stderr, "bench_hwexec: %s: %s\n", what, e->msg);
		exit(1);
	}
}

/* the fake-quant ResNet18 w16 w2a2 and its streamlined hardware graph */
static void build(nash_graph **fq, nash_graph **hw)
{
	nash_err e = {{0}};
	nash_model_opts mo = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 16, .ref_style = 1};
	nash_graph *g = nash_model_build(&mo, &e);
	need(g != NULL, "build", &e);
	nash_quant_opts qo = {.preset = "w2a2"};
	need(nash_quant_preset("w2a2", "resnet18", &qo.bits, &e) == 0, "preset", &e);
	nash_quant_resolve(&qo.bits, "resnet18");
	nash_quant_result qr;
	memset(&qr, 0, sizeof qr);
	need(nash_quant_apply(g, &qo, &qr, &e) == 0, "quant", &e);
	nash_quant_result_free(&qr);
	nash_graph *h = nash_graph_copy(g);
	nash_stream_opts so = {0};
	need(nash_streamline(h, &so, &e) == 0, "streamline", &e);
	need(nash_graph_validate(h, &e) == 0, "validate", &e);
	*fq = g;
	*hw = h;
}

static double float_rate(nash_graph *g, const uint8_t *px)
{
	nash_err e = {{0}};
	nash_net_opts o = {.batch = BATCH};
	nash_net *net = nash_net_new(g, &o, &e);
	need(net != NULL, "nash_net_new", &e);
	float *x = nash_alloc(BATCH * 784 * sizeof *x);
	for (int i = 0; i < BATCH * 784; i++)
		x[i] = px[i] / 255.0f;
	need(nash_net_forward(net, x, BATCH, &e) == 0, "forward", &e);
	double t0 = nash_now(), t;
	int n = 0;
	do {
		nash_net_forward(net, x, BATCH, &e);
		n += BATCH;
		t = nash_now() - t0;
	} while (t < 1.0);
	free(x);
	nash_net_free(net);
	return n / t;
}

static double load1(void)
{
	double l = 0;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = 0;
		fclose(f);
	}
	return l;
}

int main(int argc, char **argv)
{
	(void)argc;
	int ncpu = 1;
#ifdef _OPENMP
	ncpu = omp_get_num_procs();
#endif
	if (!getenv("OMP_WAIT_POLICY") && load1() >= ncpu && !getenv("NASH_BENCH_REEXEC")) {
		setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
		setenv("NASH_BENCH_REEXEC", "1", 1);
		execv("/proc/self/exe", argv);
	}
	if (getenv("NASH_BENCH_REEXEC"))
		printf("bench_hwexec: machine busy (load %.1f on %d CPUs): OMP_WAIT_POLICY=PASSIVE for this run\n", load1(),
		       ncpu);
	nash_graph *fq, *g;
	build(&fq, &g);
	nash_counts cnt;
	nash_err e;
	nash_graph_count(g, &cnt, &e);
	uint8_t *x = nash_alloc(BATCH * 784);
	nash_rng r;
	nash_rng_seed(&r, 1);
	for (int i = 0; i < BATCH * 784; i++)
		x[i] = (uint8_t)nash_rng_below(&r, 256);
	const char *isas[] = {NULL, "avx2", "sse2", "scalar"};
	int nk = getenv("BENCH_BEST_ONLY") ? 1 : 4; /* for profiling */
	double fqr = 0, flo = 0, rate[4] = {0, 0, 0, 0};
	const char *kn[4] = {NULL, NULL, NULL, NULL};
	for (int round = 0; round < 3; round++) {
		double v = float_rate(fq, x);
		fqr = v > fqr ? v : fqr;
		v = float_floor(g);
		flo = v > flo ? v : flo;
		for (int i = 0; i < nk; i++) {
			if (round > 0 && i == 3)
				continue; /* the scalar kernel is only a reference */
			v = int_rate(g, isas[i], x, &kn[i]);
			rate[i] = v > rate[i] ? v : rate[i];
		}
	}
	printf("bench_hwexec: ResNet18 w16 w2a2 28x28 (%.1f MMAC/image), batch %d, every core, best of 3 rounds\n",
	       cnt.macs / 1e6, BATCH);
	printf("  fake-quant float forward (lib/nn):                 %8.0f images/s\n", fqr);
	printf("  float GEMM floor (oneDNN sgemm of the MVAUs alone): %8.0f images/s\n", flo);
	for (int i = 0; i < nk; i++) {
		if (rate[i] <= 0)
			continue;
		printf("  integer executor, %-6s kernel%s: %8.0f images/s  %5.1f GMAC/s  %5.2fx fake-quant forward  %5.2fx float GEMM floor\n",
		       kn[i], isas[i] ? "       " : " (best)", rate[i], rate[i] * cnt.macs / 1e9, rate[i] / fqr, rate[i] / flo);
	}
	free(x);
	nash_graph_free(g);
	nash_graph_free(fq);
	return 0;
}
