/* graph.c - the graph IR: tensors, nodes, attributes, editing. */
#include "core/nash.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------- tensor name index */
static void tidx_rebuild(nash_graph *g)
{
	int cap = 64;
	while (cap < 2 * g->ntensors + 2)
		cap *= 2;
	if (cap != g->tidx_cap) {
		free(g->tidx);
		g->tidx = nash_realloc(NULL, (size_t)cap * sizeof *g->tidx);
		g->tidx_cap = cap;
	}
	for (int i = 0; i < cap; i++)
		g->tidx[i] = -1;
	for (int i = 0; i < g->ntensors; i++) {
		uint64_t h = nash_hash(g->tensors[i]->name) & (uint64_t)(cap - 1);
		while (g->tidx[h] >= 0)
			h = (h + 1) & (uint64_t)(cap - 1);
		g->tidx[h] = i;
	}
}

static int tidx_find(const nash_graph *g, const char *name)
{
	if (!g->tidx_cap)
		return -1;
	uint64_t m = (uint64_t)g->tidx_cap - 1, h = nash_hash(name) & m;
	while (g->tidx[h] >= 0) {
		if (strcmp(g->tensors[g->tidx[h]]->name, name) == 0)
			return g->tidx[h];
		h = (h + 1) & m;
	}
	return -1;
}

nash_graph *nash_graph_new(const char *name)
{
	nash_graph *g = nash_alloc(sizeof *g);
	g->name = nash_strdup(name ? name : "graph");
	g->version = NASH_FORMAT_MAJOR;
	g->meta = nash_val_map();
	tidx_rebuild(g);
	return g;
}

static void tensor_free(nash_tensor *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->data);
	nash_val_free(t->extra);
	free(t);
}

static void node_free(nash_node *n)
{
	if (!n)
		return;
	free(n->op);
	free(n->name);
	for (int i = 0; i < n->nin; i++)
		free(n->in[i]);
	for (int i = 0; i < n->nout; i++)
		free(n->out[i]);
	free(n->in);
	free(n->out);
	nash_val_free(n->attr);
	nash_val_free(n->extra);
	free(n);
}

static void io_clear(nash_io *io)
{
	free(io->name);
	nash_val_free(io->extra);
}

void nash_graph_free(nash_graph *g)
{
	if (!g)
		return;
	free(g->name);
	for (int i = 0; i < g->nin; i++)
		io_clear(&g->inputs[i]);
	for (int i = 0; i < g->nout; i++)
		io_clear(&g->outputs[i]);
	free(g->inputs);
	free(g->outputs);
	for (int i = 0; i < g->nnodes; i++)
		node_free(g->nodes[i]);
	free(g->nodes);
	for (int i = 0; i < g->ntensors; i++)
		tensor_free(g->tensors[i]);
	free(g->tensors);
	free(g->tidx);
	nash_val_free(g->meta);
	nash_val_free(g->extra);
	free(g);
}

void nash_graph_rename(nash_graph *g, const char *name)
{
	char *n = nash_strdup(name);
	free(g->name);
	g->name = n;
}

nash_graph *nash_graph_copy(const nash_graph *s)
{
	nash_graph *g = nash_graph_new(s->name);
	g->version = s->version;
	for (int i = 0; i < s->nin; i++) {
		nash_io *io = nash_graph_add_input(g, s->inputs[i].name, s->inputs[i].dtype,
		                                   s->inputs[i].ndim, s->inputs[i].shape);
		io->datatype = s->inputs[i].datatype;
		io->extra = nash_val_copy(s->inputs[i].extra);
	}
	for (int i = 0; i < s->nout; i++) {
		nash_io *io = nash_graph_add_output(g, s->outputs[i].name);
		io->dtype = s->outputs[i].dtype;
		io->ndim = s->outputs[i].ndim;
		memcpy(io->shape, s->outputs[i].shape, sizeof io->shape);
		io->datatype = s->outputs[i].datatype;
		io->extra = nash_val_copy(s->outputs[i].extra);
	}
	for (int i = 0; i < s->nnodes; i++) {
		const nash_node *sn = s->nodes[i];
		nash_node *n = nash_node_add(g, sn->op, sn->name, NULL, NULL);
		free(n->in);
		free(n->out);
		n->nin = sn->nin;
		n->nout = sn->nout;
		n->in = nash_realloc(NULL, (size_t)(sn->nin + 1) * sizeof *n->in);
		n->out = nash_realloc(NULL, (size_t)(sn->nout + 1) * sizeof *n->out);
		for (int k = 0; k < sn->nin; k++)
			n->in[k] = nash_strdup(sn->in[k]);
		for (int k = 0; k < sn->nout; k++)
			n->out[k] = nash_strdup(sn->out[k]);
		nash_val_free(n->attr);
		n->attr = nash_val_copy(sn->attr);
		n->extra = nash_val_copy(sn->extra);
	}
	for (int i = 0; i < s->ntensors; i++) {
		const nash_tensor *st = s->tensors[i];
		nash_tensor *t = st->data ? nash_tensor_add(g, st->name, st->dtype, st->ndim, st->shape)
		                          : nash_tensor_annotate(g, st->name, st->dtype, st->ndim, st->shape);
		if (st->data)
			memcpy(t->data, st->data, nash_tensor_nbytes(st));
		t->datatype = st->datatype;
		t->extra = nash_val_copy(st->extra);
		t->transient = st->transient;
	}
	nash_val_free(g->meta);
	g->meta = nash_val_copy(s->meta);
	g->extra = nash_val_copy(s->extra);
	return g;
}

