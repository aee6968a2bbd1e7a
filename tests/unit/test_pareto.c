/* test_pareto.c - fronts, ranks, dominance counts, nearest dominators and
 * hypervolume against hand-made cases and independent references (front
 * peeling by the definition; inclusion-exclusion for the volume); the
 * objective table, graph meta, TSV tables. */
#include "pareto/pareto.h"
#include "unit.h"

#include <string.h>

/* ------------------------------------------------------- references */

static int dom(const double *q, const double *p, int d)
{
	int less = 0;
	for (int j = 0; j < d; j++) {
		if (q[j] > p[j])
			return 0;
		less |= q[j] < p[j];
	}
	return less;
}

/* Peel fronts by the definition. */
static void ref_rank(const double *p, size_t n, int d, int *rank)
{
	for (size_t i = 0; i < n; i++)
		rank[i] = 0;
	size_t done = 0;
	for (int f = 1; done < n; f++) {
		int *now = calloc(n, sizeof *now);
		for (size_t i = 0; i < n; i++) {
			if (rank[i])
				continue;
			int free_ = 1;
			for (size_t j = 0; j < n && free_; j++)
				if (!rank[j] && dom(p + j * d, p + i * d, d))
					free_ = 0;
			now[i] = free_;
		}
		for (size_t i = 0; i < n; i++)
			if (now[i]) {
				rank[i] = f;
				done++;
			}
		free(now);
	}
}

/* Inclusion-exclusion over subsets: the volume of a union of boxes
 * [p, ref] is the alternating sum of the volumes of their intersections
 * [max of the subset, ref]. Exact, exponential: n <= 12. */
static double ref_hv(const double *p, size_t n, int d, const double *ref)
{
	double total = 0;
	for (unsigned long s = 1; s < (1ul << n); s++) {
		double lo[16], vol = 1;
		int bits = 0;
		for (int j = 0; j < d; j++)
			lo[j] = -INFINITY;
		for (size_t i = 0; i < n; i++)
			if (s >> i & 1) {
				bits++;
				for (int j = 0; j < d; j++)
					lo[j] = p[i * d + j] > lo[j] ? p[i * d + j] : lo[j];
			}
		for (int j = 0; j < d; j++)
			vol *= lo[j] < ref[j] ? ref[j] - lo[j] : 0;
		total += bits & 1 ? vol : -vol;
	}
	return total;
}

