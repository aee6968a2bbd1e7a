/* ref.c - the reference interpreter of streamline.h: every op of the graphs
 * nash-stream reads, makes on the way and writes, in double precision,
 * written for clarity rather than speed (plain loops; OpenMP over output
 * channels where a layer is big). */
#include "streamline/streamline.h"
#include "streamline/sl_private.h"
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
	const char *name;
	double *v;
	int64_t n;
	int ndim;
	int64_t shape[NASH_MAXDIM];
	int param;
	nash_datatype dt;   /* checked after the producer ran (integer kinds) */
} slot;

typedef struct rnode {
	const nash_node *n;
	int *in;            /* slot index, -1 for an absent input */
	int *out;
	nash_qparams q;     /* Quant, BipolarQuant */
} rnode;

struct nash_ref {
	const nash_graph *g;
	slot *s;
	int ns, caps;
	sl_map map;         /* name -> slot + 1 */
	rnode *nodes;
	int nn;
	int *inputs, *outputs;
};

static int slot_of(nash_ref *r, const char *name)
{
	int64_t v = sl_map_get(&r->map, name);
	if (v > 0)
		return (int)v - 1;
	if (r->ns == r->caps) {
		r->caps = r->caps ? 2 * r->caps : 64;
		r->s = nash_realloc(r->s, (size_t)r->caps * sizeof *r->s);
	}
	slot *s = &r->s[r->ns];
	memset(s, 0, sizeof *s);
	s->name = name;
	sl_map_put(&r->map, name, r->ns + 1);
	return r->ns++;
}

void nash_ref_free(nash_ref *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->ns; i++)
		free(r->s[i].v);
	free(r->s);
	for (int i = 0; i < r->nn; i++) {
		free(r->nodes[i].in);
		free(r->nodes[i].out);
	}
	free(r->nodes);
	free(r->inputs);
	free(r->outputs);
	sl_map_free(&r->map);
	free(r);
}

static const char *const known_ops[] = {
	"Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "HardTanh", "Clip", "MaxPool", "AveragePool",
	"GlobalAveragePool", "GlobalMaxPool", "Add", "Sub", "Mul", "Div", "Concat", "Flatten", "Slice", "Pad",
	"Identity", "Dropout", "Transpose", "Quant", "BipolarQuant", "Trunc", "MultiThreshold",
	"ConvolutionInputGenerator", "MVAU", "Thresholding", "StreamingMaxPool", "AddStreams",
	"DuplicateStreams", "StreamingConcat", "QuantAvgPool", "LabelSelect", "StreamingFIFO",
	"StreamingDataWidthConverter", NULL
};

int sl_ref_knows(const char *op)
{
	for (int i = 0; known_ops[i]; i++)
		if (strcmp(op, known_ops[i]) == 0)
			return 1;
	return 0;
}