/* --------------------------------------------------------------- shapes */
int64_t nash_shape_numel(int ndim, const int64_t *shape)
{
	int64_t n = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return -1;
		if (shape[i] && n > INT64_MAX / shape[i])
			return -1;
		n *= shape[i];
	}
	return n;
}

int64_t nash_tensor_numel(const nash_tensor *t) { return nash_shape_numel(t->ndim, t->shape); }

int64_t nash_tensor_int(const nash_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case NASH_I8: return ((const int8_t *)t->data)[i];
	case NASH_U8: return ((const uint8_t *)t->data)[i];
	case NASH_I16: return ((const int16_t *)t->data)[i];
	case NASH_I32: return ((const int32_t *)t->data)[i];
	case NASH_I64: return ((const int64_t *)t->data)[i];
	default: return (int64_t)((const float *)t->data)[i];
	}
}

size_t nash_tensor_nbytes(const nash_tensor *t)
{
	int64_t n = nash_tensor_numel(t);
	return n < 0 ? 0 : (size_t)n * nash_dtype_size(t->dtype);
}

char *nash_shape_str(int ndim, const int64_t *shape, char *buf)
{
	char *p = buf;
	*p = 0;
	if (ndim == 0) {
		strcpy(buf, "scalar");
		return buf;
	}
	for (int i = 0; i < ndim && p - buf < 100; i++)
		p += sprintf(p, "%s%lld", i ? "x" : "", (long long)shape[i]);
	return buf;
}

int nash_shape_parse(const char *s, int64_t *shape, int maxdim)
{
	int n = 0;
	while (*s) {
		char *end;
		if (*s < '0' || *s > '9' || n >= maxdim)
			return -1;
		long long v = strtoll(s, &end, 10);
		if (v <= 0 || v > (1LL << 31))
			return -1;
		shape[n++] = v;
		s = end;
		if (*s == 'x' || *s == 'X' || *s == ',') {
			s++;
			if (!*s)
				return -1;
		} else if (*s)
			return -1;
	}
	return n ? n : -1;
}

/* -------------------------------------------------------------- tensors */
nash_tensor *nash_tensor_find(const nash_graph *g, const char *name)
{
	int i = tidx_find(g, name);
	return i < 0 ? NULL : g->tensors[i];
}

static nash_tensor *tensor_slot(nash_graph *g, const char *name)
{
	int i = tidx_find(g, name);
	if (i >= 0) {
		nash_tensor *t = g->tensors[i];
		free(t->data);
		t->data = NULL;
		nash_val_free(t->extra);
		t->extra = NULL;
		t->datatype = (nash_datatype){0, 0};
		t->transient = 0;
		return t;
	}
	if (g->ntensors == g->captensors) {
		g->captensors = g->captensors ? 2 * g->captensors : 32;
		g->tensors = nash_realloc(g->tensors, (size_t)g->captensors * sizeof *g->tensors);
	}
	nash_tensor *t = nash_alloc(sizeof *t);
	t->name = nash_strdup(name);
	g->tensors[g->ntensors++] = t;
	if (2 * g->ntensors + 2 > g->tidx_cap)
		tidx_rebuild(g);
	else {
		uint64_t m = (uint64_t)g->tidx_cap - 1, h = nash_hash(name) & m;
		while (g->tidx[h] >= 0)
			h = (h + 1) & m;
		g->tidx[h] = g->ntensors - 1;
	}
	return t;
}

