/* import.c - QONNX (and plain ONNX) models as nash graphs. */
#include "onnx/priv.h"
#include "nn/nn.h"
#include "quant/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What an ONNX tensor name stands for while nodes are converted. */
enum { K_NONE = 0, K_CONST, K_ACT, K_VIEW };

typedef struct tinfo {
	const char *name;      /* ONNX name (borrowed from the model) */
	int kind;
	ox_const c;            /* K_CONST */
	char *param;           /* K_CONST: nash parameter made from it, if any */
	char *act;             /* K_ACT: the nash tensor; K_VIEW: the Quant output */
} tinfo;

typedef struct im {
	const char *label;
	const Onnx__ModelProto *m;
	int opset;
	nash_graph *g;
	tinfo *t;
	int nt, capt;
	int *idx;              /* open addressing over t by name */
	int idxcap;
	ox_set nodenames;
	char **owned;          /* strings the set borrows */
	int nowned;
	nash_err *e;
} im;

/* ------------------------------------------------------------ tensors */

static void idx_put(im *x, int i)
{
	size_t m = (size_t)x->idxcap - 1, h = nash_hash(x->t[i].name) & m;
	while (x->idx[h] >= 0)
		h = (h + 1) & m;
	x->idx[h] = i;
}

static tinfo *tget(const im *x, const char *name)
{
	if (!x->idxcap || !name)
		return NULL;
	size_t m = (size_t)x->idxcap - 1, h = nash_hash(name) & m;
	while (x->idx[h] >= 0) {
		if (!strcmp(x->t[x->idx[h]].name, name))
			return &x->t[x->idx[h]];
		h = (h + 1) & m;
	}
	return NULL;
}

static tinfo *tnew(im *x, const char *name)
{
	tinfo *o = tget(x, name);
	if (o)
		return o;
	if (x->nt == x->capt) {
		x->capt = x->capt ? 2 * x->capt : 64;
		x->t = nash_realloc(x->t, (size_t)x->capt * sizeof *x->t);
	}
	if (2 * (x->nt + 1) > x->idxcap) {
		free(x->idx);
		x->idxcap = x->idxcap ? 2 * x->idxcap : 128;
		while (x->idxcap < 2 * (x->nt + 1))
			x->idxcap *= 2;
		x->idx = nash_alloc((size_t)x->idxcap * sizeof *x->idx);
		for (int i = 0; i < x->idxcap; i++)
			x->idx[i] = -1;
		for (int i = 0; i < x->nt; i++)
			idx_put(x, i);
	}
	tinfo *t = &x->t[x->nt];
	memset(t, 0, sizeof *t);
	t->name = name;
	idx_put(x, x->nt++);
	return t;
}