nash_ref *nash_ref_new(const nash_graph *g, nash_err *e)
{
	nash_ref *r = nash_alloc(sizeof *r);
	r->g = g;
	sl_map_init(&r->map, (size_t)(g->ntensors + 2 * g->nnodes + 16));
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		if (strcmp(n->op, "Choice") == 0) {
			nash_fail(e, "graph %s: node %s (Choice): a supernet; derive a network first (nash-train --search)",
			          g->name, n->name);
			goto fail;
		}
		if (!sl_ref_knows(n->op)) {
			nash_fail(e, "graph %s: node %s (%s): the reference interpreter does not know this op", g->name,
			          n->name, n->op);
			goto fail;
		}
	}
	r->inputs = nash_alloc((size_t)(g->nin + 1) * sizeof *r->inputs);
	r->outputs = nash_alloc((size_t)(g->nout + 1) * sizeof *r->outputs);
	for (int i = 0; i < g->nin; i++) {
		int k = slot_of(r, g->inputs[i].name);
		r->inputs[i] = k;
		const nash_tensor *t = nash_graph_shape(g, g->inputs[i].name);
		slot *s = &r->s[k];
		s->ndim = g->inputs[i].ndim;
		memcpy(s->shape, g->inputs[i].shape, sizeof s->shape);
		s->n = nash_shape_numel(s->ndim, s->shape);
		s->dt = g->inputs[i].datatype.kind ? g->inputs[i].datatype : t ? t->datatype : (nash_datatype){0, 0};
		s->v = nash_alloc((size_t)(s->n + 1) * sizeof *s->v);
	}
	r->nodes = nash_alloc((size_t)(g->nnodes + 1) * sizeof *r->nodes);
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		rnode *rn = &r->nodes[r->nn++];
		rn->n = n;
		rn->in = nash_alloc((size_t)(n->nin + 1) * sizeof *rn->in);
		rn->out = nash_alloc((size_t)(n->nout + 1) * sizeof *rn->out);
		for (int k = 0; k < n->nin; k++) {
			rn->in[k] = -1;
			if (!n->in[k][0])
				continue;
			int64_t have = sl_map_get(&r->map, n->in[k]);
			if (have > 0) {
				rn->in[k] = (int)have - 1;
				continue;
			}
			const nash_tensor *t = nash_tensor_find(g, n->in[k]);
			if (!t || !t->data) {
				nash_fail(e, "graph %s: node %s (%s): input %s is not computed before it", g->name, n->name,
				          n->op, n->in[k]);
				goto fail;
			}
			int si = slot_of(r, n->in[k]);
			slot *s = &r->s[si];
			s->param = 1;
			s->ndim = t->ndim;
			memcpy(s->shape, t->shape, sizeof s->shape);
			s->n = nash_tensor_numel(t);
			s->v = sl_tensor_f64(t);
			rn->in[k] = si;
		}
		for (int k = 0; k < n->nout; k++) {
			const nash_tensor *t = nash_graph_shape(g, n->out[k]);
			if (!t) {
				nash_fail(e, "graph %s: node %s (%s): output %s has no inferred shape", g->name, n->name, n->op,
				          n->out[k]);
				goto fail;
			}
			if (sl_map_get(&r->map, n->out[k]) > 0) {
				nash_fail(e, "graph %s: node %s (%s): output %s is defined twice", g->name, n->name, n->op,
				          n->out[k]);
				goto fail;
			}
			int si = slot_of(r, n->out[k]);
			slot *s = &r->s[si];
			s->ndim = t->ndim;
			memcpy(s->shape, t->shape, sizeof s->shape);
			s->n = nash_tensor_numel(t);
			s->dt = t->datatype;
			s->v = nash_alloc((size_t)(s->n + 1) * sizeof *s->v);
			rn->out[k] = si;
		}
		if (!strcmp(n->op, "Quant") || !strcmp(n->op, "BipolarQuant")) {
			if (nash_qparams_get(g, n, &rn->q, e) < 0) {
				nash_err_prefix(e, "graph %s: ", g->name);
				goto fail;
			}
		}
	}
	for (int i = 0; i < g->nout; i++) {
		int64_t k = sl_map_get(&r->map, g->outputs[i].name);
		if (k <= 0) {
			nash_fail(e, "graph %s: output %s is not computed", g->name, g->outputs[i].name);
			goto fail;
		}
		r->outputs[i] = (int)k - 1;
	}
	return r;
fail:
	nash_ref_free(r);
	return NULL;
}

/* ------------------------------------------------------------- helpers */

#define X(k) (&r->s[rn->in[k]])
#define Y(k) (&r->s[rn->out[k]])
#define HAS(k) (rn->n->nin > (k) && rn->in[k] >= 0)

/* Broadcast strides of an input shape against an output shape (NumPy
 * rules, right aligned): st[d] is 0 where the input is broadcast. */
static void bstrides(const slot *x, int ndim, const int64_t *shape, int64_t *st)
{
	int64_t acc = 1;
	(void)shape;
	for (int d = ndim - 1; d >= 0; d--) {
		int xd = x->ndim - (ndim - d);
		if (xd < 0 || x->shape[xd] == 1) {
			st[d] = 0;
			if (xd >= 0)
				acc *= x->shape[xd];
		} else {
			st[d] = acc;
			acc *= x->shape[xd];
		}
	}
}

static void binary(nash_ref *r, const rnode *rn, int op)
{
	slot *a = X(0), *b = X(1), *y = Y(0);
	int64_t sa[NASH_MAXDIM], sb[NASH_MAXDIM], idx[NASH_MAXDIM] = {0};
	bstrides(a, y->ndim, y->shape, sa);
	bstrides(b, y->ndim, y->shape, sb);
	int64_t ia = 0, ib = 0;
	for (int64_t i = 0; i < y->n; i++) {
		double u = a->v[ia], v = b->v[ib];
		y->v[i] = op == '+' ? u + v : op == '-' ? u - v : op == '*' ? u * v : u / v;
		for (int d = y->ndim - 1; d >= 0; d--) {
			idx[d]++;
			ia += sa[d];
			ib += sb[d];
			if (idx[d] < y->shape[d])
				break;
			ia -= sa[d] * idx[d];
			ib -= sb[d] * idx[d];
			idx[d] = 0;
		}
	}
}

/* Pair attributes: one int or a list of two (hardware ops). */
static void pair(const nash_node *n, const char *key, int64_t def, int64_t *out)
{
	int64_t v[4];
	int c = nash_attr_ints(n, key, v, 4);
	if (c >= 2)
		out[0] = v[0], out[1] = v[1];
	else if (c == 1)
		out[0] = out[1] = v[0];
	else
		out[0] = out[1] = nash_attr_int(n, key, def);
}