static void tensor_shape(nash_tensor *t, nash_dtype dt, int ndim, const int64_t *shape)
{
	t->dtype = dt;
	t->ndim = ndim < 0 ? 0 : ndim > NASH_MAXDIM ? NASH_MAXDIM : ndim;
	memset(t->shape, 0, sizeof t->shape);
	if (shape && t->ndim)
		memcpy(t->shape, shape, (size_t)t->ndim * sizeof *shape);
}

nash_tensor *nash_tensor_add(nash_graph *g, const char *name, nash_dtype dt,
                             int ndim, const int64_t *shape)
{
	nash_tensor *t = tensor_slot(g, name);
	tensor_shape(t, dt, ndim, shape);
	t->data = nash_alloc(nash_tensor_nbytes(t));
	return t;
}

nash_tensor *nash_tensor_annotate(nash_graph *g, const char *name, nash_dtype dt,
                                  int ndim, const int64_t *shape)
{
	nash_tensor *t = nash_tensor_find(g, name);
	if (t && !t->data) {
		tensor_shape(t, dt, ndim, shape);
		return t;
	}
	t = tensor_slot(g, name);
	tensor_shape(t, dt, ndim, shape);
	return t;
}

int nash_tensor_remove(nash_graph *g, const char *name)
{
	int i = tidx_find(g, name);
	if (i < 0)
		return 0;
	tensor_free(g->tensors[i]);
	memmove(g->tensors + i, g->tensors + i + 1, (size_t)(g->ntensors - i - 1) * sizeof *g->tensors);
	g->ntensors--;
	tidx_rebuild(g);
	return 1;
}

float *nash_tensor_f32(const nash_graph *g, const char *name)
{
	nash_tensor *t = nash_tensor_find(g, name);
	return t && t->data && t->dtype == NASH_F32 ? (float *)t->data : NULL;
}

/* ------------------------------------------------------------------- io */
static nash_io *io_push(nash_io **arr, int *n, const char *name)
{
	*arr = nash_realloc(*arr, (size_t)(*n + 1) * sizeof **arr);
	nash_io *io = &(*arr)[(*n)++];
	memset(io, 0, sizeof *io);
	io->name = nash_strdup(name);
	return io;
}

nash_io *nash_graph_add_input(nash_graph *g, const char *name, nash_dtype dt,
                              int ndim, const int64_t *shape)
{
	nash_io *io = io_push(&g->inputs, &g->nin, name);
	io->dtype = dt;
	io->ndim = ndim > NASH_MAXDIM ? NASH_MAXDIM : ndim;
	if (shape && io->ndim > 0)
		memcpy(io->shape, shape, (size_t)io->ndim * sizeof *shape);
	return io;
}

nash_io *nash_graph_add_output(nash_graph *g, const char *name)
{
	return io_push(&g->outputs, &g->nout, name);
}

/* ---------------------------------------------------------------- nodes */
static int count_list(const char *const *l)
{
	int n = 0;
	while (l && l[n])
		n++;
	return n;
}

nash_node *nash_node_insert(nash_graph *g, int pos, const char *op, const char *name,
                            const char *const *in, const char *const *out)
{
	nash_node *n = nash_alloc(sizeof *n);
	n->op = nash_strdup(op);
	n->name = nash_strdup(name);
	n->nin = count_list(in);
	n->nout = count_list(out);
	n->in = nash_realloc(NULL, (size_t)(n->nin + 1) * sizeof *n->in);
	n->out = nash_realloc(NULL, (size_t)(n->nout + 1) * sizeof *n->out);
	for (int i = 0; i < n->nin; i++)
		n->in[i] = nash_strdup(in[i]);
	for (int i = 0; i < n->nout; i++)
		n->out[i] = nash_strdup(out[i]);
	n->attr = nash_val_map();
	if (g->nnodes == g->capnodes) {
		g->capnodes = g->capnodes ? 2 * g->capnodes : 32;
		g->nodes = nash_realloc(g->nodes, (size_t)g->capnodes * sizeof *g->nodes);
	}
	if (pos < 0 || pos > g->nnodes)
		pos = g->nnodes;
	memmove(g->nodes + pos + 1, g->nodes + pos, (size_t)(g->nnodes - pos) * sizeof *g->nodes);
	g->nodes[pos] = n;
	g->nnodes++;
	return n;
}

nash_node *nash_node_add(nash_graph *g, const char *op, const char *name,
                         const char *const *in, const char *const *out)
{
	return nash_node_insert(g, g->nnodes, op, name, in, out);
}

