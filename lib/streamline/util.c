/* util.c - the pass context of lib/streamline: indexes of producers and
 * uses, value ranges of integer tensors, exact-double parameters, node
 * editing helpers. */
#include "streamline/sl_private.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ map */

void sl_map_init(sl_map *m, size_t want)
{
	int own = m->own;
	memset(m, 0, sizeof *m);
	m->own = own;
	m->cap = 64;
	while (m->cap < 2 * want + 2)
		m->cap *= 2;
	m->k = nash_alloc(m->cap * sizeof *m->k);
	m->v = nash_alloc(m->cap * sizeof *m->v);
}

static void map_grow(sl_map *m)
{
	sl_map o = *m;
	m->cap *= 2;
	m->n = 0;
	m->k = nash_alloc(m->cap * sizeof *m->k);
	m->v = nash_alloc(m->cap * sizeof *m->v);
	int own = m->own;
	m->own = 0; /* move the keys as they are */
	for (size_t i = 0; i < o.cap; i++)
		if (o.k[i])
			sl_map_put(m, o.k[i], o.v[i]);
	m->own = own;
	free(o.k);
	free(o.v);
}

void sl_map_put(sl_map *m, const char *k, int64_t v)
{
	if (!m->cap)
		sl_map_init(m, 16);
	if (2 * (m->n + 1) > m->cap)
		map_grow(m);
	size_t h = nash_hash(k) & (m->cap - 1);
	while (m->k[h] && strcmp(m->k[h], k) != 0)
		h = (h + 1) & (m->cap - 1);
	if (!m->k[h]) {
		m->k[h] = m->own ? nash_strdup(k) : (char *)k;
		m->n++;
	}
	m->v[h] = v;
}

int64_t sl_map_get(const sl_map *m, const char *k)
{
	if (!m->cap)
		return 0;
	size_t h = nash_hash(k) & (m->cap - 1);
	while (m->k[h]) {
		if (strcmp(m->k[h], k) == 0)
			return m->v[h];
		h = (h + 1) & (m->cap - 1);
	}
	return 0;
}

void sl_map_clear(sl_map *m)
{
	if (!m->cap)
		return;
	if (m->own)
		for (size_t i = 0; i < m->cap; i++)
			free(m->k[i]);
	memset(m->k, 0, m->cap * sizeof *m->k);
	m->n = 0;
}

void sl_map_free(sl_map *m)
{
	if (m->own && m->k)
		for (size_t i = 0; i < m->cap; i++)
			free(m->k[i]);
	free(m->k);
	free(m->v);
	m->k = NULL;
	m->v = NULL;
	m->cap = m->n = 0;
}

/* ----------------------------------------------------------- parameters */

double *sl_tensor_f64(const nash_tensor *t)
{
	int64_t n = nash_tensor_numel(t);
	double *v = nash_alloc((size_t)(n + 1) * sizeof *v);
	nash_val *x = t->extra ? nash_val_get(t->extra, "data_f64") : NULL;
	if (x && x->t == NASH_V_BIN && x->u.s.n == (size_t)n * sizeof(double)) {
		memcpy(v, x->u.s.p, x->u.s.n);
		return v;
	}
	for (int64_t i = 0; i < n; i++)
		switch (t->dtype) {
		case NASH_F32: v[i] = ((const float *)t->data)[i]; break;
		case NASH_I8: v[i] = ((const int8_t *)t->data)[i]; break;
		case NASH_U8: v[i] = ((const uint8_t *)t->data)[i]; break;
		case NASH_I16: v[i] = ((const int16_t *)t->data)[i]; break;
		case NASH_I32: v[i] = ((const int32_t *)t->data)[i]; break;
		case NASH_I64: v[i] = (double)((const int64_t *)t->data)[i]; break;
		default: v[i] = 0;
		}
	return v;
}