static void hwpads(const nash_node *n, int64_t *p)
{
	int64_t v[4];
	int c = nash_attr_ints(n, "Padding", v, 4);
	if (c == 4)
		memcpy(p, v, sizeof v);
	else if (c == 2)
		p[0] = p[2] = v[0], p[1] = p[3] = v[1];
	else {
		int64_t x = c == 1 ? v[0] : nash_attr_int(n, "Padding", 0);
		p[0] = p[1] = p[2] = p[3] = x;
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

/* ------------------------------------------------------- float-level ops */

static void conv(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *w = X(1), *y = Y(0);
	int64_t k[2], s[2], p[4], d[2];
	onnx_spatial(rn->n, k, s, p, d);
	int64_t C = x->shape[0], H = x->shape[1], W = x->shape[2];
	int64_t M = w->shape[0], CG = w->shape[1], KH = w->shape[2], KW = w->shape[3];
	int64_t OH = y->shape[1], OW = y->shape[2];
	int64_t grp = nash_attr_int(rn->n, "group", 1), MG = M / grp;
	const double *bias = HAS(2) ? X(2)->v : NULL;
	(void)C;
	for (int64_t m = 0; m < M; m++) {
		double *out = y->v + m * OH * OW;
		for (int64_t i = 0; i < OH * OW; i++)
			out[i] = bias ? bias[m] : 0;
		int64_t g0 = (m / MG) * CG;
		for (int64_t c = 0; c < CG; c++)
			for (int64_t ky = 0; ky < KH; ky++)
				for (int64_t kx = 0; kx < KW; kx++) {
					double wv = w->v[((m * CG + c) * KH + ky) * KW + kx];
					if (wv == 0)
						continue;
					const double *in = x->v + (g0 + c) * H * W;
					/* the output columns whose input column is inside */
					int64_t off = kx * d[1] - p[1], ow0 = 0, ow1 = OW;
					while (ow0 < OW && ow0 * s[1] + off < 0)
						ow0++;
					while (ow1 > ow0 && (ow1 - 1) * s[1] + off >= W)
						ow1--;
					for (int64_t oh = 0; oh < OH; oh++) {
						int64_t ih = oh * s[0] - p[0] + ky * d[0];
						if (ih < 0 || ih >= H)
							continue;
						double *o = out + oh * OW;
						const double *r = in + ih * W + off;
						for (int64_t ow = ow0; ow < ow1; ow++)
							o[ow] += wv * r[ow * s[1]];
					}
				}
	}
}

static void gemm(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *w = X(1), *y = Y(0);
	int tb = strcmp(rn->n->op, "Gemm") == 0 && nash_attr_int(rn->n, "transB", 0);
	double alpha = nash_attr_float(rn->n, "alpha", 1), beta = nash_attr_float(rn->n, "beta", 1);
	int64_t K = x->n, N = y->n;
	const slot *b = HAS(2) ? X(2) : NULL;
	for (int64_t j = 0; j < N; j++) {
		double acc = 0;
		for (int64_t i = 0; i < K; i++)
			acc += x->v[i] * (tb ? w->v[j * K + i] : w->v[i * N + j]);
		y->v[j] = alpha * acc + (b ? beta * b->v[b->n == 1 ? 0 : j] : 0);
	}
}

void sl_bn_affine(const double *gamma, const double *beta, const double *mean, const double *var, double eps,
                  int64_t c, double *A, double *B)
{
	for (int64_t i = 0; i < c; i++) {
		A[i] = gamma[i] / sqrt(var[i] + eps);
		B[i] = beta[i] - mean[i] * A[i];
	}
}

static void bnorm(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *y = Y(0);
	int64_t C = x->shape[0], inner = x->n / C;
	double *A = nash_alloc((size_t)C * sizeof *A), *B = nash_alloc((size_t)C * sizeof *B);
	sl_bn_affine(X(1)->v, X(2)->v, X(3)->v, X(4)->v, nash_attr_float(rn->n, "epsilon", 1e-5), C, A, B);
	for (int64_t c = 0; c < C; c++)
		for (int64_t i = 0; i < inner; i++)
			y->v[c * inner + i] = A[c] * x->v[c * inner + i] + B[c];
	free(A);
	free(B);
}

static void pool(nash_ref *r, const rnode *rn, int avg)
{
	slot *x = X(0), *y = Y(0);
	int64_t k[2], s[2], p[4], d[2];
	onnx_spatial(rn->n, k, s, p, d);
	int incl = (int)nash_attr_int(rn->n, "count_include_pad", 0);
	int64_t C = x->shape[0], H = x->shape[1], W = x->shape[2], OH = y->shape[1], OW = y->shape[2];
	for (int64_t c = 0; c < C; c++)
		for (int64_t oh = 0; oh < OH; oh++)
			for (int64_t ow = 0; ow < OW; ow++) {
				double acc = avg ? 0 : -INFINITY;
				int64_t cnt = 0;
				for (int64_t ky = 0; ky < k[0]; ky++)
					for (int64_t kx = 0; kx < k[1]; kx++) {
						int64_t ih = oh * s[0] - p[0] + ky * d[0], iw = ow * s[1] - p[1] + kx * d[1];
						if (ih < 0 || ih >= H || iw < 0 || iw >= W)
							continue;
						double v = x->v[(c * H + ih) * W + iw];
						cnt++;
						if (avg)
							acc += v;
						else if (v > acc)
							acc = v;
					}
				if (avg)
					acc /= (double)(incl ? k[0] * k[1] : cnt);
				y->v[(c * OH + oh) * OW + ow] = acc;
			}
}

static void gpool(nash_ref *r, const rnode *rn, int mx)
{
	slot *x = X(0), *y = Y(0);
	int64_t C = x->shape[0], HW = x->n / C;
	for (int64_t c = 0; c < C; c++) {
		double acc = mx ? -INFINITY : 0;
		for (int64_t i = 0; i < HW; i++) {
			double v = x->v[c * HW + i];
			if (mx)
				acc = v > acc ? v : acc;
			else
				acc += v;
		}
		y->v[c] = mx ? acc : acc / (double)HW;
	}
}

static void concat(nash_ref *r, const rnode *rn)
{
	slot *y = Y(0);
	int64_t ax = nash_attr_int(rn->n, "axis", 1);
	int rank = y->ndim;
	if (ax < 0)
		ax += rank + 1;
	int a = (int)ax - 1;
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < a; d++)
		outer *= y->shape[d];
	for (int d = a + 1; d < rank; d++)
		inner *= y->shape[d];
	int64_t off = 0;
	for (int i = 0; i < rn->n->nin; i++) {
		slot *x = X(i);
		int64_t len = x->shape[a] * inner;
		for (int64_t o = 0; o < outer; o++)
			memcpy(y->v + o * y->shape[a] * inner + off, x->v + o * len, (size_t)len * sizeof(double));
		off += len;
	}
}

static void slice(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *y = Y(0);
	int64_t st[8], en[8], ax[8], sp[8];
	int ns = nash_attr_ints(rn->n, "starts", st, 8);
	nash_attr_ints(rn->n, "ends", en, 8);
	int na = nash_attr_ints(rn->n, "axes", ax, 8), np = nash_attr_ints(rn->n, "steps", sp, 8);
	int64_t start[NASH_MAXDIM] = {0}, step[NASH_MAXDIM];
	for (int d = 0; d < NASH_MAXDIM; d++)
		step[d] = 1;
	for (int i = 0; i < ns; i++) {
		int a = na >= 0 ? (int)(ax[i] < 0 ? ax[i] + x->ndim + 1 : ax[i]) - 1 : i;
		int64_t dim = x->shape[a], s = st[i] < 0 ? st[i] + dim : st[i];
		start[a] = s < 0 ? 0 : s > dim ? dim : s;
		step[a] = np >= 0 ? sp[i] : 1;
	}
	int64_t idx[NASH_MAXDIM] = {0}, xs[NASH_MAXDIM];
	xs[x->ndim - 1] = 1;
	for (int d = x->ndim - 2; d >= 0; d--)
		xs[d] = xs[d + 1] * x->shape[d + 1];
	for (int64_t i = 0; i < y->n; i++) {
		int64_t off = 0;
		for (int d = 0; d < y->ndim; d++)
			off += (start[d] + idx[d] * step[d]) * xs[d];
		y->v[i] = x->v[off];
		for (int d = y->ndim - 1; d >= 0; d--) {
			if (++idx[d] < y->shape[d])
				break;
			idx[d] = 0;
		}
	}
}

static void pad(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *y = Y(0);
	int64_t p[2 * (NASH_MAXDIM + 1)];
	int rk = x->ndim + 1;
	nash_attr_ints(rn->n, "pads", p, 2 * (NASH_MAXDIM + 1));
	double val = nash_attr_float(rn->n, "value", 0);
	int64_t idx[NASH_MAXDIM] = {0}, xs[NASH_MAXDIM];
	xs[x->ndim - 1] = 1;
	for (int d = x->ndim - 2; d >= 0; d--)
		xs[d] = xs[d + 1] * x->shape[d + 1];
	for (int64_t i = 0; i < y->n; i++) {
		int64_t off = 0;
		int in = 1;
		for (int d = 0; d < y->ndim; d++) {
			int64_t j = idx[d] - p[d + 1];
			if (j < 0 || j >= x->shape[d])
				in = 0;
			off += j * xs[d];
		}
		y->v[i] = in ? x->v[off] : val;
		for (int d = y->ndim - 1; d >= 0; d--) {
			if (++idx[d] < y->shape[d])
				break;
			idx[d] = 0;
		}
	}
	(void)rk;
}

static void transpose(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *y = Y(0);
	int64_t perm[NASH_MAXDIM + 1];
	nash_attr_ints(rn->n, "perm", perm, NASH_MAXDIM + 1);
	int64_t xs[NASH_MAXDIM], idx[NASH_MAXDIM] = {0};
	xs[x->ndim - 1] = 1;
	for (int d = x->ndim - 2; d >= 0; d--)
		xs[d] = xs[d + 1] * x->shape[d + 1];
	for (int64_t i = 0; i < y->n; i++) {
		int64_t off = 0;
		for (int d = 0; d < y->ndim; d++)
			off += idx[d] * xs[perm[d + 1] - 1];
		y->v[i] = x->v[off];
		for (int d = y->ndim - 1; d >= 0; d--) {
			if (++idx[d] < y->shape[d])
				break;
			idx[d] = 0;
		}
	}
}

static double roundm(double v, const char *mode)
{
	if (mode[0] == 'F')
		return floor(v);
	if (mode[0] == 'C')
		return ceil(v);
	return rint(v); /* to nearest, ties to even (the default rounding mode) */
}

static void quant(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *s = X(1), *y = Y(0);
	int64_t ss[NASH_MAXDIM], idx[NASH_MAXDIM] = {0};
	bstrides(s, x->ndim, x->shape, ss);
	int64_t is = 0;
	const nash_qparams *q = &rn->q;
	for (int64_t i = 0; i < x->n; i++) {
		double sc = s->v[is];
		if (q->bipolar)
			y->v[i] = x->v[i] >= 0 ? sc : -sc;
		else {
			double v = roundm(x->v[i] / sc + q->zeropt, q->rounding);
			v = v < q->lo ? q->lo : v > q->hi ? q->hi : v;
			y->v[i] = (v - q->zeropt) * sc;
		}
		for (int d = x->ndim - 1; d >= 0; d--) {
			idx[d]++;
			is += ss[d];
			if (idx[d] < x->shape[d])
				break;
			is -= ss[d] * idx[d];
			idx[d] = 0;
		}
	}
}

static void trunc_op(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *s = X(1), *y = Y(0);
	double z = X(2)->v[0], ib = X(3)->v[0], ob = X(4)->v[0];
	double div = ldexp(1.0, (int)(ib - ob));
	const char *mode = nash_attr_str(rn->n, "rounding_mode", "FLOOR");
	int64_t ss[NASH_MAXDIM], idx[NASH_MAXDIM] = {0};
	bstrides(s, x->ndim, x->shape, ss);
	int64_t is = 0;
	for (int64_t i = 0; i < x->n; i++) {
		double sc = s->v[is];
		double v = rint(x->v[i] / sc + z);
		v = roundm(v / div, mode);
		y->v[i] = (v - z) * sc;
		for (int d = x->ndim - 1; d >= 0; d--) {
			idx[d]++;
			is += ss[d];
			if (idx[d] < x->shape[d])
				break;
			is -= ss[d] * idx[d];
			idx[d] = 0;
		}
	}
}

/* MultiThreshold on C x ... (channel first) or a vector. */
static void multithreshold(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *t = X(1), *y = Y(0);
	int64_t C = x->ndim ? x->shape[0] : 1, inner = x->n / (C ? C : 1), steps = t->shape[1];
	double osc = nash_attr_float(rn->n, "out_scale", 1), ob = nash_attr_float(rn->n, "out_bias", 0);
	char *strict = sl_strict_get(rn->n, steps);
	for (int64_t c = 0; c < C; c++) {
		const double *tr = t->v + (t->shape[0] == 1 ? 0 : c) * steps;
		for (int64_t i = 0; i < inner; i++) {
			double v = x->v[c * inner + i];
			int64_t cnt = 0;
			for (int64_t k = 0; k < steps; k++)
				cnt += strict[k] ? v > tr[k] : v >= tr[k];
			y->v[c * inner + i] = osc * (double)cnt + ob;
		}
	}
	free(strict);
}

/* --------------------------------------------------- hardware operators */

static int is_bipolar_attr(const nash_node *n, const char *key)
{
	const char *s = nash_attr_str(n, key, "");
	return strcmp(s, "BIPOLAR") == 0;
}

static void swg(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *y = Y(0);
	int64_t k[2], s[2], d[2], p[4];
	pair(rn->n, "ConvKernelDim", 1, k);
	pair(rn->n, "Stride", 1, s);
	pair(rn->n, "Dilation", 1, d);
	hwpads(rn->n, p);
	int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2], OH = y->shape[0], OW = y->shape[1];
	/* padding inserts 0, or -1 on a BIPOLAR stream (it has no 0) */
	double pad = x->dt.kind == NASH_DT_BIPOLAR ? -1 : 0;
	double *o = y->v;
	for (int64_t oh = 0; oh < OH; oh++)
		for (int64_t ow = 0; ow < OW; ow++)
			for (int64_t ky = 0; ky < k[0]; ky++)
				for (int64_t kx = 0; kx < k[1]; kx++) {
					int64_t ih = oh * s[0] - p[0] + ky * d[0], iw = ow * s[1] - p[1] + kx * d[1];
					int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
					for (int64_t c = 0; c < C; c++)
						*o++ = in ? x->v[(ih * W + iw) * C + c] : pad;
				}
}

