/* sort.c - non-dominated sorting, dominance counts, nearest dominators.
 *
 * Every algorithm here first orders the points lexicographically (first
 * objective, then the second, ...). In that order a point can only be
 * dominated by points before it, so fronts can be built greedily: a point
 * goes to the first front none of whose members dominates it. "Front k
 * dominates p" holds for a prefix of the fronts (a dominator in front k+1
 * is itself dominated by a member of front k), so the front is found by
 * binary search; what differs by dimension is how one front is asked. */
#include "pareto/pareto.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ ordering */

typedef struct {
	const double *p;
	int d;
} lexctx;

static int lexcmp(const lexctx *c, size_t a, size_t b)
{
	const double *x = c->p + a * (size_t)c->d, *y = c->p + b * (size_t)c->d;
	for (int j = 0; j < c->d; j++) {
		if (x[j] < y[j])
			return -1;
		if (x[j] > y[j])
			return 1;
	}
	return 0;
}

/* Stable merge sort of an index array by lexcmp. */
static void lexsort(const lexctx *c, size_t *idx, size_t n)
{
	size_t *tmp = nash_alloc((n ? n : 1) * sizeof *tmp);
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = lexcmp(c, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
			while (i < mid)
				tmp[k++] = idx[i++];
			while (j < hi)
				tmp[k++] = idx[j++];
		}
		memcpy(idx, tmp, n * sizeof *idx);
	}
	free(tmp);
}

static size_t *lexorder(const double *pts, size_t n, int d)
{
	size_t *idx = nash_alloc((n ? n : 1) * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	lexctx c = {pts, d};
	lexsort(&c, idx, n);
	return idx;
}

static int check_nan(const double *pts, size_t n, int d, nash_err *e)
{
	if (d < 1 || d > NASH_PARETO_MAXOBJ)
		return nash_fail(e, "%d objectives: need 1 to %d", d, NASH_PARETO_MAXOBJ);
	for (size_t i = 0; i < n * (size_t)d; i++)
		if (isnan(pts[i]))
			return nash_fail(e, "point %zu, objective %zu: not a number", i / (size_t)d + 1,
			                 i % (size_t)d + 1);
	return 0;
}

/* q dominates p (all <=, one <). */
static int dominates(const double *q, const double *p, int d)
{
	int less = 0;
	for (int j = 0; j < d; j++) {
		if (q[j] > p[j])
			return 0;
		less |= q[j] < p[j];
	}
	return less;
}

/* ---------------------------------------------------------------- 1-D */

static int rank1(const double *p, size_t n, const size_t *ord, int *rank)
{
	int nf = 0;
	for (size_t t = 0; t < n; t++) {
		if (t == 0 || p[ord[t]] > p[ord[t - 1]])
			nf++;
		rank[ord[t]] = nf;
	}
	return nf;
}

/* ---------------------------------------------------------------- 2-D */
/* Members of a front processed so far all have x <= p.x; one of them
 * dominates p iff its y < p.y, or its y == p.y and its x < p.x. So a front
 * is summarised by its least y and the least x reaching that y. */
static int rank2(const double *p, size_t n, const size_t *ord, int *rank)
{
	double *miny = nash_alloc((n ? n : 1) * sizeof *miny);
	double *minx = nash_alloc((n ? n : 1) * sizeof *minx);
	int nf = 0;
	for (size_t t = 0; t < n; t++) {
		size_t i = ord[t];
		double x = p[2 * i], y = p[2 * i + 1];
		int lo = 0, hi = nf;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;
			if (miny[mid] < y || (miny[mid] == y && minx[mid] < x))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == nf) {
			miny[nf] = y;
			minx[nf] = x;
			nf++;
		} else if (y < miny[lo]) {
			miny[lo] = y;
			minx[lo] = x;
		}
		rank[i] = lo + 1;
	}
	free(miny);
	free(minx);
	return nf;
}

/* ---------------------------------------------------------------- 3-D */
/* Members processed so far have x <= p.x, so only their (y, z) matter.
 * Each front keeps the staircase of its members' (y, z) projections that
 * no other projection dominates: y ascending, z strictly descending, in
 * a treap. p is dominated by the front iff the entry with the largest
 * y <= p.y has z < p.z (or z == p.z and is not p itself). Entries that p's
 * projection dominates can be dropped when p joins: any later point they
 * would dominate, p dominates too. */

