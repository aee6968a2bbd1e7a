/* net.c - compiling a graph into a trainable net, the executor (forward,
 * backward, Choice nodes on demand), the loss, parameters and sync. */
#include "nn/nn_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T(id) (&net->t[id])

/* ------------------------------------------------------------- memory */
float *nn_falloc(nash_net *net, size_t nfloats)
{
	if (!nfloats)
		return NULL;
	net->bytes += nfloats * sizeof(float);
	return nash_alloc(nfloats * sizeof(float));
}

/* ------------------------------------------------------- name index */
static int hfind(const nash_net *net, const char *name)
{
	if (!net->hcap)
		return -1;
	uint64_t h = nash_hash(name);
	for (int i = 0; i < net->hcap; i++) {
		int k = net->hidx[(h + (uint64_t)i) % (uint64_t)net->hcap];
		if (k < 0)
			return -1;
		if (strcmp(net->t[k].name, name) == 0)
			return k;
	}
	return -1;
}

static void hinsert(nash_net *net, int id)
{
	uint64_t h = nash_hash(net->t[id].name);
	for (int i = 0;; i++) {
		int *slot = &net->hidx[(h + (uint64_t)i) % (uint64_t)net->hcap];
		if (*slot < 0) {
			*slot = id;
			return;
		}
	}
}

/* --------------------------------------------------------- op table */
static const struct { const char *name; int op; } optab[] = {
	{"Conv", OP_CONV}, {"BatchNormalization", OP_BN}, {"Relu", OP_RELU},
	{"HardTanh", OP_HARDTANH}, {"MaxPool", OP_MAXPOOL}, {"AveragePool", OP_AVGPOOL},
	{"GlobalAveragePool", OP_GAP}, {"Add", OP_ADD}, {"Mul", OP_MUL}, {"Concat", OP_CONCAT},
	{"Flatten", OP_FLATTEN}, {"Gemm", OP_GEMM}, {"Slice", OP_SLICE}, {"Pad", OP_PAD},
	{"Identity", OP_IDENTITY}, {"Quant", OP_QUANT}, {"BipolarQuant", OP_BIPOLAR},
	{"Trunc", OP_TRUNC}, {"Choice", OP_CHOICE}, {NULL, 0}
};

#define FAILN(nd, ...) nash_fail(e, "node %s (%s): " __VA_ARGS__)

/* Add a tensor to the table (or return the existing one). */
static int tensor_add(nash_net *net, const char *name, nash_err *e)
{
	int id = hfind(net, name);
	if (id >= 0)
		return id;
	const nash_tensor *gt = nash_tensor_find(net->g, name);
	const nash_tensor *sh = nash_graph_shape(net->g, name);
	if (!sh)
		return nash_fail(e, "tensor %s has no shape (run shape inference first)", name);
	id = net->ntens++;
	nn_tensor *t = &net->t[id];
	memset(t, 0, sizeof *t);
	t->name = gt ? gt->name : sh->name;
	t->producer = -1;
	t->param = -1;
	t->owner = -1;
	t->branch = -1;
	t->scmode = -1;
	t->stats_src = -1;
	t->from[0] = t->from[1] = -1;
	t->gt = gt && gt->data ? gt : NULL;
	t->kind = t->gt ? T_PARAM : T_ACT;
	if (t->kind == T_PARAM)
		nn_view_rowmajor(&t->v, sh->ndim, sh->shape);
	else
		nn_view_batched(&t->v, sh->ndim, sh->shape);
	hinsert(net, id);
	return id;
}

/* ------------------------------------------------ attribute reading */
static int conv_attrs(nash_net *net, nn_node *nd, nash_err *e)
{
	const nash_node *n = nd->n;
	nn_tensor *x = T(nd->in[0]), *w = T(nd->in[1]), *y = T(nd->out);
	const char *ap = nash_attr_str(n, "auto_pad", "NOTSET");
	if (strcmp(ap, "NOTSET") != 0)
		return FAILN(nd, "auto_pad %s is not supported (give explicit pads)", n->name, n->op, ap);
	if (x->v.r != 3 || w->v.r != 4)
		return FAILN(nd, "only 2-D convolutions (C x H x W input, M x C/group x KH x KW weight) are supported",
		             n->name, n->op);
	nn_conv *p = &nd->a.conv;
	int64_t v[8];
	p->c = x->v.d[0], p->h = x->v.d[1], p->w = x->v.d[2];
	p->m = w->v.d[0], p->kh = w->v.d[2], p->kw = w->v.d[3];
	p->oh = y->v.d[1], p->ow = y->v.d[2];
	p->sh = p->sw = p->dh = p->dw = 1;
	p->pt = p->pl = p->pb = p->pr = 0;
	if (nash_attr_ints(n, "strides", v, 8) == 2)
		p->sh = v[0], p->sw = v[1];
	if (nash_attr_ints(n, "dilations", v, 8) == 2)
		p->dh = v[0], p->dw = v[1];
	if (nash_attr_ints(n, "pads", v, 8) == 4)
		p->pt = v[0], p->pl = v[1], p->pb = v[2], p->pr = v[3];
	p->group = nash_attr_int(n, "group", 1);
	if (p->group < 1 || p->c % p->group || p->m % p->group || w->v.d[1] * p->group != p->c)
		return FAILN(nd, "bad group %lld", n->name, n->op, (long long)p->group);
	return 0;
}

static int pool_attrs(nash_net *net, nn_node *nd, nash_err *e)
{
	const nash_node *n = nd->n;
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out);
	const char *ap = nash_attr_str(n, "auto_pad", "NOTSET");
	if (strcmp(ap, "NOTSET") != 0)
		return FAILN(nd, "auto_pad %s is not supported (give explicit pads)", n->name, n->op, ap);
	if (x->v.r != 3)
		return FAILN(nd, "only 2-D pooling is supported", n->name, n->op);
	nn_pool *p = &nd->a.pool;
	int64_t v[8];
	p->c = x->v.d[0], p->h = x->v.d[1], p->w = x->v.d[2];
	p->oh = y->v.d[1], p->ow = y->v.d[2];
	if (nash_attr_ints(n, "kernel_shape", v, 8) != 2)
		return FAILN(nd, "kernel_shape must be two integers", n->name, n->op);
	p->kh = v[0], p->kw = v[1];
	p->sh = p->sw = p->dh = p->dw = 1;
	p->pt = p->pl = p->pb = p->pr = 0;
	if (nash_attr_ints(n, "strides", v, 8) == 2)
		p->sh = v[0], p->sw = v[1];
	if (nash_attr_ints(n, "dilations", v, 8) == 2)
		p->dh = v[0], p->dw = v[1];
	if (nash_attr_ints(n, "pads", v, 8) == 4)
		p->pt = v[0], p->pl = v[1], p->pb = v[2], p->pr = v[3];
	p->include_pad = (int)nash_attr_int(n, "count_include_pad", 0) != 0;
	if (nd->op == OP_AVGPOOL && (p->dh != 1 || p->dw != 1))
		return FAILN(nd, "dilations are not supported for AveragePool", n->name, n->op);
	if (nash_attr_int(n, "storage_order", 0) != 0)
		return FAILN(nd, "storage_order 1 is not supported", n->name, n->op);
	return 0;
}

/* The logical axis of x along which a quantizer's scale varies (numpy
 * broadcasting), or -1 for a scalar scale. */
static int scale_axis(nash_net *net, nn_node *nd, int xid, int sid, nash_err *e)
{
	nn_tensor *x = T(xid), *s = T(sid);
	const nash_node *n = nd->n;
	int axis = -1;
	if (s->v.r > x->v.r && s->v.numel != 1)
		return FAILN(nd, "scale %s has more dimensions than the input", n->name, n->op, s->name);
	for (int j = 0; j < s->v.r; j++) {
		if (s->v.d[j] == 1)
			continue;
		int ax = x->v.r - s->v.r + j;
		if (ax < 0 || s->v.d[j] != x->v.d[ax] || axis >= 0)
			return FAILN(nd, "scale %s does not broadcast along one axis of the input", n->name, n->op,
			             s->name);
		axis = ax;
	}
	nd->a.q.sc_axis = axis < 0 ? 0 : axis;
	nd->a.q.sc_n = s->v.numel;
	return 0;
}

