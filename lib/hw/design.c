/* design.c - the layer list of a hardware graph: geometry, datatypes,
 * folding and stream connectivity read from the nodes of nash-ops(7). */
#include "hw/hw.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_ops[NASH_HW_NKINDS] = {
	"MVAU", "ConvolutionInputGenerator", "Thresholding", "StreamingMaxPool", "QuantAvgPool",
	"AddStreams", "DuplicateStreams", "StreamingConcat", "LabelSelect", "StreamingFIFO",
	"StreamingDataWidthConverter"
};

const char *const nash_hw_res_names[5] = { "lut", "ff", "bram18", "uram", "dsp" };

const char *nash_hw_kind_op(nash_hw_kind k)
{
	return (unsigned)k < NASH_HW_NKINDS ? kind_ops[k] : "?";
}

static int kind_of(const char *op)
{
	for (int k = 0; k < NASH_HW_NKINDS; k++)
		if (strcmp(op, kind_ops[k]) == 0)
			return k;
	return -1;
}

int nash_hw_is_hw_op(const char *op)
{
	return kind_of(op) >= 0;
}

/* ---------------------------------------------------------- attributes */

/* Bits of one element of a FINN datatype name; 0 if unknown. */
static int dt_bits(const char *s, int *is_signed, int *bipolar)
{
	nash_datatype d;
	if (!s || nash_datatype_parse(s, &d) < 0 || !d.kind)
		return 0;
	if (is_signed)
		*is_signed = nash_datatype_signed(d);
	if (bipolar)
		*bipolar = d.kind == NASH_DT_BIPOLAR;
	return d.kind == NASH_DT_FLOAT ? 32 : d.bits;
}

/* Bits of a tensor's elements: its datatype, else its storage type. */
static int tensor_bits(const nash_graph *g, const char *name, int *is_signed, int *bipolar)
{
	const nash_tensor *t = name && name[0] ? nash_tensor_find(g, name) : NULL;
	if (!t)
		return 0;
	if (t->datatype.kind) {
		char buf[16];
		return dt_bits(nash_datatype_name(t->datatype, buf), is_signed, bipolar);
	}
	if (is_signed)
		*is_signed = t->dtype != NASH_U8;
	return (int)nash_dtype_size(t->dtype) * 8;
}

static int attr_bits(const nash_graph *g, const nash_node *n, const char *key, const char *tensor, int def,
                     int *is_signed, int *bipolar)
{
	int b = dt_bits(nash_attr_str(n, key, NULL), is_signed, bipolar);
	if (!b)
		b = tensor_bits(g, tensor, is_signed, bipolar);
	return b ? b : def;
}

static void pair(const nash_node *n, const char *key, int64_t def, int64_t *out)
{
	int64_t v[4];
	int c = nash_attr_ints(n, key, v, 4);
	if (c >= 2) {
		out[0] = v[0];
		out[1] = v[1];
	} else if (c == 1)
		out[0] = out[1] = v[0];
	else
		out[0] = out[1] = nash_attr_int(n, key, def);
}

static void pads(const nash_node *n, int64_t *p)
{
	int64_t v[4];
	int c = nash_attr_ints(n, "Padding", v, 4);
	if (c == 4)
		memcpy(p, v, sizeof v);
	else if (c == 2) {
		p[0] = p[2] = v[0];
		p[1] = p[3] = v[1];
	} else {
		int64_t x = c == 1 ? v[0] : nash_attr_int(n, "Padding", 0);
		p[0] = p[1] = p[2] = p[3] = x;
	}
}

static const nash_tensor *shape_of(const nash_graph *g, const char *name)
{
	return name && name[0] ? nash_tensor_find(g, name) : NULL;
}

static int64_t pixels(const nash_graph *g, const nash_node *n)
{
	int64_t v[8];
	int c = nash_attr_ints(n, "numInputVectors", v, 8);
	int64_t p = 1;
	if (c > 0) {
		for (int i = 0; i < c && i < 8; i++)
			p *= v[i];
		return p;
	}
	const nash_tensor *x = shape_of(g, n->nin ? n->in[0] : NULL);
	if (x)
		for (int i = 0; i + 1 < x->ndim; i++)
			p *= x->shape[i];
	return p;
}

static int ceil_log2(int64_t x)
{
	int b = 0;
	while (x > 1 && ((int64_t)1 << b) < x)
		b++;
	return b;
}

/* ---------------------------------------------------------------- init */

static int fail_node(nash_err *e, const nash_graph *g, const nash_node *n, const char *msg)
{
	return nash_fail(e, "graph %s: layer %s (%s): %s", g->name, n->name, n->op, msg);
}

