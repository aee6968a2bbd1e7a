/* test_hwexec.c - the integer executor against a naive reference written
 * here from nash-ops(7): every hardware operator, every datatype (BIPOLAR
 * and BINARY included, XNOR-popcount MVAUs), thresholds with ties and
 * unsorted rows, padding, stride, dilation, max-pool padding with the
 * datatype minimum, LabelSelect ties, the int64 path, every GEMM kernel the
 * CPU runs, the fixture networks, and the errors. */
#include "hwexec/hwexec.h"
#include "hwfix.c"
#include "unit.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------ the naive reference */

typedef struct rt {
	char name[160];
	int64_t *v;
	int64_t n;
} rt;

typedef struct ref {
	rt t[512];
	int n;
} ref;

static rt *rget(ref *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->t[i].name, name))
			return &r->t[i];
	return NULL;
}

static rt *rnew(ref *r, const char *name, int64_t n)
{
	rt *t = &r->t[r->n++];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->v = calloc((size_t)n, sizeof *t->v);
	t->n = n;
	return t;
}

static int64_t tval(const nash_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case NASH_I8: return ((int8_t *)t->data)[i];
	case NASH_U8: return ((uint8_t *)t->data)[i];
	case NASH_I16: return ((int16_t *)t->data)[i];
	case NASH_I32: return ((int32_t *)t->data)[i];
	default: return ((int64_t *)t->data)[i];
	}
}

static nash_datatype adt(const nash_node *n, const char *k)
{
	nash_datatype d = {0, 0};
	nash_datatype_parse(nash_attr_str(n, k, ""), &d);
	return d;
}

/* count of thresholds reached, in the plainest way */
static int64_t act(const nash_graph *g, const nash_node *n, const char *tn, int64_t c, int64_t v, nash_datatype odt)
{
	const nash_tensor *t = nash_tensor_find(g, tn);
	int64_t steps = t->shape[1], row = t->shape[0] == 1 ? 0 : c, cnt = 0;
	for (int64_t s = 0; s < steps; s++)
		if (v >= tval(t, row * steps + s))
			cnt++;
	if (odt.kind == NASH_DT_BIPOLAR)
		return cnt ? 1 : -1;
	return nash_attr_int(n, "ActVal", 0) + cnt;
}

