/* fold.c - constant tensors of an ONNX model and the folding of the
 * shape arithmetic exporters leave behind (torch's x.view(x.size(0), -1)
 * becomes Shape, Gather, Unsqueeze, Concat, Reshape). */
#include "onnx/priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, T_UINT8 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
	T_INT8 = ONNX__TENSOR_PROTO__DATA_TYPE__INT8, T_UINT16 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT16,
	T_INT16 = ONNX__TENSOR_PROTO__DATA_TYPE__INT16, T_INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
	T_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64, T_BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
	T_DOUBLE = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, T_UINT32 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT32,
	T_UINT64 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT64
};

static int why_fmt(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_fmt(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -1;
}

int64_t ox_const_numel(const ox_const *c)
{
	return nash_shape_numel(c->ndim, c->d);
}

double ox_const_at(const ox_const *c, int64_t k)
{
	return c->f ? (double)c->f[k] : (double)c->i[k];
}

void ox_const_free(ox_const *c)
{
	free(c->f);
	free(c->i);
	memset(c, 0, sizeof *c);
}

static int is_float_type(int et)
{
	return et == T_FLOAT || et == T_DOUBLE;
}

void ox_const_make(ox_const *c, int et, int ndim, const int64_t *d)
{
	memset(c, 0, sizeof *c);
	c->et = et;
	c->ndim = ndim;
	if (ndim)
		memcpy(c->d, d, (size_t)ndim * sizeof *d);
	size_t n = (size_t)ox_const_numel(c);
	if (is_float_type(et))
		c->f = nash_alloc((n ? n : 1) * sizeof *c->f);
	else
		c->i = nash_alloc((n ? n : 1) * sizeof *c->i);
}

static void copy_const(ox_const *o, const ox_const *c)
{
	ox_const_make(o, c->et, c->ndim, c->d);
	size_t n = (size_t)ox_const_numel(c);
	if (c->f)
		memcpy(o->f, c->f, n * sizeof *o->f);
	else
		memcpy(o->i, c->i, n * sizeof *o->i);
}

static size_t type_size(int et)
{
	switch (et) {
	case T_FLOAT: case T_INT32: case T_UINT32: return 4;
	case T_UINT8: case T_INT8: case T_BOOL: return 1;
	case T_UINT16: case T_INT16: return 2;
	case T_INT64: case T_DOUBLE: case T_UINT64: return 8;
	default: return 0;
	}
}

int ox_const_read(const Onnx__TensorProto *t, ox_const *c, char *why, size_t nwhy)
{
	memset(c, 0, sizeof *c);
	int et = t->has_data_type ? t->data_type : 0;
	size_t es = type_size(et);
	if (!es)
		return why_fmt(why, nwhy, "element type %s is not supported", ox_type_name(et));
	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return why_fmt(why, nwhy, "its data is stored in an external file, which nash-onnx does not read");
	if (t->segment)
		return why_fmt(why, nwhy, "segmented tensors are not supported");
	if (t->n_dims > NASH_MAXDIM)
		return why_fmt(why, nwhy, "%zu dimensions (at most %d)", t->n_dims, NASH_MAXDIM);
	for (size_t i = 0; i < t->n_dims; i++)
		if (t->dims[i] < 0)
			return why_fmt(why, nwhy, "negative dimension %lld", (long long)t->dims[i]);
	int64_t n = nash_shape_numel((int)t->n_dims, t->dims);
	if (n < 0 || n > NASH_MAX_NUMEL)
		return why_fmt(why, nwhy, "too many elements");
	size_t have;
	if (t->has_raw_data)
		have = t->raw_data.len / es;
	else if (et == T_FLOAT)
		have = t->n_float_data;
	else if (et == T_DOUBLE)
		have = t->n_double_data;
	else if (et == T_INT64)
		have = t->n_int64_data;
	else if (et == T_UINT32 || et == T_UINT64)
		have = t->n_uint64_data;
	else
		have = t->n_int32_data;
	if (have != (size_t)n || (t->has_raw_data && t->raw_data.len != (size_t)n * es))
		return why_fmt(why, nwhy, "holds %zu elements of %s, its shape needs %lld", have, ox_type_name(et),
		               (long long)n);
	ox_const_make(c, et, (int)t->n_dims, t->dims);
	const uint8_t *r = t->has_raw_data ? t->raw_data.data : NULL;
	for (int64_t k = 0; k < n; k++) {
		double v = 0;
		int64_t iv = 0;
		if (r) {
			const uint8_t *p = r + (size_t)k * es;
			switch (et) {
			case T_FLOAT: { float f; memcpy(&f, p, 4); v = f; break; }
			case T_DOUBLE: memcpy(&v, p, 8); break;
			case T_INT8: iv = (int8_t)p[0]; break;
			case T_UINT8: case T_BOOL: iv = p[0]; break;
			case T_INT16: { int16_t x; memcpy(&x, p, 2); iv = x; break; }
			case T_UINT16: { uint16_t x; memcpy(&x, p, 2); iv = x; break; }
			case T_INT32: { int32_t x; memcpy(&x, p, 4); iv = x; break; }
			case T_UINT32: { uint32_t x; memcpy(&x, p, 4); iv = x; break; }
			case T_INT64: memcpy(&iv, p, 8); break;
			case T_UINT64: { uint64_t x; memcpy(&x, p, 8); iv = (int64_t)x; break; }
			}
		} else {
			switch (et) {
			case T_FLOAT: v = t->float_data[k]; break;
			case T_DOUBLE: v = t->double_data[k]; break;
			case T_INT64: iv = t->int64_data[k]; break;
			case T_UINT32: case T_UINT64: iv = (int64_t)t->uint64_data[k]; break;
			default: iv = t->int32_data[k]; break;
			}
		}
		if (c->f)
			c->f[k] = (float)v;
		else
			c->i[k] = iv;
	}
	return 0;
}

/* ------------------------------------------------------------ attributes */

const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
			return n->attribute[i];
	return NULL;
}