void nash_node_remove(nash_graph *g, int pos)
{
	if (pos < 0 || pos >= g->nnodes)
		return;
	node_free(g->nodes[pos]);
	memmove(g->nodes + pos, g->nodes + pos + 1, (size_t)(g->nnodes - pos - 1) * sizeof *g->nodes);
	g->nnodes--;
}

nash_node *nash_node_find(const nash_graph *g, const char *name)
{
	for (int i = 0; i < g->nnodes; i++)
		if (strcmp(g->nodes[i]->name, name) == 0)
			return g->nodes[i];
	return NULL;
}

int nash_node_index(const nash_graph *g, const nash_node *n)
{
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i] == n)
			return i;
	return -1;
}

void nash_node_set_in(nash_node *n, int i, const char *name)
{
	if (i >= n->nin) {
		n->in = nash_realloc(n->in, (size_t)(i + 2) * sizeof *n->in);
		for (int k = n->nin; k <= i; k++)
			n->in[k] = nash_strdup("");
		n->nin = i + 1;
	}
	char *s = nash_strdup(name);
	free(n->in[i]);
	n->in[i] = s;
}

void nash_node_set_out(nash_node *n, int i, const char *name)
{
	if (i >= n->nout) {
		n->out = nash_realloc(n->out, (size_t)(i + 2) * sizeof *n->out);
		for (int k = n->nout; k <= i; k++)
			n->out[k] = nash_strdup("");
		n->nout = i + 1;
	}
	char *s = nash_strdup(name);
	free(n->out[i]);
	n->out[i] = s;
}

int nash_graph_producer(const nash_graph *g, const char *tensor)
{
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nout; k++)
			if (strcmp(g->nodes[i]->out[k], tensor) == 0)
				return i;
	return -1;
}

int nash_graph_uses(const nash_graph *g, const char *tensor)
{
	int u = 0;
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nin; k++)
			u += strcmp(g->nodes[i]->in[k], tensor) == 0;
	for (int i = 0; i < g->nout; i++)
		u += strcmp(g->outputs[i].name, tensor) == 0;
	return u;
}

void nash_graph_replace_uses(nash_graph *g, const char *from, const char *to)
{
	char *f = nash_strdup(from);
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nin; k++)
			if (strcmp(g->nodes[i]->in[k], f) == 0)
				nash_node_set_in(g->nodes[i], k, to);
	for (int i = 0; i < g->nout; i++)
		if (strcmp(g->outputs[i].name, f) == 0) {
			free(g->outputs[i].name);
			g->outputs[i].name = nash_strdup(to);
		}
	free(f);
}

static int name_used(const nash_graph *g, const char *s)
{
	if (nash_tensor_find(g, s))
		return 1;
	for (int i = 0; i < g->nin; i++)
		if (strcmp(g->inputs[i].name, s) == 0)
			return 1;
	return nash_graph_producer(g, s) >= 0 || nash_graph_uses(g, s) > 0 ||
	       nash_node_find(g, s) != NULL;
}

char *nash_graph_fresh_name(const nash_graph *g, const char *base)
{
	if (!name_used(g, base))
		return nash_strdup(base);
	for (int i = 1;; i++) {
		char *s = nash_strfmt("%s_%d", base, i);
		if (!name_used(g, s))
			return s;
		free(s);
	}
}

/* Kahn's algorithm, stable: among ready nodes the one first in the current
 * order goes first. */
int nash_graph_toposort(nash_graph *g, nash_err *e)
{
	int n = g->nnodes;
	int *indeg = nash_alloc((size_t)(n + 1) * sizeof *indeg);
	int *done = nash_alloc((size_t)(n + 1) * sizeof *done);
	nash_node **order = nash_alloc((size_t)(n + 1) * sizeof *order);
	/* producer of each input, O(n^2) but graphs are small */
	int **deps = nash_alloc((size_t)(n + 1) * sizeof *deps);
	for (int i = 0; i < n; i++) {
		nash_node *nd = g->nodes[i];
		deps[i] = nash_alloc((size_t)(nd->nin + 1) * sizeof **deps);
		for (int k = 0; k < nd->nin; k++) {
			deps[i][k] = nd->in[k][0] ? nash_graph_producer(g, nd->in[k]) : -1;
			if (deps[i][k] == i)
				deps[i][k] = -2; /* self loop */
		}
	}
	int m = 0, rc = 0;
	while (m < n) {
		int picked = -1;
		for (int i = 0; i < n && picked < 0; i++) {
			if (done[i])
				continue;
			int ready = 1;
			for (int k = 0; k < g->nodes[i]->nin && ready; k++)
				if (deps[i][k] == -2 || (deps[i][k] >= 0 && !done[deps[i][k]]))
					ready = 0;
			if (ready)
				picked = i;
		}
		if (picked < 0) {
			for (int i = 0; i < n; i++)
				if (!done[i]) {
					rc = nash_fail(e, "node %s: part of a cycle", g->nodes[i]->name);
					break;
				}
			break;
		}
		done[picked] = 1;
		order[m++] = g->nodes[picked];
	}
	if (rc == 0)
		memcpy(g->nodes, order, (size_t)n * sizeof *order);
	for (int i = 0; i < n; i++)
		free(deps[i]);
	free(deps);
	free(indeg);
	free(done);
	free(order);
	return rc;
}

