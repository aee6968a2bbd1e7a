/* write.c - put an estimate back into the graph: folding attributes,
 * StreamingFIFO / StreamingDataWidthConverter nodes, meta.est. */
#include "hw/hw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_inserted(const nash_node *n)
{
	return strcmp(n->op, "StreamingFIFO") == 0 || strcmp(n->op, "StreamingDataWidthConverter") == 0;
}

/* A string -> pointer hash map (keys borrowed). */
typedef struct { const char **k; void **v; size_t cap, n; } smap;

static void sm_init(smap *m, size_t want)
{
	m->cap = 64;
	while (m->cap < 2 * want + 2)
		m->cap *= 2;
	m->k = nash_alloc(m->cap * sizeof *m->k);
	m->v = nash_alloc(m->cap * sizeof *m->v);
	m->n = 0;
}

static void *sm_get(const smap *m, const char *k, int *found);

static void sm_free(smap *m)
{
	free(m->k);
	free(m->v);
}

static void sm_put(smap *m, const char *k, void *v)
{
	if (2 * (m->n + 1) >= m->cap) {
		smap bigger;
		sm_init(&bigger, m->cap);
		for (size_t i = 0; i < m->cap; i++)
			if (m->k[i])
				sm_put(&bigger, m->k[i], m->v[i]);
		sm_free(m);
		*m = bigger;
	}
	size_t h = nash_hash(k) & (m->cap - 1);
	while (m->k[h] && strcmp(m->k[h], k) != 0)
		h = (h + 1) & (m->cap - 1);
	if (!m->k[h])
		m->n++;
	m->k[h] = k;
	m->v[h] = v;
}

/* Put with a private copy of the key (free with sm_free_owned). */
static void sm_put_own(smap *m, const char *k, void *v)
{
	int f;
	sm_get(m, k, &f);
	if (!f)
		sm_put(m, nash_strdup(k), v);
}

static void sm_free_owned(smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->k[i]);
	sm_free(m);
}

static void *sm_get(const smap *m, const char *k, int *found)
{
	size_t h = nash_hash(k) & (m->cap - 1);
	while (m->k[h]) {
		if (strcmp(m->k[h], k) == 0) {
			if (found)
				*found = 1;
			return m->v[h];
		}
		h = (h + 1) & (m->cap - 1);
	}
	if (found)
		*found = 0;
	return NULL;
}

/* Remove FIFO and width-converter nodes, reconnecting their neighbours in
 * one pass. Their output annotations stay (transient ones are never
 * written) and are reused by the next insertion. One that feeds a graph
 * output keeps its place (the output's name is part of the interface). */
static void strip(nash_graph *g)
{
	int any = 0;
	for (int i = 0; i < g->nnodes && !any; i++)
		any = is_inserted(g->nodes[i]);
	if (!any)
		return;
	smap outs, alias;
	sm_init(&outs, (size_t)g->nout);
	for (int k = 0; k < g->nout; k++)
		sm_put(&outs, g->outputs[k].name, NULL);
	sm_init(&alias, (size_t)g->nnodes);
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		int f;
		if (!is_inserted(n) || n->nin < 1 || n->nout < 1)
			continue;
		sm_get(&outs, n->out[0], &f);
		if (!f)
			sm_put(&alias, n->out[0], n->in[0]);
	}
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		int f = 0;
		if (is_inserted(n) && n->nout >= 1)
			sm_get(&alias, n->out[0], &f);
		if (f)
			continue;   /* goes away; its input string backs the alias map */
		for (int k = 0; k < n->nin; k++) {
			const char *t = n->in[k], *src;
			for (int guard = 0; guard < 1000 && (src = sm_get(&alias, t, NULL)); guard++)
				t = src;
			if (t != n->in[k]) {
				char *c = nash_strdup(t);
				nash_node_set_in(n, k, c);
				free(c);
			}
		}
	}
	for (int i = g->nnodes - 1; i >= 0; i--) {
		nash_node *n = g->nodes[i];
		int f = 0;
		if (is_inserted(n) && n->nout >= 1)
			sm_get(&alias, n->out[0], &f);
		if (f)
			nash_node_remove(g, i);
	}
	sm_free(&alias);
	sm_free(&outs);
}

