/* finish.c - after the passes: a diagnosis naming the first node that
 * could not be lowered and what it lacks; the datatype attributes every
 * hardware layer carries for estimation and HLS; the invariants of an
 * integer graph (integer tensors, weights within their datatype, an
 * accumulator of at most 32 bits holding every threshold). */
#include "streamline/sl_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is(const nash_node *n, const char *op) { return strcmp(n->op, op) == 0; }

static int const_op(sl_ctx *c, const nash_node *n, double **v, int64_t *nc, int *mul)
{
	int d = sl_const_op(c, n, "Mul", v, nc);
	*mul = d >= 0;
	if (d < 0)
		d = sl_const_op(c, n, "Add", v, nc);
	return d;
}

/* Why tensor t is not an integer stream, as a phrase. */
static void cause(sl_ctx *c, const char *t, char *buf, size_t n)
{
	nash_graph *g = c->g;
	for (int k = 0; k < g->nin; k++)
		if (strcmp(g->inputs[k].name, t) == 0) {
			snprintf(buf, n, "is not quantized (graph input %s has no input quantizer)", t);
			return;
		}
	nash_node *p = sl_producer(c, t);
	double *v;
	int64_t nc;
	int mul;
	int d = p ? const_op(c, p, &v, &nc, &mul) : -1;
	if (d >= 0) {
		free(v);
		if (mul && nc > 1 && sl_info(c, p->in[d])) {
			snprintf(buf, n, "has per-channel scales (the quantizer of %s has one scale per channel; "
			                 "this operation needs one scale for its whole input)", p->in[d]);
			return;
		}
		if (!mul && sl_info(c, p->in[d])) {
			snprintf(buf, n, "carries an offset (%s) that cannot move past this operation", p->name);
			return;
		}
		nash_node *q = sl_producer(c, p->in[d]);
		if (q) {
			snprintf(buf, n, "is not quantized (it comes from node %s (%s))", q->name, q->op);
			return;
		}
	}
	if (p)
		snprintf(buf, n, "is not quantized (it comes from node %s (%s))", p->name, p->op);
	else
		snprintf(buf, n, "is not quantized");
}