typedef struct {
	double y, z, x;
	uint32_t pri;
	int l, r;
} tnode;

typedef struct {
	tnode *t;
	int n;
	uint64_t seed;
} treap;

static int tnew(treap *T, double x, double y, double z)
{
	int k = T->n++;
	T->seed = T->seed * 6364136223846793005ull + 1442695040888963407ull;
	T->t[k] = (tnode){y, z, x, (uint32_t)(T->seed >> 33), -1, -1};
	return k;
}

/* Split by key: a gets y < key, b gets y >= key. */
static void tsplit_y(tnode *t, int root, double key, int *a, int *b)
{
	if (root < 0) {
		*a = *b = -1;
		return;
	}
	if (t[root].y < key) {
		tsplit_y(t, t[root].r, key, &t[root].r, b);
		*a = root;
	} else {
		tsplit_y(t, t[root].l, key, a, &t[root].l);
		*b = root;
	}
}

/* Split by z (descending along the order): a gets z >= key, b the rest. */
static void tsplit_z(tnode *t, int root, double key, int *a, int *b)
{
	if (root < 0) {
		*a = *b = -1;
		return;
	}
	if (t[root].z >= key) {
		tsplit_z(t, t[root].r, key, &t[root].r, b);
		*a = root;
	} else {
		tsplit_z(t, t[root].l, key, a, &t[root].l);
		*b = root;
	}
}

static int tmerge(tnode *t, int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	if (t[a].pri > t[b].pri) {
		t[a].r = tmerge(t, t[a].r, b);
		return a;
	}
	t[b].l = tmerge(t, a, t[b].l);
	return b;
}

static int tdominated(const tnode *t, int root, double x, double y, double z)
{
	int best = -1;
	while (root >= 0) {
		if (t[root].y <= y) {
			best = root;
			root = t[root].r;
		} else {
			root = t[root].l;
		}
	}
	if (best < 0 || t[best].z > z)
		return 0;
	if (t[best].z < z)
		return 1;
	return t[best].y < y || t[best].x < x;
}

static int rank3(const double *p, size_t n, const size_t *ord, int *rank)
{
	treap T = {nash_alloc((n ? n : 1) * sizeof(tnode)), 0, 0x2545F4914F6CDD1Dull};
	int *root = nash_alloc((n ? n : 1) * sizeof *root);
	int nf = 0;
	for (size_t t = 0; t < n; t++) {
		size_t i = ord[t];
		double x = p[3 * i], y = p[3 * i + 1], z = p[3 * i + 2];
		int lo = 0, hi = nf;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;
			if (tdominated(T.t, root[mid], x, y, z))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == nf)
			root[nf++] = -1;
		int a, b, gone, keep;
		tsplit_y(T.t, root[lo], y, &a, &b);
		tsplit_z(T.t, b, z, &gone, &keep);
		(void)gone; /* pool nodes, never reused */
		root[lo] = tmerge(T.t, tmerge(T.t, a, tnew(&T, x, y, z)), keep);
		rank[i] = lo + 1;
	}
	free(T.t);
	free(root);
	return nf;
}

/* ---------------------------------------------------------------- N-D */
/* Fronts as member lists; a front is asked by pairwise checks, newest
 * member first (recent members are the likeliest dominators). */
static int rankn(const double *p, size_t n, int d, const size_t *ord, int *rank)
{
	size_t **mem = nash_alloc((n ? n : 1) * sizeof *mem);
	size_t *len = nash_alloc((n ? n : 1) * sizeof *len), *cap = nash_alloc((n ? n : 1) * sizeof *cap);
	int nf = 0;
	for (size_t t = 0; t < n; t++) {
		size_t i = ord[t];
		const double *pi = p + i * (size_t)d;
		int lo = 0, hi = nf;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2, dom = 0;
			for (size_t k = len[mid]; k-- > 0 && !dom;)
				dom = dominates(p + mem[mid][k] * (size_t)d, pi, d);
			if (dom)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == nf)
			nf++;
		if (len[lo] == cap[lo]) {
			cap[lo] = cap[lo] ? 2 * cap[lo] : 16;
			mem[lo] = nash_realloc(mem[lo], cap[lo] * sizeof **mem);
		}
		mem[lo][len[lo]++] = i;
		rank[i] = lo + 1;
	}
	for (int k = 0; k < nf; k++)
		free(mem[k]);
	free(mem);
	free(len);
	free(cap);
	return nf;
}

