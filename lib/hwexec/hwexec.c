/* hwexec.c - the integer executor of hardware graphs (see hwexec.h).
 *
 * A graph is compiled into a list of steps over slots (one per stream
 * tensor; FIFOs and width converters alias their input). Where the CPU
 * has AVX-512 VNNI, lanes.c runs the steps 16 images at a time; this file
 * is the per-image engine for the rest. Each image runs
 * through every step on one thread, images spread over threads (OpenMP).
 * Activations are int32; a sliding window that feeds an MVAU on the fast
 * path writes int16 (or uint8) rows straight into that MVAU's GEMM
 * operand. MVAUs whose products and sums provably fit int32 use the packed
 * kernels of kern.c (u8 x s8 with AVX-512 VNNI when the input is unsigned
 * 8-bit and the weights 8-bit, else int16 x int16), the others an int64
 * loop. Thresholds: parallel counts for up to 16 steps, tables of outputs
 * for many steps over a narrow range, binary search otherwise. No float
 * touches a value. */
#include "hwexec_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------ helpers */

static const char *dtname(nash_datatype d, char *buf)
{
	nash_datatype_name(d, buf);
	return buf[0] ? buf : "none";
}

static int find_slot(const nash_hwnet *h, const char *name)
{
	for (int i = 0; i < h->nslots; i++)
		if (!strcmp(h->s[i].name, name))
			return i;
	return -1;
}

static int base_slot(const nash_hwnet *h, int i)
{
	return hwx_base_slot(h, i);
}

static int new_slot(nash_hwnet *h, const char *name, int64_t pix, int64_t ch, nash_datatype dt)
{
	h->s = nash_realloc(h->s, (size_t)(h->nslots + 1) * sizeof *h->s);
	slot *s = &h->s[h->nslots];
	memset(s, 0, sizeof *s);
	s->name = nash_strdup(name);
	s->pix = pix;
	s->ch = ch;
	s->ld = ch;
	s->dt = dt;
	s->alias = -1;
	s->el = 4;
	return h->nslots++;
}

/* A datatype attribute: must name an integer datatype that fits int32
 * values (the executor's activation storage). */
static int dt_attr(const nash_graph *g, const nash_node *n, const char *key, nash_datatype *d, int required,
                   nash_err *e)
{
	const char *s = nash_attr_str(n, key, NULL);
	if (!s) {
		if (!required)
			return 1;
		return nash_fail(e, "graph %s: node %s (%s): no %s attribute", g->name, n->name, n->op, key);
	}
	if (nash_datatype_parse(s, d) < 0 || !nash_datatype_is_int(*d))
		return nash_fail(e, "graph %s: node %s (%s): %s '%s' is not an integer datatype", g->name, n->name, n->op,
		                 key, s);
	if (nash_datatype_min(*d) < INT32_MIN || nash_datatype_max(*d) > INT32_MAX)
		return nash_fail(e, "graph %s: node %s (%s): %s %s does not fit 32 bits", g->name, n->name, n->op, key, s);
	return 0;
}

static int same_dt(nash_datatype a, nash_datatype b)
{
	return a.kind == b.kind && a.bits == b.bits;
}

/* The node's declared input datatype must be the producer's. */
static int check_in_dt(const nash_graph *g, const nash_node *n, const char *key, const slot *s, nash_err *e)
{
	nash_datatype d;
	char a[16], b[16];
	int rc = dt_attr(g, n, key, &d, 0, e);
	if (rc < 0)
		return -1;
	if (rc == 0 && !same_dt(d, s->dt))
		return nash_fail(e, "graph %s: node %s (%s): %s is %s but its input %s carries %s", g->name, n->name, n->op,
		                 key, dtname(d, a), s->name, dtname(s->dt, b));
	return 0;
}

static int in_slot(nash_hwnet *h, const nash_graph *g, const nash_node *n, int i, nash_err *e)
{
	if (i >= n->nin || !n->in[i][0])
		return nash_fail(e, "graph %s: node %s (%s): input %d is missing", g->name, n->name, n->op, i);
	int s = find_slot(h, n->in[i]);
	if (s < 0)
		return nash_fail(e, "graph %s: node %s (%s): input %s is not a stream of the graph", g->name, n->name, n->op,
		                 n->in[i]);
	return s;
}

static int pair(const nash_node *n, const char *key, int64_t def, int64_t *v)
{
	int64_t t[2];
	int c = nash_attr_ints(n, key, t, 2);
	if (c == 2) {
		v[0] = t[0], v[1] = t[1];
	} else if (c == 1) {
		v[0] = v[1] = t[0];
	} else if (nash_attr_has(n, key) && nash_val_is_num(nash_val_get(n->attr, key))) {
		v[0] = v[1] = nash_attr_int(n, key, def);
	} else
		v[0] = v[1] = def;
	return 0;
}

static void pads(const nash_node *n, int64_t *p)
{
	int64_t v[4];
	int c = nash_attr_ints(n, "Padding", v, 4);
	if (c == 4)
		memcpy(p, v, sizeof v);
	else if (c == 2)
		p[0] = p[2] = v[0], p[1] = p[3] = v[1];
	else if (c == 1)
		p[0] = p[1] = p[2] = p[3] = v[0];
	else {
		int64_t x = nash_attr_int(n, "Padding", 0);
		p[0] = p[1] = p[2] = p[3] = x;
	}
}

static const nash_tensor *param(const nash_graph *g, const nash_node *n, int i, const char *what, nash_err *e)
{
	const nash_tensor *t = i < n->nin && n->in[i][0] ? nash_tensor_find(g, n->in[i]) : NULL;
	if (!t || !t->data) {
		nash_fail(e, "graph %s: node %s (%s): %s %s has no data", g->name, n->name, n->op, what,
		          i < n->nin ? n->in[i] : "(missing)");
		return NULL;
	}
	if (t->dtype == NASH_F32 || t->dtype >= NASH_NDTYPE) {
		nash_fail(e, "graph %s: node %s (%s): %s %s is %s, not integer", g->name, n->name, n->op, what, t->name,
		          nash_dtype_name(t->dtype));
		return NULL;
	}
	return t;
}

static int64_t thr_out_(const thr *th, int64_t n)
{
	return th->bipolar ? (n ? 1 : -1) : th->actval + n;
}

