/* insert.c - put Quant, BipolarQuant and Trunc nodes into a float graph
 * (the rules are nash-quant(1)'s; the operators nash-ops(7)'s). */
#include "quant/quant.h"
#include "nn/nn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXCELLS 256

typedef struct {
	nash_graph *g;
	nash_quant_opts *o;
	nash_quant_result *r;
	nash_val *mw, *ma, *madd, *mpool;   /* meta.quant maps */
	int ncells;
	struct { int cell; char *scale, *zp, *bw; } cells[MAXCELLS];
} Q;

static void qwarn(nash_quant_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void qwarn(nash_quant_result *r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	r->warn = nash_realloc(r->warn, (size_t)(r->nwarn + 1) * sizeof *r->warn);
	r->warn[r->nwarn++] = s;
}

void nash_quant_result_free(nash_quant_result *r)
{
	for (int i = 0; i < r->nwarn; i++)
		free(r->warn[i]);
	free(r->warn);
	r->warn = NULL;
	r->nwarn = 0;
}

static int is_op(const nash_node *n, const char *op) { return strcmp(n->op, op) == 0; }

static int is_quantizer(const nash_node *n)
{
	return is_op(n, "Quant") || is_op(n, "BipolarQuant") || is_op(n, "Trunc");
}

static int is_layer(const nash_node *n) { return is_op(n, "Conv") || is_op(n, "Gemm"); }

int nash_quant_present(const nash_graph *g, nash_err *e)
{
	static const char *const hw[] = {"MultiThreshold", "MVAU", "Thresholding", "ConvolutionInputGenerator",
	                                 "StreamingMaxPool", "AddStreams", "DuplicateStreams", "LabelSelect",
	                                 "QuantAvgPool", "StreamingConcat", NULL};
	const nash_node *any = NULL;
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		for (int k = 0; hw[k]; k++)
			if (is_op(n, hw[k])) {
				nash_fail(e, "graph %s is a hardware graph (node %s is %s); nash-quant takes float graphs",
				          g->name, n->name, n->op);
				return 1;
			}
		if (is_layer(n) && n->nin > 1) {
			int p = nash_graph_producer(g, n->in[1]);
			if (p >= 0 && is_quantizer(g->nodes[p])) {
				nash_fail(e, "graph %s: layer %s is already quantized (its weights pass through %s node %s); nash-quant takes float graphs",
				          g->name, n->name, g->nodes[p]->op, g->nodes[p]->name);
				return 1;
			}
		}
		if (!any && is_quantizer(n))
			any = n;
	}
	if (any) {
		nash_fail(e, "graph %s is already quantized (it has %s node %s); nash-quant takes float graphs", g->name,
		          any->op, any->name);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------- helpers */

static const char *fresh_param(nash_graph *g, const char *base, int ndim, const int64_t *shape)
{
	char *nm = nash_graph_fresh_name(g, base);
	nash_tensor *t = nash_tensor_add(g, nm, NASH_F32, ndim, shape);
	free(nm);
	return t->name;
}

static const char *scalar(nash_graph *g, const char *owner, const char *what, double v)
{
	char *base = nash_strfmt("%s.%s", owner, what);
	const char *nm = fresh_param(g, base, 0, NULL);
	free(base);
	*nash_tensor_f32(g, nm) = (float)v;
	return nm;
}

/* Insert op at pos with a fresh name made from base; its one output takes
 * the node's name. The inputs are filled in later by the caller (in may
 * name parameters created after the name is chosen). */
static nash_node *add_node(nash_graph *g, int pos, const char *op, const char *base, const char *const *in)
{
	char *nm = nash_graph_fresh_name(g, base);
	nash_node *n = nash_node_insert(g, pos, op, nm, in, (const char *[]){nm, NULL});
	free(nm);
	return n;
}

/* The role and cell of the node a quantizer belongs to. */
static void tag_like(nash_node *qn, const nash_node *n)
{
	const char *role = nash_attr_str(n, "role", NULL);
	if (role)
		nash_attr_set_str(qn, "role", role);
	if (nash_attr_has(n, "cell"))
		nash_attr_set_int(qn, "cell", nash_attr_int(n, "cell", -1));
}

/* The attributes every quantizer gets, in the order nash-dump shows them. */
static void qattrs(nash_node *qn, const char *target, const char *mode, int is_signed, int narrow)
{
	nash_attr_set_str(qn, "target", target);
	nash_attr_set_str(qn, "scale_mode", mode);
	if (is_signed < 0)
		return;
	nash_attr_set_int(qn, "signed", is_signed);
	nash_attr_set_int(qn, "narrow", narrow);
	nash_attr_set_str(qn, "rounding_mode", "ROUND");
}

static int is_param(const nash_graph *g, const char *name)
{
	const nash_tensor *t = nash_tensor_find(g, name);
	return t && t->data;
}

static int is_input(const nash_graph *g, const char *name)
{
	for (int i = 0; i < g->nin; i++)
		if (strcmp(g->inputs[i].name, name) == 0)
			return 1;
	return 0;
}

static int is_output(const nash_graph *g, const char *name)
{
	for (int i = 0; i < g->nout; i++)
		if (strcmp(g->outputs[i].name, name) == 0)
			return 1;
	return 0;
}

/* Ops that move or select values without changing their scale. */
static int passes_scale(const nash_node *n)
{
	static const char *const ops[] = {"MaxPool", "Pad", "Slice", "Flatten", "Reshape", "Identity", "Dropout",
	                                  NULL};
	for (int i = 0; ops[i]; i++)
		if (is_op(n, ops[i]))
			return 1;
	return 0;
}

/* The quantizer whose output reaches tensor through scale-preserving ops
 * (a Concat only when all its inputs share one scale tensor); NULL if none. */
static const nash_node *qsource(const nash_graph *g, const char *tensor)
{
	for (int depth = 0; depth < 1000; depth++) {
		int p = nash_graph_producer(g, tensor);
		if (p < 0)
			return NULL;
		const nash_node *n = g->nodes[p];
		if (is_quantizer(n))
			return n->nin > 1 ? n : NULL;
		if (is_op(n, "Concat") && n->nin > 0) {
			const nash_node *q0 = qsource(g, n->in[0]);
			for (int k = 1; q0 && k < n->nin; k++) {
				const nash_node *qk = qsource(g, n->in[k]);
				if (!qk || strcmp(qk->in[1], q0->in[1]) != 0)
					q0 = NULL;
			}
			return q0;
		}
		if (!passes_scale(n) || n->nin < 1)
			return NULL;
		tensor = n->in[0];
	}
	return NULL;
}

/* Does tensor come from a graph input through scale-preserving ops? */
static int reads_input(const nash_graph *g, const char *tensor)
{
	for (int depth = 0; depth < 1000; depth++) {
		if (is_input(g, tensor))
			return 1;
		int p = nash_graph_producer(g, tensor);
		if (p < 0 || !passes_scale(g->nodes[p]) || g->nodes[p]->nin < 1)
			return 0;
		tensor = g->nodes[p]->in[0];
	}
	return 0;
}

/* Does tensor reach a graph output through shape-only ops? */
static int makes_output(const nash_graph *g, const char *tensor)
{
	for (int depth = 0; depth < 1000; depth++) {
		if (is_output(g, tensor))
			return 1;
		const nash_node *next = NULL;
		int uses = 0;
		for (int i = 0; i < g->nnodes; i++)
			for (int k = 0; k < g->nodes[i]->nin; k++)
				if (strcmp(g->nodes[i]->in[k], tensor) == 0) {
					next = g->nodes[i];
					uses++;
				}
		if (uses != 1 || !(is_op(next, "Flatten") || is_op(next, "Reshape") || is_op(next, "Identity") ||
		                   is_op(next, "Dropout")))
			return 0;
		tensor = next->out[0];
	}
	return 0;
}

static double qmax_signed(int bits) { return ldexp(1.0, bits - 1) - 1; }
static double qmax_unsigned(int bits) { return ldexp(1.0, bits) - 1; }

static const char *dtname(int kind, int bits, char *buf)
{
	nash_datatype d = {kind, kind == NASH_DT_BIPOLAR ? 1 : bits};
	return nash_datatype_name(d, buf);
}

/* ------------------------------------------------------------ weights */

static int weight_bits(Q *q, const nash_node *n, int first, int last)
{
	const nash_qbits *b = &q->o->bits;
	const char *role = nash_attr_str(n, "role", "");
	int bits;
	if (last)
		bits = b->last;
	else if (first)
		bits = b->first;
	else if (strcmp(role, "downsample") == 0)
		bits = b->down;
	else if (strcmp(role, "nas") == 0)
		bits = strstr(n->name, ".skip_connect.") ? b->skip_w : b->nas_w;
	else
		bits = b->w;
	for (int i = 0; i < q->o->nov; i++) {
		nash_qoverride *v = &q->o->ov[i];
		if (v->w && nash_glob(v->glob, n->name)) {
			bits = v->w;
			v->hits_w++;
		}
	}
	return bits;
}

/* Quantize the weights of layer n (at position pos); returns the number of
 * nodes inserted before it, or -1. *wscale receives the scale tensor. */
static int quant_weights(Q *q, int pos, nash_node *n, int first, int last, const char **wscale, nash_err *e)
{
	nash_graph *g = q->g;
	nash_tensor *w = n->nin > 1 ? nash_tensor_find(g, n->in[1]) : NULL;
	if (!w || !w->data || w->dtype != NASH_F32)
		return nash_fail(e, "graph %s: layer %s: its weights %s are not a float32 parameter tensor", g->name,
		                 n->name, n->nin > 1 ? n->in[1] : "(missing)");
	int64_t numel = nash_tensor_numel(w);
	const float *wp = w->data;
	for (int64_t i = 0; i < numel; i++)
		if (!isfinite(wp[i]))
			return nash_fail(e, "graph %s: layer %s: weight %s holds %s at element %lld", g->name, n->name,
			                 w->name, isnan(wp[i]) ? "NaN" : "infinity", (long long)i);
	int bits = weight_bits(q, n, first, last);
	int conv = is_op(n, "Conv");
	/* per output channel, except the classifier (integer logits keep the
	 * class order only with one scale) and Gemm without transB */
	int per_tensor = last || w->ndim < 2 || (!conv && nash_attr_int(n, "transB", 0) != 1);
	int64_t rows = per_tensor ? 1 : w->shape[0], shape[NASH_MAXDIM];
	int ndim = per_tensor ? 0 : w->ndim;
	for (int d = 0; d < ndim; d++)
		shape[d] = d ? 1 : rows;
	char *base = nash_strfmt("%s.wq", n->name);
	nash_node *qn = bits == 1 ? add_node(g, pos, "BipolarQuant", base, (const char *[]){w->name, "", NULL})
	                          : add_node(g, pos, "Quant", base, (const char *[]){w->name, "", "", "", NULL});
	free(base);
	char *sb = nash_strfmt("%s.scale", qn->name);
	const char *s = fresh_param(g, sb, ndim, shape);
	free(sb);
	nash_qscale_stats(wp, rows, numel / rows, bits, bits == 1, nash_tensor_f32(g, s));
	nash_node_set_in(qn, 1, s);
	qattrs(qn, "weight", "stats", bits > 1 ? 1 : -1, 1);
	tag_like(qn, n);
	if (bits > 1) {
		nash_node_set_in(qn, 2, scalar(g, qn->name, "zeropt", 0));
		nash_node_set_in(qn, 3, scalar(g, qn->name, "bitwidth", bits));
	}
	nash_node_set_in(n, 1, qn->out[0]);
	*wscale = s;
	char dt[16];
	nash_val_set(q->mw, n->name, nash_val_str(dtname(bits == 1 ? NASH_DT_BIPOLAR : NASH_DT_INT, bits, dt)));
	q->r->weights++;
	q->r->binary += bits == 1;
	return 1;
}

/* Int32Bias: the bias of layer n in units of input scale x weight scale. */
static int quant_bias(Q *q, int pos, nash_node *n, const char *wscale, nash_err *e)
{
	nash_graph *g = q->g;
	if (n->nin < 3 || !n->in[2][0])
		return 0;
	nash_tensor *b = nash_tensor_find(g, n->in[2]);
	if (!b || !b->data || b->dtype != NASH_F32)
		return nash_fail(e, "graph %s: layer %s: its bias %s is not a float32 parameter tensor", g->name, n->name,
		                 n->in[2]);
	const nash_node *src = qsource(g, n->in[0]);
	const nash_tensor *sin = src ? nash_tensor_find(g, src->in[1]) : NULL;
	if (!sin || nash_tensor_numel(sin) != 1) {
		qwarn(q->r, "graph %s: layer %s: its input has no per-tensor quantizer, so its bias stays float", g->name,
		      n->name);
		return 0;
	}
	const nash_tensor *sw = nash_tensor_find(g, wscale);
	int64_t nb = nash_tensor_numel(b), ns = nash_tensor_numel(sw) == 1 ? 1 : nb;
	char *base = nash_strfmt("%s.bq", n->name);
	nash_node *qn = add_node(g, pos, "Quant", base, (const char *[]){"", "", "", "", NULL});
	free(base);
	char *sb = nash_strfmt("%s.scale", qn->name);
	const char *s = fresh_param(g, sb, ns == 1 ? 0 : 1, &nb);
	free(sb);
	const float *a = sin->data, *w = sw->data;
	float *sp = nash_tensor_f32(g, s);
	for (int64_t c = 0; c < ns; c++)
		sp[c] = a[0] * w[ns == 1 ? 0 : c];
	nash_node_set_in(qn, 0, b->name);
	nash_node_set_in(qn, 1, s);
	nash_node_set_in(qn, 2, scalar(g, qn->name, "zeropt", 0));
	nash_node_set_in(qn, 3, scalar(g, qn->name, "bitwidth", 32));
	qattrs(qn, "bias", "product", 1, 0);
	tag_like(qn, n);
	nash_val *from = nash_val_arr();
	nash_val_push(from, nash_val_str(sin->name));
	nash_val_push(from, nash_val_str(wscale));
	nash_val_set(qn->attr, "scale_from", from);
	nash_node_set_in(n, 2, qn->out[0]);
	q->r->biases++;
	return 1;
}

/* -------------------------------------------------------- activations */

/* An activation quantizer on x at pos; returns its output name. */
static const char *act_node(Q *q, int pos, const nash_node *like, const char *x, const char *base, int bits,
                            int is_signed, double range)
{
	nash_graph *g = q->g;
	char dt[16];
	if (is_signed && bits == 1) {
		nash_node *qn = add_node(g, pos, "BipolarQuant", base, (const char *[]){x, "", NULL});
		nash_node_set_in(qn, 1, scalar(g, qn->name, "scale", 1.0));
		qattrs(qn, "act", "const", -1, 0);
		tag_like(qn, like);
		nash_val_set(q->ma, qn->name, nash_val_str("BIPOLAR"));
		return qn->out[0];
	}
	nash_node *qn = add_node(g, pos, "Quant", base, (const char *[]){x, "", "", "", NULL});
	double scale = range / (is_signed ? qmax_signed(bits) : qmax_unsigned(bits));
	nash_node_set_in(qn, 1, scalar(g, qn->name, "scale", scale));
	nash_node_set_in(qn, 2, scalar(g, qn->name, "zeropt", 0));
	nash_node_set_in(qn, 3, scalar(g, qn->name, "bitwidth", bits));
	qattrs(qn, "act", "learned", is_signed, is_signed);
	tag_like(qn, like);
	nash_val_set(q->ma, qn->name, nash_val_str(dtname(is_signed ? NASH_DT_INT : NASH_DT_UINT, bits, dt)));
	return qn->out[0];
}

/* How many terms the tensor sums: the leaves of a cascade of two-input
 * Adds (seen through their adder quantizers), 1 for anything else. */
static int add_terms(const nash_graph *g, const char *t, int depth)
{
	int p = nash_graph_producer(g, t);
	if (p < 0 || depth > 64)
		return 1;
	const nash_node *n = g->nodes[p];
	if (is_op(n, "Quant") && strcmp(nash_attr_str(n, "target", ""), "adder") == 0)
		return add_terms(g, n->in[0], depth + 1);
	if (!is_op(n, "Add") || n->nin != 2)
		return 1;
	return add_terms(g, n->in[0], depth + 1) + add_terms(g, n->in[1], depth + 1);
}

static int nas_reader(const nash_node *m, int cell)
{
	return strcmp(nash_attr_str(m, "role", ""), "nas") == 0 && !is_op(m, "Choice") &&
	       nash_attr_int(m, "cell", -1) == cell;
}

/* Quantize the output of Relu or HardTanh n at position i; returns the
 * number of nodes inserted after it. */
static int quant_act(Q *q, int i, nash_node *n)
{
	nash_graph *g = q->g;
	const nash_qbits *b = &q->o->bits;
	int is_signed = is_op(n, "HardTanh"), bits = b->a, over = 0;
	for (int k = 0; k < q->o->nov; k++) {
		nash_qoverride *v = &q->o->ov[k];
		if (v->a && nash_glob(v->glob, n->name)) {
			bits = v->a;
			v->hits_a++;
			over = 1;
		}
	}
	double range = 1.0;
	if (is_signed) {
		double lo = fabs(nash_attr_float(n, "min_val", -1.0)), hi = fabs(nash_attr_float(n, "max_val", 1.0));
		range = lo > hi ? lo : hi;
		if (!(range > 0))
			range = 1.0;
	}
	/* the initial range of an unsigned quantizer: the reference code's for
	 * its bits, times the standard deviation of what the Relu sees at
	 * initialisation, sqrt(k) for a sum of k unit-variance BN outputs */
	double spread = sqrt((double)add_terms(g, n->in[0], 0));
	if (!is_signed)
		range = nash_quant_act_range(bits) * spread;
	char *x = nash_strdup(n->out[0]);
	int cell = (int)nash_attr_int(n, "cell", -1);
	int split = !is_signed && !over && cell >= 0 && b->nas_a != bits;
	int any_nas = 0;
	for (int j = i + 1; split && j < g->nnodes && !any_nas; j++)
		for (int k = 0; k < g->nodes[j]->nin; k++)
			any_nas |= strcmp(g->nodes[j]->in[k], x) == 0 && nas_reader(g->nodes[j], cell);
	split = split && any_nas;
	/* the readers, before the quantizers exist */
	int nread = 0;
	struct { nash_node *m; int k; } *rd = NULL;
	for (int j = 0; j < g->nnodes; j++)
		for (int k = 0; k < g->nodes[j]->nin; k++)
			if (strcmp(g->nodes[j]->in[k], x) == 0) {
				rd = nash_realloc(rd, (size_t)(nread + 1) * sizeof *rd);
				rd[nread].m = g->nodes[j];
				rd[nread++].k = k;
			}
	char *base = nash_strfmt("%s.aq", n->name);
	const char *y = act_node(q, i + 1, n, x, base, bits, is_signed, range);
	free(base);
	const char *ynas = NULL;
	if (split) {
		base = nash_strfmt("%s.aq_nas", n->name);
		ynas = act_node(q, i + 2, n, x, base, b->nas_a, 0, nash_quant_act_range(b->nas_a) * spread);
		free(base);
	}
	for (int r = 0; r < nread; r++)
		nash_node_set_in(rd[r].m, rd[r].k, split && nas_reader(rd[r].m, cell) ? ynas : y);
	for (int o = 0; o < g->nout; o++)
		if (strcmp(g->outputs[o].name, x) == 0) {
			free(g->outputs[o].name);
			g->outputs[o].name = nash_strdup(y);
		}
	free(rd);
	free(x);
	q->r->acts += 1 + split;
	return 1 + split;
}

/* ------------------------------------------------------------- adders */

static int cell_scale(Q *q, int cell, nash_err *e)
{
	for (int i = 0; i < q->ncells; i++)
		if (q->cells[i].cell == cell)
			return i;
	if (q->ncells == MAXCELLS)
		return nash_fail(e, "graph %s: more than %d adder cells", q->g->name, MAXCELLS);
	int bits = q->o->bits.adder, i = q->ncells++;
	char *owner = cell >= 0 ? nash_strfmt("cell%d.adder", cell) : nash_strdup("adder");
	q->cells[i].cell = cell;
	q->cells[i].scale = nash_strdup(scalar(q->g, owner, "scale", 10.0 / qmax_signed(bits)));
	q->cells[i].zp = nash_strdup(scalar(q->g, owner, "zeropt", 0));
	q->cells[i].bw = nash_strdup(scalar(q->g, owner, "bitwidth", bits));
	char dt[16];
	nash_val_set(q->madd, owner, nash_val_str(dtname(NASH_DT_INT, bits, dt)));
	free(owner);
	q->r->adder_scales++;
	return i;
}

/* Both inputs of the two-input Add n at position pos through the cell's
 * shared quantizer; returns the number of nodes inserted before it. */
static int quant_add(Q *q, int pos, nash_node *n, nash_err *e)
{
	nash_graph *g = q->g;
	int cell = (int)nash_attr_int(n, "cell", -1);
	int c = cell_scale(q, cell, e);
	if (c < 0)
		return -1;
	int made = 0;
	const char *first_out = NULL;
	for (int k = 0; k < 2; k++) {
		if (k == 1 && strcmp(n->in[1], n->in[0]) == 0 && first_out) {
			nash_node_set_in(n, 1, first_out);
			break;
		}
		char *base = nash_strfmt("%s.q%c", n->name, 'a' + k);
		nash_node *qn = add_node(g, pos + made, "Quant", base,
		                         (const char *[]){n->in[k], q->cells[c].scale, q->cells[c].zp, q->cells[c].bw, NULL});
		free(base);
		qattrs(qn, "adder", "learned", 1, 1);
		tag_like(qn, n);
		nash_node_set_in(n, k, qn->out[0]);
		first_out = qn->out[0];
		made++;
		q->r->adders++;
	}
	return made;
}

/* ---------------------------------------------------------- avg pool */

/* GlobalAveragePool n at position i -> GlobalAveragePool, Mul(K*K), Trunc;
 * returns the number of nodes inserted after it. */
static int quant_pool(Q *q, int i, nash_node *n)
{
	nash_graph *g = q->g;
	const nash_node *src = qsource(g, n->in[0]);
	nash_qparams qp;
	nash_err e2;
	/* shapes of the tensors made so far */
	const nash_tensor *x = nash_graph_infer(g, &e2) == 0 ? nash_graph_shape(g, n->in[0]) : NULL;
	if (!src || !is_op(src, "Quant") || nash_qparams_get(g, src, &qp, &e2) < 0 || qp.is_signed ||
	    nash_tensor_numel(qp.scale) != 1 || !x || x->ndim != 3) {
		qwarn(q->r, "graph %s: %s: its input is not an unsigned per-tensor quantized activation, so the pool stays float",
		      g->name, n->name);
		return 0;
	}
	double k2 = (double)(x->shape[1] * x->shape[2]);
	/* bits of the largest window sum, (2^b - 1) * K*K */
	int in_bits = (int)ceil(log2((ldexp(1.0, qp.bits) - 1) * k2 + 1));
	/* Trunc keeps the input scale, so its output is the window sum over
	 * 2^(in - out): the average times M = K*K / 2^(in - out). Automatic
	 * width: the widest with M <= 2 (larger M magnify the classifier's input
	 * and so its effective learning rate by M^2: SGD at lr 0.1 diverged at
	 * M = 4 on Fashion-MNIST), at most 8 bits. */
	int out_bits = q->o->bits.pool;
	if (!out_bits) {
		out_bits = in_bits - (int)ceil(log2(k2)) + 1;
		out_bits = out_bits > 8 ? 8 : out_bits < 1 ? 1 : out_bits;
	}
	if (out_bits > in_bits)
		out_bits = in_bits;
	char *y = nash_strdup(n->out[0]);
	char *base = nash_strfmt("%s.sum", n->name);
	nash_node *mul = add_node(g, i + 1, "Mul", base, (const char *[]){y, "", NULL});
	free(base);
	nash_node_set_in(mul, 1, scalar(g, mul->name, "window", k2));
	nash_attr_set_str(mul, "role", nash_attr_str(n, "role", "head"));
	base = nash_strfmt("%s.trunc", n->name);
	nash_node *tr = add_node(g, i + 2, "Trunc", base, (const char *[]){mul->out[0], src->in[1], "", "", "", NULL});
	free(base);
	nash_node_set_in(tr, 2, scalar(g, tr->name, "zeropt", 0));
	nash_node_set_in(tr, 3, scalar(g, tr->name, "in_bitwidth", in_bits));
	nash_node_set_in(tr, 4, scalar(g, tr->name, "out_bitwidth", out_bits));
	nash_attr_set_str(tr, "rounding_mode", "FLOOR");
	nash_attr_set_str(tr, "role", nash_attr_str(n, "role", "head"));
	for (int j = 0; j < g->nnodes; j++) {
		nash_node *m = g->nodes[j];
		if (m == mul)
			continue;
		for (int k = 0; k < m->nin; k++)
			if (strcmp(m->in[k], y) == 0)
				nash_node_set_in(m, k, tr->out[0]);
	}
	for (int o = 0; o < g->nout; o++)
		if (strcmp(g->outputs[o].name, y) == 0) {
			free(g->outputs[o].name);
			g->outputs[o].name = nash_strdup(tr->out[0]);
		}
	char dt[16];
	nash_val_set(q->mpool, n->name, nash_val_str(dtname(NASH_DT_UINT, out_bits, dt)));
	free(y);
	q->r->pools++;
	return 2;
}

/* --------------------------------------------------------------- input */

static void quant_inputs(Q *q)
{
	nash_graph *g = q->g;
	for (int i = 0; i < g->nin; i++) {
		char *x = nash_strdup(g->inputs[i].name);
		char *base = nash_strfmt("%s.q", x);
		char *out = nash_graph_fresh_name(g, base);
		nash_graph_replace_uses(g, x, out);
		nash_node *qn = nash_node_insert(g, i, "Quant", out, (const char *[]){x, "", "", "", NULL},
		                                 (const char *[]){out, NULL});
		nash_node_set_in(qn, 1, scalar(g, out, "scale", 1.0 / 255.0));
		nash_node_set_in(qn, 2, scalar(g, out, "zeropt", 0));
		nash_node_set_in(qn, 3, scalar(g, out, "bitwidth", 8));
		qattrs(qn, "input", "const", 0, 0);
		nash_attr_set_str(qn, "role", "stem");
		free(base);
		free(out);
		free(x);
		q->r->inputs++;
	}
}

/* --------------------------------------------------------------- meta */

static void spec_str(const nash_qoverride *v, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s=", v->glob);
	if (v->w)
		n += snprintf(buf + n, cap - (size_t)n, "w%d", v->w);
	if (v->a)
		snprintf(buf + n, cap - (size_t)n, "a%d", v->a);
}

static void write_meta(Q *q)
{
	nash_val *m = nash_meta(q->g, "quant");
	const nash_qbits *b = &q->o->bits;
	nash_val_set(m, "preset", nash_val_str(q->o->preset ? q->o->preset : "custom"));
	nash_val *bits = nash_val_map();
	static const char *const keys[] = {"weights", "acts", "first", "last", "downsample", "nas", "skip",
	                                   "nas_acts", "adder", "pool", "input", NULL};
	const int vals[] = {b->w, b->a, b->first, b->last, b->down, b->nas_w, b->skip_w, b->nas_a, b->adder, b->pool, 8};
	for (int i = 0; keys[i]; i++)
		nash_val_set(bits, keys[i], vals[i] ? nash_val_int(vals[i]) : nash_val_str("auto"));
	nash_val_set(m, "bits", bits);
	nash_val *ov = nash_val_arr();
	for (int i = 0; i < q->o->nov; i++) {
		char buf[512];
		spec_str(&q->o->ov[i], buf, sizeof buf);
		nash_val_push(ov, nash_val_str(buf));
	}
	nash_val_set(m, "overrides", ov);
	nash_val *c = nash_val_map();
	const nash_quant_result *r = q->r;
	nash_val_set(c, "weights", nash_val_int(r->weights));
	nash_val_set(c, "binary", nash_val_int(r->binary));
	nash_val_set(c, "acts", nash_val_int(r->acts));
	nash_val_set(c, "adders", nash_val_int(r->adders));
	nash_val_set(c, "adder_scales", nash_val_int(r->adder_scales));
	nash_val_set(c, "biases", nash_val_int(r->biases));
	nash_val_set(c, "pools", nash_val_int(r->pools));
	nash_val_set(c, "inputs", nash_val_int(r->inputs));
	nash_val_set(m, "counts", c);
	nash_val_set(m, "weights", q->mw);
	nash_val_set(m, "acts", q->ma);
	nash_val_set(m, "adders", q->madd);
	nash_val_set(m, "pools", q->mpool);
	q->mw = q->ma = q->madd = q->mpool = NULL;
}

/* ---------------------------------------------------------------- apply */

static int check_bits(const nash_graph *g, const nash_qbits *b, nash_err *e)
{
	const int v[] = {b->w, b->a, b->first, b->last, b->down, b->nas_w, b->skip_w, b->nas_a, b->pool ? b->pool : 1};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		if (v[i] < 1 || v[i] > NASH_QUANT_MAXBITS)
			return nash_fail(e, "graph %s: bit width %d is outside 1..%d", g->name, v[i], NASH_QUANT_MAXBITS);
	if (b->adder < 2 || b->adder > NASH_QUANT_MAXBITS)
		return nash_fail(e, "graph %s: adder bit width %d is outside 2..%d (the adder quantizer is signed, narrow)",
		                 g->name, b->adder, NASH_QUANT_MAXBITS);
	return 0;
}

int nash_quant_apply(nash_graph *g, nash_quant_opts *o, nash_quant_result *r, nash_err *e)
{
	memset(r, 0, sizeof *r);
	if (check_bits(g, &o->bits, e) < 0 || nash_quant_present(g, e))
		return -1;
	for (int i = 0; i < o->nov; i++)
		o->ov[i].hits_w = o->ov[i].hits_a = 0;
	/* first and last layers, decided on the float graph */
	int nl = 0;
	nash_node **layer = nash_alloc((size_t)(g->nnodes + 1) * sizeof *layer);
	char *first = nash_alloc((size_t)g->nnodes + 1), *last = nash_alloc((size_t)g->nnodes + 1);
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *n = g->nodes[i];
		if (!is_layer(n) || n->nin < 2)
			continue;
		layer[nl] = n;
		first[nl] = reads_input(g, n->in[0]);
		last[nl] = makes_output(g, n->out[0]);
		nl++;
	}
	Q q = {.g = g, .o = o, .r = r, .mw = nash_val_map(), .ma = nash_val_map(), .madd = nash_val_map(),
	       .mpool = nash_val_map()};
	int rc = 0;
	quant_inputs(&q);
	for (int i = 0; i < g->nnodes && rc == 0; i++) {
		nash_node *n = g->nodes[i];
		int made;
		if (is_layer(n) && n->nin >= 2) {
			int l = 0;
			while (l < nl && layer[l] != n)
				l++;
			const char *ws = NULL;
			made = quant_weights(&q, i, n, l < nl && first[l], l < nl && last[l], &ws, e);
			if (made >= 0) {
				i += made;
				made = quant_bias(&q, i, n, ws, e);
			}
			if (made < 0)
				rc = -1;
			else
				i += made;
		} else if (is_op(n, "Relu") || is_op(n, "HardTanh")) {
			i += quant_act(&q, i, n);
		} else if (is_op(n, "Add") && n->nin == 2 && n->in[0][0] && n->in[1][0] && !is_param(g, n->in[0]) &&
		           !is_param(g, n->in[1])) {
			made = quant_add(&q, i, n, e);
			if (made < 0)
				rc = -1;
			else
				i += made;
		} else if (is_op(n, "GlobalAveragePool")) {
			i += quant_pool(&q, i, n);
		}
	}
	free(layer);
	free(first);
	free(last);
	if (rc == 0) {
		for (int i = 0; i < g->nnodes; i++) {
			const nash_node *n = g->nodes[i];
			if (is_layer(n) && !qsource(g, n->in[0]))
				qwarn(r, "graph %s: layer %s reads an unquantized activation (%s)", g->name, n->name, n->in[0]);
		}
		write_meta(&q);
	}
	nash_val_free(q.mw);
	nash_val_free(q.ma);
	nash_val_free(q.madd);
	nash_val_free(q.mpool);
	for (int i = 0; i < q.ncells; i++) {
		free(q.cells[i].scale);
		free(q.cells[i].zp);
		free(q.cells[i].bw);
	}
	if (rc < 0)
		return -1;
	if (nash_graph_validate(g, e) < 0)
		return -1;
	return nash_quant_export(g, e) < 0 ? -1 : 0;
}
