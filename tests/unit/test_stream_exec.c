/* test_stream_exec.c - the fast executors checked against the reference
 * interpreter of lib/streamline, on the same graphs and images:
 *  - the integer executor (lib/hwexec) on streamlined graphs: the same
 *    integer outputs, bit for bit;
 *  - the float engine (lib/nn) on the fake-quant graphs: float32 against
 *    double, so logits agree to a float32 tolerance except where an
 *    activation sits within float32 rounding of a threshold; the predicted
 *    classes agree on nearly every image.
 * The graphs are nash-quant's (lib/quant) on nash-gen's networks. */
#include "hwexec/hwexec.h"
#include "models/models.h"
#include "nn/nn.h"
#include "quant/quant.h"
#include "streamline/streamline.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nash_graph *quantized(const char *arch, int width, int version, const char *geno, const char *preset)
{
	nash_err e;
	nash_model_opts mo;
	memset(&mo, 0, sizeof mo);
	mo.arch = arch;
	mo.width = width;
	if (!strncmp(arch, "resnet", 6))
		mo.in_c = 1, mo.in_h = mo.in_w = 28;
	mo.version = version;
	mo.genotype = geno;
	mo.seed = 3;
	nash_graph *g = nash_model_build(&mo, &e);
	nash_quant_opts qo;
	memset(&qo, 0, sizeof qo);
	qo.preset = preset;
	if (!g || nash_quant_preset(preset, arch, &qo.bits, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	nash_quant_resolve(&qo.bits, arch);
	nash_quant_result qr;
	memset(&qr, 0, sizeof qr);
	if (nash_quant_apply(g, &qo, &qr, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	nash_quant_result_free(&qr);
	/* give biases and batch norms some size: untrained they are identities */
	nash_rng r;
	nash_rng_seed(&r, 7);
	for (int i = 0; i < g->ntensors; i++) {
		nash_tensor *t = g->tensors[i];
		const char *dot = strrchr(t->name, '.');
		if (!t->data || t->dtype != NASH_F32 || !dot)
			continue;
		int64_t n = nash_tensor_numel(t);
		float *p = t->data;
		if (!strcmp(dot, ".bias") || !strcmp(dot, ".mean"))
			for (int64_t k = 0; k < n; k++)
				p[k] = (float)(0.3 * nash_rng_normal(&r));
		else if (!strcmp(dot, ".scale") && strstr(t->name, "bn"))
			for (int64_t k = 0; k < n; k++)
				p[k] = (float)((nash_rng_uniform(&r) < 0.2 ? -1 : 1) * (0.5 + nash_rng_uniform(&r)));
	}
	if (nash_quant_export(g, &e) < 0) {
		fprintf(stderr, "test: %s\n", e.msg);
		abort();
	}
	return g;
}

static void images(const nash_graph *g, int n, uint8_t **px, int *c, int *h, int *w)
{
	const nash_io *io = &g->inputs[0];
	*c = (int)io->shape[0], *h = (int)io->shape[1], *w = (int)io->shape[2];
	int64_t numel = (int64_t)*c * *h * *w;
	*px = nash_alloc((size_t)(n * numel));
	nash_rng r;
	nash_rng_seed(&r, 21);
	for (int64_t k = 0; k < n * numel; k++)
		(*px)[k] = (uint8_t)nash_rng_below(&r, 256);
}

static void check(const char *label, nash_graph *g, int n)
{
	nash_err e = {{0}};
	uint8_t *px;
	int c, h, w;
	images(g, n, &px, &c, &h, &w);
	int64_t numel = (int64_t)c * h * w;
	double *x = nash_alloc((size_t)numel * sizeof *x);
	/* the float engine against the reference, on the fake-quant graph */
	nash_net_opts no = {n, 0, 1, NASH_RELAX_SAMPLE};
	nash_net *net = nash_net_new(g, &no, &e);
	float *fx = nash_alloc((size_t)(n * numel) * sizeof *fx);
	for (int64_t k = 0; k < n * numel; k++)
		fx[k] = (float)px[k] / 255.0f;
	int ok = net && nash_net_forward(net, fx, n, &e) == 0;
	CHECK(ok, "%s: the float engine runs (%s)", label, e.msg);
	nash_ref *ref = nash_ref_new(g, &e);
	int agree = 0, close = 0;
	double *rl = nash_alloc(4096 * sizeof *rl);
	if (ok && ref) {
		int k;
		const float *lg = nash_net_logits(net, &k);
		for (int i = 0; i < n; i++) {
			nash_ref_pixels(g, 0, px + i * numel, c, h, w, x, &e);
			const double *in[1] = {x};
			if (nash_ref_run(ref, in, &e) < 0)
				break;
			int64_t kk = nash_ref_logits(ref, rl, 4096, NULL);
			int a = 0, b = 0;
			double mx = 1e-30, d = 0;
			for (int j = 0; j < kk; j++) {
				a = rl[j] > rl[a] ? j : a;
				b = lg[i * k + j] > lg[i * k + b] ? j : b;
				mx = fmax(mx, fabs(rl[j]));
				d = fmax(d, fabs(rl[j] - lg[i * k + j]));
			}
			/* an exact tie of the two best logits (binarized nets have
			 * integer logits) is broken by float32 noise: not counted */
			int tie = 0;
			for (int j = 0; j < kk; j++)
				tie |= j != a && fabs(rl[j] - rl[a]) <= 1e-9 * mx;
			agree += a == b || tie;
			close += d <= 1e-3 * mx;
		}
	}
	CHECK(agree >= n - n / 16, "%s: the float engine's class equals the reference's on %d of %d images", label, agree, n);
	CHECK(close >= n / 2, "%s: its logits are within float32 noise of the reference on %d of %d images", label,
	      close, n);
	nash_net_free(net);
	nash_ref_free(ref);
	/* the integer executor against the reference, on the streamlined graph */
	nash_graph *hw = nash_graph_copy(g);
	CHECK(nash_streamline(hw, NULL, &e) == 0, "%s: streamlined (%s)", label, e.msg);
	nash_hwnet *hx = nash_hwnet_new(hw, n, 1, &e);
	ref = nash_ref_new(hw, &e);
	ok = hx && ref && nash_hwnet_run(hx, px, n, &e) == 0;
	CHECK(ok, "%s: the integer executor runs (%s)", label, e.msg);
	int same = 0;
	if (ok) {
		int k;
		nash_hwout kind;
		const int64_t *o = nash_hwnet_output(hx, &k, &kind);
		for (int i = 0; i < n; i++) {
			nash_ref_pixels(hw, 0, px + i * numel, c, h, w, x, &e);
			const double *in[1] = {x};
			int64_t m;
			if (nash_ref_run(ref, in, &e) < 0)
				break;
			const double *v = nash_ref_output(ref, 0, &m);
			int eq = m == k;
			for (int j = 0; j < k && eq; j++)
				eq = (double)o[i * k + j] == v[j];
			same += eq;
		}
	}
	CHECK(same == n, "%s: the integer executor's outputs equal the reference's, bit for bit, on %d of %d images (%s)",
	      label, same, n, e.msg);
	nash_hwnet_free(hx);
	nash_ref_free(ref);
	nash_graph_free(hw);
	free(rl);
	free(x);
	free(fx);
	free(px);
}

int main(void)
{
	nash_graph *g;
	g = quantized("tfc", 0, 0, NULL, "w1a1");
	check("tfc w1a1", g, 32);
	nash_graph_free(g);
	g = quantized("tfc", 0, 0, NULL, "w2a2");
	check("tfc w2a2", g, 32);
	nash_graph_free(g);
	g = quantized("resnet18", 4, 0, NULL, "w2a2");
	check("resnet18 w4 w2a2", g, 16);
	nash_graph_free(g);
	g = quantized("resnet18", 4, 1, "c3@0,sk@1,-,mp@2/c3@0,c1@1,-,sk@0/c3@0,-,-,-/c5@0,-,-,-", "nash-v1");
	check("nash v1 w4 (its preset)", g, 16);
	nash_graph_free(g);
	g = quantized("resnet18", 4, 3, "sk@0,mp@1,c3@2,-/sk@0,c5@1,-,-/mp@0,-,c1@1,-/c3@0,-,-,sk@3", "nash-v3");
	check("nash v3 w4 (its preset)", g, 16);
	nash_graph_free(g);
	UNIT_DONE();
}