static void ref_run(const nash_graph *g, const int64_t *x, int64_t *out)
{
	ref *r = calloc(1, sizeof *r);
	const nash_io *in = &g->inputs[0];
	rt *xi = rnew(r, in->name, in->shape[0] * in->shape[1] * in->shape[2]);
	memcpy(xi->v, x, (size_t)xi->n * sizeof *x);
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		const nash_tensor *xs = nash_graph_shape(g, n->in[0]);
		rt *a = rget(r, n->in[0]);
		if (!strcmp(n->op, "ConvolutionInputGenerator")) {
			int64_t k[2], s, d, p[4], H = xs->shape[0], W = xs->shape[1], C = xs->shape[2];
			nash_attr_ints(n, "ConvKernelDim", k, 2);
			s = nash_attr_int(n, "Stride", 1);
			d = nash_attr_int(n, "Dilation", 1);
			nash_attr_ints(n, "Padding", p, 4);
			int64_t oh = (H + p[0] + p[2] - d * (k[0] - 1) - 1) / s + 1, ow = (W + p[1] + p[3] - d * (k[1] - 1) - 1) / s + 1;
			int bip = adt(n, "inputDataType").kind == NASH_DT_BIPOLAR;
			rt *o = rnew(r, n->out[0], oh * ow * k[0] * k[1] * C);
			int64_t q = 0;
			for (int64_t y = 0; y < oh; y++)
				for (int64_t xx = 0; xx < ow; xx++)
					for (int64_t ky = 0; ky < k[0]; ky++)
						for (int64_t kx = 0; kx < k[1]; kx++)
							for (int64_t c = 0; c < C; c++) {
								int64_t iy = y * s + ky * d - p[0], ix = xx * s + kx * d - p[1];
								o->v[q++] = (iy < 0 || ix < 0 || iy >= H || ix >= W) ? (bip ? -1 : 0)
								                                                     : a->v[(iy * W + ix) * C + c];
							}
		} else if (!strcmp(n->op, "MVAU")) {
			const nash_tensor *w = nash_tensor_find(g, n->in[1]);
			int64_t mw = w->shape[0], mh = w->shape[1], pix = a->n / mw;
			int xnor = (int)nash_attr_int(n, "binaryXnorMode", 0);
			int thr = n->nin > 2 && !nash_attr_int(n, "noActivation", 0);
			rt *o = rnew(r, n->out[0], pix * mh);
			for (int64_t p = 0; p < pix; p++)
				for (int64_t h = 0; h < mh; h++) {
					int64_t acc = 0;
					for (int64_t k = 0; k < mw; k++) {
						int64_t xv = a->v[p * mw + k], wv = tval(w, k * mh + h);
						acc += xnor ? (xv == wv) : xv * wv; /* XNOR: count agreements */
					}
					o->v[p * mh + h] = thr ? act(g, n, n->in[2], h, acc, adt(n, "outputDataType")) : acc;
				}
		} else if (!strcmp(n->op, "Thresholding")) {
			int64_t C = xs->shape[xs->ndim - 1];
			rt *o = rnew(r, n->out[0], a->n);
			for (int64_t j = 0; j < a->n; j++)
				o->v[j] = act(g, n, n->in[1], j % C, a->v[j], adt(n, "outputDataType"));
		} else if (!strcmp(n->op, "StreamingMaxPool") || !strcmp(n->op, "QuantAvgPool")) {
			int avg = n->op[0] == 'Q';
			int64_t k[2] = {0, 0}, s[2] = {0, 0}, p[4] = {0, 0, 0, 0}, H = xs->shape[0], W = xs->shape[1], C = xs->shape[2];
			const char *kn = avg ? "Kernel" : "PoolDim";
			if (nash_attr_ints(n, kn, k, 2) < 2) /* one number: square */
				k[0] = k[1] = nash_attr_ints(n, kn, k, 2) == 1 ? k[0] : nash_attr_int(n, kn, 1);
			if (nash_attr_ints(n, "Stride", s, 2) < 2)
				s[0] = s[1] = nash_attr_ints(n, "Stride", s, 2) == 1 ? s[0] : nash_attr_int(n, "Stride", k[0]);
			if (nash_attr_ints(n, "Padding", p, 4) < 4)
				p[0] = p[1] = p[2] = p[3] = 0;
			int64_t oh = (H + p[0] + p[2] - k[0]) / s[0] + 1, ow = (W + p[1] + p[3] - k[1]) / s[1] + 1;
			int64_t lo = nash_datatype_min(adt(n, avg ? "inputDataType" : "dataType"));
			rt *o = rnew(r, n->out[0], oh * ow * C);
			for (int64_t y = 0; y < oh; y++)
				for (int64_t xx = 0; xx < ow; xx++)
					for (int64_t c = 0; c < C; c++) {
						int64_t m = avg ? 0 : INT64_MIN;
						for (int64_t ky = 0; ky < k[0]; ky++)
							for (int64_t kx = 0; kx < k[1]; kx++) {
								int64_t iy = y * s[0] + ky - p[0], ix = xx * s[1] + kx - p[1];
								int64_t v = (iy < 0 || ix < 0 || iy >= H || ix >= W) ? (avg ? 0 : lo)
								                                                     : a->v[(iy * W + ix) * C + c];
								if (avg)
									m += v;
								else if (v > m)
									m = v;
							}
						if (avg) { /* floor division by 2^Shift */
							int64_t d = (int64_t)1 << nash_attr_int(n, "Shift", 0);
							m = m >= 0 ? m / d : -((-m + d - 1) / d);
						}
						o->v[(y * ow + xx) * C + c] = m;
					}
		} else if (!strcmp(n->op, "AddStreams")) {
			rt *b = rget(r, n->in[1]), *o = rnew(r, n->out[0], a->n);
			for (int64_t j = 0; j < a->n; j++)
				o->v[j] = a->v[j] + b->v[j];
		} else if (!strcmp(n->op, "DuplicateStreams") || !strcmp(n->op, "StreamingFIFO") ||
		           !strcmp(n->op, "StreamingDataWidthConverter")) {
			for (int j = 0; j < n->nout; j++)
				memcpy(rnew(r, n->out[j], a->n)->v, a->v, (size_t)a->n * 8);
		} else if (!strcmp(n->op, "StreamingConcat")) {
			int64_t pix = 1, tot = 0;
			for (int j = 0; j + 1 < xs->ndim; j++)
				pix *= xs->shape[j];
			for (int j = 0; j < n->nin; j++)
				tot += rget(r, n->in[j])->n;
			rt *o = rnew(r, n->out[0], tot);
			int64_t q = 0;
			for (int64_t p = 0; p < pix; p++)
				for (int j = 0; j < n->nin; j++) {
					rt *b = rget(r, n->in[j]);
					int64_t c = b->n / pix;
					for (int64_t i2 = 0; i2 < c; i2++)
						o->v[q++] = b->v[p * c + i2];
				}
		} else if (!strcmp(n->op, "LabelSelect")) {
			int64_t K = nash_attr_int(n, "K", 1);
			rt *o = rnew(r, n->out[0], K);
			/* rank j before i when larger, or equal with a lower index */
			for (int64_t i2 = 0; i2 < a->n; i2++) {
				int64_t rank = 0;
				for (int64_t j = 0; j < a->n; j++)
					rank += a->v[j] > a->v[i2] || (a->v[j] == a->v[i2] && j < i2);
				if (rank < K)
					o->v[rank] = i2;
			}
		} else {
			printf("# reference: unknown op %s\n", n->op);
			abort();
		}
	}
	rt *o = rget(r, g->outputs[0].name);
	memcpy(out, o->v, (size_t)o->n * 8);
	for (int i = 0; i < r->n; i++)
		free(r->t[i].v);
	free(r);
}

/* ------------------------------------------------ random graph builder */

static int64_t rnd(nash_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)nash_rng_below(r, (uint64_t)(hi - lo + 1));
}

static int64_t rval(nash_rng *r, nash_datatype d)
{
	if (d.kind == NASH_DT_BIPOLAR)
		return nash_rng_below(r, 2) ? 1 : -1;
	return rnd(r, nash_datatype_min(d), nash_datatype_max(d));
}

static void set_int(nash_tensor *t, int64_t i, int64_t v)
{
	switch (t->dtype) {
	case NASH_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
	case NASH_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
	case NASH_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
	case NASH_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
	default: ((int64_t *)t->data)[i] = v; break;
	}
}

typedef struct gb {
	nash_graph *g;
	nash_rng *r;
	char cur[64];
	int64_t h, w, c;
	nash_datatype dt;
	int64_t lo, hi;   /* value range of the current stream */
	int n;
} gb;

static const char *dts(nash_datatype d)
{
	static char buf[8][16];
	static int i;
	i = (i + 1) % 8;
	return nash_datatype_name(d, buf[i]);
}

static void gb_init(gb *b, nash_rng *r, int64_t h, int64_t w, int64_t c, const char *dt)
{
	memset(b, 0, sizeof *b);
	b->g = nash_graph_new("rand");
	b->r = r;
	nash_datatype_parse(dt, &b->dt);
	int64_t sh[3] = {h, w, c};
	nash_io *io = nash_graph_add_input(b->g, "x", nash_datatype_storage(b->dt), 3, sh);
	io->datatype = b->dt;
	strcpy(b->cur, "x");
	b->h = h, b->w = w, b->c = c;
	b->lo = nash_datatype_min(b->dt), b->hi = nash_datatype_max(b->dt);
}

static char *fresh(gb *b, const char *what)
{
	static char buf[4][64];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], 64, "%s%d", what, b->n++);
	return buf[i];
}

