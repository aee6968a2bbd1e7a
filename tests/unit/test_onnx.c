/* test_onnx.c - QONNX export and import: round trips of graphs that
 * nash-quant's library quantizes (structure and tensors exact; the
 * forward of the nn engine and of an independent double-precision
 * reference evaluator bit for bit), inference of the quantizer roles
 * without nash's metadata, HardTanh elision, error paths.
 *
 *   test_onnx                  run the tests (TAP)
 *   test_onnx forward FILE SEED [nn]  logits of the reference evaluator
 *                              (or the nn engine) for the first graph of
 *                              FILE on the image of SEED (the image
 *                              tests/qonnx_models.py makes) */
#include "core/nash.h"
#include "models/models.h"
#include "nn/nn.h"
#include "onnx/qonnx.h"
#include "quant/quant.h"
#include "unit.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixture */

/* nash-gen's graph (ResNets on 1x28x28, the reference code's layout
 * unless torchvision) with random batch-norm statistics. */
static nash_graph *build2(const char *arch, const char *genotype, int width, int torchvision)
{
	nash_model_opts o = {0};
	nash_err e = {{0}};
	o.arch = arch;
	o.width = width;
	o.seed = 7;
	if (!strncmp(arch, "resnet", 6)) {
		o.in_c = 1, o.in_h = 28, o.in_w = 28;
		o.ref_style = !torchvision;
	}
	if (genotype) {
		o.version = 1;
		o.genotype = genotype;
	}
	nash_graph *g = nash_model_build(&o, &e);
	if (!g) {
		fprintf(stderr, "build %s: %s\n", arch, e.msg);
		exit(2);
	}
	/* non-trivial batch-norm statistics so the forward means something */
	nash_rng r;
	nash_rng_seed(&r, 11);
	for (int i = 0; i < g->ntensors; i++) {
		nash_tensor *t = g->tensors[i];
		size_t l = strlen(t->name);
		int var = l > 4 && !strcmp(t->name + l - 4, ".var"), mean = l > 5 && !strcmp(t->name + l - 5, ".mean");
		if (t->data && t->dtype == NASH_F32 && (var || mean))
			for (int64_t k = 0; k < nash_tensor_numel(t); k++)
				((float *)t->data)[k] = var ? 0.5f + (float)nash_rng_uniform(&r) : 0.2f * (float)nash_rng_normal(&r);
	}
	return g;
}

static nash_graph *build(const char *arch, const char *genotype, int width)
{
	return build2(arch, genotype, width, 0);
}

#define NASH_GENO "skip_connect@0,max_pool_3x3@0,conv_5x5@1,conv_1x1@2/skip_connect@0,max_pool_3x3@0,none,conv_3x3@0/c1@0,-,-,-/-,-,-,-"

/* nash-gen's graph through nash-quant's library with a preset. */
static nash_graph *quantized(const char *arch, const char *genotype, int width, const char *preset, int torchvision)
{
	/* torchvision's layout has an FC bias, quantized as a product */
	nash_graph *g = build2(arch, genotype, width, torchvision);
	nash_err e = {{0}};
	nash_quant_opts o = {0};
	nash_quant_result r;
	o.preset = preset;
	if (!g || nash_quant_preset(preset, arch, &o.bits, &e) < 0) {
		fprintf(stderr, "quantized %s: %s\n", arch, e.msg);
		exit(2);
	}
	nash_quant_resolve(&o.bits, arch);
	if (nash_quant_apply(g, &o, &r, &e) < 0) {
		fprintf(stderr, "nash_quant_apply %s: %s\n", arch, e.msg);
		exit(2);
	}
	nash_quant_result_free(&r);
	char *name = nash_strfmt("%s-%s", g->name, preset);
	nash_graph_rename(g, name);
	free(name);
	return g;
}

static nash_graph *fixture(const char *which)
{
	if (!strcmp(which, "tfc"))
		return quantized("tfc", NULL, 0, "w2a2", 0);
	if (!strcmp(which, "tfc-w1a1"))
		return quantized("tfc", NULL, 0, "w1a1", 0);
	if (!strcmp(which, "cnv"))
		return quantized("cnv", NULL, 0, "w1a2", 0);
	if (!strcmp(which, "resnet"))
		return quantized("resnet18", NULL, 4, "w2a2", 1);
	if (!strcmp(which, "nash"))
		return quantized("resnet18", NASH_GENO, 4, "nash-v1", 0);
	fprintf(stderr, "unknown fixture %s\n", which);
	exit(2);
}

/* Logits of the nn engine for n images (the images of seeds 0..n-1). */
static float *nn_forward(nash_graph *g, int n, int64_t *k, nash_err *e)
{
	nash_net_opts o = {n, 0, 1, NASH_RELAX_SAMPLE};
	nash_net *net = nash_net_new(g, &o, e);
	if (!net)
		return NULL;
	int64_t per = nash_shape_numel(g->inputs[0].ndim, g->inputs[0].shape);
	float *x = malloc((size_t)(per * n) * sizeof *x), *out = NULL;
	for (int s = 0; s < n; s++)
		for (int64_t j = 0; j < per; j++)
			x[s * per + j] = (float)((j * 37 + s * 101) % 256) / 255.0f;
	if (nash_net_forward(net, x, n, e) == 0) {
		int kk;
		const float *y = nash_net_logits(net, &kk);
		*k = kk;
		out = malloc((size_t)(kk * n) * sizeof *out);
		memcpy(out, y, (size_t)(kk * n) * sizeof *out);
	}
	free(x);
	nash_net_free(net);
	return out;
}