nash_tensor *sl_param_f64(nash_graph *g, const char *name, int ndim, const int64_t *shape, const double *vals)
{
	nash_tensor *t = nash_tensor_add(g, name, NASH_F32, ndim, shape);
	int64_t n = nash_tensor_numel(t);
	float *p = t->data;
	int exact = 1;
	for (int64_t i = 0; i < n; i++) {
		double v = vals[i];
		p[i] = v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : (float)v;
		if ((double)p[i] != v)
			exact = 0;
	}
	if (!exact) {
		t->extra = nash_val_map();
		nash_val_set(t->extra, "data_f64", nash_val_bin(vals, (size_t)n * sizeof *vals));
	}
	return t;
}

nash_tensor *sl_param_int(nash_graph *g, const char *name, int ndim, const int64_t *shape, const int64_t *vals,
                          nash_datatype dt)
{
	nash_tensor *t = nash_tensor_add(g, name, nash_datatype_storage(dt), ndim, shape);
	t->datatype = dt;
	int64_t n = nash_tensor_numel(t);
	for (int64_t i = 0; i < n; i++)
		switch (t->dtype) {
		case NASH_I8: ((int8_t *)t->data)[i] = (int8_t)vals[i]; break;
		case NASH_U8: ((uint8_t *)t->data)[i] = (uint8_t)vals[i]; break;
		case NASH_I16: ((int16_t *)t->data)[i] = (int16_t)vals[i]; break;
		case NASH_I32: ((int32_t *)t->data)[i] = (int32_t)vals[i]; break;
		case NASH_I64: ((int64_t *)t->data)[i] = vals[i]; break;
		default: ((float *)t->data)[i] = (float)vals[i]; break;
		}
	return t;
}

nash_tensor *sl_param_int0(nash_graph *g, const char *name, int ndim, const int64_t *shape, nash_datatype dt)
{
	nash_tensor *t = nash_tensor_add(g, name, nash_datatype_storage(dt), ndim, shape);
	t->datatype = dt;
	return t;
}

char *sl_strict_get(const nash_node *n, int64_t steps)
{
	char *s = nash_alloc((size_t)steps + 1);
	nash_val *v = nash_val_get(n->attr, "strict");
	if (v && v->t == NASH_V_ARR)
		for (size_t i = 0; i < v->u.a.n && (int64_t)i < steps; i++)
			s[i] = nash_val_as_int(v->u.a.v[i], 0) != 0;
	return s;
}

nash_datatype sl_fit(int64_t lo, int64_t hi)
{
	if (lo == 0 && hi <= 1)
		return (nash_datatype){NASH_DT_BINARY, 1};
	return nash_datatype_fit(lo, hi);
}

/* -------------------------------------------------------------- context */

void sl_ctx_init(sl_ctx *c, nash_graph *g, const nash_stream_opts *o, nash_err *e)
{
	memset(c, 0, sizeof *c);
	c->g = g;
	c->o = o;
	c->e = e;
	c->dirty = 1;
	c->wmap.own = 1;
	c->names.own = 1;
	c->suffix.own = 1;
}

void sl_ctx_free(sl_ctx *c)
{
	sl_map_free(&c->prod);
	sl_map_free(&c->uses);
	sl_map_free(&c->cons);
	sl_map_free(&c->vmap);
	sl_map_free(&c->wmap);
	sl_map_free(&c->labels);
	sl_map_free(&c->names);
	sl_map_free(&c->suffix);
	free(c->label);
	free(c->vi);
	for (int i = 0; i < c->nws; i++) {
		free(c->ws[i].pos);
		free(c->ws[i].neg);
	}
	free(c->ws);
}

void sl_touch(sl_ctx *c) { c->dirty = 1; }

int sl_fail(sl_ctx *c, const nash_node *n, const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return nash_fail(c->e, "graph %s: node %s (%s): %s", c->g->name, n->name, n->op, buf);
}