/* Thresholds T (rows x steps) for ch channels; out datatype odt. */
static int thr_init(const nash_graph *g, const nash_node *n, const nash_tensor *t, int64_t ch, nash_datatype odt,
                    thr *th, nash_err *e)
{
	char a[16];
	if (t->ndim != 2 || (t->shape[0] != 1 && t->shape[0] != ch) || t->shape[1] < 1)
		return nash_fail(e, "graph %s: node %s (%s): thresholds %s must be %lld x steps", g->name, n->name, n->op,
		                 t->name, (long long)ch);
	th->rows = t->shape[0];
	th->steps = t->shape[1];
	th->t = nash_alloc((size_t)(th->rows * th->steps) * sizeof *th->t);
	th->sorted = 1;
	for (int64_t i = 0; i < th->rows * th->steps; i++) {
		th->t[i] = nash_tensor_int(t, i);
		if (i % th->steps && th->t[i] < th->t[i - 1])
			th->sorted = 0;
	}
	th->actval = nash_attr_int(n, "ActVal", 0);
	th->bipolar = odt.kind == NASH_DT_BIPOLAR;
	if (th->bipolar) {
		if (th->steps != 1)
			return nash_fail(e, "graph %s: node %s (%s): a BIPOLAR output needs exactly one threshold, not %lld",
			                 g->name, n->name, n->op, (long long)th->steps);
	} else if (th->actval < nash_datatype_min(odt) || th->actval + th->steps > nash_datatype_max(odt))
		return nash_fail(e, "graph %s: node %s (%s): outputs %lld..%lld (ActVal + 0..%lld steps) do not fit %s",
		                 g->name, n->name, n->op, (long long)th->actval, (long long)(th->actval + th->steps),
		                 (long long)th->steps, dtname(odt, a));
	/* small tables that fit int32: a transposed copy for counting across channels */
	int fits = 1;
	for (int64_t i = 0; i < th->rows * th->steps; i++)
		if (th->t[i] < INT32_MIN || th->t[i] > INT32_MAX)
			fits = 0;
	/* many steps over a narrow range: a table of outputs per channel over
	 * [lo - 1, hi] (lo, hi: the smallest and largest threshold); a value
	 * below lo gives 0 steps, one at or above hi all of them */
	int64_t omin = th->bipolar ? -1 : th->actval, omax = th->bipolar ? 1 : th->actval + th->steps;
	if (th->steps > 16 && omin >= INT16_MIN && omax <= INT16_MAX) {
		int64_t lo = th->t[0], hi = th->t[0];
		for (int64_t i = 0; i < th->rows * th->steps; i++)
			lo = th->t[i] < lo ? th->t[i] : lo, hi = th->t[i] > hi ? th->t[i] : hi;
		if (lo > INT32_MIN + 1 && hi < INT32_MAX && hi - lo < (1 << 20) && (hi - lo + 2) * th->rows <= (1 << 20)) {
			th->lo = lo - 1, th->span = hi - lo + 2;
			int64_t *cnt = nash_alloc((size_t)th->span * sizeof *cnt);
			th->lut = nash_alloc((size_t)(th->rows * th->span) * sizeof *th->lut);
			for (int64_t r = 0; r < th->rows; r++) {
				memset(cnt, 0, (size_t)th->span * sizeof *cnt);
				for (int64_t s = 0; s < th->steps; s++) /* each threshold counts from its value up */
					cnt[th->t[r * th->steps + s] - th->lo]++;
				for (int64_t i = 1; i < th->span; i++)
					cnt[i] += cnt[i - 1];
				for (int64_t i = 0; i < th->span; i++)
					th->lut[r * th->span + i] = (int32_t)thr_out_(th, cnt[i]);
			}
			free(cnt);
		}
	}
	if (!th->lut && fits && th->sorted && th->steps > 16 && th->steps <= 256) {
		/* two-level count: 16 block ends, then 16 within the block; the
		 * padding (INT32_MAX) is never reached by a value below it */
		th->blk = nash_alloc((size_t)th->rows * 256 * sizeof *th->blk);
		th->coarse = nash_alloc((size_t)th->rows * 16 * sizeof *th->coarse);
		for (int64_t r = 0; r < th->rows; r++) {
			for (int64_t s = 0; s < 256; s++)
				th->blk[r * 256 + s] = s < th->steps ? (int32_t)th->t[r * th->steps + s] : INT32_MAX;
			for (int j = 0; j < 16; j++)
				th->coarse[r * 16 + j] = th->blk[r * 256 + 16 * j + 15];
		}
	}
	if (fits && th->steps <= 16) {
		int64_t chp = (ch + HWK_NB - 1) / HWK_NB * HWK_NB;
		th->tt = nash_alloc((size_t)(th->steps * chp) * sizeof *th->tt);
		for (int64_t s = 0; s < th->steps; s++)
			for (int64_t c = 0; c < chp; c++)
				th->tt[s * chp + c] = c < ch ? (int32_t)th->t[(th->rows == 1 ? 0 : c) * th->steps + s] : INT32_MAX;
	}
	return 0;
}

#define thr_count hwx_thr_count
#define thr_out hwx_thr_out

/* Count of a sorted table of up to 256 steps for v < INT32_MAX: two
 * loops of 16 compares the compiler vectorises. */
static inline int32_t thr_count_blk(const thr *th, int64_t c, int32_t v)
{
	int64_t r = th->rows == 1 ? 0 : c;
	const int32_t *co = th->coarse + r * 16;
	int32_t b = 0, n = 0;
#pragma omp simd reduction(+ : b)
	for (int j = 0; j < 16; j++)
		b += v >= co[j];
	if (b == 16)
		return 256;
	const int32_t *t = th->blk + r * 256 + 16 * b;
#pragma omp simd reduction(+ : n)
	for (int j = 0; j < 16; j++)
		n += v >= t[j];
	return 16 * b + n;
}

/* The element-wise loops are compiled for AVX-512, AVX2 and the x86-64
 * baseline; the loader picks the clone this CPU runs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HW_CLONES
#endif

/* Apply thresholds to rows of int32 values (p rows of ch at stride ld). */
HW_CLONES static void thr_apply32(const thr *th, const int32_t *x, int64_t p, int64_t ld, int64_t ch, int32_t *y, int64_t ldy)
{
	if (th->tt && ch % HWK_NB == 0) { /* whole blocks: straight from x to y */
		int32_t av = (int32_t)th->actval;
		for (int64_t r = 0; r < p; r++) {
			const int32_t *xr = x + r * ld;
			int32_t *yr = y + r * ldy;
			for (int64_t cb = 0; cb < ch; cb += HWK_NB) {
				int32_t cnt[HWK_NB];
#pragma omp simd
				for (int j = 0; j < HWK_NB; j++)
					cnt[j] = 0;
				for (int64_t s = 0; s < th->steps; s++) {
					const int32_t *t = th->tt + s * ch + cb;
#pragma omp simd
					for (int j = 0; j < HWK_NB; j++)
						cnt[j] += xr[cb + j] >= t[j];
				}
				if (th->bipolar) {
#pragma omp simd
					for (int j = 0; j < HWK_NB; j++)
						yr[cb + j] = cnt[j] ? 1 : -1;
				} else {
#pragma omp simd
					for (int j = 0; j < HWK_NB; j++)
						yr[cb + j] = av + cnt[j];
				}
			}
		}
		return;
	}
	if (th->tt) {
		int64_t chp = (ch + HWK_NB - 1) / HWK_NB * HWK_NB;
		for (int64_t r = 0; r < p; r++) {
			const int32_t *xr = x + r * ld;
			int32_t *yr = y + r * ldy;
			for (int64_t cb = 0; cb < chp; cb += HWK_NB) {
				int32_t cnt[HWK_NB] = {0}, v[HWK_NB];
				int64_t m = ch - cb < HWK_NB ? ch - cb : HWK_NB;
				for (int j = 0; j < HWK_NB; j++)
					v[j] = j < m ? xr[cb + j] : 0;
				for (int64_t s = 0; s < th->steps; s++) {
					const int32_t *t = th->tt + s * chp + cb;
#pragma omp simd
					for (int j = 0; j < HWK_NB; j++)
						cnt[j] += v[j] >= t[j];
				}
				for (int64_t j = 0; j < m; j++)
					yr[cb + j] = thr_out(th, cnt[j]);
			}
		}
		return;
	}
	if (th->lut) {
		/* int32 indices (the table is under 2^20 entries): gathers */
		int32_t top = (int32_t)th->span - 1, lo = (int32_t)th->lo, stride = th->rows == 1 ? 0 : (int32_t)th->span;
		for (int64_t r = 0; r < p; r++) {
			const int32_t *xr = x + r * ld;
			int32_t *yr = y + r * ldy;
			const int32_t *t = th->lut;
#pragma omp simd
			for (int32_t c = 0; c < (int32_t)ch; c++) {
				int32_t v = xr[c] < lo ? lo : xr[c];
				v = v > lo + top ? lo + top : v; /* no overflow: lo + top is the largest threshold */
				yr[c] = t[c * stride + (v - lo)];
			}
		}
		return;
	}
	if (th->blk) {
		for (int64_t r = 0; r < p; r++)
			for (int64_t c = 0; c < ch; c++) {
				int32_t v = x[r * ld + c];
				y[r * ldy + c] = thr_out(th, v == INT32_MAX ? thr_count(th, c, v) : thr_count_blk(th, c, v));
			}
		return;
	}
	for (int64_t r = 0; r < p; r++)
		for (int64_t c = 0; c < ch; c++)
			y[r * ldy + c] = thr_out(th, thr_count(th, c, x[r * ld + c]));
}