/* out = ActVal + #{t : v >= T[c][t]}; a BIPOLAR output encodes 0 as -1, 1 as +1. */
static double thresh(double v, const double *tr, int64_t steps, double actval, int bip)
{
	int64_t cnt = 0;
	for (int64_t k = 0; k < steps; k++)
		cnt += v >= tr[k];
	/* a BIPOLAR output (one step): -1 below, +1 at or above; no ActVal */
	return bip ? (cnt ? 1 : -1) : actval + (double)cnt;
}

static void mvau(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *w = X(1), *y = Y(0);
	const slot *t = HAS(2) ? X(2) : NULL;
	int64_t MW = w->shape[0], MH = w->shape[1], pix = x->n / MW;
	int noact = (int)nash_attr_int(rn->n, "noActivation", t ? 0 : 1);
	double actval = (double)nash_attr_int(rn->n, "ActVal", 0);
	int bip = is_bipolar_attr(rn->n, "outputDataType");
	int xnor = (int)nash_attr_int(rn->n, "binaryXnorMode", 0);
	int64_t steps = t ? t->shape[1] : 0;
	for (int64_t p = 0; p < pix; p++) {
		double *acc = y->v + p * MH;
		const double *in = x->v + p * MW;
		for (int64_t m = 0; m < MH; m++)
			acc[m] = 0;
		for (int64_t k = 0; k < MW; k++) {
			double xv = in[k];
			if (xv == 0)
				continue;
			const double *wr = w->v + k * MH;
			for (int64_t m = 0; m < MH; m++)
				acc[m] += xv * wr[m];
		}
		if (xnor) /* the XNOR popcount: positions where x and W agree */
			for (int64_t m = 0; m < MH; m++)
				acc[m] = (acc[m] + (double)MW) / 2;
		if (!noact && t)
			for (int64_t m = 0; m < MH; m++)
				acc[m] = thresh(acc[m], t->v + (t->shape[0] == 1 ? 0 : m) * steps, steps, actval, bip);
	}
}