static void vi_set(sl_ctx *c, const char *t, sl_vi v)
{
	if (c->nvi == c->capvi) {
		c->capvi = c->capvi ? 2 * c->capvi : 256;
		c->vi = nash_realloc(c->vi, (size_t)c->capvi * sizeof *c->vi);
	}
	c->vi[c->nvi] = v;
	sl_map_put(&c->vmap, t, ++c->nvi);
}

static sl_vi vi_of_dt(nash_datatype d)
{
	sl_vi v = {0, 0, 0, 0};
	if (!nash_datatype_is_int(d))
		return v;
	v.isint = 1;
	v.bipolar = d.kind == NASH_DT_BIPOLAR;
	v.lo = nash_datatype_min(d);
	v.hi = nash_datatype_max(d);
	return v;
}

static const sl_vi *vi_get(sl_ctx *c, const char *t)
{
	int64_t k = sl_map_get(&c->vmap, t);
	return k > 0 && c->vi[k - 1].isint ? &c->vi[k - 1] : NULL;
}

static const nash_tensor *param(sl_ctx *c, const char *t)
{
	const nash_tensor *p = t && t[0] ? nash_tensor_find(c->g, t) : NULL;
	return p && p->data ? p : NULL;
}

const sl_wsum *sl_wsums(sl_ctx *c, const char *w, char role)
{
	char key[512];
	snprintf(key, sizeof key, "%c:%s", role, w);
	int64_t k = sl_map_get(&c->wmap, key);
	if (k > 0)
		return &c->ws[k - 1];
	const nash_tensor *t = param(c, w);
	if (!t)
		return NULL;
	int64_t rows, cols, n = nash_tensor_numel(t);
	int by_col;
	if (role == 'c') { /* Conv: M x rest */
		rows = t->shape[0], cols = n / (rows ? rows : 1), by_col = 0;
	} else if (role == 'g') { /* Gemm transB: N x K */
		rows = t->shape[0], cols = t->shape[1], by_col = 0;
	} else { /* 'G' (Gemm K x N) and 'm' (MVAU MW x MH): per column */
		rows = t->shape[0], cols = t->shape[1], by_col = 1;
	}
	int64_t nout = by_col ? cols : rows;
	sl_wsum s = {nout, nash_alloc((size_t)(nout + 1) * sizeof(double)), nash_alloc((size_t)(nout + 1) * sizeof(double))};
	int isint = nash_datatype_is_int(t->datatype) && t->dtype != NASH_F32;
	double *v = isint ? NULL : sl_tensor_f64(t);
	for (int64_t r = 0; r < rows; r++)
		for (int64_t q = 0; q < cols; q++) {
			double x = isint ? (double)nash_tensor_int(t, r * cols + q) : v[r * cols + q];
			int64_t o = by_col ? q : r;
			if (x > 0)
				s.pos[o] += x;
			else
				s.neg[o] += x;
		}
	free(v);
	c->ws = nash_realloc(c->ws, (size_t)(c->nws + 1) * sizeof *c->ws);
	c->ws[c->nws++] = s;
	sl_map_put(&c->wmap, key, c->nws);
	return &c->ws[c->nws - 1];
}

void sl_wsums_alias(sl_ctx *c, const char *w, char role, const char *from, char from_role)
{
	const sl_wsum *f = sl_wsums(c, from, from_role);
	if (!f)
		return;
	char key[512];
	snprintf(key, sizeof key, "%c:%s", role, w);
	sl_wsum s = {f->n, nash_alloc((size_t)(f->n + 1) * sizeof(double)), nash_alloc((size_t)(f->n + 1) * sizeof(double))};
	memcpy(s.pos, f->pos, (size_t)f->n * sizeof(double));
	memcpy(s.neg, f->neg, (size_t)f->n * sizeof(double));
	c->ws = nash_realloc(c->ws, (size_t)(c->nws + 1) * sizeof *c->ws);
	c->ws[c->nws++] = s;
	sl_map_put(&c->wmap, key, c->nws);
}

