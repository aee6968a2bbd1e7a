/* bench_hwexec.c - integer inference throughput of the hardware-graph
 * executor on ResNet18 width 16 (28x28 input; the test fixture's hardware
 * graph, 28.8 MMAC per image), batch 64 on every core, for each GEMM
 * kernel this CPU runs.
 *
 * The comparison the issue asks for is the fake-quant float forward of the
 * same network. Its floor is measured here in the same run: the float
 * GEMMs alone (oneDNN sgemm of every MVAU's im2col matrix, batch 64,
 * every core), which any float forward needs and then adds im2col,
 * batch norm, quantizers and activations to. "x float GEMM floor" is
 * therefore a lower bound of the speed-up over the fake-quant forward. */
#include "../unit/hwfix.c"
#include "hwexec/hwexec.h"

#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>

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
	} while (t < 1.5);
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

int main(void)
{
	nash_graph *g = hwfix_resnet18(0, 16);
	nash_counts cnt;
	nash_err e;
	nash_graph_count(g, &cnt, &e);
	uint8_t *x = nash_alloc(BATCH * 784);
	nash_rng r;
	nash_rng_seed(&r, 1);
	for (int i = 0; i < BATCH * 784; i++)
		x[i] = (uint8_t)nash_rng_below(&r, 256);
	double flo = float_floor(g);
	printf("bench_hwexec: ResNet18 w16 28x28 (%.1f MMAC/image), batch %d, every core\n", cnt.macs / 1e6, BATCH);
	printf("  float GEMM floor (oneDNN sgemm of the MVAUs alone): %8.0f images/s\n", flo);
	const char *isas[] = {NULL, "avx2", "sse2", "scalar"};
	int nk = getenv("BENCH_BEST_ONLY") ? 1 : 4; /* for profiling */
	for (int i = 0; i < nk; i++) {
		const char *k = NULL;
		double rate = int_rate(g, isas[i], x, &k);
		if (rate < 0)
			continue;
		printf("  integer executor, %-6s kernel%s: %8.0f images/s  %5.1f GMAC/s  %5.2fx float GEMM floor\n", k,
		       isas[i] ? "       " : " (best)", rate, rate * cnt.macs / 1e9, rate / flo);
	}
	free(x);
	nash_graph_free(g);
	return 0;
}
