/* shape.c - shape rules of the float-level ops, Quant, Choice,
 * MultiThreshold and the hardware operators of nash-ops(7). Shapes omit the batch; attributes that name axes count
 * it (ONNX numbering: axis 1 is channels). */
#include "core/nash.h"

#include <string.h>

#define MAXRULES 128
static struct { char op[40]; nash_shape_fn fn; } rules[MAXRULES];
static int nrules;
static int builtins_done;
static void builtins(void);

void nash_shape_rule_add(const char *op, nash_shape_fn fn)
{
	for (int i = 0; i < nrules; i++)
		if (strcmp(rules[i].op, op) == 0) {
			rules[i].fn = fn;
			return;
		}
	if (nrules < MAXRULES) {
		snprintf(rules[nrules].op, sizeof rules[nrules].op, "%s", op);
		rules[nrules++].fn = fn;
	}
}

nash_shape_fn nash_shape_rule(const char *op)
{
	if (!builtins_done)
		builtins();
	for (int i = 0; i < nrules; i++)
		if (strcmp(rules[i].op, op) == 0)
			return rules[i].fn;
	return NULL;
}

#define IN(k) (n->nin > (k) ? ish[k] : NULL)
#define SH(buf, s) nash_shape_str((s)->ndim, (s)->d, buf)

static int need(const nash_node *n, const nash_shape *const *ish, int k, nash_err *e)
{
	if (n->nin <= k || !ish[k])
		return nash_fail(e, "node %s (%s): input %d is missing", n->name, n->op, k);
	return 0;
}

static int same(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                nash_shape *o, nash_err *e)
{
	(void)g;
	if (need(n, ish, 0, e) < 0)
		return -1;
	*o = *ish[0];
	return 0;
}

/* Spatial output size: floor or ceil of (in + pads - dil*(k-1) - 1)/s + 1 */
static int64_t outdim(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1,
                      int64_t d, int ceil_mode)
{
	int64_t num = in + p0 + p1 - d * (k - 1) - 1;
	if (num < 0)
		return 0;
	return (ceil_mode ? (num + s - 1) / s : num / s) + 1;
}

static int spatial_attrs(const nash_node *n, int64_t *k, int64_t *s, int64_t *p,
                         int64_t *d, nash_err *e)
{
	int64_t tmp[8];
	int c;
	if ((c = nash_attr_ints(n, "strides", tmp, 8)) >= 0) {
		if (c != 2 || tmp[0] < 1 || tmp[1] < 1)
			return nash_fail(e, "node %s (%s): strides must be two positive integers", n->name, n->op);
		s[0] = tmp[0];
		s[1] = tmp[1];
	} else
		s[0] = s[1] = 1;
	if ((c = nash_attr_ints(n, "pads", tmp, 8)) >= 0) {
		if (c != 4 || tmp[0] < 0 || tmp[1] < 0 || tmp[2] < 0 || tmp[3] < 0)
			return nash_fail(e, "node %s (%s): pads must be four non-negative integers [top,left,bottom,right]",
			                 n->name, n->op);
		memcpy(p, tmp, 4 * sizeof *p);
	} else
		p[0] = p[1] = p[2] = p[3] = 0;
	if ((c = nash_attr_ints(n, "dilations", tmp, 8)) >= 0) {
		if (c != 2 || tmp[0] < 1 || tmp[1] < 1)
			return nash_fail(e, "node %s (%s): dilations must be two positive integers", n->name, n->op);
		d[0] = tmp[0];
		d[1] = tmp[1];
	} else
		d[0] = d[1] = 1;
	if ((c = nash_attr_ints(n, "kernel_shape", tmp, 8)) >= 0) {
		if (c != 2 || tmp[0] < 1 || tmp[1] < 1)
			return nash_fail(e, "node %s (%s): kernel_shape must be two positive integers", n->name, n->op);
		k[0] = tmp[0];
		k[1] = tmp[1];
	} else
		k[0] = k[1] = 0;
	return 0;
}

