/* test_stream_nets.c - whole-graph equivalence: every backbone (tfc, cnv,
 * ResNet18 with the small stem) and the NASH versions v1..v4 (skip_connect
 * at stride 2, max_pool at strides 1 and 2, conv_1x1/3x3/5x5), at several
 * bit widths, quantized as nash-ops(7) describes (test_stream_fix.h), are
 * streamlined with the reference interpreter checking after every pass;
 * the result must compute the same logits as the fake-quant graph on
 * random images (to 1e-9 of the largest logit: exact up to the double
 * rounding of the float graph), hold only hardware operators on integer
 * tensors, carry what nash-est needs (lib/hw builds its layer list), and
 * use more than one level in its threshold units (the fixture's
 * calibration makes the check meaningful). */
#include "test_stream_fix.h"
#include "hw/hw.h"
#include "hwexec/hwexec.h"
#include "unit.h"

#include <string.h>

static int all_integer(const nash_graph *g, char *why, size_t n)
{
	for (int i = 0; i < g->nnodes; i++) {
		if (!nash_hw_is_hw_op(g->nodes[i]->op)) {
			snprintf(why, n, "node %s is %s", g->nodes[i]->name, g->nodes[i]->op);
			return 0;
		}
		if (!strcmp(g->nodes[i]->op, "DuplicateStreams") && g->nodes[i]->nout > 4) {
			snprintf(why, n, "node %s has %d outputs (nash-hls: 2 to 4)", g->nodes[i]->name, g->nodes[i]->nout);
			return 0;
		}
	}
	for (int i = 0; i < g->ntensors; i++) {
		const nash_tensor *t = g->tensors[i];
		if (!nash_datatype_is_int(t->datatype) || t->dtype == NASH_F32) {
			snprintf(why, n, "tensor %s has no integer datatype", t->name);
			return 0;
		}
	}
	for (int i = 0; i < g->nin; i++)
		if (strcmp(nash_datatype_name(g->inputs[i].datatype, (char[16]){0}), "UINT8") != 0) {
			snprintf(why, n, "input %s is not UINT8", g->inputs[i].name);
			return 0;
		}
	return 1;
}

/* The integer executor (lib/hwexec) runs g and gives the reference
 * interpreter's outputs bit for bit on n random images. */
static int hwexec_agrees(const nash_graph *g, int n, nash_err *e)
{
	const nash_io *io = &g->inputs[0];
	int64_t numel = nash_shape_numel(io->ndim, io->shape);
	int C = io->ndim == 3 ? (int)io->shape[2] : 1, H = io->ndim == 3 ? (int)io->shape[0] : 1;
	int W = io->ndim == 3 ? (int)io->shape[1] : (int)numel;
	if (io->shape[0] == 1 && io->shape[1] == 1)
		C = 1, H = 1, W = (int)numel;
	uint8_t *px = nash_alloc((size_t)(n * numel));
	nash_rng r;
	nash_rng_seed(&r, 5);
	for (int64_t k = 0; k < n * numel; k++)
		px[k] = (uint8_t)nash_rng_below(&r, 256);
	nash_hwnet *h = nash_hwnet_new(g, n, 1, e);
	nash_ref *ref = nash_ref_new(g, e);
	double *x = nash_alloc((size_t)numel * sizeof *x);
	int ok = h && ref && nash_hwnet_run(h, px, n, e) == 0;
	for (int i = 0; i < n && ok; i++) {
		int k;
		nash_hwout kind;
		const int64_t *o = nash_hwnet_output(h, &k, &kind);
		nash_ref_pixels(g, 0, px + i * numel, C, H, W, x, e);
		const double *in[1] = {x};
		int64_t m;
		ok = nash_ref_run(ref, in, e) == 0;
		const double *v = ok ? nash_ref_output(ref, 0, &m) : NULL;
		ok = ok && m == k;
		for (int j = 0; ok && j < k; j++)
			ok = (double)o[i * k + j] == v[j];
		if (!ok && e->msg[0] == 0)
			snprintf(e->msg, sizeof e->msg, "image %d differs", i);
	}
	nash_hwnet_free(h);
	nash_ref_free(ref);
	free(x);
	free(px);
	return ok;
}

/* Share of threshold units whose output takes more than one value on a
 * few random images. */
static double lively(const nash_graph *g)
{
	nash_err e;
	nash_ref *r = nash_ref_new(g, &e);
	if (!r)
		return 0;
	const nash_io *io = &g->inputs[0];
	int64_t numel = nash_shape_numel(io->ndim, io->shape);
	uint8_t *img = nash_alloc((size_t)numel);
	double *x = nash_alloc((size_t)numel * sizeof *x);
	int units = 0, alive = 0;
	nash_rng rng;
	nash_rng_seed(&rng, 99);
	/* random pixels: their layout does not matter here */
	for (int64_t k = 0; k < numel; k++)
		x[k] = img[k] = (uint8_t)nash_rng_below(&rng, 256);
	const double *in[1] = {x};
	if (nash_ref_run(r, in, &e) == 0)
		for (int i = 0; i < g->nnodes; i++) {
			const nash_node *n = g->nodes[i];
			if (!(strcmp(n->op, "Thresholding") == 0 || (strcmp(n->op, "MVAU") == 0 && n->nin > 2)))
				continue;
			int64_t m;
			const double *v = nash_ref_tensor(r, n->out[0], &m);
			int diff = 0;
			for (int64_t k = 1; k < m && !diff; k++)
				diff = v[k] != v[0];
			units++;
			alive += diff;
		}
	free(img);
	free(x);
	nash_ref_free(r);
	return units ? (double)alive / units : 0;
}

