/* lanes.c - the batch engine of the integer executor: 16 images at once,
 * image i of a group in 32-bit lane i of every AVX-512 register.
 *
 * Why lanes of images: every vector is full whatever the layer's geometry
 * (7x7 or 4x4 feature maps, 10 classes), a sliding window is only a list
 * of pixel addresses (no window is ever copied: the convolution reads its
 * input in place), and a per-channel constant (a weight, a threshold) is
 * one broadcast for all 16 lanes.
 *
 * Storage: a stream whose datatype fits a byte is kept as bytes, four
 * channels a lane: element (pixel p, channel c, image i) at byte
 * ((p * CQ + c / 4) * 16 + i) * 4 + c % 4, CQ = ceil(C / 4); so one
 * 64-byte load is the 4-channel slice of a pixel for 16 images, exactly
 * the unsigned operand of vpdpbusd. Wider streams are int32 [p][c][16].
 * Buffers are shared between streams whose lifetimes do not overlap.
 *
 * MVAU: acc[p][c] += vpdpbusd(x[p + tap][4 channels], broadcast of the 4
 * weights of channel c); tiles of 2 pixels x 8 channels of accumulators,
 * which run at the CPU's vpdpbusd rate. Inputs stored as signed bytes are
 * read with the sign bit flipped (x + 128, unsigned) and 128 * sum(w) is
 * taken off per channel.
 *
 * The sums then go through a chain of element-wise work in registers
 * (see chain): the MVAU's thresholds, and the AddStreams and Thresholding
 * steps that only its output feeds (a residual block's second conv, the
 * add and the activation after it run as one pass). Thresholds: compares
 * for few steps; for many, a per-channel clamp((M v + B) >> S, lo, hi)
 * fitted when the graph is compiled and proven equal to the threshold
 * count on every value the input can take (see form_fit, form_row); a
 * table for inputs of at most 16 values; else a table of counts, else the
 * scalar count.
 *
 * Everything is exact integer arithmetic with the bounds checked when the
 * graph is compiled; graphs outside them (wide inputs or weights, int64
 * sums) stay on the per-image engine. */
#include "hwexec_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)