int64_t ox_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
	const Onnx__AttributeProto *a = ox_attr(n, name);
	return a && a->has_i ? a->i : def;
}

float ox_attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
	const Onnx__AttributeProto *a = ox_attr(n, name);
	return a && a->has_f ? a->f : a && a->has_i ? (float)a->i : def;
}

char *ox_attr_str(const Onnx__NodeProto *n, const char *name)
{
	const Onnx__AttributeProto *a = ox_attr(n, name);
	if (!a || !a->has_s)
		return NULL;
	char *s = nash_alloc(a->s.len + 1);
	memcpy(s, a->s.data, a->s.len);
	return s;
}

int ox_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int max)
{
	const Onnx__AttributeProto *a = ox_attr(n, name);
	if (!a)
		return -1;
	if (a->n_ints == 0 && a->has_i) {
		if (max > 0)
			out[0] = a->i;
		return 1;
	}
	if (a->n_ints > (size_t)max)
		return -1;
	memcpy(out, a->ints, a->n_ints * sizeof *out);
	return (int)a->n_ints;
}

/* ---------------------------------------------------------------- folding */

static void strides_of(int ndim, const int64_t *d, int64_t *st)
{
	int64_t s = 1;
	for (int i = ndim - 1; i >= 0; i--) {
		st[i] = s;
		s *= d[i];
	}
}

/* A 1-D integer list from a constant (axes, shape, pads, ...). */
static int int_list(const ox_const *c, int64_t *out, int max)
{
	int64_t n = ox_const_numel(c);
	if (c->ndim > 1 || n > max)
		return -1;
	for (int64_t k = 0; k < n; k++)
		out[k] = c->f ? (int64_t)c->f[k] : c->i[k];
	return (int)n;
}

/* Folding makes shape arithmetic, not weights: a result beyond this many
 * elements (or a shape that overflows) is refused rather than allocated. */
#define FOLD_MAX_NUMEL ((int64_t)1 << 24)
static int too_big(int nd, const int64_t *d, char *why, size_t nw)
{
	int64_t n = nash_shape_numel(nd, d);
	if (n < 0 || n > FOLD_MAX_NUMEL)
		return why_fmt(why, nw, "folding would make a constant of more than %lld elements", (long long)FOLD_MAX_NUMEL);
	return 0;
}

