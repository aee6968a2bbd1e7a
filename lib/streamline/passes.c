/* passes.c - the float-level passes of nash-stream: preparing the graph
 * (input pixels, batch norm, integer weights, the NASH shift and channel
 * padding as convolutions, quantizers as thresholds) and streamlining
 * (scales and offsets moved forward until thresholds absorb them, and
 * thresholds rounded to integers). Each function sweeps the graph once and
 * returns its number of rewrites; the manager (stream.c) repeats it. */
#include "streamline/sl_private.h"
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BIG 1e300   /* a threshold that is always (-BIG) or never (+BIG) passed */

#define REFRESH() do { if (sl_refresh(c) < 0) return -1; } while (0)

static int is(const nash_node *n, const char *op) { return strcmp(n->op, op) == 0; }

static char *fmt_name(sl_ctx *c, const char *base, const char *suffix)
{
	char *b = nash_strfmt("%s%s", base, suffix);
	char *r = sl_fresh(c, b);
	free(b);
	return r;
}

static int data_ndim(sl_ctx *c, const char *t)
{
	const nash_tensor *s = sl_shape(c, t);
	return s ? s->ndim : 0;
}

static double roundm(double v, const char *mode)
{
	if (mode[0] == 'F')
		return floor(v);
	if (mode[0] == 'C')
		return ceil(v);
	return rint(v); /* to nearest, ties to even (the default rounding mode) */
}

/* Insert "op(x, const) -> out" after node `after`. */
static nash_node *add_const_op(sl_ctx *c, nash_node *after, const char *op, const char *base, const char *x,
                               const double *vals, int64_t nc, int ndim, const char *out)
{
	char *k = sl_const_new(c, base, vals, nc, ndim);
	char *nm = fmt_name(c, base, "");
	nash_node *n = sl_insert_after(c, after, op, nm, (const char *[]){x, k, NULL}, (const char *[]){out, NULL});
	free(k);
	free(nm);
	return n;
}

/* Make node n write a fresh tensor instead of out[0] (returned, malloc'd),
 * so that a following node can produce the old name. */
static char *redirect_output(sl_ctx *c, nash_node *n, const char *suffix)
{
	char *f = fmt_name(c, n->out[0], suffix);
	nash_node_set_out(n, 0, f);
	sl_touch(c);
	return f;
}

/* ================================================================ tidy */

static const char *const supported[] = {
	"Conv", "Gemm", "BatchNormalization", "Relu", "HardTanh", "MaxPool", "AveragePool", "GlobalAveragePool",
	"Add", "Sub", "Mul", "Div", "Concat", "Flatten", "Slice", "Pad", "Identity", "Dropout", "Transpose",
	"Quant", "BipolarQuant", "Trunc", "MultiThreshold", "ConvolutionInputGenerator", "MVAU", "Thresholding",
	"StreamingMaxPool", "AddStreams", "DuplicateStreams", "StreamingConcat", "QuantAvgPool", "LabelSelect",
	"StreamingFIFO", "StreamingDataWidthConverter", NULL
};

int sl_pass_tidy(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (is(n, "Choice"))
			return sl_fail(c, n, "a supernet: derive a network first (nash-train --search)");
		int ok = 0;
		for (int k = 0; supported[k] && !ok; k++)
			ok = is(n, supported[k]);
		if (!ok)
			return sl_fail(c, n, "unsupported op: nash-stream lowers Conv, Gemm, BatchNormalization, Relu, HardTanh, "
			                     "MaxPool, AveragePool, GlobalAveragePool, Add, Mul, Concat, Flatten, Slice, Pad and "
			                     "the quantizers of nash-ops(7)");
		if ((is(n, "Identity") || is(n, "Dropout")) && n->nin >= 1 && n->nout >= 1) {
			if (sl_bypass(c, n)) {
				i--;
				rw++;
			}
			continue;
		}
		if ((is(n, "Mul") || is(n, "Add")) && n->nin == 2 && sl_is_param(c, n->in[0]) && !sl_is_param(c, n->in[1])) {
			char *a = nash_strdup(n->in[0]);
			nash_node_set_in(n, 0, n->in[1]);
			nash_node_set_in(n, 1, a);
			free(a);
			sl_touch(c);
			rw++;
			continue;
		}
		if ((is(n, "Sub") || is(n, "Div")) && n->nin == 2 && sl_is_param(c, n->in[1]) && !sl_is_param(c, n->in[0])) {
			const nash_tensor *t = nash_tensor_find(g, n->in[1]);
			int64_t m = nash_tensor_numel(t);
			double *v = sl_tensor_f64(t);
			for (int64_t k = 0; k < m; k++)
				v[k] = is(n, "Sub") ? -v[k] : 1.0 / v[k];
			char *nm = fmt_name(c, n->in[1], is(n, "Sub") ? ".neg" : ".inv");
			sl_param_f64(g, nm, t->ndim, t->shape, v);
			free(v);
			nash_node_set_in(n, 1, nm);
			free(n->op);
			n->op = nash_strdup(is(n, "Sub") ? "Add" : "Mul");
			free(nm);
			sl_touch(c);
			rw++;
		}
	}
	return rw;
}

/* ======================================================= input pixels */

int sl_pass_input(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nin; i++) {
		REFRESH();
		nash_io *io = &g->inputs[i];
		if (nash_datatype_is_int(io->datatype) || sl_nuses(c, io->name) != 1)
			continue;
		nash_node *q = sl_only_consumer(c, io->name);
		if (!q || !is(q, "Quant") || strcmp(q->in[0], io->name) != 0)
			continue;
		nash_qparams qp;
		if (nash_qparams_get(g, q, &qp, c->e) < 0) {
			nash_err_prefix(c->e, "graph %s: ", g->name);
			return -1;
		}
		if (nash_tensor_numel(qp.scale) != 1)
			continue;
		double s = *(const float *)qp.scale->data;
		/* what the quantizer makes of every pixel value p, fed as the
		 * float32 p/255 the float engine computes */
		int64_t tab[256];
		int ident = 1;
		for (int p = 0; p < 256; p++) {
			double x = (double)((float)p / 255.0f);
			double v = roundm(x / s + qp.zeropt, qp.rounding);
			v = v < qp.lo ? qp.lo : v > qp.hi ? qp.hi : v;
			tab[p] = (int64_t)(v - qp.zeropt);
			ident &= tab[p] == p;
		}
		io->dtype = NASH_U8;
		nash_datatype_parse("UINT8", &io->datatype);
		nash_tensor *it = nash_tensor_find(g, io->name);
		if (it && !it->data) {
			it->dtype = NASH_U8;
			it->datatype = io->datatype;
		}
		char *out = nash_strdup(q->out[0]), *name = nash_strdup(q->name);
		int nd = io->ndim;
		if (ident) {
			add_const_op(c, q, "Mul", name, io->name, &s, 1, nd, out);
		} else {
			/* levels tab[0]..tab[255] as integer thresholds on the pixel */
			int64_t lo = tab[0], steps = tab[255] - tab[0];
			if (steps < 1)
				steps = 1;
			int64_t *th = nash_alloc((size_t)steps * sizeof *th);
			for (int64_t t = 0; t < steps; t++) {
				th[t] = 256;
				for (int p = 0; p < 256; p++)
					if (tab[p] >= lo + t + 1) {
						th[t] = p;
						break;
					}
			}
			char *tn = fmt_name(c, name, ".T"), *mid = fmt_name(c, out, ".int");
			sl_param_int(g, tn, 2, (int64_t[]){1, steps}, th, nash_datatype_fit(0, 256));
			free(th);
			nash_node *mt = sl_insert_after(c, q, "MultiThreshold", name, (const char *[]){io->name, tn, NULL},
			                                (const char *[]){mid, NULL});
			nash_attr_set_float(mt, "out_scale", 1);
			nash_attr_set_float(mt, "out_bias", (double)lo);
			char dn[16];
			nash_attr_set_str(mt, "out_dtype", nash_datatype_name(sl_fit(lo, lo + steps), dn));
			char *mn = fmt_name(c, name, ".scale");
			add_const_op(c, mt, "Mul", mn, mid, &s, 1, nd, out);
			free(tn);
			free(mid);
			free(mn);
		}
		sl_remove(c, q);
		free(out);
		free(name);
		rw++;
	}
	return rw;
}