static void thresholding(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *t = X(1), *y = Y(0);
	int64_t C = x->shape[x->ndim - 1], pix = x->n / C, steps = t->shape[1];
	double actval = (double)nash_attr_int(rn->n, "ActVal", 0);
	int bip = is_bipolar_attr(rn->n, "outputDataType");
	for (int64_t p = 0; p < pix; p++)
		for (int64_t c = 0; c < C; c++)
			y->v[p * C + c] = thresh(x->v[p * C + c], t->v + (t->shape[0] == 1 ? 0 : c) * steps, steps, actval, bip);
}

static void hwpool(nash_ref *r, const rnode *rn, int avg)
{
	slot *x = X(0), *y = Y(0);
	int64_t k[2], s[2], p[4];
	pair(rn->n, avg ? "Kernel" : "PoolDim", 1, k);
	pair(rn->n, "Stride", 0, s);
	if (!s[0])
		s[0] = k[0];
	if (!s[1])
		s[1] = k[1];
	hwpads(rn->n, p);
	int64_t shift = nash_attr_int(rn->n, "Shift", 0);
	int64_t H = x->shape[0], W = x->shape[1], C = x->shape[2], OH = y->shape[0], OW = y->shape[1];
	double pad = x->dt.kind == NASH_DT_BIPOLAR ? -1 : 0;
	for (int64_t oh = 0; oh < OH; oh++)
		for (int64_t ow = 0; ow < OW; ow++)
			for (int64_t c = 0; c < C; c++) {
				double acc = avg ? 0 : -INFINITY;
				for (int64_t ky = 0; ky < k[0]; ky++)
					for (int64_t kx = 0; kx < k[1]; kx++) {
						int64_t ih = oh * s[0] - p[0] + ky, iw = ow * s[1] - p[1] + kx;
						if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
							acc += avg ? pad : 0; /* max-pool: padding never wins */
							continue;
						}
						double v = x->v[(ih * W + iw) * C + c];
						if (avg)
							acc += v;
						else if (v > acc)
							acc = v;
					}
				if (avg)
					acc = floor(ldexp(acc, -(int)shift));
				y->v[(oh * OW + ow) * C + c] = acc;
			}
}