static void layer_from_node(const nash_graph *g, const nash_node *n, nash_hw_layer *l)
{
	int s = 0, bip = 0;
	l->ram = NASH_RAM_AUTO;
	const char *rs = nash_attr_str(n, "ram_style", NULL);
	if (rs && nash_ram_style_parse(rs, &l->ram) == 0 && l->ram != NASH_RAM_AUTO)
		l->ram_pinned = 1;
	l->tram = NASH_RAM_AUTO;
	rs = nash_attr_str(n, "ram_style_thresholds", NULL);
	if (rs && nash_ram_style_parse(rs, &l->tram) == 0 && l->tram != NASH_RAM_AUTO)
		l->ram_pinned = 1;
	switch (l->kind) {
	case NASH_HW_MVAU: {
		const nash_tensor *w = shape_of(g, n->nin > 1 ? n->in[1] : NULL);
		const nash_tensor *t = shape_of(g, n->nin > 2 ? n->in[2] : NULL);
		l->mw = nash_attr_int(n, "MW", w && w->ndim == 2 ? w->shape[0] : 1);
		l->mh = nash_attr_int(n, "MH", w && w->ndim == 2 ? w->shape[1] : 1);
		l->pix = pixels(g, n);
		int ibip = 0, wbip = 0, is = 0, ws = 0;
		l->ibits[0] = attr_bits(g, n, "inputDataType", n->in[0], 8, &is, &ibip);
		l->wbits = attr_bits(g, n, "weightDataType", n->nin > 1 ? n->in[1] : NULL, 8, &ws, &wbip);
		l->xnor = (int)nash_attr_int(n, "binaryXnorMode", ibip && wbip);
		l->wbin = l->wbits == 1;
		l->abin = l->ibits[0] == 1;
		int noact = (int)nash_attr_int(n, "noActivation", t ? 0 : 1);
		l->steps = !noact && t && t->ndim == 2 ? t->shape[1] : 0;
		l->tconst = t && t->ndim == 2 && t->shape[0] == 1;
		/* accumulator: accDataType, else the range of MW products */
		int acc = dt_bits(nash_attr_str(n, "accDataType", NULL), NULL, NULL);
		if (!acc) {
			int64_t wmax = l->wbin ? 1 : ((int64_t)1 << (l->wbits - (ws ? 1 : 0)));
			int64_t amax = l->abin ? 1 : ((int64_t)1 << (l->ibits[0] - (is ? 1 : 0)));
			acc = ceil_log2(l->mw * wmax * amax + 1) + 1;
		}
		l->accbits = acc;
		l->obits = l->steps ? attr_bits(g, n, "outputDataType", n->out[0], ceil_log2(l->steps + 1), NULL, NULL)
		                    : attr_bits(g, n, "outputDataType", NULL, acc, NULL, NULL);
		l->pe = nash_attr_int(n, "PE", 1);
		l->simd = nash_attr_int(n, "SIMD", 1);
		const char *mm = nash_attr_str(n, "mem_mode", "const");
		l->decoupled = strstr(mm, "decoupled") != NULL;
		const char *rt = nash_attr_str(n, "resType", "auto");
		if (strcmp(rt, "dsp") == 0 || strcmp(rt, "lut") == 0) {
			l->dsp = rt[0] == 'd';
			l->dsp_pinned = 1;
		} else {
			int lo = l->wbits < l->ibits[0] ? l->wbits : l->ibits[0];
			int hi = l->wbits < l->ibits[0] ? l->ibits[0] : l->wbits;
			l->dsp = lo >= 4 && hi >= 8;
		}
		break;
	}
	case NASH_HW_SWG: {
		int64_t k[2], st[2], dl[2], ifm[2];
		const nash_tensor *x = shape_of(g, n->in[0]);
		pair(n, "ConvKernelDim", 1, k);
		pair(n, "Stride", 1, st);
		pair(n, "Dilation", 1, dl);
		pair(n, "IFMDim", x && x->ndim == 3 ? x->shape[0] : 1, ifm);
		pads(n, l->pad);
		l->kh = k[0], l->kw = k[1], l->sh = st[0], l->sw = st[1], l->dil[0] = dl[0], l->dil[1] = dl[1];
		l->ih = ifm[0], l->iw = ifm[1];
		l->ch = nash_attr_int(n, "IFMChannels", x && x->ndim == 3 ? x->shape[2] : 1);
		const nash_tensor *y = shape_of(g, n->out[0]);
		l->oh = y && y->ndim == 3 ? y->shape[0] : 1;
		l->ow = y && y->ndim == 3 ? y->shape[1] : 1;
		l->ibits[0] = attr_bits(g, n, "inputDataType", n->in[0], 8, NULL, NULL);
		l->obits = l->ibits[0];
		l->simd = nash_attr_int(n, "SIMD", 1);
		break;
	}
	case NASH_HW_THRESH: {
		const nash_tensor *t = shape_of(g, n->nin > 1 ? n->in[1] : NULL);
		const nash_tensor *x = shape_of(g, n->in[0]);
		l->ch = nash_attr_int(n, "NumChannels", x && x->ndim ? x->shape[x->ndim - 1] : 1);
		l->pix = pixels(g, n);
		l->ibits[0] = attr_bits(g, n, "inputDataType", n->in[0], 8, &s, NULL);
		l->steps = t && t->ndim == 2 ? t->shape[1] : nash_attr_int(n, "numSteps", 1);
		l->tconst = t && t->ndim == 2 && t->shape[0] == 1;
		l->obits = attr_bits(g, n, "outputDataType", n->out[0], ceil_log2(l->steps + 1), NULL, NULL);
		l->pe = nash_attr_int(n, "PE", 1);
		break;
	}
	case NASH_HW_MAXPOOL:
	case NASH_HW_AVGPOOL: {
		int avg = l->kind == NASH_HW_AVGPOOL;
		int64_t k[2], st[2], img[2];
		const nash_tensor *x = shape_of(g, n->in[0]), *y = shape_of(g, n->out[0]);
		pair(n, avg ? "Kernel" : "PoolDim", 1, k);
		pair(n, "Stride", 0, st);
		pair(n, "ImgDim", x && x->ndim == 3 ? x->shape[0] : 1, img);
		pads(n, l->pad);
		l->kh = k[0], l->kw = k[1];
		l->sh = st[0] ? st[0] : k[0];
		l->sw = st[1] ? st[1] : k[1];
		l->dil[0] = l->dil[1] = 1;
		l->ih = img[0], l->iw = img[1];
		l->oh = y && y->ndim == 3 ? y->shape[0] : 1;
		l->ow = y && y->ndim == 3 ? y->shape[1] : 1;
		l->ch = nash_attr_int(n, "NumChannels", x && x->ndim == 3 ? x->shape[2] : 1);
		l->ibits[0] = attr_bits(g, n, avg ? "inputDataType" : "dataType", n->in[0], 8, NULL, NULL);
		l->obits = avg ? attr_bits(g, n, "outputDataType", n->out[0], l->ibits[0], NULL, NULL) : l->ibits[0];
		l->accbits = avg ? (int)nash_attr_int(n, "AccumBits", l->ibits[0] + ceil_log2(l->kh * l->kw)) : 0;
		l->pe = nash_attr_int(n, "PE", 1);
		break;
	}
	case NASH_HW_ADD: {
		const nash_tensor *x = shape_of(g, n->in[0]);
		l->ch = nash_attr_int(n, "NumChannels", x && x->ndim ? x->shape[x->ndim - 1] : 1);
		l->pix = pixels(g, n);
		nash_val *v = nash_val_get(n->attr, "inputDataTypes");
		for (int i = 0; i < 2 && i < n->nin; i++) {
			const char *dt = v && v->t == NASH_V_ARR && (size_t)i < v->u.a.n ? nash_val_as_str(v->u.a.v[i])
			                 : v ? nash_val_as_str(v) : NULL;
			l->ibits[i] = dt_bits(dt, NULL, NULL);
			if (!l->ibits[i])
				l->ibits[i] = tensor_bits(g, n->in[i], NULL, NULL);
			if (!l->ibits[i])
				l->ibits[i] = 8;
		}
		int hi = l->ibits[0] > l->ibits[1] ? l->ibits[0] : l->ibits[1];
		l->obits = attr_bits(g, n, "outputDataType", n->out[0], hi + 1, NULL, NULL);
		l->pe = nash_attr_int(n, "PE", 1);
		break;
	}
	case NASH_HW_DUP: {
		const nash_tensor *x = shape_of(g, n->in[0]);
		l->ch = nash_attr_int(n, "NumChannels", x && x->ndim ? x->shape[x->ndim - 1] : 1);
		l->pix = pixels(g, n);
		l->k = n->nout;
		l->ibits[0] = l->obits = attr_bits(g, n, "dataType", n->in[0], 8, NULL, NULL);
		l->pe = nash_attr_int(n, "PE", 1);
		break;
	}
	case NASH_HW_CONCAT: {
		l->pix = pixels(g, n);
		l->ch = 0;
		for (int i = 0; i < n->nin && i < NASH_HW_MAXIN; i++) {
			const nash_tensor *x = shape_of(g, n->in[i]);
			l->cps[i] = x && x->ndim ? x->shape[x->ndim - 1] : 1;
			l->ch += l->cps[i];
			l->ibits[i] = attr_bits(g, n, "dataType", n->in[i], 8, NULL, NULL);
		}
		l->obits = l->ibits[0];
		l->simd = nash_attr_int(n, "SIMD", 1);
		break;
	}
	case NASH_HW_LABEL: {
		const nash_tensor *x = shape_of(g, n->in[0]);
		l->ch = nash_attr_int(n, "Labels", x && x->ndim ? x->shape[x->ndim - 1] : 1);
		l->k = nash_attr_int(n, "K", 1);
		l->pix = 1;
		l->ibits[0] = attr_bits(g, n, "inputDataType", n->in[0], 8, &s, &bip);
		l->obits = attr_bits(g, n, "outputDataType", n->out[0], ceil_log2(l->ch), NULL, NULL);
		l->pe = nash_attr_int(n, "PE", 1);
		break;
	}
	default:
		break;
	}
	for (int i = 1; i < l->nin && i < NASH_HW_MAXIN; i++)
		if (!l->ibits[i])
			l->ibits[i] = l->ibits[0];
}

