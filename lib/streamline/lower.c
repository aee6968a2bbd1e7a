/* lower.c - the lowering passes of nash-stream: integer float-level nodes
 * become hardware operators of nash-ops(7) on H x W x C streams (with
 * Transpose nodes at the borders while the graph is mixed, cancelled by
 * the layout pass), then the classifier end, fan-out, and the final
 * checks, datatype attributes and diagnoses. */
#include "streamline/sl_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH() do { if (sl_refresh(c) < 0) return -1; } while (0)

static const int64_t TO_HWC[4] = {0, 2, 3, 1}, TO_CHW[4] = {0, 3, 1, 2};

static int is(const nash_node *n, const char *op) { return strcmp(n->op, op) == 0; }

int sl_is_hw_op(const char *op)
{
	static const char *const hw[] = {
		"ConvolutionInputGenerator", "MVAU", "Thresholding", "StreamingMaxPool", "QuantAvgPool", "AddStreams",
		"DuplicateStreams", "StreamingConcat", "LabelSelect", "StreamingFIFO", "StreamingDataWidthConverter", NULL
	};
	for (int i = 0; hw[i]; i++)
		if (strcmp(op, hw[i]) == 0)
			return 1;
	return 0;
}

static char *fresh2(sl_ctx *c, const char *base, const char *suffix)
{
	char *b = nash_strfmt("%s%s", base, suffix);
	char *r = sl_fresh(c, b);
	free(b);
	return r;
}

/* Lowering builds nodes at a position (where the node it replaces was). */
typedef struct { sl_ctx *c; int pos; } emitter;

static nash_node *emit(emitter *em, const char *op, const char *name, const char *const *in, const char *const *out)
{
	sl_touch(em->c);
	return nash_node_insert(em->c->g, em->pos++, op, name, in, out);
}

/* C x H x W tensor x as H x W x C (a new Transpose); returns the name. */
static char *to_hwc(emitter *em, const char *x, const char *base)
{
	char *o = fresh2(em->c, base, ".hwc"), *nm = fresh2(em->c, base, ".to_hwc");
	nash_node *t = emit(em, "Transpose", nm, (const char *[]){x, NULL}, (const char *[]){o, NULL});
	nash_attr_set_ints(t, "perm", 4, TO_HWC);
	free(nm);
	return o;
}

static void to_chw(emitter *em, const char *x, const char *y, const char *base)
{
	char *nm = fresh2(em->c, base, ".to_chw");
	nash_node *t = emit(em, "Transpose", nm, (const char *[]){x, NULL}, (const char *[]){y, NULL});
	nash_attr_set_ints(t, "perm", 4, TO_CHW);
	free(nm);
}

/* Take node n out of the graph, keeping what lowering needs: its name,
 * inputs and output, attributes. The emitter writes where it was. */
typedef struct {
	char *name, *out, *in[16];
	int nin;
	nash_val *attr;
} saved;

static void take(sl_ctx *c, nash_node *n, saved *s, emitter *em)
{
	s->name = nash_strdup(n->name);
	s->out = nash_strdup(n->out[0]);
	s->nin = n->nin < 16 ? n->nin : 16;
	for (int k = 0; k < s->nin; k++)
		s->in[k] = nash_strdup(n->in[k]);
	s->attr = nash_val_copy(n->attr);
	em->c = c;
	em->pos = nash_node_index(c->g, n);
	sl_remove(c, n);
}

static void drop(saved *s)
{
	free(s->name);
	free(s->out);
	for (int k = 0; k < s->nin; k++)
		free(s->in[k]);
	nash_val_free(s->attr);
}

static void copy_role(nash_node *to, const nash_val *attr)
{
	static const char *const keys[] = {"role", "cell", "node", "edge", "target", NULL};
	for (int i = 0; keys[i]; i++) {
		nash_val *v = nash_val_get(attr, keys[i]);
		if (v)
			nash_val_set(to->attr, keys[i], nash_val_copy(v));
	}
}

static void onnx_spatial(const nash_node *n, int64_t *k, int64_t *s, int64_t *p, int64_t *d)
{
	int64_t t[4];
	k[0] = k[1] = 1;
	s[0] = s[1] = 1;
	d[0] = d[1] = 1;
	p[0] = p[1] = p[2] = p[3] = 0;
	if (nash_attr_ints(n, "kernel_shape", t, 4) == 2)
		k[0] = t[0], k[1] = t[1];
	if (nash_attr_ints(n, "strides", t, 4) == 2)
		s[0] = t[0], s[1] = t[1];
	if (nash_attr_ints(n, "dilations", t, 4) == 2)
		d[0] = t[0], d[1] = t[1];
	if (nash_attr_ints(n, "pads", t, 4) == 4)
		memcpy(p, t, 4 * sizeof *t);
}

static int ndim_of(sl_ctx *c, const char *t)
{
	const nash_tensor *s = sl_shape(c, t);
	return s ? s->ndim : 0;
}

/* =============================================================== avgpool */

/* A window sum of the integer input of pool node p (GlobalAveragePool or
 * AveragePool without padding), shifted right by shift, written to out. */
static int lower_avg(sl_ctx *c, nash_node *p, int64_t shift, const char *out, int64_t *kk)
{
	const nash_tensor *x = sl_shape(c, p->in[0]);
	int64_t H = x->shape[1], W = x->shape[2], C = x->shape[0];
	int64_t k[2] = {H, W}, s[2] = {H, W}, pd[4], d[2];
	if (is(p, "AveragePool"))
		onnx_spatial(p, k, s, pd, d);
	const nash_tensor *y = sl_shape(c, p->out[0]);
	int64_t OH = y->shape[1], OW = y->shape[2];
	*kk = k[0] * k[1];
	saved sv;
	emitter em;
	take(c, p, &sv, &em);
	char *xh = to_hwc(&em, sv.in[0], sv.name), *yh = fresh2(c, out, ".hwc");
	nash_node *q = emit(&em, "QuantAvgPool", sv.name, (const char *[]){xh, NULL}, (const char *[]){yh, NULL});
	nash_attr_set_ints(q, "Kernel", 2, k);
	nash_attr_set_ints(q, "Stride", 2, s);
	nash_attr_set_ints(q, "ImgDim", 2, (int64_t[]){H, W});
	nash_attr_set_ints(q, "OutImgDim", 2, (int64_t[]){OH, OW});
	nash_attr_set_int(q, "NumChannels", C);
	nash_attr_set_int(q, "PE", 1);
	nash_attr_set_int(q, "Shift", shift);
	copy_role(q, sv.attr);
	to_chw(&em, yh, out, sv.name);
	free(xh);
	free(yh);
	drop(&sv);
	return 0;
}