/* 1: thresholds as streamlining makes them (see thresholds) */
static int line_thresholds;

/* thresholds rows x steps over [lo, hi]: ascending with ties, or shuffled;
 * with line_thresholds, a BatchNorm-and-quantizer line per row,
 * ceil((s + 1/2 - beta) / alpha), clipped to the range at both ends and
 * now and then one off by one (floating-point rounding) */
static void thresholds(gb *b, const char *name, int64_t rows, int64_t steps, int64_t lo, int64_t hi, int sorted)
{
	int64_t sh[2] = {rows, steps};
	nash_tensor *t = nash_tensor_add(b->g, name, NASH_I32, 2, sh);
	nash_datatype_parse("INT32", &t->datatype);
	for (int64_t r = 0; r < rows; r++) {
		int64_t *v = malloc((size_t)steps * 8);
		double span = (double)(hi - lo + 2) * (0.5 + nash_rng_below(b->r, 1000) / 1000.0);
		double alpha = steps / span, beta = -alpha * (lo + (hi - lo) * (nash_rng_below(b->r, 1000) / 2000.0));
		for (int64_t s = 0; s < steps; s++) {
			v[s] = rnd(b->r, lo - 1, hi + 1);
			if (line_thresholds) {
				double x = ceil((s + 0.5 - beta) / alpha);
				v[s] = x < lo - 1 ? lo - 1 : x > hi + 1 ? hi + 1 : (int64_t)x;
				if (nash_rng_below(b->r, 40) == 0)
					v[s] += nash_rng_below(b->r, 2) ? 1 : -1;
			}
		}
		if (line_thresholds)
			sorted = 1;
		if (steps > 1 && nash_rng_below(b->r, 2) && !line_thresholds)
			v[steps - 1] = v[0]; /* a tie */
		for (int64_t s = 0; sorted && s < steps; s++) /* insertion sort */
			for (int64_t q = s; q > 0 && v[q] < v[q - 1]; q--) {
				int64_t x = v[q];
				v[q] = v[q - 1], v[q - 1] = x;
			}
		for (int64_t s = 0; s < steps; s++)
			set_int(t, r * steps + s, v[s]);
		free(v);
	}
}

static void gb_swg(gb *b, int64_t k, int64_t s, int64_t d, const int64_t *p)
{
	char *out = fresh(b, "swg");
	int64_t oh = (b->h + p[0] + p[2] - d * (k - 1) - 1) / s + 1, ow = (b->w + p[1] + p[3] - d * (k - 1) - 1) / s + 1;
	const char *in[] = {b->cur, NULL}, *o[] = {out, NULL};
	nash_node *n = nash_node_add(b->g, "ConvolutionInputGenerator", out, in, o);
	nash_attr_set_ints(n, "ConvKernelDim", 2, (int64_t[]){k, k});
	nash_attr_set_int(n, "IFMChannels", b->c);
	nash_attr_set_ints(n, "IFMDim", 2, (int64_t[]){b->h, b->w});
	nash_attr_set_ints(n, "OFMDim", 2, (int64_t[]){oh, ow});
	nash_attr_set_int(n, "Stride", s);
	nash_attr_set_int(n, "Dilation", d);
	nash_attr_set_ints(n, "Padding", 4, p);
	nash_attr_set_str(n, "inputDataType", dts(b->dt));
	nash_attr_set_str(n, "outputDataType", dts(b->dt));
	strcpy(b->cur, out);
	b->h = oh, b->w = ow, b->c = k * k * b->c;
	if (p[0] || p[1] || p[2] || p[3]) {
		int64_t z = b->dt.kind == NASH_DT_BIPOLAR ? -1 : 0;
		if (z < b->lo)
			b->lo = z;
		if (z > b->hi)
			b->hi = z;
	}
}

/* MVAU to mh outputs with weights of wdt; odt NULL: no thresholds */
static void gb_mvau(gb *b, int64_t mh, const char *wdt, const char *odt, int sorted)
{
	char *out = fresh(b, "mvau"), wn[80], tn[80];
	snprintf(wn, sizeof wn, "%s.W", out);
	snprintf(tn, sizeof tn, "%s.T", out);
	nash_datatype wd;
	nash_datatype_parse(wdt, &wd);
	int64_t mw = b->c;
	nash_tensor *w = nash_tensor_add(b->g, wn, nash_datatype_storage(wd), 2, (int64_t[]){mw, mh});
	w->datatype = wd;
	for (int64_t i = 0; i < mw * mh; i++)
		set_int(w, i, rval(b->r, wd));
	int xnor = wd.kind == NASH_DT_BIPOLAR && b->dt.kind == NASH_DT_BIPOLAR && nash_rng_below(b->r, 4) != 0;
	/* accumulator bounds */
	int64_t wl = nash_datatype_min(wd), wh = nash_datatype_max(wd);
	int64_t p1 = b->lo * wl, p2 = b->lo * wh, p3 = b->hi * wl, p4 = b->hi * wh;
	int64_t pl = p1, ph = p1;
	int64_t ps[3] = {p2, p3, p4};
	for (int i = 0; i < 3; i++)
		pl = ps[i] < pl ? ps[i] : pl, ph = ps[i] > ph ? ps[i] : ph;
	int64_t al = xnor ? 0 : mw * pl, ah = xnor ? mw : mw * ph;
	nash_datatype od;
	int steps = 0;
	if (odt) {
		nash_datatype_parse(odt, &od);
		steps = od.kind == NASH_DT_BIPOLAR ? 1 : (int)(nash_datatype_max(od) - nash_datatype_min(od));
		/* thresholds where the sums really fall: a quarter of the bound */
		int64_t c = (al + ah) / 2, r = (ah - al) / 8 + 1;
		thresholds(b, tn, nash_rng_below(b->r, 3) ? mh : 1, steps, c - r, c + r, sorted);
	} else
		od = nash_datatype_fit(al, ah);
	const char *in3[] = {b->cur, wn, tn, NULL}, *in2[] = {b->cur, wn, NULL}, *o[] = {out, NULL};
	nash_node *n = nash_node_add(b->g, "MVAU", out, odt ? in3 : in2, o);
	nash_attr_set_int(n, "MW", mw);
	nash_attr_set_int(n, "MH", mh);
	nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){b->h, b->w});
	nash_attr_set_str(n, "inputDataType", dts(b->dt));
	nash_attr_set_str(n, "weightDataType", wdt);
	nash_attr_set_str(n, "outputDataType", dts(od));
	nash_attr_set_int(n, "ActVal", nash_datatype_min(od));
	nash_attr_set_int(n, "noActivation", odt ? 0 : 1);
	nash_attr_set_int(n, "binaryXnorMode", xnor);
	strcpy(b->cur, out);
	b->c = mh;
	b->dt = od;
	b->lo = odt ? nash_datatype_min(od) : al, b->hi = odt ? nash_datatype_max(od) : ah;
}