static int bcast(const ox_const *a, const ox_const *b, const char *op, ox_const *o, char *why, size_t nw)
{
	int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
	int64_t d[NASH_MAXDIM] = {0}, sa[NASH_MAXDIM], sb[NASH_MAXDIM], da[NASH_MAXDIM], db[NASH_MAXDIM];
	for (int i = 0; i < nd; i++) {
		int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
		da[i] = ia >= 0 ? a->d[ia] : 1;
		db[i] = ib >= 0 ? b->d[ib] : 1;
		if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
			return why_fmt(why, nw, "constant shapes do not broadcast");
		d[i] = da[i] == 1 ? db[i] : da[i];
	}
	if (too_big(nd, d, why, nw) < 0)
		return -1;
	strides_of(nd, da, sa);
	strides_of(nd, db, sb);
	int fl = a->f || b->f;
	ox_const_make(o, fl ? T_FLOAT : a->et, nd, d);
	int64_t n = ox_const_numel(o), idx[NASH_MAXDIM] = {0};
	for (int64_t k = 0; k < n; k++) {
		int64_t ka = 0, kb = 0;
		for (int i = 0; i < nd; i++) {
			ka += da[i] == 1 ? 0 : idx[i] * sa[i];
			kb += db[i] == 1 ? 0 : idx[i] * sb[i];
		}
		if (fl) {
			double x = ox_const_at(a, ka), y = ox_const_at(b, kb), r;
			switch (*op) {
			case 'A': r = x + y; break;
			case 'S': r = x - y; break;
			case 'M': r = x * y; break;
			default: r = x / y; break;
			}
			o->f[k] = (float)r;
		} else {
			int64_t x = a->i[ka], y = b->i[kb], r;
			switch (*op) {
			case 'A': r = x + y; break;
			case 'S': r = x - y; break;
			case 'M': r = x * y; break;
			default:
				if (y == 0) {
					ox_const_free(o);
					return why_fmt(why, nw, "integer division by zero");
				}
				r = x / y;
				break;
			}
			o->i[k] = r;
		}
		for (int i = nd - 1; i >= 0; i--) {
			if (++idx[i] < d[i])
				break;
			idx[i] = 0;
		}
	}
	return 0;
}

/* Copy elements of c picked by a per-output-index source offset. */
typedef int64_t (*src_fn)(const int64_t *idx, void *ctx);
static void gather_elems(const ox_const *c, ox_const *o, src_fn fn, void *ctx)
{
	int64_t n = ox_const_numel(o), idx[NASH_MAXDIM] = {0};
	for (int64_t k = 0; k < n; k++) {
		int64_t s = fn(idx, ctx);
		if (o->f)
			o->f[k] = c->f[s];
		else
			o->i[k] = c->i[s];
		for (int i = o->ndim - 1; i >= 0; i--) {
			if (++idx[i] < o->d[i])
				break;
			idx[i] = 0;
		}
	}
}

typedef struct { const ox_const *c; const int64_t *perm; int64_t st[NASH_MAXDIM]; } tr_ctx;
static int64_t tr_src(const int64_t *idx, void *vp)
{
	tr_ctx *t = vp;
	int64_t s = 0;
	for (int i = 0; i < t->c->ndim; i++)
		s += idx[i] * t->st[t->perm[i]];
	return s;
}

typedef struct { const ox_const *c, *ind; int axis; int64_t st[NASH_MAXDIM], ist[NASH_MAXDIM]; } ga_ctx;
static int64_t ga_src(const int64_t *idx, void *vp)
{
	ga_ctx *t = vp;
	int r = t->ind->ndim, ax = t->axis;
	int64_t s = 0, ik = 0;
	for (int i = 0; i < ax; i++)
		s += idx[i] * t->st[i];
	for (int j = 0; j < r; j++)
		ik += idx[ax + j] * t->ist[j];
	int64_t v = t->ind->i[ik];
	if (v < 0)
		v += t->c->d[ax];
	s += v * t->st[ax];
	for (int i = ax + 1; i < t->c->ndim; i++)
		s += idx[i - 1 + r] * t->st[i];
	return s;
}