static int nfail(im *x, const Onnx__NodeProto *n, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int nfail(im *x, const Onnx__NodeProto *n, const char *name, const char *fmt, ...)
{
	char buf[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return nash_fail(x->e, "%s: node %s (%s): %s", x->label, name, n->op_type ? n->op_type : "", buf);
}

/* The input k of n, or NULL when absent ("" or beyond the list). */
static tinfo *input(const im *x, const Onnx__NodeProto *n, int k)
{
	if ((size_t)k >= n->n_input || !n->input[k][0])
		return NULL;
	return tget(x, n->input[k]);
}

/* A nash parameter tensor made from a constant, once per (name, form).
 * drop_lead removes leading dimensions of 1 down to rank want (< 0: keep
 * the shape). as_float stores float32 whatever the ONNX type. */
static const char *param_of(im *x, tinfo *t, int want, int as_float)
{
	ox_const *c = &t->c;
	int nd = c->ndim;
	const int64_t *d = c->d;
	while (want >= 0 && nd > want && d[0] == 1) {
		d++;
		nd--;
	}
	nash_dtype dt = NASH_F32;
	if (!as_float && !c->f && ox_nash_dtype(c->et, &dt) < 0)
		dt = NASH_I64;
	/* reuse the plain form under the ONNX name when it fits */
	const nash_tensor *have = t->param ? nash_tensor_find(x->g, t->param) : NULL;
	if (have && have->ndim == nd && have->dtype == dt &&
	    !memcmp(have->shape, d, (size_t)nd * sizeof *d))
		return have->name;
	char *name = have ? nash_graph_fresh_name(x->g, t->name) : nash_strdup(t->name);
	if (!have && nash_tensor_find(x->g, name)) {
		free(name);
		name = nash_graph_fresh_name(x->g, t->name);
	}
	nash_tensor *p = nash_tensor_add(x->g, name, dt, nd, d);
	int64_t n = ox_const_numel(c);
	for (int64_t k = 0; k < n; k++) {
		double v = ox_const_at(c, k);
		switch (dt) {
		case NASH_F32: ((float *)p->data)[k] = c->f ? c->f[k] : (float)v; break;
		case NASH_I8: ((int8_t *)p->data)[k] = (int8_t)c->i[k]; break;
		case NASH_U8: ((uint8_t *)p->data)[k] = (uint8_t)c->i[k]; break;
		case NASH_I16: ((int16_t *)p->data)[k] = (int16_t)c->i[k]; break;
		case NASH_I32: ((int32_t *)p->data)[k] = (int32_t)c->i[k]; break;
		default: ((int64_t *)p->data)[k] = c->i[k]; break;
		}
	}
	if (!t->param)
		t->param = nash_strdup(name);
	free(name);
	return p->name;
}

/* A new parameter from float data (a transposed or negated constant). */
static const char *param_new(im *x, const char *base, int nd, const int64_t *d, const float *v)
{
	char *name = nash_graph_fresh_name(x->g, base);
	nash_tensor *p = nash_tensor_add(x->g, name, NASH_F32, nd, d);
	free(name);
	memcpy(p->data, v, (size_t)nash_tensor_numel(p) * sizeof(float));
	return p->name;
}

/* Shape (without batch) of an activation tensor. */
static const nash_tensor *act_shape(const im *x, const tinfo *t)
{
	return t && t->kind == K_ACT ? nash_graph_shape(x->g, t->act) : NULL;
}

/* Run the shape rule of node n so its outputs get annotations. */
static int infer_node(im *x, const Onnx__NodeProto *on, nash_node *n)
{
	nash_shape_fn fn = nash_shape_rule(n->op);
	nash_shape st[40], os[16];
	const nash_shape *ish[40];
	if (!fn)
		return nfail(x, on, n->name, "no shape rule for %s", n->op);
	if (n->nin > 40 || n->nout > 16)
		return nfail(x, on, n->name, "too many inputs or outputs");
	for (int k = 0; k < n->nin; k++) {
		ish[k] = NULL;
		if (!n->in[k][0])
			continue;
		const nash_tensor *t = nash_graph_shape(x->g, n->in[k]);
		if (!t)
			return nfail(x, on, n->name, "input %s has no known shape", n->in[k]);
		st[k].ndim = t->ndim;
		memcpy(st[k].d, t->shape, sizeof st[k].d);
		st[k].dtype = t->dtype;
		ish[k] = &st[k];
	}
	memset(os, 0, sizeof os);
	for (int k = 0; k < n->nout; k++)
		os[k].dtype = NASH_F32;
	nash_err e2 = {{0}};
	if (fn(x->g, n, ish, os, &e2) < 0)
		return nash_fail(x->e, "%s: %s", x->label, e2.msg);
	for (int k = 0; k < n->nout; k++) {
		nash_tensor *t = nash_tensor_annotate(x->g, n->out[k], os[k].dtype, os[k].ndim, os[k].d);
		t->transient = 1;
	}
	return 0;
}

/* A unique nash node name for ONNX node n (index i). */
static const char *node_name(im *x, const Onnx__NodeProto *n, int i)
{
	char *s = n->name && n->name[0] ? nash_strdup(n->name) : nash_strfmt("%s_%d", n->op_type, i);
	for (int k = 1; ox_set_has(&x->nodenames, s); k++) {
		free(s);
		s = n->name && n->name[0] ? nash_strfmt("%s_%d", n->name, k) : nash_strfmt("%s_%d_%d", n->op_type, i, k);
	}
	x->owned = nash_realloc(x->owned, (size_t)(x->nowned + 1) * sizeof *x->owned);
	x->owned[x->nowned++] = s;
	ox_set_add(&x->nodenames, s);
	return s;
}

/* Add a nash node; outputs are n's outputs (all of them, or the first). */
static nash_node *add(im *x, const Onnx__NodeProto *on, const char *name, const char *op,
                      const char *const *in, int nin, int nout)
{
	const char *ins[40], *outs[17];
	for (int k = 0; k < nin && k < 39; k++)
		ins[k] = in[k] ? in[k] : "";
	ins[nin < 39 ? nin : 39] = NULL;
	for (int k = 0; k < nout && k < 16; k++)
		outs[k] = on->output[k];
	outs[nout < 16 ? nout : 16] = NULL;
	nash_node *n = nash_node_add(x->g, op, name, ins, outs);
	for (int k = 0; k < nout; k++) {
		tinfo *t = tnew(x, on->output[k]);
		t->kind = K_ACT;
		free(t->act);
		t->act = nash_strdup(on->output[k]);
	}
	return n;
}

/* ------------------------------------------------------- op converters */

static int need_const(im *x, const Onnx__NodeProto *n, const char *name, int k, const char *what, tinfo **out)
{
	tinfo *t = input(x, n, k);
	if (!t || t->kind != K_CONST)
		return nfail(x, n, name, "the %s (input %d) must be a constant initializer", what, k);
	*out = t;
	return 0;
}

static int need_act(im *x, const Onnx__NodeProto *n, const char *name, int k, tinfo **out)
{
	tinfo *t = input(x, n, k);
	if (!t)
		return nfail(x, n, name, "input %d is missing", k);
	if (t->kind == K_CONST)
		return nfail(x, n, name, "input %d (%s) is a constant; nash-onnx expects an activation there", k, t->name);
	if (t->kind != K_ACT)
		return nfail(x, n, name, "input %d (%s) is a transposed weight; only MatMul and Gemm take those", k,
		             t->name);
	*out = t;
	return 0;
}

/* An input that may be a constant (made a parameter) or an activation. */
static const char *operand(im *x, tinfo *t, int want_rank)
{
	if (!t)
		return "";
	if (t->kind == K_CONST)
		return param_of(x, t, want_rank, 0);
	return t->act;
}

/* Spatial attributes of Conv and pools: 2-D only, auto_pad resolved to pads. */
static int spatial(im *x, const Onnx__NodeProto *n, const char *name, nash_node *o, const nash_tensor *in,
                   const int64_t *kernel)
{
	int64_t v[8];
	int c;
	if ((c = ox_attr_ints(n, "strides", v, 8)) >= 0) {
		if (c != 2)
			return nfail(x, n, name, "only 2-D operations are supported (strides has %d entries)", c);
		nash_attr_set_ints(o, "strides", c, v);
	}
	int64_t dil[2] = {1, 1}, st[2] = {1, 1};
	if ((c = ox_attr_ints(n, "dilations", v, 8)) >= 0) {
		if (c != 2)
			return nfail(x, n, name, "only 2-D operations are supported");
		dil[0] = v[0], dil[1] = v[1];
		nash_attr_set_ints(o, "dilations", c, v);
	}
	ox_attr_ints(n, "strides", st, 2);
	if (st[0] < 1 || st[1] < 1 || dil[0] < 1 || dil[1] < 1 || kernel[0] < 1 || kernel[1] < 1)
		return nfail(x, n, name, "strides, dilations and kernel_shape must be positive");
	char *ap = ox_attr_str(n, "auto_pad");
	int rc = 0;
	if (ap && strcmp(ap, "NOTSET") && strcmp(ap, "")) {
		int64_t p[4] = {0, 0, 0, 0};
		if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
			for (int i = 0; i < 2; i++) {
				int64_t len = in->shape[1 + i], out = (len + st[i] - 1) / st[i];
				int64_t tot = (out - 1) * st[i] + (kernel[i] - 1) * dil[i] + 1 - len;
				if (tot < 0)
					tot = 0;
				int64_t a = ap[5] == 'U' ? tot / 2 : tot - tot / 2;
				p[i] = a;
				p[i + 2] = tot - a;
			}
		} else if (strcmp(ap, "VALID"))
			rc = nfail(x, n, name, "auto_pad %s is not supported", ap);
		nash_attr_set_ints(o, "pads", 4, p);
	} else if ((c = ox_attr_ints(n, "pads", v, 8)) >= 0) {
		if (c != 4)
			rc = nfail(x, n, name, "only 2-D operations are supported (pads has %d entries)", c);
		else
			nash_attr_set_ints(o, "pads", 4, v);  /* ONNX's order is nash's */
	}
	free(ap);
	return rc;
}

static int conv(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X, *W;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	W = input(x, n, 1);
	if (!W || W->kind == K_VIEW)
		return nfail(x, n, name, "the weight must be an initializer or a quantized initializer");
	const nash_tensor *xs = act_shape(x, X);
	if (!xs || xs->ndim != 3)
		return nfail(x, n, name, "only 2-D convolutions on N x C x H x W inputs are supported");
	const char *w = operand(x, W, -1);
	const nash_tensor *ws = nash_graph_shape(x->g, w);
	if (!ws || ws->ndim != 4)
		return nfail(x, n, name, "the weight must be M x C/group x KH x KW");
	tinfo *B = input(x, n, 2);
	const char *in[3] = {X->act, w, B ? operand(x, B, 1) : ""};
	nash_node *o = add(x, n, name, "Conv", in, B ? 3 : 2, 1);
	int64_t k[8];
	int c = ox_attr_ints(n, "kernel_shape", k, 8);
	if (c >= 0 && c != 2)
		return nfail(x, n, name, "only 2-D convolutions are supported (kernel_shape has %d entries)", c);
	if (c >= 0)
		nash_attr_set_ints(o, "kernel_shape", c, k);
	else
		k[0] = ws->shape[2], k[1] = ws->shape[3];
	if (spatial(x, n, name, o, xs, k) < 0)
		return -1;
	if (ox_attr(n, "group"))
		nash_attr_set_int(o, "group", ox_attr_int(n, "group", 1));
	return infer_node(x, n, o);
}

static int pool(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	if (n->n_output > 1 && n->output[1][0])
		return nfail(x, n, name, "the Indices output is not supported");
	const nash_tensor *xs = act_shape(x, X);
	if (!xs || xs->ndim != 3)
		return nfail(x, n, name, "only 2-D pooling on N x C x H x W inputs is supported");
	const char *in[1] = {X->act};
	nash_node *o = add(x, n, name, n->op_type, in, 1, 1);
	int64_t k[8];
	int c = ox_attr_ints(n, "kernel_shape", k, 8);
	if (c != 2)
		return nfail(x, n, name, "kernel_shape must have two entries");
	nash_attr_set_ints(o, "kernel_shape", 2, k);
	if (spatial(x, n, name, o, xs, k) < 0)
		return -1;
	if (ox_attr(n, "ceil_mode"))
		nash_attr_set_int(o, "ceil_mode", ox_attr_int(n, "ceil_mode", 0));
	if (!strcmp(n->op_type, "AveragePool") && ox_attr(n, "count_include_pad"))
		nash_attr_set_int(o, "count_include_pad", ox_attr_int(n, "count_include_pad", 0));
	return infer_node(x, n, o);
}

static int batchnorm(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X, *p[4];
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	static const char *const what[] = {"scale", "bias", "mean", "variance"};
	for (int k = 0; k < 4; k++)
		if (need_const(x, n, name, k + 1, what[k], &p[k]) < 0)
			return -1;
	if (ox_attr_int(n, "training_mode", 0))
		return nfail(x, n, name, "training_mode = 1 is not supported");
	if (!ox_attr_int(n, "spatial", 1))
		return nfail(x, n, name, "spatial = 0 (statistics per element) is not supported");
	for (size_t k = 1; k < n->n_output; k++)
		if (n->output[k][0])
			return nfail(x, n, name, "the running statistics outputs are not supported");
	const char *in[5] = {X->act};
	for (int k = 0; k < 4; k++)
		in[k + 1] = param_of(x, p[k], 1, 1);
	nash_node *o = add(x, n, name, "BatchNormalization", in, 5, 1);
	const Onnx__AttributeProto *a;
	if ((a = ox_attr(n, "epsilon")) && a->has_f)
		nash_attr_set_float(o, "epsilon", a->f);
	if ((a = ox_attr(n, "momentum")) && a->has_f)
		nash_attr_set_float(o, "momentum", a->f);
	return infer_node(x, n, o);
}

static int unary(im *x, const Onnx__NodeProto *n, const char *name, const char *op)
{
	tinfo *X;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	for (size_t k = 1; k < n->n_output; k++)
		if (n->output[k][0])
			return nfail(x, n, name, "output %zu is not supported", k);
	const char *in[1] = {X->act};
	nash_node *o = add(x, n, name, op, in, 1, 1);
	return infer_node(x, n, o);
}

static int clip(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	double lo = -INFINITY, hi = INFINITY;
	if (x->opset < 11) {
		lo = ox_attr_float(n, "min", -INFINITY);
		hi = ox_attr_float(n, "max", INFINITY);
	} else {
		for (int k = 1; k <= 2; k++) {
			tinfo *t = input(x, n, k);
			if (!t)
				continue;
			if (t->kind != K_CONST || ox_const_numel(&t->c) != 1)
				return nfail(x, n, name, "the %s bound must be a scalar constant", k == 1 ? "min" : "max");
			*(k == 1 ? &lo : &hi) = ox_const_at(&t->c, 0);
		}
	}
	const char *in[1] = {X->act};
	nash_node *o;
	if (lo == 0 && isinf(hi))
		o = add(x, n, name, "Relu", in, 1, 1);
	else {
		o = add(x, n, name, "HardTanh", in, 1, 1);
		nash_attr_set_float(o, "min_val", isinf(lo) ? -3.4028234663852886e38 : lo);
		nash_attr_set_float(o, "max_val", isinf(hi) ? 3.4028234663852886e38 : hi);
	}
	return infer_node(x, n, o);
}

/* Add, Mul, and Sub, Div by a constant. */
static int binary(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *A = input(x, n, 0), *B = input(x, n, 1);
	const char *op = n->op_type;
	if (!A || !B)
		return nfail(x, n, name, "needs two inputs");
	if (A->kind == K_VIEW || B->kind == K_VIEW)
		return nfail(x, n, name, "a transposed weight cannot be an operand here");
	const tinfo *act = A->kind == K_ACT ? A : B;
	const nash_tensor *as = act_shape(x, act);
	int rank = as ? as->ndim : -1;
	const char *in[2];
	if (!strcmp(op, "Sub") || !strcmp(op, "Div")) {
		if (B->kind != K_CONST || A->kind != K_ACT)
			return nfail(x, n, name, "%s is supported only as an activation %s a constant", op,
			             *op == 'S' ? "minus" : "divided by");
		ox_const *c = &B->c;
		int64_t cnt = ox_const_numel(c);
		float *v = nash_alloc((size_t)(cnt ? cnt : 1) * sizeof *v);
		for (int64_t k = 0; k < cnt; k++) {
			double y = ox_const_at(c, k);
			if (*op == 'D' && y == 0) {
				free(v);
				return nfail(x, n, name, "division by zero");
			}
			v[k] = *op == 'S' ? (float)-y : (float)(1.0 / y);
		}
		int nd = c->ndim;
		const int64_t *d = c->d;
		while (nd > rank && d[0] == 1)
			d++, nd--;
		char *base = nash_strfmt("%s.%s", B->name, *op == 'S' ? "neg" : "recip");
		in[0] = A->act;
		in[1] = param_new(x, base, nd, d, v);
		free(base);
		free(v);
		op = *op == 'S' ? "Add" : "Mul";
	} else {
		in[0] = operand(x, A, rank);
		in[1] = operand(x, B, rank);
	}
	nash_node *o = add(x, n, name, op, in, 2, 1);
	return infer_node(x, n, o);
}

static int concat(im *x, const Onnx__NodeProto *n, const char *name)
{
	const char *in[32];
	int rank = -1;
	if (n->n_input < 1 || n->n_input > 32)
		return nfail(x, n, name, "needs 1 to 32 inputs");
	for (size_t k = 0; k < n->n_input; k++) {
		tinfo *t;
		if (need_act(x, n, name, (int)k, &t) < 0)
			return -1;
		in[k] = t->act;
		rank = act_shape(x, t) ? act_shape(x, t)->ndim : rank;
	}
	int64_t ax = ox_attr_int(n, "axis", 1);
	if (ax < 0)
		ax += rank + 1;
	if (ax < 1)
		return nfail(x, n, name, "concatenation along the batch axis is not supported");
	nash_node *o = add(x, n, name, "Concat", in, (int)n->n_input, 1);
	nash_attr_set_int(o, "axis", ax);
	return infer_node(x, n, o);
}

/* Reshape, Flatten and Squeeze of an activation: flattening becomes
 * Flatten, a reshape to the same shape Identity; nothing else. */
static int reshape(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	const nash_tensor *xs = act_shape(x, X);
	if (!xs)
		return nfail(x, n, name, "the input shape is unknown");
	int64_t full[NASH_MAXDIM + 1], tgt[NASH_MAXDIM + 1], numel = nash_tensor_numel(xs);
	int r = xs->ndim + 1, nt = -1;
	full[0] = 1;
	memcpy(full + 1, xs->shape, (size_t)xs->ndim * sizeof *full);
	if (!strcmp(n->op_type, "Flatten")) {
		int64_t a = ox_attr_int(n, "axis", 1);
		if (a < 0)
			a += r;
		if (a != 1)
			return nfail(x, n, name, "Flatten with axis %lld (only 1, keeping the batch) is supported", (long long)a);
		nt = 2, tgt[0] = 1, tgt[1] = numel;
	} else if (!strcmp(n->op_type, "Reshape")) {
		tinfo *S;
		if (need_const(x, n, name, 1, "shape", &S) < 0)
			return -1;
		int64_t sh[NASH_MAXDIM + 2];
		int64_t c = ox_const_numel(&S->c);
		if (S->c.ndim != 1 || !S->c.i || c > NASH_MAXDIM + 1)
			return nfail(x, n, name, "the shape must be a 1-D integer list of at most %d entries", NASH_MAXDIM + 1);
		for (int k = 0; k < c; k++)
			sh[k] = S->c.i[k];
		int64_t known = 1, neg = -1;
		for (int k = 0; k < c; k++) {
			tgt[k] = sh[k] == 0 && !ox_attr_int(n, "allowzero", 0) && k < r ? full[k] : sh[k];
			if (tgt[k] == -1)
				neg = k;
			else
				known *= tgt[k];
		}
		if (neg >= 0 && known > 0 && numel % known == 0)
			tgt[neg] = numel / known;
		nt = (int)c;
		if (nash_shape_numel(nt, tgt) != numel)
			return nfail(x, n, name, "the target shape does not hold %lld elements", (long long)numel);
	} else { /* Squeeze */
		int64_t ax[NASH_MAXDIM];
		int c;
		if (x->opset >= 13) {
			tinfo *A = input(x, n, 1);
			c = 0;
			if (A) {
				if (A->kind != K_CONST || !A->c.i)
					return nfail(x, n, name, "the axes must be a constant");
				c = (int)ox_const_numel(&A->c);
				for (int k = 0; k < c && k < NASH_MAXDIM; k++)
					ax[k] = A->c.i[k];
			}
		} else
			c = ox_attr_ints(n, "axes", ax, NASH_MAXDIM);
		int drop[NASH_MAXDIM + 1] = {0};
		for (int k = 0; k < c; k++) {
			int64_t a = ax[k] < 0 ? ax[k] + r : ax[k];
			if (a < 1 || a >= r || full[a] != 1)
				return nfail(x, n, name, "squeezes axis %lld, which is not a dimension of 1 after the batch",
				             (long long)ax[k]);
			drop[a] = 1;
		}
		nt = 0;
		for (int k = 0; k < r; k++)
			if (!(c > 0 ? drop[k] : (k > 0 && full[k] == 1)))
				tgt[nt++] = full[k];
	}
	const char *in[1] = {X->act};
	nash_node *o;
	if (nt == r && !memcmp(tgt, full, (size_t)r * sizeof *tgt))
		o = add(x, n, name, "Identity", in, 1, 1);
	else if (nt == 2 && tgt[1] == numel) {
		o = add(x, n, name, "Flatten", in, 1, 1);
		nash_attr_set_int(o, "axis", 1);
	} else {
		char a[128], b[128];
		return nfail(x, n, name, "reshaping %s to %s is not supported (only flattening to N x K)",
		             nash_shape_str(r, full, a), nash_shape_str(nt, tgt, b));
	}
	return infer_node(x, n, o);
}

/* How many node inputs and graph outputs of the model name t. */
static int count_uses(const im *x, const char *t)
{
	const Onnx__GraphProto *gp = x->m->graph;
	int c = 0;
	for (size_t i = 0; i < gp->n_node; i++)
		for (size_t k = 0; k < gp->node[i]->n_input; k++)
			c += !strcmp(gp->node[i]->input[k], t);
	for (size_t i = 0; i < gp->n_output; i++)
		c += gp->output[i]->name && !strcmp(gp->output[i]->name, t);
	return c;
}

/* Transpose the quantized weight behind a Quant node (x and a 2-D scale)
 * in place, so that a K x N weight becomes N x K. */
static int transpose_quant_weight(im *x, const Onnx__NodeProto *on, const char *name, nash_node *q)
{
	nash_tensor *w = nash_tensor_find(x->g, q->in[0]);
	if (!w || !w->data || w->ndim != 2 || w->dtype != NASH_F32)
		return nfail(x, on, name, "the weight behind quantizer %s must be a 2-D float initializer", q->name);
	int64_t k = w->shape[0], m = w->shape[1], d[2] = {m, k};
	float *v = nash_alloc((size_t)(k * m) * sizeof *v);
	const float *s = w->data;
	for (int64_t i = 0; i < k; i++)
		for (int64_t j = 0; j < m; j++)
			v[j * k + i] = s[i * m + j];
	char *base = nash_strfmt("%s.T", w->name);
	const char *wt = param_new(x, base, 2, d, v);
	free(base);
	free(v);
	nash_node_set_in(q, 0, wt);
	nash_tensor *sc = nash_tensor_find(x->g, q->in[1]);
	if (sc && sc->data && sc->ndim == 2 && sc->dtype == NASH_F32) {
		int64_t sd[2] = {sc->shape[1], sc->shape[0]};
		float *sv = nash_alloc((size_t)(sd[0] * sd[1]) * sizeof *sv);
		const float *ss = sc->data;
		for (int64_t i = 0; i < sd[1]; i++)
			for (int64_t j = 0; j < sd[0]; j++)
				sv[j * sd[1] + i] = ss[i * sd[0] + j];
		base = nash_strfmt("%s.T", sc->name);
		nash_node_set_in(q, 1, param_new(x, base, 2, sd, sv));
		free(base);
		free(sv);
	} else if (sc && nash_tensor_numel(sc) != 1)
		return nfail(x, on, name, "the scale of quantizer %s is neither a scalar nor 2-D", q->name);
	/* the Quant output changes shape: update its annotation */
	nash_tensor *o = nash_tensor_find(x->g, q->out[0]);
	if (o) {
		o->shape[0] = m;
		o->shape[1] = k;
	}
	return 0;
}

/* Gemm and MatMul: nash's Gemm(A, W[N x K], B?) with transB = 1. */
static int gemm(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *A, *W = input(x, n, 1), *C = input(x, n, 2);
	int mm = !strcmp(n->op_type, "MatMul");
	if (need_act(x, n, name, 0, &A) < 0)
		return -1;
	const nash_tensor *as = act_shape(x, A);
	if (!as || as->ndim != 1)
		return nfail(x, n, name, "the input must be N x K (flatten it first)");
	if (!mm && ox_attr_int(n, "transA", 0))
		return nfail(x, n, name, "transA = 1 is not supported");
	int tb = mm ? 0 : (int)ox_attr_int(n, "transB", 0);
	float alpha = mm ? 1 : ox_attr_float(n, "alpha", 1), beta = mm ? 1 : ox_attr_float(n, "beta", 1);
	if (!W)
		return nfail(x, n, name, "the weight input is missing");
	const char *w;
	if (W->kind == K_CONST) {
		if (W->c.ndim != 2 || !W->c.f)
			return nfail(x, n, name, "the weight must be a 2-D float initializer");
		if (!tb || alpha != 1) {
			int64_t r = W->c.d[0], c = W->c.d[1], d[2] = {tb ? r : c, tb ? c : r};
			float *v = nash_alloc((size_t)(r * c) * sizeof *v);
			for (int64_t i = 0; i < r; i++)
				for (int64_t j = 0; j < c; j++)
					v[tb ? i * c + j : j * r + i] = alpha * W->c.f[i * c + j];
			char *base = nash_strfmt("%s%s", W->name, tb ? ".scaled" : ".T");
			w = param_new(x, base, 2, d, v);
			free(base);
			free(v);
		} else
			w = param_of(x, W, -1, 1);
	} else if (alpha != 1) {
		return nfail(x, n, name, "alpha != 1 with a quantized weight is not supported");
	} else if (W->kind == K_VIEW) {
		if (tb)
			return nfail(x, n, name, "transB = 1 on a transposed quantized weight is not supported");
		w = W->act;
	} else {
		w = W->act;
		if (!tb) {
			int p = nash_graph_producer(x->g, w);
			nash_node *q = p >= 0 ? x->g->nodes[p] : NULL;
			if (!q || (strcmp(q->op, "Quant") && strcmp(q->op, "BipolarQuant")) || count_uses(x, W->name) != 1)
				return nfail(x, n, name, "the weight must be an initializer, possibly behind a quantizer used once");
			if (transpose_quant_weight(x, n, name, q) < 0)
				return -1;
		}
	}
	const char *in[3] = {A->act, w, ""};
	if (C) {
		if (C->kind == K_CONST && beta != 1) {
			int64_t cnt = ox_const_numel(&C->c);
			float *v = nash_alloc((size_t)(cnt ? cnt : 1) * sizeof *v);
			for (int64_t k = 0; k < cnt; k++)
				v[k] = beta * (float)ox_const_at(&C->c, k);
			char *base = nash_strfmt("%s.scaled", C->name);
			in[2] = param_new(x, base, 1, &cnt, v);
			free(base);
			free(v);
		} else if (beta != 1)
			return nfail(x, n, name, "beta != 1 with a quantized bias is not supported");
		else
			in[2] = operand(x, C, 1);
	}
	nash_node *o = add(x, n, name, "Gemm", in, C ? 3 : 2, 1);
	nash_attr_set_int(o, "transB", 1);
	return infer_node(x, n, o);
}

static int transpose(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X = input(x, n, 0);
	int64_t perm[8];
	int c = ox_attr_ints(n, "perm", perm, 8);
	int p = X && X->kind == K_ACT ? nash_graph_producer(x->g, X->act) : -1;
	const nash_node *q = p >= 0 ? x->g->nodes[p] : NULL;
	const nash_tensor *w = q ? nash_tensor_find(x->g, q->in[0]) : NULL;
	if (q && (!strcmp(q->op, "Quant") || !strcmp(q->op, "BipolarQuant")) && w && w->data && w->ndim == 2 &&
	    (c < 0 || (c == 2 && perm[0] == 1 && perm[1] == 0))) {
		tinfo *t = tnew(x, n->output[0]);
		t->kind = K_VIEW;
		free(t->act);
		t->act = nash_strdup(X->act);
		return 0;
	}
	return nfail(x, n, name, "Transpose of an activation is not supported (only of a quantized 2-D weight feeding MatMul)");
}

static int slice(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	int64_t v[4][NASH_MAXDIM + 1];
	int cnt[4] = {-1, -1, -1, -1};
	static const char *const keys[] = {"starts", "ends", "axes", "steps"};
	for (int k = 0; k < 4; k++) {
		if (x->opset < 10) {
			cnt[k] = k < 3 ? ox_attr_ints(n, keys[k], v[k], NASH_MAXDIM + 1) : -1;
			continue;
		}
		tinfo *t = input(x, n, k + 1);
		if (!t)
			continue;
		if (t->kind != K_CONST || !t->c.i || t->c.ndim != 1 || ox_const_numel(&t->c) > NASH_MAXDIM + 1)
			return nfail(x, n, name, "%s must be a constant 1-D integer list", keys[k]);
		cnt[k] = (int)ox_const_numel(&t->c);
		memcpy(v[k], t->c.i, (size_t)cnt[k] * sizeof(int64_t));
	}
	const char *in[1] = {X->act};
	nash_node *o = add(x, n, name, "Slice", in, 1, 1);
	for (int k = 0; k < 4; k++)
		if (cnt[k] >= 0) {
			for (int i = 0; i < cnt[k]; i++) /* clamp INT64 sentinels to int range */
				if (v[k][i] > INT32_MAX)
					v[k][i] = INT32_MAX;
				else if (v[k][i] < INT32_MIN)
					v[k][i] = INT32_MIN;
			nash_attr_set_ints(o, keys[k], cnt[k], v[k]);
		}
	return infer_node(x, n, o);
}

static int pad(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X;
	if (need_act(x, n, name, 0, &X) < 0)
		return -1;
	char *mode = ox_attr_str(n, "mode");
	int bad = mode && strcmp(mode, "constant");
	free(mode);
	if (bad)
		return nfail(x, n, name, "only constant padding is supported");
	int64_t p[2 * (NASH_MAXDIM + 1)];
	int c;
	double val = 0;
	if (x->opset < 11) {
		c = ox_attr_ints(n, "pads", p, 2 * (NASH_MAXDIM + 1));
		val = ox_attr_float(n, "value", 0);
	} else {
		tinfo *P, *V = input(x, n, 2);
		if (need_const(x, n, name, 1, "pads", &P) < 0)
			return -1;
		if (!P->c.i || ox_const_numel(&P->c) > 2 * (NASH_MAXDIM + 1))
			return nfail(x, n, name, "pads must be an integer list");
		c = (int)ox_const_numel(&P->c);
		memcpy(p, P->c.i, (size_t)c * sizeof *p);
		if (input(x, n, 3))
			return nfail(x, n, name, "the axes input is not supported");
		if (V) {
			if (V->kind != K_CONST || ox_const_numel(&V->c) != 1)
				return nfail(x, n, name, "the padding value must be a scalar constant");
			val = ox_const_at(&V->c, 0);
		}
	}
	const char *in[1] = {X->act};
	nash_node *o = add(x, n, name, "Pad", in, 1, 1);
	if (c >= 0)
		nash_attr_set_ints(o, "pads", c, p);
	if (val != 0)
		nash_attr_set_float(o, "value", val);
	return infer_node(x, n, o);
}

/* Keep the extra attributes of a custom-domain node (any value). */
static void extra_attrs(nash_node *o, const Onnx__NodeProto *n, const char *const *skip)
{
	for (size_t i = 0; i < n->n_attribute; i++) {
		const Onnx__AttributeProto *a = n->attribute[i];
		int s = !a->name || !a->name[0];
		for (int k = 0; !s && skip[k]; k++)
			s |= !strcmp(a->name, skip[k]);
		if (s || nash_attr_has(o, a->name))
			continue;
		if (a->has_s)
			nash_val_set(o->attr, a->name, nash_val_strn((const char *)a->s.data, a->s.len));
		else if (a->has_i)
			nash_attr_set_int(o, a->name, a->i);
		else if (a->has_f)
			nash_attr_set_float(o, a->name, a->f);
		else if (a->n_ints)
			nash_attr_set_ints(o, a->name, (int)a->n_ints, a->ints);
	}
}

static int quant(im *x, const Onnx__NodeProto *n, const char *name, int qver)
{
	const char *op = n->op_type;
	tinfo *X = input(x, n, 0), *S, *Z = NULL, *B = NULL, *B2 = NULL;
	int trunc = !strcmp(op, "Trunc"), bip = !strcmp(op, "BipolarQuant");
	if (!X)
		return nfail(x, n, name, "the input is missing");
	if (X->kind == K_VIEW)
		return nfail(x, n, name, "a transposed weight cannot be quantized");
	(void)qver;
	if (trunc && n->n_input != 5)
		return nfail(x, n, name, "Trunc has %zu inputs: QONNX opset 1 has 5 (x, scale, zeropt, in_bitwidth, out_bitwidth), opset 2 has 6 (..., out_scale, out_bitwidth)",
		             n->n_input);
	if (need_const(x, n, name, 1, "scale", &S) < 0 ||
	    (!bip && (need_const(x, n, name, 2, "zero point", &Z) < 0 || need_const(x, n, name, 3, "bit width", &B) < 0)) ||
	    (trunc && need_const(x, n, name, 4, "output bit width", &B2) < 0))
		return -1;
	const tinfo *bw[2] = {B, B2};
	for (int k = 0; k < 2; k++)
		if (bw[k] && (ox_const_numel(&bw[k]->c) != 1 || ox_const_at(&bw[k]->c, 0) != floor(ox_const_at(&bw[k]->c, 0)) ||
		              ox_const_at(&bw[k]->c, 0) < 1 || ox_const_at(&bw[k]->c, 0) > 32))
			return nfail(x, n, name, "the bit width must be one integer in 1..32");
	if (Z && ox_const_numel(&Z->c) != 1)
		return nfail(x, n, name, "the zero point must be a scalar");
	const nash_tensor *xs = X->kind == K_ACT ? act_shape(x, X) : NULL;
	int rank = xs ? xs->ndim : -1;
	char *rm = ox_attr_str(n, "rounding_mode");
	for (char *p = rm; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	if (rm && strcmp(rm, "ROUND") && strcmp(rm, "FLOOR") && strcmp(rm, "CEIL")) {
		nfail(x, n, name, "rounding_mode %s is not supported (ROUND, FLOOR, CEIL)", rm);
		free(rm);
		return -1;
	}
	if (!strcmp(op, "IntQuant"))  /* QONNX's newer name */
		op = "Quant";
	int is_signed = (int)ox_attr_int(n, "signed", 1), narrow = (int)ox_attr_int(n, "narrow", 0);
	/* QONNX reads a 1-bit signed Quant as bipolar */
	if (!bip && !trunc && ox_const_at(&B->c, 0) == 1 && is_signed && ox_const_at(&Z->c, 0) == 0)
		bip = 1, op = "BipolarQuant";
	const char *in[5] = {X->kind == K_CONST ? param_of(x, X, -1, 1) : X->act, param_of(x, S, rank, 1)};
	int nin = 2;
	if (!bip) {
		in[2] = param_of(x, Z, 0, 1);
		in[3] = param_of(x, B, 0, 1);
		nin = 4;
		if (trunc)
			in[4] = param_of(x, B2, 0, 1), nin = 5;
	}
	nash_node *o = add(x, n, name, op, in, nin, 1);
	if (!bip && !trunc) {
		nash_attr_set_int(o, "signed", is_signed != 0);
		nash_attr_set_int(o, "narrow", narrow != 0);
	}
	if (!bip)
		nash_attr_set_str(o, "rounding_mode", rm ? rm : trunc ? "FLOOR" : "ROUND");
	free(rm);
	static const char *const skip[] = {"signed", "narrow", "rounding_mode", NULL};
	extra_attrs(o, n, skip);
	return infer_node(x, n, o);
}

/* A scalar integer in lo..hi from a constant. */
static int const_int(const tinfo *t, int64_t lo, int64_t hi, int64_t *out)
{
	if (!t || t->kind != K_CONST || ox_const_numel(&t->c) != 1)
		return -1;
	double v = ox_const_at(&t->c, 0);
	if (v != floor(v) || v < (double)lo || v > (double)hi)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* Trunc of QONNX opset 2 (x, scale, zeropt, in_bitwidth, out_scale,
 * out_bitwidth; signed, narrow, rounding_mode): with the power of two
 * t = 2^round(log2(out_scale / scale)), y = clamp(rounding(round(x / scale)
 * / t)) * out_scale. nash's Trunc keeps the input scale, so this becomes
 * Trunc (shift by log2 t), Mul by t and a Quant with out_scale that clamps:
 * the same values bit for bit when the zero point is 0. */
static int trunc_v2(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X, *S, *Z, *OS;
	int64_t ib, ob;
	if (need_act(x, n, name, 0, &X) < 0 || need_const(x, n, name, 1, "scale", &S) < 0 ||
	    need_const(x, n, name, 2, "zero point", &Z) < 0 || need_const(x, n, name, 4, "output scale", &OS) < 0)
		return -1;
	if (const_int(input(x, n, 3), 1, 32, &ib) < 0 || const_int(input(x, n, 5), 1, 32, &ob) < 0)
		return nfail(x, n, name, "the bit widths must be constant integers in 1..32");
	for (int64_t k = 0; k < ox_const_numel(&Z->c); k++)
		if (ox_const_at(&Z->c, k) != 0)
			return nfail(x, n, name, "a zero point other than 0 is not supported");
	int64_t ns = ox_const_numel(&S->c), no = ox_const_numel(&OS->c), sh = 0;
	if (ns != 1 && no != 1 && ns != no)
		return nfail(x, n, name, "scale and output scale have %lld and %lld elements", (long long)ns, (long long)no);
	for (int64_t k = 0; k < (ns > no ? ns : no); k++) {
		double s = ox_const_at(&S->c, ns == 1 ? 0 : k), o = ox_const_at(&OS->c, no == 1 ? 0 : k);
		if (!(s > 0) || !(o > 0))
			return nfail(x, n, name, "scales must be positive");
		int64_t e = (int64_t)nearbyint(log2(o / s));
		if (k && e != sh)
			return nfail(x, n, name, "the truncation shift log2(out_scale / scale) differs between channels");
		sh = e;
	}
	if (sh < 0 || sh >= ib)
		return nfail(x, n, name, "truncation by 2^%lld of a %lld-bit input is not supported", (long long)sh, (long long)ib);
	char *rm = ox_attr_str(n, "rounding_mode");
	for (char *p = rm; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	if (rm && strcmp(rm, "ROUND") && strcmp(rm, "FLOOR") && strcmp(rm, "CEIL")) {
		nfail(x, n, name, "rounding_mode %s is not supported (ROUND, FLOOR, CEIL)", rm);
		free(rm);
		return -1;
	}
	const nash_tensor *xs = act_shape(x, X);
	int rank = xs ? xs->ndim : -1;
	char *b1 = nash_strfmt("%s.in_bits", name), *b2 = nash_strfmt("%s.shift_bits", name);
	char *b3 = nash_strfmt("%s.out_bits", name), *b4 = nash_strfmt("%s.rescale", name);
	float fib = (float)ib, fsh = (float)(ib - sh), fob = (float)ob, fts = (float)ldexp(1, (int)sh);
	const char *zp = param_of(x, Z, 0, 1), *sp = param_of(x, S, rank, 1), *osp = param_of(x, OS, rank, 1);
	const char *pib = param_new(x, b1, 0, NULL, &fib), *psh = param_new(x, b2, 0, NULL, &fsh);
	const char *pob = param_new(x, b3, 0, NULL, &fob), *pts = param_new(x, b4, 0, NULL, &fts);
	free(b1), free(b2), free(b3), free(b4);
	char *t1 = nash_strfmt("%s.trunc", n->output[0]), *t2 = nash_strfmt("%s.rescaled", n->output[0]);
	char *o1 = nash_graph_fresh_name(x->g, t1), *o2 = nash_graph_fresh_name(x->g, t2);
	char *n2 = nash_strfmt("%s.rescale", name), *n3 = nash_strfmt("%s.clamp", name);
	nash_node *tr = nash_node_add(x->g, "Trunc", name, (const char *[]){X->act, sp, zp, pib, psh, NULL},
	                              (const char *[]){o1, NULL});
	nash_attr_set_str(tr, "rounding_mode", rm ? rm : "FLOOR");
	int rc = infer_node(x, n, tr);
	if (rc == 0)
		rc = infer_node(x, n, nash_node_add(x->g, "Mul", n2, (const char *[]){o1, pts, NULL}, (const char *[]){o2, NULL}));
	if (rc == 0) {
		const char *in[4] = {o2, osp, zp, pob};
		nash_node *q = add(x, n, n3, "Quant", in, 4, 1);
		nash_attr_set_int(q, "signed", ox_attr_int(n, "signed", 1) != 0);
		nash_attr_set_int(q, "narrow", ox_attr_int(n, "narrow", 0) != 0);
		nash_attr_set_str(q, "rounding_mode", "ROUND");
		nash_attr_set_str(q, "scale_mode", "const");
		nash_attr_set_str(q, "target", "act");
		rc = infer_node(x, n, q);
	}
	free(rm), free(t1), free(t2), free(o1), free(o2), free(n2), free(n3);
	return rc;
}

static int multithreshold(im *x, const Onnx__NodeProto *n, const char *name)
{
	tinfo *X, *T;
	if (need_act(x, n, name, 0, &X) < 0 || need_const(x, n, name, 1, "thresholds", &T) < 0)
		return -1;
	char *dl = ox_attr_str(n, "data_layout");
	int bad = dl && strcmp(dl, "NCHW") && strcmp(dl, "NC");
	free(dl);
	if (bad)
		return nfail(x, n, name, "only the NCHW data layout is supported");
	const char *in[2] = {X->act, param_of(x, T, -1, 1)};
	nash_node *o = add(x, n, name, "MultiThreshold", in, 2, 1);
	const Onnx__AttributeProto *a;
	if ((a = ox_attr(n, "out_scale")) && a->has_f)
		nash_attr_set_float(o, "out_scale", a->f);
	if ((a = ox_attr(n, "out_bias")) && a->has_f)
		nash_attr_set_float(o, "out_bias", a->f);
	char *dt = ox_attr_str(n, "out_dtype");
	if (dt)
		nash_attr_set_str(o, "out_dtype", dt);
	free(dt);
	return infer_node(x, n, o);
}

/* ----------------------------------------------------------- the walk */

static int is_std_domain(const char *d)
{
	return !d || !d[0] || !strcmp(d, "ai.onnx");
}

static int convert_node(im *x, const Onnx__NodeProto *n, int i, int qver)
{
	if (!n->op_type || !n->op_type[0])
		return nash_fail(x->e, "%s: node %d (%s) has no op_type", x->label, i, n->name ? n->name : "unnamed");
	const char *op = n->op_type;
	const char *name = node_name(x, n, i);
	for (size_t k = 0; k < n->n_input; k++)
		if (n->input[k][0] && !tget(x, n->input[k]))
			return nfail(x, n, name, "input %s is not defined: no initializer, graph input or earlier node output has that name",
			             n->input[k]);
	if (n->n_output < 1 || !n->output[0][0])
		return nfail(x, n, name, "has no output");
	if (ox_qonnx_domain(n->domain)) {
		if (!strcmp(op, "Trunc") && n->n_input == 6)
			return trunc_v2(x, n, name);
		if (!strcmp(op, "Quant") || !strcmp(op, "IntQuant") || !strcmp(op, "BipolarQuant") || !strcmp(op, "Trunc"))
			return quant(x, n, name, qver);
		if (!strcmp(op, "MultiThreshold"))
			return multithreshold(x, n, name);
		return nfail(x, n, name, "unsupported op %s of domain %s", op, n->domain);
	}
	if (!is_std_domain(n->domain))
		return nfail(x, n, name, "unsupported op %s of domain %s", op, n->domain);
	/* constant folding first: every input a constant, or Shape of anything */
	int allconst = 1;
	const ox_const *cin[32];
	for (size_t k = 0; k < n->n_input && k < 32; k++) {
		tinfo *t = input(x, n, (int)k);
		cin[k] = t && t->kind == K_CONST ? &t->c : NULL;
		if (t && t->kind != K_CONST)
			allconst = 0;
	}
	ox_const shp = {0};
	if (!strcmp(op, "Shape") && n->n_input == 1) {
		tinfo *t = input(x, n, 0);
		const nash_tensor *s = act_shape(x, t);
		if (t && t->kind == K_ACT && s && s->ndim + 1 > NASH_MAXDIM)
			return nfail(x, n, name, "Shape of a %d-dimensional tensor", s->ndim + 1);
		if (t && t->kind == K_ACT && s) {
			shp.ndim = s->ndim + 1;  /* a shape-only stand-in, batch 1 */
			shp.d[0] = 1;
			memcpy(shp.d + 1, s->shape, (size_t)s->ndim * sizeof *s->shape);
			cin[0] = &shp;
			allconst = 1;
		}
	}
	if (allconst && n->n_input <= 32) {
		ox_const out;
		char why[256];
		int rc = ox_fold(n, x->opset, cin, (int)n->n_input, &out, why, sizeof why);
		if (rc < 0)
			return nfail(x, n, name, "%s", why);
		if (rc == 0) {
			tinfo *t = tnew(x, n->output[0]);
			t->kind = K_CONST;
			t->c = out;
			return 0;
		}
	}
	if (!strcmp(op, "Conv"))
		return conv(x, n, name);
	if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool"))
		return pool(x, n, name);
	if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "Relu"))
		return unary(x, n, name, op);
	if (!strcmp(op, "Identity") || !strcmp(op, "Dropout"))
		return unary(x, n, name, "Identity");
	if (!strcmp(op, "BatchNormalization"))
		return batchnorm(x, n, name);
	if (!strcmp(op, "Clip"))
		return clip(x, n, name);
	if (!strcmp(op, "Add") || !strcmp(op, "Mul") || !strcmp(op, "Sub") || !strcmp(op, "Div"))
		return binary(x, n, name);
	if (!strcmp(op, "Concat"))
		return concat(x, n, name);
	if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze"))
		return reshape(x, n, name);
	if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul"))
		return gemm(x, n, name);
	if (!strcmp(op, "Transpose"))
		return transpose(x, n, name);
	if (!strcmp(op, "Slice"))
		return slice(x, n, name);
	if (!strcmp(op, "Pad"))
		return pad(x, n, name);
	return nfail(x, n, name, "unsupported op %s", op);
}

/* ---------------------------------------- quantizer roles (inference) */

static int is_param_name(const nash_graph *g, const char *name)
{
	const nash_tensor *t = nash_tensor_find(g, name);
	return t && t->data;
}

static int scale_equal(const nash_tensor *a, const nash_tensor *b)
{
	if (!a || !b || !a->data || !b->data || nash_tensor_numel(a) != nash_tensor_numel(b))
		return 0;
	return !memcmp(a->data, b->data, nash_tensor_nbytes(a));
}

/* The scale tensor of activation t: that of the quantizer (or Trunc,
 * which keeps its input's scale) found walking up through ops that keep
 * the scale; NULL if there is none. */
static const char *act_scale(const nash_graph *g, const char *t)
{
	for (int hop = 0; hop < 64; hop++) {
		int p = nash_graph_producer(g, t);
		if (p < 0)
			return NULL;
		const nash_node *n = g->nodes[p];
		if (!strcmp(n->op, "Quant") || !strcmp(n->op, "BipolarQuant") || !strcmp(n->op, "Trunc"))
			return n->nin > 1 ? n->in[1] : NULL;
		if (strcmp(n->op, "MaxPool") && strcmp(n->op, "Flatten") && strcmp(n->op, "Identity"))
			return NULL;
		t = n->in[0];
	}
	return NULL;
}

static int weight_mode_stats(const nash_graph *g, const nash_node *q)
{
	nash_qparams p;
	const nash_tensor *w = nash_tensor_find(g, q->in[0]);
	if (nash_qparams_get(g, q, &p, NULL) < 0 || !w || !w->data || w->dtype != NASH_F32 || w->ndim < 1)
		return 0;
	int64_t rows = nash_tensor_numel(p.scale), n = nash_tensor_numel(w);
	if (rows != 1 && rows != w->shape[0])
		return 0;
	float *s = nash_alloc((size_t)rows * sizeof *s);
	nash_qscale_stats(w->data, rows, n / rows, p.bits, p.bipolar, s);
	int ok = 1;
	const float *have = p.scale->data;
	for (int64_t r = 0; r < rows && ok; r++)
		ok = s[r] == have[r];  /* exact: the integer export recomputes stats scales */
	free(s);
	return ok;
}

static void infer_roles(nash_graph *g)
{
	/* adder pairs first: two quantizers of equal scale on one Add */
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *a = g->nodes[i];
		if (strcmp(a->op, "Add") || a->nin != 2)
			continue;
		int p0 = nash_graph_producer(g, a->in[0]), p1 = nash_graph_producer(g, a->in[1]);
		if (p0 < 0 || p1 < 0 || p0 == p1)
			continue;
		nash_node *q0 = g->nodes[p0], *q1 = g->nodes[p1];
		if (strcmp(q0->op, "Quant") || strcmp(q1->op, "Quant") || nash_attr_has(q0, "target") ||
		    nash_attr_has(q1, "target"))
			continue;
		nash_qparams a0, a1;
		if (nash_qparams_get(g, q0, &a0, NULL) < 0 || nash_qparams_get(g, q1, &a1, NULL) < 0 ||
		    a0.bits != a1.bits || a0.is_signed != a1.is_signed || a0.narrow != a1.narrow ||
		    !scale_equal(a0.scale, a1.scale) || is_param_name(g, q0->in[0]) || is_param_name(g, q1->in[0]))
			continue;
		for (int k = 0; k < 2; k++) {
			nash_node *q = k ? q1 : q0;
			nash_attr_set_str(q, "scale_mode", "learned");
			nash_attr_set_str(q, "target", "adder");
		}
		if (strcmp(q0->in[1], q1->in[1])) {
			char *old = nash_strdup(q1->in[1]);
			nash_node_set_in(q1, 1, q0->in[1]);
			if (!nash_graph_uses(g, old))
				nash_tensor_remove(g, old);
			free(old);
		}
	}
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *q = g->nodes[i];
		if ((strcmp(q->op, "Quant") && strcmp(q->op, "BipolarQuant")) || nash_attr_has(q, "target"))
			continue;
		const char *target = "act", *mode = "learned";
		int isin = 0;
		for (int k = 0; k < g->nin; k++)
			isin |= !strcmp(g->inputs[k].name, q->in[0]);
		const nash_tensor *x = nash_tensor_find(g, q->in[0]);
		if (isin) {
			target = "input";
			mode = "const";
		} else if (x && x->data) {
			target = NULL;
			mode = "const";
			const nash_node *user = NULL;
			int slot = -1;
			for (int j = 0; j < g->nnodes && !user; j++) {
				const nash_node *u = g->nodes[j];
				if (strcmp(u->op, "Conv") && strcmp(u->op, "Gemm"))
					continue;
				for (int k = 1; k < u->nin && k < 3; k++)
					if (!strcmp(u->in[k], q->out[0]))
						user = u, slot = k;
			}
			if (slot == 2) {
				target = "bias";
				mode = "const";
				const char *qi = act_scale(g, user->in[0]);
				int pw = nash_graph_producer(g, user->in[1]);
				const nash_node *qw = pw >= 0 ? g->nodes[pw] : NULL;
				const nash_tensor *sb = nash_tensor_find(g, q->in[1]);
				const nash_tensor *si = qi ? nash_tensor_find(g, qi) : NULL;
				const nash_tensor *sw = qw && (!strcmp(qw->op, "Quant") || !strcmp(qw->op, "BipolarQuant"))
				                        ? nash_tensor_find(g, qw->in[1]) : NULL;
				if (sb && si && sw && sb->data && si->data && sw->data && nash_tensor_numel(si) == 1) {
					int64_t nb = nash_tensor_numel(sb), nw = nash_tensor_numel(sw);
					int ok = nb == nw || nw == 1;
					for (int64_t k = 0; k < nb && ok; k++)  /* exact: the export refreshes products */
						ok = ((float *)sb->data)[k] == ((float *)si->data)[0] * ((float *)sw->data)[nw == 1 ? 0 : k];
					if (ok) {
						mode = "product";
						nash_val *l = nash_val_arr();
						nash_val_push(l, nash_val_str(si->name));
						nash_val_push(l, nash_val_str(sw->name));
						nash_val_set(q->attr, "scale_from", l);
					}
				}
			} else if (slot == 1) {
				target = "weight";
				mode = weight_mode_stats(g, q) ? "stats" : "learned";
			}
		}
		if (!strcmp(q->op, "BipolarQuant") && !strcmp(target, "act"))
			mode = "const";  /* a bipolar activation's scale is a constant (1) */
		if (!nash_attr_has(q, "scale_mode"))
			nash_attr_set_str(q, "scale_mode", mode);
		if (target)  /* a quantized constant that is no weight or bias has none */
			nash_attr_set_str(q, "target", target);
	}
}

