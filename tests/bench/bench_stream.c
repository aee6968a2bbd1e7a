/* bench_stream.c - how long streamlining takes: ResNet18 of base width 64
 * (11 M weights) as nash-quant quantizes it (w2a2, 8-bit stem, downsample and
 * classifier), with the small 28x28 stem and the 224x224 ImageNet stem, and
 * the NASH v1 network of nash-stream(1)'s example; against the 1 s budget
 * and against encoding the same graph to a nash(5) record (the I/O a tool
 * pays anyway), measured in this run. */
#include "models/models.h"
#include "quant/quant.h"
#include "streamline/streamline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of this process: on a shared machine the wall clock also
 * counts the time others' jobs hold the cores. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nash_graph *make(int imagenet, int width, const char *geno)
{
	nash_err e;
	nash_model_opts mo;
	memset(&mo, 0, sizeof mo);
	mo.arch = "resnet18";
	mo.width = width;
	mo.in_c = imagenet ? 3 : 1;
	mo.in_h = mo.in_w = imagenet ? 224 : 28;
	mo.genotype = geno;
	mo.version = geno ? 1 : 0;
	nash_graph *g = nash_model_build(&mo, &e);
	nash_quant_opts qo;
	memset(&qo, 0, sizeof qo);
	qo.preset = "w2a2";
	nash_quant_result qr;
	memset(&qr, 0, sizeof qr);
	if (!g || nash_quant_preset("w2a2", "resnet18", &qo.bits, &e) < 0) {
		fprintf(stderr, "bench_stream: %s\n", e.msg);
		exit(1);
	}
	nash_quant_resolve(&qo.bits, "resnet18");
	if (nash_quant_apply(g, &qo, &qr, &e) < 0) {
		fprintf(stderr, "bench_stream: %s\n", e.msg);
		exit(1);
	}
	nash_quant_result_free(&qr);
	return g;
}

static void bench(const char *label, nash_graph *g)
{
	nash_err e;
	/* the cost of writing the quantized graph once, for scale */
	double t0 = nash_now();
	unsigned char *buf;
	size_t n;
	nash_encode_graph(g, &buf, &n, &e);
	double enc = nash_now() - t0;
	free(buf);
	double best = 1e9, cpu = 1e9;
	for (int r = 0; r < 3; r++) {
		nash_graph *c = nash_graph_copy(g);
		t0 = nash_now();
		double c0 = cpu_now();
		if (nash_streamline(c, NULL, &e) < 0) {
			fprintf(stderr, "bench_stream: %s\n", e.msg);
			exit(1);
		}
		double t = nash_now() - t0, tc = cpu_now() - c0;
		best = t < best ? t : best;
		cpu = tc < cpu ? tc : cpu;
		nash_graph_free(c);
	}
	printf("stream: %s: %.3f s wall, %.3f s CPU (%.0f%% of the 1 s budget; %.1fx the time to encode the %.0f MB "
	       "graph)\n", label, best, cpu, 100 * best, best / enc, (double)n / 1e6);
}

int main(void)
{
	nash_graph *g = make(0, 64, NULL);
	bench("ResNet18 w64, 1x28x28, w2a2", g);
	nash_graph_free(g);
	g = make(1, 64, NULL);
	bench("ResNet18 w64, 3x224x224, w2a2", g);
	nash_graph_free(g);
	g = make(0, 16, "c3@0,sk@1,-,mp@2/c3@0,c1@1,-,sk@0/c3@0,-,-,-/c5@0,-,-,-");
	bench("NASH v1 ResNet18 w16, 1x28x28, w2a2", g);
	nash_graph_free(g);
	return 0;
}