/* Range of a dot product with weights summed in s and inputs in [lo, hi]
 * (zero included when the window can fall on padding). */
sl_vi sl_dot_range(const sl_wsum *s, int64_t lo, int64_t hi, int zero)
{
	sl_vi v = {1, 0, INT64_MAX, INT64_MIN};
	if (zero) {
		lo = lo > 0 ? 0 : lo;
		hi = hi < 0 ? 0 : hi;
	}
	for (int64_t o = 0; o < s->n; o++) {
		double a = s->pos[o] * (double)hi + s->neg[o] * (double)lo;
		double b = s->pos[o] * (double)lo + s->neg[o] * (double)hi;
		if (fabs(a) > 9e18 || fabs(b) > 9e18) {
			v.isint = 0;
			return v;
		}
		if ((int64_t)b < v.lo)
			v.lo = (int64_t)b;
		if ((int64_t)a > v.hi)
			v.hi = (int64_t)a;
	}
	if (s->n == 0)
		v.lo = v.hi = 0;
	return v;
}

static int param_int(sl_ctx *c, const char *t)
{
	const nash_tensor *p = param(c, t);
	return p && nash_datatype_is_int(p->datatype);
}

static int64_t iattr(const nash_node *n, const char *k, int64_t d) { return nash_attr_int(n, k, d); }