static int conv(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	int64_t k[2], s[2], p[4], d[2];
	if (need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0 || spatial_attrs(n, k, s, p, d, e) < 0)
		return -1;
	const nash_shape *x = ish[0], *w = ish[1];
	int64_t grp = nash_attr_int(n, "group", 1);
	if (x->ndim != 3)
		return nash_fail(e, "node %s (Conv): input %s must be CxHxW", n->name, SH(a, x));
	if (w->ndim != 4)
		return nash_fail(e, "node %s (Conv): weight %s must be MxC/groupxKHxKW", n->name, SH(a, w));
	if (grp < 1 || x->d[0] % grp || w->d[0] % grp || w->d[1] * grp != x->d[0])
		return nash_fail(e, "node %s (Conv): shape mismatch: input %s, weight %s, group %lld",
		                 n->name, SH(a, x), SH(b, w), (long long)grp);
	if (k[0] && (k[0] != w->d[2] || k[1] != w->d[3]))
		return nash_fail(e, "node %s (Conv): kernel_shape %lldx%lld disagrees with weight %s",
		                 n->name, (long long)k[0], (long long)k[1], SH(a, w));
	if (IN(2) && (IN(2)->ndim != 1 || IN(2)->d[0] != w->d[0]))
		return nash_fail(e, "node %s (Conv): bias %s must have %lld elements", n->name,
		                 SH(a, IN(2)), (long long)w->d[0]);
	o->ndim = 3;
	o->dtype = x->dtype;
	o->d[0] = w->d[0];
	o->d[1] = outdim(x->d[1], w->d[2], s[0], p[0], p[2], d[0], 0);
	o->d[2] = outdim(x->d[2], w->d[3], s[1], p[1], p[3], d[1], 0);
	if (o->d[1] < 1 || o->d[2] < 1)
		return nash_fail(e, "node %s (Conv): kernel larger than the padded input %s", n->name, SH(a, x));
	return 0;
}

static int pool(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	int64_t k[2], s[2], p[4], d[2];
	if (need(n, ish, 0, e) < 0 || spatial_attrs(n, k, s, p, d, e) < 0)
		return -1;
	const nash_shape *x = ish[0];
	if (x->ndim != 3)
		return nash_fail(e, "node %s (%s): input %s must be CxHxW", n->name, n->op, SH(a, x));
	if (!k[0])
		return nash_fail(e, "node %s (%s): kernel_shape missing", n->name, n->op);
	if (p[0] >= k[0] || p[2] >= k[0] || p[1] >= k[1] || p[3] >= k[1])
		return nash_fail(e, "node %s (%s): padding must be smaller than the kernel", n->name, n->op);
	int cm = (int)nash_attr_int(n, "ceil_mode", 0);
	*o = *x;
	o->d[1] = outdim(x->d[1], k[0], s[0], p[0], p[2], d[0], cm);
	o->d[2] = outdim(x->d[2], k[1], s[1], p[1], p[3], d[1], cm);
	if (o->d[1] < 1 || o->d[2] < 1)
		return nash_fail(e, "node %s (%s): kernel larger than the padded input %s", n->name, n->op, SH(a, x));
	return 0;
}

static int gpool(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                 nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	if (need(n, ish, 0, e) < 0)
		return -1;
	if (ish[0]->ndim != 3)
		return nash_fail(e, "node %s (%s): input %s must be CxHxW", n->name, n->op, SH(a, ish[0]));
	*o = *ish[0];
	o->d[1] = o->d[2] = 1;
	return 0;
}

static int bn(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
              nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	if (need(n, ish, 0, e) < 0)
		return -1;
	if (n->nin != 5)
		return nash_fail(e, "node %s (BatchNormalization): needs 5 inputs (X, scale, B, mean, var), has %d",
		                 n->name, n->nin);
	const nash_shape *x = ish[0];
	if (x->ndim < 1)
		return nash_fail(e, "node %s (BatchNormalization): scalar input", n->name);
	for (int i = 1; i < 5; i++) {
		if (need(n, ish, i, e) < 0)
			return -1;
		if (ish[i]->ndim != 1 || ish[i]->d[0] != x->d[0])
			return nash_fail(e, "node %s (BatchNormalization): %s is %s, expected %lld channels",
			                 n->name, n->in[i], SH(a, ish[i]), (long long)x->d[0]);
	}
	*o = *x;
	return 0;
}

/* NumPy broadcasting of two shapes (aligned at the right). */
static int bcast(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                 nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	if (n->nin != 2 || need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0)
		return nash_fail(e, "node %s (%s): needs two inputs", n->name, n->op);
	const nash_shape *x = ish[0], *y = ish[1];
	int nd = x->ndim > y->ndim ? x->ndim : y->ndim;
	o->ndim = nd;
	o->dtype = x->dtype;
	for (int i = 0; i < nd; i++) {
		int ix = x->ndim - nd + i, iy = y->ndim - nd + i;
		int64_t dx = ix >= 0 ? x->d[ix] : 1, dy = iy >= 0 ? y->d[iy] : 1;
		if (dx != dy && dx != 1 && dy != 1)
			return nash_fail(e, "node %s (%s): shape mismatch: %s and %s do not broadcast",
			                 n->name, n->op, SH(a, x), SH(b, y));
		o->d[i] = dx == 1 ? dy : dx;
	}
	return 0;
}