/* A tiny map from tensor names to producing layers. */
typedef struct { const char **k; int *v; size_t cap; } tmap;

static void tm_put(tmap *m, const char *k, int v)
{
	size_t h = nash_hash(k) & (m->cap - 1);
	while (m->k[h] && strcmp(m->k[h], k) != 0)
		h = (h + 1) & (m->cap - 1);
	m->k[h] = k;
	m->v[h] = v;
}

static int tm_get(const tmap *m, const char *k)
{
	size_t h = nash_hash(k) & (m->cap - 1);
	while (m->k[h]) {
		if (strcmp(m->k[h], k) == 0)
			return m->v[h];
		h = (h + 1) & (m->cap - 1);
	}
	return -2;
}

int nash_hw_design_init(nash_hw_design *d, const nash_graph *g, const nash_hw_device *dev,
                        double clock_mhz, nash_err *e)
{
	memset(d, 0, sizeof *d);
	d->g = g;
	d->dev = dev;
	d->clock_mhz = clock_mhz;
	d->max_wwidth = 36;
	d->cap = g->nnodes + 8;
	d->l = nash_alloc((size_t)d->cap * sizeof *d->l);
	tmap m;
	m.cap = 64;
	while (m.cap < 4 * (size_t)(g->nnodes * 2 + 8))
		m.cap *= 2;
	m.k = nash_alloc(m.cap * sizeof *m.k);
	m.v = nash_alloc(m.cap * sizeof *m.v);
	/* values: producer layer * NASH_HW_MAXIN + output index */
	int rc = 0;
	int *uses = nash_alloc(((size_t)g->nnodes + 1) * NASH_HW_MAXIN * sizeof *uses);
	for (int i = 0; i < g->nnodes && rc == 0; i++) {
		const nash_node *n = g->nodes[i];
		int k = kind_of(n->op);
		if (k < 0) {
			rc = nash_fail(e, "graph %s: node %s (%s) is not a hardware layer; this graph is not streamlined, run nash-stream first",
			               g->name, n->name, n->op);
			break;
		}
		if (k == NASH_HW_FIFO || k == NASH_HW_DWC) {
			/* inserted by an earlier nash-est: bypass */
			int src = n->nin ? tm_get(&m, n->in[0]) : -2;
			if (n->nout)
				tm_put(&m, n->out[0], src);
			continue;
		}
		nash_hw_layer *l = &d->l[d->n];
		memset(l, 0, sizeof *l);
		l->kind = (nash_hw_kind)k;
		l->node = i;
		snprintf(l->name, sizeof l->name, "%s", n->name);
		l->nin = n->nin;
		if (k == NASH_HW_MVAU || k == NASH_HW_THRESH)
			l->nin = 1;   /* weights and thresholds are parameters, not streams */
		if (l->nin > NASH_HW_MAXIN) {
			rc = fail_node(e, g, n, "too many input streams");
			break;
		}
		int64_t fifo[NASH_HW_MAXIN];
		int nf = nash_attr_ints(n, "inFIFODepths", fifo, NASH_HW_MAXIN);
		for (int j = 0; j < l->nin; j++) {
			int p = tm_get(&m, n->in[j]);
			l->from[j] = p >= 0 ? p / NASH_HW_MAXIN : -1;
			l->user_fifo[j] = j < nf ? fifo[j] : 0;
			if (p >= 0 && uses[p]++) {
				rc = nash_fail(e, "graph %s: stream %s feeds more than one layer (%s among them); a stream has one consumer, use DuplicateStreams",
				               g->name, n->in[j], n->name);
				break;
			}
		}
		if (rc < 0)
			break;
		layer_from_node(g, n, l);
		int64_t pe = l->pe, simd = l->simd;
		l->pe = l->simd = 0;
		nash_hw_fold_max(l, &l->pe, &l->simd); /* which parameters apply */
		if (l->pe)
			l->pe = 1;
		if (l->simd)
			l->simd = 1;
		if (nash_hw_set_fold(l, l->pe ? pe : 0, l->simd ? simd : 0, e) < 0) {
			nash_err_prefix(e, "graph %s: ", g->name);
			rc = -1;
			break;
		}
		for (int j = 0; j < n->nout && j < NASH_HW_MAXIN; j++)
			tm_put(&m, n->out[j], d->n * NASH_HW_MAXIN + j);
		d->n++;
	}
	free(uses);
	free(m.k);
	free(m.v);
	d->nreal = d->n;
	if (rc == 0 && d->n == 0)
		rc = nash_fail(e, "graph %s: no hardware layers", g->name);
	if (rc < 0) {
		nash_hw_design_free(d);
		return -1;
	}
	return 0;
}