/* ========================================================= batch norm */

int sl_pass_bn(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "BatchNormalization") || n->nin != 5)
			continue;
		int ok = 1;
		for (int k = 1; k < 5; k++)
			ok &= sl_is_param(c, n->in[k]);
		if (!ok)
			continue;
		int64_t C = sl_channels(c, n->in[0]);
		double *p[4];
		for (int k = 0; k < 4; k++)
			p[k] = sl_tensor_f64(nash_tensor_find(g, n->in[k + 1]));
		double *A = nash_alloc((size_t)C * sizeof *A), *B = nash_alloc((size_t)C * sizeof *B);
		sl_bn_affine(p[0], p[1], p[2], p[3], nash_attr_float(n, "epsilon", 1e-5), C, A, B);
		int nd = data_ndim(c, n->in[0]);
		char *x = nash_strdup(n->in[0]), *out = nash_strdup(n->out[0]), *name = nash_strdup(n->name);
		char *mid = fmt_name(c, out, ".scaled"), *mn = fmt_name(c, name, ".mul"), *an = fmt_name(c, name, ".add");
		nash_node *m = add_const_op(c, n, "Mul", mn, x, A, C, nd, mid);
		add_const_op(c, m, "Add", an, mid, B, C, nd, out);
		sl_remove(c, n);
		for (int k = 0; k < 4; k++)
			free(p[k]);
		free(A);
		free(B);
		free(x);
		free(out);
		free(name);
		free(mid);
		free(mn);
		free(an);
		i++;
		rw++;
	}
	return rw;
}

/* ==================================================== integer weights */

/* Per output channel values of a tensor s broadcast against a weight of
 * shape ws (the output axis is oax): the value for channel m, or -1 when s
 * varies along another axis. */
static int per_output(const nash_tensor *s, const double *sv, const nash_tensor *w, int oax, double *out)
{
	int64_t M = w->shape[oax];
	int64_t st[NASH_MAXDIM], acc = 1;
	for (int d = w->ndim - 1; d >= 0; d--) {
		int sd = s->ndim - (w->ndim - d);
		if (sd < 0 || s->shape[sd] == 1)
			st[d] = 0;
		else if (s->shape[sd] == w->shape[d]) {
			st[d] = acc;
			acc *= s->shape[sd];
		} else
			return -1;
		if (sd >= 0 && s->shape[sd] != 1 && d != oax)
			return -1;
	}
	if (s->ndim > w->ndim)
		for (int d = 0; d < s->ndim - w->ndim; d++)
			if (s->shape[d] != 1)
				return -1;
	for (int64_t m = 0; m < M; m++)
		out[m] = sv[m * st[oax]];
	return 0;
}

int sl_pass_weights(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if ((!is(n, "Conv") && !is(n, "Gemm")) || n->nin < 2)
			continue;
		nash_node *q = sl_producer(c, n->in[1]);
		if (!q || (!is(q, "Quant") && !is(q, "BipolarQuant")))
			continue;
		if (!sl_is_param(c, q->in[0]))
			return sl_fail(c, n, "weights %s are computed by node %s, not a quantized parameter", n->in[1], q->name);
		nash_qparams qp;
		if (nash_qparams_get(g, q, &qp, c->e) < 0) {
			nash_err_prefix(c->e, "graph %s: ", g->name);
			return -1;
		}
		if (qp.zeropt != 0)
			return sl_fail(c, q, "zero point %g on weights is not supported (nash quantizes with zero point 0)",
			               qp.zeropt);
		const nash_tensor *w = nash_tensor_find(g, q->in[0]);
		int conv = is(n, "Conv"), tb = !conv && nash_attr_int(n, "transB", 0);
		if ((conv && w->ndim != 4) || (!conv && w->ndim != 2))
			return sl_fail(c, n, "weights %s have an unexpected shape", w->name);
		int oax = conv ? 0 : tb ? 0 : 1;
		int64_t M = w->shape[oax], numel = nash_tensor_numel(w);
		/* float32 weights are read in place (11 M of them in a ResNet18) */
		double *wv = w->dtype == NASH_F32 && !(w->extra && nash_val_get(w->extra, "data_f64")) ? NULL : sl_tensor_f64(w);
		const float *wf = (const float *)w->data;
		double *sv = sl_tensor_f64(qp.scale);
		double *S = nash_alloc((size_t)M * sizeof *S);
		if (per_output(qp.scale, sv, w, oax, S) < 0) {
			free(wv);
			free(sv);
			free(S);
			return sl_fail(c, q, "the weight scale must be one value or one per output channel");
		}
		/* integer weights, as the quantizer computes them */
		int64_t inner = 1, outer = numel / (M * (oax == 0 ? numel / M : 1));
		for (int d = oax + 1; d < w->ndim; d++)
			inner *= w->shape[d];
		outer = numel / (M * inner);
		nash_datatype dt = qp.bipolar ? (nash_datatype){NASH_DT_BIPOLAR, 1} : sl_fit((int64_t)qp.lo, (int64_t)qp.hi);
		char *wn = fmt_name(c, w->name, ".int");
		nash_tensor *qt = sl_param_int0(g, wn, w->ndim, w->shape, dt);
		int round = qp.rounding[0] == 'R';
		/* nash-quant's integer export, when there is one (every 61st value
		 * is checked against the quantizer: a stale export is an error) */
		const char *itn = nash_attr_str(q, "int_tensor", NULL);
		const nash_tensor *it = itn ? nash_tensor_find(g, itn) : NULL;
		if (it && (!it->data || it->dtype == NASH_F32 || it->ndim != w->ndim ||
		           memcmp(it->shape, w->shape, sizeof(int64_t) * (size_t)w->ndim)))
			it = NULL;
		int64_t stale = -1;
		for (int64_t o = 0; o < outer; o++)
			for (int64_t m = 0; m < M; m++) {
				double s = S[m];
				for (int64_t j = 0; j < inner; j++) {
					int64_t k = (o * M + m) * inner + j, q;
					double x = it && k % 61 ? 0 : wv ? wv[k] : (double)wf[k];
					if (it && k % 61)
						q = nash_tensor_int(it, k);
					else if (qp.bipolar)
						q = x >= 0 ? 1 : -1;
					else {
						double v = round ? rint(x / s + qp.zeropt) : roundm(x / s + qp.zeropt, qp.rounding);
						q = (int64_t)(v < qp.lo ? qp.lo : v > qp.hi ? qp.hi : v);
					}
					if (it && k % 61 == 0 && nash_tensor_int(it, k) != q && stale < 0)
						stale = k;
					sl_iset(qt, k, q);
				}
			}
		free(wv);
		free(sv);
		if (stale >= 0) {
			free(S);
			free(wn);
			return sl_fail(c, q, "its integer export %s is stale (element %lld is %lld, the quantizer gives %lld): "
			               "refresh it with nash-quant --export", itn, (long long)stale, (long long)nash_tensor_int(it, stale),
			               (long long)nash_tensor_int(qt, stale));
		}
		double alpha = conv ? 1 : nash_attr_float(n, "alpha", 1), beta = conv ? 1 : nash_attr_float(n, "beta", 1);
		for (int64_t m = 0; m < M; m++)
			S[m] *= alpha;
		/* the bias, in real units */
		double *B = NULL;
		if (n->nin >= 3 && n->in[2][0]) {
			const nash_tensor *bt = nash_tensor_find(g, n->in[2]);
			nash_node *bq = sl_producer(c, n->in[2]);
			B = nash_alloc((size_t)M * sizeof *B);
			double *bv = NULL;
			int64_t bn = 0;
			if (bt && bt->data) {
				bv = sl_tensor_f64(bt);
				bn = nash_tensor_numel(bt);
			} else if (bq && is(bq, "Quant") && sl_is_param(c, bq->in[0])) {
				nash_qparams bp;
				if (nash_qparams_get(g, bq, &bp, c->e) < 0) {
					free(B);
					free(S);
					free(wn);
					nash_err_prefix(c->e, "graph %s: ", g->name);
					return -1;
				}
				const nash_tensor *raw = nash_tensor_find(g, bq->in[0]);
				bv = sl_tensor_f64(raw);
				bn = nash_tensor_numel(raw);
				double *bs = sl_tensor_f64(bp.scale);
				int64_t ns = nash_tensor_numel(bp.scale);
				for (int64_t k = 0; k < bn; k++) {
					double s = bs[ns == 1 ? 0 : k % ns];
					double v = roundm(bv[k] / s + bp.zeropt, bp.rounding);
					v = v < bp.lo ? bp.lo : v > bp.hi ? bp.hi : v;
					bv[k] = (v - bp.zeropt) * s;
				}
				free(bs);
			} else {
				free(B);
				free(S);
				free(wn);
				return sl_fail(c, n, "bias %s is neither a parameter nor a quantized parameter", n->in[2]);
			}
			for (int64_t m = 0; m < M; m++)
				B[m] = beta * bv[bn == 1 ? 0 : m];
			free(bv);
		}
		nash_node_set_in(n, 1, wn);
		sl_drop_inputs(n, 2);
		nash_val_del(n->attr, "alpha");
		nash_val_del(n->attr, "beta");
		char *out = nash_strdup(n->out[0]);
		char *acc = redirect_output(c, n, ".acc");
		int nd = conv ? 3 : 1;
		int same = 1;
		for (int64_t m = 1; m < M; m++)
			same &= S[m] == S[0];
		char *mn = fmt_name(c, n->name, ".wscale");
		if (B) {
			char *mid = fmt_name(c, out, ".scaled"), *an = fmt_name(c, n->name, ".bias");
			nash_node *mul = add_const_op(c, n, "Mul", mn, acc, S, same ? 1 : M, nd, mid);
			add_const_op(c, mul, "Add", an, mid, B, M, nd, out);
			free(mid);
			free(an);
		} else
			add_const_op(c, n, "Mul", mn, acc, S, same ? 1 : M, nd, out);
		free(mn);
		free(acc);
		free(out);
		free(wn);
		free(S);
		free(B);
		rw++;
	}
	return rw;
}