/* ------------------------------------------------------------ compile */

static int add_step(nash_hwnet *h, const nash_node *n, stkind k)
{
	h->st = nash_realloc(h->st, (size_t)(h->nsteps + 1) * sizeof *h->st);
	step *s = &h->st[h->nsteps];
	memset(s, 0, sizeof *s);
	s->k = k;
	s->name = nash_strdup(n->name);
	s->op = nash_strdup(n->op);
	return h->nsteps++;
}

/* The stream's zero: 0, or -1 on a BIPOLAR stream (the all-zero bit
 * pattern hardware shifts in). */
static int64_t stream_zero(nash_datatype d)
{
	return d.kind == NASH_DT_BIPOLAR ? -1 : 0;
}

static int compile_node(nash_hwnet *h, const nash_graph *g, const nash_node *n, nash_err *e)
{
	const char *op = n->op;
	char a[16], b[16];
	if (!strcmp(op, "StreamingFIFO") || !strcmp(op, "StreamingDataWidthConverter") || !strcmp(op, "Identity")) {
		int x = in_slot(h, g, n, 0, e);
		if (x < 0)
			return -1;
		if (n->nout != 1)
			return nash_fail(e, "graph %s: node %s (%s): needs one output", g->name, n->name, op);
		if (strcmp(op, "Identity") && check_in_dt(g, n, "dataType", &h->s[x], e) < 0)
			return -1;
		int o = new_slot(h, n->out[0], h->s[x].pix, h->s[x].ch, h->s[x].dt);
		h->s[o].alias = x;
		return 0;
	}
	const nash_tensor *xs = n->nin > 0 ? nash_graph_shape(g, n->in[0]) : NULL;
	if (!strcmp(op, "ConvolutionInputGenerator")) {
		int x = in_slot(h, g, n, 0, e);
		if (x < 0 || check_in_dt(g, n, "inputDataType", &h->s[x], e) < 0)
			return -1;
		if (!xs || xs->ndim != 3)
			return nash_fail(e, "graph %s: node %s (%s): input must be H x W x C", g->name, n->name, op);
		int i = add_step(h, n, ST_SWG);
		step *s = &h->st[i];
		int64_t k[2], st[2], d[2];
		pair(n, "ConvKernelDim", 1, k);
		pair(n, "Stride", 1, st);
		pair(n, "Dilation", 1, d);
		pads(n, s->pad);
		s->ih = xs->shape[0], s->iw = xs->shape[1], s->c = xs->shape[2];
		s->kh = k[0], s->kw = k[1], s->sh = st[0], s->sw = st[1], s->dh = d[0], s->dw = d[1];
		s->oh = (s->ih + s->pad[0] + s->pad[2] - s->dh * (s->kh - 1) - 1) / s->sh + 1;
		s->ow = (s->iw + s->pad[1] + s->pad[3] - s->dw * (s->kw - 1) - 1) / s->sw + 1;
		s->padval = stream_zero(h->s[x].dt);
		nash_datatype od = h->s[x].dt;
		int rc = dt_attr(g, n, "outputDataType", &od, 0, e);
		if (rc < 0)
			return -1;
		if (!same_dt(od, h->s[x].dt))
			return nash_fail(e, "graph %s: node %s (%s): outputDataType %s differs from inputDataType %s", g->name,
			                 n->name, op, dtname(od, a), dtname(h->s[x].dt, b));
		s->nin = 1, s->in[0] = x;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], s->oh * s->ow, s->kh * s->kw * s->c, od);
		return 0;
	}
	if (!strcmp(op, "MVAU")) {
		int x = in_slot(h, g, n, 0, e);
		if (x < 0 || check_in_dt(g, n, "inputDataType", &h->s[x], e) < 0)
			return -1;
		const nash_tensor *w = param(g, n, 1, "weights", e);
		if (!w)
			return -1;
		int i = add_step(h, n, ST_MVAU);
		step *s = &h->st[i];
		s->mw = w->shape[0], s->mh = w->shape[1];
		s->pix = h->s[x].pix;
		if (h->s[x].ch != s->mw)
			return nash_fail(e, "graph %s: node %s (MVAU): input %s has %lld elements per pixel, MW is %lld", g->name,
			                 n->name, h->s[x].name, (long long)h->s[x].ch, (long long)s->mw);
		nash_datatype wdt = w->datatype;
		if (dt_attr(g, n, "weightDataType", &wdt, 0, e) < 0)
			return -1;
		if (!nash_datatype_is_int(wdt))
			return nash_fail(e, "graph %s: node %s (MVAU): weights %s have no integer datatype", g->name, n->name,
			                 w->name);
		nash_datatype idt = h->s[x].dt;
		s->xnor = (int)nash_attr_int(n, "binaryXnorMode", 0);
		if (s->xnor && (idt.kind != NASH_DT_BIPOLAR || wdt.kind != NASH_DT_BIPOLAR))
			return nash_fail(e, "graph %s: node %s (MVAU): binaryXnorMode needs BIPOLAR input and weights, not %s and %s",
			                 g->name, n->name, dtname(idt, a), dtname(wdt, b));
		int64_t *wv = nash_alloc((size_t)(s->mw * s->mh) * sizeof *wv);
		int64_t wmax = 0, wlo = 0, whi = 0;
		for (int64_t j = 0; j < s->mw * s->mh; j++) {
			wv[j] = nash_tensor_int(w, j);
			wlo = wv[j] < wlo ? wv[j] : wlo;
			whi = wv[j] > whi ? wv[j] : whi;
			if (wv[j] < nash_datatype_min(wdt) || wv[j] > nash_datatype_max(wdt) ||
			    (wdt.kind == NASH_DT_BIPOLAR && wv[j] == 0)) {
				int64_t bad = wv[j];
				free(wv);
				return nash_fail(e, "graph %s: node %s (MVAU): weight %lld of %s is outside %s", g->name, n->name,
				                 (long long)bad, w->name, dtname(wdt, a));
			}
			int64_t m = wv[j] < 0 ? -wv[j] : wv[j];
			if (m > wmax)
				wmax = m;
		}
		int64_t xlo = nash_datatype_min(idt), xhi = nash_datatype_max(idt);
		int64_t xmax = -xlo > xhi ? -xlo : xhi;
		/* fast path: int16 operands, every pair of products and every sum in int32 */
		__int128 bound = (__int128)s->mw * xmax * wmax;
		s->fast = xlo >= INT16_MIN && xhi <= INT16_MAX && wmax <= INT16_MAX && 2 * (__int128)xmax * wmax < INT32_MAX &&
		          bound < INT32_MAX;
		s->kp = (s->mw + 1) / 2 * 2;
		s->mhp = (s->mh + HWK_NB - 1) / HWK_NB * HWK_NB;
		/* unsigned 8-bit inputs and 8-bit weights: four products a lane */
		s->u8 = s->fast && hwk_has_u8(h->isa) && xlo >= 0 && xhi <= 255 && wlo >= -128 && whi <= 127;
		if (s->u8) {
			s->kp = (s->mw + 3) / 4 * 4;
			s->wp8 = nash_alloc((size_t)(s->kp * s->mhp));
			hwk_pack8(wv, s->mw, s->mh, s->kp, s->wp8);
			free(wv);
		} else if (s->fast) {
			s->wp = nash_alloc((size_t)(s->kp * s->mhp) * sizeof *s->wp);
			hwk_pack(wv, s->mw, s->mh, s->kp, s->wp);
			free(wv);
		} else {
			s->wt = nash_alloc((size_t)(s->mw * s->mh) * sizeof *s->wt);
			for (int64_t k = 0; k < s->mw; k++)
				for (int64_t o = 0; o < s->mh; o++)
					s->wt[o * s->mw + k] = wv[k * s->mh + o];
			free(wv);
		}
		nash_datatype odt;
		if (dt_attr(g, n, "outputDataType", &odt, 1, e) < 0)
			return -1;
		s->odt = odt;
		s->has_thr = n->nin > 2 && n->in[2][0] && !nash_attr_int(n, "noActivation", 0);
		if (s->has_thr) {
			const nash_tensor *t = param(g, n, 2, "thresholds", e);
			if (!t || thr_init(g, n, t, s->mh, odt, &s->th, e) < 0)
				return -1;
		} else {
			s->check = 1;
			s->omin = nash_datatype_min(odt), s->omax = nash_datatype_max(odt);
		}
		s->nin = 1, s->in[0] = x;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], s->pix, s->mh, odt);
		return 0;
	}
	if (!strcmp(op, "Thresholding")) {
		int x = in_slot(h, g, n, 0, e);
		if (x < 0 || check_in_dt(g, n, "inputDataType", &h->s[x], e) < 0)
			return -1;
		const nash_tensor *t = param(g, n, 1, "thresholds", e);
		if (!t)
			return -1;
		nash_datatype odt;
		if (dt_attr(g, n, "outputDataType", &odt, 1, e) < 0)
			return -1;
		int i = add_step(h, n, ST_THR);
		step *s = &h->st[i];
		s->c = h->s[x].ch;
		s->pix = h->s[x].pix;
		if (thr_init(g, n, t, s->c, odt, &s->th, e) < 0)
			return -1;
		s->nin = 1, s->in[0] = x;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], s->pix, s->c, odt);
		return 0;
	}
	if (!strcmp(op, "StreamingMaxPool") || !strcmp(op, "QuantAvgPool")) {
		int avg = op[0] == 'Q';
		int x = in_slot(h, g, n, 0, e);
		if (x < 0 || check_in_dt(g, n, avg ? "inputDataType" : "dataType", &h->s[x], e) < 0)
			return -1;
		if (!xs || xs->ndim != 3)
			return nash_fail(e, "graph %s: node %s (%s): input must be H x W x C", g->name, n->name, op);
		int i = add_step(h, n, avg ? ST_AVGPOOL : ST_MAXPOOL);
		step *s = &h->st[i];
		int64_t k[2], st[2];
		pair(n, avg ? "Kernel" : "PoolDim", 1, k);
		pair(n, "Stride", 0, st);
		if (st[0] == 0)
			st[0] = k[0];
		if (st[1] == 0)
			st[1] = k[1];
		pads(n, s->pad);
		s->ih = xs->shape[0], s->iw = xs->shape[1], s->c = xs->shape[2];
		s->kh = k[0], s->kw = k[1], s->sh = st[0], s->sw = st[1], s->dh = s->dw = 1;
		s->oh = (s->ih + s->pad[0] + s->pad[2] - s->kh) / s->sh + 1;
		s->ow = (s->iw + s->pad[1] + s->pad[3] - s->kw) / s->sw + 1;
		nash_datatype odt = h->s[x].dt;
		if (avg) {
			if (dt_attr(g, n, "outputDataType", &odt, 1, e) < 0)
				return -1;
			s->shift = (int)nash_attr_int(n, "Shift", 0);
			if (s->shift < 0 || s->shift > 62)
				return nash_fail(e, "graph %s: node %s (QuantAvgPool): Shift %d is out of range", g->name, n->name,
				                 s->shift);
			s->padval = stream_zero(h->s[x].dt);
			s->check = 1;
			s->omin = nash_datatype_min(odt), s->omax = nash_datatype_max(odt);
			s->odt = odt;
		} else
			s->padval = nash_datatype_min(h->s[x].dt);
		s->nin = 1, s->in[0] = x;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], s->oh * s->ow, s->c, odt);
		return 0;
	}
	if (!strcmp(op, "AddStreams")) {
		int x = in_slot(h, g, n, 0, e), y = x < 0 ? -1 : in_slot(h, g, n, 1, e);
		if (x < 0 || y < 0)
			return -1;
		if (n->nin != 2 || h->s[x].pix != h->s[y].pix || h->s[x].ch != h->s[y].ch)
			return nash_fail(e, "graph %s: node %s (AddStreams): needs two streams of the same shape", g->name,
			                 n->name);
		nash_val *dts = nash_val_get(n->attr, "inputDataTypes");
		for (int j = 0; dts && dts->t == NASH_V_ARR && j < 2 && (size_t)j < dts->u.a.n; j++) {
			const char *ds = nash_val_as_str(dts->u.a.v[j]);
			nash_datatype d;
			int sl = j ? y : x;
			if (!ds || nash_datatype_parse(ds, &d) < 0 || !same_dt(d, h->s[sl].dt))
				return nash_fail(e, "graph %s: node %s (AddStreams): inputDataTypes[%d] is %s but its input %s carries %s",
				                 g->name, n->name, j, ds ? ds : "not a string", h->s[sl].name, dtname(h->s[sl].dt, a));
		}
		nash_datatype odt;
		if (dt_attr(g, n, "outputDataType", &odt, 1, e) < 0)
			return -1;
		int i = add_step(h, n, ST_ADD);
		step *s = &h->st[i];
		s->nin = 2, s->in[0] = x, s->in[1] = y;
		s->check = 1, s->omin = nash_datatype_min(odt), s->omax = nash_datatype_max(odt), s->odt = odt;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], h->s[x].pix, h->s[x].ch, odt);
		return 0;
	}
	if (!strcmp(op, "DuplicateStreams")) {
		int x = in_slot(h, g, n, 0, e);
		if (x < 0 || check_in_dt(g, n, "dataType", &h->s[x], e) < 0)
			return -1;
		/* nothing writes a stream in place: the copies are the same buffer */
		for (int j = 0; j < n->nout; j++) {
			int o = new_slot(h, n->out[j], h->s[x].pix, h->s[x].ch, h->s[x].dt);
			h->s[o].alias = x;
		}
		return 0;
	}
	if (!strcmp(op, "StreamingConcat")) {
		if (n->nin < 1 || n->nin > MAXIO)
			return nash_fail(e, "graph %s: node %s (StreamingConcat): %d inputs (1..%d)", g->name, n->name, n->nin,
			                 MAXIO);
		int i = add_step(h, n, ST_CONCAT);
		step *s = &h->st[i];
		int64_t ch = 0;
		for (int j = 0; j < n->nin; j++) {
			int x = in_slot(h, g, n, j, e);
			if (x < 0)
				return -1;
			if (check_in_dt(g, n, "dataType", &h->s[x], e) < 0)
				return -1;
			if (h->s[x].pix != h->s[h->st[i].in[0]].pix && j > 0)
				return nash_fail(e, "graph %s: node %s (StreamingConcat): inputs differ in pixels", g->name, n->name);
			s = &h->st[i];
			s->in[j] = x;
			s->cps[j] = h->s[x].ch;
			ch += h->s[x].ch;
			if (j > 0 && !same_dt(h->s[x].dt, h->s[s->in[0]].dt))
				return nash_fail(e, "graph %s: node %s (StreamingConcat): inputs %s and %s carry %s and %s", g->name,
				                 n->name, h->s[s->in[0]].name, h->s[x].name, dtname(h->s[s->in[0]].dt, a),
				                 dtname(h->s[x].dt, b));
		}
		s = &h->st[i];
		s->nin = n->nin;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], h->s[s->in[0]].pix, ch, h->s[s->in[0]].dt);
		return 0;
	}
	if (!strcmp(op, "LabelSelect")) {
		int x = in_slot(h, g, n, 0, e);
		if (x < 0 || check_in_dt(g, n, "inputDataType", &h->s[x], e) < 0)
			return -1;
		nash_datatype odt;
		if (dt_attr(g, n, "outputDataType", &odt, 1, e) < 0)
			return -1;
		int i = add_step(h, n, ST_LABEL);
		step *s = &h->st[i];
		s->c = h->s[x].ch;
		s->kk = nash_attr_int(n, "K", 1);
		if (h->s[x].pix != 1 || s->kk < 1 || s->kk > s->c)
			return nash_fail(e, "graph %s: node %s (LabelSelect): needs one vector and 1 <= K <= Labels", g->name,
			                 n->name);
		if (nash_datatype_max(odt) < s->c - 1 || nash_datatype_min(odt) > 0)
			return nash_fail(e, "graph %s: node %s (LabelSelect): outputDataType %s cannot hold label %lld", g->name,
			                 n->name, dtname(odt, a), (long long)(s->c - 1));
		s->nin = 1, s->in[0] = x;
		s->nout = 1, s->out[0] = new_slot(h, n->out[0], 1, s->kk, odt);
		return 0;
	}
	return nash_fail(e, "graph %s: node %s: %s is not a hardware operator the integer executor runs (run nash-stream first)",
	                 g->name, n->name, op);
}