static int same_ranks(const int *a, const int *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* ------------------------------------------------------- hand-made */

static void hand_made(void)
{
	nash_err e = {{0}};
	int rank[16];
	size_t cnt[16];
	long who[16];

	/* 2-D, minimise both: a staircase, points behind it, a duplicate, ties */
	double p2[] = {
		1, 5,  /* 0 front */
		2, 3,  /* 1 front */
		4, 1,  /* 2 front */
		2, 5,  /* 3 dominated by 0 (tie in y) and 1 (tie in x) -> rank 2 */
		3, 4,  /* 4 dominated by 1 -> rank 2 */
		2, 3,  /* 5 duplicate of 1: front, not dominated by its twin */
		5, 5,  /* 6 dominated by 0,1,2,3,4,5 -> rank 3 */
		4, 1,  /* 7 duplicate of 2 */
	};
	int want2[] = {1, 1, 1, 2, 2, 1, 3, 1};
	int nf = nash_pareto_rank(p2, 8, 2, rank, &e);
	CHECK(nf == 3 && same_ranks(rank, want2, 8), "2-D staircase with ties and duplicates: ranks");
	nash_pareto_count(p2, 8, 2, rank, cnt, &e);
	CHECK(cnt[0] == 0 && cnt[1] == 0 && cnt[5] == 0 && cnt[3] == 3 && cnt[4] == 2 && cnt[6] == 7,
	      "2-D dominated_by counts (duplicates of a dominator each count)");
	nash_pareto_dominator(p2, 8, 2, rank, who);
	/* point 3 (2,5): 0 is at distance 1/4 of the range, 1 and its twin 5
	 * at 2/4; point 4 (3,4): 1 and 5 tie, the lower index wins */
	CHECK(who[0] == -1 && who[1] == -1 && who[3] == 0 && who[4] == 1 && who[6] >= 0,
	      "2-D nearest dominating front point (ties go to the lower index)");

	/* one point; empty set */
	double one[] = {3, 4};
	CHECK(nash_pareto_rank(one, 1, 2, rank, &e) == 1 && rank[0] == 1, "one point: rank 1");
	CHECK(nash_pareto_rank(one, 0, 2, rank, &e) == 0, "no points: no fronts");

	/* all points equal: one front */
	double eq[] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
	CHECK(nash_pareto_rank(eq, 3, 3, rank, &e) == 1 && rank[0] == 1 && rank[2] == 1,
	      "three equal 3-D points share the front");
	nash_pareto_count(eq, 3, 3, rank, cnt, &e);
	CHECK(cnt[0] == 0 && cnt[1] == 0 && cnt[2] == 0, "equal points do not dominate each other");

	/* a chain: each point dominates the next */
	double chain[] = {4, 4, 4, 1, 1, 1, 3, 3, 3, 2, 2, 2};
	int wantc[] = {4, 1, 3, 2};
	CHECK(nash_pareto_rank(chain, 4, 3, rank, &e) == 4 && same_ranks(rank, wantc, 4), "3-D chain: ranks 1..4");
	nash_pareto_count(chain, 4, 3, rank, cnt, &e);
	CHECK(cnt[0] == 3 && cnt[1] == 0 && cnt[2] == 2 && cnt[3] == 1, "3-D chain: dominated_by 3,0,2,1");

	/* 3 objectives: trade-offs in the third objective only */
	double p3[] = {
		1, 1, 9,  /* front */
		1, 1, 5,  /* front, dominates 0 -> 0 becomes rank 2 */
		2, 2, 1,  /* front */
		3, 3, 3,  /* dominated by 2 */
		1, 2, 5,  /* dominated by 1 (tie in x and z) */
	};
	int want3[] = {2, 1, 1, 2, 2};
	CHECK(nash_pareto_rank(p3, 5, 3, rank, &e) == 2 && same_ranks(rank, want3, 5), "3-D ranks with ties");
	nash_pareto_count(p3, 5, 3, rank, cnt, &e);
	CHECK(cnt[0] == 1 && cnt[3] == 1 && cnt[4] == 1 && cnt[1] == 0, "3-D counts with ties");

	double nan[] = {1, NAN};
	CHECK(nash_pareto_rank(nan, 1, 2, rank, &e) < 0 && strstr(e.msg, "not a number"), "NaN refused: %s", e.msg);
}

/* Mixed directions through a set: lut min, top1 max, fps max. */
static void mixed(void)
{
	nash_err e = {{0}};
	nash_pareto_obj o[3];
	CHECK(nash_pareto_obj_list("lut,top1,fps", o, 3, &e) == 3 && !o[0].maximize && o[1].maximize && o[2].maximize,
	      "default directions: lut min, top1 max, fps max");
	nash_pareto_set s;
	nash_pareto_set_init(&s, o, 2);
	double a[] = {1000, 80}, b[] = {2000, 90}, c[] = {2000, 85}, d[] = {500, 70}, f[] = {3000, 90};
	nash_pareto_set_add(&s, "a", "baseline", "w2a2", a, NULL);
	nash_pareto_set_add(&s, "b", "v1", NULL, b, NULL);
	nash_pareto_set_add(&s, "c", "v2", NULL, c, NULL);   /* beaten by b */
	nash_pareto_set_add(&s, "d", NULL, NULL, d, NULL);
	nash_pareto_set_add(&s, "f", "v4", NULL, f, NULL);   /* beaten by b (tie in top1) */
	nash_pareto_result r;
	CHECK(nash_pareto_analyze(&s, &r, &e) == 0, "analyze");
	CHECK(r.rank[0] == 1 && r.rank[1] == 1 && r.rank[2] == 2 && r.rank[3] == 1 && r.rank[4] == 2,
	      "lut min / top1 max ranks");
	CHECK(r.dominator[2] == 1 && r.dominator[4] == 1 && r.dominator[0] == -1, "dominators by name index");
	CHECK(strcmp(s.family[3], "other") == 0, "family defaults to other");
	nash_pareto_result_free(&r);
	nash_pareto_set_free(&s);
}

/* Random sets with many ties, against the definition. */
static void random_sets(void)
{
	nash_err e = {{0}};
	nash_rng rng;
	nash_rng_seed(&rng, 7);
	int bad_rank = 0, bad_cnt = 0, bad_who = 0, sets = 0;
	for (int d = 1; d <= 6; d++)
		for (int rep = 0; rep < 40; rep++) {
			size_t n = 1 + nash_rng_below(&rng, 120);
			int range = 1 + (int)nash_rng_below(&rng, rep % 2 ? 5 : 1000);
			double *p = malloc(n * d * sizeof *p);
			for (size_t i = 0; i < n * d; i++)
				p[i] = (double)nash_rng_below(&rng, (uint64_t)range) - range / 2;
			int *r = malloc(n * sizeof *r), *want = malloc(n * sizeof *want);
			size_t *cnt = malloc(n * sizeof *cnt);
			long *who = malloc(n * sizeof *who);
			nash_pareto_rank(p, n, d, r, &e);
			ref_rank(p, n, d, want);
			bad_rank += !same_ranks(r, want, n);
			nash_pareto_count(p, n, d, r, cnt, &e);
			nash_pareto_dominator(p, n, d, r, who);
			double span[8];
			for (int k = 0; k < d; k++) {
				double lo = INFINITY, hi = -INFINITY;
				for (size_t i = 0; i < n; i++) {
					lo = fmin(lo, p[i * d + k]);
					hi = fmax(hi, p[i * d + k]);
				}
				span[k] = hi > lo ? hi - lo : 1;
			}
			for (size_t i = 0; i < n; i++) {
				size_t c = 0;
				for (size_t j = 0; j < n; j++)
					c += dom(p + j * d, p + i * d, d);
				bad_cnt += c != cnt[i];
				if (want[i] == 1) {
					bad_who += who[i] != -1;
				} else {
					bad_who += who[i] < 0 || want[who[i]] != 1 || !dom(p + who[i] * d, p + i * d, d);
					/* and none nearer (distances scaled by the ranges) */
					double best = INFINITY, got = INFINITY;
					for (size_t j = 0; j < n; j++) {
						if (want[j] != 1 || !dom(p + j * d, p + i * d, d))
							continue;
						double s = 0;
						for (int k = 0; k < d; k++) {
							double u = (p[i * d + k] - p[j * d + k]) / span[k];
							s += u * u;
						}
						best = s < best ? s : best;
						if ((long)j == who[i])
							got = s;
					}
					bad_who += !(got <= best * (1 + 1e-9));
				}
			}
			sets++;
			free(p);
			free(r);
			free(want);
			free(cnt);
			free(who);
		}
	CHECK(bad_rank == 0, "ranks equal front peeling on %d random sets, d = 1..6 (%d differ)", sets, bad_rank);
	CHECK(bad_cnt == 0, "dominated_by equals pairwise counting (%d points differ)", bad_cnt);
	CHECK(bad_who == 0, "every dominator is the nearest front point that dominates (%d wrong)", bad_who);

	/* big enough to exercise the treap and the divide and conquer */
	size_t n = 1500;
	double *p = malloc(n * 3 * sizeof *p);
	for (size_t i = 0; i < n * 3; i++)
		p[i] = (double)nash_rng_below(&rng, 40);
	int *r = malloc(n * sizeof *r), *want = malloc(n * sizeof *want);
	size_t *cnt = malloc(n * sizeof *cnt);
	nash_pareto_rank(p, n, 3, r, &e);
	ref_rank(p, n, 3, want);
	nash_pareto_count(p, n, 3, r, cnt, &e);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		size_t c = 0;
		for (size_t j = 0; j < n; j++)
			c += dom(p + j * 3, p + i * 3, 3);
		bad += c != cnt[i];
	}
	CHECK(same_ranks(r, want, n) && bad == 0, "1500 3-D points on a 40^3 grid: ranks and counts exact");
	free(p);
	free(r);
	free(want);
	free(cnt);

	/* d >= 4 above the size where ranks come from bit sets */
	for (int d = 4; d <= 6; d++) {
		n = d == 4 ? 1500 : 700;
		p = malloc(n * d * sizeof *p);
		for (size_t i = 0; i < n * d; i++)
			p[i] = (double)nash_rng_below(&rng, d == 4 ? 6 : 9);
		r = malloc(n * sizeof *r);
		want = malloc(n * sizeof *want);
		cnt = malloc(n * sizeof *cnt);
		int nf = nash_pareto_rank(p, n, d, r, &e), wf = 0;
		ref_rank(p, n, d, want);
		nash_pareto_count(p, n, d, r, cnt, &e);
		bad = 0;
		for (size_t i = 0; i < n; i++) {
			size_t c = 0;
			for (size_t j = 0; j < n; j++)
				c += dom(p + j * d, p + i * d, d);
			bad += c != cnt[i];
			wf = want[i] > wf ? want[i] : wf;
		}
		CHECK(nf == wf && same_ranks(r, want, n) && bad == 0, "%zu %d-D points with many duplicates: ranks and counts exact",
		      n, d);
		free(p);
		free(r);
		free(want);
		free(cnt);
	}

	/* a chain has as many fronts as points: too many for the bit sets,
	 * so the pairwise method takes over */
	n = 24000;
	p = malloc(n * 4 * sizeof *p);
	r = malloc(n * sizeof *r);
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < 4; j++)
			p[i * 4 + j] = (double)((i * 7919) % n) + j;
	int nf = nash_pareto_rank(p, n, 4, r, &e);
	bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += r[i] != (int)((i * 7919) % n) + 1;
	CHECK(nf == (int)n && bad == 0, "a 4-D chain of %zu points: %d fronts, rank = place in the chain", n, nf);
	free(p);
	free(r);
}