static int avg_lowerable(sl_ctx *c, const nash_node *p)
{
	if (!is(p, "GlobalAveragePool") && !is(p, "AveragePool"))
		return 0;
	const nash_tensor *x = sl_shape(c, p->in[0]);
	if (!x || x->ndim != 3 || !sl_info(c, p->in[0]))
		return 0;
	if (is(p, "AveragePool")) {
		int64_t k[2], s[2], pd[4], d[2];
		onnx_spatial(p, k, s, pd, d);
		if (pd[0] || pd[1] || pd[2] || pd[3] || d[0] != 1 || d[1] != 1 || nash_attr_int(p, "ceil_mode", 0))
			return 0;
	}
	return 1;
}

int sl_pass_avgpool(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (is(n, "Trunc") && n->nin == 5) {
			/* Trunc(a * avg(u)) with a = K*K * scale: floor(sum(u) / 2^shift) */
			nash_node *m = sl_producer(c, n->in[0]);
			double *a;
			int64_t na;
			int d = m && sl_nuses(c, n->in[0]) == 1 ? sl_const_op(c, m, "Mul", &a, &na) : -1;
			if (d < 0)
				continue;
			nash_node *p = sl_producer(c, m->in[d]);
			if (!p || sl_nuses(c, m->in[d]) != 1 || !avg_lowerable(c, p)) {
				free(a);
				continue;
			}
			int ok = 1;
			for (int k = 1; k < 5; k++)
				ok &= sl_is_param(c, n->in[k]);
			if (!ok || strcmp(nash_attr_str(n, "rounding_mode", "FLOOR"), "FLOOR") != 0) {
				free(a);
				continue;
			}
			const nash_tensor *st = nash_tensor_find(g, n->in[1]);
			double *sc = sl_tensor_f64(st), *z = sl_tensor_f64(nash_tensor_find(g, n->in[2]));
			double *ib = sl_tensor_f64(nash_tensor_find(g, n->in[3])), *ob = sl_tensor_f64(nash_tensor_find(g, n->in[4]));
			int64_t ns = nash_tensor_numel(st), C = sl_channels(c, p->in[0]);
			const nash_tensor *x = sl_shape(c, p->in[0]);
			int64_t kk = x->shape[1] * x->shape[2];
			if (is(p, "AveragePool")) {
				int64_t k[2], s2[2], pd[4], dl[2];
				onnx_spatial(p, k, s2, pd, dl);
				kk = k[0] * k[1];
			}
			const sl_vi *u = sl_info(c, p->in[0]);
			double maxsum = (double)kk * fmax(fabs((double)u->lo), fabs((double)u->hi));
			ok = z[0] == 0 && ib[0] == floor(ib[0]) && ob[0] == floor(ob[0]) && ib[0] >= ob[0] &&
			     (ns == 1 || ns == C) && (na == 1 || na == C);
			for (int64_t ch = 0; ch < C && ok; ch++) {
				double r = a[na == 1 ? 0 : ch] / ((double)kk * sc[ns == 1 ? 0 : ch]);
				ok = fabs(r - 1) * maxsum < 0.25 && fabs(r - 1) < 1e-9;
			}
			int64_t shift = (int64_t)(ib[0] - ob[0]);
			free(z);
			free(ib);
			free(ob);
			free(a);
			if (!ok) {
				free(sc);
				continue;
			}
			char *mid = fresh2(c, n->out[0], ".int"), *out = nash_strdup(n->out[0]), *tname = nash_strdup(n->name);
			int64_t k2;
			lower_avg(c, p, shift, mid, &k2);
			/* the Trunc becomes a Mul by its scale, the Mul before it goes */
			REFRESH();
			nash_node *t = nash_node_find(g, tname);
			int pos = nash_node_index(g, t);
			char *kn = sl_const_new(c, tname, sc, ns, 3);
			char *nm = fresh2(c, tname, ".scale");
			nash_node_insert(g, pos + 1, "Mul", nm, (const char *[]){mid, kn, NULL}, (const char *[]){out, NULL});
			sl_remove(c, t);
			sl_prune(c);
			free(kn);
			free(nm);
			free(sc);
			free(mid);
			free(out);
			free(tname);
			rw++;
			continue;
		}
		if (!avg_lowerable(c, n))
			continue;
		/* leave a pool that a quantized-average-pool pattern will take */
		nash_node *m = sl_only_consumer(c, n->out[0]);
		if (m && sl_const_op(c, m, "Mul", NULL, NULL) >= 0) {
			nash_node *t = sl_only_consumer(c, m->out[0]);
			if (t && is(t, "Trunc"))
				continue;
		}
		char *out = nash_strdup(n->out[0]), *mid = fresh2(c, out, ".sum"), *name = nash_strdup(n->name);
		int64_t kk;
		lower_avg(c, n, 0, mid, &kk);
		REFRESH();
		nash_node *last = sl_producer(c, mid);
		double inv = 1.0 / (double)kk;
		char *kn = sl_const_new(c, name, &inv, 1, 3), *nm = fresh2(c, name, ".mean");
		sl_insert_after(c, last, "Mul", nm, (const char *[]){mid, kn, NULL}, (const char *[]){out, NULL});
		free(kn);
		free(nm);
		free(out);
		free(mid);
		free(name);
		rw++;
	}
	return rw;
}

/* ============================================================ conv, gemm */

static int int_weights(sl_ctx *c, const nash_node *n)
{
	if (n->nin != 2 || !sl_is_param(c, n->in[1]))
		return 0;
	return nash_datatype_is_int(nash_tensor_find(c->g, n->in[1])->datatype);
}

/* The BIPOLAR input of convolution n as INT2 values -1/+1: its producer,
 * a bipolar MultiThreshold, counts one threshold twice from -1; any other
 * producer gets such a MultiThreshold after it. */