static int axis_of(const nash_node *n, const char *key, int64_t def, int rank)
{
	int64_t ax = nash_attr_int(n, key, def);
	if (ax < 0)
		ax += rank + 1; /* rank counted with the batch */
	return (int)ax - 1;  /* to no-batch numbering */
}

static int concat(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                  nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	if (n->nin < 1 || need(n, ish, 0, e) < 0)
		return -1;
	int ax = axis_of(n, "axis", 1, ish[0]->ndim);
	if (ax < 0 || ax >= ish[0]->ndim)
		return nash_fail(e, "node %s (Concat): axis %lld out of range", n->name,
		                 (long long)nash_attr_int(n, "axis", 1));
	*o = *ish[0];
	for (int i = 1; i < n->nin; i++) {
		if (need(n, ish, i, e) < 0)
			return -1;
		const nash_shape *y = ish[i];
		int ok = y->ndim == o->ndim;
		for (int k = 0; ok && k < y->ndim; k++)
			if (k != ax && y->d[k] != ish[0]->d[k])
				ok = 0;
		if (!ok)
			return nash_fail(e, "node %s (Concat): shape mismatch: %s and %s", n->name,
			                 SH(a, ish[0]), SH(b, y));
		o->d[ax] += y->d[ax];
	}
	return 0;
}

static int flatten(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                   nash_shape *o, nash_err *e)
{
	(void)g;
	if (need(n, ish, 0, e) < 0)
		return -1;
	if (nash_attr_int(n, "axis", 1) != 1)
		return nash_fail(e, "node %s (Flatten): only axis 1 (keep the batch) is supported", n->name);
	o->ndim = 1;
	o->dtype = ish[0]->dtype;
	o->d[0] = nash_shape_numel(ish[0]->ndim, ish[0]->d);
	return 0;
}

static int gemm(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	if (need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0)
		return -1;
	const nash_shape *x = ish[0], *w = ish[1];
	int tb = strcmp(n->op, "Gemm") == 0 && nash_attr_int(n, "transB", 0);
	if (x->ndim != 1 || w->ndim != 2)
		return nash_fail(e, "node %s (%s): needs a vector input and a matrix, got %s and %s",
		                 n->name, n->op, SH(a, x), SH(b, w));
	int64_t k = tb ? w->d[1] : w->d[0], m = tb ? w->d[0] : w->d[1];
	if (k != x->d[0])
		return nash_fail(e, "node %s (%s): shape mismatch: input %s, weight %s%s", n->name, n->op,
		                 SH(a, x), SH(b, w), tb ? " (transB)" : "");
	if (IN(2) && nash_shape_numel(IN(2)->ndim, IN(2)->d) != m)
		return nash_fail(e, "node %s (%s): bias %s must have %lld elements", n->name, n->op,
		                 SH(a, IN(2)), (long long)m);
	o->ndim = 1;
	o->dtype = x->dtype;
	o->d[0] = m;
	return 0;
}

static int slice(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                 nash_shape *o, nash_err *e)
{
	(void)g;
	int64_t st[8], en[8], ax[8], sp[8];
	if (need(n, ish, 0, e) < 0)
		return -1;
	int ns = nash_attr_ints(n, "starts", st, 8), ne = nash_attr_ints(n, "ends", en, 8);
	int na = nash_attr_ints(n, "axes", ax, 8), np = nash_attr_ints(n, "steps", sp, 8);
	if (ns < 1 || ns != ne || ns > 8 || (na >= 0 && na != ns) || (np >= 0 && np != ns))
		return nash_fail(e, "node %s (Slice): starts, ends (and axes, steps) must be lists of equal length",
		                 n->name);
	*o = *ish[0];
	for (int i = 0; i < ns; i++) {
		int a = na >= 0 ? (int)(ax[i] < 0 ? ax[i] + o->ndim + 1 : ax[i]) - 1 : i;
		int64_t step = np >= 0 ? sp[i] : 1;
		if (a < 0 || a >= o->ndim || step < 1)
			return nash_fail(e, "node %s (Slice): bad axis or step", n->name);
		int64_t dim = ish[0]->d[a];
		int64_t s = st[i] < 0 ? st[i] + dim : st[i], t = en[i] < 0 ? en[i] + dim : en[i];
		s = s < 0 ? 0 : s > dim ? dim : s;
		t = t < 0 ? 0 : t > dim ? dim : t;
		o->d[a] = t > s ? (t - s + step - 1) / step : 0;
		if (o->d[a] == 0)
			return nash_fail(e, "node %s (Slice): empty result on axis %d", n->name, a + 1);
	}
	return 0;
}