static void vi_node(sl_ctx *c, const nash_node *n)
{
	const char *op = n->op;
	const sl_vi *a = n->nin > 0 && n->in[0][0] ? vi_get(c, n->in[0]) : NULL;
	sl_vi o = {0, 0, 0, 0};
	if (!strcmp(op, "MultiThreshold") || !strcmp(op, "Thresholding") ||
	    (!strcmp(op, "MVAU") && n->nin > 2 && n->in[2][0] && !iattr(n, "noActivation", 0))) {
		const nash_tensor *t = nash_graph_shape(c->g, n->in[!strcmp(op, "MVAU") ? 2 : 1]);
		int64_t steps = t && t->ndim == 2 ? t->shape[1] : 0;
		if (!strcmp(op, "MultiThreshold")) {
			double sc = nash_attr_float(n, "out_scale", 1), b = nash_attr_float(n, "out_bias", 0);
			if (sc == 2 && b == -1 && steps == 1)
				o = (sl_vi){1, 1, -1, 1};
			else if (sc == 1 && b == floor(b) && fabs(b) < 1e15)
				o = (sl_vi){1, 0, (int64_t)b, (int64_t)b + steps};
		} else {
			int64_t av = iattr(n, "ActVal", 0);
			if (!strcmp(nash_attr_str(n, "outputDataType", ""), "BIPOLAR"))
				o = (sl_vi){1, 1, -1, 1};
			else
				o = (sl_vi){1, 0, av, av + steps};
		}
	} else if (!strcmp(op, "Conv") || !strcmp(op, "Gemm") || !strcmp(op, "MVAU")) {
		if (a && n->nin >= 2 && param_int(c, n->in[1]) && (n->nin < 3 || !n->in[2][0] || !strcmp(op, "MVAU"))) {
			char role = op[0] == 'C' ? 'c' : op[0] == 'M' ? 'm' : iattr(n, "transB", 0) ? 'g' : 'G';
			const sl_wsum *s = sl_wsums(c, n->in[1], role);
			int pads = 0;
			int64_t p[4];
			if (role == 'c' && nash_attr_ints(n, "pads", p, 4) == 4)
				pads = p[0] || p[1] || p[2] || p[3];
			if (s && (role != 'G' && role != 'g' ? 1 : (nash_attr_float(n, "alpha", 1) == 1)))
				o = sl_dot_range(s, a->lo, a->hi, pads);
			if (o.isint && role == 'm' && nash_attr_int(n, "binaryXnorMode", 0)) {
				int64_t mw = nash_attr_int(n, "MW", 0);
				o.lo = (o.lo + mw) / 2;
				o.hi = (o.hi + mw) / 2;
			}
		}
	} else if (!strcmp(op, "MaxPool") || !strcmp(op, "StreamingMaxPool") || !strcmp(op, "Slice") ||
	           !strcmp(op, "Flatten") || !strcmp(op, "Transpose") || !strcmp(op, "Identity") ||
	           !strcmp(op, "Dropout") || !strcmp(op, "DuplicateStreams") || !strcmp(op, "StreamingFIFO") ||
	           !strcmp(op, "StreamingDataWidthConverter")) {
		if (a)
			o = *a;
	} else if (!strcmp(op, "Relu")) {
		if (a)
			o = (sl_vi){1, 0, a->lo > 0 ? a->lo : 0, a->hi > 0 ? a->hi : 0};
	} else if (!strcmp(op, "ConvolutionInputGenerator") && a && a->bipolar) {
		o = *a; /* a BIPOLAR stream is padded with -1 */
	} else if (!strcmp(op, "ConvolutionInputGenerator") || !strcmp(op, "Pad")) {
		if (a) {
			o = *a;
			double pv = !strcmp(op, "Pad") ? nash_attr_float(n, "value", 0) : 0;
			if (pv == floor(pv)) {
				o.bipolar = 0;
				if ((int64_t)pv < o.lo)
					o.lo = (int64_t)pv;
				if ((int64_t)pv > o.hi)
					o.hi = (int64_t)pv;
			} else
				o.isint = 0;
		}
	} else if (!strcmp(op, "Concat") || !strcmp(op, "StreamingConcat")) {
		o = (sl_vi){1, 1, INT64_MAX, INT64_MIN};
		for (int i = 0; i < n->nin; i++) {
			const sl_vi *x = vi_get(c, n->in[i]);
			if (!x) {
				o.isint = 0;
				break;
			}
			o.bipolar &= x->bipolar;
			o.lo = x->lo < o.lo ? x->lo : o.lo;
			o.hi = x->hi > o.hi ? x->hi : o.hi;
		}
	} else if (!strcmp(op, "Add") || !strcmp(op, "AddStreams")) {
		const sl_vi *b = n->nin == 2 ? vi_get(c, n->in[1]) : NULL;
		if (a && b && !param(c, n->in[0]) && !param(c, n->in[1]))
			o = (sl_vi){1, 0, a->lo + b->lo, a->hi + b->hi};
	} else if (!strcmp(op, "QuantAvgPool")) {
		if (a) {
			int64_t k[4];
			int nk = nash_attr_ints(n, "Kernel", k, 4);
			int64_t kk = nk >= 2 ? k[0] * k[1] : nk == 1 ? k[0] * k[0] : iattr(n, "Kernel", 1) * iattr(n, "Kernel", 1);
			int64_t sh = iattr(n, "Shift", 0);
			double lo = floor(ldexp((double)(a->lo * kk), -(int)sh)), hi = floor(ldexp((double)(a->hi * kk), -(int)sh));
			o = (sl_vi){1, 0, (int64_t)lo, (int64_t)hi};
		}
	} else if (!strcmp(op, "LabelSelect")) {
		o = (sl_vi){1, 0, 0, iattr(n, "Labels", 2) - 1};
	}
	if (o.isint && o.lo > o.hi)
		o.isint = 0;
	for (int k = 0; k < n->nout; k++)
		vi_set(c, n->out[k], o);
}

/* Every node, node output and input name into the name map (owned keys:
 * a name once used is never issued again). */
static void names_add_all(sl_ctx *c)
{
	nash_graph *g = c->g;
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if (!sl_map_get(&c->names, n->name))
			sl_map_put(&c->names, n->name, 1);
		for (int k = 0; k < n->nout; k++)
			if (!sl_map_get(&c->names, n->out[k]))
				sl_map_put(&c->names, n->out[k], 1);
	}
	for (int i = 0; i < g->nin; i++)
		if (!sl_map_get(&c->names, g->inputs[i].name))
			sl_map_put(&c->names, g->inputs[i].name, 1);
}