static void set_folding_attrs(nash_node *n, const nash_hw_layer *l)
{
	int64_t pe, simd;
	nash_hw_fold_max(l, &pe, &simd);
	if (pe)
		nash_attr_set_int(n, "PE", l->pe);
	if (simd)
		nash_attr_set_int(n, "SIMD", l->simd);
	if (l->kind == NASH_HW_MVAU) {
		nash_attr_set_str(n, "ram_style", nash_ram_style_name(l->ram));
		nash_attr_set_str(n, "resType", l->dsp ? "dsp" : "lut");
		if (l->decoupled || nash_attr_has(n, "mem_mode"))
			nash_attr_set_str(n, "mem_mode", l->decoupled ? "decoupled" : "const");
	} else if (l->ram != NASH_RAM_AUTO)
		nash_attr_set_str(n, "ram_style", nash_ram_style_name(l->ram));
	if (l->tram != NASH_RAM_AUTO || nash_attr_has(n, "ram_style_thresholds"))
		nash_attr_set_str(n, "ram_style_thresholds", nash_ram_style_name(l->tram));
}

typedef struct {
	smap nodes;      /* node name -> node */
	smap names;      /* every tensor / stream / node name in use -> "used" */
	smap users;      /* stream name -> 1 if a node reads or makes it */
} names_t;

/* A name for a new stream: base, or base_1, ... not yet in use; an
 * orphaned transient annotation of that name (left by strip) is reused. */
static char *fresh(const nash_graph *g, names_t *nm, const char *base)
{
	char *s = nash_strdup(base);
	for (int i = 1;; i++) {
		int used, busy;
		sm_get(&nm->names, s, &used);
		sm_get(&nm->users, s, &busy);
		const nash_tensor *t = used && !busy ? nash_tensor_find(g, s) : NULL;
		if (!used || (t && t->transient && !t->data))
			return s;
		free(s);
		s = nash_strfmt("%s_%d", base, i);
	}
}

/* Insert a FIFO or width converter in front of input j of node c at
 * position pos. */
static int insert(nash_graph *g, names_t *nm, const nash_hw_layer *f, nash_node *c, int pos, int j, nash_err *e)
{
	char *src = nash_strdup(c->in[j]);
	const nash_tensor *t = nash_tensor_find(g, src);
	if (!t) {
		nash_fail(e, "graph %s: stream %s has no known shape", g->name, src);
		free(src);
		return -1;
	}
	char *base = nash_strfmt("%s_%s", src, f->kind == NASH_HW_FIFO ? "fifo" : "dwc");
	char *dst = fresh(g, nm, base);
	free(base);
	nash_dtype dt = t->dtype;
	nash_datatype ty = t->datatype;
	int nd = t->ndim;
	int64_t sh[NASH_MAXDIM];
	memcpy(sh, t->shape, sizeof sh);
	nash_tensor *y = nash_tensor_annotate(g, dst, dt, nd, sh);
	y->datatype = ty;
	y->transient = 1;
	char *name = nash_strdup(f->name);
	for (int i = 1; sm_get(&nm->nodes, name, NULL); i++) {
		free(name);
		name = nash_strfmt("%s_%d", f->name, i);
	}
	const char *ins[] = { src, NULL }, *outs[] = { dst, NULL };
	nash_node *n = nash_node_insert(g, pos, nash_hw_kind_op(f->kind), name, ins, outs);
	sm_put_own(&nm->nodes, n->name, n);
	sm_put_own(&nm->names, n->name, n);
	sm_put_own(&nm->names, n->out[0], n);
	sm_put_own(&nm->users, n->out[0], n);
	char dts[16] = "";
	if (ty.kind)
		nash_datatype_name(ty, dts);
	if (f->kind == NASH_HW_FIFO) {
		nash_attr_set_int(n, "depth", f->depth);
		if (f->mem == NASH_MEM_BRAM || f->mem == NASH_MEM_URAM || f->mem == NASH_MEM_LUTRAM)
			nash_attr_set_str(n, "ram_style", f->mem == NASH_MEM_BRAM ? "block" : f->mem == NASH_MEM_URAM ? "ultra" : "distributed");
	}
	nash_attr_set_int(n, "inWidth", f->inw);
	nash_attr_set_int(n, "outWidth", f->outw);
	if (dts[0])
		nash_attr_set_str(n, "dataType", dts);
	nash_node_set_in(c, j, dst);
	free(name);
	free(src);
	free(dst);
	return 0;
}