static int pad(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
               nash_shape *o, nash_err *e)
{
	(void)g;
	int64_t p[2 * (NASH_MAXDIM + 1)];
	if (need(n, ish, 0, e) < 0)
		return -1;
	int r = ish[0]->ndim + 1, c = nash_attr_ints(n, "pads", p, 2 * (NASH_MAXDIM + 1));
	if (c != 2 * r)
		return nash_fail(e, "node %s (Pad): pads must have %d entries (begin then end of every axis, batch first)",
		                 n->name, 2 * r);
	if (p[0] || p[r])
		return nash_fail(e, "node %s (Pad): padding the batch axis is not supported", n->name);
	*o = *ish[0];
	for (int i = 1; i < r; i++) {
		o->d[i - 1] += p[i] + p[r + i];
		if (o->d[i - 1] < 1)
			return nash_fail(e, "node %s (Pad): empty result", n->name);
	}
	return 0;
}

static int transpose(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                     nash_shape *o, nash_err *e)
{
	(void)g;
	int64_t perm[NASH_MAXDIM + 1];
	if (need(n, ish, 0, e) < 0)
		return -1;
	int r = ish[0]->ndim + 1, c = nash_attr_ints(n, "perm", perm, NASH_MAXDIM + 1);
	if (c != r || perm[0] != 0)
		return nash_fail(e, "node %s (Transpose): perm must list %d axes and keep the batch first", n->name, r);
	*o = *ish[0];
	int seen[NASH_MAXDIM + 1] = {0};
	for (int i = 1; i < r; i++) {
		if (perm[i] < 1 || perm[i] >= r || seen[perm[i]]++)
			return nash_fail(e, "node %s (Transpose): perm is not a permutation", n->name);
		o->d[i - 1] = ish[0]->d[perm[i] - 1];
	}
	return 0;
}

/* Choice: inputs are the candidate branches ("" for none) and the alpha
 * logits last; the output has the branches' common shape. */
static int choice(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                  nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	int nb = n->nin - 1, first = -1;
	if (nb < 1 || !ish[nb])
		return nash_fail(e, "node %s (Choice): needs candidate inputs and an alpha tensor last", n->name);
	if (ish[nb]->ndim != 1 || ish[nb]->d[0] != nb)
		return nash_fail(e, "node %s (Choice): alpha %s must have one logit per candidate (%d)",
		                 n->name, SH(a, ish[nb]), nb);
	for (int i = 0; i < nb; i++) {
		if (!ish[i])
			continue;
		if (first < 0) {
			first = i;
			*o = *ish[i];
		} else if (ish[i]->ndim != o->ndim ||
		           memcmp(ish[i]->d, o->d, (size_t)o->ndim * sizeof *o->d) != 0)
			return nash_fail(e, "node %s (Choice): shape mismatch: candidate %s is %s, %s is %s",
			                 n->name, n->in[i], SH(a, ish[i]), n->in[first], SH(b, o));
	}
	if (first < 0) {
		int64_t sh[NASH_MAXDIM];
		int nd = nash_attr_ints(n, "shape", sh, NASH_MAXDIM);
		if (nd < 1)
			return nash_fail(e, "node %s (Choice): every candidate is none and no shape attribute", n->name);
		o->ndim = nd;
		memcpy(o->d, sh, (size_t)nd * sizeof *sh);
		o->dtype = NASH_F32;
	}
	return 0;
}

static int multithreshold(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                          nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	if (need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0)
		return -1;
	const nash_shape *t = ish[1];
	if (t->ndim != 2 || (t->d[0] != 1 && (ish[0]->ndim < 1 || t->d[0] != ish[0]->d[0])))
		return nash_fail(e, "node %s (MultiThreshold): thresholds %s must be channels x steps (or 1 x steps)",
		                 n->name, SH(a, t));
	*o = *ish[0];
	return 0;
}

/* ------------------------------------------------- hardware operators */
/* After nash-stream, activations are H x W x C streams (a vector is
 * 1 x 1 x K). The rules below check the shapes against the attributes of
 * nash-ops(7) and derive the output shape from them. */

