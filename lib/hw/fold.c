/* fold.c - folding searches: a FINN-like divisor search for a target
 * number of cycles per frame, the fastest folding within resource limits,
 * budgets and utilisation caps. */
#include "hw/hw.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Divisors of n in ascending order into out (up to max); returns count. */
static int divisors(int64_t n, int64_t *out, int max)
{
	int lo = 0, hi = 0;
	int64_t big[256];
	for (int64_t i = 1; i * i <= n; i++)
		if (n % i == 0) {
			if (lo < max)
				out[lo++] = i;
			if (i != n / i && hi < 256)
				big[hi++] = n / i;
		}
	while (hi > 0 && lo < max)
		out[lo++] = big[--hi];
	return lo;
}

/* Raise one folding parameter (pe = 1: PE, else SIMD) through the divisors
 * of its dimension until the layer meets the target or the limit. */
static void raise(nash_hw_layer *l, int pe, int64_t dim, int64_t limit, int64_t target)
{
	int64_t dv[512];
	int nd = divisors(dim, dv, 512);
	for (int i = 0; i < nd; i++) {
		if (dv[i] > limit && i > 0)
			break;
		if (pe)
			l->pe = dv[i];
		else
			l->simd = dv[i];
		if (nash_hw_cycles(l) <= target)
			break;
	}
}

static int64_t simd_limit(const nash_hw_design *d, const nash_hw_layer *l)
{
	if (l->kind != NASH_HW_MVAU || d->max_wwidth <= 0)
		return INT64_MAX;
	int64_t lim = d->max_wwidth / (l->wbits > 0 ? l->wbits : 1);
	return lim > 0 ? lim : 1;
}

static void fold_layer(const nash_hw_design *d, nash_hw_layer *l, int64_t target)
{
	int64_t maxpe, maxsimd;
	nash_hw_fold_max(l, &maxpe, &maxsimd);
	if (maxsimd) {
		l->simd = 1;
		if (maxpe)
			l->pe = 1;
		raise(l, 0, maxsimd, simd_limit(d, l), target);
		if (maxpe && nash_hw_cycles(l) > target)
			raise(l, 1, maxpe, INT64_MAX, target);
	} else if (maxpe) {
		l->pe = 1;
		raise(l, 1, maxpe, INT64_MAX, target);
	}
}

static void reset_memories(nash_hw_design *d)
{
	for (int i = 0; i < d->nreal; i++)
		if (!d->l[i].ram_pinned)
			d->l[i].ram = d->l[i].tram = NASH_RAM_AUTO;
}

int64_t nash_hw_fold_cycles(nash_hw_design *d, int64_t target)
{
	for (int i = 0; i < d->nreal; i++)
		if (!d->l[i].pinned)
			fold_layer(d, &d->l[i], target);
	nash_hw_evaluate(d);
	return d->max_cycles;
}

int64_t nash_hw_min_cycles(const nash_hw_design *d, int *limiting)
{
	int64_t best = 0;
	int lim = 0;
	for (int i = 0; i < d->nreal; i++) {
		nash_hw_layer l = d->l[i];
		if (!l.pinned)
			fold_layer(d, &l, 0);
		int64_t c = nash_hw_cycles(&l);
		if (c > best) {
			best = c;
			lim = i;
		}
	}
	if (limiting)
		*limiting = lim;
	return best;
}

/* ---------------------------------------------------------------- limits */

void nash_hw_limits_cap(nash_hw_limits *lim, const nash_hw_device *dev, double pct)
{
	const int64_t have[5] = { dev->lut, dev->ff, dev->bram18, dev->uram, dev->dsp };
	for (int k = 0; k < 5; k++) {
		lim->cap[k] = (int64_t)floor((double)have[k] * pct / 100.0 + 1e-9);
		lim->src[k] = "cap";
	}
}

int nash_hw_limits_budget(nash_hw_limits *lim, const char *spec, nash_err *e)
{
	const char *p = spec;
	if (!*p)
		return nash_fail(e, "empty budget; expected e.g. lut=20000,bram=100,dsp=50");
	while (*p) {
		char key[16];
		size_t k = 0;
		while (*p && *p != '=' && *p != ',' && k + 1 < sizeof key)
			key[k++] = (char)tolower((unsigned char)*p++);
		key[k] = 0;
		if (*p != '=')
			return nash_fail(e, "budget '%s': expected RESOURCE=COUNT, e.g. lut=20000,bram=100,dsp=50", spec);
		p++;
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (errno || end == p || v < 0 || (*end && *end != ','))
			return nash_fail(e, "budget '%s': %s needs a non-negative integer", spec, key);
		int r = -1, mult = 1;
		if (!strcmp(key, "lut") || !strcmp(key, "luts"))
			r = NASH_RES_LUT;
		else if (!strcmp(key, "ff") || !strcmp(key, "ffs"))
			r = NASH_RES_FF;
		else if (!strcmp(key, "bram") || !strcmp(key, "bram18"))
			r = NASH_RES_BRAM;
		else if (!strcmp(key, "bram36"))
			r = NASH_RES_BRAM, mult = 2;
		else if (!strcmp(key, "uram"))
			r = NASH_RES_URAM;
		else if (!strcmp(key, "dsp") || !strcmp(key, "dsps"))
			r = NASH_RES_DSP;
		if (r < 0)
			return nash_fail(e, "budget '%s': unknown resource '%s' (lut, ff, bram, bram36, uram, dsp)", spec, key);
		lim->cap[r] = v * mult;
		lim->src[r] = "budget";
		p = *end ? end + 1 : end;
	}
	return 0;
}

