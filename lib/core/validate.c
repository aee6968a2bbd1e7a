/* validate.c - structural validation, shape inference and counting. */
#include "core/nash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small open-addressing set of borrowed strings. */
typedef struct { const char **k; size_t cap, n; } sset;

static void ss_init(sset *s, size_t want)
{
	s->cap = 64;
	while (s->cap < 2 * want + 2)
		s->cap *= 2;
	s->k = nash_alloc(s->cap * sizeof *s->k);
	s->n = 0;
}

static int ss_has(const sset *s, const char *k)
{
	size_t m = s->cap - 1, h = nash_hash(k) & m;
	while (s->k[h]) {
		if (strcmp(s->k[h], k) == 0)
			return 1;
		h = (h + 1) & m;
	}
	return 0;
}

static int ss_add(sset *s, const char *k) /* 0 if it was there */
{
	size_t m = s->cap - 1, h = nash_hash(k) & m;
	while (s->k[h]) {
		if (strcmp(s->k[h], k) == 0)
			return 0;
		h = (h + 1) & m;
	}
	s->k[h] = k;
	s->n++;
	return 1;
}

static int check_finite(const nash_graph *g, const nash_tensor *t, nash_err *e)
{
	if (t->dtype != NASH_F32)
		return 0;
	const float *p = t->data;
	int64_t n = nash_tensor_numel(t);
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(p[i]))
			return nash_fail(e, "graph %s: tensor %s: %s at element %lld", g->name, t->name,
			                 isnan(p[i]) ? "NaN" : "infinity", (long long)i);
	return 0;
}

int nash_graph_validate(nash_graph *g, nash_err *e)
{
	if (!g->name[0])
		return nash_fail(e, "graph has an empty name");
	if (g->nin < 1)
		return nash_fail(e, "graph %s: no inputs", g->name);
	if (g->nout < 1)
		return nash_fail(e, "graph %s: no outputs", g->name);
	size_t total = (size_t)g->nin + (size_t)g->ntensors;
	for (int i = 0; i < g->nnodes; i++)
		total += (size_t)g->nodes[i]->nout + 1;
	sset def, names;
	ss_init(&def, total);
	ss_init(&names, (size_t)g->nnodes);
	int rc = 0;
	for (int i = 0; i < g->nin && rc == 0; i++) {
		const nash_io *io = &g->inputs[i];
		nash_tensor *t = nash_tensor_find(g, io->name);
		if (!io->name[0])
			rc = nash_fail(e, "graph %s: input %d has an empty name", g->name, i);
		else if (t && t->data)
			rc = nash_fail(e, "graph %s: input %s is also a parameter tensor", g->name, io->name);
		else if (!ss_add(&def, io->name))
			rc = nash_fail(e, "graph %s: input %s listed twice", g->name, io->name);
		else if (io->ndim < 1 || nash_shape_numel(io->ndim, io->shape) < 1)
			rc = nash_fail(e, "graph %s: input %s has no usable shape", g->name, io->name);
	}
	for (int i = 0; i < g->ntensors && rc == 0; i++) {
		const nash_tensor *t = g->tensors[i];
		if (!t->data)
			continue;
		if (!t->name[0])
			rc = nash_fail(e, "graph %s: a parameter tensor has an empty name", g->name);
		else {
			ss_add(&def, t->name);
			rc = check_finite(g, t, e);
		}
	}
	for (int i = 0; i < g->nnodes && rc == 0; i++) {
		const nash_node *n = g->nodes[i];
		if (!n->name[0]) {
			rc = nash_fail(e, "graph %s: node %d (%s) has no name", g->name, i, n->op);
			break;
		}
		if (!ss_add(&names, n->name)) {
			rc = nash_fail(e, "graph %s: two nodes are named %s", g->name, n->name);
			break;
		}
		for (int k = 0; k < n->nin && rc == 0; k++) {
			const char *in = n->in[k];
			if (!in[0] || ss_has(&def, in))
				continue;
			int p = nash_graph_producer(g, in);
			if (p > i)
				rc = nash_fail(e, "graph %s: node %s uses %s before node %s defines it (not in topological order)",
				               g->name, n->name, in, g->nodes[p]->name);
			else
				rc = nash_fail(e, "graph %s: node %s: input %s is not defined (no input, parameter or node makes it)",
				               g->name, n->name, in);
		}
		for (int k = 0; k < n->nout && rc == 0; k++) {
			if (!n->out[k][0])
				rc = nash_fail(e, "graph %s: node %s: output %d has an empty name", g->name, n->name, k);
			else if (!ss_add(&def, n->out[k]))
				rc = nash_fail(e, "graph %s: node %s: output %s is defined more than once",
				               g->name, n->name, n->out[k]);
		}
	}
	for (int i = 0; i < g->nout && rc == 0; i++)
		if (!ss_has(&def, g->outputs[i].name))
			rc = nash_fail(e, "graph %s: output %s is not defined", g->name, g->outputs[i].name);
	free(def.k);
	free(names.k);
	if (rc < 0)
		return -1;
	return nash_graph_infer(g, e);
}