/* An attribute that is one int (square) or a list of two. */
static int pair_attr(const nash_node *n, const char *key, int64_t def, int64_t *out)
{
	int64_t v[4];
	int c = nash_attr_ints(n, key, v, 4);
	if (c == 2) {
		out[0] = v[0];
		out[1] = v[1];
	} else if (c == 1) {
		out[0] = out[1] = v[0];
	} else if (c < 0 && (!nash_attr_has(n, key) || nash_val_is_num(nash_val_get(n->attr, key)))) {
		out[0] = out[1] = nash_attr_int(n, key, def);
	} else
		return -1;
	return out[0] >= 0 && out[1] >= 0 ? 0 : -1;
}

static int pads_attr(const nash_node *n, const char *key, int64_t *p)
{
	int64_t v[4];
	int c = nash_attr_ints(n, key, v, 4);
	if (c < 0 && !nash_attr_has(n, key)) {
		p[0] = p[1] = p[2] = p[3] = 0;
		return 0;
	}
	if (c == 4) {
		memcpy(p, v, sizeof v);
	} else if (c == 2) { /* [vertical, horizontal] */
		p[0] = p[2] = v[0];
		p[1] = p[3] = v[1];
	} else if (c == 1 || (c < 0 && nash_val_is_num(nash_val_get(n->attr, key)))) {
		int64_t x = c == 1 ? v[0] : nash_attr_int(n, key, 0);
		p[0] = p[1] = p[2] = p[3] = x;
	} else
		return -1;
	return p[0] >= 0 && p[1] >= 0 && p[2] >= 0 && p[3] >= 0 ? 0 : -1;
}

/* Storage type of a FINN datatype attribute, or def. */
static nash_dtype dt_attr(const nash_node *n, const char *key, nash_dtype def)
{
	nash_datatype d;
	const char *s = nash_attr_str(n, key, NULL);
	if (!s || nash_datatype_parse(s, &d) < 0 || !d.kind)
		return def;
	return nash_datatype_storage(d);
}

static int need_hwc(const nash_node *n, const nash_shape *x, nash_err *e)
{
	char a[128];
	if (x->ndim != 3)
		return nash_fail(e, "node %s (%s): input %s must be HxWxC", n->name, n->op, SH(a, x));
	return 0;
}

static int swg(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
               nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	int64_t k[2], ifm[2], ofm[2], s[2], d[2], p[4];
	if (need(n, ish, 0, e) < 0 || need_hwc(n, ish[0], e) < 0)
		return -1;
	const nash_shape *x = ish[0];
	int64_t c = nash_attr_int(n, "IFMChannels", x->d[2]);
	if (pair_attr(n, "ConvKernelDim", 0, k) < 0 || k[0] < 1 || k[1] < 1)
		return nash_fail(e, "node %s (ConvolutionInputGenerator): ConvKernelDim must be one or two positive integers", n->name);
	if (pair_attr(n, "Stride", 1, s) < 0 || s[0] < 1 || s[1] < 1)
		return nash_fail(e, "node %s (ConvolutionInputGenerator): Stride must be one or two positive integers", n->name);
	if (pair_attr(n, "Dilation", 1, d) < 0 || d[0] < 1 || d[1] < 1)
		return nash_fail(e, "node %s (ConvolutionInputGenerator): Dilation must be one or two positive integers", n->name);
	if (pads_attr(n, "Padding", p) < 0)
		return nash_fail(e, "node %s (ConvolutionInputGenerator): Padding must be [top, left, bottom, right]", n->name);
	if (pair_attr(n, "IFMDim", x->d[0], ifm) < 0)
		return nash_fail(e, "node %s (ConvolutionInputGenerator): IFMDim must be [H, W]", n->name);
	if (ifm[0] != x->d[0] || ifm[1] != x->d[1] || c != x->d[2])
		return nash_fail(e, "node %s (ConvolutionInputGenerator): input %s disagrees with IFMDim %lldx%lld, IFMChannels %lld",
		                 n->name, SH(a, x), (long long)ifm[0], (long long)ifm[1], (long long)c);
	int64_t oh = outdim(ifm[0], k[0], s[0], p[0], p[2], d[0], 0);
	int64_t ow = outdim(ifm[1], k[1], s[1], p[1], p[3], d[1], 0);
	if (oh < 1 || ow < 1)
		return nash_fail(e, "node %s (ConvolutionInputGenerator): kernel larger than the padded input %s", n->name, SH(a, x));
	if (nash_attr_has(n, "OFMDim")) {
		if (pair_attr(n, "OFMDim", 0, ofm) < 0 || ofm[0] != oh || ofm[1] != ow)
			return nash_fail(e, "node %s (ConvolutionInputGenerator): OFMDim disagrees with the kernel, stride and padding (%lldx%lld)",
			                 n->name, (long long)oh, (long long)ow);
	}
	o->ndim = 3;
	o->d[0] = oh;
	o->d[1] = ow;
	o->d[2] = k[0] * k[1] * c;
	o->dtype = dt_attr(n, "outputDataType", x->dtype);
	return 0;
}