void nash_hw_design_free(nash_hw_design *d)
{
	free(d->l);
	d->l = NULL;
	d->n = d->nreal = d->cap = 0;
}

int nash_hw_find(const nash_hw_design *d, const char *name)
{
	for (int i = 0; i < d->nreal; i++)
		if (strcmp(d->l[i].name, name) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------- folding */

/* The dimension PE (which = 0) or SIMD (which = 1) must divide, and its
 * name; 0 if the kind has no such parameter. For StreamingConcat, SIMD
 * must divide every input's channels: the gcd is returned. */
static int64_t gcd(int64_t a, int64_t b)
{
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static int64_t fold_dim(const nash_hw_layer *l, int which, const char **what)
{
	switch (l->kind) {
	case NASH_HW_MVAU:
		*what = which ? "MW" : "MH";
		return which ? l->mw : l->mh;
	case NASH_HW_SWG:
		*what = "IFMChannels";
		return which ? l->ch : 0;
	case NASH_HW_CONCAT: {
		*what = "the channels of every input";
		int64_t gd = 0;
		for (int i = 0; i < l->nin && i < NASH_HW_MAXIN; i++)
			gd = gcd(gd, l->cps[i]);
		return which ? gd : 0;
	}
	case NASH_HW_LABEL:
		*what = "Labels";
		return which ? 0 : l->ch;
	case NASH_HW_THRESH: case NASH_HW_MAXPOOL: case NASH_HW_AVGPOOL: case NASH_HW_ADD: case NASH_HW_DUP:
		*what = "NumChannels";
		return which ? 0 : l->ch;
	default:
		*what = "";
		return 0;
	}
}

void nash_hw_fold_max(const nash_hw_layer *l, int64_t *pe, int64_t *simd)
{
	const char *w;
	*pe = fold_dim(l, 0, &w);
	*simd = fold_dim(l, 1, &w);
}

int nash_hw_set_fold(nash_hw_layer *l, int64_t pe, int64_t simd, nash_err *e)
{
	const char *what;
	const char *op = nash_hw_kind_op(l->kind);
	int64_t dim;
	if (pe) {
		dim = fold_dim(l, 0, &what);
		if (!dim)
			return nash_fail(e, "layer %s (%s) has no PE to fold", l->name, op);
		if (pe < 1 || dim % pe)
			return nash_fail(e, "layer %s (%s): PE %lld does not divide %s %lld", l->name, op, (long long)pe, what,
			                 (long long)dim);
		l->pe = pe;
	}
	if (simd) {
		dim = fold_dim(l, 1, &what);
		if (!dim)
			return nash_fail(e, "layer %s (%s) has no SIMD to fold", l->name, op);
		if (simd < 1 || dim % simd)
			return nash_fail(e, "layer %s (%s): SIMD %lld does not divide %s %lld", l->name, op, (long long)simd,
			                 what, (long long)dim);
		l->simd = simd;
	}
	return 0;
}