nash_hwnet *nash_hwnet_new(const nash_graph *g, int batch, int threads, nash_err *e)
{
	char a[16];
	if (batch < 1)
		batch = 1;
	if (g->nin != 1 || g->nout != 1) {
		nash_fail(e, "graph %s: the integer executor needs one input and one output (has %d and %d)", g->name, g->nin,
		          g->nout);
		return NULL;
	}
	nash_hwnet *h = nash_alloc(sizeof *h);
	h->gname = nash_strdup(g->name);
	h->batch = batch;
#ifdef _OPENMP
	h->threads = threads > 0 ? threads : omp_get_max_threads();
#else
	(void)threads;
	h->threads = 1;
#endif
	h->prof = getenv("NASH_HWEXEC_PROFILE") != NULL;
	h->isa = hwk_best();
	/* the 16-image batch engine where the CPU has AVX-512 VNNI */
	int lanes = h->isa == HWK_AVX512 && hwx_lanes_cpu();
	const char *force = getenv("NASH_HWEXEC_ISA");
	if (force && *force && !(lanes && !strcmp(force, "vnni16"))) {
		lanes = 0;
		if (hwk_isa_parse(force, &h->isa) < 0) {
			nash_fail(e, "NASH_HWEXEC_ISA=%s: not a kernel this CPU runs (scalar, sse2, avx2, avx512, vnni16 up to %s)",
			          force, hwk_best() == HWK_AVX512 && hwx_lanes_cpu() ? "vnni16" : hwk_isa_name(hwk_best()));
			nash_hwnet_free(h);
			return NULL;
		}
	}
	const nash_io *in = &g->inputs[0];
	h->idt = in->datatype;
	if (!nash_datatype_is_int(h->idt) || nash_datatype_min(h->idt) < INT32_MIN || nash_datatype_max(h->idt) > INT32_MAX) {
		nash_fail(e, "graph %s: input %s has datatype %s, not an integer datatype of at most 32 bits", g->name,
		          in->name, dtname(h->idt, a));
		nash_hwnet_free(h);
		return NULL;
	}
	if (in->ndim != 3) {
		nash_fail(e, "graph %s: input %s must be H x W x C (a hardware graph), not %d-dimensional", g->name, in->name,
		          in->ndim);
		nash_hwnet_free(h);
		return NULL;
	}
	h->ih = in->shape[0], h->iw = in->shape[1], h->ic = in->shape[2];
	h->in_slot = new_slot(h, in->name, h->ih * h->iw, h->ic, h->idt);
	for (int i = 0; i < g->nnodes; i++)
		if (compile_node(h, g, g->nodes[i], e) < 0) {
			nash_hwnet_free(h);
			return NULL;
		}
	h->out_slot = find_slot(h, g->outputs[0].name);
	if (h->out_slot < 0) {
		nash_fail(e, "graph %s: output %s is not computed by a hardware operator", g->name, g->outputs[0].name);
		nash_hwnet_free(h);
		return NULL;
	}
	int ob = base_slot(h, h->out_slot);
	h->k = h->s[ob].pix * h->s[ob].ch;
	h->kind = NASH_HWOUT_LOGITS;
	for (int i = 0; i < h->nsteps; i++)
		if (h->st[i].k == ST_LABEL && h->st[i].out[0] == ob)
			h->kind = NASH_HWOUT_TOPK;
	/* sliding windows feeding a fast MVAU write its int16 operand */
	for (int i = 0; i < h->nsteps; i++) {
		step *m = &h->st[i];
		if (m->k != ST_MVAU || !m->fast)
			continue;
		int x = base_slot(h, m->in[0]);
		int users = 0;
		for (int j = 0; j < h->nsteps; j++)
			for (int q = 0; q < h->st[j].nin; q++)
				users += base_slot(h, h->st[j].in[q]) == x;
		int prod = -1;
		for (int j = 0; j < h->nsteps; j++)
			if (h->st[j].k == ST_SWG && h->st[j].out[0] == x)
				prod = j;
		if (prod >= 0 && users == 1 && x != ob) {
			h->s[x].el = m->u8 ? 1 : 2;
			h->s[x].ld = m->kp;
		}
	}
	/* lay out one image's workspace */
	size_t off = 0;
	for (int i = 0; i < h->nslots; i++) {
		slot *s = &h->s[i];
		if (s->alias >= 0)
			continue;
		s->bytes = ((size_t)(s->pix * s->ld) * (size_t)s->el + 63) / 64 * 64;
		s->off = off;
		off += s->bytes;
	}
	size_t scratch = 0;
	for (int i = 0; i < h->nsteps; i++) {
		step *s = &h->st[i];
		if (s->k != ST_MVAU)
			continue;
		size_t need = 0;
		if (s->fast) {
			if (h->s[base_slot(h, s->in[0])].el == 4)
				need += ((size_t)(s->pix * s->kp) * 2 + 63) / 64 * 64;
			need += (size_t)(s->pix * s->mhp) * 4;
		} else
			need += (size_t)s->mh * 8;
		if (need > scratch)
			scratch = need;
	}
	h->scratch_off = off;
	h->scratch_bytes = scratch;
	h->ws_bytes = off + scratch + 64;
	h->nws = h->threads;
	h->ws = nash_alloc((size_t)h->nws * sizeof *h->ws);
	h->out = nash_alloc((size_t)(h->batch * h->k) * sizeof *h->out);
	h->inbuf = nash_alloc((size_t)(h->batch * h->ih * h->iw * h->ic) * sizeof *h->inbuf);
	if (lanes)
		h->lanes = hwx_lanes_new(h, g, e); /* NULL: a graph it does not run, per image then */
	return h;
}