/* The nn engine gives both graphs the same logits, bit for bit. */
static int same_nn(nash_graph *a, nash_graph *b, int n, char *why, size_t nw)
{
	nash_err e = {{0}};
	int64_t ka = 0, kb = 0;
	float *ya = nn_forward(a, n, &ka, &e);
	if (!ya)
		return snprintf(why, nw, "nn on %s: %s", a->name, e.msg), 0;
	float *yb = nn_forward(b, n, &kb, &e);
	int ok = yb && ka == kb && !memcmp(ya, yb, (size_t)(ka * n) * sizeof *ya);
	if (!yb)
		snprintf(why, nw, "nn on %s: %s", b->name, e.msg);
	else if (!ok)
		snprintf(why, nw, "logits differ (%g vs %g first)", ya[0], yb[0]);
	free(ya);
	free(yb);
	return ok;
}

/* ------------------------------------------- reference forward (float) */
/* An independent evaluator of the float-level ops with fake quantization,
 * written from nash-ops(7), for one image; enough to compare graphs. Sums
 * accumulate in double and are stored as float; quantizers compute in
 * float (as QONNX's numpy reference, torch and the nn engine do: at an
 * exact tie of x / scale the precision decides the rounding). */

typedef struct rt { char *name; int nd; int64_t d[4]; float *v; } rt;
typedef struct ref { rt **t; int n; } ref;  /* entries never move */

static rt *rfind(ref *r, const nash_graph *g, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->t[i]->name, name))
			return r->t[i];
	const nash_tensor *p = nash_tensor_find(g, name);
	if (!p || !p->data || p->dtype != NASH_F32)
		return NULL;
	r->t = realloc(r->t, (size_t)(r->n + 1) * sizeof *r->t);
	rt *t = r->t[r->n++] = calloc(1, sizeof *t);
	t->name = nash_strdup(name);
	t->nd = p->ndim;
	memcpy(t->d, p->shape, sizeof t->d);
	t->v = malloc((size_t)nash_tensor_numel(p) * sizeof(float) + 4);
	memcpy(t->v, p->data, (size_t)nash_tensor_numel(p) * sizeof(float));
	return t;
}

static rt *rnew(ref *r, const char *name, int nd, const int64_t *d)
{
	r->t = realloc(r->t, (size_t)(r->n + 1) * sizeof *r->t);
	rt *t = r->t[r->n++] = calloc(1, sizeof *t);
	t->name = nash_strdup(name);
	t->nd = nd;
	memset(t->d, 0, sizeof t->d);
	memcpy(t->d, d, (size_t)nd * sizeof *d);
	t->v = calloc((size_t)nash_shape_numel(nd, d) + 1, sizeof(float));
	return t;
}

static int64_t numel(const rt *t) { return nash_shape_numel(t->nd, t->d); }

/* broadcast index of element k of shape (nd, d) into t */
static int64_t bidx(const rt *t, int nd, const int64_t *d, int64_t k)
{
	int64_t off = 0, mul = 1;
	for (int i = nd - 1; i >= 0; i--) {
		int64_t c = k % d[i];
		k /= d[i];
		int ti = t->nd - nd + i;
		if (ti >= 0) {
			if (t->d[ti] != 1)
				off += c * mul;
			mul *= t->d[ti];
		}
	}
	return off;
}

static double rround(double x, const char *mode)
{
	if (!strcmp(mode, "FLOOR"))
		return floor(x);
	if (!strcmp(mode, "CEIL"))
		return ceil(x);
	return nearbyint(x);  /* ties to even in the default rounding mode */
}