static int set_scmode(nash_net *net, nn_node *nd, int sid, int mode, nash_err *e)
{
	nn_tensor *s = T(sid);
	if (s->kind != T_PARAM)
		return FAILN(nd, "scale %s must be a parameter tensor", nd->n->name, nd->n->op, s->name);
	if (s->scmode >= 0 && s->scmode != mode)
		return FAILN(nd, "scale %s is used with two different scale modes", nd->n->name, nd->n->op, s->name);
	s->scmode = mode;
	return 0;
}

static int rounding_of(const char *s)
{
	return strcmp(s, "FLOOR") == 0 ? 1 : strcmp(s, "CEIL") == 0 ? 2 : strcmp(s, "ROUND") == 0 ? 0 : -1;
}

static int scalar_of(nash_net *net, nn_node *nd, int i, const char *what, double *out, nash_err *e)
{
	if (i >= nd->nin || nd->in[i] < 0 || T(nd->in[i])->kind != T_PARAM || T(nd->in[i])->v.numel != 1)
		return FAILN(nd, "%s must be a scalar parameter", nd->n->name, nd->n->op, what);
	*out = *(const float *)T(nd->in[i])->gt->data;
	return 0;
}

static int quant_attrs(nash_net *net, nn_node *nd, nash_err *e)
{
	const nash_node *n = nd->n;
	if (nd->op == OP_TRUNC) {
		double z, bi, bo;
		if (nd->nin < 5 || nd->in[1] < 0)
			return FAILN(nd, "needs inputs x, scale, zeropt, in_bitwidth, out_bitwidth", n->name, n->op);
		if (scalar_of(net, nd, 2, "zeropt", &z, e) < 0 || scalar_of(net, nd, 3, "in_bitwidth", &bi, e) < 0 ||
		    scalar_of(net, nd, 4, "out_bitwidth", &bo, e) < 0)
			return -1;
		if (bi != floor(bi) || bo != floor(bo) || bo < 1 || bi < bo || bi > 32)
			return FAILN(nd, "bit widths %g -> %g must be integers with 1 <= out <= in <= 32", n->name, n->op,
			             bi, bo);
		const float *sv = T(nd->in[1])->gt ? T(nd->in[1])->gt->data : NULL;
		if (!sv)
			return FAILN(nd, "scale must be a parameter tensor", n->name, n->op);
		for (int64_t i = 0; i < T(nd->in[1])->v.numel; i++)
			if (!(sv[i] > 0) || !isfinite(sv[i]))
				return FAILN(nd, "scale %s[%lld] = %g is not a positive finite number", n->name, n->op,
				             T(nd->in[1])->name, (long long)i, (double)sv[i]);
		nd->a.q.zp = z;
		nd->a.q.s_div = ldexp(1.0, (int)(bi - bo));
		nd->a.q.trunc_rounding = rounding_of(nash_attr_str(n, "rounding_mode", "FLOOR"));
		if (nd->a.q.trunc_rounding < 0)
			return FAILN(nd, "unknown rounding_mode \"%s\"", n->name, n->op,
			             nash_attr_str(n, "rounding_mode", ""));
		return scale_axis(net, nd, nd->in[0], nd->in[1], e);
	}
	nash_qparams q;
	if (nash_qparams_get(net->g, n, &q, e) < 0)
		return -1;
	nd->a.q.bits = q.bits;
	nd->a.q.is_signed = q.is_signed;
	nd->a.q.narrow = q.narrow;
	nd->a.q.lo = q.lo;
	nd->a.q.hi = q.hi;
	nd->a.q.zp = q.zeropt;
	nd->a.q.rounding = rounding_of(q.rounding);
	if (scale_axis(net, nd, nd->in[0], nd->in[1], e) < 0)
		return -1;
	int sid = nd->in[1];
	if (strcmp(q.mode, "const") == 0)
		return set_scmode(net, nd, sid, SC_CONST, e);
	if (strcmp(q.mode, "learned") == 0)
		return set_scmode(net, nd, sid, SC_LEARNED, e);
	if (strcmp(q.mode, "stats") == 0) {
		if (set_scmode(net, nd, sid, SC_STATS, e) < 0)
			return -1;
		nn_tensor *s = T(sid), *x = T(nd->in[0]);
		if (x->kind != T_PARAM)
			return FAILN(nd, "scale_mode stats needs a weight parameter as input, %s is computed", n->name,
			             n->op, x->name);
		if (s->stats_src >= 0 && s->stats_src != nd->in[0])
			return FAILN(nd, "stats scale %s is shared by two weight tensors", n->name, n->op, s->name);
		if (s->v.numel != 1 && (nd->a.q.sc_axis != 0 || s->v.numel != x->v.d[0]))
			return FAILN(nd, "stats scale %s must be per tensor or per output channel", n->name, n->op,
			             s->name);
		s->stats_src = nd->in[0];
		s->stats_bits = q.bits;
		s->stats_binary = q.bipolar;
		return 0;
	}
	if (strcmp(q.mode, "product") == 0) {
		if (set_scmode(net, nd, sid, SC_PRODUCT, e) < 0)
			return -1;
		const nash_val *sf = nash_val_get(n->attr, "scale_from");
		if (!sf || sf->t != NASH_V_ARR || sf->u.a.n != 2)
			return FAILN(nd, "scale_mode product needs scale_from listing two scale tensors", n->name, n->op);
		nn_tensor *s = T(sid);
		for (int k = 0; k < 2; k++) {
			const char *nm = nash_val_as_str(sf->u.a.v[k]);
			int id = nm ? hfind(net, nm) : -1;
			if (id < 0 || T(id)->kind != T_PARAM)
				return FAILN(nd, "scale_from names %s, which is not a parameter of the net", n->name, n->op,
				             nm ? nm : "?");
			if (T(id)->v.numel != 1 && T(id)->v.numel != s->v.numel)
				return FAILN(nd, "scale_from %s has %lld elements, the bias scale %lld", n->name, n->op, nm,
				             (long long)T(id)->v.numel, (long long)s->v.numel);
			s->from[k] = id;
		}
		return 0;
	}
	return FAILN(nd, "unknown scale_mode \"%s\"", n->name, n->op, q.mode);
}