static void gb_thresh(gb *b, const char *odt, int sorted)
{
	char *out = fresh(b, "thr"), tn[80];
	snprintf(tn, sizeof tn, "%s.T", out);
	nash_datatype od;
	nash_datatype_parse(odt, &od);
	int64_t steps = od.kind == NASH_DT_BIPOLAR ? 1 : nash_datatype_max(od) - nash_datatype_min(od);
	thresholds(b, tn, nash_rng_below(b->r, 3) ? b->c : 1, steps, b->lo, b->hi, sorted);
	const char *in[] = {b->cur, tn, NULL}, *o[] = {out, NULL};
	nash_node *n = nash_node_add(b->g, "Thresholding", out, in, o);
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "numSteps", steps);
	nash_attr_set_str(n, "inputDataType", dts(b->dt));
	nash_attr_set_str(n, "outputDataType", odt);
	nash_attr_set_int(n, "ActVal", nash_datatype_min(od));
	strcpy(b->cur, out);
	b->dt = od;
	b->lo = nash_datatype_min(od), b->hi = nash_datatype_max(od);
}

static void gb_pool(gb *b, int avg, int64_t k, int64_t s, const int64_t *p)
{
	char *out = fresh(b, avg ? "avg" : "max");
	int64_t oh = (b->h + p[0] + p[2] - k) / s + 1, ow = (b->w + p[1] + p[3] - k) / s + 1;
	const char *in[] = {b->cur, NULL}, *o[] = {out, NULL};
	nash_node *n = nash_node_add(b->g, avg ? "QuantAvgPool" : "StreamingMaxPool", out, in, o);
	nash_attr_set_ints(n, avg ? "Kernel" : "PoolDim", 2, (int64_t[]){k, k});
	nash_attr_set_ints(n, "Stride", 2, (int64_t[]){s, s});
	nash_attr_set_ints(n, "Padding", 4, p);
	nash_attr_set_ints(n, "ImgDim", 2, (int64_t[]){b->h, b->w});
	nash_attr_set_int(n, "NumChannels", b->c);
	if (avg) {
		int shift = (int)rnd(b->r, 0, 4);
		int64_t lo = b->lo < 0 ? b->lo : 0, hi = b->hi > 0 ? b->hi : 0;
		lo = (lo * k * k) >> shift, hi = (hi * k * k) >> shift;
		nash_datatype od = nash_datatype_fit(lo, hi);
		nash_attr_set_str(n, "inputDataType", dts(b->dt));
		nash_attr_set_str(n, "outputDataType", dts(od));
		nash_attr_set_int(n, "Shift", shift);
		b->dt = od, b->lo = lo, b->hi = hi;
	} else {
		nash_attr_set_ints(n, "OutImgDim", 2, (int64_t[]){oh, ow});
		nash_attr_set_str(n, "dataType", dts(b->dt));
	}
	strcpy(b->cur, out);
	b->h = oh, b->w = ow;
}

static void gb_dup(gb *b, char *o1, char *o2, const char *kind)
{
	char *out = fresh(b, "dup");
	sprintf(o1, "%s_a", out);
	sprintf(o2, "%s_b", out);
	const char *in[] = {b->cur, NULL}, *o[] = {o1, o2, NULL};
	nash_node *n = nash_node_add(b->g, kind, out, in, o);
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "NumOutputStreams", 2);
	nash_attr_set_str(n, "dataType", dts(b->dt));
}

static void gb_fifo(gb *b, const char *src, char *dst)
{
	char *out = fresh(b, "fifo");
	strcpy(dst, out);
	const char *in[] = {src, NULL}, *o[] = {dst, NULL};
	nash_node *n = nash_node_add(b->g, "StreamingFIFO", out, in, o);
	nash_attr_set_int(n, "depth", 32);
	nash_attr_set_str(n, "dataType", dts(b->dt));
}

static void gb_label(gb *b, int64_t k)
{
	char *out = fresh(b, "top");
	const char *in[] = {b->cur, NULL}, *o[] = {out, NULL};
	nash_node *n = nash_node_add(b->g, "LabelSelect", out, in, o);
	nash_attr_set_int(n, "Labels", b->c);
	nash_attr_set_int(n, "K", k);
	nash_attr_set_str(n, "inputDataType", dts(b->dt));
	nash_attr_set_str(n, "outputDataType", "UINT8");
	strcpy(b->cur, out);
	b->c = k;
}

static nash_graph *gb_done(gb *b)
{
	nash_graph_add_output(b->g, b->cur);
	nash_err e;
	if (nash_graph_validate(b->g, &e) < 0) {
		fprintf(stderr, "# builder made a bad graph: %s\n", e.msg);
		abort();
	}
	return b->g;
}

/* Run graph g on n random inputs through the executor and the reference;
 * 1 when every output agrees. */