static int ref_node(ref *r, const nash_graph *g, const nash_node *n)
{
	rt *x = rfind(r, g, n->in[0]);
	if (!x)
		return -1;
	const char *op = n->op;
	int64_t d[4];
	int xnd = x->nd;  /* rnew may move x */
	memcpy(d, x->d, sizeof d);
	if (!strcmp(op, "Quant") || !strcmp(op, "BipolarQuant") || !strcmp(op, "Trunc")) {
		rt *s = rfind(r, g, n->in[1]);
		rt *y = rnew(r, n->out[0], xnd, d);
		x = rfind(r, g, n->in[0]);
		double lo = -1, hi = 1, z = 0, sh = 1;
		const char *mode = nash_attr_str(n, "rounding_mode", !strcmp(op, "Trunc") ? "FLOOR" : "ROUND");
		if (!strcmp(op, "Quant")) {
			z = rfind(r, g, n->in[2])->v[0];
			int b = (int)rfind(r, g, n->in[3])->v[0];
			nash_qrange(b, (int)nash_attr_int(n, "signed", 1), (int)nash_attr_int(n, "narrow", 0), &lo, &hi);
		} else if (!strcmp(op, "Trunc")) {
			z = rfind(r, g, n->in[2])->v[0];
			sh = ldexp(1, (int)rfind(r, g, n->in[3])->v[0] - (int)rfind(r, g, n->in[4])->v[0]);
		}
		s = rfind(r, g, n->in[1]);
		/* quantizers in float, as QONNX's reference and torch compute them */
		float zf = (float)z, shf = (float)sh, lof = (float)lo, hif = (float)hi;
		for (int64_t k = 0; k < numel(y); k++) {
			float sc = s->v[bidx(s, x->nd, x->d, k)], v = x->v[k];
			if (!strcmp(op, "BipolarQuant"))
				y->v[k] = v >= 0 ? sc : -sc;
			else if (!strcmp(op, "Trunc"))
				y->v[k] = ((float)rround(rintf(v / sc + zf) / shf, mode) - zf) * sc;
			else {
				float q = (float)rround(v / sc + zf, mode);
				q = q < lof ? lof : q > hif ? hif : q;
				y->v[k] = (q - zf) * sc;
			}
		}
		return 0;
	}
	if (!strcmp(op, "Relu") || !strcmp(op, "HardTanh") || !strcmp(op, "Identity")) {
		rt *y = rnew(r, n->out[0], xnd, d);
		x = rfind(r, g, n->in[0]);
		double lo = !strcmp(op, "Relu") ? 0 : !strcmp(op, "HardTanh") ? nash_attr_float(n, "min_val", -1) : -INFINITY;
		double hi = !strcmp(op, "HardTanh") ? nash_attr_float(n, "max_val", 1) : INFINITY;
		for (int64_t k = 0; k < numel(y); k++)
			y->v[k] = (float)fmin(fmax(x->v[k], lo), hi);
		return 0;
	}
	if (!strcmp(op, "Add") || !strcmp(op, "Mul")) {
		rt *b = rfind(r, g, n->in[1]);
		int nd = x->nd > b->nd ? x->nd : b->nd;
		for (int i = 0; i < nd; i++) {
			int ix = x->nd - nd + i, ib = b->nd - nd + i;
			int64_t dx = ix >= 0 ? x->d[ix] : 1, db = ib >= 0 ? b->d[ib] : 1;
			d[i] = dx == 1 ? db : dx;
		}
		rt *y = rnew(r, n->out[0], nd, d);
		x = rfind(r, g, n->in[0]);
		b = rfind(r, g, n->in[1]);
		for (int64_t k = 0; k < numel(y); k++) {
			float u = x->v[bidx(x, nd, d, k)], w = b->v[bidx(b, nd, d, k)];
			y->v[k] = *op == 'A' ? u + w : u * w;
		}
		return 0;
	}
	if (!strcmp(op, "BatchNormalization")) {
		rt *y = rnew(r, n->out[0], xnd, d);
		x = rfind(r, g, n->in[0]);
		rt *sc = rfind(r, g, n->in[1]), *bi = rfind(r, g, n->in[2]), *me = rfind(r, g, n->in[3]), *va = rfind(r, g, n->in[4]);
		int64_t c = x->d[0], hw = numel(x) / c;
		double eps = nash_attr_float(n, "epsilon", 1e-5);
		for (int64_t i = 0; i < c; i++)
			for (int64_t k = 0; k < hw; k++)
				y->v[i * hw + k] = (float)((x->v[i * hw + k] - me->v[i]) / sqrt(va->v[i] + eps) * sc->v[i] + bi->v[i]);
		return 0;
	}
	if (!strcmp(op, "Flatten")) {
		int64_t k = numel(x);
		rt *y = rnew(r, n->out[0], 1, &k);
		x = rfind(r, g, n->in[0]);
		memcpy(y->v, x->v, (size_t)k * sizeof(float));
		return 0;
	}
	if (!strcmp(op, "Gemm")) {
		rt *w = rfind(r, g, n->in[1]), *b = n->nin > 2 && n->in[2][0] ? rfind(r, g, n->in[2]) : NULL;
		int64_t m = w->d[0], kk = w->d[1];
		rt *y = rnew(r, n->out[0], 1, &m);
		x = rfind(r, g, n->in[0]);
		w = rfind(r, g, n->in[1]);
		b = n->nin > 2 && n->in[2][0] ? rfind(r, g, n->in[2]) : NULL;
		for (int64_t o = 0; o < m; o++) {
			double acc = b ? b->v[o] : 0;
			for (int64_t i = 0; i < kk; i++)
				acc += (double)x->v[i] * w->v[o * kk + i];
			y->v[o] = (float)acc;
		}
		return 0;
	}
	if (!strcmp(op, "GlobalAveragePool")) {
		int64_t od[3] = {x->d[0], 1, 1}, hw = x->d[1] * x->d[2];
		rt *y = rnew(r, n->out[0], 3, od);
		x = rfind(r, g, n->in[0]);
		for (int64_t c = 0; c < x->d[0]; c++) {
			double acc = 0;
			for (int64_t k = 0; k < hw; k++)
				acc += x->v[c * hw + k];
			y->v[c] = (float)(acc / (double)hw);
		}
		return 0;
	}
	if (!strcmp(op, "Concat")) {
		int64_t c = 0;
		for (int i = 0; i < n->nin; i++)
			c += rfind(r, g, n->in[i])->d[0];
		d[0] = c;
		rt *y = rnew(r, n->out[0], 3, d);
		int64_t off = 0;
		for (int i = 0; i < n->nin; i++) {
			rt *t = rfind(r, g, n->in[i]);
			memcpy(y->v + off, t->v, (size_t)numel(t) * sizeof(float));
			off += numel(t);
		}
		return 0;
	}
	if (!strcmp(op, "Slice")) {
		int64_t st[4] = {0}, en[4], ax[4], c;
		c = nash_attr_ints(n, "starts", st, 4);
		nash_attr_ints(n, "ends", en, 4);
		nash_attr_ints(n, "axes", ax, 4);
		int64_t s3[3] = {0, 0, 0};
		for (int i = 0; i < c; i++) {
			int a = (int)ax[i] - 1;
			int64_t e = en[i] > d[a] ? d[a] : en[i];
			s3[a] = st[i];
			d[a] = e - st[i];
		}
		rt *y = rnew(r, n->out[0], 3, d);
		x = rfind(r, g, n->in[0]);
		for (int64_t a = 0; a < d[0]; a++)
			for (int64_t b = 0; b < d[1]; b++)
				for (int64_t e = 0; e < d[2]; e++)
					y->v[(a * d[1] + b) * d[2] + e] = x->v[((a + s3[0]) * x->d[1] + b + s3[1]) * x->d[2] + e + s3[2]];
		return 0;
	}
	if (!strcmp(op, "Pad")) {
		int64_t p[8] = {0};
		nash_attr_ints(n, "pads", p, 8);  /* batch, C, H, W begins, then ends */
		int64_t od[3] = {d[0] + p[1] + p[5], d[1] + p[2] + p[6], d[2] + p[3] + p[7]};
		rt *y = rnew(r, n->out[0], 3, od);
		x = rfind(r, g, n->in[0]);
		float val = (float)nash_attr_float(n, "value", 0);
		for (int64_t k = 0; k < numel(y); k++)
			y->v[k] = val;
		for (int64_t a = 0; a < d[0]; a++)
			for (int64_t b = 0; b < d[1]; b++)
				for (int64_t c = 0; c < d[2]; c++)
					y->v[((a + p[1]) * od[1] + b + p[2]) * od[2] + c + p[3]] = x->v[(a * d[1] + b) * d[2] + c];
		return 0;
	}
	if (!strcmp(op, "Conv") || !strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
		int conv = *op == 'C', avg = *op == 'A';
		rt *w = conv ? rfind(r, g, n->in[1]) : NULL;
		int64_t k[2], s[2] = {1, 1}, p[4] = {0, 0, 0, 0};
		if (conv)
			k[0] = w->d[2], k[1] = w->d[3];
		else
			nash_attr_ints(n, "kernel_shape", k, 2);
		nash_attr_ints(n, "strides", s, 2);
		nash_attr_ints(n, "pads", p, 4);
		int64_t od[3] = {conv ? w->d[0] : x->d[0], (x->d[1] + p[0] + p[2] - k[0]) / s[0] + 1,
		                 (x->d[2] + p[1] + p[3] - k[1]) / s[1] + 1};
		rt *y = rnew(r, n->out[0], 3, od);
		x = rfind(r, g, n->in[0]);
		w = conv ? rfind(r, g, n->in[1]) : NULL;
		rt *b = conv && n->nin > 2 && n->in[2][0] ? rfind(r, g, n->in[2]) : NULL;
		int64_t cin = x->d[0], H = x->d[1], W = x->d[2];
		for (int64_t o = 0; o < od[0]; o++)
			for (int64_t i = 0; i < od[1]; i++)
				for (int64_t j = 0; j < od[2]; j++) {
					double acc = conv ? (b ? b->v[o] : 0) : avg ? 0 : -INFINITY;
					int cnt = 0;
					for (int64_t c = conv ? 0 : o; c < (conv ? cin : o + 1); c++)
						for (int64_t u = 0; u < k[0]; u++)
							for (int64_t v = 0; v < k[1]; v++) {
								int64_t yy = i * s[0] - p[0] + u, xx = j * s[1] - p[1] + v;
								if (yy < 0 || yy >= H || xx < 0 || xx >= W)
									continue;
								double a = x->v[(c * H + yy) * W + xx];
								cnt++;
								if (conv)
									acc += a * w->v[((o * cin + c) * k[0] + u) * k[1] + v];
								else if (avg)
									acc += a;
								else
									acc = fmax(acc, a);
							}
					y->v[(o * od[1] + i) * od[2] + j] = (float)(avg ? acc / cnt : acc);
				}
		return 0;
	}
	return -1;
}