int hwx_lanes_cpu(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512vnni");
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
#include <immintrin.h>

#define LN 16    /* images in a group */
#define TCMAX 8  /* channels in an MVAU tile */

typedef struct lslot {
	int used;              /* a stream some step reads or writes */
	int e8, sgn;           /* bytes (signed or not), or int32 */
	int64_t pix, ch, cq;   /* cq: groups of 4 channels (bytes) */
	int64_t row;           /* bytes of one pixel */
	int64_t off, bytes;    /* in a group's workspace */
	int def, last;         /* the steps that write it first and read it last */
} lslot;

typedef enum { LT_NONE = -1, LT_CMP, LT_CMP3, LT_FORM, LT_FORMX, LT_LUT, LT_SCALAR, LT_PERM, LT_RUN } ltmode;

#define NEX 4 /* single values a row's line may get wrong */

/* A row's output as clamp((m v + b) >> s, lo, hi); FORMX also: n0 below
 * ga, n1 from gb on, and xd[i] added at v = xv[i]. ActVal is in b, lo,
 * hi, n0 and n1. */
typedef struct frow {
	int32_t m, b, s, lo, hi, ga, gb, n0, n1, nx, xv[NEX], xd[NEX];
} frow;

typedef struct lthr {
	const thr *th;
	ltmode m;
	int32_t *t32;          /* CMP: rows x steps */
	frow *f;               /* FORM, FORMX: per row */
	uint16_t *lut;         /* LUT: counts, row r over [llo[r], lhi[r]] from lbase[r] */
	int32_t *llo, *lhi, *lbase;
	int32_t *perm;         /* PERM: inputs of at most 16 values: row r's outputs for llo[r] + i */
} lthr;

typedef enum { LK_NOP, LK_MVAU, LK_EW, LK_SWG, LK_POOL, LK_CONCAT, LK_LABEL } lkind;

/* What happens to a value of channel c after its source (an MVAU's sum,
 * or a stream for LK_EW): thresholds t1 or a range check; then maybe an
 * AddStreams (the other operand through thresholds t0 first, the sum
 * checked) and thresholds t2; stored to slot y. Thresholdings and adds
 * whose stream has no other reader are folded into the chain of their
 * producer (their own steps do nothing then). */
struct hwx_lanes;
struct chain;
typedef void (*chain_fn)(const nash_hwnet *, const struct hwx_lanes *, const struct chain *, unsigned char *, int64_t,
                         int64_t, int, const int32_t *, runerr *);

typedef struct chain {
	int src;               /* LK_EW: the stream read */
	const lthr *t1;
	int chk1;
	int64_t lo1, hi1;
	const step *s1;        /* the node a failed check names */
	int add, other, chk2;  /* chk2: the sum can leave its datatype */
	const lthr *t0, *t2;
	int64_t lo2, hi2;
	const step *s2;
	int y;
	chain_fn fn;           /* its code, specialised on its modes */
} chain;

typedef struct lstep {
	lkind k;
	const step *s;
	int fused;             /* its work is done by another step's chain */
	chain ch;
	const step *win;       /* MVAU: the sliding window read in place, or NULL */
	int x;                 /* MVAU, SWG: the input slot */
	int64_t taps, cin;     /* window positions, input channels */
	int32_t *ipix;         /* pix x taps: input pixel, -1 for padding */
	int32_t *off;          /* pix x taps: byte offset in the workspace */
	int64_t cq, kq, mhp;   /* MVAU: channel quads, k quads, padded outputs */
	int32_t *wq;           /* blocks of 8 (or 4) channels: [kq][tc] weight quads */
	int32_t *corr;         /* per channel, added to the sum (signed input) */
	int sgn;
	int64_t padoff;        /* the padding pixel in the workspace */
	int32_t padval;
	lthr lt;               /* MVAU, Thresholding: its thresholds */
} lstep;

struct hwx_lanes {
	int nslots;
	lslot *s;
	int nsteps;
	lstep *st;
	int64_t ws_bytes;      /* a group's workspace: streams, then padding pixels */
	int nws;
	unsigned char **ws;
};

static inline __m512i bc(int64_t v)
{
	return _mm512_set1_epi32((int32_t)v);
}

/* ------------------------------------------------------ stream access */

static inline __m512i ldc(const unsigned char *ws, const lslot *s, int64_t p, int64_t c)
{
	if (!s->e8)
		return _mm512_loadu_si512(ws + s->off + (p * s->ch + c) * 64);
	__m512i q = _mm512_loadu_si512(ws + s->off + (p * s->cq + c / 4) * 64);
	int sh = (int)(c & 3) * 8;
	if (s->sgn)
		return _mm512_sra_epi32(_mm512_sll_epi32(q, _mm_cvtsi32_si128(24 - sh)), _mm_cvtsi32_si128(24));
	return _mm512_and_si512(_mm512_srl_epi32(q, _mm_cvtsi32_si128(sh)), bc(0xff));
}

static inline void stc(unsigned char *ws, const lslot *s, int64_t p, int64_t c, __m512i v)
{
	if (!s->e8) {
		_mm512_storeu_si512(ws + s->off + (p * s->ch + c) * 64, v);
		return;
	}
	int sh = (int)(c & 3);
	_mm512_mask_storeu_epi8(ws + s->off + (p * s->cq + c / 4) * 64, 0x1111111111111111ULL << sh,
	                        _mm512_sll_epi32(v, _mm_cvtsi32_si128(8 * sh)));
}

/* four channels' values (in the byte range) as one 64-byte quad */
static inline __m512i pack4(__m512i a, __m512i b, __m512i c, __m512i d)
{
	__m512i u = _mm512_and_si512(a, bc(0xff));
	u = _mm512_ternarylogic_epi32(u, _mm512_slli_epi32(b, 8), bc(0xff00), 0xF8);
	u = _mm512_ternarylogic_epi32(u, _mm512_slli_epi32(c, 16), bc(0xff0000), 0xF8);
	return _mm512_or_si512(u, _mm512_slli_epi32(d, 24));
}

static void check_vec(const nash_hwnet *h, const step *s, __m512i v, int64_t lo, int64_t hi, runerr *re)
{
	__mmask16 bad = _mm512_cmplt_epi32_mask(v, bc(lo)) | _mm512_cmpgt_epi32_mask(v, bc(hi));
	if (bad) {
		int32_t t[LN];
		_mm512_storeu_si512(t, v);
		hwx_range_fail(re, h, s, t[__builtin_ctz(bad)]);
	}
}

/* --------------------------------------------------------- thresholds */

/* n(v) = #{T[i] <= v} of a sorted row as clamp((M v + B) >> S, nlo, nhi)
 * for every v in [a, b]. f(v) = floor((M v + B) / 2^S) is nondecreasing
 * (M >= 0) and n is a step function, so f equals n on a segment of
 * constant n exactly when it does at the segment's two ends: one linear
 * constraint on (M, B) per end. For a given M the feasible B form an
 * interval whose width is a concave function of M, maximised by ternary
 * search. The result is then checked at every segment end with the very
 * int32 arithmetic of the vector code. 0 on success. */
static int form_fit(const int64_t *T, int64_t steps, int64_t a, int64_t b, int32_t *oM, int32_t *oB, int32_t *oS,
                    int32_t *olo, int32_t *ohi)
{
	if (a > b || a < -(1 << 24) || b > (1 << 24))
		return -1;
	int64_t nlo = 0, nhi = 0;
	for (int64_t i = 0; i < steps; i++)
		nlo += T[i] <= a, nhi += T[i] <= b;
	*olo = (int32_t)nlo, *ohi = (int32_t)nhi;
	if (nlo == nhi) {
		*oM = 0, *oB = 0, *oS = 0;
		return 0;
	}
	/* distinct thresholds in (a, b] and the count at each */
	int64_t *tv = nash_alloc((size_t)steps * sizeof *tv), *kv = nash_alloc((size_t)steps * sizeof *kv), m = 0;
	for (int64_t i = 0; i < steps; i++) {
		if (T[i] <= a || T[i] > b)
			continue;
		if (m && tv[m - 1] == T[i])
			kv[m - 1]++;
		else
			tv[m] = T[i], kv[m] = (m ? kv[m - 1] : nlo) + 1, m++;
	}
	int64_t amax = a < 0 ? -a : a;
	if ((b < 0 ? -b : b) > amax)
		amax = b < 0 ? -b : b;
	if (amax < 1)
		amax = 1;
	int64_t mmax = ((int64_t)1 << 30) / amax;
	/* the mean slope over the jumps: a larger shift S resolves the slope
	 * finer, as far as M v stays in int32 */
	int64_t rise = kv[m - 1] - nlo, run = tv[m - 1] - tv[0] + 1;
	int rc = -1;
	for (int S = 30, tries = 0; S >= 0 && tries < 6 && rc < 0; S--) {
		int64_t one = (int64_t)1 << S;
		if ((__int128)rise * one > (__int128)mmax * run)
			continue;
		tries++;
		/* B interval for slope M: [L(M), U(M)] */
#define LOW(M, L)                                                                                    \
	do {                                                                                             \
		L = INT64_MIN;                                                                               \
		for (int64_t i = 0; i < m; i++) {                                                            \
			int64_t v = kv[i] * one - (M) * tv[i];                                                   \
			L = v > L ? v : L;                                                                       \
		}                                                                                            \
	} while (0)
#define UPP(M, U)                                                                                    \
	do {                                                                                             \
		U = INT64_MAX;                                                                               \
		for (int64_t i = 0; i < m; i++) {                                                            \
			int64_t val = i ? kv[i - 1] : nlo;                                                       \
			int64_t v = (val + 1) * one - 1 - (M) * (tv[i] - 1);                                     \
			U = v < U ? v : U;                                                                       \
		}                                                                                            \
	} while (0)
		int64_t lo = 0, hi = mmax;
		while (hi - lo > 2) {
			int64_t m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3, l1, u1, l2, u2;
			LOW(m1, l1);
			UPP(m1, u1);
			LOW(m2, l2);
			UPP(m2, u2);
			if (u1 - l1 < u2 - l2)
				lo = m1 + 1;
			else if (u1 - l1 > u2 - l2)
				hi = m2 - 1;
			else
				lo = m1, hi = m2;
		}
		for (int64_t M = lo; M <= hi && rc < 0; M++) {
			int64_t L, U;
			LOW(M, L);
			UPP(M, U);
			if (L > U)
				continue;
			int64_t B = L;
			/* int32 without overflow: M v and M v + B at both ends */
			int64_t e[4] = {M * a, M * b, M * a + B, M * b + B};
			int ok = 1;
			for (int j = 0; j < 4; j++)
				ok &= e[j] > INT32_MIN && e[j] < INT32_MAX;
			if (!ok)
				continue;
			/* every segment end, as the vector code computes it */
			for (int64_t i = 0; i <= m && ok; i++) {
				int64_t s0 = i ? tv[i - 1] : a, s1 = i < m ? tv[i] - 1 : b, want = i ? kv[i - 1] : nlo;
				for (int j = 0; j < 2; j++) {
					int32_t v = (int32_t)(j ? s1 : s0);
					int32_t y = (int32_t)((int32_t)(M * v) + (int32_t)B) >> S;
					y = y < nlo ? (int32_t)nlo : y > nhi ? (int32_t)nhi : y;
					ok &= y == want;
				}
			}
			if (ok) {
				*oM = (int32_t)M, *oB = (int32_t)B, *oS = S;
				rc = 0;
			}
		}
#undef LOW
#undef UPP
	}
	free(tv);
	free(kv);
	return rc;
}

static int32_t form_eval(const frow *f, int32_t v)
{
	int32_t y = (int32_t)((uint32_t)f->m * (uint32_t)v + (uint32_t)f->b) >> f->s;
	return y < f->lo ? f->lo : y > f->hi ? f->hi : y;
}

/* Thresholds computed in floating point can miss the exact line by one
 * here and there: a least-squares line through the points where the
 * count steps (t - 1/2, n(t)), then the few values where it is wrong are
 * listed. Every v in [a, b] is checked. */
static int form_robust(const int64_t *T, int64_t steps, int64_t a, int64_t b, frow *f)
{
	if (b - a > (1 << 16) || b <= a)
		return -1;
	double sx = 0, sy = 0, sxx = 0, sxy = 0;
	int64_t np = 0;
	for (int64_t i = 0; i < steps; i++)
		if (T[i] > a && T[i] <= b && (i + 1 == steps || T[i + 1] != T[i])) {
			double x = (double)T[i] - 0.5, y = (double)(i + 1);
			sx += x, sy += y, sxx += x * x, sxy += x * y, np++;
		}
	if (np < 2)
		return -1;
	double den = np * sxx - sx * sx;
	if (den <= 0)
		return -1;
	double al = (np * sxy - sx * sy) / den, be = (sy - al * sx) / np;
	int64_t amax = a < 0 ? -a : a;
	amax = (b < 0 ? -b : b) > amax ? (b < 0 ? -b : b) : amax;
	if (amax < 1)
		amax = 1;
	int64_t nlo = hwx_count_le(T, steps, a), nhi = hwx_count_le(T, steps, b);
	frow best = {0};
	int have = 0;
	for (int S = 30, tries = 0; S >= 0 && tries < 3; S--) {
		double one = (double)((int64_t)1 << S);
		if (al * one * (double)amax > (double)(1 << 30))
			continue;
		tries++;
		for (int jj = 0; jj < 17 && !(have && best.nx == 0); jj++) {
			int j = jj & 1 ? -(jj + 1) / 2 : jj / 2; /* 0, -1, 1, -2, ... */
			frow c = {0};
			c.m = (int32_t)(al * one + 0.5), c.b = (int32_t)((be + j / 16.0) * one);
			c.s = S, c.lo = (int32_t)nlo, c.hi = (int32_t)nhi;
			int64_t e0 = (int64_t)c.m * a + c.b, e1 = (int64_t)c.m * b + c.b;
			if (e0 <= INT32_MIN || e0 >= INT32_MAX || e1 <= INT32_MIN || e1 >= INT32_MAX)
				continue;
			int64_t n = nlo, i = nlo;
			for (int64_t v = a; v <= b && c.nx <= NEX; v++) {
				while (i < steps && T[i] <= v)
					i++;
				n = i;
				int32_t y = form_eval(&c, (int32_t)v);
				if (y != n) {
					if (c.nx < NEX)
						c.xv[c.nx] = (int32_t)v, c.xd[c.nx] = (int32_t)(n - y);
					c.nx++;
				}
			}
			if (c.nx <= NEX && (!have || c.nx < best.nx))
				best = c, have = 1;
		}
		if (have && best.nx == 0)
			break;
	}
	if (!have)
		return -1;
	best.ga = f->ga, best.gb = f->gb, best.n0 = f->n0, best.n1 = f->n1;
	for (int i = best.nx; i < NEX; i++)
		best.xv[i] = INT32_MIN, best.xd[i] = 0;
	*f = best;
	return 0;
}

/* The many-step count as arithmetic (see form_fit). When the count is
 * not one line over the whole range (thresholds clipped to the
 * accumulator's bounds pile up at the ends; rounding), the first and
 * last step are compares, the line runs in between and a few single
 * values are corrected. 0: plain line, 1: with corrections, -1: none. */
static int form_row(const int64_t *T, int64_t steps, int64_t a, int64_t b, frow *f)
{
	memset(f, 0, sizeof *f);
	f->ga = INT32_MIN, f->gb = INT32_MAX;
	for (int i = 0; i < NEX; i++)
		f->xv[i] = INT32_MIN;
	if (form_fit(T, steps, a, b, &f->m, &f->b, &f->s, &f->lo, &f->hi) == 0)
		return 0;
	int64_t first = INT64_MAX, last = INT64_MIN;
	for (int64_t i = 0; i < steps; i++)
		if (T[i] > a && T[i] <= b)
			first = T[i] < first ? T[i] : first, last = T[i] > last ? T[i] : last;
	if (first == INT64_MAX || a < -(1 << 24) || b > (1 << 24))
		return -1;
	f->ga = (int32_t)first, f->gb = (int32_t)last;
	f->n0 = (int32_t)hwx_count_le(T, steps, a), f->n1 = (int32_t)hwx_count_le(T, steps, b);
	if (first == last) { /* one step: the compares are all */
		f->m = f->b = f->s = 0, f->lo = f->hi = f->n0;
		return 1;
	}
	if (form_fit(T, steps, first, last - 1, &f->m, &f->b, &f->s, &f->lo, &f->hi) == 0)
		return 1;
	return form_robust(T, steps, first, last - 1, f) == 0 ? 1 : -1;
}

/* Choose how to apply th on channels whose inputs lie in [vmin[c], vmax[c]]. */
static void lthr_init(lthr *lt, const thr *th, int64_t ch, const int64_t *vmin, const int64_t *vmax)
{
	memset(lt, 0, sizeof *lt);
	lt->th = th;
	lt->m = LT_SCALAR;
	int fits = 1;
	for (int64_t i = 0; i < th->rows * th->steps; i++)
		fits &= th->t[i] >= INT32_MIN && th->t[i] <= INT32_MAX;
	int64_t *ra = nash_alloc((size_t)th->rows * sizeof *ra), *rb = nash_alloc((size_t)th->rows * sizeof *rb);
	for (int64_t r = 0; r < th->rows; r++) {
		ra[r] = vmin[r], rb[r] = vmax[r];
		if (th->rows == 1)
			for (int64_t c = 0; c < ch; c++)
				ra[r] = vmin[c] < ra[r] ? vmin[c] : ra[r], rb[r] = vmax[c] > rb[r] ? vmax[c] : rb[r];
	}
	int small = 1; /* every row's inputs take at most 16 values: a table lookup */
	for (int64_t r = 0; r < th->rows; r++)
		small &= rb[r] - ra[r] < 16 && ra[r] > INT32_MIN && rb[r] < INT32_MAX;
	if (small) {
		lt->m = LT_PERM;
		lt->perm = nash_alloc((size_t)th->rows * 16 * sizeof *lt->perm);
		lt->llo = nash_alloc((size_t)th->rows * 3 * sizeof *lt->llo);
		for (int64_t r = 0; r < th->rows; r++) {
			lt->llo[r] = (int32_t)ra[r];
			for (int64_t i = 0; i < 16; i++)
				lt->perm[r * 16 + i] = hwx_thr_out(th, hwx_thr_count(th, r, ra[r] + (i < rb[r] - ra[r] ? i : rb[r] - ra[r])));
		}
	} else if (fits && th->steps <= 4) {
		lt->m = LT_CMP;
	} else if (th->sorted) {
		lt->f = nash_alloc((size_t)th->rows * sizeof *lt->f);
		int worst = 0;
		for (int64_t r = 0; r < th->rows && worst >= 0; r++) {
			int k = form_row(th->t + r * th->steps, th->steps, ra[r], rb[r], &lt->f[r]);
			worst = k < 0 ? -1 : k > worst ? k : worst;
		}
		/* ActVal into the line: b + ActVal 2^s, still in int32 at both ends */
		int64_t av = th->bipolar ? 0 : th->actval;
		for (int64_t r = 0; r < th->rows && worst >= 0; r++) {
			frow *f = &lt->f[r];
			int64_t a = f->ga > ra[r] ? f->ga : ra[r], b = f->gb < rb[r] ? f->gb : rb[r];
			int64_t nb = f->b + av * ((int64_t)1 << f->s), e0 = (int64_t)f->m * a + nb, e1 = (int64_t)f->m * b + nb;
			if (nb <= INT32_MIN || nb >= INT32_MAX || e0 <= INT32_MIN || e0 >= INT32_MAX || e1 <= INT32_MIN ||
			    e1 >= INT32_MAX)
				worst = -1;
			else
				f->b = (int32_t)nb, f->lo += (int32_t)av, f->hi += (int32_t)av, f->n0 += (int32_t)av, f->n1 += (int32_t)av;
		}
		if (worst >= 0)
			lt->m = worst ? LT_FORMX : LT_FORM;
		else {
			free(lt->f);
			lt->f = NULL;
		}
	}
	if (lt->m == LT_SCALAR && fits && th->steps <= 16)
		lt->m = LT_CMP;
	if (lt->m == LT_SCALAR && th->sorted && th->steps < 65536) {
		/* a table of counts per row over its range */
		int64_t tot = 0;
		for (int64_t r = 0; r < th->rows; r++)
			tot += rb[r] - ra[r] + 1;
		if (tot <= (1 << 24) && ra[0] > INT32_MIN + 1) {
			lt->lut = nash_alloc((size_t)(tot + 2) * sizeof *lt->lut);
			lt->llo = nash_alloc((size_t)th->rows * 3 * sizeof *lt->llo);
			lt->lhi = lt->llo + th->rows, lt->lbase = lt->lhi + th->rows;
			int64_t at = 0;
			for (int64_t r = 0; r < th->rows; r++) {
				const int64_t *T = th->t + r * th->steps;
				lt->llo[r] = (int32_t)ra[r], lt->lhi[r] = (int32_t)rb[r], lt->lbase[r] = (int32_t)at;
				int64_t i = 0;
				for (int64_t v = ra[r]; v <= rb[r]; v++) {
					while (i < th->steps && T[i] <= v)
						i++;
					lt->lut[at++] = (uint16_t)i;
				}
			}
			lt->m = LT_LUT;
		}
	}
	free(ra);
	free(rb);
	if (lt->m == LT_CMP && th->steps == 3 && !th->bipolar)
		lt->m = LT_CMP3;
	if (lt->m == LT_CMP || lt->m == LT_CMP3) {
		lt->t32 = nash_alloc((size_t)(th->rows * th->steps) * sizeof *lt->t32);
		for (int64_t i = 0; i < th->rows * th->steps; i++)
			lt->t32[i] = (int32_t)th->t[i];
	}
}

static void lthr_free(lthr *lt)
{
	free(lt->perm);
	free(lt->t32);
	free(lt->f);
	free(lt->lut);
	free(lt->llo);
}

/* ---------------------------------------------- element-wise chains */

/* A threshold's constants as the chain code holds them: in locals, which
 * stores to the workspace (bytes, which may alias anything) do not force
 * to be read again. */
typedef struct tpr {
	const lthr *lt;
	int shared;            /* one row for every channel */
	const int32_t *t32, *perm, *llo;
	const frow *f;
	__m512i av;            /* ActVal (0 for BIPOLAR) */
	__m512i k[3];          /* LT_CMP3, shared: the thresholds */
} tpr;

static inline __attribute__((always_inline)) void tprep(tpr *t, const lthr *lt)
{
	memset(t, 0, sizeof *t);
	if (!lt)
		return;
	const thr *th = lt->th;
	t->lt = lt;
	t->shared = th->rows == 1;
	t->t32 = lt->t32, t->perm = lt->perm, t->llo = lt->llo, t->f = lt->f;
	t->av = bc(th->bipolar ? 0 : th->actval);
	if (lt->m == LT_CMP3 && t->shared)
		t->k[0] = bc(lt->t32[0]), t->k[1] = bc(lt->t32[1]), t->k[2] = bc(lt->t32[2]);
}

/* The thresholds of channel c applied to x: ActVal + count, or -1 / +1.
 * mode is a constant where the caller is specialised, else LT_RUN (the
 * threshold's own mode, a branch per vector). */
static inline __attribute__((always_inline)) __m512i thr_m(const tpr *t, int mode, int64_t c, __m512i x)
{
	const lthr *lt = t->lt;
	int64_t r = t->shared ? 0 : c;
	int md = mode == LT_RUN ? (int)lt->m : mode;
	__m512i k;
	switch (md) {
	case LT_CMP3: {
		__mmask16 m0, m1, m2;
		if (t->shared)
			m0 = _mm512_cmpge_epi32_mask(x, t->k[0]), m1 = _mm512_cmpge_epi32_mask(x, t->k[1]),
			m2 = _mm512_cmpge_epi32_mask(x, t->k[2]);
		else {
			const int32_t *q = t->t32 + r * 3;
			m0 = _mm512_cmpge_epi32_mask(x, _mm512_set1_epi32(q[0]));
			m1 = _mm512_cmpge_epi32_mask(x, _mm512_set1_epi32(q[1]));
			m2 = _mm512_cmpge_epi32_mask(x, _mm512_set1_epi32(q[2]));
		}
		const __m512i one = _mm512_set1_epi32(-1);
		k = _mm512_mask_sub_epi32(t->av, m0, t->av, one);
		k = _mm512_mask_sub_epi32(k, m1, k, one);
		return _mm512_mask_sub_epi32(k, m2, k, one);
	}
	case LT_CMP: {
		const thr *th = lt->th;
		const int32_t *q = t->t32 + r * th->steps;
		k = t->av;
		for (int64_t s = 0; s < th->steps; s++)
			k = _mm512_mask_sub_epi32(k, _mm512_cmpge_epi32_mask(x, bc(q[s])), k, bc(-1));
		break;
	}
	case LT_FORM: case LT_FORMX: {
		const frow *f = t->f + r;
		k = _mm512_add_epi32(_mm512_mullo_epi32(x, _mm512_set1_epi32(f->m)), _mm512_set1_epi32(f->b));
		k = _mm512_srav_epi32(k, _mm512_set1_epi32(f->s));
		k = _mm512_min_epi32(_mm512_max_epi32(k, _mm512_set1_epi32(f->lo)), _mm512_set1_epi32(f->hi));
		if (md == LT_FORMX) {
			for (int i = 0; i < f->nx; i++)
				k = _mm512_mask_add_epi32(k, _mm512_cmpeq_epi32_mask(x, bc(f->xv[i])), k, bc(f->xd[i]));
			k = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(x, bc(f->ga)), k, bc(f->n0));
			k = _mm512_mask_blend_epi32(_mm512_cmpge_epi32_mask(x, bc(f->gb)), k, bc(f->n1));
		}
		return k; /* never bipolar: one step is CMP */
	}
	case LT_PERM: /* the table holds the outputs */
		return _mm512_permutexvar_epi32(_mm512_sub_epi32(x, _mm512_set1_epi32(t->llo[r])),
		                                _mm512_loadu_si512(t->perm + r * 16));
	case LT_LUT: { /* counts at 2-byte steps; clamped to the row's range, which only a value that failed
	                  a range check just before leaves */
		__m512i i = _mm512_min_epi32(_mm512_max_epi32(x, bc(lt->llo[r])), bc(lt->lhi[r]));
		i = _mm512_add_epi32(_mm512_sub_epi32(i, bc(lt->llo[r])), bc(lt->lbase[r]));
		k = _mm512_and_si512(_mm512_i32gather_epi32(i, (const void *)lt->lut, 2), bc(0xffff));
		k = _mm512_add_epi32(k, t->av);
		break;
	}
	default: {
		int32_t q[LN];
		_mm512_storeu_si512(q, x);
		for (int l = 0; l < LN; l++)
			q[l] = (int32_t)hwx_thr_count(lt->th, c, q[l]);
		k = _mm512_add_epi32(_mm512_loadu_si512(q), t->av);
	}
	}
	if (lt->th->bipolar) /* one step: -1 below, +1 at or above */
		k = _mm512_mask_blend_epi32(_mm512_cmpgt_epi32_mask(k, _mm512_setzero_si512()), bc(-1), bc(1));
	return k;
}