/* ================================================= the NASH pixel shift */

static int shift_amounts(sl_ctx *c, const nash_node *n, int64_t *sh, int64_t *sw)
{
	int64_t st[8], en[8], ax[8], sp[8];
	const nash_tensor *x = sl_shape(c, n->in[0]);
	if (!x || x->ndim != 3)
		return -1;
	int ns = nash_attr_ints(n, "starts", st, 8), ne = nash_attr_ints(n, "ends", en, 8);
	int na = nash_attr_ints(n, "axes", ax, 8), np = nash_attr_ints(n, "steps", sp, 8);
	if (ns < 1 || ns != ne || ns > 8)
		return -1;
	*sh = *sw = 0;
	for (int i = 0; i < ns; i++) {
		int a = na >= 0 ? (int)(ax[i] < 0 ? ax[i] + 4 : ax[i]) : i;
		if (np >= 0 && sp[i] != 1)
			return -1;
		if (a != 2 && a != 3)
			return -1;
		int64_t dim = x->shape[a - 1];
		if (st[i] < 0 || st[i] >= dim || (en[i] < dim && en[i] >= 0) || en[i] < 0)
			return -1;
		if (a == 2)
			*sh = st[i];
		else
			*sw = st[i];
	}
	return 0;
}

int sl_pass_slice(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		int64_t sh, sw;
		if (!is(n, "Slice") || shift_amounts(c, n, &sh, &sw) < 0)
			continue;
		int nc;
		nash_node **cs = sl_consumers(c, n->out[0], &nc);
		int ok = nc > 0 && sl_nuses(c, n->out[0]) == nc;
		for (int k = 0; k < nc && ok; k++) {
			nash_node *cv = cs[k];
			int64_t p[4], d[2];
			ok = is(cv, "Conv") && strcmp(cv->in[0], n->out[0]) == 0 && cv->nin >= 2 && sl_is_param(c, cv->in[1]) &&
			     nash_attr_int(cv, "group", 1) == 1;
			if (ok && nash_attr_ints(cv, "pads", p, 4) == 4)
				ok = (!sh || p[0] == 0) && (!sw || p[1] == 0);
			if (ok && nash_attr_ints(cv, "dilations", d, 2) == 2)
				ok = d[0] == 1 && d[1] == 1;
			for (int j = 1; ok && j < cv->nin; j++)
				ok = strcmp(cv->in[j], n->out[0]) != 0;
		}
		if (!ok) {
			free(cs);
			continue;
		}
		for (int k = 0; k < nc; k++) {
			nash_node *cv = cs[k];
			const nash_tensor *w = nash_tensor_find(g, cv->in[1]);
			int64_t M = w->shape[0], C = w->shape[1], KH = w->shape[2], KW = w->shape[3];
			int64_t sh2[4] = {M, C, KH + sh, KW + sw};
			double *v = sl_tensor_f64(w);
			int64_t n2 = M * C * (KH + sh) * (KW + sw);
			char *wn = fmt_name(c, w->name, ".shifted");
			if (nash_datatype_is_int(w->datatype)) {
				int64_t *q = nash_alloc((size_t)n2 * sizeof *q);
				for (int64_t mc = 0; mc < M * C; mc++)
					for (int64_t y = 0; y < KH; y++)
						for (int64_t x = 0; x < KW; x++)
							q[(mc * (KH + sh) + y + sh) * (KW + sw) + x + sw] = (int64_t)v[(mc * KH + y) * KW + x];
				/* the new taps are zeros: bipolar weights become INT2 */
				nash_datatype dt = w->datatype.kind == NASH_DT_BIPOLAR ? (nash_datatype){NASH_DT_INT, 2} : w->datatype;
				sl_param_int(g, wn, 4, sh2, q, dt);
				free(q);
			} else {
				double *q = nash_alloc((size_t)n2 * sizeof *q);
				for (int64_t mc = 0; mc < M * C; mc++)
					for (int64_t y = 0; y < KH; y++)
						for (int64_t x = 0; x < KW; x++)
							q[(mc * (KH + sh) + y + sh) * (KW + sw) + x + sw] = v[(mc * KH + y) * KW + x];
				sl_param_f64(g, wn, 4, sh2, q);
				free(q);
			}
			free(v);
			nash_node_set_in(cv, 0, n->in[0]);
			nash_node_set_in(cv, 1, wn);
			nash_attr_set_ints(cv, "kernel_shape", 2, (int64_t[]){KH + sh, KW + sw});
			free(wn);
			rw++;
		}
		free(cs);
		sl_touch(c);
		sl_prune(c);
	}
	return rw;
}

/* ================================================= channel zero padding */