/* Logits of one image (pixel/255 values from a seed); NULL if an op is
 * outside the reference. */
static float *ref_forward(const nash_graph *g, uint64_t seed, int64_t *nout)
{
	ref r = {0};
	const nash_io *in = &g->inputs[0];
	rt *x = rnew(&r, in->name, in->ndim, in->shape);
	for (int64_t k = 0; k < numel(x); k++)  /* as tests/qonnx_models.py */
		x->v[k] = (float)((k * 37 + (int64_t)seed * 101) % 256) / 255.0f;
	float *out = NULL;
	int ok = 1;
	for (int i = 0; i < g->nnodes && ok; i++)
		ok = ref_node(&r, g, g->nodes[i]) == 0;
	rt *y = ok ? rfind(&r, g, g->outputs[0].name) : NULL;
	if (y) {
		*nout = numel(y);
		out = malloc((size_t)*nout * sizeof *out);
		memcpy(out, y->v, (size_t)*nout * sizeof *out);
	}
	for (int i = 0; i < r.n; i++)
		free(r.t[i]->name), free(r.t[i]->v), free(r.t[i]);
	free(r.t);
	return out;
}

/* ------------------------------------------------------------- helpers */

/* Equal as nash graphs: name, io, nodes in order, written tensors by
 * name (data bit for bit), meta except the onnx section. */