static int bitpass(const double *pts, size_t n, int d, const size_t *ord, size_t *cnt, int *rank);

int nash_pareto_rank(const double *pts, size_t n, int d, int *rank, nash_err *e)
{
	if (check_nan(pts, n, d, e) < 0)
		return -1;
	if (n == 0)
		return 0;
	size_t *ord = lexorder(pts, n, d);
	int nf;
	switch (d) {
	case 1: nf = rank1(pts, n, ord, rank); break;
	case 2: nf = rank2(pts, n, ord, rank); break;
	case 3: nf = rank3(pts, n, ord, rank); break;
	default:
		/* bit sets past a few hundred points, else (or when the fronts
		 * are too many for them) pairwise checks */
		nf = n >= 512 ? bitpass(pts, n, d, ord, NULL, rank) : -1;
		if (nf < 0)
			nf = rankn(pts, n, d, ord, rank);
		break;
	}
	free(ord);
	return nf;
}

/* ------------------------------------------------------------- counts */
/* All counts work on the distinct points (duplicates grouped, with their
 * multiplicity): for distinct points, weakly dominating means
 * dominating. */

typedef struct {
	size_t m;       /* distinct points */
	size_t *first;  /* lexicographically sorted index of each group's first point */
	size_t *mult;   /* multiplicity */
	size_t *of;     /* point -> group */
} groups;

static void group(const double *pts, size_t n, int d, const size_t *ord, groups *g)
{
	lexctx c = {pts, d};
	g->first = nash_alloc(n * sizeof *g->first);
	g->mult = nash_alloc(n * sizeof *g->mult);
	g->of = nash_alloc(n * sizeof *g->of);
	g->m = 0;
	for (size_t t = 0; t < n; t++) {
		if (t == 0 || lexcmp(&c, ord[t - 1], ord[t]) != 0) {
			g->first[g->m] = ord[t];
			g->mult[g->m++] = 0;
		}
		g->mult[g->m - 1]++;
		g->of[ord[t]] = g->m - 1;
	}
}

static void ungroup(groups *g)
{
	free(g->first);
	free(g->mult);
	free(g->of);
}

/* Fenwick tree over ranks 1..n. */
static void bit_add(size_t *b, size_t n, size_t i, size_t v)
{
	for (; i <= n; i += i & (~i + 1))
		b[i] += v;
}

static size_t bit_sum(const size_t *b, size_t i)
{
	size_t s = 0;
	for (; i > 0; i -= i & (~i + 1))
		s += b[i];
	return s;
}