/* ------------------------------------------ the nash.graph metadata */

/* A value nash wrote agrees with what came back through ONNX (floats
 * went through float32 there). */
static int val_agree(const nash_val *s, const nash_val *d)
{
	if (nash_val_equal(s, d))
		return 1;
	if (nash_val_is_num(s) && nash_val_is_num(d))
		return (float)nash_val_as_f64(s, 0) == (float)nash_val_as_f64(d, 0);
	if (s->t == NASH_V_ARR && d->t == NASH_V_ARR && s->u.a.n == d->u.a.n) {
		for (size_t i = 0; i < s->u.a.n; i++)
			if (!val_agree(s->u.a.v[i], d->u.a.v[i]))
				return 0;
		return 1;
	}
	return 0;
}

/* Attributes import (or export) always writes; absent in nash they mean
 * the default (a list: every entry the default). */
static int is_default(const char *op, const char *key, const nash_val *v)
{
	static const struct { const char *op, *key, *s; double n; } defs[] = {
		{"Quant", "signed", NULL, 1}, {"Quant", "narrow", NULL, 0}, {"Quant", "rounding_mode", "ROUND", 0},
		{"Trunc", "rounding_mode", "FLOOR", 0}, {"Flatten", "axis", NULL, 1}, {"Concat", "axis", NULL, 1},
		{"AveragePool", "strides", NULL, 1}, {"AveragePool", "pads", NULL, 0}, {NULL, NULL, NULL, 0}
	};
	for (int i = 0; defs[i].op; i++) {
		if (strcmp(defs[i].op, op) || strcmp(defs[i].key, key))
			continue;
		if (defs[i].s)
			return v->t == NASH_V_STR && !strcmp(nash_val_as_str(v), defs[i].s);
		if (v->t == NASH_V_ARR) {
			for (size_t k = 0; k < v->u.a.n; k++)
				if (!nash_val_is_num(v->u.a.v[k]) || nash_val_as_f64(v->u.a.v[k], -1) != defs[i].n)
					return 0;
			return 1;
		}
		return nash_val_is_num(v) && nash_val_as_f64(v, -1) == defs[i].n;
	}
	return 0;
}