static int same_graph(const nash_graph *a, const nash_graph *b, char *why, size_t nw)
{
	if (strcmp(a->name, b->name))
		return snprintf(why, nw, "names %s and %s", a->name, b->name), 0;
	if (a->nin != b->nin || a->nout != b->nout)
		return snprintf(why, nw, "input/output counts"), 0;
	for (int l = 0; l < 2; l++)
		for (int i = 0; i < (l ? a->nout : a->nin); i++) {
			const nash_io *x = l ? &a->outputs[i] : &a->inputs[i], *y = l ? &b->outputs[i] : &b->inputs[i];
			if (strcmp(x->name, y->name) || x->datatype.kind != y->datatype.kind || x->datatype.bits != y->datatype.bits ||
			    !nash_val_equal(x->extra, y->extra))
				return snprintf(why, nw, "io %s / %s", x->name, y->name), 0;
			if (!l && (x->ndim != y->ndim || memcmp(x->shape, y->shape, (size_t)x->ndim * 8)))
				return snprintf(why, nw, "input shape of %s", x->name), 0;
		}
	if (a->nnodes != b->nnodes)
		return snprintf(why, nw, "%d nodes and %d", a->nnodes, b->nnodes), 0;
	for (int i = 0; i < a->nnodes; i++) {
		const nash_node *x = a->nodes[i], *y = b->nodes[i];
		if (strcmp(x->op, y->op) || strcmp(x->name, y->name) || x->nin != y->nin || x->nout != y->nout)
			return snprintf(why, nw, "node %d: %s (%s) vs %s (%s)", i, x->name, x->op, y->name, y->op), 0;
		for (int k = 0; k < x->nin; k++)
			if (strcmp(x->in[k], y->in[k]))
				return snprintf(why, nw, "node %s input %d: %s vs %s", x->name, k, x->in[k], y->in[k]), 0;
		for (int k = 0; k < x->nout; k++)
			if (strcmp(x->out[k], y->out[k]))
				return snprintf(why, nw, "node %s output %d", x->name, k), 0;
		if (!nash_val_equal(x->attr, y->attr)) {
			char *ja = nash_val_json(x->attr, -1, 0), *jb = nash_val_json(y->attr, -1, 0);
			snprintf(why, nw, "node %s attributes %s vs %s", x->name, ja, jb);
			free(ja), free(jb);
			return 0;
		}
		if (!nash_val_equal(x->extra, y->extra))
			return snprintf(why, nw, "node %s extra keys", x->name), 0;
	}
	int na = 0, nb = 0;
	for (int i = 0; i < a->ntensors; i++) {
		const nash_tensor *x = a->tensors[i];
		if (x->transient)
			continue;
		na++;
		const nash_tensor *y = nash_tensor_find(b, x->name);
		if (!y || y->transient)
			return snprintf(why, nw, "tensor %s missing", x->name), 0;
		if (x->dtype != y->dtype || x->ndim != y->ndim || memcmp(x->shape, y->shape, (size_t)x->ndim * 8) ||
		    !x->data != !y->data || (x->data && memcmp(x->data, y->data, nash_tensor_nbytes(x))) ||
		    x->datatype.kind != y->datatype.kind || x->datatype.bits != y->datatype.bits ||
		    !nash_val_equal(x->extra, y->extra))
			return snprintf(why, nw, "tensor %s differs", x->name), 0;
	}
	for (int i = 0; i < b->ntensors; i++)
		nb += !b->tensors[i]->transient;
	if (na != nb)
		return snprintf(why, nw, "%d tensors and %d", na, nb), 0;
	nash_val *ma = nash_val_copy(a->meta), *mb = nash_val_copy(b->meta);
	nash_val_del(ma, "onnx");
	nash_val_del(mb, "onnx");
	int ok = nash_val_equal(ma, mb);
	nash_val_free(ma);
	nash_val_free(mb);
	if (!ok)
		return snprintf(why, nw, "meta differs"), 0;
	return 1;
}

static nash_graph *roundtrip(const nash_graph *g, const nash_onnx_export_opts *eo, const nash_onnx_import_opts *io,
                             size_t *bytes, nash_err *e)
{
	unsigned char *buf;
	size_t n;
	if (nash_onnx_export(g, eo, &buf, &n, e) < 0)
		return NULL;
	if (bytes)
		*bytes = n;
	nash_graph *r = nash_onnx_import(buf, n, "mem.onnx", io, e);
	free(buf);
	return r;
}

static int same_forward(const nash_graph *a, const nash_graph *b, int images)
{
	for (int s = 0; s < images; s++) {
		int64_t na = 0, nb = 0;
		float *ya = ref_forward(a, 100 + (uint64_t)s, &na), *yb = ref_forward(b, 100 + (uint64_t)s, &nb);
		int ok = ya && yb && na == nb && !memcmp(ya, yb, (size_t)na * sizeof *ya);
		free(ya);
		free(yb);
		if (!ok)
			return 0;
	}
	return 1;
}