int sl_pass_pad(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "Pad"))
			continue;
		const nash_tensor *x = sl_shape(c, n->in[0]);
		int64_t p[8];
		if (!x || x->ndim != 3 || nash_attr_ints(n, "pads", p, 8) != 8 || nash_attr_float(n, "value", 0) != 0 ||
		    strcmp(nash_attr_str(n, "mode", "constant"), "constant") != 0)
			continue;
		if (p[0] || p[2] || p[3] || p[4] || p[6] || p[7] || p[1] < 0 || p[5] < 0)
			continue;
		int64_t C = x->shape[0], Co = C + p[1] + p[5];
		int64_t *w = nash_alloc((size_t)(Co * C) * sizeof *w);
		for (int64_t k = 0; k < C; k++)
			w[(p[1] + k) * C + k] = 1;
		char *wn = fmt_name(c, n->name, ".weight");
		sl_param_int(g, wn, 4, (int64_t[]){Co, C, 1, 1}, w, (nash_datatype){NASH_DT_BINARY, 1});
		free(w);
		char *nm = fmt_name(c, n->name, ".conv");
		nash_node *cv = sl_insert_after(c, n, "Conv", nm, (const char *[]){n->in[0], wn, NULL},
		                                (const char *[]){n->out[0], NULL});
		nash_attr_set_ints(cv, "kernel_shape", 2, (int64_t[]){1, 1});
		nash_attr_set_ints(cv, "strides", 2, (int64_t[]){1, 1});
		nash_attr_set_ints(cv, "pads", 4, (int64_t[]){0, 0, 0, 0});
		nash_attr_set_ints(cv, "dilations", 2, (int64_t[]){1, 1});
		nash_attr_set_int(cv, "group", 1);
		nash_val *role = nash_val_get(n->attr, "role");
		if (role)
			nash_val_set(cv->attr, "role", nash_val_copy(role));
		sl_remove(c, n);
		free(wn);
		free(nm);
		rw++;
	}
	return rw;
}

/* =========================================== quantizers to thresholds */

/* Per channel values of a scale tensor against data of shape x: nc = 1
 * (one value) or the channel count; -1 otherwise. */
static double *channel_values(const nash_tensor *s, const nash_tensor *x, int64_t *nc)
{
	int64_t n = nash_tensor_numel(s);
	if (n == 1) {
		*nc = 1;
		return sl_tensor_f64(s);
	}
	int64_t C = x->ndim ? x->shape[0] : 1;
	if (n != C)
		return NULL;
	if (x->ndim == 3 && !(s->ndim >= 3 && s->shape[s->ndim - 3] == C && s->shape[s->ndim - 2] == 1 &&
	                      s->shape[s->ndim - 1] == 1))
		return NULL;
	if (x->ndim == 1 && s->shape[s->ndim - 1] != C)
		return NULL;
	*nc = C;
	return sl_tensor_f64(s);
}

int sl_pass_quant(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *q = g->nodes[i];
		if ((!is(q, "Quant") && !is(q, "BipolarQuant")) || sl_is_param(c, q->in[0]))
			continue;
		nash_qparams qp;
		if (nash_qparams_get(g, q, &qp, c->e) < 0) {
			nash_err_prefix(c->e, "graph %s: ", g->name);
			return -1;
		}
		if (qp.zeropt != 0)
			return sl_fail(c, q, "zero point %g is not supported (nash quantizes with zero point 0)", qp.zeropt);
		/* a clamp before the quantizer (Relu, HardTanh) folds into it */
		const char *x = q->in[0];
		double mn = -INFINITY, mx = INFINITY;
		nash_node *p = sl_producer(c, x), *dead = NULL;
		if (p && (is(p, "Relu") || is(p, "HardTanh"))) {
			/* Quant(clamp(x)) is a threshold unit on x whatever else reads
			 * the clamp (a second quantizer, e.g. nash-quant's aq_nas) */
			if (sl_nuses(c, x) == 1)
				dead = p;
			if (is(p, "Relu"))
				mn = 0;
			else
				mn = nash_attr_float(p, "min_val", -1), mx = nash_attr_float(p, "max_val", 1);
			x = p->in[0];
		}
		const nash_tensor *xs = sl_shape(c, x);
		int64_t nc;
		double *S = channel_values(qp.scale, xs, &nc);
		if (!S)
			return sl_fail(c, q, "the scale must be one value or one per channel");
		int64_t steps = qp.bipolar ? 1 : (int64_t)(qp.hi - qp.lo);
		if (steps > 65535)
			return sl_fail(c, q, "%d-bit activations are too wide for thresholds (at most 16 bits)", qp.bits);
		if (steps < 1)
			steps = 1;
		double *T = nash_alloc((size_t)(nc * steps) * sizeof *T);
		int64_t *strict = nash_alloc((size_t)steps * sizeof *strict);
		for (int64_t ch = 0; ch < nc; ch++) {
			double s = S[ch];
			if (qp.bipolar) {
				/* sign(clamp(x)): +1 from 0 on */
				T[ch] = mn >= 0 ? -BIG : mx < 0 ? BIG : 0;
				continue;
			}
			double qmn = isfinite(mn) ? roundm(mn / s, qp.rounding) : qp.lo;
			double qmx = isfinite(mx) ? roundm(mx / s, qp.rounding) : qp.hi;
			for (int64_t t = 0; t < steps; t++) {
				double k = qp.lo + (double)t; /* the step from level k to k + 1 */
				double b;
				int st;
				if (qp.rounding[0] == 'F')
					b = k + 1, st = 0;
				else if (qp.rounding[0] == 'C')
					b = k, st = 1;
				else
					b = k + 0.5, st = fmod(k, 2.0) == 0; /* ties go to the even level */
				strict[t] = st;
				double v = b * s;
				if (k + 1 <= qmn)
					v = -BIG;
				else if (k + 1 > qmx)
					v = BIG;
				T[ch * steps + t] = v;
			}
		}
		char *name = nash_strdup(q->name), *out = nash_strdup(q->out[0]);
		char *tn = fmt_name(c, name, ".T"), *mid = fmt_name(c, out, ".int");
		sl_param_f64(g, tn, 2, (int64_t[]){nc, steps}, T);
		nash_node *mt = sl_insert_after(c, q, "MultiThreshold", name, (const char *[]){x, tn, NULL},
		                                (const char *[]){mid, NULL});
		char dn[16];
		if (qp.bipolar) {
			nash_attr_set_float(mt, "out_scale", 2);
			nash_attr_set_float(mt, "out_bias", -1);
			nash_attr_set_str(mt, "out_dtype", "BIPOLAR");
		} else {
			nash_attr_set_float(mt, "out_scale", 1);
			nash_attr_set_float(mt, "out_bias", qp.lo);
			nash_attr_set_str(mt, "out_dtype",
			                  nash_datatype_name(sl_fit((int64_t)qp.lo, (int64_t)qp.lo + steps), dn));
			int any = 0;
			for (int64_t t = 0; t < steps; t++)
				any |= strict[t] != 0;
			if (any)
				nash_attr_set_ints(mt, "strict", (int)steps, strict);
		}
		nash_val *role = nash_val_get(q->attr, "target");
		if (role)
			nash_val_set(mt->attr, "target", nash_val_copy(role));
		char *sn = fmt_name(c, name, ".scale");
		add_const_op(c, mt, "Mul", sn, mid, S, nc, data_ndim(c, x), out);
		sl_remove(c, q);
		free(sn);
		free(name);
		free(out);
		free(tn);
		free(mid);
		free(T);
		free(strict);
		free(S);
		if (dead)
			sl_remove(c, dead);
		rw++;
	}
	return rw;
}

/* ===================================================== scale fan-out */

int sl_pass_fanout(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *m = g->nodes[i];
		double *v;
		int64_t nc;
		int d = sl_const_op(c, m, "Mul", &v, &nc);
		if (d < 0)
			d = sl_const_op(c, m, "Add", &v, &nc);
		if (d < 0)
			continue;
		free(v);
		int uses = sl_nuses(c, m->out[0]);
		int is_out = 0;
		for (int k = 0; k < g->nout; k++)
			is_out += strcmp(g->outputs[k].name, m->out[0]) == 0;
		if (uses - is_out <= (is_out ? 0 : 1))
			continue;
		/* every node input after the first (all of them when the tensor is
		 * also a graph output) gets its own copy */
		int skip = is_out ? 0 : 1;
		char *orig = nash_strdup(m->out[0]);
		for (int j = i + 1; j < g->nnodes; j++) {
			nash_node *u = g->nodes[j];
			for (int k = 0; k < u->nin; k++) {
				if (strcmp(u->in[k], orig) != 0)
					continue;
				if (skip) {
					skip = 0;
					continue;
				}
				char *o = fmt_name(c, orig, ".copy"), *nm = fmt_name(c, m->name, ".copy");
				sl_insert_after(c, m, m->op, nm, (const char *[]){m->in[0], m->in[1], NULL},
				                (const char *[]){o, NULL});
				j++;
				nash_node_set_in(u, k, o);
				free(o);
				free(nm);
				rw++;
			}
		}
		free(orig);
		sl_touch(c);
	}
	return rw;
}