static int explain(sl_ctx *c, nash_node *n)
{
	nash_graph *g = c->g;
	char why[600];
	if (is(n, "Conv") || is(n, "Gemm")) {
		const nash_tensor *w = n->nin > 1 ? nash_tensor_find(g, n->in[1]) : NULL;
		if (!w || !w->data || !nash_datatype_is_int(w->datatype))
			return sl_fail(c, n, "weights are not quantized (no Quant or BipolarQuant on %s)",
			               n->nin > 1 ? n->in[1] : "?");
		if (is(n, "Conv") && nash_attr_int(n, "group", 1) != 1)
			return sl_fail(c, n, "grouped convolutions are not supported");
		if (!sl_info(c, n->in[0])) {
			cause(c, n->in[0], why, sizeof why);
			return sl_fail(c, n, "input %s", why);
		}
		return sl_fail(c, n, "cannot be lowered to an MVAU");
	}
	if (is(n, "Relu") || is(n, "HardTanh"))
		return sl_fail(c, n, "an activation without a quantizer after it: quantize its output");
	if (is(n, "Add") && n->nin == 2 && !sl_is_param(c, n->in[0]) && !sl_is_param(c, n->in[1])) {
		double *v[2] = {NULL, NULL};
		int64_t nc[2];
		int mul[2], d[2];
		for (int k = 0; k < 2; k++) {
			nash_node *p = sl_producer(c, n->in[k]);
			d[k] = p ? const_op(c, p, &v[k], &nc[k], &mul[k]) : -1;
		}
		int rc = 0;
		if (d[0] >= 0 && d[1] >= 0 && mul[0] && mul[1])
			rc = sl_fail(c, n, "operand scales differ (%.9g and %.9g): both inputs of an add need one shared "
			                   "quantizer (nash-quant's adder quantizer)", v[0][0], v[1][0]);
		for (int k = 0; k < 2; k++)
			free(d[k] >= 0 ? v[k] : NULL);
		if (rc)
			return rc;
		for (int k = 0; k < 2; k++) {
			nash_node *p = sl_producer(c, n->in[k]);
			if (!sl_info(c, n->in[k]) && !(p && d[k] >= 0 && sl_info(c, p->in[d[k]]))) {
				cause(c, n->in[k], why, sizeof why);
				return sl_fail(c, n, "input %s %s", n->in[k], why);
			}
		}
		return sl_fail(c, n, "one operand is scaled and the other is not: both inputs need one shared quantizer");
	}
	if (is(n, "MultiThreshold")) {
		cause(c, n->in[0], why, sizeof why);
		return sl_fail(c, n, "the quantizer's input %s", why);
	}
	if ((is(n, "GlobalAveragePool") || is(n, "AveragePool")) && sl_info(c, n->in[0])) {
		nash_node *m = sl_only_consumer(c, n->out[0]);
		nash_node *t = m ? sl_only_consumer(c, m->out[0]) : NULL;
		if (t && is(t, "Trunc"))
			return explain(c, t);
	}
	if (is(n, "MaxPool") || is(n, "GlobalAveragePool") || is(n, "AveragePool") || is(n, "Concat") ||
	    is(n, "Flatten")) {
		for (int k = 0; k < n->nin; k++)
			if (!sl_info(c, n->in[k])) {
				nash_node *p = sl_producer(c, n->in[k]);
				double *v;
				int64_t nc;
				int mul;
				if (is(n, "MaxPool") && p && const_op(c, p, &v, &nc, &mul) >= 0) {
					int neg = 0;
					for (int64_t j = 0; j < nc; j++)
						neg |= v[j] < 0;
					free(v);
					if (neg && mul)
						return sl_fail(c, n, "a negative scale before a max-pool (max(a x) = a max(x) needs a >= 0)");
				}
				cause(c, n->in[k], why, sizeof why);
				return sl_fail(c, n, "input %s", why);
			}
		if (is(n, "Flatten"))
			return sl_fail(c, n, "flattening a C x H x W map with C > 1 and H x W > 1 has no streaming equivalent");
		if (is(n, "AveragePool"))
			return sl_fail(c, n, "average pooling with padding, dilation or ceil_mode is not supported");
		if (is(n, "MaxPool"))
			return sl_fail(c, n, "max-pooling with dilation or ceil_mode is not supported");
		return sl_fail(c, n, "cannot be lowered");
	}
	if (is(n, "Trunc"))
		return sl_fail(c, n, "the truncation must follow a GlobalAveragePool or AveragePool and a Mul by K*K, "
		                     "quantized with the scale of the pool's input, zero point 0, rounding FLOOR");
	if (is(n, "Slice"))
		return sl_fail(c, n, "only the NASH pixel shift (starts on H and W, to the end, step 1) before convolutions "
		                     "without top/left padding can be lowered");
	if (is(n, "Pad"))
		return sl_fail(c, n, "only zero padding of channels can be lowered");
	if (is(n, "Quant") || is(n, "BipolarQuant"))
		return sl_fail(c, n, "a quantizer on a parameter that is not the weight of a convolution or Gemm");
	if (is(n, "Mul") || is(n, "Add")) {
		nash_node *u = sl_only_consumer(c, n->out[0]);
		if (u)
			return sl_fail(c, n, "a %s by a constant is left before node %s (%s), which it cannot move past",
			               is(n, "Mul") ? "scale" : "offset", u->name, u->op);
		return sl_fail(c, n, "a %s by a constant that no threshold absorbs", is(n, "Mul") ? "scale" : "offset");
	}
	if (is(n, "BatchNormalization"))
		return sl_fail(c, n, "batch normalization with computed statistics cannot be folded");
	return sl_fail(c, n, "cannot be lowered to a hardware operator");
}