/* up to 4 channels c .. c+q-1 of pixel p: one load when they are a quad */
static inline __attribute__((always_inline)) void ld4(const unsigned char *ws, const lslot *s, int64_t p, int64_t c,
                                                     int q, __m512i *v)
{
	if (s->e8 && (c & 3) == 0) {
		__m512i x = _mm512_loadu_si512(ws + s->off + (p * s->cq + c / 4) * 64);
		if (s->sgn) {
			v[0] = _mm512_srai_epi32(_mm512_slli_epi32(x, 24), 24);
			v[1] = _mm512_srai_epi32(_mm512_slli_epi32(x, 16), 24);
			v[2] = _mm512_srai_epi32(_mm512_slli_epi32(x, 8), 24);
			v[3] = _mm512_srai_epi32(x, 24);
		} else {
			v[0] = _mm512_and_si512(x, bc(0xff));
			v[1] = _mm512_and_si512(_mm512_srli_epi32(x, 8), bc(0xff));
			v[2] = _mm512_and_si512(_mm512_srli_epi32(x, 16), bc(0xff));
			v[3] = _mm512_srli_epi32(x, 24);
		}
		return;
	}
#pragma GCC unroll 4
	for (int j = 0; j < q; j++)
		v[j] = ldc(ws, s, p, c + j);
}