static int count_op(const nash_graph *g, const char *op)
{
	int c = 0;
	for (int i = 0; i < g->nnodes; i++)
		c += !strcmp(g->nodes[i]->op, op);
	return c;
}

/* -------------------------------------------------------------- tests */

static void test_roundtrip(const char *which)
{
	nash_err e = {{0}};
	nash_graph *g = fixture(which);
	size_t bytes = 0;
	nash_graph *r = roundtrip(g, NULL, NULL, &bytes, &e);
	char why[1024] = "";
	CHECK(r != NULL, "%s: export then import (%zu bytes)", which, bytes);
	if (!r) {
		printf("#   %s\n", e.msg);
		nash_graph_free(g);
		return;
	}
	CHECK(same_graph(g, r, why, sizeof why), "%s: same graph after the round trip", which);
	if (why[0])
		printf("#   %s\n", why);
	why[0] = 0;
	CHECK(same_nn(g, r, 4, why, sizeof why), "%s: the nn engine's fake-quant forward bit-identical on 4 images", which);
	if (why[0])
		printf("#   %s\n", why);
	int64_t k = 0, k2 = 0;
	float *y = ref_forward(g, 1, &k), *y2 = ref_forward(g, 2, &k2);
	int spread = 0;
	for (int64_t i = 0; y && y2 && i < k && i < k2; i++)
		spread += y[i] != y2[i] && y[i] != y[0];
	CHECK(y != NULL && k == 10 && spread > 0, "%s: the reference evaluator runs the graph (10 logits that vary: %g %g %g ...)",
	      which, y ? y[0] : 0.0, y ? y[1] : 0.0, y ? y[2] : 0.0);
	free(y);
	free(y2);
	CHECK(same_forward(g, r, 3), "%s: the reference evaluator agrees bit for bit on 3 images", which);
	/* the comparisons can fail: the last learned activation scale changed
	 * is seen by all three */
	nash_graph *m = nash_graph_copy(r);
	const char *sn = "";
	for (int i = 0; i < m->nnodes; i++)
		if (!strcmp(nash_attr_str(m->nodes[i], "scale_mode", ""), "learned"))
			sn = m->nodes[i]->in[1];
	float *sc = nash_tensor_f32(m, sn);
	if (sc)
		sc[0] *= 1.5f;
	else {  /* no learned scale (binary nets): negate the head's weights */
		const nash_node *head = m->nodes[nash_graph_producer(m, m->outputs[0].name)];
		const nash_node *wq = m->nodes[nash_graph_producer(m, head->in[1])];
		nash_tensor *w = nash_tensor_find(m, wq->in[0]);
		sn = w->name;
		for (int64_t i = 0; i < nash_tensor_numel(w); i++)
			((float *)w->data)[i] = -((float *)w->data)[i];
	}
	CHECK(!same_graph(g, m, why, sizeof why) && !same_forward(g, m, 3) && !same_nn(g, m, 2, why, sizeof why),
	      "%s: a change of %s is noticed", which, sn);
	why[0] = 0;
	nash_graph_free(m);
	CHECK(!strcmp(nash_val_as_str(nash_val_path(r->meta, "onnx.imported")), "mem.onnx"), "%s: meta.onnx.imported", which);
	nash_graph_free(r);

	/* without nash's metadata: roles inferred, same forward */
	nash_onnx_export_opts eo = {0, 1};
	r = roundtrip(g, &eo, NULL, NULL, &e);
	CHECK(r != NULL, "%s: round trip without the nash.graph metadata", which);
	if (!r) {
		printf("#   %s\n", e.msg);
		nash_graph_free(g);
		return;
	}
	CHECK(same_nn(g, r, 4, why, sizeof why), "%s: nn forward bit-identical without metadata", which);
	if (why[0])
		printf("#   %s\n", why);
	CHECK(same_forward(g, r, 3), "%s: reference forward bit-identical without metadata", which);
	int bad = 0, ints = 0;
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i], *m = nash_node_find(r, n->name);
		if (strcmp(n->op, "Quant") && strcmp(n->op, "BipolarQuant"))
			continue;
		if (!m || strcmp(nash_attr_str(n, "target", "?"), nash_attr_str(m, "target", "!")) ||
		    strcmp(nash_attr_str(n, "scale_mode", "?"), nash_attr_str(m, "scale_mode", "!"))) {
			if (!bad++)
				printf("#   %s: %s/%s became %s/%s\n", n->name, nash_attr_str(n, "target", "?"),
				       nash_attr_str(n, "scale_mode", "?"), m ? nash_attr_str(m, "target", "-") : "(gone)",
				       m ? nash_attr_str(m, "scale_mode", "-") : "");
		}
		if (m && !strcmp(nash_attr_str(n, "scale_mode", ""), "product") &&
		    !nash_val_equal(nash_val_get(n->attr, "scale_from"), nash_val_get(m->attr, "scale_from")) && !bad++)
			printf("#   %s: scale_from differs\n", n->name);
		/* the integer export is there, with the same integers */
		const char *it = nash_attr_str(n, "int_tensor", NULL), *mt = m ? nash_attr_str(m, "int_tensor", NULL) : NULL;
		if (it) {
			const nash_tensor *a = nash_tensor_find(g, it), *b = mt ? nash_tensor_find(r, mt) : NULL;
			ints++;
			if (!b || a->dtype != b->dtype || nash_tensor_nbytes(a) != nash_tensor_nbytes(b) ||
			    memcmp(a->data, b->data, nash_tensor_nbytes(a)) || a->datatype.kind != b->datatype.kind) {
				if (!bad++)
					printf("#   %s: integer export %s differs\n", n->name, it);
			}
		}
	}
	CHECK(bad == 0 && ints > 0, "%s: every quantizer's target, scale_mode and integers (%d) as nash-quant made them", which,
	      ints);
	CHECK(strcmp(r->name, "mem") == 0, "%s: without metadata the graph is named after the file", which);
	nash_graph_free(r);
	nash_graph_free(g);
}