int sl_refresh(sl_ctx *c)
{
	if (!c->dirty)
		return 0;
	nash_graph *g = c->g;
	if (nash_graph_infer(g, c->e) < 0) {
		/* a lowered tensor over the size limit (say, the window of a conv
		   with absurd pads) is the input's fault, anything else ours */
		if (!strstr(c->e->msg, "over the limit of"))
			nash_err_prefix(c->e, "internal error after a rewrite: ");
		return -1;
	}
	size_t want = (size_t)g->ntensors + 2 * (size_t)g->nnodes + 16;
	if (!c->prod.cap) {
		sl_map_init(&c->prod, want);
		sl_map_init(&c->uses, want);
		sl_map_init(&c->cons, want);
		sl_map_init(&c->vmap, want);
	} else {
		sl_map_clear(&c->prod);
		sl_map_clear(&c->uses);
		sl_map_clear(&c->cons);
		sl_map_clear(&c->vmap);
	}
	c->nvi = 0;
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		for (int k = 0; k < n->nout; k++)
			sl_map_put(&c->prod, n->out[k], i + 1);
		for (int k = 0; k < n->nin; k++)
			if (n->in[k][0]) {
				sl_map_put(&c->uses, n->in[k], sl_map_get(&c->uses, n->in[k]) + 1);
				if (!sl_map_get(&c->cons, n->in[k]))
					sl_map_put(&c->cons, n->in[k], i + 1);
			}
	}
	for (int i = 0; i < g->nout; i++)
		sl_map_put(&c->uses, g->outputs[i].name, sl_map_get(&c->uses, g->outputs[i].name) + 1);
	names_add_all(c);
	for (int i = 0; i < g->nin; i++) {
		const nash_tensor *t = nash_tensor_find(g, g->inputs[i].name);
		vi_set(c, g->inputs[i].name, vi_of_dt(g->inputs[i].datatype.kind ? g->inputs[i].datatype
		                                      : t ? t->datatype : (nash_datatype){0, 0}));
	}
	for (int i = 0; i < g->nnodes; i++)
		vi_node(c, g->nodes[i]);
	c->dirty = 0;
	return 0;
}

nash_node *sl_producer(sl_ctx *c, const char *t)
{
	int64_t k = sl_map_get(&c->prod, t);
	return k > 0 ? c->g->nodes[k - 1] : NULL;
}

int sl_nuses(sl_ctx *c, const char *t) { return (int)sl_map_get(&c->uses, t); }

nash_node *sl_only_consumer(sl_ctx *c, const char *t)
{
	if (sl_map_get(&c->uses, t) != 1)
		return NULL;
	int64_t k = sl_map_get(&c->cons, t);
	return k > 0 ? c->g->nodes[k - 1] : NULL;
}

nash_node **sl_consumers(sl_ctx *c, const char *t, int *n)
{
	nash_graph *g = c->g;
	nash_node **v = nash_alloc(((size_t)sl_nuses(c, t) + 2) * sizeof *v);
	int m = 0;
	int64_t first = sl_map_get(&c->cons, t);
	for (int i = first > 0 ? (int)first - 1 : g->nnodes; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nin; k++)
			if (strcmp(g->nodes[i]->in[k], t) == 0) {
				v[m++] = g->nodes[i];
				break;
			}
	v[m] = NULL;
	if (n)
		*n = m;
	return v;
}

const sl_vi *sl_info(sl_ctx *c, const char *t) { return vi_get(c, t); }

int sl_is_param(sl_ctx *c, const char *t) { return param(c, t) != NULL; }

const nash_tensor *sl_shape(sl_ctx *c, const char *t) { return nash_graph_shape(c->g, t); }

int64_t sl_channels(sl_ctx *c, const char *t)
{
	const nash_tensor *s = sl_shape(c, t);
	return s && s->ndim ? s->shape[0] : 1;
}

