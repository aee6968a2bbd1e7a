/* export.c - integer values and refreshed scales of weight and bias
 * quantizers, stored in the graph for streamlining and QONNX export. */
#include "quant/quant.h"
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const nash_tensor *fparam(const nash_graph *g, const nash_node *n, int i, const char *what,
                                 nash_err *e)
{
	const nash_tensor *t = i < n->nin && n->in[i][0] ? nash_tensor_find(g, n->in[i]) : NULL;
	if (!t || !t->data || t->dtype != NASH_F32) {
		nash_fail(e, "graph %s: node %s (%s): %s %s must be a float32 parameter tensor", g->name, n->name,
		          n->op, what, i < n->nin ? n->in[i] : "(missing)");
		return NULL;
	}
	return t;
}

static int finite_all(const nash_graph *g, const nash_node *n, const nash_tensor *t, nash_err *e)
{
	const float *p = t->data;
	int64_t k = nash_tensor_numel(t);
	for (int64_t i = 0; i < k; i++)
		if (!isfinite(p[i]))
			return nash_fail(e, "graph %s: node %s: %s holds %s at element %lld", g->name, n->name, t->name,
			                 isnan(p[i]) ? "NaN" : "infinity", (long long)i);
	return 0;
}

/* The tensor that receives the integers: the one int_tensor names, made
 * afresh with the quantized tensor's shape. */
static nash_tensor *int_tensor(nash_graph *g, nash_node *n, const nash_tensor *like, nash_dtype dt,
                               nash_datatype dty)
{
	const char *nm = nash_attr_str(n, "int_tensor", NULL);
	char *name = NULL;
	if (nm && nm[0]) {
		const nash_tensor *old = nash_tensor_find(g, nm);
		/* never clobber a tensor some node computes or reads */
		if ((!old || old->data) && nash_graph_uses(g, nm) == 0 && nash_graph_producer(g, nm) < 0)
			name = nash_strdup(nm);
	}
	if (!name) {
		char *base = nash_strfmt("%s.int", n->name);
		name = nash_graph_fresh_name(g, base);
		free(base);
	}
	nash_tensor *t = nash_tensor_add(g, name, dt, like->ndim, like->shape);
	t->datatype = dty;
	nash_attr_set_str(n, "int_tensor", name);
	free(name);
	return t;
}

static void store(nash_tensor *t, int64_t i, double q)
{
	switch (t->dtype) {
	case NASH_I8: ((int8_t *)t->data)[i] = (int8_t)q; break;
	case NASH_U8: ((uint8_t *)t->data)[i] = (uint8_t)q; break;
	case NASH_I16: ((int16_t *)t->data)[i] = (int16_t)q; break;
	default: ((int32_t *)t->data)[i] = (int32_t)q; break;
	}
}

static int export_weight(nash_graph *g, nash_node *n, nash_err *e)
{
	const nash_tensor *w = fparam(g, n, 0, "weight", e);
	const nash_tensor *s = w ? fparam(g, n, 1, "scale", e) : NULL;
	if (!s || finite_all(g, n, w, e) < 0)
		return -1;
	int bipolar = strcmp(n->op, "BipolarQuant") == 0;
	int64_t numel = nash_tensor_numel(w), rows = nash_tensor_numel(s);
	if (rows < 1 || numel % rows || (rows > 1 && (w->ndim < 1 || w->shape[0] != rows)))
		return nash_fail(e, "graph %s: node %s: scale %s has %lld elements; a weight scale is one per output channel (%lld) or one per tensor",
		                 g->name, n->name, s->name, (long long)rows, (long long)(w->ndim ? w->shape[0] : 1));
	int64_t per = numel / rows;
	int bits = 1;
	if (!bipolar) {
		const nash_tensor *b = fparam(g, n, 3, "bitwidth", e);
		if (!b)
			return -1;
		double bv = ((const float *)b->data)[0];
		if (nash_tensor_numel(b) != 1 || !(bv >= 2 && bv <= NASH_QUANT_MAXBITS) || bv != floor(bv))
			return nash_fail(e, "graph %s: node %s: a weight quantizer's bit width must be an integer in 2..%d (1 is BipolarQuant), not %g",
			                 g->name, n->name, NASH_QUANT_MAXBITS, bv);
		bits = (int)bv;
	}
	if (strcmp(nash_attr_str(n, "scale_mode", "const"), "stats") == 0)
		nash_qscale_stats(w->data, rows, per, bits, bipolar, s->data);
	nash_qparams q;
	if (nash_qparams_get(g, n, &q, e) < 0) {
		nash_err_prefix(e, "graph %s: ", g->name);
		return -1;
	}
	if (!bipolar && strcmp(q.rounding, "ROUND") != 0)
		return nash_fail(e, "graph %s: node %s: weight quantizer with rounding_mode %s (only ROUND is exported)",
		                 g->name, n->name, q.rounding);
	nash_datatype dty = {bipolar ? NASH_DT_BIPOLAR : q.is_signed ? NASH_DT_INT : NASH_DT_UINT, bits};
	nash_tensor *t = int_tensor(g, n, w, nash_datatype_storage(dty), dty);
	const float *wp = w->data, *sp = s->data;
	for (int64_t r = 0; r < rows; r++)
		for (int64_t j = 0; j < per; j++) {
			double x = wp[r * per + j];
			store(t, r * per + j, bipolar ? (x >= 0 ? 1.0 : -1.0) : nash_quant_int(x, sp[r], q.zeropt, q.lo, q.hi));
		}
	return 0;
}