static void hwconcat(nash_ref *r, const rnode *rn)
{
	slot *y = Y(0);
	int64_t Cy = y->shape[y->ndim - 1], pix = y->n / Cy, off = 0;
	for (int i = 0; i < rn->n->nin; i++) {
		slot *x = X(i);
		int64_t C = x->shape[x->ndim - 1];
		for (int64_t p = 0; p < pix; p++)
			memcpy(y->v + p * Cy + off, x->v + p * C, (size_t)C * sizeof(double));
		off += C;
	}
}

static void labelselect(nash_ref *r, const rnode *rn)
{
	slot *x = X(0), *y = Y(0);
	int64_t L = x->n, K = y->n;
	char *used = nash_alloc((size_t)L + 1);
	for (int64_t k = 0; k < K; k++) {
		int64_t best = -1;
		for (int64_t i = 0; i < L; i++)
			if (!used[i] && (best < 0 || x->v[i] > x->v[best]))
				best = i;
		used[best] = 1;
		y->v[k] = (double)best;
	}
	free(used);
}

/* ------------------------------------------------------------------ run */

static int check_slot(const nash_ref *r, const rnode *rn, const slot *s, nash_err *e)
{
	for (int64_t i = 0; i < s->n; i++)
		if (!isfinite(s->v[i]))
			return nash_fail(e, "graph %s: node %s (%s): %s[%lld] is not finite", r->g->name, rn->n->name,
			                 rn->n->op, s->name, (long long)i);
	if (!nash_datatype_is_int(s->dt))
		return 0;
	double lo = (double)nash_datatype_min(s->dt), hi = (double)nash_datatype_max(s->dt);
	char dn[16];
	for (int64_t i = 0; i < s->n; i++) {
		double v = s->v[i];
		int bad = v != floor(v) || v < lo || v > hi || (s->dt.kind == NASH_DT_BIPOLAR && v == 0);
		if (bad)
			return nash_fail(e, "graph %s: node %s (%s): %s[%lld] = %.17g is not a %s value", r->g->name,
			                 rn->n->name, rn->n->op, s->name, (long long)i, v, nash_datatype_name(s->dt, dn));
	}
	return 0;
}