static void hypervolume(void)
{
	nash_err e = {{0}};
	double hv;
	/* 2-D by hand: boxes [1,4]x[3,4] (3) and [2,4]x[1,4] (6) overlap in
	 * [2,4]x[3,4] (2): 7 */
	double a[] = {1, 3, 2, 1}, r2[] = {4, 4};
	nash_pareto_hypervolume(a, 2, 2, r2, &hv, &e);
	CHECK_NEAR(hv, 7, 1e-12, "2-D hypervolume by hand");
	/* dominated, duplicate and outside points change nothing */
	double a2[] = {1, 3, 2, 1, 3, 3, 2, 1, 5, 0, 0, 4};
	nash_pareto_hypervolume(a2, 6, 2, r2, &hv, &e);
	CHECK_NEAR(hv, 7, 1e-12, "2-D: dominated, duplicate and out-of-box points add nothing");
	/* one point */
	double one[] = {1, 2, 3}, r3[] = {2, 4, 6};
	nash_pareto_hypervolume(one, 1, 3, r3, &hv, &e);
	CHECK_NEAR(hv, 1 * 2 * 3, 1e-12, "3-D one box");
	/* 3-D by hand: two unit-ish boxes in [0,2]^3: p = (0,0,1) box
	 * 2x2x1 = 4, q = (1,1,0) box 1x1x2 = 2, overlap (1..2)^2 x (1..2) = 1 -> 5 */
	double b[] = {0, 0, 1, 1, 1, 0}, rb[] = {2, 2, 2};
	nash_pareto_hypervolume(b, 2, 3, rb, &hv, &e);
	CHECK_NEAR(hv, 5, 1e-12, "3-D hypervolume by hand");
	/* 3-D: three points on the axes planes of the unit cube corner */
	double c[] = {0, 1, 1, 1, 0, 1, 1, 1, 0}, rc[] = {2, 2, 2};
	/* each box 2x1x1 = 2 (orientations differ); pairwise overlaps 1x1x1
	 * = 1; the triple overlap (1..2)^3 = 1: 6 - 3 + 1 = 4 */
	nash_pareto_hypervolume(c, 3, 3, rc, &hv, &e);
	CHECK_NEAR(hv, 4, 1e-12, "3-D three boxes by hand");
	/* 1-D */
	double l[] = {3, 1, 2}, rl[] = {5};
	nash_pareto_hypervolume(l, 3, 1, rl, &hv, &e);
	CHECK_NEAR(hv, 4, 1e-12, "1-D: the best value's distance to the reference");

	/* against inclusion-exclusion on random sets in 2..5-D */
	nash_rng rng;
	nash_rng_seed(&rng, 11);
	double worst = 0;
	int sets = 0;
	for (int d = 2; d <= 5; d++)
		for (int rep = 0; rep < 25; rep++) {
			size_t n = 1 + nash_rng_below(&rng, 11);
			double p[12 * 5], ref[5];
			for (size_t i = 0; i < n * d; i++)
				p[i] = rep % 3 ? nash_rng_uniform(&rng) : (double)nash_rng_below(&rng, 4) / 4;
			for (int j = 0; j < d; j++)
				ref[j] = rep % 5 ? 1 : 0.8; /* sometimes cuts points off */
			nash_pareto_hypervolume(p, n, d, ref, &hv, &e);
			double want = ref_hv(p, n, d, ref);
			double err = fabs(hv - want);
			worst = err > worst ? err : worst;
			sets++;
		}
	CHECK(worst < 1e-12, "hypervolume equals inclusion-exclusion on %d random sets, d = 2..5 (worst error %g)",
	      sets, worst);

	/* exact on a front that is large in 3-D: points on the plane x+y+z = 1 */
	{
		size_t n = 2000;
		double *p = malloc(n * 3 * sizeof *p), ref[] = {1, 1, 1};
		for (size_t i = 0; i < n; i++) {
			double u = nash_rng_uniform(&rng), v = nash_rng_uniform(&rng) * (1 - u);
			p[3 * i] = u;
			p[3 * i + 1] = v;
			p[3 * i + 2] = 1 - u - v;
		}
		/* the same set scaled by 2 in x: volume doubles */
		double h1, h2;
		nash_pareto_hypervolume(p, n, 3, ref, &h1, &e);
		for (size_t i = 0; i < n; i++)
			p[3 * i] *= 2;
		double ref2[] = {2, 1, 1};
		nash_pareto_hypervolume(p, n, 3, ref2, &h2, &e);
		/* the region above the plane inside the unit cube is 5/6 */
		CHECK(h1 > 0.8 && h1 < 5.0 / 6 && fabs(h2 - 2 * h1) < 1e-12,
		      "3-D front of 2000 points: just under the 5/6 bound, doubles with one axis (%g)", h1);
		free(p);
	}

	double bad[] = {1, INFINITY}, rr[] = {2, 2};
	CHECK(nash_pareto_hypervolume(bad, 1, 2, rr, &hv, &e) < 0, "infinite values refused: %s", e.msg);

	/* the default reference: worst + a tenth of the range */
	double q[] = {1, -90, 3, -80, 2, -85}, ref[2];
	nash_pareto_default_ref(q, 3, 2, ref);
	CHECK_NEAR(ref[0], 3.2, 1e-12, "default reference: worst plus a tenth of the range");
	CHECK_NEAR(ref[1], -79, 1e-12, "default reference in a maximised (negated) objective");
	nash_pareto_default_ref(q, 1, 2, ref);
	CHECK_NEAR(ref[0], 1.1, 1e-12, "default reference for one point: a tenth of |worst|");
}