void nash_graph_prune(nash_graph *g)
{
	int changed = 1;
	while (changed) {
		changed = 0;
		for (int i = g->nnodes - 1; i >= 0; i--) {
			nash_node *n = g->nodes[i];
			int used = 0;
			for (int k = 0; k < n->nout && !used; k++)
				used = n->out[k][0] && nash_graph_uses(g, n->out[k]) > 0;
			if (!used) {
				for (int k = 0; k < n->nout; k++) {
					nash_tensor *t = nash_tensor_find(g, n->out[k]);
					if (t && !t->data)
						nash_tensor_remove(g, n->out[k]);
				}
				nash_node_remove(g, i);
				changed = 1;
			}
		}
	}
	for (int i = g->ntensors - 1; i >= 0; i--) {
		nash_tensor *t = g->tensors[i];
		if (!t->data || nash_graph_uses(g, t->name) > 0)
			continue;
		int named = 0;
		for (int j = 0; j < g->nnodes && !named; j++) {
			const char *it = nash_attr_str(g->nodes[j], "int_tensor", NULL);
			named = it && strcmp(it, t->name) == 0;
		}
		if (!named)
			nash_tensor_remove(g, t->name);
	}
}

/* ----------------------------------------------------------- attributes */
int nash_attr_has(const nash_node *n, const char *key)
{
	return nash_val_get(n->attr, key) != NULL;
}

int64_t nash_attr_int(const nash_node *n, const char *key, int64_t def)
{
	return nash_val_as_int(nash_val_get(n->attr, key), def);
}

double nash_attr_float(const nash_node *n, const char *key, double def)
{
	return nash_val_as_f64(nash_val_get(n->attr, key), def);
}

const char *nash_attr_str(const nash_node *n, const char *key, const char *def)
{
	const char *s = nash_val_as_str(nash_val_get(n->attr, key));
	return s ? s : def;
}

int nash_attr_ints(const nash_node *n, const char *key, int64_t *out, int max)
{
	nash_val *v = nash_val_get(n->attr, key);
	if (!v || v->t != NASH_V_ARR)
		return -1;
	for (size_t i = 0; i < v->u.a.n; i++) {
		nash_val *x = v->u.a.v[i];
		if (x->t != NASH_V_INT && x->t != NASH_V_UINT)
			return -1;
		if ((int)i < max)
			out[i] = nash_val_as_int(x, 0);
	}
	return (int)v->u.a.n;
}

int nash_attr_floats(const nash_node *n, const char *key, double *out, int max)
{
	nash_val *v = nash_val_get(n->attr, key);
	if (!v || v->t != NASH_V_ARR)
		return -1;
	for (size_t i = 0; i < v->u.a.n; i++) {
		if (!nash_val_is_num(v->u.a.v[i]))
			return -1;
		if ((int)i < max)
			out[i] = nash_val_as_f64(v->u.a.v[i], 0);
	}
	return (int)v->u.a.n;
}

void nash_attr_set_int(nash_node *n, const char *key, int64_t v) { nash_val_set(n->attr, key, nash_val_int(v)); }
void nash_attr_set_float(nash_node *n, const char *key, double v) { nash_val_set(n->attr, key, nash_val_f64(v)); }
void nash_attr_set_str(nash_node *n, const char *key, const char *v) { nash_val_set(n->attr, key, nash_val_str(v)); }
void nash_attr_set_ints(nash_node *n, const char *key, int cnt, const int64_t *v)
{
	nash_val_set(n->attr, key, nash_val_ints(v, (size_t)cnt));
}
void nash_attr_set_floats(nash_node *n, const char *key, int cnt, const double *v)
{
	nash_val_set(n->attr, key, nash_val_f64s(v, (size_t)cnt));
}

nash_val *nash_meta(nash_graph *g, const char *stage)
{
	return nash_val_submap(g->meta, stage);
}