static int agree_one(const nash_graph *g, int n, nash_rng *r, const char *isa, char *why, int *varies)
{
	nash_err e = {{0}};
	if (isa)
		setenv("NASH_HWEXEC_ISA", isa, 1);
	nash_hwnet *h = nash_hwnet_new(g, n, 2, &e);
	unsetenv("NASH_HWEXEC_ISA");
	if (!h) {
		sprintf(why, "compile: %s", e.msg);
		return 0;
	}
	const nash_io *in = &g->inputs[0];
	int64_t isz = in->shape[0] * in->shape[1] * in->shape[2];
	int32_t *x = malloc((size_t)(n * isz) * 4);
	int64_t *x64 = malloc((size_t)isz * 8);
	for (int64_t i = 0; i < n * isz; i++)
		x[i] = (int32_t)rval(r, in->datatype);
	int ok = 1;
	if (nash_hwnet_run_hwc(h, x, n, &e) < 0) {
		sprintf(why, "run: %s", e.msg);
		ok = 0;
	}
	int k;
	const int64_t *out = nash_hwnet_output(h, &k, NULL);
	int64_t *want = malloc((size_t)k * 8);
	for (int i = 0; ok && i < n; i++) {
		for (int64_t j = 0; j < isz; j++)
			x64[j] = x[i * isz + j];
		ref_run(g, x64, want);
		for (int j = 0; j < k; j++)
			if (want[j] != out[(int64_t)i * k + j]) {
				sprintf(why, "image %d output %d: executor %lld, reference %lld", i, j,
				        (long long)out[(int64_t)i * k + j], (long long)want[j]);
				ok = 0;
				break;
			}
	}
	/* a test that cannot fail is no test: the outputs must vary */
	int distinct = 0;
	for (int64_t i = 0; ok && i < (int64_t)n * k; i++) {
		int seen = 0;
		for (int64_t j = 0; j < i && !seen; j++)
			seen = out[j] == out[i];
		distinct += !seen;
	}
	*varies = distinct > 1;
	free(want);
	free(x);
	free(x64);
	nash_hwnet_free(h);
	return ok;
}

static const char *const in_dts[] = {"UINT8", "INT4", "BIPOLAR", "BINARY", "INT8", "UINT2"};
static const char *const w_dts[] = {"INT2", "BIPOLAR", "INT8", "UINT3", "BINARY", "INT4"};
static const char *const a_dts[] = {"UINT2", "INT4", "BIPOLAR", "UINT4", "INT8"};

/* The graph cut at tensor t: t becomes the output, the rest is pruned. */
static nash_graph *cut(const nash_graph *g, const char *t)
{
	nash_graph *c = nash_graph_copy(g);
	free(c->outputs[0].name);
	c->outputs[0].name = nash_strdup(t);
	c->outputs[0].ndim = 0;
	nash_graph_prune(c);
	nash_err e;
	if (nash_graph_validate(c, &e) < 0) {
		fprintf(stderr, "# cut at %s: %s\n", t, e.msg);
		abort();
	}
	return c;
}

/* Executor and reference agree at every node output (every step-th node),
 * and most of those streams vary across the inputs (else the comparison
 * would prove little). */
static int agree(const nash_graph *g, int n, nash_rng *r, const char *isa, char *why, int step)
{
	int cuts = 0, varied = 0;
	for (int i = 0; i < g->nnodes; i++) {
		if (i % step && i != g->nnodes - 1)
			continue;
		nash_graph *c = cut(g, g->nodes[i]->out[0]);
		int v = 0, ok = agree_one(c, n, r, isa, why, &v);
		nash_graph_free(c);
		if (!ok) {
			char tmp[1200];
			snprintf(tmp, sizeof tmp, "at %s: %s", g->nodes[i]->name, why);
			strcpy(why, tmp);
			return 0;
		}
		cuts++;
		varied += v;
	}
	sprintf(why, "(%d of %d cuts vary)", varied, cuts);
	/* random thresholds can saturate a stream; a third must vary (the
	 * fixtures' random thresholds saturate more: one cut there) */
	return step == 1 ? 3 * varied >= cuts : varied >= 1;
}