static int node_attrs(nash_net *net, nn_node *nd, nash_err *e)
{
	const nash_node *n = nd->n;
	nn_tensor *y = T(nd->out);
	switch (nd->op) {
	case OP_CONV:
		if (nd->nin < 2 || nd->in[0] < 0 || nd->in[1] < 0)
			return FAILN(nd, "needs X and W", n->name, n->op);
		return conv_attrs(net, nd, e);
	case OP_MAXPOOL:
	case OP_AVGPOOL:
		return pool_attrs(net, nd, e);
	case OP_BN:
		for (int i = 0; i < 5; i++)
			if (i >= nd->nin || nd->in[i] < 0 || (i > 0 && T(nd->in[i])->kind != T_PARAM))
				return FAILN(nd, "needs X and the parameters scale, B, mean, var", n->name, n->op);
		nd->a.bn.eps = nash_attr_float(n, "epsilon", 1e-5);
		nd->a.bn.mom = nash_attr_float(n, "momentum", 0.9);
		nd->a.bn.c = T(nd->in[0])->v.r ? T(nd->in[0])->v.d[0] : 1;
		if (!(nd->a.bn.eps >= 0) || !(nd->a.bn.mom >= 0 && nd->a.bn.mom <= 1))
			return FAILN(nd, "epsilon must be >= 0 and momentum in [0, 1]", n->name, n->op);
		nd->save = nn_falloc(net, 4 * (size_t)nd->a.bn.c);
		return 0;
	case OP_HARDTANH:
		nd->a.ht.lo = (float)nash_attr_float(n, "min_val", -1.0);
		nd->a.ht.hi = (float)nash_attr_float(n, "max_val", 1.0);
		if (!(nd->a.ht.lo <= nd->a.ht.hi))
			return FAILN(nd, "min_val above max_val", n->name, n->op);
		return 0;
	case OP_ADD:
	case OP_MUL:
		if (nd->nin != 2 || nd->in[0] < 0 || nd->in[1] < 0)
			return FAILN(nd, "needs two inputs", n->name, n->op);
		return 0;
	case OP_CONCAT: {
		int r = y->v.r;
		int64_t ax = nash_attr_int(n, "axis", 1);
		if (ax < 0)
			ax += r + 1;
		if (ax < 1 || ax > r)
			return FAILN(nd, "axis %lld is not supported (the batch axis cannot be concatenated)", n->name,
			             n->op, (long long)nash_attr_int(n, "axis", 1));
		nd->a.cat.axis = (int)ax - 1;
		for (int i = 0; i < nd->nin; i++)
			if (nd->in[i] < 0)
				return FAILN(nd, "absent input", n->name, n->op);
		return 0;
	}
	case OP_FLATTEN:
		if (nash_attr_int(n, "axis", 1) != 1)
			return FAILN(nd, "only axis 1 is supported", n->name, n->op);
		return 0;
	case OP_GEMM: {
		nn_tensor *x = T(nd->in[0]), *w = T(nd->in[1]);
		if (nash_attr_int(n, "transA", 0) != 0)
			return FAILN(nd, "transA 1 is not supported", n->name, n->op);
		if (x->v.r != 1 || w->v.r != 2)
			return FAILN(nd, "needs a vector input and a matrix", n->name, n->op);
		nd->a.gemm.transb = nash_attr_int(n, "transB", 0) != 0;
		nd->a.gemm.k = x->v.d[0];
		nd->a.gemm.m = y->v.d[0];
		nd->a.gemm.alpha = (float)nash_attr_float(n, "alpha", 1.0);
		nd->a.gemm.beta = (float)nash_attr_float(n, "beta", 1.0);
		return 0;
	}
	case OP_SLICE: {
		nn_tensor *x = T(nd->in[0]);
		int64_t st[NN_MAXD + 1], en[NN_MAXD + 1], ax[NN_MAXD + 1], sp[NN_MAXD + 1];
		if (nd->nin != 1)
			return FAILN(nd, "starts/ends as input tensors are not supported (use attributes)", n->name, n->op);
		int ns = nash_attr_ints(n, "starts", st, NN_MAXD + 1), ne = nash_attr_ints(n, "ends", en, NN_MAXD + 1);
		int na = nash_attr_ints(n, "axes", ax, NN_MAXD + 1), np = nash_attr_ints(n, "steps", sp, NN_MAXD + 1);
		if (ns < 1 || ns != ne || (na >= 0 && na != ns) || (np >= 0 && np != ns))
			return FAILN(nd, "starts, ends, axes, steps disagree", n->name, n->op);
		for (int i = 0; i < x->v.r; i++) {
			nd->a.sl.start[i] = 0;
			nd->a.sl.step[i] = 1;
		}
		for (int i = 0; i < ns; i++) {
			int a = na >= 0 ? (int)(ax[i] < 0 ? ax[i] + x->v.r + 1 : ax[i]) - 1 : i;
			int64_t step = np >= 0 ? sp[i] : 1;
			if (a < 0 || a >= x->v.r || step < 1)
				return FAILN(nd, "slicing the batch axis or negative steps are not supported", n->name, n->op);
			int64_t dim = x->v.d[a], s = st[i] < 0 ? st[i] + dim : st[i];
			s = s < 0 ? 0 : s > dim ? dim : s;
			nd->a.sl.start[a] = s;
			nd->a.sl.step[a] = step;
		}
		return 0;
	}
	case OP_PAD: {
		nn_tensor *x = T(nd->in[0]);
		int64_t p[2 * (NN_MAXD + 1)];
		int r = x->v.r + 1;
		if (nd->nin != 1)
			return FAILN(nd, "pads as an input tensor is not supported (use the attribute)", n->name, n->op);
		if (strcmp(nash_attr_str(n, "mode", "constant"), "constant") != 0)
			return FAILN(nd, "mode %s is not supported (only constant)", n->name, n->op,
			             nash_attr_str(n, "mode", ""));
		if (nash_attr_ints(n, "pads", p, 2 * (NN_MAXD + 1)) != 2 * r)
			return FAILN(nd, "pads must list begin and end of every axis", n->name, n->op);
		for (int i = 1; i < r; i++)
			nd->a.pad.begin[i - 1] = p[i];
		nd->a.pad.value = (float)nash_attr_float(n, "value", 0.0);
		return 0;
	}
	case OP_QUANT:
	case OP_BIPOLAR:
	case OP_TRUNC:
		return quant_attrs(net, nd, e);
	case OP_CHOICE: {
		int nb = nd->nin - 1;
		if (nb < 1 || nb > 64 || nd->in[nb] < 0 || T(nd->in[nb])->kind != T_PARAM)
			return FAILN(nd, "needs 1..64 branches and the alpha parameter last", n->name, n->op);
		for (int i = 0; i < nb; i++)
			if (nd->in[i] >= 0 && T(nd->in[i])->kind == T_PARAM)
				return FAILN(nd, "branch %d is a parameter", n->name, n->op, i);
		return 0;
	}
	default:
		return 0;
	}
}

/* ---------------------------------------------------------- params */
static int trace_param(nash_net *net, int id)
{
	/* a parameter behind parameter-only nodes (weight quantizers) */
	while (id >= 0 && T(id)->kind == T_CONST)
		id = net->nodes[T(id)->producer].in[0];
	return id >= 0 && T(id)->kind == T_PARAM ? id : -1;
}

static int add_param(nash_net *net, int id, nash_pkind kind, nash_err *e)
{
	nn_tensor *t = T(id);
	if (t->param >= 0)
		return 0;
	if (t->gt->dtype != NASH_F32)
		return nash_fail(e, "parameter %s is %s, the engine trains float32 only", t->name,
		                 nash_dtype_name(t->gt->dtype));
	int i = net->nparams++;
	net->params = nash_realloc(net->params, (size_t)net->nparams * sizeof *net->params);
	net->param_tensor = nash_realloc(net->param_tensor, (size_t)net->nparams * sizeof *net->param_tensor);
	nash_param *p = &net->params[i];
	memset(p, 0, sizeof *p);
	p->name = t->gt->name;
	p->kind = kind;
	p->n = t->v.numel;
	p->w = nn_falloc(net, (size_t)p->n);
	const float *src = t->gt->data;
	if (kind == NASH_P_QSCALE)
		for (int64_t k = 0; k < p->n; k++)
			p->w[k] = (float)log2(src[k]);
	else
		memcpy(p->w, src, (size_t)p->n * sizeof(float));
	if (net->o.train && kind != NASH_P_STATE)
		p->g = nn_falloc(net, (size_t)p->n);
	net->param_tensor[i] = id;
	t->param = i;
	if (kind == NASH_P_QSCALE) {
		t->log2v = p->w;
		t->own_val = t->val = nn_falloc(net, (size_t)p->n);
		memcpy(t->val, src, (size_t)p->n * sizeof(float));
	} else {
		t->val = p->w;
		t->grad = p->g;
	}
	return 0;
}

/* --------------------------------------------------------- choices */
/* Nodes used only by branch k of Choice node ci: walk back from its
 * input; a node belongs to the branch when every consumer of its output
 * is the Choice (at input k only) or another node of the branch. */
static int choice_branches(nash_net *net, int c, nash_err *e, int **cons, int *ncons)
{
	nn_choice *ch = &net->ch[c];
	nn_node *cn = &net->nodes[ch->node];
	char *in = nash_alloc((size_t)net->nnodes);
	for (int k = 0; k < ch->nb; k++) {
		int bt = cn->in[k];
		ch->bnodes[k] = nash_alloc(((size_t)net->nnodes + 1) * sizeof(int));
		ch->nbnodes[k] = 0;
		if (bt < 0 || T(bt)->producer < 0)
			continue;
		memset(in, 0, (size_t)net->nnodes);
		for (int j = ch->node - 1; j >= 0; j--) {
			nn_node *nd = &net->nodes[j];
			nn_tensor *o = T(nd->out);
			if (o->nuse == 0 || o->nuse != ncons[nd->out] || nd->out == net->logits)
				continue;
			int ok = 1;
			for (int u = 0; u < ncons[nd->out] && ok; u++) {
				int cnode = cons[nd->out][2 * u], cin = cons[nd->out][2 * u + 1];
				if (cnode == ch->node)
					ok = cin == k;
				else
					ok = in[cnode];
			}
			if (!ok)
				continue;
			if (nd->op == OP_CHOICE || nd->owner >= 0) {
				free(in);
				return nash_fail(e, "node %s (Choice): branch %d contains %s, a Choice or another Choice's node; nested Choices are not supported",
				                 cn->n->name, k, nd->n->name);
			}
			in[j] = 1;
		}
		for (int j = 0; j < ch->node; j++)
			if (in[j]) {
				ch->bnodes[k][ch->nbnodes[k]++] = j;
				net->nodes[j].owner = c;
				net->nodes[j].branch = k;
				T(net->nodes[j].out)->owner = c;
				T(net->nodes[j].out)->branch = k;
			}
	}
	free(in);
	return 0;
}