static void test_hardtanh(void)
{
	nash_err e = {{0}};
	nash_graph *g = fixture("tfc");
	unsigned char *buf;
	size_t n;
	int rc = nash_onnx_export(g, &(nash_onnx_export_opts){0, 1}, &buf, &n, &e);
	CHECK(rc == 0, "tfc exports");
	nash_graph *r = rc == 0 ? nash_onnx_import(buf, n, "x.onnx", NULL, &e) : NULL;
	CHECK(r && count_op(g, "HardTanh") == 3 && count_op(r, "HardTanh") == 0,
	      "redundant HardTanh before a [-1, 1] quantizer is left out of the ONNX model");
	nash_graph_free(r);
	if (rc == 0)
		free(buf);
	nash_graph *b = fixture("tfc-w1a1");
	r = roundtrip(b, &(nash_onnx_export_opts){0, 1}, NULL, NULL, &e);
	CHECK(r && count_op(b, "HardTanh") == 3 && count_op(r, "HardTanh") == 0 && count_op(r, "BipolarQuant") == 7,
	      "so is one before a bipolar activation");
	nash_graph_free(r);
	nash_graph_free(b);
	/* widen the quantizer's range beyond the HardTanh: it stays, as Clip */
	nash_tensor *s = nash_tensor_find(g, "fc0.act.aq.scale");
	*(float *)s->data = 2.0f;
	r = roundtrip(g, &(nash_onnx_export_opts){0, 1}, NULL, NULL, &e);
	CHECK(r && count_op(r, "HardTanh") == 1 && nash_node_find(r, "fc0.act") &&
	      nash_attr_float(nash_node_find(r, "fc0.act"), "max_val", 0) == 1,
	      "a HardTanh that clamps more than its quantizer survives as Clip, back as HardTanh");
	char why[512] = "";
	CHECK(r && same_forward(g, r, 2) && same_nn(g, r, 2, why, sizeof why), "and the forward is unchanged %s", why);
	nash_graph_free(r);
	nash_graph_free(g);
}

/* Per-channel activation scales (C x 1 x 1) export and come back. */
static void test_per_channel_act(void)
{
	nash_err e = {{0}};
	nash_graph *g = fixture("resnet");
	nash_node *q = nash_node_find(g, "stem.relu.aq");
	const nash_tensor *old = q ? nash_tensor_find(g, q->in[1]) : NULL;
	int64_t sh[3] = {4, 1, 1};
	char why[512] = "";
	if (old) {
		float v = *(float *)old->data;
		nash_tensor *t = nash_tensor_add(g, "stem.relu.aq.scale_pc", NASH_F32, 3, sh);
		for (int c = 0; c < 4; c++)
			((float *)t->data)[c] = v * (0.75f + 0.25f * (float)c);
		nash_node_set_in(q, 1, "stem.relu.aq.scale_pc");
		nash_graph_prune(g);
	}
	int ok = old && nash_graph_validate(g, &e) == 0;
	nash_graph *r = ok ? roundtrip(g, &(nash_onnx_export_opts){0, 1}, NULL, NULL, &e) : NULL;
	const nash_tensor *t = r ? nash_tensor_find(r, "stem.relu.aq.scale_pc") : NULL;
	CHECK(t && t->ndim == 3 && t->shape[0] == 4 && same_nn(g, r, 3, why, sizeof why),
	      "a C x 1 x 1 activation scale comes back as such, same forward %s %s", why, e.msg);
	nash_graph_free(r);
	nash_graph_free(g);
}