static int export_bias(nash_graph *g, nash_node *n, nash_err *e)
{
	const nash_tensor *bias = fparam(g, n, 0, "bias", e);
	const nash_tensor *s = bias ? fparam(g, n, 1, "scale", e) : NULL;
	if (!s || finite_all(g, n, bias, e) < 0)
		return -1;
	int64_t nb = nash_tensor_numel(bias), ns = nash_tensor_numel(s);
	if (ns != 1 && ns != nb)
		return nash_fail(e, "graph %s: node %s: bias scale %s has %lld elements for %lld biases", g->name, n->name,
		                 s->name, (long long)ns, (long long)nb);
	float *sp = s->data;
	if (strcmp(nash_attr_str(n, "scale_mode", "const"), "product") == 0) {
		nash_val *from = nash_val_get(n->attr, "scale_from");
		const nash_tensor *f[2] = {NULL, NULL};
		for (int k = 0; k < 2 && from && from->t == NASH_V_ARR && from->u.a.n == 2; k++) {
			const char *nm = nash_val_as_str(from->u.a.v[k]);
			f[k] = nm ? nash_tensor_find(g, nm) : NULL;
			if (f[k] && (!f[k]->data || f[k]->dtype != NASH_F32))
				f[k] = NULL;
		}
		if (!f[0] || !f[1])
			return nash_fail(e, "graph %s: node %s: scale_from must name two float32 scale tensors (input's, weight's)",
			                 g->name, n->name);
		int64_t na = nash_tensor_numel(f[0]), nw = nash_tensor_numel(f[1]);
		if ((na != 1 && na != ns) || (nw != 1 && nw != ns))
			return nash_fail(e, "graph %s: node %s: scale_from tensors %s (%lld) and %s (%lld) do not give %lld scales",
			                 g->name, n->name, f[0]->name, (long long)na, f[1]->name, (long long)nw, (long long)ns);
		const float *a = f[0]->data, *b = f[1]->data;
		for (int64_t c = 0; c < ns; c++)
			sp[c] = a[na == 1 ? 0 : c] * b[nw == 1 ? 0 : c];
	}
	nash_qparams q;
	if (nash_qparams_get(g, n, &q, e) < 0) {
		nash_err_prefix(e, "graph %s: ", g->name);
		return -1;
	}
	if (q.bipolar || strcmp(q.rounding, "ROUND") != 0 || !q.is_signed)
		return nash_fail(e, "graph %s: node %s: a bias quantizer is a signed Quant with rounding_mode ROUND",
		                 g->name, n->name);
	nash_datatype dty = {NASH_DT_INT, q.bits};
	nash_tensor *t = int_tensor(g, n, bias, nash_datatype_storage(dty), dty);
	const float *bp = bias->data;
	for (int64_t c = 0; c < nb; c++)
		store(t, c, nash_quant_int(bp[c], sp[ns == 1 ? 0 : c], q.zeropt, q.lo, q.hi));
	return 0;
}

int nash_quant_export(nash_graph *g, nash_err *e)
{
	int count = 0;
	/* weights first: bias scales are products with weight scales */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < g->nnodes; i++) {
			nash_node *n = g->nodes[i];
			if (strcmp(n->op, "Quant") != 0 && strcmp(n->op, "BipolarQuant") != 0)
				continue;
			const char *target = nash_attr_str(n, "target", "");
			if (strcmp(target, pass == 0 ? "weight" : "bias") != 0)
				continue;
			if ((pass == 0 ? export_weight(g, n, e) : export_bias(g, n, e)) < 0)
				return -1;
			count++;
		}
	return count;
}