static void net(const char *label, const char *arch, int width, int version, const char *geno, sfix_opts o,
                int check, int compare_n, int topk)
{
	const char *input = !strncmp(arch, "resnet", 6) ? "1x28x28" : NULL;
	nash_graph *g = sfix_model(arch, !strncmp(arch, "resnet", 6) ? width : 0, input, version, geno, &o);
	nash_graph *orig = nash_graph_copy(g);
	nash_err e = {{0}};
	nash_stream_opts so = {0};
	so.check = check;
	so.seed = 3;
	so.topk = topk;
	double t0 = nash_now();
	int rc = nash_streamline(g, &so, &e);
	double dt = nash_now() - t0;
	CHECK(rc == 0, "%s: streamlined%s in %.2f s (%s)", label, check ? " with a check after every pass" : "", dt,
	      rc ? e.msg : "");
	if (rc == 0) {
		CHECK(nash_stream_compare(orig, g, compare_n, 11, &e) == 0, "%s: same logits as the fake-quant graph on %d "
		      "random images (%s)", label, compare_n, e.msg);
		char why[256] = "";
		CHECK(all_integer(g, why, sizeof why), "%s: hardware operators and integer tensors only (%s)", label, why);
		const nash_hw_device *dev = nash_hw_device_find("xczu7ev", &e);
		nash_hw_design d;
		int ok = nash_hw_design_init(&d, g, dev, 200, &e) == 0;
		if (ok) {
			nash_hw_evaluate(&d);
			ok = d.fps > 0 && d.total.lut > 0;
			nash_hw_design_free(&d);
		}
		CHECK(ok, "%s: nash-est's layer list builds and costs it (%s)", label, ok ? "" : e.msg);
		e.msg[0] = 0;
		CHECK(hwexec_agrees(g, 4, &e), "%s: the integer executor gives the reference's outputs bit for bit (%s)", label,
		      e.msg);
		double lv = lively(g);
		CHECK(lv >= 0.75, "%s: %.0f%% of the threshold units use more than one level", label, 100 * lv);
	}
	nash_graph_free(orig);
	nash_graph_free(g);
}

int main(void)
{
	sfix_opts w2a2 = sfix_default(), w1a1 = sfix_default(), w4a4 = sfix_default(), w1a2 = sfix_default();
	w1a1.wbits = w1a1.abits = 1;
	w1a1.bipolar_act = 1;
	w1a1.nas_bits = 1;
	w4a4.wbits = w4a4.abits = 4;
	w1a2.wbits = 1;
	w1a2.nas_bits = 1;

	/* the BNN-PYNQ backbones */
	net("tfc w1a1", "tfc", 0, 0, NULL, w1a1, 2, 8, 0);
	w1a1.last_per_tensor = 1;
	net("tfc w1a1 top-3", "tfc", 0, 0, NULL, w1a1, 2, 8, 3);
	net("tfc w2a2", "tfc", 0, 0, NULL, (sfix_opts){2, 2, 8, 8, 8, 8, 4, 0, 0, 1, 0, 5}, 2, 8, 0);
	net("cnv w1a1", "cnv", 0, 0, NULL, w1a1, 0, 2, 1);

	/* ResNet18, small stem */
	net("resnet18 w8 w2a2", "resnet18", 8, 0, NULL, w2a2, 2, 4, 0);
	net("resnet18 w4 w4a4", "resnet18", 4, 0, NULL, w4a4, 2, 4, 0);
	net("resnet18 w4 w1a2", "resnet18", 4, 0, NULL, w1a2, 2, 4, 0);

	/* nash-quant's classifier: one weight scale, an Int32 bias (it joins the
	 * integer logits as a constant input), logits or the top class */
	sfix_opts cls = w2a2;
	cls.last_per_tensor = 1;
	net("resnet18 w4 w2a2, classifier with bias", "resnet18", 4, 0, NULL, cls, 2, 4, 0);
	net("resnet18 w4 w2a2, classifier with bias, top-1", "resnet18", 4, 0, NULL, cls, 0, 4, 1);

	/* NASH versions: skip at stride 2, max-pool at stride 1 and 2 (v1
	 * duplicates channels), conv_5x5; v2 and v3 genotypes; v4 convs only */
	net("nash v1 (sk@0 stride 2, mp, c5) w2a2", "resnet18", 4, 1,
	    "c3@0,sk@1,-,mp@2/c3@0,c1@1,-,sk@0/c3@0,-,-,-/c5@0,-,-,-", w2a2, 2, 4, 0);
	net("nash v1 (mp@0 stride 2) w2a2", "resnet18", 4, 1, "c1@0,-,-,-/mp@0,sk@1,c3@2,-/sk@0,-,mp@0,-/c5@0,c1@1,-,-",
	    w2a2, 2, 4, 0);
	net("nash v2 w2a2", "resnet18", 4, 2, "c3@0,mp@1,sk@0,-/c1@0,c3@1,sk@2,mp@3/c5@0,-,-,c1@1/c3@0,sk@1,-,-", w2a2, 2,
	    4, 0);
	net("nash v3 w2a2, binary NAS convs", "resnet18", 4, 3, "sk@0,mp@1,c3@2,-/sk@0,c5@1,-,-/mp@0,-,c1@1,-/c3@0,-,-,sk@3",
	    w1a2, 2, 4, 0);
	net("nash v4 w4a4", "resnet18", 4, 4, "c1@0,c3@1,c5@2,-/c5@0,c1@0,c3@2,c1@3/c3@0,-,-,-/c1@0,c5@1,-,-", w4a4, 2, 4,
	    0);
	UNIT_DONE();
}