/* Export writes a square GlobalAveragePool that starts a quantized pool as
 * AveragePool over the whole map (FINN's form); give it back its op. */
static void global_pool_back(nash_graph *g, nash_node *n, const nash_node *s)
{
	int64_t k[4], p[4] = {0, 0, 0, 0};
	const nash_tensor *in = nash_graph_shape(g, n->in[0]);
	if (strcmp(n->op, "AveragePool") || strcmp(s->op, "GlobalAveragePool") || !in || in->ndim != 3 ||
	    nash_attr_ints(n, "kernel_shape", k, 2) != 2 || k[0] != in->shape[1] || k[1] != in->shape[2] ||
	    (nash_attr_has(n, "pads") && nash_attr_ints(n, "pads", p, 4) != 4) || p[0] || p[1] || p[2] || p[3])
		return;
	free(n->op);
	n->op = nash_strdup("GlobalAveragePool");
	nash_val_free(n->attr);
	n->attr = nash_val_map();
}

static void merge_node(nash_node *n, const nash_node *s)
{
	nash_val *m = nash_val_copy(s->attr);
	const nash_val *d = n->attr;
	for (size_t i = 0; i < d->u.m.n; i++) {
		const char *k = nash_val_as_str(d->u.m.k[i]);
		const nash_val *sv = nash_val_get(m, k), *dv = d->u.m.v[i];
		if ((sv && val_agree(sv, dv)) || (!sv && is_default(n->op, k, dv)))
			continue;
		nash_val_set(m, k, nash_val_copy(dv));
	}
	nash_val_free(n->attr);
	n->attr = m;
	nash_val_free(n->extra);
	n->extra = s->extra ? nash_val_copy(s->extra) : NULL;
}