static void objectives(void)
{
	nash_err e = {{0}};
	nash_pareto_obj o;
	CHECK(nash_pareto_obj_parse("bram", &o, &e) == 0 && strcmp(o.name, "bram18") == 0 && !o.maximize,
	      "bram is bram18, minimised");
	CHECK(nash_pareto_obj_parse("latency_us", &o, &e) == 0 && o.kind == NASH_OBJ_LATENCY, "latency_us alias");
	CHECK(nash_pareto_obj_parse("top1:min", &o, &e) == 0 && !o.maximize, "explicit direction wins");
	CHECK(nash_pareto_obj_parse("lut:up", &o, &e) < 0 && strstr(e.msg, "min or max"), "bad direction: %s", e.msg);
	CHECK(nash_pareto_obj_parse("loss", &o, &e) == 0 && nash_pareto_obj_direction(&o, &e) < 0 &&
	      strstr(e.msg, "loss:min"), "a column objective needs a direction: %s", e.msg);
	CHECK(nash_pareto_obj_parse("top1", &o, &e) == 0 && nash_pareto_obj_direction(&o, &e) == 0,
	      "known objectives have one");
	CHECK(nash_pareto_obj_parse(":max", &o, &e) < 0 && strstr(e.msg, "empty name"), "empty name: %s", e.msg);
	CHECK(nash_pareto_obj_parse("train.loss:min", &o, &e) == 0 && o.kind == NASH_OBJ_COLUMN, "meta path objective");
	nash_pareto_obj l[4];
	CHECK(nash_pareto_obj_list("lut:min,bram:min,top1:max", l, 4, &e) == 3 && l[2].maximize, "objective list");
	CHECK(nash_pareto_obj_list("lut,lut", l, 4, &e) < 0 && strstr(e.msg, "twice"), "duplicate objective refused");

	char buf[32];
	CHECK(strcmp(nash_pareto_num(buf, 91.23, 0), "91.23") == 0, "shortest text of a double");
	CHECK(strcmp(nash_pareto_num(buf, (double)91.23f, 1), "91.23") == 0, "shortest text of a float");
	CHECK(strcmp(nash_pareto_num(buf, 123456, 0), "123456") == 0, "integers print whole");
	CHECK(strcmp(nash_pareto_num(buf, -0.0, 0), "0") == 0, "no negative zero");
	CHECK(strcmp(nash_pareto_num(buf, 26000, 0), "26000") == 0 && strcmp(nash_pareto_num(buf, 3e6, 0), "3000000") == 0,
	      "round numbers print without an exponent");
	CHECK(strcmp(nash_pareto_num(buf, 1.5e-7, 0), "1.5e-07") == 0 && strcmp(nash_pareto_num(buf, 2e20, 0), "2e+20") == 0,
	      "tiny and huge numbers keep it");
	CHECK(strcmp(nash_pareto_num(buf, 3e6f, 1), "3000000") == 0 && strcmp(nash_pareto_num(buf, 0.1, 0), "0.1") == 0 &&
	      strcmp(nash_pareto_num(buf, 1.0 / 3, 0), "0.3333333333333333") == 0 &&
	      strcmp(nash_pareto_num(buf, (double)(1.0f / 3), 1), "0.33333334") == 0, "float and double digits");
	{
		nash_rng r;
		nash_rng_seed(&r, 5);
		int bad = 0;
		for (int i = 0; i < 20000; i++) {
			double v = (nash_rng_uniform(&r) - 0.5) * pow(10, (double)nash_rng_below(&r, 30) - 10);
			float f = (float)v;
			bad += strtod(nash_pareto_num(buf, v, 0), NULL) != v;
			bad += (float)strtod(nash_pareto_num(buf, f, 1), NULL) != f;
			char ref[32];
			for (int p = 1; p <= 17; p++) { /* no shorter text reads back */
				snprintf(ref, sizeof ref, "%.*g", p, v);
				if (strtod(ref, NULL) == v)
					break;
			}
			snprintf(ref, sizeof ref, "%.17g", strtod(ref, NULL));
			char got[32];
			snprintf(got, sizeof got, "%.17g", strtod(nash_pareto_num(buf, v, 0), NULL));
			bad += strcmp(ref, got) != 0;
		}
		CHECK(bad == 0, "20000 random numbers read back exactly (%d failures)", bad);
	}
	CHECK(strcmp(nash_pareto_num(buf, 0.001, 0), "0.001") == 0 && strcmp(nash_pareto_num(buf, 1234.5678, 0), "1234.5678") == 0,
	      "decimals kept exactly");
}