/* ---------------------------------------------------------------- nodes */

nash_node *sl_insert_after(sl_ctx *c, nash_node *after, const char *op, const char *name,
                           const char *const *in, const char *const *out)
{
	int pos = after ? nash_node_index(c->g, after) + 1 : 0;
	c->dirty = 1;
	return nash_node_insert(c->g, pos, op, name, in, out);
}

nash_node *sl_insert_before(sl_ctx *c, nash_node *before, const char *op, const char *name,
                            const char *const *in, const char *const *out)
{
	int pos = before ? nash_node_index(c->g, before) : c->g->nnodes;
	c->dirty = 1;
	return nash_node_insert(c->g, pos, op, name, in, out);
}

void sl_remove(sl_ctx *c, nash_node *n)
{
	nash_node_remove(c->g, nash_node_index(c->g, n));
	c->dirty = 1;
}

void sl_replace_uses(sl_ctx *c, const char *from, const char *to)
{
	nash_graph_replace_uses(c->g, from, to);
	c->dirty = 1;
}

/* A name no tensor, node or earlier fresh name has: the names of the
 * graph as of the last refresh, everything issued since, the parameters. */
char *sl_fresh(sl_ctx *c, const char *base)
{
	if (!c->names.cap)
		names_add_all(c);
	char *r = nash_strdup(base);
	int64_t i = sl_map_get(&c->suffix, base);
	if (!i)
		i = 1;
	else {
		free(r);
		r = nash_strfmt("%s_%lld", base, (long long)i);
	}
	while (sl_map_get(&c->names, r) || nash_tensor_find(c->g, r)) {
		free(r);
		r = nash_strfmt("%s_%lld", base, (long long)i++);
	}
	sl_map_put(&c->suffix, base, i);
	sl_map_put(&c->names, r, 1);
	return r;
}

int sl_bypass(sl_ctx *c, nash_node *n)
{
	nash_graph *g = c->g;
	char *in = nash_strdup(n->in[0]), *out = nash_strdup(n->out[0]);
	int is_out = 0, in_is_input = 0;
	for (int k = 0; k < g->nout; k++)
		is_out |= strcmp(g->outputs[k].name, out) == 0;
	for (int k = 0; k < g->nin; k++)
		in_is_input |= strcmp(g->inputs[k].name, in) == 0;
	nash_node *p = sl_producer(c, in);
	int rc = 1;
	if (!is_out)
		goto plain;
	if (p && sl_nuses(c, in) == 1 && p->nout == 1) {
		/* the producer writes the output's name */
		sl_remove(c, n);
		nash_node_set_out(p, 0, out);
		goto done;
	}
	if (in_is_input || !p) {
		rc = 0;
		goto done;
	}
plain:
	sl_remove(c, n);
	sl_replace_uses(c, out, in);
done:
	free(in);
	free(out);
	sl_touch(c);
	return rc;
}

void sl_drop_inputs(nash_node *n, int keep)
{
	for (int k = keep; k < n->nin; k++)
		free(n->in[k]);
	if (keep < n->nin) {
		n->nin = keep;
		n->in[keep] = NULL;
	}
}