/* =========================================================== collapse */

static double *combine(const double *a, int64_t na, const double *b, int64_t nb, int mul, int64_t *n)
{
	*n = na > nb ? na : nb;
	double *r = nash_alloc((size_t)*n * sizeof *r);
	for (int64_t k = 0; k < *n; k++) {
		double x = a[na == 1 ? 0 : k], y = b[nb == 1 ? 0 : k];
		r[k] = mul ? x * y : x + y;
	}
	return r;
}

int sl_pass_collapse(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		double *v;
		int64_t nc;
		int mul = 1, d = sl_const_op(c, n, "Mul", &v, &nc);
		if (d < 0) {
			mul = 0;
			d = sl_const_op(c, n, "Add", &v, &nc);
		}
		if (d < 0)
			continue;
		const char *x = n->in[d];
		int unit = 1;
		for (int64_t k = 0; k < nc; k++)
			unit &= v[k] == (mul ? 1.0 : 0.0);
		if (unit && d == 0 && sl_bypass(c, n)) {
			free(v);
			i--;
			rw++;
			continue;
		}
		nash_node *p = sl_producer(c, x);
		double *pv;
		int64_t pn;
		if (!p || sl_nuses(c, x) != 1) {
			free(v);
			continue;
		}
		int nd = data_ndim(c, x);
		int pd = sl_const_op(c, p, mul ? "Mul" : "Add", &pv, &pn);
		if (pd >= 0) {
			/* Mul(Mul(y, a), b) = Mul(y, ab); Add(Add(y, a), b) = Add(y, a + b) */
			int64_t rn;
			double *r = combine(pv, pn, v, nc, mul, &rn);
			char *k = sl_const_new(c, n->name, r, rn, nd);
			nash_node_set_in(n, d, p->in[pd]);
			nash_node_set_in(n, 1 - d, k);
			free(k);
			free(r);
			free(pv);
			sl_touch(c);
			rw++;
		} else if (mul && (pd = sl_const_op(c, p, "Add", &pv, &pn)) >= 0) {
			/* Mul(Add(y, b), a) = Add(Mul(y, a), ab): scales come first */
			int64_t rn;
			double *ab = combine(pv, pn, v, nc, 1, &rn);
			char *ka = sl_const_new(c, n->name, v, nc, nd), *kb = sl_const_new(c, p->name, ab, rn, nd);
			nash_node_set_in(p, 1 - pd, ka);
			nash_node_set_in(n, 1 - d, kb);
			free(n->op);
			n->op = nash_strdup("Add");
			free(p->op);
			p->op = nash_strdup("Mul");
			free(ka);
			free(kb);
			free(ab);
			free(pv);
			sl_touch(c);
			rw++;
		}
		free(v);
	}
	if (rw)
		sl_prune(c);
	return rw;
}

/* ======================================== negative scales into weights */

/* Can the channels of tensor t be negated where they are computed: a Conv
 * or Gemm with integer weights, possibly through channel Concats? */
static int can_flip(sl_ctx *c, const char *t, int depth)
{
	nash_node *p = sl_producer(c, t);
	if (!p || sl_nuses(c, t) != 1 || depth > 8)
		return 0;
	if ((is(p, "Conv") || is(p, "Gemm")) && p->nin == 2 && sl_is_param(c, p->in[1]))
		return nash_datatype_is_int(nash_tensor_find(c->g, p->in[1])->datatype);
	if (is(p, "Concat")) {
		const nash_tensor *y = sl_shape(c, p->out[0]);
		int64_t ax = nash_attr_int(p, "axis", 1);
		if (!y || (ax < 0 ? ax + y->ndim + 1 : ax) != 1)
			return 0;
		for (int k = 0; k < p->nin; k++)
			if (!can_flip(c, p->in[k], depth + 1))
				return 0;
		return 1;
	}
	return 0;
}

/* Negate the channels ch of tensor t (at offset off of a) where a < 0, at
 * their source; returns the name of the tensor that now holds the flipped
 * values (malloc'd; t itself when nothing changed). */
static char *flip_tensor(sl_ctx *c, const char *t, const double *a, int64_t nc, int64_t off)
{
	nash_graph *g = c->g;
	nash_node *p = sl_producer(c, t);
	int64_t C = sl_channels(c, t);
	int any = 0;
	for (int64_t ch = 0; ch < C; ch++)
		any |= a[nc == 1 ? 0 : off + ch] < 0;
	if (!any)
		return nash_strdup(t);
	if (is(p, "Concat")) {
		int64_t o = off;
		for (int k = 0; k < p->nin; k++) {
			int64_t Ck = sl_channels(c, p->in[k]);
			char *nk = flip_tensor(c, p->in[k], a, nc, o);
			nash_node_set_in(p, k, nk);
			free(nk);
			o += Ck;
		}
		return redirect_output(c, p, ".flip");
	}
	const nash_tensor *w = nash_tensor_find(g, p->in[1]);
	int conv = is(p, "Conv"), tb = !conv && nash_attr_int(p, "transB", 0);
	int oax = conv || tb ? 0 : 1;
	int64_t M = w->shape[oax], numel = nash_tensor_numel(w), inner = 1;
	for (int d = oax + 1; d < w->ndim; d++)
		inner *= w->shape[d];
	double *wv = sl_tensor_f64(w);
	int64_t *q = nash_alloc((size_t)numel * sizeof *q);
	for (int64_t k = 0; k < numel; k++) {
		int64_t ch = (k / inner) % M;
		q[k] = (int64_t)wv[k] * (a[nc == 1 ? 0 : off + ch] < 0 ? -1 : 1);
	}
	/* the datatype stays when the negated values still fit it */
	nash_datatype dt = w->datatype;
	if (dt.kind != NASH_DT_BIPOLAR) {
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (int64_t k = 0; k < numel; k++) {
			lo = q[k] < lo ? q[k] : lo;
			hi = q[k] > hi ? q[k] : hi;
		}
		if (lo < nash_datatype_min(dt) || hi > nash_datatype_max(dt))
			dt = sl_fit(lo < -hi ? lo : -hi, hi > -lo ? hi : -lo);
	}
	char *wn = fmt_name(c, w->name, ".flip");
	sl_param_int(g, wn, w->ndim, w->shape, q, dt);
	free(q);
	free(wv);
	nash_node_set_in(p, 1, wn);
	free(wn);
	return redirect_output(c, p, ".flip");
}

int sl_pass_flip(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *m = g->nodes[i];
		double *a;
		int64_t nc;
		int d = sl_const_op(c, m, "Mul", &a, &nc);
		if (d < 0)
			continue;
		int neg = 0;
		for (int64_t k = 0; k < nc; k++)
			neg |= a[k] < 0;
		if (!neg || !can_flip(c, m->in[d], 0)) {
			free(a);
			continue;
		}
		int64_t C = sl_channels(c, m->in[d]);
		char *nx = flip_tensor(c, m->in[d], a, nc, 0);
		double *abs_a = nash_alloc((size_t)C * sizeof *abs_a);
		for (int64_t k = 0; k < C; k++)
			abs_a[k] = fabs(a[nc == 1 ? 0 : k]);
		int same = 1;
		for (int64_t k = 1; k < C; k++)
			same &= abs_a[k] == abs_a[0];
		char *k = sl_const_new(c, m->name, abs_a, same ? 1 : C, data_ndim(c, m->in[d]));
		nash_node_set_in(m, d, nx);
		nash_node_set_in(m, 1 - d, k);
		free(k);
		free(nx);
		free(abs_a);
		free(a);
		sl_touch(c);
		rw++;
	}
	return rw;
}