static inline __mmask16 outside(__m512i v, int64_t lo, int64_t hi)
{
	return _mm512_cmplt_epi32_mask(v, bc(lo)) | _mm512_cmpgt_epi32_mask(v, bc(hi));
}

/* everything a chain's code reads, in locals (see tpr) */
typedef struct cpr {
	lslot xs, os, ys;      /* source, other operand, output */
	tpr t1, t0, t2;
	int chk1, chk2;
	int64_t lo1, hi1, lo2, hi2;
} cpr;

/* Q channels c .. c+Q-1 of pixel p through the chain (see chain_body);
 * Q is 4 (a quad, the common case, branch-free) or the tail. */
static inline __attribute__((always_inline)) void chain_quad(const nash_hwnet *h, const chain *ch, const cpr *k,
                                                            unsigned char *ws, int64_t p, int64_t c, int Q,
                                                            const int32_t *src, runerr *re, int M1, int ADD, int M0,
                                                            int M2)
{
	__m512i v[4], o[4], v1[4], r[4];
#pragma GCC unroll 4
	for (int j = 0; j < 4; j++)
		o[j] = _mm512_setzero_si512();
	if (src) {
#pragma GCC unroll 4
		for (int j = 0; j < Q; j++)
			v[j] = _mm512_loadu_si512(src + j * LN);
	} else
		ld4(ws, &k->xs, p, c, Q, v);
	if (ADD)
		ld4(ws, &k->os, p, c, Q, o);
	__mmask16 bad1 = 0, bad2 = 0;
#pragma GCC unroll 4
	for (int j = 0; j < Q; j++) {
		__m512i x = v[j];
		if (M1 != LT_NONE && (M1 != LT_RUN || k->t1.lt))
			x = thr_m(&k->t1, M1, c + j, x);
		else if (k->chk1)
			bad1 |= outside(x, k->lo1, k->hi1);
		v1[j] = x;
		if (ADD) {
			__m512i w = o[j];
			if (M0 != LT_NONE && (M0 != LT_RUN || k->t0.lt))
				w = thr_m(&k->t0, M0, c + j, w);
			o[j] = w;
			x = _mm512_add_epi32(x, w);
			if (k->chk2)
				bad2 |= outside(x, k->lo2, k->hi2);
			if (M2 != LT_NONE && (M2 != LT_RUN || k->t2.lt))
				x = thr_m(&k->t2, M2, c + j, x);
		}
		r[j] = x;
	}
	if (__builtin_expect(bad1 | bad2, 0)) { /* name the first failing node */
		for (int j = 0; j < Q && bad1; j++)
			check_vec(h, ch->s1, v1[j], k->lo1, k->hi1, re);
		for (int j = 0; j < Q && bad2; j++)
			check_vec(h, ch->s2, _mm512_add_epi32(v1[j], o[j]), k->lo2, k->hi2, re);
	}
	/* a whole quad, or the stream's last (its padding bytes are free) */
	if (k->ys.e8 && (c & 3) == 0 && (Q == 4 || c + Q == k->ys.ch)) {
#pragma GCC unroll 4
		for (int j = Q; j < 4; j++)
			r[j] = _mm512_setzero_si512();
		_mm512_storeu_si512(ws + k->ys.off + (p * k->ys.cq + c / 4) * 64, pack4(r[0], r[1], r[2], r[3]));
	} else
		for (int j = 0; j < Q; j++)
			stc(ws, &k->ys, p, c + j, r[j]);
}

/* Channels c0 .. c0+n-1 of pixel p through the chain: the source values
 * from src (n vectors) or, when src is NULL, from stream ch->src. M1, M0,
 * M2: the modes of t1, t0, t2 (LT_NONE: absent, LT_RUN: any); ADD 2:
 * whether the chain adds. */
static inline __attribute__((always_inline)) void chain_body(const nash_hwnet *h, const struct hwx_lanes *L,
                                                            const chain *ch, unsigned char *ws, int64_t p, int64_t c0,
                                                            int n, const int32_t *src, runerr *re, int M1, int ADD,
                                                            int M0, int M2)
{
	cpr k;
	k.xs = L->s[ch->src], k.os = L->s[ch->other], k.ys = L->s[ch->y];
	tprep(&k.t1, ch->t1), tprep(&k.t0, ch->t0), tprep(&k.t2, ch->t2);
	k.chk1 = ch->chk1, k.chk2 = ch->chk2, k.lo1 = ch->lo1, k.hi1 = ch->hi1, k.lo2 = ch->lo2, k.hi2 = ch->hi2;
	if (ADD == 2) /* any chain */
		ADD = ch->add;
	int j0 = 0;
	if ((c0 & 3) == 0)
		for (; j0 + 4 <= n; j0 += 4)
			chain_quad(h, ch, &k, ws, p, c0 + j0, 4, src ? src + j0 * LN : NULL, re, M1, ADD, M0, M2);
	for (; j0 < n; j0++)
		chain_quad(h, ch, &k, ws, p, c0 + j0, 1, src ? src + j0 * LN : NULL, re, M1, ADD, M0, M2);
}

#define CHAIN(NAME, M1, ADD, M0, M2)                                                                               \
	static void NAME(const nash_hwnet *h, const struct hwx_lanes *L, const chain *ch, unsigned char *ws, int64_t p, \
	                 int64_t c0, int n, const int32_t *src, runerr *re)                                            \
	{                                                                                                              \
		chain_body(h, L, ch, ws, p, c0, n, src, re, M1, ADD, M0, M2);                                              \
	}

/* the chains of quantized CNNs: a thresholded conv, a conv into a
 * residual add and its activation; anything else runs the general one */
