/* hv.c - exact hypervolume (minimisation, reference point ref).
 *
 * 2-D: sort by x and add one rectangle per staircase step.
 * 3-D: sweep z upwards; between two consecutive z the slice is the 2-D
 *      area of the points already passed, kept up to date as a staircase
 *      (each insertion adds exactly the area only the new point covers).
 * d >= 4: slice along the last objective (HSO): the volume is the sum over
 *      slabs of the (d-1)-dimensional hypervolume of the points below the
 *      slab times its thickness, recursing down to the 3-D sweep.
 * Every routine accepts dominated and duplicate points. */
#include "pareto/pareto.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const double *p;
	int d, key;
} keyctx;

/* Sort rows (indices) by coordinate key ascending, then by the others. */
static void sort_by(const double *p, int d, int key, size_t *idx, size_t n)
{
	/* insertion sort is too slow for big fronts; a merge sort */
	size_t *tmp = nash_alloc((n ? n : 1) * sizeof *tmp);
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi) {
				double a = p[idx[i] * (size_t)d + key], b = p[idx[j] * (size_t)d + key];
				tmp[k++] = b < a ? idx[j++] : idx[i++];
			}
			while (i < mid)
				tmp[k++] = idx[i++];
			while (j < hi)
				tmp[k++] = idx[j++];
		}
		memcpy(idx, tmp, n * sizeof *idx);
	}
	free(tmp);
}

/* Rows of p have stride d; coordinates 0 and 1 are used. */
static double hv2(const double *p, size_t n, int d, const double *ref)
{
	size_t *idx = nash_alloc((n ? n : 1) * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	/* by y first, then a stable sort by x: ties in x come y ascending */
	sort_by(p, d, 1, idx, n);
	sort_by(p, d, 0, idx, n);
	double vol = 0, cy = ref[1];
	for (size_t t = 0; t < n; t++) {
		const double *q = p + idx[t] * (size_t)d;
		if (q[1] < cy) {
			vol += (ref[0] - q[0]) * (cy - q[1]);
			cy = q[1];
		}
	}
	free(idx);
	return vol;
}

/* 2-D staircase: x ascending, y strictly descending; area dominated
 * within the reference box. Inserting returns the area gained. */
typedef struct {
	double *x, *y;
	size_t k;
} stair;

static double stair_add(stair *s, double x, double y, const double *ref)
{
	size_t lo = 0, hi = s->k;
	while (lo < hi) { /* first entry with x > p.x */
		size_t mid = lo + (hi - lo) / 2;
		if (s->x[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t pos = lo;
	double y0 = pos > 0 ? s->y[pos - 1] : ref[1];
	if (y0 <= y)
		return 0; /* covered already */
	size_t start = pos > 0 && s->x[pos - 1] == x ? pos - 1 : pos;
	double gain = 0, cx = x, ch = y0;
	size_t j = pos;
	for (; j < s->k; j++) {
		gain += (s->x[j] - cx) * (ch - y);
		cx = s->x[j];
		ch = s->y[j];
		if (s->y[j] < y)
			break;
	}
	if (j == s->k)
		gain += (ref[0] - cx) * (ch - y);
	/* entries [start, j) are covered by p: replace them by p */
	size_t gone = j - start;
	if (gone == 0) {
		memmove(s->x + start + 1, s->x + start, (s->k - start) * sizeof *s->x);
		memmove(s->y + start + 1, s->y + start, (s->k - start) * sizeof *s->y);
		s->k++;
	} else if (gone > 1) {
		memmove(s->x + start + 1, s->x + j, (s->k - j) * sizeof *s->x);
		memmove(s->y + start + 1, s->y + j, (s->k - j) * sizeof *s->y);
		s->k -= gone - 1;
	}
	s->x[start] = x;
	s->y[start] = y;
	return gain;
}

static double hv3(const double *p, size_t n, int d, const double *ref)
{
	size_t *idx = nash_alloc((n ? n : 1) * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_by(p, d, 2, idx, n);
	stair s = {nash_alloc((n + 1) * sizeof(double)), nash_alloc((n + 1) * sizeof(double)), 0};
	double area = 0, vol = 0;
	for (size_t t = 0; t < n; t++) {
		const double *q = p + idx[t] * (size_t)d;
		area += stair_add(&s, q[0], q[1], ref);
		double znext = t + 1 < n ? p[idx[t + 1] * (size_t)d + 2] : ref[2];
		vol += area * (znext - q[2]);
	}
	free(s.x);
	free(s.y);
	free(idx);
	return vol;
}

/* p: n rows of d values (contiguous, stride d). */
static double hvrec(const double *p, size_t n, int d, const double *ref)
{
	if (n == 0)
		return 0;
	if (d == 1) {
		double lo = p[0];
		for (size_t i = 1; i < n; i++)
			lo = p[i] < lo ? p[i] : lo;
		return ref[0] - lo;
	}
	if (d == 2)
		return hv2(p, n, d, ref);
	if (d == 3)
		return hv3(p, n, d, ref);
	size_t *idx = nash_alloc(n * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_by(p, d, d - 1, idx, n);
	int e = d - 1;
	double *q = nash_alloc(n * (size_t)e * sizeof *q), vol = 0;
	for (size_t t = 0; t < n; t++) {
		const double *r = p + idx[t] * (size_t)d;
		memcpy(q + t * (size_t)e, r, (size_t)e * sizeof *q);
		double znext = t + 1 < n ? p[idx[t + 1] * (size_t)d + e] : ref[e];
		if (znext > r[e])
			vol += hvrec(q, t + 1, e, ref) * (znext - r[e]);
	}
	free(q);
	free(idx);
	return vol;
}

int nash_pareto_hypervolume(const double *pts, size_t n, int d, const double *ref, double *hv,
                            nash_err *e)
{
	*hv = 0;
	if (d < 1 || d > NASH_PARETO_MAXOBJ)
		return nash_fail(e, "%d objectives: need 1 to %d", d, NASH_PARETO_MAXOBJ);
	for (int j = 0; j < d; j++)
		if (!isfinite(ref[j]))
			return nash_fail(e, "hypervolume: reference value %d is not finite", j + 1);
	for (size_t i = 0; i < n * (size_t)d; i++)
		if (!isfinite(pts[i]))
			return nash_fail(e, "hypervolume: point %zu, objective %zu is not finite",
			                 i / (size_t)d + 1, i % (size_t)d + 1);
	/* keep the points strictly inside the box, then only the front */
	double *in = nash_alloc((n ? n : 1) * (size_t)d * sizeof *in);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const double *p = pts + i * (size_t)d;
		int ok = 1;
		for (int j = 0; j < d; j++)
			ok &= p[j] < ref[j];
		if (ok)
			memcpy(in + m++ * (size_t)d, p, (size_t)d * sizeof *in);
	}
	if (m > 0 && d >= 4) { /* slicing pays for every dominated point */
		int *rank = nash_alloc(m * sizeof *rank);
		if (nash_pareto_rank(in, m, d, rank, e) < 0) {
			free(rank);
			free(in);
			return -1;
		}
		size_t k = 0;
		for (size_t i = 0; i < m; i++)
			if (rank[i] == 1)
				memmove(in + k++ * (size_t)d, in + i * (size_t)d, (size_t)d * sizeof *in);
		m = k;
		free(rank);
	}
	*hv = hvrec(in, m, d, ref);
	free(in);
	return 0;
}