/* ====================================================== move scales */

/* Move the Mul/Add-by-constant node m (feeding input k of n) past n: n reads
 * m's data input, writes a fresh tensor, and a new node applying the
 * constant vals (nc, for data of rank nd) writes n's old output. */
static void move_past(sl_ctx *c, nash_node *m, int d, nash_node *n, int k, const double *vals, int64_t nc, int nd)
{
	char *op = nash_strdup(m->op), *mn = nash_strdup(m->name);
	nash_node_set_in(n, k, m->in[d]);
	char *out = nash_strdup(n->out[0]);
	char *fresh = redirect_output(c, n, op[0] == 'M' ? ".unscaled" : ".unshifted");
	add_const_op(c, n, op, mn, fresh, vals, nc, nd, out);
	free(op);
	free(mn);
	free(out);
	free(fresh);
}

static int equal_consts(const double *a, int64_t na, const double *b, int64_t nb)
{
	int64_t n = na > nb ? na : nb;
	for (int64_t k = 0; k < n; k++) {
		double x = a[na == 1 ? 0 : k], y = b[nb == 1 ? 0 : k];
		if (fabs(x - y) > 1e-12 * fabs(x))
			return 0;
	}
	return 1;
}

static int move_concat(sl_ctx *c, nash_node *n)
{
	const nash_tensor *ys = sl_shape(c, n->out[0]);
	if (!ys || (ys->ndim != 3 && ys->ndim != 1))
		return 0;
	int64_t ax = nash_attr_int(n, "axis", 1);
	if (ax < 0)
		ax += ys->ndim + 1;
	if (ax != 1)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		const char *op = pass == 0 ? "Add" : "Mul";
		int any = 0;
		for (int k = 0; k < n->nin; k++) {
			nash_node *p = sl_producer(c, n->in[k]);
			any |= p && sl_nuses(c, n->in[k]) == 1 && sl_const_op(c, p, op, NULL, NULL) >= 0;
		}
		if (!any)
			continue;
		int64_t C = ys->shape[0], off = 0;
		double *v = nash_alloc((size_t)C * sizeof *v);
		nash_node **dead = nash_alloc((size_t)(n->nin + 1) * sizeof *dead);
		int ndead = 0;
		for (int k = 0; k < n->nin; k++) {
			int64_t Ck = sl_channels(c, n->in[k]);
			nash_node *p = sl_producer(c, n->in[k]);
			double *pv = NULL;
			int64_t pn = 0;
			int d = p && sl_nuses(c, n->in[k]) == 1 ? sl_const_op(c, p, op, &pv, &pn) : -1;
			for (int64_t j = 0; j < Ck; j++)
				v[off + j] = d >= 0 ? pv[pn == 1 ? 0 : j] : pass == 0 ? 0.0 : 1.0;
			if (d >= 0) {
				nash_node_set_in(n, k, p->in[d]);
				dead[ndead++] = p;
				free(pv);
			}
			off += Ck;
		}
		for (int k = 0; k < ndead; k++)
			sl_remove(c, dead[k]);
		free(dead);
		char *out = nash_strdup(n->out[0]), *nm = fmt_name(c, n->name, pass == 0 ? ".shift" : ".scale");
		char *fresh = redirect_output(c, n, pass == 0 ? ".unshifted" : ".unscaled");
		add_const_op(c, n, op, nm, fresh, v, C, ys->ndim, out);
		free(out);
		free(nm);
		free(fresh);
		free(v);
		return 1;
	}
	return 0;
}

int sl_pass_move(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (is(n, "Concat")) {
			if (move_concat(c, n))
				rw++;
			continue;
		}
		if (is(n, "Add") && n->nin == 2 && !sl_is_param(c, n->in[0]) && !sl_is_param(c, n->in[1])) {
			/* the residual add */
			nash_node *p[2];
			double *v[2] = {NULL, NULL};
			int64_t nv[2];
			int dd[2], done = 0;
			for (int k = 0; k < 2; k++) {
				p[k] = sl_nuses(c, n->in[k]) == 1 ? sl_producer(c, n->in[k]) : NULL;
				dd[k] = p[k] ? sl_const_op(c, p[k], "Add", &v[k], &nv[k]) : -1;
			}
			for (int k = 0; k < 2 && !done; k++)
				if (dd[k] >= 0) {
					/* Add(Add(x, b), y) = Add(Add(x, y), b) */
					move_past(c, p[k], dd[k], n, k, v[k], nv[k], data_ndim(c, n->out[0]));
					sl_remove(c, p[k]);
					done = 1;
				}
			for (int k = 0; k < 2; k++)
				free(v[k]);
			if (!done) {
				for (int k = 0; k < 2; k++)
					dd[k] = p[k] ? sl_const_op(c, p[k], "Mul", &v[k], &nv[k]) : -1;
				if (dd[0] >= 0 && dd[1] >= 0 && equal_consts(v[0], nv[0], v[1], nv[1])) {
					nash_node_set_in(n, 1, p[1]->in[dd[1]]);
					move_past(c, p[0], dd[0], n, 0, v[0], nv[0], data_ndim(c, n->out[0]));
					if (p[1] != p[0])
						sl_remove(c, p[1]);
					sl_remove(c, p[0]);
					done = 1;
				}
				for (int k = 0; k < 2; k++)
					free(dd[k] >= 0 ? v[k] : NULL);
			}
			if (done)
				rw++;
			continue;
		}
		if (n->nin < 1 || is(n, "MultiThreshold") || is(n, "Mul") || is(n, "Add"))
			continue;
		const char *x = n->in[0];
		nash_node *m = sl_producer(c, x);
		if (!m || sl_nuses(c, x) != 1)
			continue;
		double *v;
		int64_t nc;
		int mul = 1, d = sl_const_op(c, m, "Mul", &v, &nc);
		if (d < 0) {
			mul = 0;
			d = sl_const_op(c, m, "Add", &v, &nc);
		}
		if (d < 0)
			continue;
		int nd = data_ndim(c, n->out[0]), moved = 0;
		int pos = 1;
		for (int64_t k = 0; k < nc; k++)
			pos &= v[k] >= 0;
		if (is(n, "Conv") && n->nin == 2 && sl_is_param(c, n->in[1])) {
			int64_t p[4] = {0, 0, 0, 0};
			nash_attr_ints(n, "pads", p, 4);
			if (mul && nc == 1) {
				move_past(c, m, d, n, 0, v, 1, 3);
				moved = 1;
			} else if (!mul && !p[0] && !p[1] && !p[2] && !p[3] && nash_attr_int(n, "group", 1) == 1) {
				/* Conv(x + b) = Conv(x) + sum of W b (no padding) */
				const nash_tensor *w = nash_tensor_find(g, n->in[1]);
				double *wv = sl_tensor_f64(w);
				int64_t M = w->shape[0], C = w->shape[1], KK = w->shape[2] * w->shape[3];
				double *r = nash_alloc((size_t)M * sizeof *r);
				for (int64_t o = 0; o < M; o++)
					for (int64_t ci = 0; ci < C; ci++)
						for (int64_t k = 0; k < KK; k++)
							r[o] += wv[(o * C + ci) * KK + k] * v[nc == 1 ? 0 : ci];
				move_past(c, m, d, n, 0, r, M, 3);
				free(wv);
				free(r);
				moved = 1;
			}
		} else if (is(n, "Gemm") && n->nin == 2 && sl_is_param(c, n->in[1])) {
			if (mul && nc == 1) {
				move_past(c, m, d, n, 0, v, 1, 1);
				moved = 1;
			} else if (!mul) {
				const nash_tensor *w = nash_tensor_find(g, n->in[1]);
				int tb = (int)nash_attr_int(n, "transB", 0);
				double *wv = sl_tensor_f64(w), alpha = nash_attr_float(n, "alpha", 1);
				int64_t K = tb ? w->shape[1] : w->shape[0], N = tb ? w->shape[0] : w->shape[1];
				double *r = nash_alloc((size_t)N * sizeof *r);
				for (int64_t o = 0; o < N; o++)
					for (int64_t k = 0; k < K; k++)
						r[o] += alpha * (tb ? wv[o * K + k] : wv[k * N + o]) * v[nc == 1 ? 0 : k];
				move_past(c, m, d, n, 0, r, N, 1);
				free(wv);
				free(r);
				moved = 1;
			}
		} else if (is(n, "MaxPool")) {
			if (!mul || pos) {
				move_past(c, m, d, n, 0, v, nc, nd);
				moved = 1;
			}
		} else if (is(n, "GlobalAveragePool") || is(n, "AveragePool")) {
			int64_t p[4] = {0, 0, 0, 0};
			nash_attr_ints(n, "pads", p, 4);
			int padded = p[0] || p[1] || p[2] || p[3];
			if (mul || !padded || !nash_attr_int(n, "count_include_pad", 0)) {
				move_past(c, m, d, n, 0, v, nc, nd);
				moved = 1;
			}
		} else if (is(n, "Relu")) {
			if (mul && pos) {
				move_past(c, m, d, n, 0, v, nc, nd);
				moved = 1;
			}
		} else if (is(n, "Flatten")) {
			const nash_tensor *xs = sl_shape(c, m->in[d]);
			if (nc == 1) {
				move_past(c, m, d, n, 0, v, 1, 1);
				moved = 1;
			} else if (xs && xs->ndim == 3) {
				int64_t inner = xs->shape[1] * xs->shape[2], K = nc * inner;
				double *r = nash_alloc((size_t)K * sizeof *r);
				for (int64_t k = 0; k < K; k++)
					r[k] = v[k / inner];
				move_past(c, m, d, n, 0, r, K, 1);
				free(r);
				moved = 1;
			}
		} else if (is(n, "Slice")) {
			int64_t ax[8];
			int na = nash_attr_ints(n, "axes", ax, 8), chan = na < 0;
			for (int k = 0; k < na; k++)
				chan |= ax[k] == 1 || ax[k] == -3;
			if (nc == 1 || !chan) {
				move_past(c, m, d, n, 0, v, nc, nd);
				moved = 1;
			}
		} else if (is(n, "Transpose")) {
			if (nc == 1) {
				move_past(c, m, d, n, 0, v, 1, nd);
				moved = 1;
			}
		} else if (is(n, "Pad")) {
			int64_t p[8];
			int cp = nash_attr_ints(n, "pads", p, 8) == 8 && (p[1] || p[5]);
			if (mul && nash_attr_float(n, "value", 0) == 0 && (nc == 1 || !cp)) {
				move_past(c, m, d, n, 0, v, nc, nd);
				moved = 1;
			}
		}
		free(v);
		if (moved) {
			sl_remove(c, m);
			rw++;
		}
	}
	return rw;
}