static int dblcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Rank (1-based) of v among the sorted distinct values u[0..k). */
static size_t vrank(const double *u, size_t k, double v)
{
	size_t lo = 0, hi = k;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (u[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

static size_t distinct(double *u, size_t k)
{
	qsort(u, k, sizeof *u, dblcmp);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (m == 0 || u[i] != u[m - 1])
			u[m++] = u[i];
	return m;
}

/* Sweep in x order; earlier groups with y <= p.y dominate p. */
static void count2(const double *p, const groups *g, size_t *gcnt)
{
	size_t m = g->m;
	double *u = nash_alloc(m * sizeof *u);
	for (size_t k = 0; k < m; k++)
		u[k] = p[2 * g->first[k] + 1];
	size_t nu = distinct(u, m);
	size_t *bit = nash_alloc((nu + 1) * sizeof *bit);
	for (size_t k = 0; k < m; k++) {
		size_t r = vrank(u, nu, p[2 * g->first[k] + 1]);
		gcnt[k] = bit_sum(bit, r);
		bit_add(bit, nu, r, g->mult[k]);
	}
	free(bit);
	free(u);
}

/* 3-D: divide and conquer over the groups in lexicographic order (so x
 * is already in order); the left half's contribution to the right half
 * is a 2-D count: merge both halves by y, a Fenwick tree over z ranks. */
typedef struct {
	const double *p;
	const groups *g;
	size_t *zr;    /* z rank per group */
	size_t *bit;
	size_t nz;
	size_t *cnt;   /* per group */
	size_t *tmp;
} cdq;

static double gy(const cdq *c, size_t k) { return c->p[3 * c->g->first[k] + 1]; }

static void cdq_solve(cdq *c, size_t *a, size_t lo, size_t hi)
{
	if (hi - lo <= 1)
		return;
	size_t mid = lo + (hi - lo) / 2;
	cdq_solve(c, a, lo, mid);
	cdq_solve(c, a, mid, hi);
	/* a[lo..mid) and a[mid..hi) are each sorted by y; left first on ties */
	size_t i = lo, j = mid, k = lo;
	while (i < mid || j < hi) {
		if (j >= hi || (i < mid && gy(c, a[i]) <= gy(c, a[j]))) {
			bit_add(c->bit, c->nz, c->zr[a[i]], c->g->mult[a[i]]);
			c->tmp[k++] = a[i++];
		} else {
			c->cnt[a[j]] += bit_sum(c->bit, c->zr[a[j]]);
			c->tmp[k++] = a[j++];
		}
	}
	for (i = lo; i < mid; i++) /* undo: every left element was added */
		bit_add(c->bit, c->nz, c->zr[a[i]], (size_t)0 - c->g->mult[a[i]]);
	memcpy(a + lo, c->tmp + lo, (hi - lo) * sizeof *a);
}

static void count3(const double *p, const groups *g, size_t *gcnt)
{
	size_t m = g->m;
	double *u = nash_alloc(m * sizeof *u);
	for (size_t k = 0; k < m; k++)
		u[k] = p[3 * g->first[k] + 2];
	size_t nz = distinct(u, m);
	cdq c = {p, g, nash_alloc(m * sizeof(size_t)), nash_alloc((nz + 1) * sizeof(size_t)), nz, gcnt,
	         nash_alloc(m * sizeof(size_t))};
	size_t *a = nash_alloc(m * sizeof *a);
	for (size_t k = 0; k < m; k++) {
		c.zr[k] = vrank(u, nz, p[3 * g->first[k] + 2]);
		a[k] = k;
		gcnt[k] = 0;
	}
	cdq_solve(&c, a, 0, m);
	free(a);
	free(c.zr);
	free(c.bit);
	free(c.tmp);
	free(u);
}

/* d >= 4: bit sets. Bit t stands for the point at position t of the
 * lexicographic order. For a point p, the points no worse than p in
 * objective j form a prefix of the order by objective j; the AND of
 * these d sets holds p's dominators and its duplicates, and since both
 * come before p's duplicates in lexicographic order (which are contiguous)
 * counting the bits below the first duplicate counts the dominators.
 * Points are handled in blocks of lexicographic positions so that the
 * block's rows stay within a few tens of MB; a block needs bits only up
 * to its own end. O(d n^2 / 64) word operations. */
static void sort_key(const double *p, int d, int key, size_t *idx, size_t n)
{
	size_t *tmp = nash_alloc((n ? n : 1) * sizeof *tmp);
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = p[idx[j] * (size_t)d + key] < p[idx[i] * (size_t)d + key] ? idx[j++] : idx[i++];
			while (i < mid)
				tmp[k++] = idx[i++];
			while (j < hi)
				tmp[k++] = idx[j++];
		}
		memcpy(idx, tmp, n * sizeof *idx);
	}
	free(tmp);
}

/* One pass over the bit rows, giving counts (cnt) and/or ranks (rank).
 * Ranks: points are visited in lexicographic order, so all dominators of
 * a point are ranked before it; "a member of front k dominates p" holds
 * for k below p's rank only, so a binary search over per-front bit sets
 * finds it. Those sets cost a row per front: past a memory budget (a
 * chain-like input with very many fronts) the pass gives up and returns
 * -1, and the caller sorts pairwise instead. */
#define BITS_BUDGET ((size_t)1 << 26) /* bytes for the per-front sets */

static int any_below(const uint64_t *a, const uint64_t *b, size_t lim)
{
	size_t x = 0;
	for (; x < lim / 64; x++)
		if (a[x] & b[x])
			return 1;
	return lim % 64 && (a[x] & b[x] & (((uint64_t)1 << (lim % 64)) - 1));
}

static int bitpass(const double *pts, size_t n, int d, const size_t *ord, size_t *cnt, int *rank)
{
	lexctx c = {pts, d};
	int rc = 0;
	size_t *gstart = nash_alloc(n * sizeof *gstart), *pos = nash_alloc(n * sizeof *pos);
	for (size_t t = 0; t < n; t++) {
		pos[ord[t]] = t;
		gstart[t] = t > 0 && lexcmp(&c, ord[t - 1], ord[t]) == 0 ? gstart[t - 1] : t;
	}
	/* per objective: lexicographic positions in that objective's order,
	 * and where each run of equal values ends */
	size_t **at = nash_alloc((size_t)d * sizeof *at), **runend = nash_alloc((size_t)d * sizeof *runend);
	size_t *tmp = nash_alloc(n * sizeof *tmp);
	for (int j = 0; j < d; j++) {
		for (size_t i = 0; i < n; i++)
			tmp[i] = i;
		sort_key(pts, d, j, tmp, n);
		at[j] = nash_alloc(n * sizeof **at);
		runend[j] = nash_alloc(n * sizeof **runend);
		for (size_t k = 0; k < n; k++)
			at[j][k] = pos[tmp[k]];
		for (size_t k = n; k-- > 0;)
			runend[j][k] = k + 1 < n && pts[tmp[k + 1] * (size_t)d + j] == pts[tmp[k] * (size_t)d + j]
			               ? runend[j][k + 1] : k + 1;
	}
	free(tmp);
	size_t words = (n + 63) / 64, rows = ((size_t)1 << 24) / (words * 8);
	rows = rows < 64 ? 64 : rows > n ? n : rows;
	uint64_t *dom = nash_alloc(rows * words * sizeof *dom), *seen = nash_alloc(words * sizeof *seen);
	uint64_t **front = NULL;
	int nf = 0, capf = 0;
	for (size_t b0 = 0; b0 < n && rc == 0; b0 += rows) {
		size_t b1 = b0 + rows < n ? b0 + rows : n, w = (b1 + 63) / 64;
		for (int j = 0; j < d; j++) {
			memset(seen, 0, w * sizeof *seen);
			const size_t *o = at[j];
			for (size_t a = 0; a < n;) {
				size_t z = runend[j][a];
				for (size_t k = a; k < z; k++)
					if (o[k] < b1)
						seen[o[k] / 64] |= (uint64_t)1 << (o[k] % 64);
				for (size_t k = a; k < z; k++)
					if (o[k] >= b0 && o[k] < b1) {
						uint64_t *row = dom + (o[k] - b0) * words;
						if (j == 0)
							memcpy(row, seen, w * sizeof *row);
						else
							for (size_t x = 0; x < w; x++)
								row[x] &= seen[x];
					}
				a = z;
			}
		}
		for (size_t t = b0; t < b1; t++) {
			const uint64_t *row = dom + (t - b0) * words;
			size_t g = gstart[t];
			if (cnt) {
				size_t k = 0;
				for (size_t x = 0; x < g / 64; x++)
					k += (size_t)__builtin_popcountll(row[x]);
				if (g % 64)
					k += (size_t)__builtin_popcountll(row[g / 64] & (((uint64_t)1 << (g % 64)) - 1));
				cnt[ord[t]] = k;
			}
			if (rank) {
				int lo = 0, hi = nf;
				while (lo < hi) {
					int mid = lo + (hi - lo) / 2;
					if (any_below(row, front[mid], g))
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo == nf) {
					if ((size_t)(nf + 1) * words * 8 > BITS_BUDGET) {
						rc = -1;
						break;
					}
					if (nf == capf) {
						capf = capf ? 2 * capf : 16;
						front = nash_realloc(front, (size_t)capf * sizeof *front);
					}
					front[nf++] = nash_alloc(words * sizeof **front);
				}
				front[lo][t / 64] |= (uint64_t)1 << (t % 64);
				rank[ord[t]] = lo + 1;
			}
		}
	}
	for (int k = 0; k < nf; k++)
		free(front[k]);
	free(front);
	for (int j = 0; j < d; j++) {
		free(at[j]);
		free(runend[j]);
	}
	free(at);
	free(runend);
	free(dom);
	free(seen);
	free(pos);
	free(gstart);
	return rc < 0 ? -1 : nf;
}

int nash_pareto_count(const double *pts, size_t n, int d, const int *rank, size_t *cnt,
                      nash_err *e)
{
	if (check_nan(pts, n, d, e) < 0)
		return -1;
	if (n == 0)
		return 0;
	(void)rank;
	size_t *ord = lexorder(pts, n, d);
	if (d >= 4) {
		bitpass(pts, n, d, ord, cnt, NULL);
		free(ord);
		return 0;
	}
	groups g;
	group(pts, n, d, ord, &g);
	size_t *gcnt = nash_alloc(g.m * sizeof *gcnt);
	if (d == 1) {
		size_t before = 0;
		for (size_t k = 0; k < g.m; k++) {
			gcnt[k] = before;
			before += g.mult[k];
		}
	} else if (d == 2) {
		count2(pts, &g, gcnt);
	} else {
		count3(pts, &g, gcnt);
	}
	for (size_t i = 0; i < n; i++)
		cnt[i] = gcnt[g.of[i]];
	free(gcnt);
	ungroup(&g);
	free(ord);
	return 0;
}

/* --------------------------------------------------------- dominators */
/* For a point p off the front, a front point q dominates p iff q <= p in
 * every objective (q == p would put p on the front). So the wanted point
 * is the nearest front point inside the orthant below p: a k-d tree over
 * the front (coordinates scaled by the ranges) answers that, pruning the
 * boxes that reach no point below p or lie farther than the best so far. */

typedef struct {
	const double *pts;   /* scaled front coordinates, f*d */
	const size_t *id;    /* original index of each front row */
	size_t *perm;        /* tree order of the rows */
	double *lo, *hi;     /* per tree node (indexed by its middle): bbox */
	int d;
} kdtree;

static double kcoord(const kdtree *t, size_t row, int j) { return t->pts[row * (size_t)t->d + j]; }

/* Quickselect on perm[a..b) so that perm[k] has the k-th coordinate j. */
static void kselect(kdtree *t, size_t a, size_t b, size_t k, int j)
{
	while (b - a > 1) {
		size_t m = a + (b - a) / 2;
		double piv = kcoord(t, t->perm[m], j);
		size_t i = a, lt = a, gt = b;
		while (i < gt) { /* three-way partition */
			double v = kcoord(t, t->perm[i], j);
			size_t tmp;
			if (v < piv) {
				tmp = t->perm[i]; t->perm[i] = t->perm[lt]; t->perm[lt] = tmp;
				i++;
				lt++;
			} else if (v > piv) {
				gt--;
				tmp = t->perm[i]; t->perm[i] = t->perm[gt]; t->perm[gt] = tmp;
			} else {
				i++;
			}
		}
		if (k < lt)
			b = lt;
		else if (k >= gt)
			a = gt;
		else
			return;
	}
}

#define KLEAF 8

static void kbuild(kdtree *t, size_t a, size_t b, int depth)
{
	if (b - a <= KLEAF)
		return;
	size_t m = a + (b - a) / 2;
	int d = t->d, j = depth % d;
	kselect(t, a, b, m, j);
	double *lo = t->lo + m * (size_t)d, *hi = t->hi + m * (size_t)d;
	for (int k = 0; k < d; k++) {
		lo[k] = INFINITY;
		hi[k] = -INFINITY;
	}
	for (size_t i = a; i < b; i++)
		for (int k = 0; k < d; k++) {
			double v = kcoord(t, t->perm[i], k);
			lo[k] = v < lo[k] ? v : lo[k];
			hi[k] = v > hi[k] ? v : hi[k];
		}
	kbuild(t, a, m, depth + 1);
	kbuild(t, m + 1, b, depth + 1);
}

typedef struct {
	const double *p;  /* the query, scaled */
	double bd;
	long best;        /* original index */
} kquery;

static void kvisit_row(const kdtree *t, size_t row, kquery *q)
{
	const double *c = t->pts + row * (size_t)t->d;
	double s = 0;
	for (int k = 0; k < t->d; k++) {
		if (c[k] > q->p[k])
			return;
		double u = q->p[k] - c[k];
		s += u * u;
	}
	if (isnan(s))
		s = INFINITY; /* infinite coordinates */
	long id = (long)t->id[row];
	if (q->best < 0 || s < q->bd || (s == q->bd && id < q->best)) {
		q->bd = s;
		q->best = id;
	}
}

static void ksearch(const kdtree *t, size_t a, size_t b, kquery *q)
{
	if (b - a <= KLEAF) {
		for (size_t i = a; i < b; i++)
			kvisit_row(t, t->perm[i], q);
		return;
	}
	size_t m = a + (b - a) / 2;
	const double *lo = t->lo + m * (size_t)t->d, *hi = t->hi + m * (size_t)t->d;
	double s = 0;
	for (int k = 0; k < t->d; k++) {
		if (lo[k] > q->p[k])
			return; /* nothing in the box is below p */
		double u = q->p[k] > hi[k] ? q->p[k] - hi[k] : 0;
		s += u * u;
	}
	if (q->best >= 0 && s > q->bd)
		return;
	kvisit_row(t, t->perm[m], q);
	/* the upper half first: the nearest points below p are the larger ones */
	ksearch(t, m + 1, b, q);
	ksearch(t, a, m, q);
}

void nash_pareto_dominator(const double *pts, size_t n, int d, const int *rank, long *who)
{
	double scale[NASH_PARETO_MAXOBJ];
	for (int j = 0; j < d; j++) {
		double lo = INFINITY, hi = -INFINITY;
		for (size_t i = 0; i < n; i++) {
			double v = pts[i * (size_t)d + j];
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		double r = hi - lo;
		scale[j] = r > 0 && isfinite(r) ? 1 / r : 1;
	}
	size_t nf = 0;
	for (size_t i = 0; i < n; i++)
		nf += rank[i] == 1;
	size_t *id = nash_alloc((nf ? nf : 1) * sizeof *id), k = 0;
	double *fp = nash_alloc((nf ? nf : 1) * (size_t)d * sizeof *fp);
	for (size_t i = 0; i < n; i++)
		if (rank[i] == 1) {
			for (int j = 0; j < d; j++)
				fp[k * (size_t)d + j] = pts[i * (size_t)d + j] * scale[j];
			id[k++] = i;
		}
	kdtree t = {fp, id, nash_alloc((nf ? nf : 1) * sizeof(size_t)),
	            nash_alloc((nf ? nf : 1) * (size_t)d * sizeof(double)),
	            nash_alloc((nf ? nf : 1) * (size_t)d * sizeof(double)), d};
	for (size_t i = 0; i < nf; i++)
		t.perm[i] = i;
	kbuild(&t, 0, nf, 0);
	#pragma omp parallel for schedule(dynamic, 256) if (n >= 8192)
	for (size_t i = 0; i < n; i++) {
		who[i] = -1;
		if (rank[i] == 1)
			continue;
		double p[NASH_PARETO_MAXOBJ];
		for (int j = 0; j < d; j++)
			p[j] = pts[i * (size_t)d + j] * scale[j];
		kquery q = {p, INFINITY, -1};
		ksearch(&t, 0, nf, &q);
		who[i] = q.best;
	}
	free(t.perm);
	free(t.lo);
	free(t.hi);
	free(fp);
	free(id);
}

void nash_pareto_default_ref(const double *pts, size_t n, int d, double *ref)
{
	for (int j = 0; j < d; j++) {
		double lo = INFINITY, hi = -INFINITY;
		for (size_t i = 0; i < n; i++) {
			double v = pts[i * (size_t)d + j];
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		if (n == 0)
			lo = hi = 0;
		double margin = 0.1 * (hi - lo);
		if (!(margin > 0))
			margin = hi != 0 ? 0.1 * fabs(hi) : 1;
		ref[j] = hi + margin;
	}
}