/* Append to a map whose keys are known to be new (no search). */
static void mpush(nash_val *m, const char *key, nash_val *x)
{
	if (m->u.m.n == m->u.m.cap) {
		m->u.m.cap = m->u.m.cap ? 2 * m->u.m.cap : 16;
		m->u.m.k = nash_realloc(m->u.m.k, m->u.m.cap * sizeof *m->u.m.k);
		m->u.m.v = nash_realloc(m->u.m.v, m->u.m.cap * sizeof *m->u.m.v);
	}
	m->u.m.k[m->u.m.n] = nash_val_str(key);
	m->u.m.v[m->u.m.n++] = x;
}

static nash_val *res_map(const nash_hw_res *r)
{
	nash_val *m = nash_val_map();
	mpush(m, "lut", nash_val_int(r->lut));
	mpush(m, "ff", nash_val_int(r->ff));
	mpush(m, "bram18", nash_val_int(r->bram18));
	mpush(m, "uram", nash_val_int(r->uram));
	mpush(m, "dsp", nash_val_int(r->dsp));
	return m;
}

static double round2(double x)
{
	return round(x * 100.0) / 100.0;
}

static nash_val *layer_map(const nash_hw_design *d, const nash_hw_layer *l)
{
	nash_val *m = nash_val_map();
	mpush(m, "name", nash_val_str(l->name));
	mpush(m, "op", nash_val_str(nash_hw_kind_op(l->kind)));
	int64_t pe, simd;
	nash_hw_fold_max(l, &pe, &simd);
	if (pe)
		mpush(m, "PE", nash_val_int(l->pe));
	if (simd)
		mpush(m, "SIMD", nash_val_int(l->simd));
	mpush(m, "cycles", nash_val_int(l->cycles));
	mpush(m, "lut", nash_val_int(l->r.lut));
	mpush(m, "ff", nash_val_int(l->r.ff));
	mpush(m, "bram18", nash_val_int(l->r.bram18));
	mpush(m, "uram", nash_val_int(l->r.uram));
	mpush(m, "dsp", nash_val_int(l->r.dsp));
	mpush(m, "mem", nash_val_str(nash_mem_kind_name(l->mem)));
	if (l->kind == NASH_HW_MVAU) {
		mpush(m, "ram_style", nash_val_str(nash_ram_style_name(l->ram)));
		mpush(m, "resType", nash_val_str(l->dsp ? "dsp" : "lut"));
	}
	if (l->kind == NASH_HW_FIFO || l->kind == NASH_HW_DWC) {
		mpush(m, "from", nash_val_str(l->src >= 0 ? d->l[l->src].name : "(input)"));
		mpush(m, "to", nash_val_str(d->l[l->dst].name));
		mpush(m, "input", nash_val_int(l->dst_in));
		if (l->kind == NASH_HW_FIFO) {
			mpush(m, "depth", nash_val_int(l->depth));
			mpush(m, "width", nash_val_int(l->inw));
		} else {
			mpush(m, "in_width", nash_val_int(l->inw));
			mpush(m, "out_width", nash_val_int(l->outw));
		}
	}
	return m;
}