/* ============================================ absorb into thresholds */

static double *thresholds_f64(sl_ctx *c, const nash_node *mt, int64_t C, int64_t *steps)
{
	const nash_tensor *t = nash_tensor_find(c->g, mt->in[1]);
	*steps = t->shape[1];
	double *v = sl_tensor_f64(t), *r = nash_alloc((size_t)(C * *steps) * sizeof *r);
	for (int64_t ch = 0; ch < C; ch++)
		memcpy(r + ch * *steps, v + (t->shape[0] == 1 ? 0 : ch) * *steps, (size_t)*steps * sizeof *r);
	free(v);
	return r;
}

/* Insert a sign flip (a 1 x 1 convolution, or a Gemm on vectors, with
 * weights diag(sign a)) before the Mul m, which keeps |a|. */
static void insert_sign(sl_ctx *c, nash_node *m, int d, const double *a, int64_t nc)
{
	nash_graph *g = c->g;
	const char *x = m->in[d];
	int nd = data_ndim(c, x);
	int64_t C = sl_channels(c, x);
	int64_t *w = nash_alloc((size_t)(C * C) * sizeof *w);
	double *abs_a = nash_alloc((size_t)C * sizeof *abs_a);
	for (int64_t k = 0; k < C; k++) {
		double v = a[nc == 1 ? 0 : k];
		w[k * C + k] = v < 0 ? -1 : 1;
		abs_a[k] = fabs(v);
	}
	char *wn = fmt_name(c, m->name, ".sign"), *nm = fmt_name(c, m->name, ".sign"), *o = fmt_name(c, x, ".signed");
	nash_node *cv;
	if (nd == 3) {
		sl_param_int(g, wn, 4, (int64_t[]){C, C, 1, 1}, w, (nash_datatype){NASH_DT_INT, 2});
		cv = sl_insert_before(c, m, "Conv", nm, (const char *[]){x, wn, NULL}, (const char *[]){o, NULL});
		nash_attr_set_ints(cv, "kernel_shape", 2, (int64_t[]){1, 1});
		nash_attr_set_ints(cv, "strides", 2, (int64_t[]){1, 1});
		nash_attr_set_ints(cv, "pads", 4, (int64_t[]){0, 0, 0, 0});
		nash_attr_set_ints(cv, "dilations", 2, (int64_t[]){1, 1});
		nash_attr_set_int(cv, "group", 1);
	} else {
		sl_param_int(g, wn, 2, (int64_t[]){C, C}, w, (nash_datatype){NASH_DT_INT, 2});
		cv = sl_insert_before(c, m, "Gemm", nm, (const char *[]){x, wn, NULL}, (const char *[]){o, NULL});
		nash_attr_set_int(cv, "transB", 1);
	}
	char *k = sl_const_new(c, m->name, abs_a, C, nd);
	nash_node_set_in(m, d, o);
	nash_node_set_in(m, 1 - d, k);
	free(k);
	free(wn);
	free(nm);
	free(o);
	free(w);
	free(abs_a);
	sl_touch(c);
}

int sl_pass_absorb(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "MultiThreshold") || !sl_is_param(c, n->in[1]))
			continue;
		nash_node *m = sl_producer(c, n->in[0]);
		if (!m || sl_nuses(c, n->in[0]) != 1)
			continue;
		double *v;
		int64_t nc;
		int mul = 1, d = sl_const_op(c, m, "Mul", &v, &nc);
		if (d < 0) {
			mul = 0;
			d = sl_const_op(c, m, "Add", &v, &nc);
		}
		if (d < 0)
			continue;
		if (mul) {
			int neg = 0;
			for (int64_t k = 0; k < nc; k++)
				neg |= v[k] < 0;
			if (neg) {
				/* flip-negative takes what has weights to negate; an integer
				 * input with none gets a sign convolution; anything else waits
				 * for the other passes */
				if (!can_flip(c, m->in[d], 0) && sl_info(c, m->in[d])) {
					insert_sign(c, m, d, v, nc);
					rw++;
				}
				free(v);
				continue;
			}
		}
		int64_t C = sl_channels(c, n->in[0]), steps;
		const nash_tensor *tt = nash_tensor_find(g, n->in[1]);
		int64_t rows = nc == 1 && tt->shape[0] == 1 ? 1 : C;
		double *T = thresholds_f64(c, n, rows, &steps);
		char *strict = sl_strict_get(n, steps);
		for (int64_t r = 0; r < rows; r++) {
			double a = v[nc == 1 ? 0 : r];
			for (int64_t t = 0; t < steps; t++) {
				double *p = &T[r * steps + t];
				if (fabs(*p) >= BIG)
					continue;
				if (!mul)
					*p -= a;
				else if (a > 0) {
					*p /= a;
					if (fabs(*p) >= BIG)
						*p = *p > 0 ? BIG : -BIG;
				} else /* a == 0: the input is 0 */
					*p = (strict[t] ? 0 > *p : 0 >= *p) ? -BIG : BIG;
			}
		}
		char *tn = fmt_name(c, n->name, ".T");
		sl_param_f64(g, tn, 2, (int64_t[]){rows, steps}, T);
		nash_node_set_in(n, 0, m->in[d]);
		nash_node_set_in(n, 1, tn);
		free(tn);
		free(T);
		free(strict);
		free(v);
		sl_remove(c, m);
		rw++;
	}
	return rw;
}