/* Leading dims of a stream (all but the last) must multiply to numInputVectors. */
static int check_vectors(const nash_node *n, const nash_shape *x, nash_err *e)
{
	int64_t v[8];
	int c = nash_attr_ints(n, "numInputVectors", v, 8);
	if (c < 0)
		return 0;
	int64_t want = 1, have = 1;
	for (int i = 0; i < c && i < 8; i++)
		want *= v[i];
	for (int i = 0; i + 1 < x->ndim; i++)
		have *= x->d[i];
	if (want != have)
		return nash_fail(e, "node %s (%s): numInputVectors (%lld pixels) disagrees with the input stream (%lld pixels)",
		                 n->name, n->op, (long long)want, (long long)have);
	return 0;
}

static int thresholds_shape(const nash_node *n, const nash_shape *t, int64_t ch, nash_err *e)
{
	char a[128];
	if (t->ndim != 2 || (t->d[0] != 1 && t->d[0] != ch))
		return nash_fail(e, "node %s (%s): thresholds %s must be %lld x steps (or 1 x steps)", n->name, n->op,
		                 SH(a, t), (long long)ch);
	if (nash_attr_has(n, "numSteps") && nash_attr_int(n, "numSteps", 0) != t->d[1])
		return nash_fail(e, "node %s (%s): numSteps %lld disagrees with thresholds %s", n->name, n->op,
		                 (long long)nash_attr_int(n, "numSteps", 0), SH(a, t));
	return 0;
}

static int mvau(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	if (need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0)
		return -1;
	const nash_shape *x = ish[0], *w = ish[1];
	int64_t mw = nash_attr_int(n, "MW", -1), mh = nash_attr_int(n, "MH", -1);
	if (w->ndim != 2)
		return nash_fail(e, "node %s (MVAU): weights %s must be MW x MH", n->name, SH(a, w));
	if (mw < 0)
		mw = w->d[0];
	if (mh < 0)
		mh = w->d[1];
	if (w->d[0] != mw || w->d[1] != mh)
		return nash_fail(e, "node %s (MVAU): weights %s disagree with MW %lld, MH %lld", n->name, SH(a, w),
		                 (long long)mw, (long long)mh);
	if (x->ndim < 1 || x->d[x->ndim - 1] != mw)
		return nash_fail(e, "node %s (MVAU): shape mismatch: input %s, weights %s (MW %lld)", n->name, SH(a, x),
		                 SH(b, w), (long long)mw);
	if (check_vectors(n, x, e) < 0)
		return -1;
	if (IN(2) && thresholds_shape(n, IN(2), mh, e) < 0)
		return -1;
	*o = *x;
	o->d[o->ndim - 1] = mh;
	o->dtype = dt_attr(n, "outputDataType", NASH_I32);
	return 0;
}

static int thresholding(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                        nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	if (need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0)
		return -1;
	const nash_shape *x = ish[0];
	int64_t ch = nash_attr_int(n, "NumChannels", x->ndim ? x->d[x->ndim - 1] : 0);
	if (x->ndim < 1 || x->d[x->ndim - 1] != ch)
		return nash_fail(e, "node %s (Thresholding): input %s disagrees with NumChannels %lld", n->name, SH(a, x),
		                 (long long)ch);
	if (check_vectors(n, x, e) < 0 || thresholds_shape(n, ish[1], ch, e) < 0)
		return -1;
	*o = *x;
	o->dtype = dt_attr(n, "outputDataType", x->dtype);
	return 0;
}