static void test_export_errors(void)
{
	nash_err e = {{0}};
	unsigned char *buf = NULL;
	size_t n;
	nash_graph *g = build("tfc", NULL, 0);
	CHECK(nash_onnx_export(g, NULL, &buf, &n, &e) < 0 && strstr(e.msg, "graph tfc: no quantizers"),
	      "a float graph is refused: %s", e.msg);
	nash_graph_free(g);

	g = fixture("tfc");
	nash_graph *h = nash_graph_copy(g);
	*(float *)nash_tensor_find(h, "fc1.wq.bitwidth")->data = 1;
	CHECK(nash_onnx_export(h, NULL, &buf, &n, &e) < 0 && strstr(e.msg, "1-bit signed Quant") &&
	      strstr(e.msg, "node fc1.wq"), "1-bit signed Quant refused naming the node: %s", e.msg);
	nash_graph_free(h);

	h = nash_graph_copy(g);
	nash_node_add(h, "MVAU", "mvau0", (const char *[]){g->outputs[0].name, "fc3.weight", NULL}, (const char *[]){"zz", NULL});
	CHECK(nash_onnx_export(h, NULL, &buf, &n, &e) < 0 && strstr(e.msg, "node mvau0 (MVAU)"),
	      "a hardware op is refused: %s", e.msg);
	nash_graph_free(h);

	h = nash_graph_copy(g);
	nash_node_set_in(nash_node_find(h, "fc1.wq"), 1, "fc0");
	CHECK(nash_onnx_export(h, NULL, &buf, &n, &e) < 0 && strstr(e.msg, "node fc1.wq (Quant)") &&
	      strstr(e.msg, "must be a parameter"), "a computed scale is refused: %s", e.msg);
	nash_graph_free(h);

	h = nash_graph_copy(g);
	nash_node_add(h, "Choice", "ch", (const char *[]){g->outputs[0].name, "", "input.q.zeropt", NULL},
	              (const char *[]){"zz", NULL});
	CHECK(nash_onnx_export(h, NULL, &buf, &n, &e) < 0 && strstr(e.msg, "node ch (Choice)") && strstr(e.msg, "derive"),
	      "a Choice node is refused: %s", e.msg);
	nash_graph_free(h);
	CHECK(nash_onnx_export(g, &(nash_onnx_export_opts){9, 0}, &buf, &n, &e) < 0 && strstr(e.msg, "opset 9"),
	      "an opset outside 11..17 is refused");
	nash_graph_free(g);
}

static void test_import_errors(void)
{
	nash_err e = {{0}};
	const char junk[] = "this is not a protobuf at all, just some text\n";
	CHECK(!nash_onnx_import(junk, sizeof junk - 1, "junk.onnx", NULL, &e) && strstr(e.msg, "junk.onnx: not an ONNX model"),
	      "text is not ONNX: %s", e.msg);
	nash_graph *g = fixture("tfc");
	unsigned char *buf;
	size_t n;
	nash_encode_graph(g, &buf, &n, &e);
	CHECK(!nash_onnx_import(buf, n, "s.nash", NULL, &e) && strstr(e.msg, "nash stream"), "a nash stream is named: %s", e.msg);
	free(buf);
	nash_onnx_export(g, NULL, &buf, &n, &e);
	CHECK(!nash_onnx_import(buf, n / 2, "cut.onnx", NULL, &e) && strstr(e.msg, "cut.onnx"), "a truncated model fails: %s",
	      e.msg);
	free(buf);
	nash_graph_free(g);
	CHECK(!nash_onnx_import_file("/nonexistent/m.onnx", NULL, &e) && strstr(e.msg, "No such file"),
	      "a missing file: %s", e.msg);
}

static void test_b64(void)
{
	/* the metadata carrier: base64 of every length mod 3 */
	nash_graph *g = fixture("tfc");
	nash_err e = {{0}};
	int ok = 1;
	for (int k = 0; k < 3; k++) {
		char nm[8] = "tfcxx";
		nm[3 + k] = 0;
		nash_graph_rename(g, nm);
		nash_graph *r = roundtrip(g, NULL, NULL, NULL, &e);
		ok &= r && !strcmp(r->name, nm);
		nash_graph_free(r);
	}
	CHECK(ok, "names of three lengths survive (base64 padding)");
	nash_graph_free(g);
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "forward")) {
		/* the logits of the first graph of a stream, one per line: the
		 * reference evaluator's, or with "nn" the engine's */
		nash_graph **gs;
		nash_err e = {{0}};
		int n = nash_read_graphs_file(argv[2], &gs, &e);
		if (n < 1 || nash_graph_validate(gs[0], &e) < 0) {
			fprintf(stderr, "forward: %s\n", n < 1 ? (n == 0 ? "no graph" : e.msg) : e.msg);
			return 1;
		}
		int64_t k = 0;
		int seed = atoi(argv[3]);
		float *y = NULL;
		if (argc == 5) {  /* nn: images 0..seed, the last one printed */
			float *all = nn_forward(gs[0], seed + 1, &k, &e);
			if (!all) {
				fprintf(stderr, "forward: %s\n", e.msg);
				return 1;
			}
			y = malloc((size_t)k * sizeof *y);
			memcpy(y, all + (size_t)(seed * k), (size_t)k * sizeof *y);
			free(all);
		} else
			y = ref_forward(gs[0], (uint64_t)seed, &k);
		if (!y) {
			fprintf(stderr, "forward: an op outside the reference evaluator\n");
			return 1;
		}
		for (int64_t i = 0; i < k; i++)
			printf("%.9g\n", y[i]);
		free(y);
		for (int i = 0; i < n; i++)
			nash_graph_free(gs[i]);
		free(gs);
		return 0;
	}
	test_roundtrip("tfc");
	test_roundtrip("tfc-w1a1");
	test_roundtrip("cnv");
	test_roundtrip("resnet");
	test_roundtrip("nash");
	test_hardtanh();
	test_per_channel_act();
	test_export_errors();
	test_import_errors();
	test_b64();
	UNIT_DONE();
}