/* ============================================= thresholds past Concat */

int sl_pass_split(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "MultiThreshold") || !sl_is_param(c, n->in[1]))
			continue;
		nash_node *p = sl_producer(c, n->in[0]);
		if (!p || !is(p, "Concat") || sl_nuses(c, n->in[0]) != 1)
			continue;
		const nash_tensor *ys = sl_shape(c, p->out[0]);
		int64_t ax = nash_attr_int(p, "axis", 1);
		if (ax < 0)
			ax += ys->ndim + 1;
		if (ax != 1)
			continue;
		const nash_tensor *tt = nash_tensor_find(g, n->in[1]);
		int64_t steps = tt->shape[1], off = 0;
		double *T = sl_tensor_f64(tt);
		int is_int = tt->dtype != NASH_F32;
		for (int k = 0; k < p->nin; k++) {
			int64_t Ck = sl_channels(c, p->in[k]), rows = tt->shape[0] == 1 ? 1 : Ck;
			char *tn = fmt_name(c, n->name, ".T"), *nm = fmt_name(c, n->name, ""), *o = fmt_name(c, n->out[0], "");
			const double *src = T + (tt->shape[0] == 1 ? 0 : off * steps);
			if (is_int) {
				int64_t *q = nash_alloc((size_t)(rows * steps) * sizeof *q);
				for (int64_t j = 0; j < rows * steps; j++)
					q[j] = (int64_t)src[j];
				sl_param_int(g, tn, 2, (int64_t[]){rows, steps}, q, tt->datatype);
				free(q);
			} else
				sl_param_f64(g, tn, 2, (int64_t[]){rows, steps}, src);
			nash_node *mt = sl_insert_before(c, p, "MultiThreshold", nm, (const char *[]){p->in[k], tn, NULL},
			                                 (const char *[]){o, NULL});
			nash_val_free(mt->attr);
			mt->attr = nash_val_copy(n->attr);
			nash_node_set_in(p, k, o);
			off += Ck;
			free(tn);
			free(nm);
			free(o);
		}
		free(T);
		nash_node_set_out(p, 0, n->out[0]);
		sl_remove(c, n);
		rw++;
	}
	return rw;
}

/* ===================================== thresholds on integer inputs */

/* Integer thresholds for an integer input in [lo, hi]: x >= T is
 * x >= ceil(T), x > T is x >= floor(T) + 1; then clipped to [lo, hi + 1]. */
static int64_t int_threshold(double t, int strict, int64_t lo, int64_t hi)
{
	if (t <= (double)lo - 1)
		return lo;
	if (t >= (double)hi + 1)
		return hi + 1;
	int64_t r = strict ? (int64_t)floor(t) + 1 : (int64_t)ceil(t);
	return r < lo ? lo : r > hi + 1 ? hi + 1 : r;
}

int sl_pass_round(sl_ctx *c)
{
	nash_graph *g = c->g;
	int rw = 0;
	for (int i = 0; i < g->nnodes; i++) {
		REFRESH();
		nash_node *n = g->nodes[i];
		if (!is(n, "MultiThreshold") || !sl_is_param(c, n->in[1]))
			continue;
		const sl_vi *xi = sl_info(c, n->in[0]);
		if (!xi)
			continue;
		int64_t lo = xi->lo, hi = xi->hi;
		const nash_tensor *tt = nash_tensor_find(g, n->in[1]);
		int64_t rows = tt->shape[0], steps = tt->shape[1];
		double *T = sl_tensor_f64(tt);
		char *strict = sl_strict_get(n, steps);
		int was_float = tt->dtype == NASH_F32;
		int64_t *q = nash_alloc((size_t)(rows * steps + 1) * sizeof *q);
		for (int64_t r = 0; r < rows; r++)
			for (int64_t t = 0; t < steps; t++)
				q[r * steps + t] = was_float ? int_threshold(T[r * steps + t], strict[t], lo, hi)
				                             : int_threshold(T[r * steps + t], 0, lo, hi);
		free(T);
		free(strict);
		/* drop columns every channel always passes (the output level moves
		 * up) or never reaches */
		double osc = nash_attr_float(n, "out_scale", 1), ob = nash_attr_float(n, "out_bias", 0);
		int64_t keep = 0;
		int changed = was_float;
		for (int64_t t = 0; t < steps; t++) {
			int always = 1, never = 1;
			for (int64_t r = 0; r < rows; r++) {
				always &= q[r * steps + t] <= lo;
				never &= q[r * steps + t] > hi;
			}
			if (always || never) {
				if (always)
					ob += osc;
				changed = 1;
				continue;
			}
			for (int64_t r = 0; r < rows; r++)
				q[r * steps + keep] = q[r * steps + t];
			keep++;
		}
		if (keep == 0) {
			/* a constant: one threshold nobody reaches */
			for (int64_t r = 0; r < rows; r++)
				q[r] = hi + 1;
			keep = 1;
		}
		/* compact the rows to the kept columns */
		if (keep != steps)
			for (int64_t r = 0; r < rows; r++)
				for (int64_t t = 0; t < keep; t++)
					q[r * keep + t] = q[r * steps + t];
		/* changed: unless the result is what the node holds already */
		if (!was_float && keep == steps && ob == nash_attr_float(n, "out_bias", 0)) {
			changed = 0;
			for (int64_t k = 0; k < rows * keep && !changed; k++)
				changed = q[k] != nash_tensor_int(tt, k);
		} else
			changed = 1;
		/* identity on the input range: the node goes */
		int ident = osc == 1 && ob == (double)lo && keep == hi - lo;
		for (int64_t r = 0; r < rows && ident; r++)
			for (int64_t t = 0; t < keep && ident; t++)
				ident = q[r * keep + t] == lo + 1 + t;
		if (ident && sl_bypass(c, n)) {
			free(q);
			i--;
			rw++;
			continue;
		}
		if (!changed) {
			free(q);
			continue;
		}
		int64_t tlo = INT64_MAX, thi = INT64_MIN;
		for (int64_t k = 0; k < rows * keep; k++) {
			tlo = q[k] < tlo ? q[k] : tlo;
			thi = q[k] > thi ? q[k] : thi;
		}
		nash_datatype tdt = nash_datatype_fit(tlo, thi);
		if (tdt.bits > 32)
			tdt.bits = 64;
		else if (nash_datatype_storage(tdt) != NASH_I32)
			tdt = (nash_datatype){NASH_DT_INT, 32};
		char *tn = fmt_name(c, n->name, ".T");
		nash_tensor *nt = sl_param_int(g, tn, 2, (int64_t[]){rows, keep}, q, tdt);
		nt->datatype = nash_datatype_fit(tlo, thi);
		free(q);
		nash_node_set_in(n, 1, tn);
		free(tn);
		nash_val_del(n->attr, "strict");
		nash_attr_set_float(n, "out_bias", ob);
		char dn[16];
		if (!(osc == 2 && ob == -1 && keep == 1) && osc == 1 && ob == floor(ob))
			nash_attr_set_str(n, "out_dtype", nash_datatype_name(sl_fit((int64_t)ob, (int64_t)ob + keep), dn));
		sl_touch(c);
		rw++;
	}
	return rw;
}