static nash_graph *tiny(const char *name)
{
	nash_graph *g = nash_graph_new(name);
	int64_t in[] = {4}, w[] = {3, 4};
	nash_graph_add_input(g, "x", NASH_F32, 1, in);
	nash_tensor_add(g, "fc.w", NASH_F32, 2, w);
	nash_node *n = nash_node_add(g, "Gemm", "fc", (const char *[]){"x", "fc.w", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "transB", 1);
	nash_graph_add_output(g, "y");
	return g;
}

static void graphs(void)
{
	nash_err e = {{0}};
	nash_graph *g = tiny("resnet18-w16");
	CHECK(nash_graph_validate(g, &e) == 0, "tiny graph validates: %s", e.msg);
	nash_pareto_obj o;
	double v;
	int single;
	nash_pareto_obj_parse("lut", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 &&
	      strcmp(e.msg, "graph resnet18-w16: no meta.est (run nash-est first)") == 0, "missing est: %s", e.msg);
	nash_pareto_obj_parse("top1", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 && strstr(e.msg, "run nash-train or nash-eval"),
	      "missing train: %s", e.msg);
	nash_val_set(nash_meta(g, "train"), "top1", nash_val_f32(81.5f));
	CHECK(nash_pareto_graph_value(g, &o, &v, &single, &e) == 0 && v == 81.5 && single, "top1 from meta.train");
	nash_val_set(nash_meta(g, "eval"), "top1", nash_val_f64(82.25));
	CHECK(nash_pareto_graph_value(g, &o, &v, &single, &e) == 0 && v == 82.25 && !single, "meta.eval wins");
	nash_pareto_obj_parse("top5", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 && strstr(e.msg, "no top5 in meta.eval or meta.train"),
	      "missing top5: %s", e.msg);
	nash_val *est = nash_meta(g, "est");
	nash_val_set(nash_val_submap(est, "total"), "lut", nash_val_int(12345));
	nash_val_set(est, "fps", nash_val_f64(3000.5));
	nash_val_set(est, "latency_us", nash_val_f64(812));
	nash_pareto_obj_parse("lut", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) == 0 && v == 12345, "lut from meta.est.total");
	nash_pareto_obj_parse("dsp", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 && strcmp(e.msg, "graph resnet18-w16: no meta.est.total.dsp") == 0,
	      "missing total: %s", e.msg);
	nash_pareto_obj_parse("latency", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) == 0 && v == 812, "latency from meta.est.latency_us");
	nash_pareto_obj_parse("params", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) == 0 && v == 12, "params counted: 3x4");
	nash_pareto_obj_parse("macs", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) == 0 && v == 12, "macs counted");
	nash_pareto_obj_parse("train.loss:min", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 && strstr(e.msg, "no meta.train.loss"), "meta path: %s",
	      e.msg);
	nash_pareto_obj_parse("foo:min", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 && strstr(e.msg, "unknown objective 'foo'") &&
	      strstr(e.msg, "top1, top5, lut"), "unknown objective lists the names: %s", e.msg);
	CHECK(strcmp(nash_pareto_graph_family(g), "baseline") == 0 && !nash_pareto_graph_bits(g), "baseline, no bits");
	nash_val_set(nash_meta(g, "gen"), "nash", nash_val_str("v3"));
	nash_val_set(nash_meta(g, "quant"), "preset", nash_val_str("w2a2"));
	CHECK(strcmp(nash_pareto_graph_family(g), "v3") == 0 && strcmp(nash_pareto_graph_bits(g), "w2a2") == 0,
	      "family v3, bits w2a2");
	nash_val_set(nash_meta(g, "eval"), "top1", nash_val_str("high"));
	nash_pareto_obj_parse("top1", &o, &e);
	CHECK(nash_pareto_graph_value(g, &o, &v, NULL, &e) < 0 && strstr(e.msg, "meta.eval.top1 is not a number"),
	      "non-numeric meta: %s", e.msg);
	nash_graph_free(g);
}