/* ------------------------------------------------------------- fusion */
/* The node that consumes tensor t (its only use), or -1. */
static int only_consumer(nash_net *net, int from, int t)
{
	if (T(t)->nuse != 1 || t == net->logits)
		return -1;
	for (int j = from + 1; j < net->nnodes; j++) {
		nn_node *r = &net->nodes[j];
		if (r->dead)
			continue;
		for (int k = 0; k < r->nin; k++)
			if (r->in[k] == t)
				return j;
	}
	return -1;
}

static int same_place(const nn_node *a, const nn_node *b)
{
	return !a->constant && !b->constant && a->owner == b->owner && a->branch == b->branch;
}

static int same_view(const nn_view *a, const nn_view *b)
{
	if (a->r != b->r || a->bs != b->bs)
		return 0;
	for (int i = 0; i < a->r; i++)
		if (a->d[i] != b->d[i] || a->st[i] != b->st[i])
			return 0;
	return 1;
}

/* Elementwise neighbours run inside BatchNormalization and Add nodes:
 * quantizers feeding only an Add (the adder quantizers of a residual
 * join), a Relu using only a BN's or an Add's output, and a quantizer
 * using only that result. One pass over memory instead of up to four,
 * each way, and the tensors between them are never stored. */
static void fuse(nash_net *net)
{
	/* quantizers on the inputs of an Add */
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if (nd->op != OP_ADD || nd->constant || nd->dead || nd->in[0] == nd->in[1])
			continue;
		int raw[2], q[2];
		for (int k = 0; k < 2; k++) {
			int t = nd->in[k], pq = T(t)->producer;
			raw[k] = t;
			q[k] = -1;
			if (pq >= 0 && nn_fusable_quant(net, pq) && same_place(&net->nodes[pq], nd) &&
			    only_consumer(net, pq, t) == i) {
				q[k] = pq;
				raw[k] = net->nodes[pq].in[0];
			}
		}
		if (q[0] < 0 && q[1] < 0)
			continue;
		nn_view *o = &T(nd->out)->v;
		if (!same_view(o, &T(raw[0])->v) || !same_view(o, &T(raw[1])->v))
			continue;
		for (int k = 0; k < 2; k++)
			if (q[k] >= 0) {
				nn_node *qn = &net->nodes[q[k]];
				T(nd->in[k])->dead = 1;
				qn->dead = 1;
				nd->pre_q[k] = q[k];
				nd->in[k] = raw[k];
				nd->aux[nd->naux++] = qn->in[1];
			}
	}
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if ((nd->op != OP_BN && nd->op != OP_ADD) || nd->constant || nd->dead)
			continue;
		if (nd->op == OP_ADD && nd->pre_q[0] < 0 && nd->pre_q[1] < 0 &&
		    (!same_view(&T(nd->out)->v, &T(nd->in[0])->v) || !same_view(&T(nd->out)->v, &T(nd->in[1])->v))) {
			/* a broadcasting Add: only the Relu (the general kernel applies it after) */
			int j = only_consumer(net, i, nd->out);
			if (j >= 0 && net->nodes[j].op == OP_RELU && same_place(&net->nodes[j], nd)) {
				T(nd->out)->dead = 1;
				nd->fuse_relu = 1;
				nd->out = net->nodes[j].out;
				T(nd->out)->producer = i;
				net->nodes[j].dead = 1;
			}
			continue;
		}
		int j = only_consumer(net, i, nd->out);
		if (j >= 0 && net->nodes[j].op == OP_RELU && same_place(&net->nodes[j], nd)) {
			T(nd->out)->dead = 1;
			nd->fuse_relu = 1;
			nd->out = net->nodes[j].out;
			T(nd->out)->producer = i;
			net->nodes[j].dead = 1;
			j = only_consumer(net, j, nd->out);
		}
		if (j >= 0 && nn_fusable_quant(net, j) && same_place(&net->nodes[j], nd) &&
		    net->nodes[j].in[0] == nd->out) {
			nn_node *qn = &net->nodes[j];
			T(nd->out)->dead = 1;
			nd->epi_q = j;
			nd->out = qn->out;
			T(nd->out)->producer = i;
			qn->dead = 1;
			nd->aux[nd->naux++] = qn->in[1];
		}
	}
}

/* Sample relaxation: one branch of a Choice lives at a time, so the
 * tensors of its branches share one pool (each branch from offset 0), and
 * gradients another; gate evaluation of the other candidates in backward
 * runs in a separate arena (the chosen branch's values are still needed). */
static void branch_pools(nash_net *net)
{
	int64_t B = net->o.batch, arena = 0;
	for (int c = 0; c < net->nchoices; c++) {
		nn_choice *ch = &net->ch[c];
		int64_t most = 0;
		for (int k = 0; k < ch->nb; k++) {
			int64_t off = 0;
			for (int j = 0; j < ch->nbnodes[k]; j++) {
				nn_node *nd = &net->nodes[ch->bnodes[k][j]];
				nn_tensor *t = T(nd->out);
				if (nd->dead || nd->constant || t->dead || t->kind != T_ACT || t->owner != c)
					continue;
				t->pooled = 1;
				t->pool_off = off;
				off += B * t->v.numel;
			}
			ch->bsize[k] = off;
			most = off > most ? off : most;
		}
		arena = most > arena ? most : arena;
		if (!most)
			continue;
		ch->pool = nn_falloc(net, (size_t)most);
		if (net->o.train)
			ch->gpool = nn_falloc(net, (size_t)most);
		for (int k = 0; k < ch->nb; k++)
			for (int j = 0; j < ch->nbnodes[k]; j++) {
				nn_tensor *t = T(net->nodes[ch->bnodes[k][j]].out);
				if (t->pooled && t->owner == c) {
					t->val = ch->pool + t->pool_off;
					t->grad = ch->gpool ? ch->gpool + t->pool_off : NULL;
				}
			}
	}
	if (net->o.train && arena) {
		net->arena = nn_falloc(net, (size_t)arena);
	}
}

/* Inference nets keep no activation for a backward pass: a tensor's buffer
 * is free again after its last consumer, and later tensors reuse it
 * (best fit among free buffers, a buffer grows to its largest tenant). */
static void share_buffers(nash_net *net)
{
	int64_t B = net->o.batch;
	int *last = nash_alloc((size_t)net->ntens * sizeof *last), *slot = nash_alloc((size_t)net->ntens * sizeof *slot);
	for (int id = 0; id < net->ntens; id++) {
		last[id] = -1;
		slot[id] = -1;
	}
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if (nd->dead)
			continue;
		for (int k = 0; k < nd->nin; k++)
			if (nd->in[k] >= 0)
				last[nd->in[k]] = i;
	}
	last[net->logits] = net->nnodes;
	int nslots = 0;
	int64_t *cap = nash_alloc(((size_t)net->ntens + 1) * sizeof *cap);
	char *busy = nash_alloc((size_t)net->ntens + 1);
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if (nd->dead || nd->constant)
			continue;
		nn_tensor *t = T(nd->out);
		if (t->kind == T_ACT && !t->dead && !t->pooled) {
			int64_t need = B * t->v.numel;
			int best = -1;
			for (int k = 0; k < nslots; k++) {
				if (busy[k])
					continue;
				if (best < 0 || (cap[k] >= need && (cap[best] < need || cap[k] < cap[best])) ||
				    (cap[best] < need && cap[k] > cap[best]))
					best = k;
			}
			if (best < 0)
				best = nslots++;
			if (cap[best] < need)
				cap[best] = need;
			busy[best] = 1;
			slot[nd->out] = best;
		}
		for (int k = 0; k < nd->nin; k++) {
			int id = nd->in[k];
			if (id >= 0 && last[id] == i && slot[id] >= 0)
				busy[slot[id]] = 0;
		}
		if (last[nd->out] < 0 && slot[nd->out] >= 0) /* never used */
			busy[slot[nd->out]] = 0;
	}
	float **base = nash_alloc(((size_t)nslots + 1) * sizeof *base);
	for (int k = 0; k < nslots; k++)
		base[k] = nn_falloc(net, (size_t)cap[k]);
	for (int id = 0; id < net->ntens; id++)
		if (slot[id] >= 0) {
			T(id)->val = base[slot[id]];
			T(id)->shared = 1;
		}
	net->slots = base;
	net->nslots = nslots;
	free(last);
	free(slot);
	free(cap);
	free(busy);
}