CHAIN(chain_any, LT_RUN, 2, LT_RUN, LT_RUN)
CHAIN(chain_n, LT_NONE, 0, LT_NONE, LT_NONE)
CHAIN(chain_c3, LT_CMP3, 0, LT_NONE, LT_NONE)
CHAIN(chain_c, LT_CMP, 0, LT_NONE, LT_NONE)
CHAIN(chain_f, LT_FORM, 0, LT_NONE, LT_NONE)
CHAIN(chain_fx, LT_FORMX, 0, LT_NONE, LT_NONE)
CHAIN(chain_n_a_n_n, LT_NONE, 1, LT_NONE, LT_NONE)
CHAIN(chain_n_a_n_c3, LT_NONE, 1, LT_NONE, LT_CMP3)
CHAIN(chain_n_a_f_c3, LT_NONE, 1, LT_FORM, LT_CMP3)
CHAIN(chain_f_a_n_n, LT_FORM, 1, LT_NONE, LT_NONE)
CHAIN(chain_f_a_n_c3, LT_FORM, 1, LT_NONE, LT_CMP3)
CHAIN(chain_f_a_f_c3, LT_FORM, 1, LT_FORM, LT_CMP3)
CHAIN(chain_f_a_c3_c3, LT_FORM, 1, LT_CMP3, LT_CMP3)
CHAIN(chain_f_a_p_c3, LT_FORM, 1, LT_PERM, LT_CMP3)
CHAIN(chain_p, LT_PERM, 0, LT_NONE, LT_NONE)
CHAIN(chain_c3_a_n_c3, LT_CMP3, 1, LT_NONE, LT_CMP3)

static const struct {
	int m1, add, m0, m2;
	chain_fn fn;
} chains[] = {
	{LT_NONE, 0, LT_NONE, LT_NONE, chain_n}, {LT_CMP3, 0, LT_NONE, LT_NONE, chain_c3},
	{LT_CMP, 0, LT_NONE, LT_NONE, chain_c}, {LT_FORM, 0, LT_NONE, LT_NONE, chain_f},
	{LT_FORMX, 0, LT_NONE, LT_NONE, chain_fx}, {LT_NONE, 1, LT_NONE, LT_NONE, chain_n_a_n_n},
	{LT_NONE, 1, LT_NONE, LT_CMP3, chain_n_a_n_c3}, {LT_NONE, 1, LT_FORM, LT_CMP3, chain_n_a_f_c3},
	{LT_FORM, 1, LT_NONE, LT_NONE, chain_f_a_n_n}, {LT_FORM, 1, LT_NONE, LT_CMP3, chain_f_a_n_c3},
	{LT_FORM, 1, LT_FORM, LT_CMP3, chain_f_a_f_c3}, {LT_FORM, 1, LT_CMP3, LT_CMP3, chain_f_a_c3_c3},
	{LT_CMP3, 1, LT_NONE, LT_CMP3, chain_c3_a_n_c3}, {LT_FORM, 1, LT_PERM, LT_CMP3, chain_f_a_p_c3},
	{LT_PERM, 0, LT_NONE, LT_NONE, chain_p},
};

static chain_fn chain_pick(const chain *ch)
{
	int m1 = ch->t1 ? (int)ch->t1->m : LT_NONE, m0 = ch->t0 ? (int)ch->t0->m : LT_NONE;
	int m2 = ch->t2 ? (int)ch->t2->m : LT_NONE;
	for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++)
		if (chains[i].m1 == m1 && chains[i].add == ch->add && chains[i].m0 == m0 && chains[i].m2 == m2)
			return chains[i].fn;
	return chain_any;
}

static void run_ew(const nash_hwnet *h, const struct hwx_lanes *L, const lstep *m, unsigned char *ws, runerr *re)
{
	const lslot *xs = &L->s[m->ch.src];
	for (int64_t p = 0; p < xs->pix; p++)
		m->ch.fn(h, L, &m->ch, ws, p, 0, (int)xs->ch, NULL, re);
}

/* --------------------------------------------------------------- MVAU */

/* TP pixels x TC channels of accumulators over every tap and channel
 * quad; SG: the input is signed bytes (flip the sign bit). */
#define TILE(TP, TC, SG)                                                                         \
	static void tile_##TP##_##TC##_##SG(const unsigned char *ws, const int32_t *o0, const int32_t *o1, \
	                                   int64_t taps, int64_t cq, const int32_t *w, int32_t *out, int64_t ostr) \
	{                                                                                            \
		__m512i a[TP][TC];                                                                       \
		_Pragma("GCC unroll 8") for (int p = 0; p < TP; p++)                                     \
		    _Pragma("GCC unroll 8") for (int c = 0; c < TC; c++) a[p][c] = _mm512_setzero_si512(); \
		const __m512i flip = _mm512_set1_epi8((char)0x80);                                       \
		(void)flip;                                                                              \
		(void)o1;                                                                                \
		for (int64_t t = 0; t < taps; t++) {                                                     \
			const unsigned char *xp[TP];                                                         \
			xp[0] = ws + o0[t];                                                                  \
			if (TP > 1)                                                                          \
				xp[TP - 1] = ws + o1[t];                                                         \
			for (int64_t q = 0; q < cq; q++, w += TC) {                                          \
				__m512i x[TP];                                                                   \
				_Pragma("GCC unroll 8") for (int p = 0; p < TP; p++)                             \
				{                                                                                \
					x[p] = _mm512_loadu_si512(xp[p] + q * 64);                                   \
					if (SG)                                                                      \
						x[p] = _mm512_xor_si512(x[p], flip);                                     \
				}                                                                                \
				_Pragma("GCC unroll 8") for (int c = 0; c < TC; c++)                             \
				{                                                                                \
					__m512i wv = _mm512_set1_epi32(w[c]);                                        \
					_Pragma("GCC unroll 8") for (int p = 0; p < TP; p++) a[p][c] =               \
					    _mm512_dpbusd_epi32(a[p][c], x[p], wv);                                  \
				}                                                                                \
			}                                                                                    \
		}                                                                                        \
		_Pragma("GCC unroll 8") for (int p = 0; p < TP; p++)                                     \
		    _Pragma("GCC unroll 8") for (int c = 0; c < TC; c++)                                 \
		        _mm512_storeu_si512(out + p * ostr + c * LN, a[p][c]);                           \
	}

TILE(2, 8, 0)
TILE(1, 8, 0)
TILE(2, 4, 0)
TILE(1, 4, 0)
TILE(2, 8, 1)
TILE(1, 8, 1)
TILE(2, 4, 1)
TILE(1, 4, 1)

typedef void (*tile_fn)(const unsigned char *, const int32_t *, const int32_t *, int64_t, int64_t, const int32_t *,
                        int32_t *, int64_t);
/* [sgn][tp - 1][tc == 8] */
static const tile_fn tiles[2][2][2] = {{{tile_1_4_0, tile_1_8_0}, {tile_2_4_0, tile_2_8_0}},
                                       {{tile_1_4_1, tile_1_8_1}, {tile_2_4_1, tile_2_8_1}}};

/* Channels c0 .. c0+nc-1 of pixel p from their sums into the chain. */
static inline __attribute__((always_inline)) void mvau_epi(const nash_hwnet *h, const struct hwx_lanes *L,
                                                          const lstep *m, unsigned char *ws, int64_t p, int64_t c0,
                                                          int nc, int32_t *acc, runerr *re)
{
	const step *s = m->s;
	int n = s->mh - c0 < nc ? (int)(s->mh - c0) : nc;
	if (m->sgn || s->xnor)
		for (int j = 0; j < n; j++) {
			__m512i v = _mm512_add_epi32(_mm512_loadu_si512(acc + j * LN), bc(m->corr[c0 + j]));
			if (s->xnor) /* agreements: (dot + MW) / 2, dot + MW >= 0 and even */
				v = _mm512_srai_epi32(_mm512_add_epi32(v, bc(s->mw)), 1);
			_mm512_storeu_si512(acc + j * LN, v);
		}
	m->ch.fn(h, L, &m->ch, ws, p, c0, n, acc, re);
}

#define CG 64 /* channels whose sums are kept for one pass of the chain */

/* tcyc: when profiling, the time stamp counter cycles in the sums */
static void run_mvau(const nash_hwnet *h, const struct hwx_lanes *L, const lstep *m, unsigned char *ws, runerr *re,
                     uint64_t *tcyc)
{
	const step *s = m->s;
	int32_t acc[2 * CG * LN] __attribute__((aligned(64)));
	for (int64_t p = 0; p < s->pix; p += 2) {
		int tp = s->pix - p >= 2 ? 2 : 1;
		const int32_t *o0 = m->off + p * m->taps, *o1 = tp == 2 ? o0 + m->taps : o0;
		for (int64_t g0 = 0; g0 < m->mhp; g0 += CG) {
			int64_t g1 = g0 + CG < m->mhp ? g0 + CG : m->mhp;
			for (int64_t c0 = g0; c0 < g1; c0 += TCMAX) {
				int tc = m->mhp - c0 >= 8 ? 8 : 4;
				uint64_t r0 = 0;
				unsigned aux;
				if (tcyc) /* the tile's instructions, not whatever is in flight around */
					_mm_lfence(), r0 = __rdtsc();
				tiles[m->sgn][tp - 1][tc == 8](ws, o0, o1, m->taps, m->cq, m->wq + c0 * m->kq, acc + (c0 - g0) * LN,
				                               CG * LN);
				if (tcyc)
					*tcyc += __rdtscp(&aux) - r0;
			}
			for (int i = 0; i < tp; i++)
				mvau_epi(h, L, m, ws, p + i, g0, (int)(g1 - g0), acc + i * CG * LN, re);
		}
	}
}