/* A random network using every operator. */
static nash_graph *random_net(nash_rng *r, int variant)
{
	gb b;
	int64_t hw = rnd(r, 4, 9);
	gb_init(&b, r, hw, hw + rnd(r, 0, 3), rnd(r, 1, 4), in_dts[variant % 6]);
	int sorted = variant % 5 != 4;
	if (variant % 3 == 0)
		gb_thresh(&b, a_dts[(variant / 3) % 5], sorted);
	int64_t k = rnd(r, 1, 3), s = rnd(r, 1, 2), d = rnd(r, 1, 2);
	int64_t p[4] = {rnd(r, 0, 1), rnd(r, 0, 2), rnd(r, 0, 1), rnd(r, 0, 1)};
	if (k == 1 || d * (k - 1) + 1 > hw - 1)
		d = 1;
	gb_swg(&b, k, s, d, p);
	gb_mvau(&b, rnd(r, 3, 40), w_dts[variant % 6], a_dts[variant % 5], sorted);
	/* a residual: dup -> (conv, requant) -> add */
	char x1[64], x2[64], f[64];
	gb_dup(&b, x1, x2, "DuplicateStreams");
	gb fork = b;
	strcpy(b.cur, x1);
	int64_t p1[4] = {1, 1, 1, 1};
	gb_swg(&b, 3, 1, 1, p1);
	gb_mvau(&b, fork.c, w_dts[(variant + 1) % 6], "INT4", sorted);
	char m[64];
	strcpy(m, b.cur);
	b.h = fork.h, b.w = fork.w, b.c = fork.c, b.dt = fork.dt, b.lo = fork.lo, b.hi = fork.hi;
	strcpy(b.cur, x2);
	gb_thresh(&b, "INT4", sorted);
	gb_fifo(&b, b.cur, f);
	char *add = fresh(&b, "add");
	const char *ain[] = {m, f, NULL}, *ao[] = {add, NULL};
	nash_node *n = nash_node_add(b.g, "AddStreams", add, ain, ao);
	nash_attr_set_int(n, "NumChannels", b.c);
	nash_val *dl = nash_val_arr();
	nash_val_push(dl, nash_val_str("INT4"));
	nash_val_push(dl, nash_val_str("INT4"));
	nash_val_set(n->attr, "inputDataTypes", dl);
	nash_attr_set_str(n, "outputDataType", "INT5");
	strcpy(b.cur, add);
	nash_datatype_parse("INT5", &b.dt);
	b.lo = -16, b.hi = 14;
	/* max-pool with padding (the minimum pads) */
	int64_t pp[4] = {rnd(r, 0, 1), rnd(r, 0, 1), rnd(r, 0, 1), rnd(r, 0, 1)};
	if (b.h < 2 || b.w < 2)
		memset(pp, 0, sizeof pp);
	gb_pool(&b, 0, b.h < 2 || b.w < 2 ? 1 : 2, rnd(r, 1, 2), pp);
	/* concatenation of the stream and a thresholded copy */
	gb_dup(&b, x1, x2, "DuplicateStreams");
	fork = b;
	strcpy(b.cur, x2);
	gb_thresh(&b, "INT5", sorted);
	char t2[64];
	strcpy(t2, b.cur);
	char *cat = fresh(&b, "cat");
	const char *cin[] = {x1, t2, NULL}, *co[] = {cat, NULL};
	n = nash_node_add(b.g, "StreamingConcat", cat, cin, co);
	nash_attr_set_ints(n, "ChannelsPerStream", 2, (int64_t[]){fork.c, fork.c});
	nash_attr_set_str(n, "dataType", "INT5");
	strcpy(b.cur, cat);
	b.c = 2 * fork.c, b.lo = -16, b.hi = 15;
	int64_t z[4] = {0, 0, 0, 0};
	if (b.h == b.w && variant % 2)
		gb_pool(&b, 1, b.h, b.h, z);
	else
		gb_pool(&b, 1, b.h < 2 || b.w < 2 ? 1 : 2, 1, z);
	/* flatten into the classifier: MVAU over the last stream */
	gb_mvau(&b, rnd(r, 2, 12), "INT2", NULL, sorted);
	if (variant % 2 && b.h * b.w == 1)
		gb_label(&b, rnd(r, 1, b.c));
	return gb_done(&b);
}

/* A classifier whose scores tie: LabelSelect must take the lower index. */
static nash_graph *tie_net(void)
{
	nash_rng r;
	nash_rng_seed(&r, 7);
	gb b;
	gb_init(&b, &r, 1, 1, 6, "UINT2");
	/* a 1-step thresholding of every input at 2: scores are 0 or 1 */
	char *out = fresh(&b, "thr");
	nash_tensor *t = nash_tensor_add(b.g, "T", NASH_I32, 2, (int64_t[]){1, 1});
	((int32_t *)t->data)[0] = 2;
	const char *in[] = {"x", "T", NULL}, *o[] = {out, NULL};
	nash_node *n = nash_node_add(b.g, "Thresholding", out, in, o);
	nash_attr_set_str(n, "inputDataType", "UINT2");
	nash_attr_set_str(n, "outputDataType", "UINT1");
	nash_attr_set_int(n, "ActVal", 0);
	strcpy(b.cur, out);
	b.dt = (nash_datatype){NASH_DT_UINT, 1};
	gb_label(&b, 3);
	return gb_done(&b);
}

static nash_graph *wide_net(nash_rng *r)
{
	/* INT16 inputs and weights: sums beyond int32 take the int64 path */
	gb b;
	gb_init(&b, r, 1, 1, 300, "INT16");
	nash_datatype_parse("INT16", &b.dt);
	gb_mvau(&b, 7, "INT16", "UINT3", 1);
	gb_mvau(&b, 5, "INT16", NULL, 1);
	return gb_done(&b);
}

/* Two adds in a row, as a NASH cell lowers (layer1.1.add feeding
 * cell0.n3.add2): a c-channel 3x3 conv with INT8 thresholds into add1
 * with a requantized shortcut (operand order swapped by swap), add1 into
 * add2 with another requantized copy, then an activation. The batch
 * engine moves the conv into add1's chain; add2 then reads add1's output. */
static nash_graph *add_chain_net(int64_t c, int swap)
{
	hwb b;
	char gname[64], x0[160], x1[160], x2[160], x3[160], conv[160], q1[160], a1[160];
	snprintf(gname, sizeof gname, "add-chain-c%lld%s", (long long)c, swap ? "-swapped" : "");
	hwb_init(&b, gname, 5, 6, 3, "UINT4", 40 + (uint64_t)c);
	hwb_swg(&b, "stem_swg", 3, 1, 1);
	hwb_mvau(&b, "stem", c, "INT2", "UINT2", 3, 0);
	int64_t h = b.h, w = b.w;
	hwb_dup(&b, "dup0", x0, x1);
	hwb_set(&b, x1, h, w, c, "UINT2");
	hwb_dup(&b, "dup1", x2, x3);
	hwb_set(&b, x0, h, w, c, "UINT2");
	hwb_swg(&b, "conv_swg", 3, 1, 1);
	hwb_mvau(&b, "conv", c, "INT2", "INT8", 255, -128);
	strcpy(conv, b.cur);
	hwb_set(&b, x2, h, w, c, "UINT2");
	hwb_thresh(&b, "qb1", 63, "UINT6", 0);
	strcpy(q1, b.cur);
	if (swap)
		hwb_add2(&b, "add1", q1, "UINT6", conv, "INT8", "INT9");
	else
		hwb_add2(&b, "add1", conv, "INT8", q1, "UINT6", "INT9");
	strcpy(a1, b.cur);
	hwb_set(&b, x3, h, w, c, "UINT2");
	hwb_thresh(&b, "qb2", 63, "INT6", -32);
	hwb_add2(&b, "add2", a1, "INT9", b.cur, "INT6", "INT10");
	hwb_thresh(&b, "act", 15, "UINT4", 0);
	return hwb_done(&b);
}