/* ------------------------------------------------------------ compile */
static int compile(nash_net *net, nash_err *e)
{
	nash_graph *g = net->g;
	if (g->nin != 1)
		return nash_fail(e, "the engine needs exactly one graph input, the graph has %d", g->nin);
	if (g->nout != 1)
		return nash_fail(e, "the engine needs exactly one graph output (the logits), the graph has %d", g->nout);
	int cap = 1 + g->ntensors;
	for (int i = 0; i < g->nnodes; i++)
		cap += g->nodes[i]->nin + g->nodes[i]->nout;
	net->t = nash_alloc((size_t)cap * sizeof *net->t);
	net->hcap = 2 * cap + 1;
	net->hidx = nash_alloc((size_t)net->hcap * sizeof *net->hidx);
	for (int i = 0; i < net->hcap; i++)
		net->hidx[i] = -1;
	/* the graph input */
	{
		int id = net->ntens++;
		nn_tensor *t = T(id);
		memset(t, 0, sizeof *t);
		t->name = g->inputs[0].name;
		t->kind = T_INPUT;
		t->producer = t->param = t->owner = t->branch = t->stats_src = -1;
		t->scmode = -1;
		t->from[0] = t->from[1] = -1;
		nn_view_batched(&t->v, g->inputs[0].ndim, g->inputs[0].shape);
		hinsert(net, id);
		net->input = id;
		if (g->inputs[0].dtype != NASH_F32)
			return nash_fail(e, "input %s is %s, the engine takes float32", t->name,
			                 nash_dtype_name(g->inputs[0].dtype));
	}
	net->nnodes = g->nnodes;
	net->nodes = nash_alloc((size_t)g->nnodes * sizeof *net->nodes);
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		nn_node *nd = &net->nodes[i];
		nd->n = n;
		nd->op = -1;
		nd->owner = nd->branch = -1;
		nd->stamp = -1;
		nd->epi_q = nd->pre_q[0] = nd->pre_q[1] = -1;
		for (int k = 0; optab[k].name; k++)
			if (strcmp(optab[k].name, n->op) == 0)
				nd->op = optab[k].op;
		if (nd->op < 0)
			return nash_fail(e, "node %s (%s): the engine cannot run this op", n->name, n->op);
		if (n->nout != 1)
			return nash_fail(e, "node %s (%s): %d outputs (the engine runs single-output nodes)", n->name,
			                 n->op, n->nout);
		if (n->nin > NN_MAXIN || n->nin < 1)
			return nash_fail(e, "node %s (%s): %d inputs", n->name, n->op, n->nin);
		nd->nin = n->nin;
		for (int k = 0; k < NN_MAXIN; k++)
			nd->in[k] = -1;
		int allparam = 1;
		for (int k = 0; k < n->nin; k++) {
			nd->in[k] = -1;
			if (!n->in[k][0])
				continue;
			int id = tensor_add(net, n->in[k], e);
			if (id < 0)
				return nash_fail(e, "node %s (%s): input %s has no shape", n->name, n->op, n->in[k]);
			nd->in[k] = id;
			T(id)->nuse++;
			if (T(id)->kind == T_PARAM && T(id)->gt->dtype != NASH_F32)
				return nash_fail(e, "node %s (%s): parameter %s is %s, the engine runs float32 only", n->name,
				                 n->op, n->in[k], nash_dtype_name(T(id)->gt->dtype));
			if (T(id)->kind != T_PARAM && T(id)->kind != T_CONST)
				allparam = 0;
		}
		if (nd->in[0] < 0 && nd->op != OP_CHOICE)
			return nash_fail(e, "node %s (%s): first input absent", n->name, n->op);
		if (hfind(net, n->out[0]) >= 0)
			return nash_fail(e, "node %s (%s): output %s is defined twice", n->name, n->op, n->out[0]);
		int oid = tensor_add(net, n->out[0], e);
		if (oid < 0)
			return nash_fail(e, "node %s (%s): output %s has no shape", n->name, n->op, n->out[0]);
		nn_tensor *o = T(oid);
		if (o->kind == T_PARAM)
			return nash_fail(e, "node %s (%s): output %s is also a parameter", n->name, n->op, n->out[0]);
		o->producer = i;
		nd->out = oid;
		if (allparam && nd->op != OP_CHOICE) {
			static const int ok[] = {OP_QUANT, OP_BIPOLAR, OP_TRUNC, OP_IDENTITY, OP_ADD, OP_MUL, OP_RELU,
			                         OP_HARDTANH, -1};
			int fine = 0;
			for (int k = 0; ok[k] >= 0; k++)
				fine |= ok[k] == nd->op;
			if (!fine)
				return nash_fail(e, "node %s (%s): computing from parameters only is not supported for this op",
				                 n->name, n->op);
			nd->constant = 1;
			o->kind = T_CONST;
			nn_view tmp = o->v;
			nn_view_rowmajor(&o->v, tmp.r, tmp.d);
		}
	}
	/* the logits */
	net->logits = hfind(net, g->outputs[0].name);
	if (net->logits < 0 || T(net->logits)->kind != T_ACT)
		return nash_fail(e, "output %s is not computed from the input", g->outputs[0].name);
	T(net->logits)->nuse++;
	{
		nn_view *v = &T(net->logits)->v;
		if (!(v->r == 1 || (v->r == 3 && v->d[1] == 1 && v->d[2] == 1)))
			return nash_fail(e, "output %s must be logits of shape K or K x 1 x 1", g->outputs[0].name);
		net->k = v->d[0];
	}
	/* attributes and scale modes (Quant first, so Trunc sees learned scales) */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < net->nnodes; i++) {
			nn_node *nd = &net->nodes[i];
			int isq = nd->op == OP_QUANT || nd->op == OP_BIPOLAR;
			if ((pass == 0) != isq)
				continue;
			if (node_attrs(net, nd, e) < 0)
				return -1;
		}
	/* parameters, in order of first use */
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		int rc = 0, id;
		switch (nd->op) {
		case OP_CONV:
		case OP_GEMM:
			if ((id = trace_param(net, nd->in[1])) >= 0)
				rc = add_param(net, id, NASH_P_WEIGHT, e);
			if (rc == 0 && nd->nin > 2 && (id = trace_param(net, nd->in[2])) >= 0)
				rc = add_param(net, id, NASH_P_BIAS, e);
			break;
		case OP_BN:
			for (int k = 1; k < 5 && rc == 0; k++)
				rc = add_param(net, nd->in[k], k < 3 ? NASH_P_BN : NASH_P_STATE, e);
			break;
		case OP_QUANT:
		case OP_BIPOLAR:
		case OP_TRUNC:
			if (T(nd->in[1])->scmode == SC_LEARNED)
				rc = add_param(net, nd->in[1], NASH_P_QSCALE, e);
			break;
		case OP_CHOICE:
			rc = add_param(net, nd->in[nd->nin - 1], NASH_P_ALPHA, e);
			break;
		}
		if (rc < 0) {
			nash_err_prefix(e, "node %s (%s): ", nd->n->name, nd->n->op);
			return -1;
		}
	}
	/* values of the other parameters: own copies (scales are refreshed) */
	for (int id = 0; id < net->ntens; id++) {
		nn_tensor *t = T(id);
		if (t->kind == T_PARAM && !t->val) {
			t->own_val = t->val = nn_falloc(net, (size_t)t->v.numel);
			if (t->v.numel)
				memcpy(t->val, t->gt->data, (size_t)t->v.numel * sizeof(float));
		}
	}
	/* Choices */
	for (int i = 0; i < net->nnodes; i++)
		if (net->nodes[i].op == OP_CHOICE)
			net->nchoices++;
	if (net->nchoices) {
		net->ch = nash_alloc((size_t)net->nchoices * sizeof *net->ch);
		int **cons = nash_alloc((size_t)net->ntens * sizeof *cons), *ncons = nash_alloc((size_t)net->ntens * sizeof *ncons);
		for (int i = 0; i < net->nnodes; i++)
			for (int k = 0; k < net->nodes[i].nin; k++) {
				int id = net->nodes[i].in[k];
				if (id < 0)
					continue;
				cons[id] = nash_realloc(cons[id], (size_t)(ncons[id] + 1) * 2 * sizeof(int));
				cons[id][2 * ncons[id]] = i;
				cons[id][2 * ncons[id] + 1] = k;
				ncons[id]++;
			}
		int c = 0, rc = 0;
		for (int i = 0; i < net->nnodes && rc == 0; i++) {
			nn_node *nd = &net->nodes[i];
			if (nd->op != OP_CHOICE)
				continue;
			nn_choice *ch = &net->ch[c];
			ch->node = i;
			ch->nb = nd->nin - 1;
			ch->alpha = nd->in[nd->nin - 1];
			nd->a.choice.idx = c;
			/* initial choice: the largest logit */
			const float *al = T(ch->alpha)->val;
			for (int k = 1; k < ch->nb; k++)
				if (al[k] > al[ch->chosen])
					ch->chosen = k;
			ch->fwd = ch->chosen;
			rc = choice_branches(net, c, e, cons, ncons);
			c++;
		}
		for (int id = 0; id < net->ntens; id++)
			free(cons[id]);
		free(cons);
		free(ncons);
		if (rc < 0)
			return -1;
	}
	const char *nf = getenv("NASH_NN_NO_FUSE");
	if (!nf || !*nf || !strcmp(nf, "0"))
		fuse(net);
	/* activation and gradient buffers */
	int64_t B = net->o.batch;
	if (net->o.relax == NASH_RELAX_SAMPLE)
		branch_pools(net);
	if (!net->o.train)
		share_buffers(net);
	for (int id = 0; id < net->ntens; id++) {
		nn_tensor *t = T(id);
		if (t->dead || t->pooled || t->shared)
			continue;
		if (t->kind == T_ACT || t->kind == T_INPUT) {
			t->own_val = t->val = nn_falloc(net, (size_t)(B * t->v.numel));
			if (net->o.train && t->kind == T_ACT)
				t->own_grad = t->grad = nn_falloc(net, (size_t)(B * t->v.numel));
		} else if (t->kind == T_CONST) {
			t->own_val = t->val = nn_falloc(net, (size_t)t->v.numel);
			if (net->o.train)
				t->own_grad = t->grad = nn_falloc(net, (size_t)t->v.numel);
		}
	}
	for (int id = 0; id < net->ntens; id++)
		T(id)->home = T(id)->val;
	return nn_dnn_init(net, e);
}