int nash_ref_run(nash_ref *r, const double *const *in, nash_err *e)
{
	const nash_graph *g = r->g;
	char dn[16];
	for (int i = 0; i < g->nin; i++) {
		slot *s = &r->s[r->inputs[i]];
		memcpy(s->v, in[i], (size_t)s->n * sizeof *s->v);
		for (int64_t k = 0; k < s->n; k++) {
			double v = s->v[k];
			if (!isfinite(v) || (nash_datatype_is_int(s->dt) &&
			                     (v != floor(v) || v < (double)nash_datatype_min(s->dt) ||
			                      v > (double)nash_datatype_max(s->dt))))
				return nash_fail(e, "graph %s: input %s[%lld] = %g is not a %s value", g->name, s->name,
				                 (long long)k, v, s->dt.kind ? nash_datatype_name(s->dt, dn) : "finite");
		}
	}
	for (int i = 0; i < r->nn; i++) {
		const rnode *rn = &r->nodes[i];
		const char *op = rn->n->op;
		if (!strcmp(op, "Conv"))
			conv(r, rn);
		else if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul"))
			gemm(r, rn);
		else if (!strcmp(op, "BatchNormalization"))
			bnorm(r, rn);
		else if (!strcmp(op, "Relu") || !strcmp(op, "HardTanh") || !strcmp(op, "Clip")) {
			double lo = 0, hi = INFINITY;
			if (op[0] == 'H')
				lo = nash_attr_float(rn->n, "min_val", -1), hi = nash_attr_float(rn->n, "max_val", 1);
			else if (op[0] == 'C')
				lo = nash_attr_float(rn->n, "min", -INFINITY), hi = nash_attr_float(rn->n, "max", INFINITY);
			slot *x = X(0), *y = Y(0);
			for (int64_t k = 0; k < x->n; k++)
				y->v[k] = x->v[k] < lo ? lo : x->v[k] > hi ? hi : x->v[k];
		} else if (!strcmp(op, "MaxPool"))
			pool(r, rn, 0);
		else if (!strcmp(op, "AveragePool"))
			pool(r, rn, 1);
		else if (!strcmp(op, "GlobalAveragePool"))
			gpool(r, rn, 0);
		else if (!strcmp(op, "GlobalMaxPool"))
			gpool(r, rn, 1);
		else if (!strcmp(op, "Add"))
			binary(r, rn, '+');
		else if (!strcmp(op, "Sub"))
			binary(r, rn, '-');
		else if (!strcmp(op, "Mul"))
			binary(r, rn, '*');
		else if (!strcmp(op, "Div"))
			binary(r, rn, '/');
		else if (!strcmp(op, "Concat"))
			concat(r, rn);
		else if (!strcmp(op, "Slice"))
			slice(r, rn);
		else if (!strcmp(op, "Pad"))
			pad(r, rn);
		else if (!strcmp(op, "Transpose"))
			transpose(r, rn);
		else if (!strcmp(op, "Quant") || !strcmp(op, "BipolarQuant"))
			quant(r, rn);
		else if (!strcmp(op, "Trunc"))
			trunc_op(r, rn);
		else if (!strcmp(op, "MultiThreshold"))
			multithreshold(r, rn);
		else if (!strcmp(op, "ConvolutionInputGenerator"))
			swg(r, rn);
		else if (!strcmp(op, "MVAU"))
			mvau(r, rn);
		else if (!strcmp(op, "Thresholding"))
			thresholding(r, rn);
		else if (!strcmp(op, "StreamingMaxPool"))
			hwpool(r, rn, 0);
		else if (!strcmp(op, "QuantAvgPool"))
			hwpool(r, rn, 1);
		else if (!strcmp(op, "AddStreams"))
			binary(r, rn, '+');
		else if (!strcmp(op, "StreamingConcat"))
			hwconcat(r, rn);
		else if (!strcmp(op, "LabelSelect"))
			labelselect(r, rn);
		else {
			/* Identity, Dropout, Flatten, DuplicateStreams, FIFO, DWC: copies */
			slot *x = X(0);
			for (int k = 0; k < rn->n->nout; k++)
				memcpy(Y(k)->v, x->v, (size_t)x->n * sizeof *x->v);
		}
		for (int k = 0; k < rn->n->nout; k++)
			if (check_slot(r, rn, Y(k), e) < 0)
				return -1;
	}
	return 0;
}