/* ---------------------------------------------------------- the rest */

static void run_swg(const struct hwx_lanes *L, const lstep *m, int y, unsigned char *ws)
{
	const lslot *xs = &L->s[m->x], *ys = &L->s[y];
	int64_t pix = ys->pix;
	for (int64_t p = 0; p < pix; p++)
		for (int64_t t = 0; t < m->taps; t++) {
			int32_t ip = m->ipix[p * m->taps + t];
			for (int64_t c = 0; c < m->cin; c++)
				stc(ws, ys, p, t * m->cin + c, ip < 0 ? bc(m->padval) : ldc(ws, xs, ip, c));
		}
}

static void run_pool(const nash_hwnet *h, const struct hwx_lanes *L, const lstep *m, unsigned char *ws, runerr *re)
{
	const step *s = m->s;
	const lslot *xs = &L->s[hwx_base_slot(h, s->in[0])], *ys = &L->s[hwx_base_slot(h, s->out[0])];
	int avg = s->k == ST_AVGPOOL;
	for (int64_t oy = 0; oy < s->oh; oy++)
		for (int64_t ox = 0; ox < s->ow; ox++)
			for (int64_t c = 0; c < s->c; c++) {
				__m512i a = avg ? _mm512_setzero_si512() : bc(INT32_MIN);
				for (int64_t ky = 0; ky < s->kh; ky++)
					for (int64_t kx = 0; kx < s->kw; kx++) {
						int64_t iy = oy * s->sh - s->pad[0] + ky, ix = ox * s->sw - s->pad[1] + kx;
						__m512i v = iy < 0 || iy >= s->ih || ix < 0 || ix >= s->iw ? bc(s->padval)
						                                                             : ldc(ws, xs, iy * s->iw + ix, c);
						a = avg ? _mm512_add_epi32(a, v) : _mm512_max_epi32(a, v);
					}
				if (avg) {
					a = _mm512_sra_epi32(a, _mm_cvtsi32_si128(s->shift));
					check_vec(h, s, a, s->omin, s->omax, re);
				}
				stc(ws, ys, oy * s->ow + ox, c, a);
			}
}

static void run_step(const nash_hwnet *h, const struct hwx_lanes *L, int i, unsigned char *ws, runerr *re,
                     uint64_t *tcyc)
{
	const lstep *m = &L->st[i];
	const step *s = m->s;
	switch (m->k) {
	case LK_NOP: break;
	case LK_MVAU: run_mvau(h, L, m, ws, re, tcyc); break;
	case LK_SWG: run_swg(L, m, hwx_base_slot(h, s->out[0]), ws); break;
	case LK_POOL: run_pool(h, L, m, ws, re); break;
	case LK_EW: run_ew(h, L, m, ws, re); break;
	case LK_CONCAT: {
		const lslot *ys = &L->s[hwx_base_slot(h, s->out[0])];
		for (int64_t p = 0; p < ys->pix; p++) {
			int64_t at = 0;
			for (int j = 0; j < s->nin; j++) {
				const lslot *xs = &L->s[hwx_base_slot(h, s->in[j])];
				for (int64_t c = 0; c < s->cps[j]; c++)
					stc(ws, ys, p, at + c, ldc(ws, xs, p, c));
				at += s->cps[j];
			}
		}
		break;
	}
	case LK_LABEL: {
		const lslot *xs = &L->s[hwx_base_slot(h, s->in[0])], *ys = &L->s[hwx_base_slot(h, s->out[0])];
		int32_t *v = nash_alloc((size_t)(s->c * LN) * sizeof *v), best[LN];
		unsigned char *taken = nash_alloc((size_t)(s->c * LN));
		for (int64_t c = 0; c < s->c; c++)
			_mm512_storeu_si512(v + c * LN, ldc(ws, xs, 0, c));
		/* K passes, each takes the largest not yet taken; ties to the lower index */
		for (int64_t q = 0; q < s->kk; q++) {
			for (int l = 0; l < LN; l++) {
				int64_t b = -1;
				for (int64_t c = 0; c < s->c; c++)
					if (!taken[c * LN + l] && (b < 0 || v[c * LN + l] > v[b * LN + l]))
						b = c;
				taken[b * LN + l] = 1;
				best[l] = (int32_t)b;
			}
			stc(ws, ys, 0, q, _mm512_loadu_si512(best));
		}
		free(v);
		free(taken);
		break;
	}
	}
}

/* ------------------------------------------------------------ compile */

static int byte_dt(nash_datatype d, int *sgn)
{
	int64_t lo = nash_datatype_min(d), hi = nash_datatype_max(d);
	if (lo >= 0 && hi <= 255)
		return *sgn = 0, 1;
	if (lo >= -128 && hi <= 127)
		return *sgn = 1, 1;
	return 0;
}