static int is_activation(const nash_graph *g, const char *name)
{
	for (int i = 0; i < g->nin; i++)
		if (!strcmp(g->inputs[i].name, name))
			return 1;
	return nash_graph_producer(g, name) >= 0;
}

/* Undo export's elision of redundant HardTanh nodes: a HardTanh of the
 * metadata that is missing here, whose consumers now read its input. */
static void restore_hardtanh(nash_graph *g, const nash_graph *s)
{
	for (int i = 0; i < s->nnodes; i++) {
		const nash_node *h = s->nodes[i];
		if (strcmp(h->op, "HardTanh") || h->nin != 1 || h->nout != 1 || nash_node_find(g, h->name) ||
		    !is_activation(g, h->in[0]) || is_activation(g, h->out[0]) || nash_tensor_find(g, h->out[0]))
			continue;
		int rewired = 0;
		for (int j = 0; j < s->nnodes; j++) {
			const nash_node *c = s->nodes[j];
			nash_node *gc = nash_node_find(g, c->name);
			for (int k = 0; gc && k < c->nin && k < gc->nin; k++)
				if (!strcmp(c->in[k], h->out[0]) && !strcmp(gc->in[k], h->in[0])) {
					nash_node_set_in(gc, k, h->out[0]);
					rewired++;
				}
		}
		if (!rewired)
			continue;
		/* right after its input's producer, where nash had it */
		const char *in[2] = {h->in[0], NULL}, *out[2] = {h->out[0], NULL};
		nash_node *n = nash_node_insert(g, nash_graph_producer(g, h->in[0]) + 1, "HardTanh", h->name, in, out);
		nash_val_free(n->attr);
		n->attr = nash_val_copy(h->attr);
		if (h->extra)
			n->extra = nash_val_copy(h->extra);
		const nash_tensor *a = nash_tensor_find(g, h->in[0]);
		if (a) {
			nash_tensor *t = nash_tensor_annotate(g, h->out[0], a->dtype, a->ndim, a->shape);
			t->transient = 1;
		}
	}
}