void nash_hwnet_free(nash_hwnet *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nslots; i++)
		free(h->s[i].name);
	free(h->s);
	for (int i = 0; i < h->nsteps; i++) {
		step *s = &h->st[i];
		free(s->name);
		free(s->op);
		free(s->wp);
		free(s->wp8);
		free(s->wt);
		free(s->th.t);
		free(s->th.tt);
		free(s->th.blk);
		free(s->th.lut);
		free(s->th.coarse);
	}
	free(h->st);
	for (int i = 0; i < h->nws && h->ws; i++)
		free(h->ws[i]);
	free(h->ws);
	free(h->out);
	free(h->inbuf);
	free(h->gname);
	hwx_lanes_free(h->lanes);
	free(h);
}

/* ---------------------------------------------------------------- run */

void hwx_range_fail(runerr *re, const nash_hwnet *h, const step *s, int64_t v)
{
	char a[16];
#pragma omp critical(hwexec_err)
	if (!re->set) {
		re->set = 1;
		snprintf(re->msg, sizeof re->msg, "graph %s: node %s (%s): value %lld does not fit outputDataType %s",
		         h->gname, s->name, s->op, (long long)v, dtname(s->odt, a));
	}
}

#define I32(ws, h, sl) ((int32_t *)((ws) + (h)->s[base_slot((h), (sl))].off))
#define I16(ws, h, sl) ((int16_t *)((ws) + (h)->s[base_slot((h), (sl))].off))