void sl_prune(sl_ctx *c)
{
	nash_graph *g = c->g;
	sl_map uses = {0};
	uses.own = 1;
	sl_map_init(&uses, (size_t)g->ntensors + 2 * (size_t)g->nnodes + 16);
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nin; k++)
			if (g->nodes[i]->in[k][0])
				sl_map_put(&uses, g->nodes[i]->in[k], sl_map_get(&uses, g->nodes[i]->in[k]) + 1);
	for (int i = 0; i < g->nout; i++)
		sl_map_put(&uses, g->outputs[i].name, sl_map_get(&uses, g->outputs[i].name) + 1);
	int removed = 0;
	/* a quantizer's integer export (int_tensor) lives as long as it does */
	for (int i = 0; i < g->nnodes; i++) {
		const char *it = nash_attr_str(g->nodes[i], "int_tensor", NULL);
		if (it)
			sl_map_put(&uses, it, sl_map_get(&uses, it) + 1);
	}
	for (int i = g->nnodes - 1; i >= 0; i--) {
		nash_node *n = g->nodes[i];
		int used = 0;
		for (int k = 0; k < n->nout && !used; k++)
			used = sl_map_get(&uses, n->out[k]) > 0;
		if (used)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k][0])
				sl_map_put(&uses, n->in[k], sl_map_get(&uses, n->in[k]) - 1);
		const char *it = nash_attr_str(n, "int_tensor", NULL);
		if (it)
			sl_map_put(&uses, it, sl_map_get(&uses, it) - 1);
		nash_node_remove(g, i);
		removed = 1;
	}
	/* unused parameters and annotations of tensors nobody makes */
	sl_map made = {0};
	sl_map_init(&made, (size_t)g->ntensors + 2 * (size_t)g->nnodes + 16);
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nout; k++)
			sl_map_put(&made, g->nodes[i]->out[k], 1);
	for (int i = 0; i < g->nin; i++)
		sl_map_put(&made, g->inputs[i].name, 1);
	char **gone = NULL;
	int ngone = 0;
	for (int i = 0; i < g->ntensors; i++) {
		nash_tensor *t = g->tensors[i];
		int keep = t->data ? sl_map_get(&uses, t->name) > 0 : sl_map_get(&made, t->name) > 0;
		if (!keep) {
			gone = nash_realloc(gone, (size_t)(ngone + 1) * sizeof *gone);
			gone[ngone++] = nash_strdup(t->name);
		}
	}
	sl_map_free(&uses);
	sl_map_free(&made);
	for (int i = 0; i < ngone; i++) {
		nash_tensor_remove(g, gone[i]);
		free(gone[i]);
		removed = 1;
	}
	free(gone);
	if (removed)
		c->dirty = 1;
}

/* -------------------------------------------------------------- constants */

int sl_const_op(sl_ctx *c, const nash_node *n, const char *op, double **vals, int64_t *nc)
{
	if (strcmp(n->op, op) != 0 || n->nin != 2 || n->nout != 1)
		return -1;
	int p0 = sl_is_param(c, n->in[0]), p1 = sl_is_param(c, n->in[1]);
	if (p0 == p1)
		return -1;
	int d = p0 ? 1 : 0;
	const nash_tensor *t = nash_tensor_find(c->g, n->in[1 - d]);
	const nash_tensor *x = sl_shape(c, n->in[d]);
	if (!x)
		return -1;
	int64_t numel = nash_tensor_numel(t);
	if (numel != 1) {
		/* per channel: C x 1 x 1 against C x H x W, or C against a vector */
		if (x->ndim == 3 && !(t->ndim == 3 && t->shape[0] == x->shape[0] && t->shape[1] == 1 && t->shape[2] == 1))
			return -1;
		if (x->ndim == 1 && !(t->ndim == 1 && t->shape[0] == x->shape[0]))
			return -1;
		if (x->ndim != 1 && x->ndim != 3)
			return -1;
	}
	if (vals) {
		*vals = sl_tensor_f64(t);
		*nc = numel;
	}
	return d;
}

char *sl_const_new(sl_ctx *c, const char *base, const double *vals, int64_t nc, int ndim)
{
	char *name = sl_fresh(c, base);
	/* one value for every channel is a scalar (it moves past more) */
	int same = 1;
	for (int64_t k = 1; k < nc && same; k++)
		same = vals[k] == vals[0];
	if (same)
		nc = 1;
	int64_t sh[3] = {nc, 1, 1};
	if (nc == 1)
		sl_param_f64(c->g, name, 1, sh, vals);
	else
		sl_param_f64(c->g, name, ndim == 3 ? 3 : 1, sh, vals);
	c->dirty = 1;
	return name;
}