const nash_tensor *nash_graph_shape(const nash_graph *g, const char *tensor)
{
	return nash_tensor_find(g, tensor);
}

static void to_shape(const nash_tensor *t, nash_shape *s)
{
	s->ndim = t->ndim;
	memcpy(s->d, t->shape, sizeof s->d);
	s->dtype = t->dtype;
}

int nash_graph_infer(nash_graph *g, nash_err *e)
{
	char a[128], b[128];
	for (int i = 0; i < g->nin; i++) {
		const nash_io *io = &g->inputs[i];
		nash_tensor *t = nash_tensor_find(g, io->name);
		if (!t) {
			t = nash_tensor_annotate(g, io->name, io->dtype, io->ndim, io->shape);
			t->transient = 1;
		} else if (!t->data && (t->ndim != io->ndim ||
		                        memcmp(t->shape, io->shape, sizeof(int64_t) * (size_t)io->ndim)))
			return nash_fail(e, "graph %s: input %s is %s but its tensor entry says %s", g->name,
			                 io->name, nash_shape_str(io->ndim, io->shape, a),
			                 nash_shape_str(t->ndim, t->shape, b));
		if (!t->datatype.kind)
			t->datatype = io->datatype;
	}
	int maxin = 1;
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->nin > maxin)
			maxin = g->nodes[i]->nin;
	nash_shape *store = nash_alloc((size_t)maxin * sizeof *store);
	const nash_shape **ish = nash_alloc((size_t)maxin * sizeof *ish);
	nash_shape oshape[16];
	int rc = 0;
	for (int i = 0; i < g->nnodes && rc == 0; i++) {
		const nash_node *n = g->nodes[i];
		nash_shape_fn fn = nash_shape_rule(n->op);
		if (!fn) {
			rc = nash_fail(e, "graph %s: node %s: unknown op %s (no shape rule)", g->name, n->name, n->op);
			break;
		}
		for (int k = 0; k < n->nin; k++) {
			ish[k] = NULL;
			if (!n->in[k][0])
				continue;
			const nash_tensor *t = nash_tensor_find(g, n->in[k]);
			if (!t) {
				rc = nash_fail(e, "graph %s: node %s: input %s has no known shape", g->name, n->name, n->in[k]);
				break;
			}
			to_shape(t, &store[k]);
			ish[k] = &store[k];
		}
		if (rc)
			break;
		if (n->nout > 16) {
			rc = nash_fail(e, "graph %s: node %s has too many outputs", g->name, n->name);
			break;
		}
		memset(oshape, 0, sizeof oshape);
		for (int k = 0; k < n->nout; k++)
			oshape[k].dtype = n->nin && ish[0] ? ish[0]->dtype : NASH_F32;
		if (fn(g, n, ish, oshape, e) < 0) {
			nash_err_prefix(e, "graph %s: ", g->name);
			rc = -1;
			break;
		}
		/* absurd attributes (pads, strides, a Reshape) must not reach an
		 * executor that allocates the tensor */
		for (int k = 0; k < n->nout && rc == 0; k++) {
			int64_t numel = nash_shape_numel(oshape[k].ndim, oshape[k].d);
			if (numel < 0 || numel > NASH_MAX_NUMEL)
				rc = nash_fail(e, "graph %s: node %s: output %s would be %s, over the limit of %lld elements",
				               g->name, n->name, n->out[k], nash_shape_str(oshape[k].ndim, oshape[k].d, a),
				               (long long)NASH_MAX_NUMEL);
		}
		if (rc)
			break;
		for (int k = 0; k < n->nout; k++) {
			nash_tensor *t = nash_tensor_find(g, n->out[k]);
			if (t && t->data) {
				rc = nash_fail(e, "graph %s: node %s: output %s is also a parameter", g->name, n->name, n->out[k]);
				break;
			}
			if (t && !t->transient) {
				/* an annotation from the record: it must agree */
				if (t->ndim != oshape[k].ndim ||
				    memcmp(t->shape, oshape[k].d, sizeof(int64_t) * (size_t)t->ndim)) {
					rc = nash_fail(e, "graph %s: node %s: shape mismatch: %s is recorded as %s, the op gives %s",
					               g->name, n->name, n->out[k], nash_shape_str(t->ndim, t->shape, a),
					               nash_shape_str(oshape[k].ndim, oshape[k].d, b));
					break;
				}
				continue;
			}
			t = nash_tensor_annotate(g, n->out[k], oshape[k].dtype, oshape[k].ndim, oshape[k].d);
			t->transient = 1;
		}
	}
	for (int i = 0; i < g->nout && rc == 0; i++) {
		nash_io *io = &g->outputs[i];
		const nash_tensor *t = nash_tensor_find(g, io->name);
		if (!t)
			rc = nash_fail(e, "graph %s: output %s is not defined", g->name, io->name);
		else if (io->ndim == 0) {
			io->ndim = t->ndim;
			memcpy(io->shape, t->shape, sizeof io->shape);
			io->dtype = t->dtype;
		} else if (io->ndim != t->ndim || memcmp(io->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim))
			rc = nash_fail(e, "graph %s: output %s is recorded as %s but computes to %s", g->name, io->name,
			               nash_shape_str(io->ndim, io->shape, a), nash_shape_str(t->ndim, t->shape, b));
	}
	free(store);
	free(ish);
	return rc;
}