typedef struct { const ox_const *c; int64_t start[NASH_MAXDIM], step[NASH_MAXDIM], st[NASH_MAXDIM]; } sl_ctx;
static int64_t sl_src(const int64_t *idx, void *vp)
{
	sl_ctx *t = vp;
	int64_t s = 0;
	for (int i = 0; i < t->c->ndim; i++)
		s += (t->start[i] + idx[i] * t->step[i]) * t->st[i];
	return s;
}

static int reshape_target(const ox_const *x, const int64_t *sh, int n, int allowzero, int64_t *out,
                          char *why, size_t nw)
{
	int64_t known = 1, numel = ox_const_numel(x);
	int neg = -1;
	if (n > NASH_MAXDIM)
		return why_fmt(why, nw, "reshape to %d dimensions", n);
	for (int i = 0; i < n; i++) {
		out[i] = sh[i];
		if (sh[i] == 0 && !allowzero) {
			if (i >= x->ndim)
				return why_fmt(why, nw, "reshape copies dimension %d the input lacks", i);
			out[i] = x->d[i];
		}
		if (out[i] == -1) {
			if (neg >= 0)
				return why_fmt(why, nw, "reshape with two -1 dimensions");
			neg = i;
		} else if (out[i] < 0)
			return why_fmt(why, nw, "negative reshape dimension");
		else
			known *= out[i];
	}
	if (neg >= 0) {
		if (known == 0 || numel % known)
			return why_fmt(why, nw, "reshape cannot infer the -1 dimension");
		out[neg] = numel / known;
	} else if (known != numel)
		return why_fmt(why, nw, "reshape changes the element count (%lld to %lld)", (long long)numel,
		               (long long)known);
	return 0;
}

static int norm_axis(int64_t a, int r, int *out)
{
	if (a < 0)
		a += r;
	if (a < 0 || a >= r)
		return -1;
	*out = (int)a;
	return 0;
}

/* axes of Squeeze/Unsqueeze/Reduce: an attribute before opset 13, then input 1 */
static int axes_of(const Onnx__NodeProto *n, int opset, const ox_const *const *in, int nin, int64_t *ax)
{
	if (opset >= 13)
		return nin > 1 && in[1] ? int_list(in[1], ax, NASH_MAXDIM) : 0;
	int c = ox_attr_ints(n, "axes", ax, NASH_MAXDIM);
	return c < 0 ? 0 : c;
}