/* The node to blame: the first compute node in graph order that was not
 * lowered; bare activations and flattening only when there is none; then
 * what is left (scales, layout changes). */
static int diagnose(sl_ctx *c)
{
	nash_graph *g = c->g;
	for (int cls = 0; cls < 3; cls++)
		for (int i = 0; i < g->nnodes; i++) {
			nash_node *n = g->nodes[i];
			if (sl_is_hw_op(n->op))
				continue;
			double *v;
			int64_t nc;
			int mul, k;
			if (is(n, "Relu") || is(n, "HardTanh") || is(n, "Flatten"))
				k = 1;
			else if (is(n, "Transpose"))
				k = 2;
			else if (const_op(c, n, &v, &nc, &mul) >= 0) {
				free(v);
				k = 2;
			} else
				k = 0;
			if (k == cls)
				return explain(c, n);
		}
	return 0;
}

/* ------------------------------------------------------------- datatypes */

/* The datatype labels of the streams. A stream's label holds its value
 * range; layers that pass values on unchanged (windows, copies, concats,
 * max-pools, FIFOs) carry one label on all their streams, as hardware
 * keeps one element width there: the labels of such a group are widened
 * to the union of their ranges. */
static int uf_find(int *par, int i)
{
	while (par[i] != i)
		i = par[i] = par[par[i]];
	return i;
}

static int unify_labels(sl_ctx *c)
{
	nash_graph *g = c->g;
	sl_map_free(&c->labels);
	free(c->label);
	sl_map *labels = &c->labels;
	int cap = g->ntensors + g->nin + 2 * g->nnodes + 4, n = 0;
	sl_map_init(labels, (size_t)cap);
	const char **names = nash_alloc((size_t)cap * sizeof *names);
	int *par = nash_alloc((size_t)cap * sizeof *par);
	nash_datatype *label = c->label = nash_alloc((size_t)cap * sizeof *label);
	for (int i = 0; i < g->nin; i++) {
		names[n] = g->inputs[i].name;
		sl_map_put(labels, names[n], n + 1);
		n++;
	}
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nout; k++) {
			names[n] = g->nodes[i]->out[k];
			sl_map_put(labels, names[n], n + 1);
			n++;
		}
	for (int i = 0; i < n; i++)
		par[i] = i;
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *nd = g->nodes[i];
		int group = is(nd, "ConvolutionInputGenerator") || is(nd, "DuplicateStreams") ||
		            is(nd, "StreamingConcat") || is(nd, "StreamingMaxPool") || is(nd, "StreamingFIFO") ||
		            is(nd, "StreamingDataWidthConverter");
		if (!group)
			continue;
		int a = (int)sl_map_get(labels, nd->in[0]) - 1;
		for (int k = 0; k < nd->nin + nd->nout; k++) {
			const char *t = k < nd->nin ? nd->in[k] : nd->out[k - nd->nin];
			int b = (int)sl_map_get(labels, t) - 1;
			if (a >= 0 && b >= 0)
				par[uf_find(par, b)] = uf_find(par, a);
		}
	}
	int64_t *lo = nash_alloc((size_t)n * sizeof *lo), *hi = nash_alloc((size_t)n * sizeof *hi);
	int *bip = nash_alloc((size_t)n * sizeof *bip), *other = nash_alloc((size_t)n * sizeof *other);
	for (int i = 0; i < n; i++)
		lo[i] = INT64_MAX, hi[i] = INT64_MIN;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const sl_vi *v = sl_info(c, names[i]);
		if (!v)
			continue;
		int r = uf_find(par, i);
		lo[r] = v->lo < lo[r] ? v->lo : lo[r];
		hi[r] = v->hi > hi[r] ? v->hi : hi[r];
		if (v->bipolar)
			bip[r] = 1;
		else
			other[r] = 1;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		int r = uf_find(par, i);
		if (bip[r] && other[r])
			rc = nash_fail(c->e, "graph %s: stream %s is BIPOLAR but shares a layer with streams that are not "
			               "(a concatenation of BIPOLAR and integer streams is not supported)", g->name, names[i]);
		label[i] = bip[r] ? (nash_datatype){NASH_DT_BIPOLAR, 1} : lo[r] <= hi[r] ? sl_fit(lo[r], hi[r])
		           : (nash_datatype){0, 0};
	}
	free(names);
	free(par);
	free(lo);
	free(hi);
	free(bip);
	free(other);
	return rc;
}