static void merge_skeleton(nash_graph *g, const nash_graph *s)
{
	restore_hardtanh(g, s);
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		const nash_node *sn = nash_node_find(s, n->name);
		if (sn)
			global_pool_back(g, n, sn);
		if (sn && !strcmp(sn->op, n->op))
			merge_node(n, sn);
	}
	for (int i = 0; i < s->ntensors; i++) {
		const nash_tensor *st = s->tensors[i];
		nash_tensor *t = nash_tensor_find(g, st->name);
		if (!t)
			continue;
		if (!t->data) {
			if (!is_activation(g, t->name) || t->ndim != st->ndim ||
			    memcmp(t->shape, st->shape, (size_t)st->ndim * sizeof *st->shape))
				continue;
			t->transient = 0;  /* nash had it written down */
		}
		if (!t->datatype.kind)
			t->datatype = st->datatype;
		if (st->extra && !t->extra)
			t->extra = nash_val_copy(st->extra);
	}
	nash_io *lists[2] = {g->inputs, g->outputs}, *slists[2] = {s->inputs, s->outputs};
	int counts[2] = {g->nin, g->nout}, scounts[2] = {s->nin, s->nout};
	for (int l = 0; l < 2; l++)
		for (int i = 0; i < counts[l]; i++)
			for (int j = 0; j < scounts[l]; j++)
				if (!strcmp(lists[l][i].name, slists[l][j].name)) {
					if (!lists[l][i].datatype.kind)
						lists[l][i].datatype = slists[l][j].datatype;
					if (slists[l][j].extra && !lists[l][i].extra)
						lists[l][i].extra = nash_val_copy(slists[l][j].extra);
				}
	nash_val_free(g->meta);
	g->meta = nash_val_copy(s->meta);
	if (s->extra) {
		nash_val_free(g->extra);
		g->extra = nash_val_copy(s->extra);
	}
}