/* Copy n int32 values into a window row of el bytes an element. */
static inline void put(unsigned char *dst, int el, const int32_t *src, int64_t n)
{
	if (el == 1) {
		uint8_t *d = (uint8_t *)dst;
#pragma omp simd
		for (int64_t j = 0; j < n; j++)
			d[j] = (uint8_t)src[j];
	} else if (el == 2) {
		int16_t *d = (int16_t *)dst;
#pragma omp simd
		for (int64_t j = 0; j < n; j++)
			d[j] = (int16_t)src[j];
	} else
		memcpy(dst, src, (size_t)n * 4);
}

static inline void fill(unsigned char *dst, int el, int32_t v, int64_t n)
{
	if (el == 1)
		memset(dst, (int)(uint8_t)v, (size_t)n);
	else if (el == 2)
		for (int64_t j = 0; j < n; j++)
			((int16_t *)dst)[j] = (int16_t)v;
	else
		for (int64_t j = 0; j < n; j++)
			((int32_t *)dst)[j] = v;
}

HW_CLONES static void run_swg(const nash_hwnet *h, const step *s, unsigned char *ws)
{
	const int32_t *x = I32(ws, h, s->in[0]);
	const slot *o = &h->s[base_slot(h, s->out[0])];
	int el = o->el;
	int64_t c = s->c, row = s->kh * s->kw * c;
	unsigned char *out = ws + o->off;
	for (int64_t oy = 0; oy < s->oh; oy++)
		for (int64_t ox = 0; ox < s->ow; ox++) {
			int64_t p = oy * s->ow + ox;
			unsigned char *prow = out + (size_t)(p * o->ld) * (size_t)el;
			int64_t ix0 = ox * s->sw - s->pad[1];
			/* with dilation 1 and the whole kernel row inside, the KW*C
			 * window values of one kernel row are contiguous in x */
			int runs = s->dw == 1 && ix0 >= 0 && ix0 + s->kw <= s->iw;
			for (int64_t ky = 0; ky < s->kh; ky++) {
				int64_t iy = oy * s->sh - s->pad[0] + ky * s->dh;
				unsigned char *d = prow + (size_t)(ky * s->kw * c) * (size_t)el;
				if (iy < 0 || iy >= s->ih) {
					fill(d, el, (int32_t)s->padval, s->kw * c);
					continue;
				}
				if (runs) {
					put(d, el, x + (iy * s->iw + ix0) * c, s->kw * c);
					continue;
				}
				for (int64_t kx = 0; kx < s->kw; kx++) {
					int64_t ix = ix0 + kx * s->dw;
					unsigned char *dk = d + (size_t)(kx * c) * (size_t)el;
					if (ix < 0 || ix >= s->iw)
						fill(dk, el, (int32_t)s->padval, c);
					else
						put(dk, el, x + (iy * s->iw + ix) * c, c);
				}
			}
			if (o->ld > row)
				fill(prow + (size_t)row * (size_t)el, el, 0, o->ld - row);
		}
}

static void mvau_post(const nash_hwnet *h, const step *s, const int32_t *acc, int64_t ldacc, int32_t *y,
                      runerr *re)
{
	int32_t *a = (int32_t *)acc;
	if (s->xnor) /* popcount of agreements: (dot + MW) / 2 */
		for (int64_t p = 0; p < s->pix; p++)
			for (int64_t c = 0; c < s->mh; c++)
				a[p * ldacc + c] = (a[p * ldacc + c] + (int32_t)s->mw) / 2;
	if (s->has_thr) {
		thr_apply32(&s->th, acc, s->pix, ldacc, s->mh, y, s->mh);
		return;
	}
	for (int64_t p = 0; p < s->pix; p++)
		for (int64_t c = 0; c < s->mh; c++) {
			int32_t v = acc[p * ldacc + c];
			if (v < s->omin || v > s->omax)
				hwx_range_fail(re, h, s, v);
			y[p * s->mh + c] = v;
		}
}