nash_net *nash_net_new(nash_graph *g, const nash_net_opts *o, nash_err *e)
{
	if (!o || o->batch < 1)
		return nash_fail(e, "graph %s: batch must be at least 1", g->name), NULL;
	if (o->relax != NASH_RELAX_SAMPLE && o->relax != NASH_RELAX_SOFTMAX)
		return nash_fail(e, "graph %s: unknown relaxation %d", g->name, (int)o->relax), NULL;
	if (nash_graph_validate(g, e) < 0)
		return NULL;
	/* a graph whose largest activation at this batch cannot fit in memory
	 * is an error to report, not an allocation that aborts the process
	 * (parameters, which hold data, are not per image) */
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	for (int i = 0; i < g->ntensors && pages > 0 && psize > 0; i++) {
		const nash_tensor *t = g->tensors[i];
		if (t->data)
			continue;
		double need = (double)nash_tensor_numel(t) * (double)o->batch * sizeof(float);
		if (need > (double)pages * (double)psize)
			return nash_fail(e, "graph %s: tensor %s alone needs %.3g GB at batch %d, more than this machine's %.3g GB",
			                 g->name, t->name, need / 1e9, o->batch, (double)pages * (double)psize / 1e9),
			       NULL;
	}
	nash_net *net = nash_alloc(sizeof *net);
	net->g = g;
	net->o = *o;
	net->threads = o->threads > 0 ? o->threads : omp_get_num_procs();
	net->version = 1;
	net->computed = 0;
	if (compile(net, e) < 0) {
		nash_err_prefix(e, "graph %s: ", g->name);
		nash_net_free(net);
		return NULL;
	}
	return net;
}

void nash_net_free(nash_net *net)
{
	if (!net)
		return;
	nn_dnn_free(net);
	for (int i = 0; i < net->ntens; i++) {
		free(net->t[i].own_val);
		free(net->t[i].own_grad);
	}
	for (int i = 0; i < net->nnodes; i++)
		free(net->nodes[i].save);
	for (int i = 0; i < net->nparams; i++) {
		free(net->params[i].w);
		free(net->params[i].g);
	}
	for (int c = 0; c < net->nchoices; c++) {
		for (int k = 0; k < net->ch[c].nb; k++)
			free(net->ch[c].bnodes[k]);
		free(net->ch[c].pool);
		free(net->ch[c].gpool);
	}
	free(net->ch);
	free(net->params);
	free(net->param_tensor);
	free(net->nodes);
	free(net->t);
	free(net->hidx);
	free(net->input_grad);
	free(net->arena);
	for (int k = 0; k < net->nslots; k++)
		free(net->slots[k]);
	free(net->slots);
	free(net);
}

/* ------------------------------------------------------------- threads */
typedef struct { int saved; } thr_state;
static thr_state thr_enter(const nash_net *net)
{
	thr_state s = {omp_get_max_threads()};
	omp_set_num_threads(net->threads);
	return s;
}
static void thr_leave(thr_state s)
{
	omp_set_num_threads(s.saved);
}

/* ----------------------------------------------------------- prologue */
void nn_refresh_scales(nash_net *net)
{
	for (int pass = 0; pass < 2; pass++)
		for (int id = 0; id < net->ntens; id++) {
			nn_tensor *t = T(id);
			int64_t m = t->v.numel;
			if (pass == 0 && t->scmode == SC_LEARNED)
				for (int64_t i = 0; i < m; i++)
					t->val[i] = exp2f(t->log2v[i]);
			else if (pass == 0 && t->scmode == SC_STATS && t->stats_src >= 0) {
				nn_tensor *w = T(t->stats_src);
				nash_qscale_stats(w->val, m, w->v.numel / m, t->stats_bits, t->stats_binary, t->val);
			} else if (pass == 1 && t->scmode == SC_PRODUCT) {
				const nn_tensor *a = T(t->from[0]), *b = T(t->from[1]);
				for (int64_t i = 0; i < m; i++)
					t->val[i] = a->val[a->v.numel == 1 ? 0 : i] * b->val[b->v.numel == 1 ? 0 : i];
			}
		}
}

static int prologue(nash_net *net, nash_err *e)
{
	if (net->computed != net->version) {
		nn_refresh_scales(net);
		net->computed = net->version;
	}
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if (!nd->constant || !nd->active || nd->stamp == net->version)
			continue;
		if (nn_forward_node(net, nd, 1, 0, e) < 0)
			return -1;
		nd->stamp = net->version;
	}
	return 0;
}

/* ------------------------------------------------------------ Choice */
static void softmax(const float *a, int k, double *p)
{
	double mx = a[0], s = 0;
	for (int i = 1; i < k; i++)
		mx = a[i] > mx ? a[i] : mx;
	for (int i = 0; i < k; i++)
		s += (p[i] = exp(a[i] - mx));
	for (int i = 0; i < k; i++)
		p[i] /= s;
}

/* Deterministic dot product (fixed partition, fixed merge order). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static double dot(const float *a, const float *b, int64_t m)
{
	int nt = m >= 32768 ? omp_get_max_threads() : 1;
	double part[256] = {0};
	if (nt > 256)
		nt = 256;
	#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), T_ = omp_get_num_threads();
		int64_t lo = m * t / T_, hi = m * (t + 1) / T_;
		double s = 0;
		for (int64_t i0 = lo; i0 < hi; i0 += 256) {
			int64_t i1 = i0 + 256 < hi ? i0 + 256 : hi;
			float f = 0;
			#pragma omp simd reduction(+:f)
			for (int64_t i = i0; i < i1; i++)
				f += a[i] * b[i];
			s += f;
		}
		part[t] = s;
	}
	double s = 0;
	for (int t = 0; t < nt; t++)
		s += part[t];
	return s;
}

static void choice_fwd(nash_net *net, nn_node *nd, int n)
{
	nn_choice *ch = &net->ch[nd->a.choice.idx];
	nn_tensor *y = T(nd->out);
	int64_t m = (int64_t)n * y->v.numel;
	softmax(T(ch->alpha)->val, ch->nb, ch->p);
	if (net->o.relax == NASH_RELAX_SAMPLE) {
		int bt = nd->in[ch->fwd];
		/* the output is the chosen branch: share its buffer when that
		 * buffer is not reused while the output lives (a pool, or a
		 * training net's own buffer) */
		if (bt >= 0 && (T(bt)->pooled || !T(bt)->shared)) {
			y->val = T(bt)->val;
			return;
		}
		y->val = y->home;
		if (bt < 0)
			memset(y->val, 0, (size_t)m * sizeof(float));
		else
			memcpy(y->val, T(bt)->val, (size_t)m * sizeof(float));
		return;
	}
	memset(y->val, 0, (size_t)m * sizeof(float));
	for (int k = 0; k < ch->nb; k++) {
		int bt = nd->in[k];
		if (bt < 0)
			continue;
		float pk = (float)ch->p[k];
		const float *b = T(bt)->val;
		float *yv = y->val;
		#pragma omp parallel for simd schedule(static)
		for (int64_t i = 0; i < m; i++)
			yv[i] += pk * b[i];
	}
}

