/*
 * test_stream_fix.h - TEST FIXTURE for nash-stream: quantization-aware
 * graphs built the way nash-ops(7) "Quantization operators" describes
 * them (Quant / BipolarQuant on the input, weights, activations, the
 * stage-shared adder quantizer, Trunc for the average pool), from nash-gen
 * graphs, with random but valid parameters: batch-norm statistics and
 * activation scales calibrated on random images so that activations are
 * neither all zero nor all saturated, a share of negative BN scales, and
 * weight scales from the weights (max |W| / (2^(b-1) - 1) per output
 * channel; mean |W| for binary weights). No training.
 *
 * It stands in for nash-quant in the unit tests; header only (static), so
 * each test program includes it once.
 */
#ifndef TEST_STREAM_FIX_H
#define TEST_STREAM_FIX_H

#include "core/nash.h"
#include "models/models.h"
#include "nn/nn.h"
#include "streamline/streamline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct sfix_opts {
	int wbits, abits;         /* backbone weights and activations (wbits 1: binary) */
	int first_bits, last_bits;/* stem and classifier weights (8) */
	int nas_bits;             /* NAS-op convs (8; 1: binary) */
	int adder_bits;           /* the shared adder quantizer (8) */
	int pool_bits;            /* average-pool output bits (4) */
	int bipolar_act;          /* HardTanh activations as BipolarQuant (w1a1 BNN style) */
	int last_per_tensor;      /* one weight scale for the classifier */
	int quant_bias;           /* Int32 bias with the product scale (else the bias stays float) */
	int no_input_quant;       /* leave the input unquantized (an error case) */
	uint64_t seed;
} sfix_opts;

static sfix_opts sfix_default(void)
{
	sfix_opts o = {2, 2, 8, 8, 8, 8, 4, 0, 0, 1, 0, 1};
	return o;
}

static char *sfix_fmt(const char *a, const char *b)
{
	return nash_strfmt("%s%s", a, b);
}

static void sfix_scalar(nash_graph *g, const char *name, float v)
{
	int64_t sh[1] = {1};
	nash_tensor *t = nash_tensor_add(g, name, NASH_F32, 1, sh);
	((float *)t->data)[0] = v;
}

/* Quant(x) -> out (appended; toposort later). */
static nash_node *sfix_quant(nash_graph *g, const char *name, const char *x, const char *scale, int bits,
                             int is_signed, int narrow, const char *target, const char *mode, const char *out)
{
	char *zp = sfix_fmt(name, ".zeropt"), *bw = sfix_fmt(name, ".bitwidth");
	sfix_scalar(g, zp, 0);
	sfix_scalar(g, bw, (float)bits);
	nash_node *n = nash_node_add(g, "Quant", name, (const char *[]){x, scale, zp, bw, NULL}, (const char *[]){out, NULL});
	nash_attr_set_int(n, "signed", is_signed);
	nash_attr_set_int(n, "narrow", narrow);
	nash_attr_set_str(n, "rounding_mode", "ROUND");
	nash_attr_set_str(n, "scale_mode", mode);
	nash_attr_set_str(n, "target", target);
	free(zp);
	free(bw);
	return n;
}

/* Insert Quant after tensor x for every use (except by node `except`). */
static void sfix_redirect(nash_graph *g, const char *x, const char *to, const nash_node *except)
{
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if (n == except)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (strcmp(n->in[k], x) == 0)
				nash_node_set_in(n, k, to);
	}
	for (int i = 0; i < g->nout; i++)
		if (strcmp(g->outputs[i].name, x) == 0) {
			free(g->outputs[i].name);
			g->outputs[i].name = nash_strdup(to);
		}
}

static int sfix_bits_of(const nash_node *n, const sfix_opts *o, int is_last)
{
	const char *role = nash_attr_str(n, "role", "backbone");
	if (is_last)
		return o->last_bits;
	if (!strcmp(role, "stem"))
		return o->first_bits;
	if (!strcmp(role, "downsample"))
		return 8;
	if (!strcmp(role, "nas"))
		return o->nas_bits;
	return o->wbits;
}