static void run_mvau(const nash_hwnet *h, const step *s, unsigned char *ws, runerr *re)
{
	const slot *xs = &h->s[base_slot(h, s->in[0])];
	int32_t *y = I32(ws, h, s->out[0]);
	unsigned char *scr = ws + h->scratch_off;
	if (s->u8) {
		const uint8_t *x;
		if (xs->el == 1)
			x = (const uint8_t *)(ws + xs->off);
		else {
			uint8_t *xp = (uint8_t *)scr;
			const int32_t *src = (const int32_t *)(ws + xs->off);
			for (int64_t p = 0; p < s->pix; p++) {
#pragma omp simd
				for (int64_t k = 0; k < s->mw; k++)
					xp[p * s->kp + k] = (uint8_t)src[p * s->mw + k];
				for (int64_t k = s->mw; k < s->kp; k++)
					xp[p * s->kp + k] = 0;
			}
			x = xp;
			scr += ((size_t)(s->pix * s->kp) * 2 + 63) / 64 * 64;
		}
		int32_t *acc = (int32_t *)scr;
		hwk_gemm8(h->isa, x, s->pix, s->kp, s->wp8, s->kp, s->mhp, acc, s->mhp);
		mvau_post(h, s, acc, s->mhp, y, re);
		return;
	}
	if (s->fast) {
		const int16_t *x;
		if (xs->el == 2)
			x = (const int16_t *)(ws + xs->off);
		else {
			int16_t *xp = (int16_t *)scr;
			const int32_t *src = (const int32_t *)(ws + xs->off);
			for (int64_t p = 0; p < s->pix; p++) {
#pragma omp simd
				for (int64_t k = 0; k < s->mw; k++)
					xp[p * s->kp + k] = (int16_t)src[p * s->mw + k];
				if (s->kp > s->mw)
					xp[p * s->kp + s->mw] = 0;
			}
			x = xp;
			scr += ((size_t)(s->pix * s->kp) * 2 + 63) / 64 * 64;
		}
		int32_t *acc = (int32_t *)scr;
		hwk_gemm(h->isa, x, s->pix, s->kp, s->wp, s->kp, s->mhp, acc, s->mhp);
		mvau_post(h, s, acc, s->mhp, y, re);
		return;
	}
	const int32_t *x = (const int32_t *)(ws + xs->off);
	int64_t *acc = (int64_t *)scr;
	for (int64_t p = 0; p < s->pix; p++) {
		const int32_t *xr = x + p * s->mw;
		for (int64_t o = 0; o < s->mh; o++) {
			const int64_t *w = s->wt + o * s->mw;
			int64_t a = 0;
			for (int64_t k = 0; k < s->mw; k++)
				a += (int64_t)xr[k] * w[k];
			if (s->xnor)
				a = (a + s->mw) / 2;
			acc[o] = a;
		}
		for (int64_t o = 0; o < s->mh; o++) {
			int64_t v = acc[o];
			if (s->has_thr)
				y[p * s->mh + o] = thr_out(&s->th, thr_count(&s->th, o, v));
			else {
				if (v < s->omin || v > s->omax) {
					hwx_range_fail(re, h, s, v);
					v = 0;
				}
				y[p * s->mh + o] = (int32_t)v;
			}
		}
	}
}

static void run_pool(const nash_hwnet *h, const step *s, unsigned char *ws, runerr *re)
{
	const int32_t *x = I32(ws, h, s->in[0]);
	int32_t *y = I32(ws, h, s->out[0]);
	int avg = s->k == ST_AVGPOOL;
	int64_t c = s->c;
	int64_t *acc = nash_alloc((size_t)c * sizeof *acc);
	for (int64_t oy = 0; oy < s->oh; oy++)
		for (int64_t ox = 0; ox < s->ow; ox++) {
			for (int64_t j = 0; j < c; j++)
				acc[j] = avg ? 0 : INT64_MIN;
			for (int64_t ky = 0; ky < s->kh; ky++)
				for (int64_t kx = 0; kx < s->kw; kx++) {
					int64_t iy = oy * s->sh - s->pad[0] + ky, ix = ox * s->sw - s->pad[1] + kx;
					if (iy < 0 || iy >= s->ih || ix < 0 || ix >= s->iw) {
						for (int64_t j = 0; j < c; j++)
							acc[j] = avg ? acc[j] + s->padval : (acc[j] > s->padval ? acc[j] : s->padval);
						continue;
					}
					const int32_t *src = x + (iy * s->iw + ix) * c;
					if (avg) {
#pragma omp simd
						for (int64_t j = 0; j < c; j++)
							acc[j] += src[j];
					} else {
#pragma omp simd
						for (int64_t j = 0; j < c; j++)
							acc[j] = acc[j] > src[j] ? acc[j] : src[j];
					}
				}
			int32_t *dst = y + (oy * s->ow + ox) * c;
			for (int64_t j = 0; j < c; j++) {
				int64_t v = avg ? acc[j] >> s->shift : acc[j];
				if (avg && (v < s->omin || v > s->omax)) {
					hwx_range_fail(re, h, s, v);
					v = 0;
				}
				dst[j] = (int32_t)v;
			}
		}
	free(acc);
}

static void run_step(const nash_hwnet *h, const step *s, unsigned char *ws, runerr *re)
{
	switch (s->k) {
	case ST_SWG: run_swg(h, s, ws); break;
	case ST_MVAU: run_mvau(h, s, ws, re); break;
	case ST_THR: {
		const slot *xs = &h->s[base_slot(h, s->in[0])];
		thr_apply32(&s->th, (const int32_t *)(ws + xs->off), s->pix, s->c, s->c, I32(ws, h, s->out[0]), s->c);
		break;
	}
	case ST_MAXPOOL: case ST_AVGPOOL: run_pool(h, s, ws, re); break;
	case ST_ADD: {
		const slot *o = &h->s[base_slot(h, s->out[0])];
		const int32_t *a = I32(ws, h, s->in[0]), *b = I32(ws, h, s->in[1]);
		int32_t *y = (int32_t *)(ws + o->off);
		int64_t n = o->pix * o->ch, bad = 0;
		int hit = 0;
#pragma omp simd reduction(| : hit)
		for (int64_t i = 0; i < n; i++) {
			int64_t v = (int64_t)a[i] + b[i];
			hit |= v < s->omin || v > s->omax;
			y[i] = (int32_t)v;
		}
		for (int64_t i = 0; hit && i < n; i++)
			if ((int64_t)a[i] + b[i] < s->omin || (int64_t)a[i] + b[i] > s->omax) {
				bad = (int64_t)a[i] + b[i];
				break;
			}
		if (hit)
			hwx_range_fail(re, h, s, bad);
		break;
	}
	case ST_CONCAT: {
		const slot *o = &h->s[base_slot(h, s->out[0])];
		int32_t *y = (int32_t *)(ws + o->off);
		for (int64_t p = 0; p < o->pix; p++) {
			int64_t at = 0;
			for (int j = 0; j < s->nin; j++) {
				memcpy(y + p * o->ch + at, I32(ws, h, s->in[j]) + p * s->cps[j], (size_t)s->cps[j] * 4);
				at += s->cps[j];
			}
		}
		break;
	}
	case ST_LABEL: {
		const int32_t *x = I32(ws, h, s->in[0]);
		int32_t *y = I32(ws, h, s->out[0]);
		/* selection: K passes, each takes the largest not yet taken; ties
		 * to the lower index (strict > keeps the first) */
		unsigned char *taken = nash_alloc((size_t)s->c);
		for (int64_t q = 0; q < s->kk; q++) {
			int64_t best = -1;
			for (int64_t j = 0; j < s->c; j++)
				if (!taken[j] && (best < 0 || x[j] > x[best]))
					best = j;
			taken[best] = 1;
			y[q] = (int32_t)best;
		}
		free(taken);
		break;
	}
	case ST_DUP: break;
	}
}