const double *nash_ref_output(const nash_ref *r, int i, int64_t *n)
{
	if (i < 0 || i >= r->g->nout)
		return NULL;
	const slot *s = &r->s[r->outputs[i]];
	if (n)
		*n = s->n;
	return s->v;
}

const double *nash_ref_tensor(const nash_ref *r, const char *name, int64_t *n)
{
	int64_t k = sl_map_get(&r->map, name);
	if (k <= 0)
		return NULL;
	const slot *s = &r->s[k - 1];
	if (n)
		*n = s->n;
	return s->v;
}

int nash_ref_pixels(const nash_graph *g, int input, const uint8_t *chw, int c, int h, int w, double *out,
                    nash_err *e)
{
	if (input < 0 || input >= g->nin)
		return nash_fail(e, "graph %s: no input %d", g->name, input);
	const nash_io *io = &g->inputs[input];
	int64_t n = (int64_t)c * h * w;
	if (nash_shape_numel(io->ndim, io->shape) != n)
		return nash_fail(e, "graph %s: input %s does not take %dx%dx%d images", g->name, io->name, c, h, w);
	if (!nash_datatype_is_int(io->datatype)) {
		for (int64_t i = 0; i < n; i++)
			out[i] = (double)((float)chw[i] / 255.0f);
		return 0;
	}
	int hwc = io->ndim == 3 && io->shape[0] == h && io->shape[1] == w && io->shape[2] == c;
	for (int ci = 0; ci < c; ci++)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				int64_t src = ((int64_t)ci * h + y) * w + x;
				int64_t dst = hwc ? ((int64_t)y * w + x) * c + ci : src;
				out[dst] = chw[src];
			}
	return 0;
}

int64_t nash_ref_logits(const nash_ref *r, double *logits, int64_t max, int64_t *topk)
{
	const nash_io *io = &r->g->outputs[0];
	int64_t n;
	const double *v = nash_ref_output(r, 0, &n);
	int p = nash_graph_producer(r->g, io->name);
	if (p >= 0 && strcmp(r->g->nodes[p]->op, "LabelSelect") == 0) {
		if (topk)
			*topk = n;
		for (int64_t i = 0; i < n && i < max; i++)
			logits[i] = v[i];
		return -1;
	}
	nash_val *sc = io->extra ? nash_val_get(io->extra, "scale") : NULL;
	nash_val *bi = io->extra ? nash_val_get(io->extra, "bias") : NULL;
	for (int64_t i = 0; i < n && i < max; i++) {
		double a = 1, b = 0;
		if (sc && sc->t == NASH_V_ARR && sc->u.a.n)
			a = nash_val_as_f64(sc->u.a.v[(size_t)i < sc->u.a.n ? (size_t)i : 0], 1);
		else if (sc)
			a = nash_val_as_f64(sc, 1);
		if (bi && bi->t == NASH_V_ARR && bi->u.a.n)
			b = nash_val_as_f64(bi->u.a.v[(size_t)i < bi->u.a.n ? (size_t)i : 0], 0);
		else if (bi)
			b = nash_val_as_f64(bi, 0);
		logits[i] = a * v[i] + b;
	}
	return n;
}