static nash_graph *read_skeleton(im *x)
{
	const Onnx__ModelProto *m = x->m;
	for (size_t i = 0; i < m->n_metadata_props; i++) {
		const Onnx__StringStringEntryProto *p = m->metadata_props[i];
		if (!p->key || strcmp(p->key, NASH_ONNX_METADATA_KEY) || !p->value)
			continue;
		size_t n;
		unsigned char *b = ox_b64_decode(p->value, strlen(p->value), &n);
		nash_record *r = NULL;
		nash_err e2;
		if (b && nash_decode(b, n, &r, &e2) == 0 && r->kind == NASH_REC_GRAPH) {
			nash_graph *s = r->graph;
			r->graph = NULL;
			nash_record_free(r);
			free(b);
			return s;
		}
		if (r)
			nash_record_free(r);
		free(b);
		return NULL;  /* unreadable: import from the ONNX graph alone */
	}
	return NULL;
}

/* ---------------------------------------------------------- the model */

static int read_inputs(im *x)
{
	const Onnx__GraphProto *gp = x->m->graph;
	for (size_t i = 0; i < gp->n_input; i++) {
		const Onnx__ValueInfoProto *v = gp->input[i];
		if (!v->name || tget(x, v->name))
			continue;  /* an initializer listed as input (IR < 4) */
		const Onnx__TypeProto *tp = v->type;
		if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type->shape)
			return nash_fail(x->e, "%s: graph input %s: not a tensor of known shape", x->label, v->name);
		const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
		if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
			return nash_fail(x->e, "%s: graph input %s: element type %s (nash reads FLOAT inputs)", x->label,
			                 v->name, ox_type_name(tt->elem_type));
		const Onnx__TensorShapeProto *sp = tt->shape;
		if (sp->n_dim < 2 || sp->n_dim > NASH_MAXDIM + 1)
			return nash_fail(x->e, "%s: graph input %s: %zu dimensions (expected a batch and 1 to %d more)",
			                 x->label, v->name, sp->n_dim, NASH_MAXDIM);
		int64_t d[NASH_MAXDIM];
		for (size_t k = 1; k < sp->n_dim; k++) {
			const Onnx__TensorShapeProto__Dimension *dm = sp->dim[k];
			if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dm->dim_value < 1)
				return nash_fail(x->e, "%s: graph input %s: dimension %zu is not a fixed positive size", x->label,
				                 v->name, k);
			d[k - 1] = dm->dim_value;
		}
		nash_graph_add_input(x->g, v->name, NASH_F32, (int)sp->n_dim - 1, d);
		nash_tensor *t = nash_tensor_annotate(x->g, v->name, NASH_F32, (int)sp->n_dim - 1, d);
		t->transient = 1;
		tinfo *ti = tnew(x, v->name);
		ti->kind = K_ACT;
		ti->act = nash_strdup(v->name);
	}
	if (x->g->nin == 0)
		return nash_fail(x->e, "%s: the graph has no input", x->label);
	return 0;
}

