/* export.c - a quantized float-level nash graph as a QONNX model. */
#include "onnx/priv.h"
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The attributes a standard or QONNX op may carry in ONNX, with their
 * types: i int, f float, s string, I ints, F floats. Anything else a nash
 * node carries goes to the "nash.graph" metadata only. */
typedef struct { const char *name; char type; } ox_attrdef;
typedef struct { const char *op; int qonnx; ox_attrdef attrs[8]; } ox_opdef;

static const ox_opdef opdefs[] = {
	{"Conv", 0, {{"kernel_shape", 'I'}, {"strides", 'I'}, {"pads", 'I'}, {"dilations", 'I'}, {"group", 'i'}}},
	{"BatchNormalization", 0, {{"epsilon", 'f'}, {"momentum", 'f'}}},
	{"Relu", 0, {{0, 0}}},
	{"MaxPool", 0, {{"kernel_shape", 'I'}, {"strides", 'I'}, {"pads", 'I'}, {"dilations", 'I'},
	                {"ceil_mode", 'i'}, {"storage_order", 'i'}}},
	{"AveragePool", 0, {{"kernel_shape", 'I'}, {"strides", 'I'}, {"pads", 'I'}, {"ceil_mode", 'i'},
	                    {"count_include_pad", 'i'}}},
	{"GlobalAveragePool", 0, {{0, 0}}},
	{"Add", 0, {{0, 0}}},
	{"Mul", 0, {{0, 0}}},
	{"Concat", 0, {{"axis", 'i'}}},
	{"Flatten", 0, {{"axis", 'i'}}},
	{"Gemm", 0, {{"alpha", 'f'}, {"beta", 'f'}, {"transA", 'i'}, {"transB", 'i'}}},
	{"MatMul", 0, {{0, 0}}},
	{"Identity", 0, {{0, 0}}},
	{"HardTanh", 0, {{0, 0}}},          /* becomes Clip or disappears */
	{"Slice", 0, {{0, 0}}},             /* attributes become inputs */
	{"Pad", 0, {{0, 0}}},
	{"Quant", 1, {{"signed", 'i'}, {"narrow", 'i'}, {"rounding_mode", 's'}}},
	{"BipolarQuant", 1, {{0, 0}}},
	{"Trunc", 1, {{"rounding_mode", 's'}}},
	{"MultiThreshold", 1, {{"out_scale", 'f'}, {"out_bias", 'f'}, {"out_dtype", 's'}}},
	{NULL, 0, {{0, 0}}}
};

static const ox_opdef *opdef(const char *op)
{
	for (int i = 0; opdefs[i].op; i++)
		if (strcmp(opdefs[i].op, op) == 0)
			return &opdefs[i];
	return NULL;
}

typedef struct ex {
	ox_arena a;
	const nash_graph *g;
	int opset;
	ox_vec nodes, inits, vinfo, annots;
	ox_set inited;       /* tensors already written as initializers */
	ox_set names;        /* names of generated initializers */
	const char **alias;  /* per tensor renames for elided nodes: pairs from, to */
	int nalias;
} ex;

static const char *alias_of(const ex *x, const char *name)
{
	for (int i = 0; i < x->nalias; i++)
		if (strcmp(x->alias[2 * i], name) == 0)
			return x->alias[2 * i + 1];
	return name;
}

/* ---------------------------------------------------------- builders */