static int bipolar_to_int2(sl_ctx *c, nash_node *n)
{
	nash_graph *g = c->g;
	nash_node *p = sl_producer(c, n->in[0]);
	const nash_tensor *t = p && is(p, "MultiThreshold") ? nash_tensor_find(g, p->in[1]) : NULL;
	if (t && t->data && t->shape[1] == 1 && nash_attr_float(p, "out_scale", 1) == 2 &&
	    nash_attr_float(p, "out_bias", 0) == -1) {
		int64_t rows = t->shape[0];
		double *v = sl_tensor_f64(t), *v2 = nash_alloc((size_t)(2 * rows) * sizeof *v2);
		for (int64_t r = 0; r < rows; r++)
			v2[2 * r] = v2[2 * r + 1] = v[r];
		char *tn = fresh2(c, p->name, ".T");
		if (t->dtype == NASH_F32)
			sl_param_f64(g, tn, 2, (int64_t[]){rows, 2}, v2);
		else {
			int64_t *q = nash_alloc((size_t)(2 * rows) * sizeof *q);
			for (int64_t k = 0; k < 2 * rows; k++)
				q[k] = (int64_t)v2[k];
			sl_param_int(g, tn, 2, (int64_t[]){rows, 2}, q, t->datatype);
			free(q);
		}
		char *st = sl_strict_get(p, 1);
		if (st[0])
			nash_attr_set_ints(p, "strict", 2, (int64_t[]){1, 1});
		free(st);
		nash_node_set_in(p, 1, tn);
		nash_attr_set_float(p, "out_scale", 1);
		nash_attr_set_float(p, "out_bias", -1);
		nash_attr_set_str(p, "out_dtype", "INT2");
		free(tn);
		free(v);
		free(v2);
		sl_touch(c);
		return 0;
	}
	char *tn = fresh2(c, n->in[0], ".int2.T"), *o = fresh2(c, n->in[0], ".int2"), *nm = fresh2(c, n->name, ".int2");
	sl_param_int(g, tn, 2, (int64_t[]){1, 2}, (int64_t[]){0, 0}, (nash_datatype){NASH_DT_INT, 32});
	nash_node *mt = sl_insert_before(c, n, "MultiThreshold", nm, (const char *[]){n->in[0], tn, NULL},
	                                 (const char *[]){o, NULL});
	nash_attr_set_float(mt, "out_scale", 1);
	nash_attr_set_float(mt, "out_bias", -1);
	nash_attr_set_str(mt, "out_dtype", "INT2");
	nash_node_set_in(n, 0, o);
	free(tn);
	free(o);
	free(nm);
	return 0;
}

int sl_pass_conv(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!(is(n, "Conv") || is(n, "Gemm")) || !int_weights(c, n) || !sl_info(c, n->in[0]))
			continue;
		const nash_tensor *w = nash_tensor_find(g, n->in[1]);
		nash_datatype wdt = w->datatype;
		if (is(n, "Gemm")) {
			if (nash_attr_float(n, "alpha", 1) != 1 || ndim_of(c, n->in[0]) != 1)
				continue;
			int tb = (int)nash_attr_int(n, "transB", 0);
			int64_t K = tb ? w->shape[1] : w->shape[0], N = tb ? w->shape[0] : w->shape[1];
			char *wn = fresh2(c, n->name, ".W");
			nash_tensor *mt = sl_param_int0(g, wn, 2, (int64_t[]){K, N}, wdt);
			w = nash_tensor_find(g, n->in[1]);
			for (int64_t k = 0; k < K; k++)
				for (int64_t o = 0; o < N; o++)
					sl_iset(mt, k * N + o, nash_tensor_int(w, tb ? o * K + k : k * N + o));
			sl_wsums_alias(c, wn, 'm', n->in[1], tb ? 'g' : 'G');
			saved sv;
			emitter em;
			take(c, n, &sv, &em);
			nash_node *mv = emit(&em, "MVAU", sv.name, (const char *[]){sv.in[0], wn, NULL},
			                     (const char *[]){sv.out, NULL});
			nash_attr_set_int(mv, "MW", K);
			nash_attr_set_int(mv, "MH", N);
			nash_attr_set_int(mv, "SIMD", 1);
			nash_attr_set_int(mv, "PE", 1);
			nash_attr_set_ints(mv, "numInputVectors", 2, (int64_t[]){1, 1});
			nash_attr_set_int(mv, "noActivation", 1);
			nash_attr_set_int(mv, "ActVal", 0);
			copy_role(mv, sv.attr);
			free(wn);
			drop(&sv);
			rw++;
			continue;
		}
		if (nash_attr_int(n, "group", 1) != 1 || ndim_of(c, n->in[0]) != 3)
			continue;
		int64_t k[2], s[2], p[4], d[2];
		onnx_spatial(n, k, s, p, d);
		if ((p[0] || p[1] || p[2] || p[3]) && sl_info(c, n->in[0])->bipolar) {
			/* hardware pads a BIPOLAR stream with -1 (it has no 0): give the
			 * convolution an INT2 stream of the same values instead */
			if (bipolar_to_int2(c, n) < 0)
				return -1;
			rw++;
			continue;
		}
		const nash_tensor *x = sl_shape(c, n->in[0]), *y = sl_shape(c, n->out[0]);
		int64_t C = x->shape[0], H = x->shape[1], W = x->shape[2], M = w->shape[0];
		int64_t KH = w->shape[2], KW = w->shape[3], OH = y->shape[1], OW = y->shape[2];
		int64_t MW = KH * KW * C;
		char *wn = fresh2(c, n->name, ".W");
		nash_tensor *mt = sl_param_int0(g, wn, 2, (int64_t[]){MW, M}, wdt);
		w = nash_tensor_find(g, n->in[1]);
		if (w->dtype == NASH_I8 && mt->dtype == NASH_I8) {
			const int8_t *src = w->data;
			int8_t *dst = mt->data;
			for (int64_t o = 0; o < M; o++)
				for (int64_t ci = 0; ci < C; ci++)
					for (int64_t ky = 0; ky < KH; ky++)
						for (int64_t kx = 0; kx < KW; kx++)
							dst[((ky * KW + kx) * C + ci) * M + o] = *src++;
		} else
			for (int64_t o = 0; o < M; o++)
				for (int64_t ci = 0; ci < C; ci++)
					for (int64_t ky = 0; ky < KH; ky++)
						for (int64_t kx = 0; kx < KW; kx++)
							sl_iset(mt, ((ky * KW + kx) * C + ci) * M + o,
							        nash_tensor_int(w, ((o * C + ci) * KH + ky) * KW + kx));
		sl_wsums_alias(c, wn, 'm', n->in[1], 'c');
		int direct = KH == 1 && KW == 1 && s[0] == 1 && s[1] == 1 && !p[0] && !p[1] && !p[2] && !p[3];
		saved sv;
		emitter em;
		take(c, n, &sv, &em);
		char *xh = to_hwc(&em, sv.in[0], sv.name), *src = xh;
		if (!direct) {
			char *sn = fresh2(c, sv.name, ".swg"), *so = fresh2(c, sv.name, ".win");
			nash_node *sw = emit(&em, "ConvolutionInputGenerator", sn, (const char *[]){xh, NULL},
			                     (const char *[]){so, NULL});
			nash_attr_set_ints(sw, "ConvKernelDim", 2, (int64_t[]){KH, KW});
			nash_attr_set_int(sw, "IFMChannels", C);
			nash_attr_set_ints(sw, "IFMDim", 2, (int64_t[]){H, W});
			nash_attr_set_ints(sw, "OFMDim", 2, (int64_t[]){OH, OW});
			nash_attr_set_ints(sw, "Stride", 2, s);
			nash_attr_set_ints(sw, "Dilation", 2, d);
			nash_attr_set_ints(sw, "Padding", 4, p);
			nash_attr_set_int(sw, "SIMD", 1);
			copy_role(sw, sv.attr);
			free(sn);
			src = so;
		}
		char *yh = fresh2(c, sv.out, ".hwc");
		nash_node *mv = emit(&em, "MVAU", sv.name, (const char *[]){src, wn, NULL}, (const char *[]){yh, NULL});
		nash_attr_set_int(mv, "MW", MW);
		nash_attr_set_int(mv, "MH", M);
		nash_attr_set_int(mv, "SIMD", 1);
		nash_attr_set_int(mv, "PE", 1);
		nash_attr_set_ints(mv, "numInputVectors", 2, (int64_t[]){OH, OW});
		nash_attr_set_int(mv, "noActivation", 1);
		nash_attr_set_int(mv, "ActVal", 0);
		copy_role(mv, sv.attr);
		to_chw(&em, yh, sv.out, sv.name);
		if (src != xh)
			free(src);
		free(xh);
		free(wn);
		free(yh);
		drop(&sv);
		rw++;
	}
	return rw;
}

