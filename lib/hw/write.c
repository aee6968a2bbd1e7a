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

/* Remove FIFO and width-converter nodes, reconnecting their neighbours. */
static void strip(nash_graph *g)
{
	for (int i = g->nnodes - 1; i >= 0; i--) {
		nash_node *n = g->nodes[i];
		if (!is_inserted(n) || n->nin < 1 || n->nout < 1)
			continue;
		char *in = nash_strdup(n->in[0]), *out = nash_strdup(n->out[0]);
		int is_output = 0;
		for (int k = 0; k < g->nout; k++)
			if (strcmp(g->outputs[k].name, out) == 0)
				is_output = 1;
		if (is_output) {   /* keep the graph output's name: rename upstream */
			free(in);
			free(out);
			continue;
		}
		nash_node_remove(g, i);
		nash_graph_replace_uses(g, out, in);
		const nash_tensor *t = nash_tensor_find(g, out);
		if (t && !t->data)
			nash_tensor_remove(g, out);
		free(in);
		free(out);
	}
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
	} else if (l->ram != NASH_RAM_AUTO)
		nash_attr_set_str(n, "ram_style", nash_ram_style_name(l->ram));
	if (l->tram != NASH_RAM_AUTO || nash_attr_has(n, "ram_style_thresholds"))
		nash_attr_set_str(n, "ram_style_thresholds", nash_ram_style_name(l->tram));
}

static char *unique_node_name(const nash_graph *g, const char *base)
{
	if (!nash_node_find(g, base))
		return nash_strdup(base);
	for (int i = 1;; i++) {
		char *s = nash_strfmt("%s_%d", base, i);
		if (!nash_node_find(g, s))
			return s;
		free(s);
	}
}

/* Insert a FIFO or width converter in front of input j of node c. */
static int insert(nash_graph *g, const nash_hw_layer *f, const char *consumer, int j, nash_err *e)
{
	nash_node *c = nash_node_find(g, consumer);
	if (!c || j >= c->nin)
		return nash_fail(e, "graph %s: lost layer %s while inserting FIFOs", g->name, consumer);
	char *src = nash_strdup(c->in[j]);
	const nash_tensor *t = nash_tensor_find(g, src);
	if (!t) {
		nash_fail(e, "graph %s: stream %s has no known shape", g->name, src);
		free(src);
		return -1;
	}
	char *base = nash_strfmt("%s_%s", src, f->kind == NASH_HW_FIFO ? "fifo" : "dwc");
	char *dst = nash_graph_fresh_name(g, base);
	free(base);
	nash_tensor *y = nash_tensor_annotate(g, dst, t->dtype, t->ndim, t->shape);
	t = nash_tensor_find(g, src);   /* annotate may move the table */
	y->datatype = t->datatype;
	y->transient = 1;
	char *name = unique_node_name(g, f->name);
	int pos = nash_node_index(g, c);
	const char *ins[] = { src, NULL }, *outs[] = { dst, NULL };
	nash_node *n = nash_node_insert(g, pos, nash_hw_kind_op(f->kind), name, ins, outs);
	char dt[16] = "";
	if (t->datatype.kind)
		nash_datatype_name(t->datatype, dt);
	if (f->kind == NASH_HW_FIFO) {
		nash_attr_set_int(n, "depth", f->depth);
		if (f->mem == NASH_MEM_BRAM || f->mem == NASH_MEM_URAM || f->mem == NASH_MEM_LUTRAM)
			nash_attr_set_str(n, "ram_style", f->mem == NASH_MEM_BRAM ? "block" : f->mem == NASH_MEM_URAM ? "ultra" : "distributed");
	}
	nash_attr_set_int(n, "inWidth", f->inw);
	nash_attr_set_int(n, "outWidth", f->outw);
	if (dt[0])
		nash_attr_set_str(n, "dataType", dt);
	c = nash_node_find(g, consumer);
	nash_node_set_in(c, j, dst);
	free(name);
	free(src);
	free(dst);
	return 0;
}

static nash_val *res_map(const nash_hw_res *r)
{
	nash_val *m = nash_val_map();
	nash_val_set(m, "lut", nash_val_int(r->lut));
	nash_val_set(m, "ff", nash_val_int(r->ff));
	nash_val_set(m, "bram18", nash_val_int(r->bram18));
	nash_val_set(m, "uram", nash_val_int(r->uram));
	nash_val_set(m, "dsp", nash_val_int(r->dsp));
	return m;
}

static double round2(double x)
{
	return round(x * 100.0) / 100.0;
}

static nash_val *layer_map(const nash_hw_design *d, const nash_hw_layer *l)
{
	nash_val *m = nash_val_map();
	nash_val_set(m, "name", nash_val_str(l->name));
	nash_val_set(m, "op", nash_val_str(nash_hw_kind_op(l->kind)));
	int64_t pe, simd;
	nash_hw_fold_max(l, &pe, &simd);
	if (pe)
		nash_val_set(m, "PE", nash_val_int(l->pe));
	if (simd)
		nash_val_set(m, "SIMD", nash_val_int(l->simd));
	nash_val_set(m, "cycles", nash_val_int(l->cycles));
	nash_val_set(m, "lut", nash_val_int(l->r.lut));
	nash_val_set(m, "ff", nash_val_int(l->r.ff));
	nash_val_set(m, "bram18", nash_val_int(l->r.bram18));
	nash_val_set(m, "uram", nash_val_int(l->r.uram));
	nash_val_set(m, "dsp", nash_val_int(l->r.dsp));
	nash_val_set(m, "mem", nash_val_str(nash_mem_kind_name(l->mem)));
	if (l->kind == NASH_HW_MVAU) {
		nash_val_set(m, "ram_style", nash_val_str(nash_ram_style_name(l->ram)));
		nash_val_set(m, "resType", nash_val_str(l->dsp ? "dsp" : "lut"));
	}
	if (l->kind == NASH_HW_FIFO || l->kind == NASH_HW_DWC) {
		nash_val_set(m, "from", nash_val_str(l->src >= 0 ? d->l[l->src].name : "(input)"));
		nash_val_set(m, "to", nash_val_str(d->l[l->dst].name));
		nash_val_set(m, "input", nash_val_int(l->dst_in));
		if (l->kind == NASH_HW_FIFO) {
			nash_val_set(m, "depth", nash_val_int(l->depth));
			nash_val_set(m, "width", nash_val_int(l->inw));
		} else {
			nash_val_set(m, "in_width", nash_val_int(l->inw));
			nash_val_set(m, "out_width", nash_val_int(l->outw));
		}
	}
	return m;
}

int nash_hw_write(nash_graph *g, nash_hw_design *d, int insert_nodes, const nash_val *extra, nash_err *e)
{
	strip(g);
	for (int i = 0; i < d->nreal; i++) {
		nash_node *n = nash_node_find(g, d->l[i].name);
		if (!n)
			return nash_fail(e, "graph %s: layer %s vanished", g->name, d->l[i].name);
		set_folding_attrs(n, &d->l[i]);
	}
	if (insert_nodes)
		for (int i = d->nreal; i < d->n; i++) {
			const nash_hw_layer *f = &d->l[i];
			if (insert(g, f, d->l[f->dst].name, f->dst_in, e) < 0)
				return -1;
		}
	nash_val *m = nash_val_map();
	nash_val_set(m, "part", nash_val_str(d->dev->part));
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