/* Quantize g in place (placeholder activation scales; calibrate after). */
static void sfix_quantize(nash_graph *g, const sfix_opts *o)
{
	nash_err e;
	/* the input */
	if (!o->no_input_quant) {
		const char *in = g->inputs[0].name;
		sfix_scalar(g, "input.q.scale", 1.0f / 255.0f);
		sfix_redirect(g, in, "input.q", NULL);
		sfix_quant(g, "input.q", in, "input.q.scale", 8, 0, 0, "input", "const", "input.q");
	}
	int nn = g->nnodes;
	/* the last Gemm is the classifier */
	int last = -1;
	for (int i = 0; i < nn; i++)
		if (!strcmp(g->nodes[i]->op, "Gemm"))
			last = i;
	for (int i = 0; i < nn; i++) {
		nash_node *n = g->nodes[i];
		if (strcmp(n->op, "Conv") && strcmp(n->op, "Gemm"))
			continue;
		int bits = sfix_bits_of(n, o, i == last);
		const nash_tensor *w = nash_tensor_find(g, n->in[1]);
		int conv = !strcmp(n->op, "Conv");
		int64_t M = w->shape[0], per = nash_tensor_numel(w) / M;
		int per_tensor = i == last && o->last_per_tensor;
		int64_t ssh[4] = {per_tensor ? 1 : M, 1, 1, 1};
		char *sn = sfix_fmt(w->name, ".scale"), *qn = sfix_fmt(w->name, ".q");
		nash_tensor *st = nash_tensor_add(g, sn, NASH_F32, per_tensor ? 1 : conv ? 4 : 2, ssh);
		nash_qscale_stats((const float *)w->data, per_tensor ? 1 : M, per_tensor ? M * per : per, bits,
		                  bits == 1, (float *)st->data);
		if (bits == 1) {
			nash_node *q = nash_node_add(g, "BipolarQuant", qn, (const char *[]){w->name, sn, NULL},
			                             (const char *[]){qn, NULL});
			nash_attr_set_str(q, "scale_mode", "stats");
			nash_attr_set_str(q, "target", "weight");
		} else
			sfix_quant(g, qn, w->name, sn, bits, 1, 1, "weight", "stats", qn);
		nash_node_set_in(n, 1, qn);
		if (n->nin > 2 && n->in[2][0] && o->quant_bias) {
			/* Int32 bias with scale = input scale x weight scale; the input
			 * scale is filled in by the calibration (placeholder 1/255) */
			const nash_tensor *b = nash_tensor_find(g, n->in[2]);
			char *bs = sfix_fmt(b->name, ".scale"), *bq = sfix_fmt(b->name, ".q");
			int64_t bsh[1] = {M};
			nash_tensor *bt = nash_tensor_add(g, bs, NASH_F32, 1, bsh);
			for (int64_t k = 0; k < M; k++)
				((float *)bt->data)[k] = ((float *)nash_tensor_find(g, sn)->data)[per_tensor ? 0 : k] / 255.0f;
			nash_node *q = sfix_quant(g, bq, b->name, bs, 32, 1, 0, "bias", "product", bq);
			nash_val *from = nash_val_arr();
			nash_val_push(from, nash_val_str("?"));
			nash_val_push(from, nash_val_str(sn));
			nash_val_set(q->attr, "scale_from", from);
			nash_node_set_in(n, 2, bq);
			free(bs);
			free(bq);
		}
		free(sn);
		free(qn);
	}
	/* activations and adders */
	for (int i = 0; i < nn; i++) {
		nash_node *n = g->nodes[i];
		if (!strcmp(n->op, "Relu") || !strcmp(n->op, "HardTanh")) {
			int hard = n->op[0] == 'H';
			char *qn = sfix_fmt(n->out[0], ".q"), *sn = sfix_fmt(n->out[0], ".q.scale");
			int bits = !strcmp(nash_attr_str(n, "role", ""), "stem") && !hard ? o->abits : o->abits;
			if (hard && o->bipolar_act) {
				sfix_scalar(g, sn, 1.0f);
				sfix_redirect(g, n->out[0], qn, NULL);
				nash_node *q = nash_node_add(g, "BipolarQuant", qn, (const char *[]){n->out[0], sn, NULL},
				                             (const char *[]){qn, NULL});
				nash_attr_set_str(q, "scale_mode", "learned");
				nash_attr_set_str(q, "target", "act");
			} else {
				sfix_scalar(g, sn, 0.1f);
				sfix_redirect(g, n->out[0], qn, NULL);
				sfix_quant(g, qn, n->out[0], sn, bits, hard, hard, "act", "learned", qn);
			}
			free(qn);
			free(sn);
		} else if (!strcmp(n->op, "Add") && !strcmp(nash_attr_str(n, "role", ""), "adder")) {
			char *sn = nash_strfmt("cell%lld.adder.scale", (long long)nash_attr_int(n, "cell", 0));
			if (!nash_tensor_find(g, sn))
				sfix_scalar(g, sn, 0.05f);
			for (int k = 0; k < 2; k++) {
				char *qn = nash_strfmt("%s.in%d.q", n->name, k);
				sfix_quant(g, qn, n->in[k], sn, o->adder_bits, 1, 1, "adder", "learned", qn);
				nash_node_set_in(n, k, qn);
				free(qn);
			}
			free(sn);
		}
	}
	if (nash_graph_toposort(g, &e) < 0 || nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "sfix: %s\n", e.msg);
		abort();
	}
	/* quantized average pool: GAP, Mul by K*K, Trunc with the input's scale */
	nn = g->nnodes;
	for (int i = 0; i < nn; i++) {
		nash_node *n = g->nodes[i];
		if (strcmp(n->op, "GlobalAveragePool"))
			continue;
		const nash_tensor *x = nash_graph_shape(g, n->in[0]);
		double kk = (double)(x->shape[1] * x->shape[2]);
		/* the scale of the pool's input: the quantizer that produced it */
		int p = nash_graph_producer(g, n->in[0]);
		const char *scale = p >= 0 && g->nodes[p]->nin > 1 ? g->nodes[p]->in[1] : "input.q.scale";
		char *kn = sfix_fmt(n->name, ".kk"), *mo = sfix_fmt(n->out[0], ".sum"), *tn = sfix_fmt(n->out[0], ".trunc");
		sfix_scalar(g, kn, (float)kk);
		char *z = sfix_fmt(tn, ".zeropt"), *ib = sfix_fmt(tn, ".in_bits"), *ob = sfix_fmt(tn, ".out_bits");
		sfix_scalar(g, z, 0);
		sfix_scalar(g, ib, (float)ceil(log2((pow(2, o->abits) - 1) * kk)));
		sfix_scalar(g, ob, (float)o->pool_bits);
		sfix_redirect(g, n->out[0], tn, NULL);
		char *wn = sfix_fmt(n->name, ".window");
		nash_node_add(g, "Mul", wn, (const char *[]){n->out[0], kn, NULL}, (const char *[]){mo, NULL});
		free(wn);
		nash_node *t = nash_node_add(g, "Trunc", tn, (const char *[]){mo, scale, z, ib, ob, NULL},
		                             (const char *[]){tn, NULL});
		nash_attr_set_str(t, "rounding_mode", "FLOOR");
		free(kn);
		free(mo);
		free(tn);
		free(z);
		free(ib);
		free(ob);
	}
	if (nash_graph_toposort(g, &e) < 0 || nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "sfix: %s\n", e.msg);
		abort();
	}
}