/* ============================================================== max-pool */

int sl_pass_maxpool(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "MaxPool") || !sl_info(c, n->in[0]) || ndim_of(c, n->in[0]) != 3)
			continue;
		int64_t k[2], s[2], p[4], d[2];
		onnx_spatial(n, k, s, p, d);
		if (d[0] != 1 || d[1] != 1 || nash_attr_int(n, "ceil_mode", 0))
			continue;
		const nash_tensor *x = sl_shape(c, n->in[0]), *y = sl_shape(c, n->out[0]);
		int64_t C = x->shape[0], H = x->shape[1], W = x->shape[2], OH = y->shape[1], OW = y->shape[2];
		saved sv;
		emitter em;
		take(c, n, &sv, &em);
		char *xh = to_hwc(&em, sv.in[0], sv.name), *yh = fresh2(c, sv.out, ".hwc");
		nash_node *mp = emit(&em, "StreamingMaxPool", sv.name, (const char *[]){xh, NULL}, (const char *[]){yh, NULL});
		nash_attr_set_ints(mp, "PoolDim", 2, k);
		nash_attr_set_ints(mp, "Stride", 2, s);
		nash_attr_set_ints(mp, "Padding", 4, p);
		nash_attr_set_ints(mp, "ImgDim", 2, (int64_t[]){H, W});
		nash_attr_set_ints(mp, "OutImgDim", 2, (int64_t[]){OH, OW});
		nash_attr_set_int(mp, "NumChannels", C);
		nash_attr_set_int(mp, "PE", 1);
		copy_role(mp, sv.attr);
		to_chw(&em, yh, sv.out, sv.name);
		free(xh);
		free(yh);
		drop(&sv);
		rw++;
	}
	return rw;
}

/* ========================================================= concat, add */

static int channel_axis(sl_ctx *c, const nash_node *n)
{
	int nd = ndim_of(c, n->out[0]);
	int64_t ax = nash_attr_int(n, "axis", 1);
	if (ax < 0)
		ax += nd + 1;
	return ax == 1;
}

int sl_pass_concat(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "Concat") || !channel_axis(c, n) || n->nin > 16)
			continue;
		int ok = 1, nd = ndim_of(c, n->out[0]);
		for (int k = 0; k < n->nin && ok; k++)
			ok = sl_info(c, n->in[k]) && !sl_is_param(c, n->in[k]);
		if (!ok || (nd != 3 && nd != 1))
			continue;
		int64_t cps[16], h = 1, w = 1;
		for (int k = 0; k < n->nin; k++)
			cps[k] = sl_channels(c, n->in[k]);
		if (nd == 3) {
			const nash_tensor *y = sl_shape(c, n->out[0]);
			h = y->shape[1];
			w = y->shape[2];
		}
		saved sv;
		emitter em;
		take(c, n, &sv, &em);
		const char *ins[17];
		char *hw[16];
		for (int k = 0; k < sv.nin; k++) {
			hw[k] = nd == 3 ? to_hwc(&em, sv.in[k], sv.name) : nash_strdup(sv.in[k]);
			ins[k] = hw[k];
		}
		ins[sv.nin] = NULL;
		char *yh = nd == 3 ? fresh2(c, sv.out, ".hwc") : nash_strdup(sv.out);
		nash_node *sc = emit(&em, "StreamingConcat", sv.name, ins, (const char *[]){yh, NULL});
		nash_attr_set_ints(sc, "ChannelsPerStream", sv.nin, cps);
		nash_attr_set_ints(sc, "numInputVectors", 2, (int64_t[]){h, w});
		nash_attr_set_int(sc, "SIMD", 1);
		copy_role(sc, sv.attr);
		if (nd == 3)
			to_chw(&em, yh, sv.out, sv.name);
		for (int k = 0; k < sv.nin; k++)
			free(hw[k]);
		free(yh);
		drop(&sv);
		rw++;
	}
	return rw;
}