int nash_hw_write(nash_graph *g, nash_hw_design *d, int insert_nodes, const nash_val *extra, nash_err *e)
{
	strip(g);
	names_t nm;
	sm_init(&nm.nodes, (size_t)g->nnodes + (size_t)d->n);
	sm_init(&nm.names, (size_t)(g->ntensors + 2 * g->nnodes + g->nin) + (size_t)d->n);
	sm_init(&nm.users, (size_t)(3 * g->nnodes) + (size_t)d->n);
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		sm_put_own(&nm.nodes, n->name, n);
		sm_put_own(&nm.names, n->name, n);
		for (int k = 0; k < n->nout; k++) {
			sm_put_own(&nm.names, n->out[k], n);
			sm_put_own(&nm.users, n->out[k], n);
		}
		for (int k = 0; k < n->nin; k++)
			if (n->in[k][0])
				sm_put_own(&nm.users, n->in[k], n);
	}
	for (int i = 0; i < g->ntensors; i++)
		sm_put_own(&nm.names, g->tensors[i]->name, g->tensors[i]);
	for (int i = 0; i < g->nin; i++) {
		sm_put_own(&nm.names, g->inputs[i].name, NULL);
		sm_put_own(&nm.users, g->inputs[i].name, NULL);
	}
	for (int i = 0; i < g->nout; i++)
		sm_put_own(&nm.users, g->outputs[i].name, NULL);
	int rc = 0;
	for (int i = 0; i < d->nreal && rc == 0; i++) {
		nash_node *n = sm_get(&nm.nodes, d->l[i].name, NULL);
		if (!n)
			rc = nash_fail(e, "graph %s: layer %s vanished", g->name, d->l[i].name);
		else
			set_folding_attrs(n, &d->l[i]);
	}
	if (insert_nodes)
		for (int i = d->nreal; i < d->n && rc == 0; i++) {
			const nash_hw_layer *f = &d->l[i];
			nash_node *c = sm_get(&nm.nodes, d->l[f->dst].name, NULL);
			if (!c || f->dst_in >= c->nin)
				rc = nash_fail(e, "graph %s: lost layer %s while inserting FIFOs", g->name, d->l[f->dst].name);
			else
				rc = insert(g, &nm, f, c, nash_node_index(g, c), f->dst_in, e);
		}
	sm_free_owned(&nm.nodes);
	sm_free_owned(&nm.names);
	sm_free_owned(&nm.users);
	if (rc < 0)
		return -1;
	nash_val *m = nash_val_map();
	mpush(m, "part", nash_val_str(d->dev->part));
	char board[96];
	snprintf(board, sizeof board, "%s", d->dev->boards);
	char *comma = strchr(board, ',');
	if (comma)
		*comma = 0;
	nash_val_set(m, "board", nash_val_str(board));
	nash_val_set(m, "clock_mhz", nash_val_f64(d->clock_mhz));
	nash_val_set(m, "fps", nash_val_f64(round2(d->fps)));
	nash_val_set(m, "latency_us", nash_val_f64(round2(d->latency_us)));
	nash_val_set(m, "latency_cycles", nash_val_int(d->latency_cycles));
	nash_val_set(m, "cycles", nash_val_int(d->max_cycles));
	nash_val_set(m, "bottleneck", nash_val_str(d->l[d->bottleneck].name));
	nash_val_set(m, "total", res_map(&d->total));
	nash_val *u = nash_val_map();
	for (int k = 0; k < 5; k++)
		nash_val_set(u, nash_hw_res_names[k], nash_val_f64(isfinite(d->util[k]) ? round2(d->util[k]) : -1));
	nash_val_set(m, "util", u);
	nash_val *ls = nash_val_arr();
	for (int i = 0; i < d->n; i++)
		nash_val_push(ls, layer_map(d, &d->l[i]));
	nash_val_set(m, "layers", ls);
	if (extra && extra->t == NASH_V_MAP)
		for (size_t k = 0; k < extra->u.m.n; k++) {
			const char *key = nash_val_as_str(extra->u.m.k[k]);
			if (key)
				nash_val_set(m, key, nash_val_copy(extra->u.m.v[k]));
		}
	nash_val_set(g->meta, "est", m);
	return 0;
}