static nash_datatype dt_of(sl_ctx *c, const char *t)
{
	int64_t k = sl_map_get(&c->labels, t);
	return k > 0 ? c->label[k - 1] : (nash_datatype){0, 0};
}

static const char *dtn(sl_ctx *c, const char *t, char *buf)
{
	nash_datatype d = dt_of(c, t);
	return d.kind ? nash_datatype_name(d, buf) : strcpy(buf, "");
}

static int annotate_mvau(sl_ctx *c, nash_node *n)
{
	nash_graph *g = c->g;
	char a[16], b[16];
	const nash_tensor *w = nash_tensor_find(g, n->in[1]);
	const sl_vi *x = sl_info(c, n->in[0]);
	if (!w || !w->data || !nash_datatype_is_int(w->datatype))
		return sl_fail(c, n, "weights %s are not an integer tensor", n->in[1]);
	if (!x)
		return sl_fail(c, n, "input %s is not an integer stream", n->in[0]);
	const sl_wsum *s = sl_wsums(c, n->in[1], 'm');
	sl_vi acc = sl_dot_range(s, x->lo, x->hi, 0);
	if (!acc.isint)
		return sl_fail(c, n, "the accumulator range exceeds 64 bits");
	int64_t lo = acc.lo, hi = acc.hi, mw = nash_attr_int(n, "MW", 0);
	int thr = n->nin > 2 && n->in[2][0] && !nash_attr_int(n, "noActivation", 0);
	int bb = x->bipolar && w->datatype.kind == NASH_DT_BIPOLAR;
	int xnor = (int)nash_attr_int(n, "binaryXnorMode", 0);
	if (bb && thr && !nash_attr_has(n, "binaryXnorMode")) {
		/* binary weights on binary inputs: XNOR-popcount; the popcount p
		 * is (dot + MW) / 2, so dot >= T is p >= ceil((T + MW) / 2) */
		nash_tensor *t = nash_tensor_find(g, n->in[2]);
		if (t && t->data && t->dtype != NASH_F32) {
			int64_t nt = nash_tensor_numel(t);
			int64_t *q = nash_alloc((size_t)nt * sizeof *q);
			for (int64_t k = 0; k < nt; k++) {
				int64_t v = nash_tensor_int(t, k) + mw;
				q[k] = v >= 0 ? (v + 1) / 2 : -((-v) / 2);
			}
			char *tn = nash_strfmt("%s.T.xnor", n->name);
			char *fn = sl_fresh(c, tn);
			sl_param_int(g, fn, 2, t->shape, q, (nash_datatype){NASH_DT_INT, 32});
			nash_node_set_in(n, 2, fn);
			free(q);
			free(tn);
			free(fn);
			xnor = 1;
			sl_touch(c);
		}
	}
	if (xnor && !bb)
		return sl_fail(c, n, "binaryXnorMode needs BIPOLAR input and weights");
	if (xnor)
		lo = 0, hi = mw;
	if (thr) {
		const nash_tensor *t = nash_tensor_find(g, n->in[2]);
		if (!t || !t->data || t->dtype == NASH_F32)
			return sl_fail(c, n, "thresholds %s are not integers", n->in[2]);
		int64_t nt = nash_tensor_numel(t);
		for (int64_t k = 0; k < nt; k++) {
			int64_t v = nash_tensor_int(t, k);
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	}
	nash_datatype ad = nash_datatype_fit(lo, hi);
	const char *given = nash_attr_str(n, "accDataType", NULL);
	nash_datatype gd;
	if (given && nash_datatype_parse(given, &gd) == 0 && nash_datatype_is_int(gd) &&
	    (lo < nash_datatype_min(gd) || hi > nash_datatype_max(gd)))
		return sl_fail(c, n, "%s [%lld, %lld] overflow the accumulator type %s",
		               thr ? "thresholds and accumulator values" : "accumulator values", (long long)lo,
		               (long long)hi, given);
	if (ad.bits > 32)
		return sl_fail(c, n, "the accumulator needs %s (MW %lld, %s weights, %s inputs%s); more than 32 bits "
		                     "overflows the hardware accumulator",
		               nash_datatype_name(ad, a), (long long)nash_attr_int(n, "MW", 0),
		               nash_datatype_name(w->datatype, b), dtn(c, n->in[0], (char[16]){0}),
		               thr ? ", thresholds included" : "");
	nash_attr_set_str(n, "inputDataType", dtn(c, n->in[0], a));
	nash_attr_set_str(n, "weightDataType", nash_datatype_name(w->datatype, a));
	nash_attr_set_str(n, "accDataType", nash_datatype_name(ad, a));
	if (thr)
		nash_attr_set_str(n, "outputDataType", dtn(c, n->out[0], a));
	else
		nash_attr_set_str(n, "outputDataType", nash_datatype_name(ad, a));
	nash_attr_set_int(n, "noActivation", !thr);
	nash_attr_set_int(n, "binaryXnorMode", xnor);
	/* weights within their datatype */
	int64_t lo_w = nash_datatype_min(w->datatype), hi_w = nash_datatype_max(w->datatype), nw = nash_tensor_numel(w);
	if (w->dtype == NASH_F32)
		return sl_fail(c, n, "weights %s are stored as floats", w->name);
	for (int64_t k = 0; k < nw; k++) {
		int64_t v = nash_tensor_int(w, k);
		if (v < lo_w || v > hi_w || (w->datatype.kind == NASH_DT_BIPOLAR && v == 0))
			return sl_fail(c, n, "weight %lld is outside its datatype %s", (long long)v,
			               nash_datatype_name(w->datatype, a));
	}
	return 0;
}

static int annotate(sl_ctx *c)
{
	nash_graph *g = c->g;
	char a[16], b[16];
	if (unify_labels(c) < 0)
		return -1;
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		for (int k = 0; k < n->nout; k++)
			if (!sl_info(c, n->out[k]))
				return sl_fail(c, n, "output %s is not an integer stream", n->out[k]);
		for (int k = 0; k < n->nin; k++)
			if (n->in[k][0] && !sl_is_param(c, n->in[k]) && !sl_info(c, n->in[k]))
				return sl_fail(c, n, "input %s is not an integer stream", n->in[k]);
		const char *in0 = n->nin ? n->in[0] : "";
		if (is(n, "MVAU")) {
			if (annotate_mvau(c, n) < 0)
				return -1;
		} else if (is(n, "ConvolutionInputGenerator")) {
			nash_attr_set_str(n, "inputDataType", dtn(c, in0, a));
			nash_attr_set_str(n, "outputDataType", dtn(c, n->out[0], a));
		} else if (is(n, "Thresholding")) {
			const nash_tensor *t = nash_tensor_find(g, n->in[1]);
			nash_attr_set_str(n, "inputDataType", dtn(c, in0, a));
			nash_attr_set_str(n, "outputDataType", dtn(c, n->out[0], a));
			if (t)
				nash_attr_set_int(n, "numSteps", t->shape[1]);
		} else if (is(n, "StreamingMaxPool") || is(n, "DuplicateStreams") || is(n, "StreamingFIFO") ||
		           is(n, "StreamingDataWidthConverter")) {
			nash_attr_set_str(n, "dataType", dtn(c, in0, a));
		} else if (is(n, "StreamingConcat")) {
			nash_attr_set_str(n, "dataType", dtn(c, n->out[0], a));
		} else if (is(n, "AddStreams")) {
			nash_val *l = nash_val_arr();
			nash_val_push(l, nash_val_str(dtn(c, n->in[0], a)));
			nash_val_push(l, nash_val_str(dtn(c, n->in[1], b)));
			nash_val_set(n->attr, "inputDataTypes", l);
			nash_attr_set_str(n, "outputDataType", dtn(c, n->out[0], a));
		} else if (is(n, "QuantAvgPool")) {
			const sl_vi *x = sl_info(c, in0);
			int64_t k[4];
			int nk = nash_attr_ints(n, "Kernel", k, 4);
			int64_t kk = nk >= 2 ? k[0] * k[1] : nk == 1 ? k[0] * k[0] : 1;
			nash_datatype sd = nash_datatype_fit(x->lo * kk, x->hi * kk);
			nash_attr_set_str(n, "inputDataType", dtn(c, in0, a));
			nash_attr_set_str(n, "outputDataType", dtn(c, n->out[0], a));
			nash_attr_set_int(n, "AccumBits", sd.bits);
		} else if (is(n, "LabelSelect")) {
			nash_attr_set_str(n, "inputDataType", dtn(c, in0, a));
			nash_attr_set_str(n, "outputDataType", dtn(c, n->out[0], a));
		}
	}
	/* every stream labelled, written with the graph */
	for (int i = 0; i < g->nin; i++) {
		const sl_vi *v = sl_info(c, g->inputs[i].name);
		if (!v)
			return nash_fail(c->e, "graph %s: input %s is not an integer stream", g->name, g->inputs[i].name);
		g->inputs[i].datatype = dt_of(c, g->inputs[i].name);
		g->inputs[i].dtype = nash_datatype_storage(g->inputs[i].datatype);
	}
	for (int i = 0; i < g->ntensors; i++) {
		nash_tensor *t = g->tensors[i];
		if (t->data) {
			if (t->dtype == NASH_F32)
				return nash_fail(c->e, "graph %s: parameter %s is still float", g->name, t->name);
			continue;
		}
		const sl_vi *v = sl_info(c, t->name);
		if (!v)
			continue;
		t->datatype = dt_of(c, t->name);
		if (!t->datatype.kind)
			continue;
		t->dtype = nash_datatype_storage(t->datatype);
		t->transient = 0;
	}
	for (int i = 0; i < g->nout; i++) {
		const sl_vi *v = sl_info(c, g->outputs[i].name);
		if (!v)
			return nash_fail(c->e, "graph %s: output %s is not an integer stream", g->name, g->outputs[i].name);
		g->outputs[i].datatype = dt_of(c, g->outputs[i].name);
		g->outputs[i].dtype = nash_datatype_storage(g->outputs[i].datatype);
	}
	sl_touch(c);
	return 0;
}

int sl_finish(sl_ctx *c)
{
	if (sl_refresh(c) < 0)
		return -1;
	nash_graph *g = c->g;
	for (int i = 0; i < g->nnodes; i++)
		if (!sl_is_hw_op(g->nodes[i]->op))
			return diagnose(c) < 0 ? -1 : sl_fail(c, g->nodes[i], "cannot be lowered to a hardware operator");
	for (int i = 0; i < g->nin; i++)
		if (!sl_info(c, g->inputs[i].name))
			return nash_fail(c->e, "graph %s: input %s is not quantized (no input quantizer)", g->name,
			                 g->inputs[i].name);
	if (annotate(c) < 0)
		return -1;
	return sl_refresh(c);
}