int sl_pass_add(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "Add") || n->nin != 2 || sl_is_param(c, n->in[0]) || sl_is_param(c, n->in[1]) ||
		    !sl_info(c, n->in[0]) || !sl_info(c, n->in[1]))
			continue;
		const nash_tensor *a = sl_shape(c, n->in[0]), *b = sl_shape(c, n->in[1]);
		if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) ||
		    (a->ndim != 3 && a->ndim != 1))
			continue;
		int nd = a->ndim;
		int64_t C = a->shape[0], h = nd == 3 ? a->shape[1] : 1, w = nd == 3 ? a->shape[2] : 1;
		saved sv;
		emitter em;
		take(c, n, &sv, &em);
		char *ah = nd == 3 ? to_hwc(&em, sv.in[0], sv.name) : nash_strdup(sv.in[0]);
		char *bh = nd == 3 ? to_hwc(&em, sv.in[1], sv.name) : nash_strdup(sv.in[1]);
		char *yh = nd == 3 ? fresh2(c, sv.out, ".hwc") : nash_strdup(sv.out);
		nash_node *ad = emit(&em, "AddStreams", sv.name, (const char *[]){ah, bh, NULL}, (const char *[]){yh, NULL});
		nash_attr_set_int(ad, "NumChannels", C);
		nash_attr_set_int(ad, "PE", 1);
		nash_attr_set_ints(ad, "numInputVectors", 2, (int64_t[]){h, w});
		copy_role(ad, sv.attr);
		if (nd == 3)
			to_chw(&em, yh, sv.out, sv.name);
		free(ah);
		free(bh);
		free(yh);
		drop(&sv);
		rw++;
	}
	return rw;
}

/* ======================================================== thresholding */

static int mt_hw_form(const nash_node *n, int64_t steps, int64_t *actval, int *bip)
{
	double osc = nash_attr_float(n, "out_scale", 1), ob = nash_attr_float(n, "out_bias", 0);
	*bip = osc == 2 && ob == -1 && steps == 1;
	if (*bip) {
		*actval = 0;
		return 1;
	}
	if (osc != 1 || ob != floor(ob))
		return 0;
	*actval = (int64_t)ob;
	return 1;
}

int sl_pass_thresh(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "MultiThreshold") || !sl_info(c, n->in[0]) || !sl_is_param(c, n->in[1]))
			continue;
		const nash_tensor *t = nash_tensor_find(g, n->in[1]);
		if (t->dtype == NASH_F32 || nash_val_get(n->attr, "strict"))
			continue;
		int64_t actval;
		int bip;
		if (!mt_hw_form(n, t->shape[1], &actval, &bip))
			continue;
		int nd = ndim_of(c, n->in[0]);
		const nash_tensor *x = sl_shape(c, n->in[0]);
		if (nd != 3 && nd != 1)
			continue;
		int64_t C = x->shape[0], h = nd == 3 ? x->shape[1] : 1, w = nd == 3 ? x->shape[2] : 1;
		int64_t steps = t->shape[1];
		saved sv;
		emitter em;
		take(c, n, &sv, &em);
		char *xh = nd == 3 ? to_hwc(&em, sv.in[0], sv.name) : nash_strdup(sv.in[0]);
		char *yh = nd == 3 ? fresh2(c, sv.out, ".hwc") : nash_strdup(sv.out);
		nash_node *th = emit(&em, "Thresholding", sv.name, (const char *[]){xh, sv.in[1], NULL},
		                     (const char *[]){yh, NULL});
		nash_attr_set_int(th, "NumChannels", C);
		nash_attr_set_int(th, "PE", 1);
		nash_attr_set_int(th, "numSteps", steps);
		nash_attr_set_ints(th, "numInputVectors", 2, (int64_t[]){h, w});
		nash_attr_set_int(th, "ActVal", actval);
		char dn[16];
		nash_attr_set_str(th, "outputDataType",
		                  bip ? "BIPOLAR" : nash_datatype_name(sl_fit(actval, actval + steps), dn));
		copy_role(th, sv.attr);
		if (nd == 3)
			to_chw(&em, yh, sv.out, sv.name);
		free(xh);
		free(yh);
		drop(&sv);
		rw++;
	}
	return rw;
}

/* MVAU without activation followed by a Thresholding: one MVAU. */
int sl_pass_mvau_thresh(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "Thresholding"))
			continue;
		nash_node *p = sl_producer(c, n->in[0]);
		if (!p || !is(p, "MVAU") || sl_nuses(c, n->in[0]) != 1 || p->nin != 2 || !nash_attr_int(p, "noActivation", 0))
			continue;
		nash_node_set_in(p, 2, n->in[1]);
		nash_attr_set_int(p, "noActivation", 0);
		nash_attr_set_int(p, "ActVal", nash_attr_int(n, "ActVal", 0));
		nash_attr_set_str(p, "outputDataType", nash_attr_str(n, "outputDataType", ""));
		nash_val *tg = nash_val_get(n->attr, "target");
		if (tg)
			nash_val_set(p->attr, "target", nash_val_copy(tg));
		char *out = nash_strdup(n->out[0]);
		sl_remove(c, n);
		nash_node_set_out(p, 0, out);
		free(out);
		rw++;
	}
	return rw;
}

/* ================================================================ layout */

/* Shapes downstream of a reshaped stream change (K to 1 x 1 x K): let
 * inference derive them again. */
static void reshaped(sl_ctx *c)
{
	nash_graph *g = c->g;
	for (int k = 0; k < g->nout; k++)
		g->outputs[k].ndim = 0;
	for (int k = 0; k < g->ntensors; k++)
		if (!g->tensors[k]->data)
			g->tensors[k]->transient = 1;
	sl_touch(c);
}

static int is_perm(const nash_node *n, const int64_t *want)
{
	int64_t p[8];
	return is(n, "Transpose") && nash_attr_ints(n, "perm", p, 8) == 4 && !memcmp(p, want, sizeof(int64_t) * 4);
}