/* Batch-norm statistics from random images (with random affine
 * parameters, some negative), activation and adder scales from the
 * observed ranges, bias scales as products. Three waves of one forward
 * each: every wave calibrates all layers from the values the previous
 * calibration produced, so deep layers settle. */
static void sfix_calibrate(nash_graph *g, const sfix_opts *o)
{
	nash_rng rng;
	nash_rng_seed(&rng, o->seed ^ 0x5eedULL);
	/* random affine parameters and adder scale markers once */
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if (!strcmp(n->op, "BatchNormalization")) {
			int64_t C = nash_tensor_numel(nash_tensor_find(g, n->in[1]));
			float *gm = nash_tensor_f32(g, n->in[1]), *bt = nash_tensor_f32(g, n->in[2]);
			for (int64_t ch = 0; ch < C; ch++) {
				double sign = nash_rng_uniform(&rng) < 0.2 ? -1 : 1;
				gm[ch] = (float)(sign * (0.6 + 0.8 * nash_rng_uniform(&rng)));
				bt[ch] = (float)(0.4 * nash_rng_normal(&rng));
			}
		}
	}
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if (strcmp(n->op, "Gemm") || n->nin < 3 || !n->in[2][0])
			continue;
		int bq = nash_graph_producer(g, n->in[2]);
		float *b = nash_tensor_f32(g, bq >= 0 ? g->nodes[bq]->in[0] : n->in[2]);
		const nash_tensor *bt = nash_tensor_find(g, bq >= 0 ? g->nodes[bq]->in[0] : n->in[2]);
		for (int64_t k = 0; k < nash_tensor_numel(bt); k++)
			b[k] = (float)(0.3 * nash_rng_normal(&rng));
	}
	for (int wave = 0; wave < 3; wave++) {
		nash_err e;
		nash_ref *r = nash_ref_new(g, &e);
		if (!r) {
			fprintf(stderr, "sfix: %s\n", e.msg);
			abort();
		}
		const nash_io *io = &g->inputs[0];
		int64_t numel = nash_shape_numel(io->ndim, io->shape);
		int c = io->ndim == 3 ? (int)io->shape[0] : 1, h = io->ndim == 3 ? (int)io->shape[1] : 1;
		int w = io->ndim == 3 ? (int)io->shape[2] : (int)numel;
		uint8_t *img = nash_alloc((size_t)numel);
		double *x = nash_alloc((size_t)numel * sizeof *x);
		nash_rng ir;
		nash_rng_seed(&ir, o->seed + (uint64_t)wave);
		for (int64_t k = 0; k < numel; k++)
			img[k] = (uint8_t)nash_rng_below(&ir, 256);
		nash_ref_pixels(g, 0, img, c, h, w, x, &e);
		const double *in[1] = {x};
		if (nash_ref_run(r, in, &e) < 0) {
			fprintf(stderr, "sfix: %s\n", e.msg);
			abort();
		}
		char *seen = nash_alloc(1); /* adder scales set this wave, by name */
		size_t nseen = 0;
		for (int i = 0; i < g->nnodes; i++) {
			nash_node *n = g->nodes[i];
			int64_t m;
			if (!strcmp(n->op, "BatchNormalization")) {
				const double *v = nash_ref_tensor(r, n->in[0], &m);
				const nash_tensor *xs = nash_graph_shape(g, n->in[0]);
				int64_t C = xs->shape[0], inner = m / C;
				float *mu = nash_tensor_f32(g, n->in[3]), *var = nash_tensor_f32(g, n->in[4]);
				for (int64_t ch = 0; ch < C; ch++) {
					double s = 0, ss = 0;
					for (int64_t k = 0; k < inner; k++) {
						double a = v[ch * inner + k];
						s += a;
						ss += a * a;
					}
					double mean = s / (double)inner, va = ss / (double)inner - mean * mean;
					/* blend with the previous wave so the statistics settle */
					mu[ch] = wave ? (float)(0.5 * mu[ch] + 0.5 * mean) : (float)mean;
					var[ch] = (float)(va > 1e-4 ? va : 1e-4);
				}
			} else if ((!strcmp(n->op, "Quant") || !strcmp(n->op, "BipolarQuant")) && !nash_tensor_find(g, n->in[0])) {
				const char *target = nash_attr_str(n, "target", "");
				if (!strcmp(target, "input"))
					continue;
				float *s = nash_tensor_f32(g, n->in[1]);
				if (!strcmp(n->op, "BipolarQuant")) {
					if (!wave)
						s[0] = (float)(0.5 + nash_rng_uniform(&rng));
					continue;
				}
				if (!strcmp(target, "adder")) {
					/* the stage's shared scale: set by its first quantizer */
					size_t len = strlen(n->in[1]);
					int dup = 0;
					for (size_t k = 0; k + len <= nseen; k += strlen(seen + k) + 1)
						dup |= !strcmp(seen + k, n->in[1]);
					if (dup)
						continue;
					seen = nash_realloc(seen, nseen + len + 2);
					memcpy(seen + nseen, n->in[1], len + 1);
					nseen += len + 1;
				}
				const double *v = nash_ref_tensor(r, n->in[0], &m);
				double mx = 0;
				for (int64_t k = 0; k < m; k++)
					mx = fmax(mx, fabs(v[k]));
				nash_qparams q;
				nash_qparams_get(g, n, &q, &e);
				double frac = 0.6 + 0.4 * nash_rng_uniform(&rng);
				s[0] = (float)(mx > 0 ? frac * mx / q.hi : 0.1);
			}
		}
		free(seen);
		free(img);
		free(x);
		nash_ref_free(r);
	}
	/* bias scales: input scale x weight scale (the quantizer that made the
	 * layer's input) */
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if ((strcmp(n->op, "Conv") && strcmp(n->op, "Gemm")) || n->nin < 3 || !n->in[2][0])
			continue;
		int bq = nash_graph_producer(g, n->in[2]);
		if (bq < 0)
			continue;
		const char *x = n->in[0];
		double sin = 1;
		for (int hops = 0; hops < 8; hops++) {
			int p = nash_graph_producer(g, x);
			if (p < 0)
				break;
			nash_node *pn = g->nodes[p];
			if (!strcmp(pn->op, "Quant") || !strcmp(pn->op, "Trunc")) {
				sin = nash_tensor_f32(g, pn->in[1])[0];
				break;
			}
			x = pn->in[0];
		}
		int wq = nash_graph_producer(g, n->in[1]);
		const float *ws = nash_tensor_f32(g, g->nodes[wq]->in[1]);
		const nash_tensor *wst = nash_tensor_find(g, g->nodes[wq]->in[1]);
		float *bs = nash_tensor_f32(g, g->nodes[bq]->in[1]);
		int64_t M = nash_tensor_numel(nash_tensor_find(g, g->nodes[bq]->in[1]));
		for (int64_t k = 0; k < M; k++)
			bs[k] = (float)(sin * ws[nash_tensor_numel(wst) == 1 ? 0 : k]);
	}
}

/* A quantized model: nash-gen options, then quantize and calibrate. */
static nash_graph *sfix_model(const char *arch, int width, const char *input, int version, const char *genotype,
                              const sfix_opts *o)
{
	nash_model_opts mo;
	memset(&mo, 0, sizeof mo);
	mo.arch = arch;
	mo.width = width;
	if (input) {
		int64_t sh[3];
		nash_shape_parse(input, sh, 3);
		mo.in_c = (int)sh[0];
		mo.in_h = (int)sh[1];
		mo.in_w = (int)sh[2];
	}
	mo.version = version;
	mo.genotype = genotype;
	mo.seed = o->seed;
	nash_err e;
	nash_graph *g = nash_model_build(&mo, &e);
	if (!g) {
		fprintf(stderr, "sfix: %s\n", e.msg);
		abort();
	}
	sfix_quantize(g, o);
	sfix_calibrate(g, o);
	return g;
}

#endif