int ox_fold(const Onnx__NodeProto *n, int opset, const ox_const *const *in, int nin,
            ox_const *out, char *why, size_t nw)
{
	const char *op = n->op_type;
	const ox_const *x = nin > 0 ? in[0] : NULL;
	memset(out, 0, sizeof *out);
	if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
		return 1;
	if (!strcmp(op, "Constant")) {
		const Onnx__AttributeProto *a;
		if ((a = ox_attr(n, "value")) && a->t)
			return ox_const_read(a->t, out, why, nw);
		if ((a = ox_attr(n, "value_float")) && a->has_f) {
			ox_const_make(out, T_FLOAT, 0, NULL);
			out->f[0] = a->f;
			return 0;
		}
		if ((a = ox_attr(n, "value_int")) && a->has_i) {
			ox_const_make(out, T_INT64, 0, NULL);
			out->i[0] = a->i;
			return 0;
		}
		if ((a = ox_attr(n, "value_floats"))) {
			int64_t d = (int64_t)a->n_floats;
			ox_const_make(out, T_FLOAT, 1, &d);
			memcpy(out->f, a->floats, a->n_floats * sizeof *out->f);
			return 0;
		}
		if ((a = ox_attr(n, "value_ints"))) {
			int64_t d = (int64_t)a->n_ints;
			ox_const_make(out, T_INT64, 1, &d);
			memcpy(out->i, a->ints, a->n_ints * sizeof *out->i);
			return 0;
		}
		return why_fmt(why, nw, "Constant without a value nash-onnx reads (sparse or string)");
	}
	if (!x)
		return 1;
	if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
		copy_const(out, x);
		return 0;
	}
	if (!strcmp(op, "Cast")) {
		int to = (int)ox_attr_int(n, "to", T_FLOAT);
		if (!type_size(to))
			return why_fmt(why, nw, "Cast to %s", ox_type_name(to));
		ox_const_make(out, to, x->ndim, x->d);
		int64_t k, cnt = ox_const_numel(x);
		for (k = 0; k < cnt; k++) {
			double v = ox_const_at(x, k);
			if (out->f)
				out->f[k] = (float)v;
			else if (to == T_BOOL)
				out->i[k] = v != 0;
			else
				out->i[k] = x->i ? x->i[k] : (int64_t)trunc(v);
		}
		return 0;
	}
	if (!strcmp(op, "Shape")) {
		int64_t s = ox_attr_int(n, "start", 0), e = ox_attr_int(n, "end", x->ndim);
		if (s < 0)
			s += x->ndim;
		if (e < 0)
			e += x->ndim;
		s = s < 0 ? 0 : s > x->ndim ? x->ndim : s;
		e = e < s ? s : e > x->ndim ? x->ndim : e;
		int64_t d = e - s;
		ox_const_make(out, T_INT64, 1, &d);
		for (int64_t k = s; k < e; k++)
			out->i[k - s] = x->d[k];
		return 0;
	}
	if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div")) {
		if (nin < 2 || !in[1])
			return why_fmt(why, nw, "%s needs two inputs", op);
		return bcast(x, in[1], op, out, why, nw);
	}
	if (!strcmp(op, "Neg") || !strcmp(op, "Sqrt") || !strcmp(op, "Reciprocal")) {
		copy_const(out, x);
		int64_t cnt = ox_const_numel(x);
		for (int64_t k = 0; k < cnt; k++) {
			if (*op == 'N') {
				if (out->f)
					out->f[k] = -out->f[k];
				else
					out->i[k] = -out->i[k];
			} else if (!out->f) {
				ox_const_free(out);
				return why_fmt(why, nw, "%s of an integer constant", op);
			} else
				out->f[k] = *op == 'S' ? sqrtf(out->f[k]) : 1.0f / out->f[k];
		}
		return 0;
	}
	if (!strcmp(op, "Transpose")) {
		int64_t perm[NASH_MAXDIM];
		int c = ox_attr_ints(n, "perm", perm, NASH_MAXDIM);
		if (c < 0) {
			c = x->ndim;
			for (int i = 0; i < c; i++)
				perm[i] = c - 1 - i;
		}
		int seen[NASH_MAXDIM] = {0};
		if (c != x->ndim)
			return why_fmt(why, nw, "Transpose perm has %d axes, the constant %d", c, x->ndim);
		int64_t d[NASH_MAXDIM];
		for (int i = 0; i < c; i++) {
			if (perm[i] < 0 || perm[i] >= c || seen[perm[i]]++)
				return why_fmt(why, nw, "Transpose perm is not a permutation");
			d[i] = x->d[perm[i]];
		}
		ox_const_make(out, x->et, c, d);
		tr_ctx t = {x, perm, {0}};
		strides_of(x->ndim, x->d, t.st);
		gather_elems(x, out, tr_src, &t);
		return 0;
	}
	if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
		int64_t d[NASH_MAXDIM], ax[NASH_MAXDIM];
		int nd = 0;
		if (*op == 'R') {
			int64_t sh[NASH_MAXDIM];
			int c = nin > 1 && in[1] ? int_list(in[1], sh, NASH_MAXDIM) : -1;
			if (c < 0)
				return why_fmt(why, nw, "Reshape needs a 1-D shape of at most %d entries", NASH_MAXDIM);
			if (reshape_target(x, sh, c, (int)ox_attr_int(n, "allowzero", 0), d, why, nw) < 0)
				return -1;
			nd = c;
		} else if (*op == 'F') {
			int a;
			if (norm_axis(ox_attr_int(n, "axis", 1), x->ndim + 1, &a) < 0)
				return why_fmt(why, nw, "Flatten axis out of range");
			d[0] = nash_shape_numel(a, x->d);
			d[1] = nash_shape_numel(x->ndim - a, x->d + a);
			nd = 2;
		} else if (!strcmp(op, "Squeeze")) {
			int c = axes_of(n, opset, in, nin, ax), drop[NASH_MAXDIM] = {0};
			for (int i = 0; i < c; i++) {
				int a;
				if (norm_axis(ax[i], x->ndim, &a) < 0 || x->d[a] != 1)
					return why_fmt(why, nw, "Squeeze of a dimension that is not 1");
				drop[a] = 1;
			}
			for (int i = 0; i < x->ndim; i++)
				if (!(c ? drop[i] : x->d[i] == 1))
					d[nd++] = x->d[i];
		} else {
			int c = axes_of(n, opset, in, nin, ax), r = x->ndim + c, ins[NASH_MAXDIM] = {0};
			if (r > NASH_MAXDIM)
				return why_fmt(why, nw, "Unsqueeze beyond %d dimensions", NASH_MAXDIM);
			for (int i = 0; i < c; i++) {
				int a;
				if (norm_axis(ax[i], r, &a) < 0 || ins[a])
					return why_fmt(why, nw, "Unsqueeze axes out of range");
				ins[a] = 1;
			}
			for (int i = 0, k = 0; i < r; i++)
				d[nd++] = ins[i] ? 1 : x->d[k++];
		}
		copy_const(out, x);
		out->ndim = nd;
		memcpy(out->d, d, (size_t)nd * sizeof *d);
		return 0;
	}
	if (!strcmp(op, "Concat")) {
		int a;
		if (norm_axis(ox_attr_int(n, "axis", 0), x->ndim, &a) < 0)
			return why_fmt(why, nw, "Concat axis out of range");
		int64_t d[NASH_MAXDIM];
		memcpy(d, x->d, sizeof d);
		d[a] = 0;
		int fl = 0;
		for (int k = 0; k < nin; k++) {
			if (!in[k] || in[k]->ndim != x->ndim)
				return why_fmt(why, nw, "Concat of constants of different ranks");
			for (int i = 0; i < x->ndim; i++)
				if (i != a && in[k]->d[i] != x->d[i])
					return why_fmt(why, nw, "Concat of constants of different shapes");
			d[a] += in[k]->d[a];
			fl |= in[k]->f != NULL;
		}
		if (too_big(x->ndim, d, why, nw) < 0)
			return -1;
		ox_const_make(out, fl ? T_FLOAT : x->et, x->ndim, d);
		int64_t outer = nash_shape_numel(a, d), pos = 0;
		for (int64_t o = 0; o < outer; o++)
			for (int k = 0; k < nin; k++) {
				int64_t inner = nash_shape_numel(x->ndim - a, in[k]->d + a);
				for (int64_t j = 0; j < inner; j++, pos++) {
					double v = ox_const_at(in[k], o * inner + j);
					if (out->f)
						out->f[pos] = (float)v;
					else
						out->i[pos] = in[k]->i[o * inner + j];
				}
			}
		return 0;
	}
	if (!strcmp(op, "Gather")) {
		const ox_const *ind = nin > 1 ? in[1] : NULL;
		int a;
		if (!ind || !ind->i)
			return why_fmt(why, nw, "Gather needs integer indices");
		if (norm_axis(ox_attr_int(n, "axis", 0), x->ndim, &a) < 0)
			return why_fmt(why, nw, "Gather axis out of range");
		if (x->ndim - 1 + ind->ndim > NASH_MAXDIM)
			return why_fmt(why, nw, "Gather result has too many dimensions");
		for (int64_t k = 0; k < ox_const_numel(ind); k++)
			if (ind->i[k] < -x->d[a] || ind->i[k] >= x->d[a])
				return why_fmt(why, nw, "Gather index %lld out of range", (long long)ind->i[k]);
		int64_t d[NASH_MAXDIM];
		int nd = 0;
		for (int i = 0; i < a; i++)
			d[nd++] = x->d[i];
		for (int i = 0; i < ind->ndim; i++)
			d[nd++] = ind->d[i];
		for (int i = a + 1; i < x->ndim; i++)
			d[nd++] = x->d[i];
		if (too_big(nd, d, why, nw) < 0)
			return -1;
		ox_const_make(out, x->et, nd, d);
		ga_ctx t = {x, ind, a, {0}, {0}};
		strides_of(x->ndim, x->d, t.st);
		strides_of(ind->ndim, ind->d, t.ist);
		gather_elems(x, out, ga_src, &t);
		return 0;
	}
	if (!strcmp(op, "ConstantOfShape")) {
		int64_t d[NASH_MAXDIM];
		int c = int_list(x, d, NASH_MAXDIM);
		if (c < 0)
			return why_fmt(why, nw, "ConstantOfShape needs a 1-D shape");
		for (int i = 0; i < c; i++)
			if (d[i] < 0)
				return why_fmt(why, nw, "ConstantOfShape with a negative dimension");
		if (too_big(c, d, why, nw) < 0)
			return -1;
		const Onnx__AttributeProto *va = ox_attr(n, "value");
		ox_const v = {0};
		if (va && va->t) {
			if (ox_const_read(va->t, &v, why, nw) < 0)
				return -1;
		} else
			ox_const_make(&v, T_FLOAT, 0, NULL);
		if (ox_const_numel(&v) != 1) {
			ox_const_free(&v);
			return why_fmt(why, nw, "ConstantOfShape value must have one element");
		}
		ox_const_make(out, v.et, c, d);
		for (int64_t k = 0; k < ox_const_numel(out); k++) {
			if (out->f)
				out->f[k] = v.f[0];
			else
				out->i[k] = v.i[0];
		}
		ox_const_free(&v);
		return 0;
	}
	if (!strcmp(op, "Slice")) {
		int64_t st[NASH_MAXDIM], en[NASH_MAXDIM], ax[NASH_MAXDIM], sp[NASH_MAXDIM];
		int ns, ne, na, np;
		if (opset < 10) {
			ns = ox_attr_ints(n, "starts", st, NASH_MAXDIM);
			ne = ox_attr_ints(n, "ends", en, NASH_MAXDIM);
			na = ox_attr_ints(n, "axes", ax, NASH_MAXDIM);
			np = -1;
		} else {
			ns = nin > 1 && in[1] ? int_list(in[1], st, NASH_MAXDIM) : -1;
			ne = nin > 2 && in[2] ? int_list(in[2], en, NASH_MAXDIM) : -1;
			na = nin > 3 && in[3] ? int_list(in[3], ax, NASH_MAXDIM) : -1;
			np = nin > 4 && in[4] ? int_list(in[4], sp, NASH_MAXDIM) : -1;
		}
		if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (np >= 0 && np != ns))
			return why_fmt(why, nw, "Slice starts, ends, axes and steps disagree");
		sl_ctx t = {x, {0}, {0}, {0}};
		int64_t d[NASH_MAXDIM];
		for (int i = 0; i < x->ndim; i++) {
			t.start[i] = 0;
			t.step[i] = 1;
			d[i] = x->d[i];
		}
		for (int k = 0; k < ns; k++) {
			int a;
			if (norm_axis(na >= 0 ? ax[k] : k, x->ndim, &a) < 0)
				return why_fmt(why, nw, "Slice axis out of range");
			int64_t step = np >= 0 ? sp[k] : 1, dim = x->d[a], s = st[k], e = en[k];
			if (step == 0)
				return why_fmt(why, nw, "Slice step 0");
			if (s < 0)
				s += dim;
			if (e < 0)
				e += dim;
			if (step > 0) {
				s = s < 0 ? 0 : s > dim ? dim : s;
				e = e < 0 ? 0 : e > dim ? dim : e;
				d[a] = e > s ? (e - s + step - 1) / step : 0;
			} else {
				s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
				e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
				d[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
			}
			t.start[a] = s;
			t.step[a] = step;
		}
		ox_const_make(out, x->et, x->ndim, d);
		strides_of(x->ndim, x->d, t.st);
		gather_elems(x, out, sl_src, &t);
		return 0;
	}
	return 1;
}