int sl_pass_layout(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	/* inverse transposes cancel */
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *a = g->nodes[i];
		if (!is(a, "Transpose"))
			continue;
		nash_node *b = sl_producer(c, a->in[0]);
		if (!b || !((is_perm(a, TO_HWC) && is_perm(b, TO_CHW)) || (is_perm(a, TO_CHW) && is_perm(b, TO_HWC))))
			continue;
		char *src = nash_strdup(b->in[0]), *out = nash_strdup(a->out[0]);
		int is_out = 0;
		for (int k = 0; k < g->nout; k++)
			is_out |= strcmp(g->outputs[k].name, out) == 0;
		if (is_out) {
			free(src);
			free(out);
			continue;
		}
		int b_dead = sl_nuses(c, b->out[0]) == 1;
		sl_remove(c, a);
		sl_replace_uses(c, out, src);
		if (b_dead)
			sl_remove(c, b);
		free(src);
		free(out);
		i--;
		rw++;
	}
	REFRESH();
	/* integer image inputs become H x W x C */
	for (int k = 0; k < g->nin; k++) {
		nash_io *io = &g->inputs[k];
		if (io->ndim != 3 || !nash_datatype_is_int(io->datatype) || !sl_nuses(c, io->name))
			continue;
		int nc;
		nash_node **cs = sl_consumers(c, io->name, &nc);
		int ok = nc == sl_nuses(c, io->name);
		for (int j = 0; j < nc && ok; j++)
			ok = is_perm(cs[j], TO_HWC);
		int flat = nc == 1 && is(cs[0], "Flatten") && sl_nuses(c, io->name) == 1 &&
		           (io->shape[0] == 1 || io->shape[1] * io->shape[2] == 1);
		if (ok) {
			int64_t sh[3] = {io->shape[1], io->shape[2], io->shape[0]};
			memcpy(io->shape, sh, sizeof sh);
			for (int j = 0; j < nc; j++) {
				char *out = nash_strdup(cs[j]->out[0]);
				sl_remove(c, cs[j]);
				sl_replace_uses(c, out, io->name);
				free(out);
			}
		} else if (flat) {
			/* the flattened image as a 1 x 1 x K vector (same order: one of
			 * C and H x W is 1) */
			int64_t K = io->shape[0] * io->shape[1] * io->shape[2];
			io->shape[0] = io->shape[1] = 1;
			io->shape[2] = K;
			char *out = nash_strdup(cs[0]->out[0]);
			sl_remove(c, cs[0]);
			sl_replace_uses(c, out, io->name);
			free(out);
		}
		free(cs);
		if (ok || flat) {
			nash_tensor *t = nash_tensor_find(g, io->name);
			if (t && !t->data) {
				memcpy(t->shape, io->shape, sizeof t->shape);
				t->transient = 1;
			}
			reshaped(c);
			rw++;
		}
	}
	/* Flatten of a transposed H x W x C stream where C or H x W is 1 keeps
	 * the element order: the stream itself is the vector (1 x 1 x K) */
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *f = g->nodes[i];
		if (!is(f, "Flatten"))
			continue;
		nash_node *t = sl_producer(c, f->in[0]);
		if (!t || !is_perm(t, TO_CHW))
			continue;
		const nash_tensor *z = sl_shape(c, t->in[0]);
		if (!z || z->ndim != 3 || !(z->shape[2] == 1 || z->shape[0] * z->shape[1] == 1))
			continue;
		int is_out = 0;
		for (int k = 0; k < g->nout; k++)
			is_out |= strcmp(g->outputs[k].name, f->out[0]) == 0;
		nash_node *p = sl_producer(c, t->in[0]);
		if (is_out && !p)
			continue;
		char *src = nash_strdup(t->in[0]), *out = nash_strdup(f->out[0]);
		int t_dead = sl_nuses(c, t->out[0]) == 1;
		sl_remove(c, f);
		if (is_out) {
			/* the graph output keeps its name: the stream's producer makes it */
			for (int k = 0; k < p->nout; k++)
				if (strcmp(p->out[k], src) == 0)
					nash_node_set_out(p, k, out);
			sl_replace_uses(c, src, out);
		} else
			sl_replace_uses(c, out, src);
		if (t_dead)
			sl_remove(c, t);
		reshaped(c);
		free(src);
		free(out);
		rw++;
	}
	return rw;
}

/* ============================================================ classifier */

/* The integer bias ri of an MVAU without thresholds (the classifier) as
 * one more input element that is always 1: a one-output MVAU with zero
 * weights and the threshold 0 makes the 1, StreamingConcat appends it,
 * and the bias is the last row of the weights. With m > 1 the weights are
 * multiplied by m and the bias row is ri m + rk: the logits z m + rk (rk
 * in [0, m)) order as z first, then rk. */