double hwx_cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void hwx_prof_add(nash_hwnet *h, int kind, double s)
{
#pragma omp atomic
	h->prof_s[kind] += s;
}

int hwx_prof_kind(const step *s)
{
	switch (s->k) {
	case ST_MVAU: return HWX_P_GEMM;
	case ST_THR: return HWX_P_THR;
	case ST_ADD: return HWX_P_ADD;
	case ST_MAXPOOL: case ST_AVGPOOL: return HWX_P_POOL;
	default: return HWX_P_OTHER;
	}
}

static int run_images(nash_hwnet *h, int n, nash_err *e)
{
	if (h->lanes)
		return hwx_lanes_run(h, n, e);
	runerr re = {0, {0}};
	int64_t isz = h->ih * h->iw * h->ic;
	int nt = h->threads < n ? h->threads : n;
	if (nt < 1)
		nt = 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
	for (int i = 0; i < n; i++) {
		int t = 0;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		if (!h->ws[t])
			h->ws[t] = nash_alloc(h->ws_bytes);
		unsigned char *ws = h->ws[t];
		memcpy(ws + h->s[h->in_slot].off, h->inbuf + (int64_t)i * isz, (size_t)isz * 4);
		for (int j = 0; j < h->nsteps && !re.set; j++) {
			double t0 = h->prof ? hwx_cpu_now() : 0;
			run_step(h, &h->st[j], ws, &re);
			if (h->prof)
				hwx_prof_add(h, hwx_prof_kind(&h->st[j]), hwx_cpu_now() - t0);
		}
		const slot *o = &h->s[base_slot(h, h->out_slot)];
		const int32_t *y = (const int32_t *)(ws + o->off);
		for (int64_t j = 0; j < h->k; j++)
			h->out[(int64_t)i * h->k + j] = y[j];
	}
	if (re.set)
		return nash_fail(e, "%s", re.msg);
	return 0;
}

static int check_input(const nash_hwnet *h, int64_t v, int i, nash_err *e)
{
	char a[16];
	if (v < nash_datatype_min(h->idt) || v > nash_datatype_max(h->idt) || (h->idt.kind == NASH_DT_BIPOLAR && v == 0))
		return nash_fail(e, "graph %s: image %d: input value %lld is outside the input datatype %s", h->gname, i,
		                 (long long)v, dtname(h->idt, a));
	return 0;
}

int nash_hwnet_run(nash_hwnet *h, const uint8_t *x, int n, nash_err *e)
{
	if (n < 0 || n > h->batch)
		return nash_fail(e, "graph %s: %d images for a batch of %d", h->gname, n, h->batch);
	double t0 = h->prof ? hwx_cpu_now() : 0;
	int64_t H = h->ih, W = h->iw, C = h->ic, isz = H * W * C;
	int64_t lo = nash_datatype_min(h->idt), hi = nash_datatype_max(h->idt);
	int bip = h->idt.kind == NASH_DT_BIPOLAR;
	for (int i = 0; i < n; i++) {
		const uint8_t *src = x + (int64_t)i * isz;
		int32_t *dst = h->inbuf + (int64_t)i * isz;
		int bad = 0;
		for (int64_t c = 0; c < C; c++)
			for (int64_t p = 0; p < H * W; p++) {
				int32_t v = src[c * H * W + p];
				bad |= v < lo || v > hi || (bip && v == 0);
				dst[p * C + c] = v;
			}
		for (int64_t j = 0; bad && j < isz; j++)
			if (check_input(h, src[j], i, e) < 0)
				return -1;
	}
	if (h->prof)
		hwx_prof_add(h, HWX_P_IO, hwx_cpu_now() - t0);
	return run_images(h, n, e);
}

int nash_hwnet_run_hwc(nash_hwnet *h, const int32_t *x, int n, nash_err *e)
{
	if (n < 0 || n > h->batch)
		return nash_fail(e, "graph %s: %d images for a batch of %d", h->gname, n, h->batch);
	double t0 = h->prof ? hwx_cpu_now() : 0;
	int64_t isz = h->ih * h->iw * h->ic;
	int64_t lo = nash_datatype_min(h->idt), hi = nash_datatype_max(h->idt);
	int bip = h->idt.kind == NASH_DT_BIPOLAR, bad = 0;
	for (int64_t j = 0; j < (int64_t)n * isz; j++)
		bad |= x[j] < lo || x[j] > hi || (bip && x[j] == 0);
	for (int64_t j = 0; bad && j < (int64_t)n * isz; j++)
		if (check_input(h, x[j], (int)(j / isz), e) < 0)
			return -1;
	memcpy(h->inbuf, x, (size_t)((int64_t)n * isz) * sizeof *x);
	if (h->prof)
		hwx_prof_add(h, HWX_P_IO, hwx_cpu_now() - t0);
	return run_images(h, n, e);
}

const int64_t *nash_hwnet_output(const nash_hwnet *h, int *k, nash_hwout *kind)
{
	if (k)
		*k = (int)h->k;
	if (kind)
		*kind = h->kind;
	return h->out;
}

void nash_hwnet_input_shape(const nash_hwnet *h, int64_t *hwc)
{
	hwc[0] = h->ih, hwc[1] = h->iw, hwc[2] = h->ic;
}

int nash_hwnet_profile(const nash_hwnet *h, const char **what, double *secs, int n)
{
	static const char *names[HWX_P_N] = {"input and output", "MVAU", "", "Thresholding", "AddStreams", "pooling",
	                                     "other"};
	int k[HWX_P_N], m = 0;
	if (!h->prof)
		return 0;
	for (int i = 0; i < HWX_P_N; i++)
		if (h->prof_s[i] > 0)
			k[m++] = i;
	for (int i = 1; i < m; i++) /* largest first */
		for (int j = i; j > 0 && h->prof_s[k[j]] > h->prof_s[k[j - 1]]; j--) {
			int t = k[j];
			k[j] = k[j - 1], k[j - 1] = t;
		}
	for (int i = 0; i < m && i < n; i++) {
		const char *nm = names[k[i]];
		if (h->lanes && k[i] == HWX_P_GEMM)
			nm = "MVAU sums (vpdpbusd)";
		else if (k[i] == HWX_P_EPI)
			nm = "MVAU thresholds and folded steps";
		what[i] = nm;
		secs[i] = h->prof_s[k[i]];
	}
	return m < n ? m : n;
}

const char *nash_hwnet_kernel(const nash_hwnet *h)
{
	if (h->lanes)
		return "vnni16";
	return hwk_isa_name(h->isa);
}