int main(int argc, char **argv)
{
	(void)argc;
	/* threads that spin between the many small runs only burn a shared
	 * machine's CPU: wait passively (the runtime reads this at start) */
	if (!getenv("OMP_WAIT_POLICY")) {
		setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
		execv("/proc/self/exe", argv);
	}
	nash_rng r;
	nash_rng_seed(&r, 2024);
	char why[1200];
	const char *isas[] = {"scalar", "sse2", "avx2", "avx512", "vnni16"};
	for (int v = 0; v < 80; v++) {
		line_thresholds = v % 3 == 1;
		nash_graph *g = random_net(&r, v);
		line_thresholds = 0;
		const char *isa = isas[v % 5];
		/* the batch engine with and without folding element-wise steps */
		if (v % 10 == 9)
			setenv("NASH_HWEXEC_NOFUSE", "1", 1);
		nash_err e;
		setenv("NASH_HWEXEC_ISA", isa, 1);
		nash_hwnet *probe = nash_hwnet_new(g, 1, 1, &e);
		unsetenv("NASH_HWEXEC_ISA");
		if (!probe)
			isa = NULL; /* the CPU lacks it: the best one */
		nash_hwnet_free(probe);
		why[0] = 0;
		/* the batch engine runs groups of 16: one whole and one partial */
		CHECK(agree(g, isa && !strcmp(isa, "vnni16") ? 17 : 3, &r, isa, why, 1),
		      "random net %d (%s input, %s weights, %s thresholds, %s kernel%s, %d nodes) matches the reference %s", v,
		      in_dts[v % 6], w_dts[v % 6], v % 3 == 1 ? "line" : "random", isa ? isa : "best",
		      getenv("NASH_HWEXEC_NOFUSE") ? " unfused" : "", g->nnodes, why);
		unsetenv("NASH_HWEXEC_NOFUSE");
		nash_graph_free(g);
	}
	nash_graph *g = tie_net();
	CHECK(agree(g, 20, &r, NULL, why, 1), "LabelSelect ties go to the lower index %s", why);
	{
		nash_err e;
		nash_hwnet *h = nash_hwnet_new(g, 1, 1, &e);
		int32_t x[6] = {3, 0, 3, 2, 3, 1};
		nash_hwout kind;
		int k;
		nash_hwnet_run_hwc(h, x, 1, &e);
		const int64_t *o = nash_hwnet_output(h, &k, &kind);
		CHECK(kind == NASH_HWOUT_TOPK && k == 3 && o[0] == 0 && o[1] == 2 && o[2] == 3,
		      "top-3 of scores 1,0,1,1,1,0 is 0,2,3 (got %lld,%lld,%lld)", (long long)o[0], (long long)o[1],
		      (long long)o[2]);
		nash_hwnet_free(h);
	}
	nash_graph_free(g);
	g = wide_net(&r);
	CHECK(agree(g, 4, &r, NULL, why, 1), "INT16 x INT16 over 300 inputs (int64 accumulation) %s", why);
	nash_graph_free(g);

	/* the fixture networks, pixels through nash_hwnet_run */
	struct { const char *name; nash_graph *g; } fx[] = {
		{"tfc", hwfix_tfc()}, {"cnv", hwfix_cnv()}, {"cybsec", hwfix_cybsec()}, {"resnet18-28-w16", hwfix_resnet18(0, 16)}};
	for (int i = 0; i < 4; i++) {
		why[0] = 0;
		CHECK(agree(fx[i].g, 2, &r, NULL, why, fx[i].g->nnodes / 5 + 1), "fixture %s matches the reference %s", fx[i].name, why);
		nash_graph_free(fx[i].g);
	}
	/* the engines agree image for image: whole and partial groups of 16
	 * images, one thread and two, against the per-image SSE2 kernels */
	for (int f = 0; f < 3; f++) {
		g = f == 0 ? hwfix_resnet18(0, 16) : f == 1 ? hwfix_cnv() : hwfix_tfc();
		nash_err e;
		setenv("NASH_HWEXEC_ISA", "sse2", 1);
		nash_hwnet *ref = nash_hwnet_new(g, 37, 1, &e);
		unsetenv("NASH_HWEXEC_ISA");
		if (!ref)
			ref = nash_hwnet_new(g, 37, 1, &e);
		const nash_io *in = &g->inputs[0];
		int64_t isz = in->shape[0] * in->shape[1] * in->shape[2];
		int32_t *x = malloc((size_t)(37 * isz) * 4);
		for (int64_t i = 0; i < 37 * isz; i++)
			x[i] = (int32_t)rval(&r, in->datatype);
		for (int t = 1; t <= 2; t++) {
			nash_hwnet *h = nash_hwnet_new(g, 37, t, &e);
			int same = 1, k = 0;
			for (int n = 37; n > 0; n -= 32) {
				nash_hwnet_run_hwc(ref, x, n, &e);
				nash_hwnet_run_hwc(h, x, n, &e);
				const int64_t *a = nash_hwnet_output(ref, &k, NULL), *b = nash_hwnet_output(h, NULL, NULL);
				same &= !memcmp(a, b, (size_t)(n * k) * sizeof *a);
			}
			CHECK(same, "fixture %s, 37 and 5 images, %d thread%s: the %s engine equals the %s one", g->name, t,
			      t > 1 ? "s" : "", nash_hwnet_kernel(h), nash_hwnet_kernel(ref));
			nash_hwnet_free(h);
		}
		free(x);
		nash_hwnet_free(ref);
		nash_graph_free(g);
	}
	/* an MVAU moved into an add whose output feeds a second add (which
	 * once took the MVAU and its add's chain over, losing the first add):
	 * whole quads, a partial quad, a whole and a partial 16-channel group,
	 * the MVAU either operand; vnni16 against the scalar engine at add1,
	 * add2 and the activation, 17 images on two threads */
	for (int v = 0; v < 8; v++) {
		static const int64_t chans[4] = {4, 6, 16, 20};
		nash_graph *full = add_chain_net(chans[v / 2], v % 2);
		const nash_io *in = &full->inputs[0];
		int64_t isz = in->shape[0] * in->shape[1] * in->shape[2];
		int32_t *x = malloc((size_t)(17 * isz) * 4);
		for (int64_t i = 0; i < 17 * isz; i++)
			x[i] = (int32_t)rval(&r, in->datatype);
		const char *cuts[3] = {"add1_out", "add2_out", "act_out"};
		int same = 1, varies = 1, skip = 0;
		why[0] = 0;
		for (int q = 0; q < 3 && same && !skip; q++) {
			nash_graph *c = cut(full, cuts[q]);
			nash_err e = {{0}}, eh = {{0}};
			setenv("NASH_HWEXEC_ISA", "vnni16", 1);
			nash_hwnet *h = nash_hwnet_new(c, 17, 2, &eh);
			setenv("NASH_HWEXEC_ISA", "scalar", 1);
			nash_hwnet *ref = nash_hwnet_new(c, 17, 1, &e);
			unsetenv("NASH_HWEXEC_ISA");
			skip = !h && strstr(eh.msg, "NASH_HWEXEC_ISA"); /* the CPU lacks it */
			if (h && strcmp(nash_hwnet_kernel(h), "vnni16")) {
				snprintf(why, sizeof why, "at %s: the batch engine did not take the graph", cuts[q]);
				same = 0;
			} else if (h && ref) {
				int k = 0;
				if (nash_hwnet_run_hwc(ref, x, 17, &e) < 0 || nash_hwnet_run_hwc(h, x, 17, &e) < 0) {
					snprintf(why, sizeof why, "at %s: run: %s", cuts[q], e.msg);
					same = 0;
					k = 0;
				} else
					nash_hwnet_output(ref, &k, NULL);
				const int64_t *a = nash_hwnet_output(ref, NULL, NULL), *b = nash_hwnet_output(h, NULL, NULL);
				int64_t lo = INT64_MAX, hi = INT64_MIN;
				for (int64_t i = 0; i < 17 * (int64_t)k; i++) {
					if (same && a[i] != b[i]) {
						snprintf(why, sizeof why, "at %s, image %lld value %lld: %lld, scalar %lld", cuts[q],
						         (long long)(i / k), (long long)(i % k), (long long)b[i], (long long)a[i]);
						same = 0;
					}
					lo = a[i] < lo ? a[i] : lo, hi = a[i] > hi ? a[i] : hi;
				}
				varies &= hi > lo;
			} else if (!skip)
				same = 0, snprintf(why, sizeof why, "compile: %s", h ? e.msg : eh.msg);
			nash_hwnet_free(h);
			nash_hwnet_free(ref);
			nash_graph_free(c);
		}
		if (skip)
			CHECK(1, "%s: the vnni16 engine equals the scalar one # SKIP no AVX-512 VNNI", full->name);
		else
			CHECK(same && varies, "%s: the vnni16 engine equals the scalar one at add1, add2 and the activation%s %s",
			      full->name, same && !varies ? " (an output that does not vary)" : "", why);
		free(x);
		nash_graph_free(full);
	}
	g = hwfix_resnet18(0, 16);
	{
		nash_err e;
		nash_hwnet *h = nash_hwnet_new(g, 2, 1, &e);
		uint8_t px[2 * 784];
		for (int i = 0; i < 2 * 784; i++)
			px[i] = (uint8_t)(i * 37 % 256);
		int ok = nash_hwnet_run(h, px, 2, &e) == 0;
		int k;
		nash_hwout kind;
		const int64_t *o = nash_hwnet_output(h, &k, &kind);
		int64_t x64[784], want[1];
		for (int j = 0; j < 784; j++)
			x64[j] = px[784 + j];
		ref_run(g, x64, want);
		CHECK(ok && k == 1 && kind == NASH_HWOUT_TOPK && o[1] == want[0], "uint8 pixels (N x C x H x W) run: class %lld",
		      (long long)o[1]);
		nash_hwnet_free(h);
	}
	nash_graph_free(g);

	/* errors */
	nash_err e;
	g = hwfix_cnv();
	int32_t *big = calloc(32 * 32 * 3, 4);
	big[5] = 200;
	nash_hwnet *h = nash_hwnet_new(g, 1, 1, &e);
	CHECK(nash_hwnet_run_hwc(h, big, 1, &e) < 0 && strstr(e.msg, "200") && strstr(e.msg, "INT8"),
	      "an input outside the datatype is an error: %s", e.msg);
	nash_hwnet_free(h);
	free(big);
	free(nash_node_find(g, "conv2")->op);
	nash_node_find(g, "conv2")->op = nash_strdup("Conv");
	CHECK(!nash_hwnet_new(g, 1, 1, &e) && strstr(e.msg, "conv2") && strstr(e.msg, "Conv"),
	      "a float op is refused naming the node: %s", e.msg);
	nash_graph_free(g);
	g = hwfix_tfc();
	nash_attr_set_str(nash_node_find(g, "fc3"), "outputDataType", "INT4");
	nash_attr_set_str(nash_node_find(g, "top"), "inputDataType", "INT4");
	h = nash_hwnet_new(g, 1, 1, &e);
	uint8_t px[784];
	for (int i = 0; i < 784; i++)
		px[i] = (uint8_t)(i * 91 % 256);
	CHECK(h && nash_hwnet_run(h, px, 1, &e) < 0 && strstr(e.msg, "fc3") && strstr(e.msg, "INT4"),
	      "a sum that does not fit outputDataType is an error: %s", e.msg);
	nash_hwnet_free(h);
	nash_graph_free(g);
	g = hwfix_tfc();
	nash_attr_set_str(nash_node_find(g, "fc1"), "inputDataType", "INT2");
	CHECK(!nash_hwnet_new(g, 1, 1, &e) && strstr(e.msg, "fc1") && strstr(e.msg, "BIPOLAR"),
	      "a declared input datatype that disagrees with the producer: %s", e.msg);
	nash_graph_free(g);
	UNIT_DONE();
}