static void bias_input(sl_ctx *c, nash_node *mv, const int64_t *ri, int64_t m, const int64_t *rk)
{
	nash_graph *g = c->g;
	const nash_tensor *xs = sl_shape(c, mv->in[0]);
	const nash_tensor *w = nash_tensor_find(g, mv->in[1]);
	int64_t C = xs->shape[xs->ndim - 1], MW = w->shape[0], MH = w->shape[1];
	char *nm1 = fresh2(c, mv->name, ".one"), *nm2 = fresh2(c, mv->name, ".with_one");
	char *w0 = fresh2(c, nm1, ".W"), *t0 = fresh2(c, nm1, ".T");
	char *one = fresh2(c, nm1, ".out"), *cat = fresh2(c, nm2, ".out");
	sl_param_int0(g, w0, 2, (int64_t[]){C, 1}, (nash_datatype){NASH_DT_BINARY, 1});
	sl_param_int(g, t0, 2, (int64_t[]){1, 1}, (int64_t[]){0}, (nash_datatype){NASH_DT_INT, 32});
	nash_node *m1 = sl_insert_before(c, mv, "MVAU", nm1, (const char *[]){mv->in[0], w0, t0, NULL},
	                                 (const char *[]){one, NULL});
	nash_attr_set_int(m1, "MW", C);
	nash_attr_set_int(m1, "MH", 1);
	nash_attr_set_int(m1, "SIMD", 1);
	nash_attr_set_int(m1, "PE", 1);
	nash_attr_set_ints(m1, "numInputVectors", 2, (int64_t[]){1, 1});
	nash_attr_set_int(m1, "noActivation", 0);
	nash_attr_set_int(m1, "ActVal", 0);
	nash_node *sc = sl_insert_before(c, mv, "StreamingConcat", nm2, (const char *[]){mv->in[0], one, NULL},
	                                 (const char *[]){cat, NULL});
	nash_attr_set_ints(sc, "ChannelsPerStream", 2, (int64_t[]){C, 1});
	nash_attr_set_ints(sc, "numInputVectors", 2, (int64_t[]){1, 1});
	nash_attr_set_int(sc, "SIMD", 1);
	/* the weights with the bias row */
	int64_t lo = nash_datatype_min(w->datatype) * m, hi = nash_datatype_max(w->datatype) * m;
	for (int64_t k = 0; k < MH; k++) {
		int64_t v = ri[k] * m + rk[k];
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	nash_datatype dt = w->datatype;
	if (lo < nash_datatype_min(dt) || hi > nash_datatype_max(dt) || dt.kind == NASH_DT_BIPOLAR)
		dt = sl_fit(lo, hi);
	char *wn = fresh2(c, mv->name, ".W");
	nash_tensor *nw = sl_param_int0(g, wn, 2, (int64_t[]){MW + 1, MH}, dt);
	w = nash_tensor_find(g, mv->in[1]);
	for (int64_t k = 0; k < MW * MH; k++)
		sl_iset(nw, k, nash_tensor_int(w, k) * m);
	for (int64_t k = 0; k < MH; k++)
		sl_iset(nw, MW * MH + k, ri[k] * m + rk[k]);
	nash_node_set_in(mv, 0, cat);
	nash_node_set_in(mv, 1, wn);
	nash_attr_set_int(mv, "MW", MW + 1);
	free(w0);
	free(t0);
	free(one);
	free(cat);
	free(nm1);
	free(nm2);
	free(wn);
	sl_touch(c);
}

int sl_pass_classifier(sl_ctx *c)
{
	nash_graph *g = c->g;
	REFRESH();
	nash_io *io = &g->outputs[0];
	if (io->extra && (nash_val_get(io->extra, "scale") || nash_val_get(io->extra, "topk")))
		return 0;
	/* y = a * z + b at the end: a Mul and an Add by constants */
	const char *y = io->name;
	const nash_tensor *ys = sl_shape(c, y);
	if (!ys || ys->ndim < 1)
		return 0;
	int64_t K = ys->shape[ys->ndim - 1];
	double *a = nash_alloc((size_t)K * sizeof *a), *b = nash_alloc((size_t)K * sizeof *b);
	for (int64_t k = 0; k < K; k++)
		a[k] = 1;
	const char *z = y;
	nash_node *chain[8];
	int nch = 0;
	for (;;) {
		nash_node *p = sl_producer(c, z);
		if (!p || nch == 8 || (!is(p, "Mul") && !is(p, "Add")) || p->nin != 2)
			break;
		int d = sl_is_param(c, p->in[1]) ? 0 : sl_is_param(c, p->in[0]) ? 1 : -1;
		if (d < 0 || (z != y && sl_nuses(c, z) != 1))
			break;
		const nash_tensor *t = nash_tensor_find(g, p->in[1 - d]);
		int64_t n = nash_tensor_numel(t);
		if (n != 1 && n != K)
			break;
		double *v = sl_tensor_f64(t);
		/* y = a (p(z')) + b: compose */
		for (int64_t k = 0; k < K; k++) {
			double x = v[n == 1 ? 0 : k];
			if (is(p, "Mul"))
				a[k] *= x;
			else
				b[k] += a[k] * x;
		}
		free(v);
		chain[nch++] = p;
		z = p->in[d];
	}
	const sl_vi *zi = sl_info(c, z);
	if (!zi || sl_is_param(c, z)) {
		free(a);
		free(b);
		return 0;
	}
	int uniform = a[0] > 0, same_b = 1;
	for (int64_t k = 1; k < K; k++) {
		uniform &= a[k] == a[0];
		same_b &= b[k] == b[0];
	}
	nash_node *zp = sl_producer(c, z);
	/* one positive scale and biases that are integers in its unit (nash-quant's
	 * Int32 bias, up to the float32 rounding of its product scale): the bias
	 * joins the integer logits, so their argmax is the class */
	if (uniform && !same_b && zp && is(zp, "MVAU") && zp->nin == 2 && sl_nuses(c, z) == 1) {
		int64_t *ri = nash_alloc((size_t)K * sizeof *ri);
		int intb = 1;
		for (int64_t k = 0; k < K && intb; k++) {
			double r = b[k] / a[0];
			ri[k] = (int64_t)llround(r);
			intb = fabs(r) < 1e9 && fabs(r - (double)ri[k]) <= 1e-6 * fmax(1, fabs(r));
		}
		if (intb) {
			/* What is left of the bias, b - a ri, is the float32 rounding of
			 * the bias's product scale: below one unit, but where two classes
			 * have the same integer logit z + ri it decides which logit is the
			 * larger. Its order (rk: the rank of each class's rest among the
			 * distinct ones, rests closer than double rounding being equal)
			 * joins the integers as logits (z + ri) m + rk, so that their
			 * argmax (lowest index on ties) is the logits' argmax, ties
			 * included; the scale becomes a / m and the bias keys keep the
			 * logits exact. Without room in 31 bits, the rests are dropped. */
			double *rest = nash_alloc((size_t)K * sizeof *rest), big = 0;
			int64_t *rk = nash_alloc((size_t)K * sizeof *rk), m = 1, maxr = 0, nd = 0;
			for (int64_t k = 0; k < K; k++) {
				rest[k] = b[k] - a[0] * (double)ri[k];
				big = fmax(big, fabs(rest[k]));
				maxr = llabs(ri[k]) > maxr ? llabs(ri[k]) : maxr;
			}
			double tol = 1e-12 * fabs(a[0]) * (double)(maxr > 0 ? maxr : 1);
			/* dense ranks: count the distinct rests below rest[k] */
			for (int64_t k = 0; k < K; k++) {
				int64_t r = 0;
				for (int64_t j = 0; j < K; j++) {
					if (!(rest[j] < rest[k] - tol))
						continue;
					int first = 1;   /* the first class of its group of equal rests */
					for (int64_t i = 0; i < j && first; i++)
						first = !(fabs(rest[i] - rest[j]) <= tol);
					r += first;
				}
				rk[k] = r;
				nd = r + 1 > nd ? r + 1 : nd;
			}
			while (m < nd)
				m *= 2;
			const sl_vi *zv = sl_info(c, z);
			double bound = zv ? (fmax(fabs((double)zv->lo), fabs((double)zv->hi)) + (double)maxr) * (double)m + (double)m
			                  : INFINITY;
			if (nd < 2 || !(big < 0.25 * fabs(a[0])) || !(bound < 0x1p30)) {
				m = 1;
				memset(rk, 0, (size_t)K * sizeof *rk);
			}
			bias_input(c, zp, ri, m, rk);
			same_b = 1;
			double a0 = a[0];
			for (int64_t k = 0; k < K; k++) {
				b[k] = rest[k] - a0 / (double)m * (double)rk[k];
				a[k] = a0 / (double)m;
				/* the order of the integers is the logits' when the rests are
				 * ranked; else they must be equal */
				same_b &= m > 1 || fabs(b[k]) <= 1e-6 * fabs(a0) * fmax(1, fabs((double)ri[k]));
			}
			free(rest);
			free(rk);
		}
		free(ri);
	}
	uniform &= same_b;
	int topk = c->o ? c->o->topk : 0;
	if (topk > 0) {
		if (topk > K) {
			free(a);
			free(b);
			return nash_fail(c->e, "graph %s: --topk %d is more than the %lld classes", g->name, topk, (long long)K);
		}
		if (!uniform) {
			free(a);
			free(b);
			return sl_fail(c, zp ? zp : chain[0],
			               "LabelSelect needs one positive scale and one offset for every class; this classifier has "
			               "per-class scales (weights quantized per output channel) or biases: ask for integer "
			               "logits (no --topk) or quantize the last layer per tensor without bias");
		}
	}
	char *zs = nash_strdup(z), *out = nash_strdup(y);
	for (int k = 0; k < nch; k++)
		sl_remove(c, chain[k]);
	/* the integer tensor takes the output's name */
	if (zp) {
		for (int k = 0; k < zp->nout; k++)
			if (strcmp(zp->out[k], zs) == 0)
				nash_node_set_out(zp, k, out);
		sl_replace_uses(c, zs, out);
	} else {
		free(io->name);
		io->name = nash_strdup(zs);
	}
	if (!io->extra)
		io->extra = nash_val_map();
	if (topk > 0) {
		char *ln = sl_fresh(c, "topk"), *on = sl_fresh(c, "labels");
		const char *src = zp ? out : zs;
		nash_node *ls = nash_node_add(g, "LabelSelect", ln, (const char *[]){src, NULL}, (const char *[]){on, NULL});
		nash_attr_set_int(ls, "Labels", K);
		nash_attr_set_int(ls, "K", topk);
		nash_attr_set_int(ls, "PE", 1);
		free(io->name);
		io->name = nash_strdup(on);
		nash_val_set(io->extra, "topk", nash_val_int(topk));
		free(ln);
		free(on);
	} else {
		int one_a = 1, one_b = 1;
		for (int64_t k = 1; k < K; k++) {
			one_a &= a[k] == a[0];
			one_b &= b[k] == b[0];
		}
		nash_val_set(io->extra, "scale", nash_val_f64s(a, one_a ? 1 : (size_t)K));
		nash_val_set(io->extra, "bias", nash_val_f64s(b, one_b ? 1 : (size_t)K));
	}
	io->ndim = 0;
	free(zs);
	free(out);
	free(a);
	free(b);
	sl_touch(c);
	sl_prune(c);
	return 1;
}

/* ========================================================= DuplicateStreams */

/* At most this many outputs per DuplicateStreams (nash-hls has templates
 * for 2 to 4); wider fan-out chains them: the last output feeds the next. */
#define MAXDUP 4

int sl_pass_dup(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = -g->nin; i < g->nnodes; i++) {
		nash_node *after = i >= 0 ? g->nodes[i] : NULL;
		int nout = after ? after->nout : 1, made = 0;
		if (after && !sl_is_hw_op(after->op))
			continue;
		for (int o = 0; o < nout; o++) {
			REFRESH();
			after = i >= 0 ? g->nodes[i] : NULL;
			const char *t = after ? after->out[o] : g->inputs[i + g->nin].name;
			int uses = sl_nuses(c, t);
			if (uses < 2 || !sl_info(c, t))
				continue;
			int nc;
			nash_node **cs = sl_consumers(c, t, &nc);
			int ok = 1;
			for (int k = 0; k < nc && ok; k++)
				ok = sl_is_hw_op(cs[k]->op) && !is(cs[k], "DuplicateStreams");
			if (!ok) {
				free(cs);
				continue;
			}
			int n = uses <= MAXDUP ? uses : MAXDUP;
			char *src = nash_strdup(t), *nm = fresh2(c, src, ".dup");
			char *outs[MAXDUP];
			for (int k = 0; k < n; k++) {
				char suf[32];
				snprintf(suf, sizeof suf, ".dup%d", k);
				outs[k] = fresh2(c, src, suf);
			}
			/* the first n - 1 uses (n when they fit) get their own copy, the
			 * rest share the last one */
			int u = 0;
			for (int k = 0; k < nc; k++)
				for (int j = 0; j < cs[k]->nin; j++)
					if (strcmp(cs[k]->in[j], src) == 0) {
						nash_node_set_in(cs[k], j, outs[u < n - 1 ? u : n - 1]);
						u++;
					}
			for (int k = 0; k < g->nout; k++)
				if (strcmp(g->outputs[k].name, src) == 0) {
					free(g->outputs[k].name);
					g->outputs[k].name = nash_strdup(outs[u < n - 1 ? u : n - 1]);
					u++;
				}
			const char *ol[MAXDUP + 1];
			for (int k = 0; k < n; k++)
				ol[k] = outs[k];
			ol[n] = NULL;
			nash_node *d = after ? sl_insert_after(c, after, "DuplicateStreams", nm, (const char *[]){src, NULL}, ol)
			                     : sl_insert_before(c, g->nnodes ? g->nodes[0] : NULL, "DuplicateStreams", nm,
			                                        (const char *[]){src, NULL}, ol);
			const nash_tensor *s = sl_shape(c, src);
			int64_t C = s && s->ndim ? s->shape[s->ndim - 1] : 1, h = s && s->ndim == 3 ? s->shape[0] : 1,
			        w = s && s->ndim == 3 ? s->shape[1] : 1;
			nash_attr_set_int(d, "NumChannels", C);
			nash_attr_set_int(d, "PE", 1);
			nash_attr_set_int(d, "NumOutputStreams", n);
			nash_attr_set_ints(d, "numInputVectors", 2, (int64_t[]){h, w});
			for (int k = 0; k < n; k++)
				free(outs[k]);
			free(src);
			free(nm);
			free(cs);
			made = 1;
			rw++;
		}
		if (made && i >= 0)
			i++; /* the copy just made: a chained output of it is done next sweep */
	}
	return rw;
}