/* Point branch k's pooled tensors at base (the pool or the arena). */
static void branch_place(nash_net *net, nn_choice *ch, int c, int k, float *base)
{
	for (int j = 0; j < ch->nbnodes[k]; j++) {
		nn_tensor *t = T(net->nodes[ch->bnodes[k][j]].out);
		if (t->pooled && t->owner == c)
			t->val = base + t->pool_off;
	}
}

/* Run branch k's nodes forward (gate evaluation in the sampled path),
 * all but the last when skip_last. */
static int branch_eval(nash_net *net, nn_choice *ch, int k, int n, int skip_last, nash_err *e)
{
	for (int j = 0; j < ch->nbnodes[k] - (skip_last != 0); j++) {
		nn_node *nd = &net->nodes[ch->bnodes[k][j]];
		if (nd->dead)
			continue;
		if (nd->constant) {
			if (nd->stamp == net->version)
				continue;
			if (nn_forward_node(net, nd, 1, 0, e) < 0)
				return -1;
			nd->stamp = net->version;
		} else if (nn_forward_node(net, nd, n, net->fwd_train ? 2 : 0, e) < 0)
			return -1;
	}
	return 0;
}

static int choice_bwd(nash_net *net, nn_node *nd, int n, nash_err *e)
{
	nn_choice *ch = &net->ch[nd->a.choice.idx];
	nn_tensor *y = T(nd->out);
	int64_t m = (int64_t)n * y->v.numel;
	int sample = net->o.relax == NASH_RELAX_SAMPLE;
	nn_tensor *al = T(ch->alpha);
	if (al->rg && al->grad) {
		double gate[64];
		net->bf16_gen++;
		for (int k = 0; k < ch->nb; k++) {
			int bt = nd->in[k];
			gate[k] = 0;
			if (bt < 0)
				continue;
			int c = nd->a.choice.idx, ev = sample && k != ch->fwd && T(bt)->owner == c;
			if (ev && net->arena)
				branch_place(net, ch, c, k, net->arena);
			/* a branch ending in a training-mode BN: its gate from the BN's
			 * input and statistics, without writing the BN's output */
			nn_node *last = ch->nbnodes[k] ? &net->nodes[ch->bnodes[k][ch->nbnodes[k] - 1]] : NULL;
			int fuse = ev && net->fwd_train && last && last->out == bt && !last->dead && last->op == OP_BN &&
			           !last->fuse_relu && last->epi_q < 0;
			net->bf16_fwd = net->bf16;
			int rc = ev ? branch_eval(net, ch, k, n, fuse, e) : 0;
			net->bf16_fwd = 0;
			if (rc == 0 && !(fuse && nn_bn_gate(net, last, n, y->grad, &gate[k]) == 0))
				gate[k] = dot(y->grad, T(bt)->val, m);
			if (ev && net->arena)
				branch_place(net, ch, c, k, ch->pool);
			if (rc < 0)
				return -1;
		}
		for (int i = 0; i < ch->nb; i++) {
			double s = 0;
			for (int j = 0; j < ch->nb; j++)
				s += gate[j] * ch->p[j] * ((i == j) - ch->p[i]);
			al->grad[i] += (float)s;
		}
		al->gset = 1;
	}
	for (int k = 0; k < ch->nb; k++) {
		int bt = nd->in[k];
		if (bt < 0 || !T(bt)->rg || !T(bt)->grad || (sample && k != ch->fwd))
			continue;
		nn_tensor *b = T(bt);
		int acc = b->gset || b->kind == T_PARAM;
		b->gset = 1;
		float pk = sample ? 1.0f : (float)ch->p[k];
		float *g = b->grad;
		const float *dy = y->grad;
		#pragma omp parallel for simd schedule(static)
		for (int64_t i = 0; i < m; i++)
			g[i] = (acc ? g[i] : 0) + pk * dy[i];
	}
	return 0;
}

/* ------------------------------------------------------------ forward */
static void set_active(nash_net *net)
{
	int soft = net->o.relax == NASH_RELAX_SOFTMAX;
	for (int c = 0; c < net->nchoices; c++)
		net->ch[c].fwd = net->ch[c].chosen;
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		nd->active = !nd->dead && (nd->owner < 0 || soft || net->ch[nd->owner].fwd == nd->branch);
	}
}

static int check_finite(nash_net *net, int n, nash_err *e)
{
	nn_tensor *lt = T(net->logits);
	int64_t m = (int64_t)n * lt->v.numel;
	int bad = 0;
	for (int64_t i = 0; i < m && !bad; i++)
		bad = !isfinite(lt->val[i]);
	if (!bad)
		return 0;
	/* name the first node whose output is not finite; an inference net has
	 * reused its buffers, so it runs again checking after every node (the
	 * input is intact, running statistics are left alone) */
	int rerun = net->nslots > 0;
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if (!nd->active)
			continue;
		if (rerun && !nd->constant) {
			int rc = nd->op == OP_CHOICE ? (choice_fwd(net, nd, n), 0)
			                             : nn_forward_node(net, nd, n, net->fwd_train ? 2 : 0, e);
			if (rc < 0)
				return -1;
		}
		nn_tensor *t = T(nd->out);
		int64_t mm = (t->v.bs ? n : 1) * t->v.numel;
		for (int64_t k = 0; k < mm; k++)
			if (!isfinite(t->val[k]))
				return nash_fail(e, "graph %s: node %s (%s): non-finite output (%g) in the forward pass",
				                 net->g->name, nd->n->name, nd->n->op, (double)t->val[k]);
	}
	return nash_fail(e, "graph %s: non-finite logits", net->g->name);
}

int nash_net_forward(nash_net *net, const float *x, int n, nash_err *e)
{
	if (n < 1 || n > net->o.batch)
		return nash_fail(e, "graph %s: forward of %d images, the net was built for 1..%d", net->g->name, n,
		                 net->o.batch);
	thr_state ts = thr_enter(net);
	int rc = 0;
	net->have_loss = 0;
	/* NCHW -> channels last */
	nn_tensor *in = T(net->input);
	int64_t C = in->v.r ? in->v.d[0] : 1, S = in->v.numel / (C ? C : 1);
	float *dst = in->val;
	if (C == 1 || S == 1)
		memcpy(dst, x, (size_t)((int64_t)n * in->v.numel) * sizeof(float));
	else {
		#pragma omp parallel for schedule(static)
		for (int b = 0; b < n; b++)
			for (int64_t s = 0; s < S; s++)
				for (int64_t c = 0; c < C; c++)
					dst[(b * S + s) * C + c] = x[(b * C + c) * S + s];
	}
	for (int64_t i = 0; i < (int64_t)n * in->v.numel; i++)
		if (!isfinite(dst[i])) {
			thr_leave(ts);
			return nash_fail(e, "graph %s: input image %lld has a non-finite value", net->g->name,
			                 (long long)(i / in->v.numel));
		}
	if (net->train_mode)
		net->version++;
	set_active(net);
	if (prologue(net, e) < 0)
		rc = -1;
	for (int i = 0; i < net->nnodes && rc == 0; i++) {
		nn_node *nd = &net->nodes[i];
		if (nd->constant || !nd->active)
			continue;
		if (nd->op == OP_CHOICE)
			choice_fwd(net, nd, n);
		else
			rc = nn_forward_node(net, nd, n, net->train_mode, e);
	}
	net->fwd_n = n;
	net->fwd_train = net->train_mode;
	if (rc == 0)
		rc = check_finite(net, n, e);
	else
		nash_err_prefix(e, "graph %s: ", net->g->name);
	thr_leave(ts);
	return rc;
}