static Onnx__AttributeProto *attr_new(ex *x, const char *name, Onnx__AttributeProto__AttributeType t)
{
	Onnx__AttributeProto *a = ox_alloc(&x->a, sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = ox_strdup(&x->a, name);
	a->has_type = 1;
	a->type = t;
	return a;
}

static Onnx__AttributeProto *attr_i(ex *x, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = attr_new(x, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	a->has_i = 1;
	a->i = v;
	return a;
}

static Onnx__AttributeProto *attr_f(ex *x, const char *name, double v)
{
	Onnx__AttributeProto *a = attr_new(x, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	a->has_f = 1;
	a->f = (float)v;
	return a;
}

static Onnx__AttributeProto *attr_s(ex *x, const char *name, const char *v)
{
	Onnx__AttributeProto *a = attr_new(x, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	a->has_s = 1;
	a->s.len = strlen(v);
	a->s.data = (uint8_t *)ox_strdup(&x->a, v);
	return a;
}

static Onnx__AttributeProto *attr_ints(ex *x, const char *name, int n, const int64_t *v)
{
	Onnx__AttributeProto *a = attr_new(x, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	a->ints = ox_alloc(&x->a, ((size_t)n + 1) * sizeof *a->ints);
	a->n_ints = (size_t)n;
	memcpy(a->ints, v, (size_t)n * sizeof *v);
	return a;
}

/* The ONNX attribute of type t for a nash value; NULL if it does not fit. */
static Onnx__AttributeProto *attr_from_val(ex *x, const char *name, char t, const nash_val *v)
{
	if (t == 'i' && nash_val_is_num(v)) {
		double d = nash_val_as_f64(v, 0);
		if (d != floor(d))
			return NULL;
		return attr_i(x, name, nash_val_as_int(v, 0));
	}
	if (t == 'f' && nash_val_is_num(v))
		return attr_f(x, name, nash_val_as_f64(v, 0));
	if (t == 's' && v->t == NASH_V_STR)
		return attr_s(x, name, nash_val_as_str(v));
	if ((t == 'I' || t == 'F') && v->t == NASH_V_ARR) {
		size_t n = v->u.a.n;
		Onnx__AttributeProto *a = attr_new(x, name, t == 'I' ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
		                                                      : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
		if (t == 'I') {
			a->ints = ox_alloc(&x->a, (n + 1) * sizeof *a->ints);
			a->n_ints = n;
		} else {
			a->floats = ox_alloc(&x->a, (n + 1) * sizeof *a->floats);
			a->n_floats = n;
		}
		for (size_t i = 0; i < n; i++) {
			const nash_val *e = v->u.a.v[i];
			if (!nash_val_is_num(e))
				return NULL;
			if (t == 'I') {
				if (nash_val_as_f64(e, 0) != floor(nash_val_as_f64(e, 0)))
					return NULL;
				a->ints[i] = nash_val_as_int(e, 0);
			} else
				a->floats[i] = (float)nash_val_as_f64(e, 0);
		}
		return a;
	}
	return NULL;
}

static Onnx__NodeProto *node_new(ex *x, const char *op, const char *name, const char *domain, int nin, int nout)
{
	Onnx__NodeProto *n = ox_alloc(&x->a, sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = ox_strdup(&x->a, op);
	n->name = ox_strdup(&x->a, name);
	if (domain)
		n->domain = ox_strdup(&x->a, domain);
	n->n_input = (size_t)nin;
	n->input = ox_alloc(&x->a, ((size_t)nin + 1) * sizeof(char *));
	n->n_output = (size_t)nout;
	n->output = ox_alloc(&x->a, ((size_t)nout + 1) * sizeof(char *));
	n->attribute = ox_alloc(&x->a, 16 * sizeof *n->attribute);
	ox_push(&x->nodes, n);
	return n;
}

static void node_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
	if (a && n->n_attribute < 16)
		n->attribute[n->n_attribute++] = a;
}

static Onnx__TensorProto *tensor_new(ex *x, const char *name, int type, int ndim, const int64_t *shape)
{
	Onnx__TensorProto *t = ox_alloc(&x->a, sizeof *t);
	onnx__tensor_proto__init(t);
	t->name = ox_strdup(&x->a, name);
	t->has_data_type = 1;
	t->data_type = type;
	t->n_dims = (size_t)ndim;
	t->dims = ox_alloc(&x->a, ((size_t)ndim + 1) * sizeof *t->dims);
	if (ndim)
		memcpy(t->dims, shape, (size_t)ndim * sizeof *shape);
	return t;
}

/* A parameter of g as an initializer (once), with its raw data. */
static void init_param(ex *x, const nash_tensor *t)
{
	if (!ox_set_add(&x->inited, t->name))
		return;
	Onnx__TensorProto *p = tensor_new(x, t->name, ox_onnx_type(t->dtype), t->ndim, t->shape);
	p->has_raw_data = 1;
	p->raw_data.len = nash_tensor_nbytes(t);
	p->raw_data.data = t->data;  /* little endian already; borrowed */
	ox_push(&x->inits, p);
}

/* A fresh initializer name from base, unused by g and earlier ones. */
static const char *fresh(ex *x, const char *base)
{
	char *s = nash_graph_fresh_name(x->g, base);
	for (int k = 1; ox_set_has(&x->names, s); k++) {
		free(s);
		char *b = nash_strfmt("%s_%d", base, k);
		s = nash_graph_fresh_name(x->g, b);
		free(b);
	}
	const char *r = ox_strdup(&x->a, s);
	free(s);
	ox_set_add(&x->names, r);
	return r;
}

static const char *init_i64(ex *x, const char *base, int n, const int64_t *v)
{
	int64_t d = n;
	Onnx__TensorProto *p = tensor_new(x, fresh(x, base), ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, &d);
	p->has_raw_data = 1;
	p->raw_data.len = (size_t)n * 8;
	p->raw_data.data = ox_alloc(&x->a, (size_t)n * 8 + 1);
	memcpy(p->raw_data.data, v, (size_t)n * 8);
	ox_push(&x->inits, p);
	return p->name;
}

static const char *init_f32(ex *x, const char *base, float v)
{
	Onnx__TensorProto *p = tensor_new(x, fresh(x, base), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL);
	p->has_raw_data = 1;
	p->raw_data.len = 4;
	p->raw_data.data = ox_alloc(&x->a, 4);
	memcpy(p->raw_data.data, &v, 4);
	ox_push(&x->inits, p);
	return p->name;
}

static Onnx__ValueInfoProto *vinfo_new(ex *x, const char *name, int type, int ndim, const int64_t *shape, int batch)
{
	Onnx__ValueInfoProto *v = ox_alloc(&x->a, sizeof *v);
	onnx__value_info_proto__init(v);
	v->name = ox_strdup(&x->a, name);
	Onnx__TypeProto *tp = ox_alloc(&x->a, sizeof *tp);
	onnx__type_proto__init(tp);
	Onnx__TypeProto__Tensor *tt = ox_alloc(&x->a, sizeof *tt);
	onnx__type_proto__tensor__init(tt);
	tt->has_elem_type = 1;
	tt->elem_type = type;
	Onnx__TensorShapeProto *sp = ox_alloc(&x->a, sizeof *sp);
	onnx__tensor_shape_proto__init(sp);
	sp->n_dim = (size_t)ndim + (batch != 0);
	sp->dim = ox_alloc(&x->a, (sp->n_dim + 1) * sizeof *sp->dim);
	for (size_t i = 0; i < sp->n_dim; i++) {
		Onnx__TensorShapeProto__Dimension *d = ox_alloc(&x->a, sizeof *d);
		onnx__tensor_shape_proto__dimension__init(d);
		d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		d->dim_value = batch && i == 0 ? 1 : shape[i - (batch != 0)];  /* batch 1 first */
		sp->dim[i] = d;
	}
	tt->shape = sp;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	v->type = tp;
	return v;
}

/* FINN's datatype annotation of a tensor. */
static void annotate(ex *x, const char *tensor, nash_datatype d)
{
	char buf[16];
	if (!d.kind)
		return;
	Onnx__TensorAnnotation *a = ox_alloc(&x->a, sizeof *a);
	onnx__tensor_annotation__init(a);
	a->tensor_name = ox_strdup(&x->a, tensor);
	Onnx__StringStringEntryProto *kv = ox_alloc(&x->a, sizeof *kv);
	onnx__string_string_entry_proto__init(kv);
	kv->key = ox_strdup(&x->a, "finn_datatype");
	kv->value = ox_strdup(&x->a, nash_datatype_name(d, buf));
	a->n_quant_parameter_tensor_names = 1;
	a->quant_parameter_tensor_names = ox_alloc(&x->a, sizeof(void *));
	a->quant_parameter_tensor_names[0] = kv;
	ox_push(&x->annots, a);
}

/* ------------------------------------------------------------ checks */

static int is_quantizer(const char *op)
{
	return !strcmp(op, "Quant") || !strcmp(op, "BipolarQuant") || !strcmp(op, "Trunc");
}

static int is_param(const nash_graph *g, const char *name)
{
	const nash_tensor *t = name[0] ? nash_tensor_find(g, name) : NULL;
	return t && t->data;
}

/* The quantizer nodes of g read their scale, zero point and bit widths
 * from parameters, and a Quant has a QONNX meaning. */
static int check_quantizer(const nash_graph *g, const nash_node *n, nash_err *e)
{
	static const char *const qin[] = {"x", "scale", "zero point", "bit width", "out bit width"};
	int need = !strcmp(n->op, "Quant") ? 4 : !strcmp(n->op, "Trunc") ? 5 : 2;
	if (n->nin != need)
		return nash_fail(e, "node %s (%s): has %d inputs, QONNX's %s has %d", n->name, n->op, n->nin, n->op, need);
	for (int i = 1; i < need; i++)
		if (!is_param(g, n->in[i]))
			return nash_fail(e, "node %s (%s): the %s input %s must be a parameter tensor", n->name, n->op,
			                 qin[i], n->in[i][0] ? n->in[i] : "\"\"");
	if (!strcmp(n->op, "Trunc"))
		return 0;
	nash_qparams q;
	if (nash_qparams_get(g, n, &q, e) < 0)
		return -1;
	if (!q.bipolar && q.bits == 1 && q.is_signed)
		return nash_fail(e, "node %s (Quant): a 1-bit signed Quant has no QONNX form (QONNX reads it as bipolar); use BipolarQuant",
		                 n->name);
	return 0;
}

/* A HardTanh can be left out when every consumer is a quantizer whose
 * output range lies inside [min_val, max_val]: the quantizer then clamps
 * to the same values (see nash-onnx(1)). */
static int hardtanh_redundant(const nash_graph *g, const nash_node *h)
{
	double lo_v = nash_attr_float(h, "min_val", -1), hi_v = nash_attr_float(h, "max_val", 1);
	const char *y = h->out[0];
	int uses = 0;
	for (int i = 0; i < g->nout; i++)
		if (!strcmp(g->outputs[i].name, y))
			return 0;
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		for (int k = 0; k < n->nin; k++) {
			if (strcmp(n->in[k], y))
				continue;
			uses++;
			nash_qparams q;
			if (k != 0 || (strcmp(n->op, "Quant") && strcmp(n->op, "BipolarQuant")) ||
			    nash_qparams_get(g, n, &q, NULL) < 0 || q.zeropt != 0)
				return 0;
			if (q.bipolar) {
				if (!(lo_v < 0 && hi_v >= 0))
					return 0;
				continue;
			}
			const float *s = q.scale->data;
			for (int64_t c = 0; c < nash_tensor_numel(q.scale); c++)
				if (q.lo * (double)s[c] < lo_v || q.hi * (double)s[c] > hi_v)
					return 0;
		}
	}
	return uses > 0;
}

/* ------------------------------------------------------------ nodes */

/* The single consumer of tensor t, or NULL (none, several, a graph output). */
static const nash_node *only_user(const nash_graph *g, const char *t)
{
	const nash_node *u = NULL;
	for (int i = 0; i < g->nout; i++)
		if (!strcmp(g->outputs[i].name, t))
			return NULL;
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; k < g->nodes[i]->nin; k++)
			if (!strcmp(g->nodes[i]->in[k], t)) {
				if (u)
					return NULL;
				u = g->nodes[i];
			}
	return u;
}

/* A pool that starts nash's quantized average pool: pool, Mul by a scalar
 * parameter, Trunc. FINN's builder turns exactly AveragePool, Mul, Trunc
 * into its QuantAvgPool2d. */
static int quant_pool(const nash_graph *g, const nash_node *n)
{
	const nash_node *m = only_user(g, n->out[0]);
	if (!m || strcmp(m->op, "Mul") || m->nin != 2 || !is_param(g, m->in[1]) ||
	    nash_tensor_numel(nash_tensor_find(g, m->in[1])) != 1)
		return 0;
	const nash_node *t = only_user(g, m->out[0]);
	return t && !strcmp(t->op, "Trunc");
}

static void std_attrs(ex *x, Onnx__NodeProto *p, const nash_node *n, const ox_opdef *d)
{
	for (int i = 0; i < 8 && d->attrs[i].name; i++) {
		const nash_val *v = nash_val_get(n->attr, d->attrs[i].name);
		if (v)
			node_attr(p, attr_from_val(x, d->attrs[i].name, d->attrs[i].type, v));
	}
}

static int emit_node(ex *x, const nash_node *n, nash_err *e)
{
	const nash_graph *g = x->g;
	const ox_opdef *d = opdef(n->op);
	if (!strcmp(n->op, "Choice"))
		return nash_fail(e, "node %s (Choice): a supernet has no QONNX form; derive the network first (nash-train --search)",
		                 n->name);
	if (!d)
		return nash_fail(e, "node %s (%s): op %s has no QONNX export (only float-level graphs before nash-stream)",
		                 n->name, n->op, n->op);
	if (is_quantizer(n->op) && check_quantizer(g, n, e) < 0)
		return -1;
	for (int i = 0; i < n->nin; i++)
		if (is_param(g, n->in[i]))
			init_param(x, nash_tensor_find(g, n->in[i]));
	Onnx__NodeProto *p;
	const nash_tensor *in0 = n->nin ? nash_graph_shape(g, n->in[0]) : NULL;
	if (!strcmp(n->op, "GlobalAveragePool") && quant_pool(g, n) && in0 && in0->ndim == 3 &&
	    in0->shape[1] == in0->shape[2]) {
		/* as AveragePool over the whole (square) map, the form FINN reads */
		int64_t k[2] = {in0->shape[1], in0->shape[2]}, pads[4] = {0, 0, 0, 0};
		p = node_new(x, "AveragePool", n->name, NULL, 1, 1);
		p->input[0] = ox_strdup(&x->a, alias_of(x, n->in[0]));
		node_attr(p, attr_ints(x, "kernel_shape", 2, k));
		node_attr(p, attr_ints(x, "strides", 2, k));
		node_attr(p, attr_ints(x, "pads", 4, pads));
	} else if (!strcmp(n->op, "AveragePool") && quant_pool(g, n)) {
		/* FINN wants strides and pads spelled out */
		int64_t one[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
		p = node_new(x, "AveragePool", n->name, NULL, 1, 1);
		p->input[0] = ox_strdup(&x->a, alias_of(x, n->in[0]));
		std_attrs(x, p, n, d);
		if (!nash_attr_has(n, "strides"))
			node_attr(p, attr_ints(x, "strides", 2, one));
		if (!nash_attr_has(n, "pads"))
			node_attr(p, attr_ints(x, "pads", 4, pads));
	} else if (!strcmp(n->op, "HardTanh")) {
		p = node_new(x, "Clip", n->name, NULL, 3, 1);
		p->input[0] = ox_strdup(&x->a, alias_of(x, n->in[0]));
		char *b = nash_strfmt("%s.min", n->name);
		p->input[1] = (char *)init_f32(x, b, (float)nash_attr_float(n, "min_val", -1));
		free(b);
		b = nash_strfmt("%s.max", n->name);
		p->input[2] = (char *)init_f32(x, b, (float)nash_attr_float(n, "max_val", 1));
		free(b);
	} else if (!strcmp(n->op, "Slice")) {
		int64_t st[8], en[8], ax[8], sp[8];
		int ns = nash_attr_ints(n, "starts", st, 8), ne = nash_attr_ints(n, "ends", en, 8);
		int na = nash_attr_ints(n, "axes", ax, 8), np = nash_attr_ints(n, "steps", sp, 8);
		p = node_new(x, "Slice", n->name, NULL, 3 + (na >= 0 || np >= 0) + (np >= 0), 1);
		p->input[0] = ox_strdup(&x->a, alias_of(x, n->in[0]));
		const char *names[] = {"starts", "ends", "axes", "steps"};
		const int64_t *vals[] = {st, en, ax, sp};
		int cnt[] = {ns, ne, na, np};
		if (na < 0 && np >= 0) {  /* steps without axes: axes 0..n-1 */
			for (int i = 0; i < ns; i++)
				ax[i] = i;
			cnt[2] = ns;
		}
		for (int k = 0; k < 4 && (size_t)k + 1 < p->n_input; k++) {
			char *b = nash_strfmt("%s.%s", n->name, names[k]);
			p->input[k + 1] = (char *)init_i64(x, b, cnt[k], vals[k]);
			free(b);
		}
	} else if (!strcmp(n->op, "Pad")) {
		int64_t pads[2 * (NASH_MAXDIM + 1)];
		int c = nash_attr_ints(n, "pads", pads, 2 * (NASH_MAXDIM + 1));
		double v = nash_attr_float(n, "value", 0);
		p = node_new(x, "Pad", n->name, NULL, v != 0 ? 3 : 2, 1);
		p->input[0] = ox_strdup(&x->a, alias_of(x, n->in[0]));
		char *b = nash_strfmt("%s.pads", n->name);
		p->input[1] = (char *)init_i64(x, b, c, pads);
		free(b);
		if (v != 0) {
			b = nash_strfmt("%s.value", n->name);
			p->input[2] = (char *)init_f32(x, b, (float)v);
			free(b);
		}
		node_attr(p, attr_s(x, "mode", "constant"));
	} else {
		p = node_new(x, n->op, n->name, d->qonnx ? NASH_QONNX_DOMAIN : NULL, n->nin, n->nout);
		for (int i = 0; i < n->nin; i++)
			p->input[i] = ox_strdup(&x->a, alias_of(x, n->in[i]));
		if (!strcmp(n->op, "Quant")) {
			/* QONNX wants every attribute spelled out (narrow has no agreed default) */
			node_attr(p, attr_i(x, "signed", nash_attr_int(n, "signed", 1) != 0));
			node_attr(p, attr_i(x, "narrow", nash_attr_int(n, "narrow", 0) != 0));
			node_attr(p, attr_s(x, "rounding_mode", nash_attr_str(n, "rounding_mode", "ROUND")));
		} else if (!strcmp(n->op, "Trunc")) {
			node_attr(p, attr_s(x, "rounding_mode", nash_attr_str(n, "rounding_mode", "FLOOR")));
		} else if (!strcmp(n->op, "MultiThreshold")) {
			std_attrs(x, p, n, d);
			if (!nash_attr_has(n, "out_dtype"))
				node_attr(p, attr_s(x, "out_dtype", "FLOAT32"));
			node_attr(p, attr_s(x, "data_layout", "NCHW"));
		} else
			std_attrs(x, p, n, d);
	}
	for (int i = 0; i < n->nout; i++)
		p->output[i] = ox_strdup(&x->a, n->out[i]);
	return 0;
}

/* -------------------------------------------------------------- model */

/* The graph's record without tensor data: what ONNX has no room for. */
static char *skeleton(const nash_graph *g, nash_err *e)
{
	nash_graph *s = nash_graph_copy(g);
	for (int i = 0; i < s->ntensors; i++) {
		free(s->tensors[i]->data);
		s->tensors[i]->data = NULL;
	}
	unsigned char *buf;
	size_t n;
	int rc = nash_encode_graph(s, &buf, &n, e);
	nash_graph_free(s);
	if (rc < 0)
		return NULL;
	char *b = ox_b64_encode(buf, n);
	free(buf);
	return b;
}

static int ir_version(int opset)
{
	return opset <= 11 ? 6 : opset <= 14 ? 7 : 8;
}

int nash_onnx_export(const nash_graph *g, const nash_onnx_export_opts *o,
                     unsigned char **buf, size_t *nbuf, nash_err *e)
{
	nash_onnx_export_opts def = {0};
	if (!o)
		o = &def;
	ex x = {0};
	x.g = g;
	x.opset = o->opset ? o->opset : NASH_ONNX_OPSET_DEFAULT;
	if (x.opset < NASH_ONNX_EXPORT_MIN || x.opset > NASH_ONNX_EXPORT_MAX)
		return nash_fail(e, "graph %s: opset %d is outside %d..%d", g->name, x.opset, NASH_ONNX_EXPORT_MIN,
		                 NASH_ONNX_EXPORT_MAX);
	int nq = 0;
	for (int i = 0; i < g->nnodes; i++)
		nq += is_quantizer(g->nodes[i]->op);
	if (nq == 0)
		return nash_fail(e, "graph %s: no quantizers (Quant, BipolarQuant, Trunc): QONNX export wants a quantized graph; run nash-quant first",
		                 g->name);
	x.alias = nash_alloc(2 * sizeof(char *) * (size_t)(g->nnodes + 1));
	int rc = 0;
	for (int i = 0; i < g->nnodes && rc == 0; i++) {
		const nash_node *n = g->nodes[i];
		if (!strcmp(n->op, "HardTanh") && n->nin == 1 && n->nout == 1 && hardtanh_redundant(g, n)) {
			x.alias[2 * x.nalias] = n->out[0];
			x.alias[2 * x.nalias + 1] = alias_of(&x, n->in[0]);
			x.nalias++;
			continue;
		}
		rc = emit_node(&x, n, e);
	}
	char *skel = NULL;
	if (rc == 0 && !o->no_nash && !(skel = skeleton(g, e)))
		rc = -1;
	if (rc < 0) {
		nash_err_prefix(e, "graph %s: ", g->name);
		goto out;
	}

	Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
	gp.name = g->name;
	gp.n_node = x.nodes.n;
	gp.node = (Onnx__NodeProto **)x.nodes.v;
	gp.n_initializer = x.inits.n;
	gp.initializer = (Onnx__TensorProto **)x.inits.v;
	ox_vec ins = {0}, outs = {0};
	for (int i = 0; i < g->nin; i++) {
		const nash_io *io = &g->inputs[i];
		ox_push(&ins, vinfo_new(&x, io->name, ox_onnx_type(io->dtype), io->ndim, io->shape, 1));
		annotate(&x, io->name, io->datatype);
	}
	for (int i = 0; i < g->nout; i++) {
		const char *name = alias_of(&x, g->outputs[i].name);
		const nash_tensor *t = nash_graph_shape(g, name);
		ox_push(&outs, vinfo_new(&x, name, t ? ox_onnx_type(t->dtype) : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
		                         t ? t->ndim : 0, t ? t->shape : NULL, 1));
		annotate(&x, name, g->outputs[i].datatype);
	}
	/* value_info of every intermediate tensor: shapes for readers; those
	 * computed from the graph input (activations) get the batch */
	ox_set act = {0};
	for (int i = 0; i < g->nin; i++)
		ox_set_add(&act, g->inputs[i].name);
	for (size_t i = 0; i < x.nodes.n; i++) {
		const Onnx__NodeProto *p = x.nodes.v[i];
		int isact = 0;
		for (size_t k = 0; k < p->n_input; k++)
			isact |= ox_set_has(&act, p->input[k]);
		for (size_t k = 0; k < p->n_output; k++) {
			int isout = 0;
			if (isact)
				ox_set_add(&act, p->output[k]);
			for (int j = 0; j < g->nout; j++)
				isout |= !strcmp(alias_of(&x, g->outputs[j].name), p->output[k]);
			const nash_tensor *t = nash_graph_shape(g, p->output[k]);
			if (isout || !t)
				continue;
			ox_push(&x.vinfo, vinfo_new(&x, t->name, ox_onnx_type(t->dtype), t->ndim, t->shape, isact));
			if (t->datatype.kind)
				annotate(&x, t->name, t->datatype);
		}
	}
	ox_set_free(&act);
	for (int i = 0; i < g->ntensors; i++)
		if (g->tensors[i]->data && g->tensors[i]->datatype.kind && ox_set_has(&x.inited, g->tensors[i]->name))
			annotate(&x, g->tensors[i]->name, g->tensors[i]->datatype);
	gp.n_input = ins.n;
	gp.input = (Onnx__ValueInfoProto **)ins.v;
	gp.n_output = outs.n;
	gp.output = (Onnx__ValueInfoProto **)outs.v;
	gp.n_value_info = x.vinfo.n;
	gp.value_info = (Onnx__ValueInfoProto **)x.vinfo.v;
	gp.n_quantization_annotation = x.annots.n;
	gp.quantization_annotation = (Onnx__TensorAnnotation **)x.annots.v;
	gp.doc_string = "exported by nash-onnx";

	Onnx__OperatorSetIdProto os[2] = {ONNX__OPERATOR_SET_ID_PROTO__INIT, ONNX__OPERATOR_SET_ID_PROTO__INIT};
	os[0].domain = "";
	os[0].has_version = 1;
	os[0].version = x.opset;
	os[1].domain = NASH_QONNX_DOMAIN;
	os[1].has_version = 1;
	os[1].version = 1;
	Onnx__OperatorSetIdProto *osp[2] = {&os[0], &os[1]};
	Onnx__StringStringEntryProto md = ONNX__STRING_STRING_ENTRY_PROTO__INIT, *mdp = &md;
	md.key = NASH_ONNX_METADATA_KEY;
	md.value = skel;

	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = ir_version(x.opset);
	m.n_opset_import = 2;
	m.opset_import = osp;
	m.producer_name = "nash";
	m.producer_version = NASH_VERSION;
	m.has_model_version = 1;
	m.model_version = 1;
	m.graph = &gp;
	if (skel) {
		m.n_metadata_props = 1;
		m.metadata_props = &mdp;
	}
	size_t n = onnx__model_proto__get_packed_size(&m);
	*buf = malloc(n ? n : 1);
	if (!*buf)
		abort();
	*nbuf = onnx__model_proto__pack(&m, *buf);
	ox_vec_free(&ins);
	ox_vec_free(&outs);
out:
	free(skel);
	free(x.alias);
	ox_vec_free(&x.nodes);
	ox_vec_free(&x.inits);
	ox_vec_free(&x.vinfo);
	ox_vec_free(&x.annots);
	ox_set_free(&x.inited);
	ox_set_free(&x.names);
	ox_arena_free(&x.a);
	return rc;
}