static const int64_t *used_of(const nash_hw_design *d, int64_t *u)
{
	u[0] = d->total.lut, u[1] = d->total.ff, u[2] = d->total.bram18, u[3] = d->total.uram, u[4] = d->total.dsp;
	return u;
}

/* The first resource over its limit, or -1. */
static int over(const nash_hw_design *d, const nash_hw_limits *lim)
{
	int64_t u[5];
	used_of(d, u);
	for (int k = 0; k < 5; k++)
		if (lim->cap[k] >= 0 && u[k] > lim->cap[k])
			return k;
	return -1;
}

/* When BRAM is over its limit and URAM is available, move the memories of
 * whole layers (MVAU weights and thresholds, Thresholding tables) to URAM,
 * those that free the most BRAM per URAM first, while the URAM limit
 * allows and URAM holds at least as much as the BRAM it frees. */
void nash_hw_use_uram(nash_hw_design *d, const nash_hw_limits *lim)
{
	if (d->dev->uram <= 0 || lim->cap[NASH_RES_URAM] == 0)
		return;
	int64_t ucap = lim->cap[NASH_RES_URAM] >= 0 ? lim->cap[NASH_RES_URAM] : INT64_MAX;
	char *tried = nash_alloc((size_t)d->nreal);
	while (over(d, lim) == NASH_RES_BRAM) {
		int best = -1;
		double gain = 0;
		int64_t need = 0;
		for (int i = 0; i < d->nreal; i++) {
			const nash_hw_layer *l = &d->l[i];
			if ((l->kind != NASH_HW_MVAU && l->kind != NASH_HW_THRESH) || l->ram_pinned || tried[i] ||
			    l->r.bram18 == 0)
				continue;
			nash_hw_layer u = *l;
			if (u.kind == NASH_HW_MVAU)
				u.ram = NASH_RAM_ULTRA;
			u.tram = NASH_RAM_ULTRA;
			nash_hw_cost(&u, d->dev);
			int64_t saved = l->r.bram18 - u.r.bram18, extra = u.r.uram - l->r.uram;
			if (saved <= 0)
				continue;
			double gn = extra > 0 ? (double)saved / (double)extra : 1e9;
			if (gn > gain) {
				gain = gn;
				best = i;
				need = extra;
			}
		}
		if (best < 0)
			break;
		tried[best] = 1;
		if (d->total.uram + need > ucap || gain < 1)
			continue;   /* no room, or URAM would hold less than the BRAM it frees */
		if (d->l[best].kind == NASH_HW_MVAU)
			d->l[best].ram = NASH_RAM_ULTRA;
		d->l[best].tram = NASH_RAM_ULTRA;
		nash_hw_evaluate(d);
	}
	free(tried);
}

static int fold_fits(nash_hw_design *d, const nash_hw_limits *lim, int64_t target)
{
	reset_memories(d);
	nash_hw_fold_cycles(d, target);
	if (over(d, lim) == NASH_RES_BRAM)
		nash_hw_use_uram(d, lim);
	return over(d, lim) < 0;
}

int nash_hw_fold_fit(nash_hw_design *d, const nash_hw_limits *lim, nash_err *e)
{
	int limiting;
	int64_t lo = nash_hw_min_cycles(d, &limiting);
	/* the smallest folding: every unpinned layer at PE = SIMD = 1 */
	int64_t hi = INT64_MAX;
	if (!fold_fits(d, lim, hi)) {
		int k = over(d, lim);
		int64_t u[5];
		used_of(d, u);
		/* narrow weight memories waste URAM: with URAM in play a more
		 * parallel folding may fit where the smallest does not */
		int found = 0;
		if (k == NASH_RES_BRAM && d->dev->uram > 0)
			for (int64_t t = d->max_cycles / 2; t >= lo && t > 0 && !found; t /= 2)
				if (fold_fits(d, lim, t)) {
					hi = t;
					found = 1;
				}
		if (!found)
			return nash_fail(e, "graph %s: the smallest folding (every layer at PE = SIMD = 1) needs %lld %s, more than the %s of %lld",
			                 d->g->name, (long long)u[k], nash_hw_res_names[k], lim->src[k], (long long)lim->cap[k]);
	}
	if (hi == INT64_MAX)
		hi = d->max_cycles;
	if (lo > hi)
		lo = hi;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (fold_fits(d, lim, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	fold_fits(d, lim, hi);
	/* rebalance: fold every layer just enough for the achieved bottleneck */
	int64_t got = d->max_cycles;
	if (got < hi && !fold_fits(d, lim, got))
		fold_fits(d, lim, hi);
	return 0;
}