/* ------------------------------------------------------------- counting */
enum { R_PARAM = 0, R_STAT, R_ARCH, R_THRESH };

int nash_graph_count(const nash_graph *g, nash_counts *c, nash_err *e)
{
	memset(c, 0, sizeof *c);
	int *role = nash_alloc((size_t)(g->ntensors + 1) * sizeof *role);
	/* only tensors a node reads count (not, e.g., a quantizer's exported
	 * integer copy of its weights, named by an attribute) */
	size_t nread = 0;
	for (int i = 0; i < g->nnodes; i++)
		nread += (size_t)g->nodes[i]->nin;
	sset read;
	ss_init(&read, nread);
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		for (int k = 0; k < n->nin; k++) {
			if (!n->in[k][0])
				continue;
			ss_add(&read, n->in[k]);
			int r = R_PARAM;
			if (strcmp(n->op, "BatchNormalization") == 0 && k >= 3)
				r = R_STAT;
			else if (strcmp(n->op, "Choice") == 0 && k == n->nin - 1)
				r = R_ARCH;
			else if ((strcmp(n->op, "MultiThreshold") == 0 || strcmp(n->op, "Thresholding") == 0) && k == 1)
				r = R_THRESH;
			else if (strcmp(n->op, "MVAU") == 0 && k == 2)
				r = R_THRESH;
			if (r == R_PARAM)
				continue;
			for (int t = 0; t < g->ntensors; t++)
				if (strcmp(g->tensors[t]->name, n->in[k]) == 0)
					role[t] = r;
		}
	}
	for (int t = 0; t < g->ntensors; t++) {
		const nash_tensor *x = g->tensors[t];
		if (!x->data || !ss_has(&read, x->name))
			continue;
		if (role[t] == R_PARAM)
			c->params += nash_tensor_numel(x);
		else if (role[t] == R_ARCH)
			c->arch_params += nash_tensor_numel(x);
	}
	free(role);
	free(read.k);
	for (int i = 0; i < g->nnodes; i++) {
		int64_t m = nash_node_macs(g, g->nodes[i]);
		if (m < 0)
			return nash_fail(e, "graph %s: node %s: shapes unknown (run inference first)", g->name,
			                 g->nodes[i]->name);
		c->macs += m;
	}
	return 0;
}

int64_t nash_node_macs(const nash_graph *g, const nash_node *n)
{
	if (strcmp(n->op, "Conv") == 0 || strcmp(n->op, "Gemm") == 0 || strcmp(n->op, "MatMul") == 0) {
		if (n->nin < 2 || n->nout < 1)
			return 0;
		const nash_tensor *w = nash_tensor_find(g, n->in[1]);
		const nash_tensor *y = nash_tensor_find(g, n->out[0]);
		if (!w || !y)
			return -1;
		if (n->op[0] == 'C')
			return w->ndim == 4 ? nash_tensor_numel(y) * w->shape[1] * w->shape[2] * w->shape[3] : 0;
		return nash_tensor_numel(w);
	}
	if (strcmp(n->op, "MVAU") == 0) {
		int64_t v[4], pix = 1;
		int nv = nash_attr_ints(n, "numInputVectors", v, 4);
		for (int k = 0; k < nv && k < 4; k++)
			pix *= v[k];
		return nash_attr_int(n, "MW", 0) * nash_attr_int(n, "MH", 0) * pix;
	}
	return 0;
}