/* StreamingMaxPool and QuantAvgPool: a window over an HxWxC stream. */
static int hwpool(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                  nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	int avg = strcmp(n->op, "QuantAvgPool") == 0;
	int64_t k[2], s[2], p[4], img[2], out[2];
	if (need(n, ish, 0, e) < 0 || need_hwc(n, ish[0], e) < 0)
		return -1;
	const nash_shape *x = ish[0];
	if (pair_attr(n, avg ? "Kernel" : "PoolDim", 0, k) < 0 || k[0] < 1 || k[1] < 1)
		return nash_fail(e, "node %s (%s): %s must be one or two positive integers", n->name, n->op,
		                 avg ? "Kernel" : "PoolDim");
	if (pair_attr(n, "Stride", 0, s) < 0)
		return nash_fail(e, "node %s (%s): Stride must be one or two positive integers", n->name, n->op);
	if (s[0] == 0)
		s[0] = k[0];
	if (s[1] == 0)
		s[1] = k[1];
	if (pads_attr(n, "Padding", p) < 0)
		return nash_fail(e, "node %s (%s): Padding must be [top, left, bottom, right]", n->name, n->op);
	if (pair_attr(n, "ImgDim", x->d[0], img) < 0 || img[0] != x->d[0] || img[1] != x->d[1])
		return nash_fail(e, "node %s (%s): input %s disagrees with ImgDim", n->name, n->op, SH(a, x));
	if (nash_attr_int(n, "NumChannels", x->d[2]) != x->d[2])
		return nash_fail(e, "node %s (%s): input %s disagrees with NumChannels %lld", n->name, n->op, SH(a, x),
		                 (long long)nash_attr_int(n, "NumChannels", 0));
	if (p[0] >= k[0] || p[2] >= k[0] || p[1] >= k[1] || p[3] >= k[1])
		return nash_fail(e, "node %s (%s): padding must be smaller than the window", n->name, n->op);
	int64_t oh = outdim(img[0], k[0], s[0], p[0], p[2], 1, 0), ow = outdim(img[1], k[1], s[1], p[1], p[3], 1, 0);
	if (oh < 1 || ow < 1)
		return nash_fail(e, "node %s (%s): window larger than the padded input %s", n->name, n->op, SH(a, x));
	if (nash_attr_has(n, "OutImgDim") && (pair_attr(n, "OutImgDim", 0, out) < 0 || out[0] != oh || out[1] != ow))
		return nash_fail(e, "node %s (%s): OutImgDim disagrees with the window, stride and padding (%lldx%lld)",
		                 n->name, n->op, (long long)oh, (long long)ow);
	*o = *x;
	o->d[0] = oh;
	o->d[1] = ow;
	o->dtype = dt_attr(n, avg ? "outputDataType" : "dataType", x->dtype);
	return 0;
}

static int addstreams(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                      nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	if (n->nin != 2 || need(n, ish, 0, e) < 0 || need(n, ish, 1, e) < 0)
		return nash_fail(e, "node %s (AddStreams): needs two input streams", n->name);
	const nash_shape *x = ish[0], *y = ish[1];
	if (x->ndim != y->ndim || memcmp(x->d, y->d, (size_t)x->ndim * sizeof *x->d))
		return nash_fail(e, "node %s (AddStreams): shape mismatch: %s and %s", n->name, SH(a, x), SH(b, y));
	if (x->ndim < 1 || nash_attr_int(n, "NumChannels", x->d[x->ndim - 1]) != x->d[x->ndim - 1])
		return nash_fail(e, "node %s (AddStreams): input %s disagrees with NumChannels", n->name, SH(a, x));
	if (check_vectors(n, x, e) < 0)
		return -1;
	*o = *x;
	o->dtype = dt_attr(n, "outputDataType", x->dtype);
	return 0;
}

static int duplicate(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                     nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	if (need(n, ish, 0, e) < 0)
		return -1;
	const nash_shape *x = ish[0];
	int64_t k = nash_attr_int(n, "NumOutputStreams", n->nout);
	if (k != n->nout || n->nout < 1)
		return nash_fail(e, "node %s (DuplicateStreams): NumOutputStreams %lld but %d outputs", n->name,
		                 (long long)k, n->nout);
	if (x->ndim < 1 || nash_attr_int(n, "NumChannels", x->d[x->ndim - 1]) != x->d[x->ndim - 1])
		return nash_fail(e, "node %s (DuplicateStreams): input %s disagrees with NumChannels", n->name, SH(a, x));
	if (check_vectors(n, x, e) < 0)
		return -1;
	for (int i = 0; i < n->nout; i++)
		o[i] = *x;
	return 0;
}