const float *nash_net_logits(const nash_net *net, int *k)
{
	if (k)
		*k = (int)net->k;
	return net->t[net->logits].val;
}

/* --------------------------------------------------------------- loss */
double nash_net_loss(nash_net *net, const int *labels, double smoothing, int *top1, int *top5)
{
	int n = net->fwd_n;
	int64_t K = net->k;
	nn_tensor *lt = T(net->logits);
	const float *z = lt->val;
	float *dz = lt->grad;
	double total = 0, eps = smoothing;
	int c1 = 0, c5 = 0;
	net->have_loss = 0;
	if (n < 1 || !(eps >= 0 && eps < 1))
		return NAN;
	for (int b = 0; b < n; b++)
		if (labels[b] < 0 || labels[b] >= K)
			return NAN;
	for (int b = 0; b < n; b++) {
		const float *zb = z + b * K;
		int y = labels[b];
		double mx = zb[0], s = 0, zt = 0;
		for (int64_t k = 1; k < K; k++)
			mx = zb[k] > mx ? zb[k] : mx;
		for (int64_t k = 0; k < K; k++) {
			s += exp(zb[k] - mx);
			zt += zb[k];
		}
		double lse = mx + log(s);
		total += lse - (1 - eps) * zb[y] - eps / (double)K * zt;
		int64_t rank = 0;
		for (int64_t k = 0; k < K; k++)
			rank += zb[k] > zb[y] || (zb[k] == zb[y] && k < y);
		c1 += rank < 1;
		c5 += rank < 5;
		if (dz)
			for (int64_t k = 0; k < K; k++) {
				double p = exp(zb[k] - lse), t = (k == y) * (1 - eps) + eps / (double)K;
				dz[b * K + k] = (float)((p - t) / n);
			}
	}
	if (top1)
		*top1 = c1;
	if (top5)
		*top5 = c5;
	net->have_loss = dz != NULL;
	return total / n;
}

/* ----------------------------------------------------------- backward */
int nash_net_backward(nash_net *net, int what, nash_err *e)
{
	if (!net->o.train)
		return nash_fail(e, "graph %s: backward on a net compiled for inference (train = 0)", net->g->name);
	if (!net->have_loss)
		return nash_fail(e, "graph %s: backward needs a forward and nash_net_loss first", net->g->name);
	thr_state ts = thr_enter(net);
	int n = net->fwd_n, rc = 0;
	/* which tensors need a gradient */
	for (int id = 0; id < net->ntens; id++) {
		nn_tensor *t = T(id);
		t->gset = 0;
		t->rg = 0;
		if (t->kind == T_PARAM && t->param >= 0) {
			nash_pkind k = net->params[t->param].kind;
			t->rg = k == NASH_P_STATE ? 0 : k == NASH_P_ALPHA ? (what & NASH_GRAD_ALPHA) != 0
			                                                  : (what & NASH_GRAD_WEIGHTS) != 0;
		} else if (t->kind == T_INPUT)
			t->rg = net->want_input_grad;
	}
	if (net->want_input_grad && !T(net->input)->grad) {
		nn_tensor *in = T(net->input);
		in->own_grad = in->grad = nn_falloc(net, (size_t)((int64_t)net->o.batch * in->v.numel));
	}
	for (int i = 0; i < net->nnodes; i++) {
		nn_node *nd = &net->nodes[i];
		if (nd->dead)
			continue;
		int rg = 0;
		for (int k = 0; k < nd->nin; k++)
			if (nd->in[k] >= 0)
				rg |= T(nd->in[k])->rg;
		for (int k = 0; k < nd->naux; k++)
			rg |= T(nd->aux[k])->rg;
		T(nd->out)->rg = rg && nd->active;
	}
	T(net->logits)->gset = 1;
	for (int i = net->nnodes - 1; i >= 0 && rc == 0; i--) {
		nn_node *nd = &net->nodes[i];
		nn_tensor *o = T(nd->out);
		if (!nd->active || !o->rg || !o->gset)
			continue;
		if (nd->op == OP_CHOICE)
			rc = choice_bwd(net, nd, n, e);
		else
			rc = nn_backward_node(net, nd, n, net->fwd_train, e);
	}
	if (rc == 0 && net->want_input_grad) {
		nn_tensor *in = T(net->input);
		int64_t C = in->v.r ? in->v.d[0] : 1, S = in->v.numel / (C ? C : 1), m = (int64_t)n * in->v.numel;
		if (!net->input_grad)
			net->input_grad = nn_falloc(net, (size_t)((int64_t)net->o.batch * in->v.numel));
		if (!in->gset)
			memset(net->input_grad, 0, (size_t)m * sizeof(float));
		else
			for (int b = 0; b < n; b++)
				for (int64_t s = 0; s < S; s++)
					for (int64_t c = 0; c < C; c++)
						net->input_grad[(b * C + c) * S + s] = in->grad[(b * S + s) * C + c];
	}
	if (rc < 0)
		nash_err_prefix(e, "graph %s: ", net->g->name);
	thr_leave(ts);
	return rc;
}

void nash_net_zero_grad(nash_net *net)
{
	int64_t tot = 0;
	for (int i = 0; i < net->nparams; i++)
		tot += net->params[i].g ? net->params[i].n : 0;
	#pragma omp parallel for schedule(dynamic) num_threads(tot >= (1 << 18) ? net->threads : 1)
	for (int i = 0; i < net->nparams; i++)
		if (net->params[i].g)
			memset(net->params[i].g, 0, (size_t)net->params[i].n * sizeof(float));
}

void nash_net_train_mode(nash_net *net, int on)
{
	net->train_mode = on != 0;
	net->version++;
}

void nash_net_want_input_grad(nash_net *net, int on)
{
	net->want_input_grad = on != 0;
}

int nash_net_bf16(nash_net *net, int on)
{
	net->bf16 = on && net->o.train && nn_dnn_active(net);
	return net->bf16;
}

int nash_bf16_native(void)
{
	return nn_bf16_native();
}

const float *nash_net_input_grad(const nash_net *net)
{
	return net->want_input_grad ? net->input_grad : NULL;
}

void nash_net_params_changed(nash_net *net)
{
	net->version++;
}

/* ------------------------------------------------------------- params */
int nash_net_nparams(const nash_net *net)
{
	return net->nparams;
}

nash_param *nash_net_param(nash_net *net, int i)
{
	if (i < 0 || i >= net->nparams)
		return NULL;
	net->version++; /* the caller may change it: drop eval-mode caches */
	return &net->params[i];
}

int nash_net_nchoices(const nash_net *net)
{
	return net->nchoices;
}

const nash_node *nash_net_choice(const nash_net *net, int i)
{
	return i >= 0 && i < net->nchoices ? net->nodes[net->ch[i].node].n : NULL;
}

void nash_net_sample(nash_net *net, nash_rng *rng)
{
	for (int c = 0; c < net->nchoices; c++) {
		nn_choice *ch = &net->ch[c];
		double p[64], u = nash_rng_uniform(rng), acc = 0;
		softmax(T(ch->alpha)->val, ch->nb, p);
		ch->chosen = ch->nb - 1;
		for (int k = 0; k < ch->nb; k++) {
			acc += p[k];
			if (u < acc) {
				ch->chosen = k;
				break;
			}
		}
	}
}

void nash_net_choose(nash_net *net, int i, int k)
{
	if (i >= 0 && i < net->nchoices && k >= 0 && k < net->ch[i].nb)
		net->ch[i].chosen = k;
}

int nash_net_chosen(const nash_net *net, int i)
{
	return i >= 0 && i < net->nchoices ? net->ch[i].chosen : -1;
}

int nash_net_sync(nash_net *net, nash_err *e)
{
	nn_refresh_scales(net);
	for (int id = 0; id < net->ntens; id++) {
		nn_tensor *t = T(id);
		if (t->kind != T_PARAM)
			continue;
		int write = t->param >= 0 || t->scmode == SC_STATS || t->scmode == SC_PRODUCT;
		if (!write)
			continue;
		nash_tensor *gt = nash_tensor_find(net->g, t->name);
		if (!gt || !gt->data || gt->dtype != NASH_F32 || nash_tensor_numel(gt) != t->v.numel)
			return nash_fail(e, "graph %s: tensor %s changed in the graph since the net was built",
			                 net->g->name, t->name);
		memcpy(gt->data, t->val, (size_t)t->v.numel * sizeof(float));
	}
	return 0;
}

size_t nash_net_bytes(const nash_net *net)
{
	return net->bytes;
}