static int64_t imin(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t imax(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* input pixel of every output pixel and window position (-1: padding) */
static int32_t *window(const step *w, int64_t *taps)
{
	*taps = w->kh * w->kw;
	int32_t *ip = nash_alloc((size_t)(w->oh * w->ow * *taps) * sizeof *ip);
	for (int64_t oy = 0, q = 0; oy < w->oh; oy++)
		for (int64_t ox = 0; ox < w->ow; ox++)
			for (int64_t ky = 0; ky < w->kh; ky++)
				for (int64_t kx = 0; kx < w->kw; kx++, q++) {
					int64_t iy = oy * w->sh - w->pad[0] + ky * w->dh, ix = ox * w->sw - w->pad[1] + kx * w->dw;
					ip[q] = iy < 0 || iy >= w->ih || ix < 0 || ix >= w->iw ? -1 : (int32_t)(iy * w->iw + ix);
				}
	return ip;
}

/* 1 when the MVAU runs here (its lstep filled), 0 when it cannot */
static int compile_mvau(const nash_hwnet *h, const nash_graph *g, struct hwx_lanes *L, lstep *m)
{
	const step *s = m->s;
	const nash_node *n = nash_node_find(g, s->name);
	const nash_tensor *wt = n && n->nin > 1 ? nash_tensor_find(g, n->in[1]) : NULL;
	if (!wt || !wt->data || wt->ndim != 2 || wt->shape[0] != s->mw || wt->shape[1] != s->mh)
		return 0;
	const lslot *xs;
	if (m->win) {
		m->x = hwx_base_slot(h, m->win->in[0]);
		m->ipix = window(m->win, &m->taps);
		m->cin = m->win->c;
	} else {
		m->x = hwx_base_slot(h, s->in[0]);
		m->taps = 1;
		m->cin = s->mw;
		m->ipix = nash_alloc((size_t)s->pix * sizeof *m->ipix);
		for (int64_t p = 0; p < s->pix; p++)
			m->ipix[p] = (int32_t)p;
	}
	xs = &L->s[m->x];
	if (!xs->e8 || m->taps * m->cin != s->mw)
		return 0;
	nash_datatype xdt = h->s[m->x].dt;
	m->sgn = xs->sgn;
	m->padval = xdt.kind == NASH_DT_BIPOLAR ? -1 : 0;
	int64_t xlo = imin(nash_datatype_min(xdt), m->padval), xhi = imax(nash_datatype_max(xdt), m->padval);
	int64_t mw = s->mw, mh = s->mh, wabs = 0;
	for (int64_t i = 0; i < mw * mh; i++) {
		int64_t v = nash_tensor_int(wt, i);
		if (v < -128 || v > 127)
			return 0;
		wabs = imax(wabs, v < 0 ? -v : v);
	}
	m->cq = (m->cin + 3) / 4;
	m->kq = m->taps * m->cq;
	m->mhp = (mh + 3) / 4 * 4;
	/* every partial sum of (x or x + 128) * w in int32 */
	if ((__int128)m->kq * 4 * (m->sgn ? 255 : xhi) * wabs >= INT32_MAX)
		return 0;
	m->wq = nash_alloc((size_t)(m->kq * m->mhp) * sizeof *m->wq);
	m->corr = nash_alloc((size_t)m->mhp * sizeof *m->corr);
	int64_t *vmin = nash_alloc((size_t)mh * sizeof *vmin), *vmax = nash_alloc((size_t)mh * sizeof *vmax);
	for (int64_t c0 = 0; c0 < m->mhp; c0 += TCMAX) {
		int64_t tc = imin(TCMAX, m->mhp - c0);
		int32_t *blk = m->wq + c0 * m->kq;
		for (int64_t t = 0; t < m->taps; t++)
			for (int64_t q = 0; q < m->cq; q++)
				for (int64_t j = 0; j < tc; j++) {
					uint32_t u = 0;
					for (int64_t b = 0; b < 4; b++) {
						int64_t ci = q * 4 + b, c = c0 + j;
						int64_t v = ci < m->cin && c < mh ? nash_tensor_int(wt, (t * m->cin + ci) * mh + c) : 0;
						u |= (uint32_t)(uint8_t)(int8_t)v << (8 * b);
					}
					blk[(t * m->cq + q) * tc + j] = (int32_t)u;
				}
	}
	for (int64_t c = 0; c < mh; c++) {
		int64_t sum = 0, lo = 0, hi = 0;
		for (int64_t k = 0; k < mw; k++) {
			int64_t w = nash_tensor_int(wt, k * mh + c);
			sum += w;
			lo += imin(w * xlo, w * xhi);
			hi += imax(w * xlo, w * xhi);
		}
		m->corr[c] = (int32_t)(m->sgn ? -128 * sum : 0);
		if (s->xnor)
			lo = (lo + mw) / 2, hi = (hi + mw) / 2;
		vmin[c] = lo, vmax[c] = hi;
	}
	if (s->has_thr)
		lthr_init(&m->lt, &s->th, mh, vmin, vmax);
	m->ch.t1 = s->has_thr ? &m->lt : NULL;
	m->ch.chk1 = 0, m->ch.lo1 = s->omin, m->ch.hi1 = s->omax, m->ch.s1 = s;
	for (int64_t c = 0; c < mh && !s->has_thr; c++) /* sums that can leave the output datatype */
		m->ch.chk1 |= vmin[c] < s->omin || vmax[c] > s->omax;
	m->ch.y = hwx_base_slot(h, s->out[0]);
	free(vmin);
	free(vmax);
	return 1;
}

static void lanes_free(struct hwx_lanes *L)
{
	if (!L)
		return;
	for (int i = 0; i < L->nsteps; i++) {
		lstep *m = &L->st[i];
		free(m->ipix);
		free(m->off);
		free(m->wq);
		free(m->corr);
		lthr_free(&m->lt);
	}
	for (int i = 0; i < L->nws && L->ws; i++)
		free(L->ws[i]);
	free(L->ws);
	free(L->st);
	free(L->s);
	free(L);
}

void hwx_lanes_free(struct hwx_lanes *L)
{
	lanes_free(L);
}

/* the slots step i reads */
/* the slots step i reads, and the one it writes (-1: none) */
static int reads(const nash_hwnet *h, const struct hwx_lanes *L, int i, int *r, int *w)
{
	const lstep *m = &L->st[i];
	const step *s = m->s;
	int n = 0;
	*w = -1;
	switch (m->k) {
	case LK_NOP: break;
	case LK_MVAU: case LK_EW:
		r[n++] = m->k == LK_MVAU ? m->x : m->ch.src;
		if (m->ch.add)
			r[n++] = m->ch.other;
		*w = m->ch.y;
		break;
	case LK_SWG: r[n++] = m->x, *w = hwx_base_slot(h, s->out[0]); break;
	default:
		for (int j = 0; j < s->nin; j++)
			r[n++] = hwx_base_slot(h, s->in[j]);
		*w = hwx_base_slot(h, s->out[0]);
	}
	return n;
}

/* a Thresholding step still doing its own work, plain */
static int plain_thr(const struct hwx_lanes *L, int i)
{
	const lstep *m = &L->st[i];
	return m->k == LK_EW && m->s->k == ST_THR && !m->ch.add && m->ch.t1 == &m->lt;
}

/* Fold element-wise steps into their producers' chains (see chain):
 * an MVAU whose only reader is an AddStreams runs at the add's place with
 * the add in its chain (once: a chain holds one add); a Thresholding that
 * is an add's operand's only producer and reader is applied by the add; a
 * Thresholding that is an add's only reader is the add's last act. Each
 * moves work later, never earlier than its inputs. */
static void fuse(const nash_hwnet *h, struct hwx_lanes *L)
{
	int ns = h->nslots, outb = hwx_base_slot(h, h->out_slot);
	int *readers = nash_alloc((size_t)ns * sizeof *readers), *reader = nash_alloc((size_t)ns * sizeof *reader);
	int *prod = nash_alloc((size_t)ns * sizeof *prod);
	for (int i = 0; i < ns; i++)
		prod[i] = reader[i] = -1;
	for (int j = 0; j < h->nsteps; j++) {
		const step *s = &h->st[j];
		for (int q = 0; q < s->nin; q++) {
			int b = hwx_base_slot(h, s->in[q]);
			readers[b]++, reader[b] = j;
		}
		if (s->k != ST_DUP && s->nout > 0)
			prod[hwx_base_slot(h, s->out[0])] = j;
	}
	for (int j = 0; j < h->nsteps; j++) {
		const step *s = &h->st[j];
		if (s->k != ST_ADD || L->st[j].k != LK_EW)
			continue;
		chain ch = L->st[j].ch;
		int a = ch.src, b = ch.other;
		for (int k = 0; k < 2; k++) {
			int q = k ? b : a, i = prod[q];
			/* not an MVAU already moved into an earlier add (step i is that
			   add's, q its output): a chain holds one add, and taking it
			   over would put this add in place of that one, whose operand,
			   thresholds and check would be lost (add -> add in a NASH cell) */
			if (i < 0 || L->st[i].k != LK_MVAU || L->st[i].ch.add || readers[q] != 1 || q == outb)
				continue;
			lstep mv = L->st[i];
			memset(&L->st[i], 0, sizeof L->st[i]);
			L->st[i].k = LK_NOP, L->st[i].s = &h->st[i], L->st[i].fused = 1;
			chain add = ch;
			ch = mv.ch;
			ch.add = 1, ch.other = k ? a : b, ch.lo2 = add.lo2, ch.hi2 = add.hi2, ch.s2 = add.s2, ch.y = add.y;
			ch.chk2 = add.chk2;
			L->st[j] = mv;
			break;
		}
		int i = prod[ch.other];
		if (i >= 0 && plain_thr(L, i) && readers[ch.other] == 1 && ch.other != outb) {
			ch.t0 = &L->st[i].lt;
			ch.other = L->st[i].ch.src;
			L->st[i].k = LK_NOP, L->st[i].fused = 1;
		}
		int t = reader[ch.y];
		if (t >= 0 && readers[ch.y] == 1 && ch.y != outb && plain_thr(L, t)) {
			ch.t2 = &L->st[t].lt;
			ch.y = L->st[t].ch.y;
			L->st[t].k = LK_NOP, L->st[t].fused = 1;
		}
		if (L->st[j].k == LK_MVAU && L->st[j].s->has_thr)
			ch.t1 = &L->st[j].lt; /* it moved */
		L->st[j].ch = ch;
	}
	free(readers);
	free(reader);
	free(prod);
}

struct hwx_lanes *hwx_lanes_new(const nash_hwnet *h, const nash_graph *g, nash_err *e)
{
	(void)e;
	struct hwx_lanes *L = nash_alloc(sizeof *L);
	L->nslots = h->nslots;
	L->s = nash_alloc((size_t)h->nslots * sizeof *L->s);
	for (int i = 0; i < h->nslots; i++) {
		lslot *s = &L->s[i];
		s->pix = h->s[i].pix, s->ch = h->s[i].ch;
		s->e8 = byte_dt(h->s[i].dt, &s->sgn);
		s->cq = (s->ch + 3) / 4;
		s->row = s->e8 ? s->cq * 64 : s->ch * 64;
		s->def = s->last = -2;
	}
	L->nsteps = h->nsteps;
	L->st = nash_alloc((size_t)h->nsteps * sizeof *L->st);
	int ok = 1;
	/* windows read in place by their only reader, an MVAU */
	for (int i = 0; i < h->nsteps; i++) {
		const step *s = &h->st[i];
		L->st[i].s = s;
		if (s->k != ST_SWG)
			continue;
		int x = hwx_base_slot(h, s->out[0]), users = 0, mv = -1;
		for (int j = 0; j < h->nsteps; j++)
			for (int q = 0; q < h->st[j].nin; q++)
				if (hwx_base_slot(h, h->st[j].in[q]) == x)
					users++, mv = h->st[j].k == ST_MVAU ? j : -1;
		if (users == 1 && mv >= 0 && x != hwx_base_slot(h, h->out_slot)) {
			L->st[i].k = LK_NOP;
			L->st[mv].win = s;
		} else
			L->st[i].k = LK_SWG;
	}
	for (int i = 0; i < h->nsteps && ok; i++) {
		lstep *m = &L->st[i];
		const step *s = m->s;
		switch (s->k) {
		case ST_SWG:
			if (m->k == LK_SWG) {
				m->x = hwx_base_slot(h, s->in[0]);
				m->ipix = window(s, &m->taps);
				m->cin = s->c;
				m->padval = (int32_t)s->padval;
			}
			break;
		case ST_MVAU: m->k = LK_MVAU; ok = compile_mvau(h, g, L, m); break;
		case ST_THR: {
			m->k = LK_EW;
			m->ch.src = hwx_base_slot(h, s->in[0]), m->ch.t1 = &m->lt, m->ch.y = hwx_base_slot(h, s->out[0]);
			nash_datatype d = h->s[hwx_base_slot(h, s->in[0])].dt;
			int64_t *lo = nash_alloc((size_t)s->c * sizeof *lo), *hi = nash_alloc((size_t)s->c * sizeof *hi);
			for (int64_t c = 0; c < s->c; c++)
				lo[c] = nash_datatype_min(d), hi[c] = nash_datatype_max(d);
			lthr_init(&m->lt, &s->th, s->c, lo, hi);
			free(lo);
			free(hi);
			break;
		}
		case ST_MAXPOOL: case ST_AVGPOOL: {
			m->k = LK_POOL;
			nash_datatype d = h->s[hwx_base_slot(h, s->in[0])].dt;
			int64_t big = imax(imax(-nash_datatype_min(d), nash_datatype_max(d)), s->padval < 0 ? -s->padval : s->padval);
			ok = s->k == ST_MAXPOOL || (__int128)big * s->kh * s->kw < INT32_MAX;
			break;
		}
		case ST_ADD: {
			m->k = LK_EW;
			m->ch.src = hwx_base_slot(h, s->in[0]), m->ch.add = 1, m->ch.other = hwx_base_slot(h, s->in[1]);
			m->ch.lo2 = s->omin, m->ch.hi2 = s->omax, m->ch.s2 = s, m->ch.y = hwx_base_slot(h, s->out[0]);
			nash_datatype a = h->s[hwx_base_slot(h, s->in[0])].dt, b = h->s[hwx_base_slot(h, s->in[1])].dt;
			int64_t lo = nash_datatype_min(a) + nash_datatype_min(b), hi = nash_datatype_max(a) + nash_datatype_max(b);
			m->ch.chk2 = lo < s->omin || hi > s->omax; /* else the sum cannot leave outputDataType */
			ok = lo > INT32_MIN && hi < INT32_MAX;
			break;
		}
		case ST_CONCAT: m->k = LK_CONCAT; break;
		case ST_LABEL: m->k = LK_LABEL; break;
		case ST_DUP: m->k = LK_NOP; break;
		}
	}
	if (!ok) {
		lanes_free(L);
		return NULL;
	}
	int nofuse = getenv("NASH_HWEXEC_NOFUSE") != NULL;   /* a debugging and test aid */
	if (!nofuse)
		fuse(h, L);
	for (int i = 0; i < h->nsteps; i++)
		if (L->st[i].k == LK_MVAU || L->st[i].k == LK_EW)
			L->st[i].ch.fn = nofuse ? chain_any : chain_pick(&L->st[i].ch);
	/* lifetimes: the input is written before the first step, the output
	 * read after the last */
	int in = hwx_base_slot(h, h->in_slot), out = hwx_base_slot(h, h->out_slot);
	L->s[in].used = 1, L->s[in].def = -1, L->s[in].last = -1;
	for (int i = 0; i < h->nsteps; i++) {
		int r[MAXIO + 1], y;
		int nr = reads(h, L, i, r, &y);
		for (int j = 0; j < nr; j++)
			L->s[r[j]].last = i > L->s[r[j]].last ? i : L->s[r[j]].last;
		if (y >= 0 && !L->s[y].used)
			L->s[y].used = 1, L->s[y].def = i, L->s[y].last = i;
	}
	L->s[out].used = 1;
	L->s[out].last = h->nsteps;
	/* first fit: the lowest offset clear of every placed slot alive at the same time */
	int64_t top = 0;
	int *placed = nash_alloc((size_t)h->nslots * sizeof *placed), np = 0;
	for (int i = 0; i < h->nslots; i++) {
		lslot *s = &L->s[i];
		if (!s->used)
			continue;
		s->bytes = s->pix * s->row;
		int64_t at = 0;
		for (int again = 1; again;) {
			again = 0;
			for (int j = 0; j < np; j++) {
				const lslot *o = &L->s[placed[j]];
				if (o->def > s->last || s->def > o->last)
					continue; /* never alive together */
				if (at < o->off + o->bytes && o->off < at + s->bytes)
					at = o->off + o->bytes, again = 1;
			}
		}
		s->off = at;
		top = imax(top, at + s->bytes);
		placed[np++] = i;
	}
	free(placed);
	/* padding pixels of the MVAUs: one row each, after the streams,
	 * filled once per workspace */
	for (int i = 0; i < h->nsteps; i++) {
		lstep *m = &L->st[i];
		if (m->k != LK_MVAU)
			continue;
		m->padoff = top;
		top += L->s[m->x].row;
	}
	L->ws_bytes = top + 64;
	if (L->ws_bytes >= INT32_MAX) {
		lanes_free(L);
		return NULL;
	}
	for (int i = 0; i < h->nsteps; i++) {
		lstep *m = &L->st[i];
		if (m->k != LK_MVAU)
			continue;
		const lslot *xs = &L->s[m->x];
		int64_t n = m->s->pix * m->taps;
		m->off = nash_alloc((size_t)n * sizeof *m->off);
		for (int64_t q = 0; q < n; q++)
			m->off[q] = (int32_t)(m->ipix[q] < 0 ? m->padoff : xs->off + m->ipix[q] * xs->row);
	}
	L->nws = h->threads;
	L->ws = nash_alloc((size_t)L->nws * sizeof *L->ws);
	return L;
}

static unsigned char *workspace(const nash_hwnet *h, struct hwx_lanes *L, int t)
{
	if (L->ws[t])
		return L->ws[t];
	unsigned char *ws = nash_alloc((size_t)L->ws_bytes);
	for (int i = 0; i < h->nsteps; i++) {
		const lstep *m = &L->st[i];
		if (m->k == LK_MVAU)
			memset(ws + m->padoff, (int)(uint8_t)m->padval, (size_t)L->s[m->x].row);
	}
	return L->ws[t] = ws;
}

int hwx_lanes_run(nash_hwnet *h, int n, nash_err *e)
{
	struct hwx_lanes *L = h->lanes;
	runerr re = {0, {0}};
	int64_t isz = h->ih * h->iw * h->ic;
	int groups = (n + LN - 1) / LN;
	int nt = h->threads < groups ? h->threads : groups;
	if (nt < 1)
		nt = 1;
	int in = hwx_base_slot(h, h->in_slot), out = hwx_base_slot(h, h->out_slot);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
	for (int gi = 0; gi < groups; gi++) {
		int t = 0;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		unsigned char *ws = workspace(h, L, t);
		int base = gi * LN, nv = n - base < LN ? n - base : LN;
		double t0 = h->prof ? hwx_cpu_now() : 0;
		/* the input; lanes past the last image repeat it */
		const lslot *xs = &L->s[in];
		for (int l = 0; l < LN; l++) {
			const int32_t *src = h->inbuf + (int64_t)(base + (l < nv ? l : nv - 1)) * isz;
			for (int64_t p = 0; p < xs->pix; p++)
				for (int64_t c = 0; c < xs->ch; c++) {
					int32_t v = src[p * xs->ch + c];
					if (xs->e8)
						ws[xs->off + ((p * xs->cq + c / 4) * LN + l) * 4 + c % 4] = (unsigned char)v;
					else
						((int32_t *)(ws + xs->off))[(p * xs->ch + c) * LN + l] = v;
				}
		}
		if (!h->prof)
			for (int i = 0; i < L->nsteps && !re.set; i++)
				run_step(h, L, i, ws, &re, NULL);
		else { /* CPU time per step; an MVAU's split by time stamp counter cycles */
			hwx_prof_add(h, HWX_P_IO, hwx_cpu_now() - t0);
			for (int i = 0; i < L->nsteps && !re.set; i++) {
				if (L->st[i].k == LK_NOP)
					continue;
				uint64_t tc = 0, r0 = __rdtsc();
				double c0 = hwx_cpu_now();
				run_step(h, L, i, ws, &re, &tc);
				double dc = hwx_cpu_now() - c0, dr = (double)(__rdtsc() - r0);
				if (L->st[i].k == LK_MVAU) {
					double g = dr > 0 ? dc * (double)tc / dr : 0;
					hwx_prof_add(h, HWX_P_GEMM, g);
					hwx_prof_add(h, HWX_P_EPI, dc - g);
				} else
					hwx_prof_add(h, hwx_prof_kind(L->st[i].s), dc);
			}
			t0 = hwx_cpu_now();
		}
		const lslot *ys = &L->s[out];
		for (int64_t p = 0; p < ys->pix; p++)
			for (int64_t c = 0; c < ys->ch; c++) {
				int32_t v[LN];
				_mm512_storeu_si512(v, ldc(ws, ys, p, c));
				for (int l = 0; l < nv; l++)
					h->out[(int64_t)(base + l) * h->k + p * ys->ch + c] = v[l];
			}
		if (h->prof)
			hwx_prof_add(h, HWX_P_IO, hwx_cpu_now() - t0);
	}
	if (re.set)
		return nash_fail(e, "%s", re.msg);
	return 0;
}

#pragma GCC pop_options

#else /* no AVX-512 engine in this build */

int hwx_lanes_cpu(void)
{
	return 0;
}

struct hwx_lanes *hwx_lanes_new(const nash_hwnet *h, const nash_graph *g, nash_err *e)
{
	(void)h, (void)g, (void)e;
	return NULL;
}

void hwx_lanes_free(struct hwx_lanes *l)
{
	(void)l;
}

int hwx_lanes_run(nash_hwnet *h, int n, nash_err *e)
{
	(void)h, (void)n;
	return nash_fail(e, "no batch engine in this build");
}

#endif