static int hwconcat(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                    nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128], b[128];
	int64_t cps[64];
	if (n->nin < 1 || need(n, ish, 0, e) < 0)
		return -1;
	int c = nash_attr_ints(n, "ChannelsPerStream", cps, 64);
	if (c >= 0 && c != n->nin)
		return nash_fail(e, "node %s (StreamingConcat): ChannelsPerStream lists %d streams, node has %d inputs",
		                 n->name, c, n->nin);
	*o = *ish[0];
	int last = o->ndim - 1;
	if (last < 0)
		return nash_fail(e, "node %s (StreamingConcat): scalar input", n->name);
	o->d[last] = 0;
	for (int i = 0; i < n->nin; i++) {
		if (need(n, ish, i, e) < 0)
			return -1;
		const nash_shape *y = ish[i];
		int ok = y->ndim == ish[0]->ndim;
		for (int k = 0; ok && k < last; k++)
			ok = y->d[k] == ish[0]->d[k];
		if (!ok)
			return nash_fail(e, "node %s (StreamingConcat): shape mismatch: %s and %s", n->name, SH(a, ish[0]),
			                 SH(b, y));
		if (c >= 0 && i < 64 && cps[i] != y->d[last])
			return nash_fail(e, "node %s (StreamingConcat): input %s disagrees with ChannelsPerStream[%d] = %lld",
			                 n->name, SH(a, y), i, (long long)cps[i]);
		o->d[last] += y->d[last];
	}
	o->dtype = dt_attr(n, "dataType", ish[0]->dtype);
	return 0;
}

static int labelselect(const nash_graph *g, const nash_node *n, const nash_shape *const *ish,
                       nash_shape *o, nash_err *e)
{
	(void)g;
	char a[128];
	if (need(n, ish, 0, e) < 0)
		return -1;
	const nash_shape *x = ish[0];
	int64_t labels = nash_attr_int(n, "Labels", x->ndim ? x->d[x->ndim - 1] : 0), k = nash_attr_int(n, "K", 1);
	int64_t pix = 1;
	for (int i = 0; i + 1 < x->ndim; i++)
		pix *= x->d[i];
	if (x->ndim < 1 || x->d[x->ndim - 1] != labels || pix != 1)
		return nash_fail(e, "node %s (LabelSelect): input %s must be a vector of Labels = %lld", n->name, SH(a, x),
		                 (long long)labels);
	if (k < 1 || k > labels)
		return nash_fail(e, "node %s (LabelSelect): K = %lld must be in 1..Labels (%lld)", n->name, (long long)k,
		                 (long long)labels);
	*o = *x;
	o->d[o->ndim - 1] = k;
	o->dtype = dt_attr(n, "outputDataType", NASH_I32);
	return 0;
}

static void builtins(void)
{
	builtins_done = 1;
	static const char *const sames[] = {
		"Relu", "HardTanh", "Clip", "Sigmoid", "Tanh", "Identity", "Quant", "BipolarQuant",
		"Trunc", "Dropout", "Softmax", "LeakyRelu", "Neg", "Abs", "Round", "Floor", "Sign", NULL
	};
	for (int i = 0; sames[i]; i++)
		if (!nash_shape_rule(sames[i]))
			nash_shape_rule_add(sames[i], same);
	static const struct { const char *op; nash_shape_fn fn; } tab[] = {
		{"Conv", conv}, {"MaxPool", pool}, {"AveragePool", pool},
		{"GlobalAveragePool", gpool}, {"GlobalMaxPool", gpool},
		{"BatchNormalization", bn}, {"Add", bcast}, {"Sub", bcast}, {"Mul", bcast},
		{"Div", bcast}, {"Concat", concat}, {"Flatten", flatten}, {"Gemm", gemm},
		{"MatMul", gemm}, {"Slice", slice}, {"Pad", pad}, {"Transpose", transpose},
		{"Choice", choice}, {"MultiThreshold", multithreshold},
		{"ConvolutionInputGenerator", swg}, {"MVAU", mvau}, {"Thresholding", thresholding},
		{"StreamingMaxPool", hwpool}, {"QuantAvgPool", hwpool}, {"AddStreams", addstreams},
		{"DuplicateStreams", duplicate}, {"StreamingConcat", hwconcat}, {"LabelSelect", labelselect},
		{"StreamingFIFO", same}, {"StreamingDataWidthConverter", same}, {NULL, NULL}
	};
	for (int i = 0; tab[i].op; i++)
		if (!nash_shape_rule(tab[i].op))
			nash_shape_rule_add(tab[i].op, tab[i].fn);
}