static void tsv(void)
{
	nash_err e = {{0}};
	nash_pareto_obj o[2];
	nash_pareto_obj_list("bram,top1", o, 2, &e);
	nash_pareto_set s;
	nash_pareto_set_init(&s, o, 2);
	const char *text = "# a comment\nname\tfamily\ttop1\tbram\n\na\tv1\t80.5\t12\nb\t\t70\t4\n";
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	long n = nash_pareto_read_tsv(&s, f, "t.tsv", &e);
	fclose(f);
	CHECK(n == 2 && s.v[0] == 12 && s.v[1] == 80.5 && strcmp(s.family[1], "other") == 0,
	      "TSV: alias column, comment and blank lines, empty family: %s", e.msg);
	nash_pareto_set_free(&s);

	const char *bad[][2] = {
		{"top1\tlut\n1\t2\n", "t.tsv: no column for objective 'bram18' (columns: top1, lut)"},
		{"top1\tbram\n1\n", "t.tsv:2: 1 fields, the header has 2"},
		{"top1\tbram\n1\tx\n", "t.tsv:2: column bram: 'x' is not a number"},
		{"", "t.tsv: empty input: no TSV header line"},
		{"top1\tbram\n1\tinf\n", "t.tsv:2: column bram: 'inf' is not a finite number"},
		{"top1\tbram\n1\tnan\n", "t.tsv:2: column bram: 'nan' is not a finite number"},
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		nash_pareto_set_init(&s, o, 2);
		f = bad[k][0][0] ? fmemopen((void *)bad[k][0], strlen(bad[k][0]), "r") : fopen("/dev/null", "r");
		n = nash_pareto_read_tsv(&s, f, "t.tsv", &e);
		fclose(f);
		CHECK(n < 0 && strstr(e.msg, bad[k][1]), "TSV error: %s", e.msg);
		nash_pareto_set_free(&s);
	}

	nash_pareto_set_init(&s, o, 2);
	const char *rows = "top1\tbram18\n1\t2\n3\t4\n";
	f = fmemopen((void *)rows, strlen(rows), "r");
	nash_pareto_read_tsv(&s, f, "t.tsv", &e);
	fclose(f);
	CHECK(s.n == 2 && strcmp(s.name[1], "row2") == 0, "rows without a name column are named rowN");
	nash_pareto_set_free(&s);

	CHECK(nash_pareto_plot_format("a/b.PNG") == NASH_PLOT_PNG && nash_pareto_plot_format("x.svg") == NASH_PLOT_SVG &&
	      nash_pareto_plot_format("x.pdf") == NASH_PLOT_PDF && nash_pareto_plot_format("x.jpg") == NASH_PLOT_NONE &&
	      nash_pareto_plot_format("a.png/b") == NASH_PLOT_NONE, "plot format by suffix");
	CHECK(nash_pareto_plot_probe("/nonexistent-dir/p.png", &e) < 0 &&
	      strstr(e.msg, "cannot write plot /nonexistent-dir/p.png"), "unwritable plot path: %s", e.msg);
}

int main(void)
{
	hand_made();
	mixed();
	random_sets();
	hypervolume();
	objectives();
	graphs();
	tsv();
	UNIT_DONE();
}