static void read_annotations(im *x)
{
	const Onnx__GraphProto *gp = x->m->graph;
	for (size_t i = 0; i < gp->n_quantization_annotation; i++) {
		const Onnx__TensorAnnotation *a = gp->quantization_annotation[i];
		for (size_t k = 0; a->tensor_name && k < a->n_quant_parameter_tensor_names; k++) {
			const Onnx__StringStringEntryProto *kv = a->quant_parameter_tensor_names[k];
			nash_datatype d;
			if (!kv->key || strcmp(kv->key, "finn_datatype") || !kv->value ||
			    nash_datatype_parse(kv->value, &d) < 0 || !d.kind || d.kind == NASH_DT_FLOAT)
				continue;
			nash_tensor *t = nash_tensor_find(x->g, a->tensor_name);
			if (t)
				t->datatype = d;
			for (int j = 0; j < x->g->nin; j++)
				if (!strcmp(x->g->inputs[j].name, a->tensor_name))
					x->g->inputs[j].datatype = d;
			for (int j = 0; j < x->g->nout; j++)
				if (!strcmp(x->g->outputs[j].name, a->tensor_name))
					x->g->outputs[j].datatype = d;
		}
	}
}

static char *stem(const char *label)
{
	const char *b = strrchr(label, '/');
	b = b ? b + 1 : label;
	size_t n = strlen(b);
	if (n > 5 && !strcmp(b + n - 5, ".onnx"))
		n -= 5;
	char *s = nash_alloc(n + 1);
	memcpy(s, b, n);
	return n ? s : (free(s), nash_strdup("onnx"));
}

static int looks_like_nash(const unsigned char *b, size_t n)
{
	return n > 8 && ((b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf) &&
	       memmem(b, n < 64 ? n : 64, "nash", 4) != NULL;
}

nash_graph *nash_onnx_import(const void *buf, size_t nbuf, const char *label,
                             const nash_onnx_import_opts *o, nash_err *e)
{
	nash_onnx_import_opts def = {0};
	if (!o)
		o = &def;
	if (looks_like_nash(buf, nbuf)) {
		nash_fail(e, "%s: not an ONNX model but a nash stream (nash-onnx export makes ONNX from it)", label);
		return NULL;
	}
	Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, nbuf, buf);
	if (!m || !m->graph || !m->has_ir_version || m->graph->n_node == 0) {
		nash_fail(e, "%s: not an ONNX model (%s)", label,
		          !m ? "it does not decode as a protobuf ModelProto" : "no graph with nodes in it");
		if (m)
			onnx__model_proto__free_unpacked(m, NULL);
		return NULL;
	}
	im x = {0};
	x.label = label;
	x.m = m;
	x.e = e;
	x.opset = -1;
	int qver = 1;
	nash_graph *s = NULL;
	int rc = 0;
	for (size_t i = 0; i < m->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *os = m->opset_import[i];
		if (is_std_domain(os->domain))
			x.opset = (int)os->version;
		else if (os->domain && !strcmp(os->domain, NASH_QONNX_DOMAIN))
			qver = (int)os->version;
	}
	if (x.opset < 0)
		rc = nash_fail(e, "%s: no ai.onnx opset is imported", label);
	else if (x.opset < NASH_ONNX_OPSET_MIN || x.opset > NASH_ONNX_OPSET_MAX)
		rc = nash_fail(e, "%s: ai.onnx opset %d is not supported (nash-onnx reads opsets %d to %d)", label, x.opset,
		               NASH_ONNX_OPSET_MIN, NASH_ONNX_OPSET_MAX);
	else if (qver > 2)
		rc = nash_fail(e, "%s: %s opset %d is not supported (nash-onnx reads 1 and 2)", label, NASH_QONNX_DOMAIN, qver);
	if (rc < 0)
		goto out;
	x.g = nash_graph_new("onnx");
	const Onnx__GraphProto *gp = m->graph;
	if (gp->n_sparse_initializer) {
		rc = nash_fail(e, "%s: sparse initializers are not supported", label);
		goto out;
	}
	for (size_t i = 0; i < gp->n_initializer && rc == 0; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		char why[256];
		if (!t->name || !t->name[0])
			rc = nash_fail(e, "%s: initializer %zu has no name", label, i);
		else if (tget(&x, t->name))
			rc = nash_fail(e, "%s: initializer %s is defined twice", label, t->name);
		else {
			tinfo *ti = tnew(&x, t->name);
			if (ox_const_read(t, &ti->c, why, sizeof why) < 0)
				rc = nash_fail(e, "%s: initializer %s: %s", label, t->name, why);
			else
				ti->kind = K_CONST;
		}
	}
	if (rc == 0)
		rc = read_inputs(&x);
	for (size_t i = 0; i < gp->n_node && rc == 0; i++)
		rc = convert_node(&x, gp->node[i], (int)i, qver);
	for (size_t i = 0; i < gp->n_output && rc == 0; i++) {
		const char *nm = gp->output[i]->name;
		tinfo *t = tget(&x, nm);
		if (!t)
			rc = nash_fail(e, "%s: graph output %s is not produced by any node", label, nm ? nm : "(unnamed)");
		else if (t->kind != K_ACT)
			rc = nash_fail(e, "%s: graph output %s is a constant, not computed from the input", label, nm);
		else
			nash_graph_add_output(x.g, t->act);
	}
	if (rc < 0)
		goto out;
	read_annotations(&x);
	if (!o->ignore_nash)
		s = read_skeleton(&x);
	if (s)
		merge_skeleton(x.g, s);
	{
		char *nm = o->name ? nash_strdup(o->name) : s && s->name[0] ? nash_strdup(s->name) : stem(label);
		nash_graph_rename(x.g, nm);
		free(nm);
	}
	infer_roles(x.g);
	nash_graph_prune(x.g);
	/* the integers of weight and bias quantizers, as nash-ops(7) keeps them */
	if (nash_quant_export(x.g, e) < 0) {
		nash_err_prefix(e, "%s: ", label);
		rc = -1;
		goto out;
	}
	{
		nash_val *mo = nash_val_map();
		nash_val_set(mo, "imported", nash_val_str(label));
		if (m->producer_name && m->producer_name[0]) {
			char *p = nash_strfmt("%s%s%s", m->producer_name, m->producer_version && m->producer_version[0] ? " " : "",
			                      m->producer_version ? m->producer_version : "");
			nash_val_set(mo, "producer", nash_val_str(p));
			free(p);
		}
		nash_val_set(mo, "ir_version", nash_val_int(m->ir_version));
		nash_val_set(mo, "opset", nash_val_int(x.opset));
		nash_val_set(x.g->meta, "onnx", mo);
	}
	if (nash_graph_validate(x.g, e) < 0) {
		nash_err_prefix(e, "%s: ", label);
		rc = -1;
	}
out:
	if (rc < 0) {
		nash_graph_free(x.g);
		x.g = NULL;
	}
	nash_graph_free(s);
	for (int i = 0; i < x.nt; i++) {
		ox_const_free(&x.t[i].c);
		free(x.t[i].param);
		free(x.t[i].act);
	}
	free(x.t);
	free(x.idx);
	for (int i = 0; i < x.nowned; i++)
		free(x.owned[i]);
	free(x.owned);
	ox_set_free(&x.nodenames);
	onnx__model_proto__free_unpacked(m, NULL);
	return x.g;
}

nash_graph *nash_onnx_import_file(const char *path, const nash_onnx_import_opts *o, nash_err *e)
{
	int std = !strcmp(path, "-");
	const char *label = std ? "stdin" : path;
	int fd = std ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		nash_fail(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		nash_fail(e, "%s: %s", label, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
		if (!std)
			close(fd);
		return NULL;
	}
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
	unsigned char *buf = nash_alloc(cap);
	for (;;) {
		if (n == cap)
			buf = nash_realloc(buf, cap *= 2);
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			nash_fail(e, "%s: %s", label, strerror(errno));
			free(buf);
			if (!std)
				close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (!std)
		close(fd);
	if (n == 0) {
		nash_fail(e, "%s: empty file, not an ONNX model", label);
		free(buf);
		return NULL;
	}
	nash_graph *g = nash_onnx_import(buf, n, label, o, e);
	free(buf);
	return g;
}
