/* bench_pareto.c - how fast nash-pareto's analysis is on 100,000 random
 * points: reading the TSV table, non-dominated sorting, dominance counts,
 * nearest dominators, hypervolume; in 2 and 3 objectives, for uniform
 * points (few on the front) and for a trade-off curve (many on it).
 * The ratio line compares the sort with the pairwise definition measured
 * in the same run. No arguments; prints its own figures. */
#include "pareto/pareto.h"

#include <stdlib.h>
#include <string.h>

static double now(void) { return nash_now(); }

/* Points in the objectives' directions (x min, y max, z min). */
static void make(nash_rng *r, double *v, size_t n, int d, int curve)
{
	for (size_t i = 0; i < n; i++) {
		double *p = v + i * (size_t)d;
		if (curve) { /* near the surface sum = 1: hundreds on the front */
			double a = nash_rng_uniform(r), b = nash_rng_uniform(r) * (1 - a);
			p[0] = a * 1e5 + 200 * nash_rng_uniform(r);
			p[1] = 100 * (1 - (d == 2 ? 1 - a : b)) + 0.2 * nash_rng_uniform(r);
			if (d >= 3)
				p[2] = (1 - a - b) * 1e3 + 2 * nash_rng_uniform(r);
		} else {
			p[0] = (double)nash_rng_below(r, 200000);
			p[1] = 50 + 50 * nash_rng_uniform(r);
			if (d >= 3)
				p[2] = 1000 * nash_rng_uniform(r);
		}
		if (d == 4)
			p[3] = (double)nash_rng_below(r, 2000);
	}
}

static double run(const char *what, size_t n, int d, int curve, nash_rng *rng)
{
	nash_err e = {{0}};
	nash_pareto_obj o[4];
	nash_pareto_obj_list(d == 2 ? "lut,top1" : d == 3 ? "lut,top1,latency" : "lut,top1,latency,bram", o, 4, &e);
	double *v = malloc(n * (size_t)d * sizeof *v);
	make(rng, v, n, d, curve);

	/* the table as nash-pareto reads it */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	fprintf(f, "name\tfamily");
	for (int j = 0; j < d; j++)
		fprintf(f, "\t%s", o[j].name);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "p%zu\tv%zu", i, i % 5);
		for (int j = 0; j < d; j++)
			fprintf(f, "\t%.9g", v[i * (size_t)d + j]);
		fputc('\n', f);
	}
	fclose(f);

	double t0 = now();
	nash_pareto_set s;
	nash_pareto_set_init(&s, o, d);
	f = fmemopen(text, len, "r");
	if (nash_pareto_read_tsv(&s, f, "bench", &e) != (long)n) {
		fprintf(stderr, "bench_pareto: %s\n", e.msg);
		exit(1);
	}
	fclose(f);
	double t1 = now();
	double *m = nash_pareto_set_minspace(&s);
	int *rank = malloc(n * sizeof *rank);
	size_t *cnt = malloc(n * sizeof *cnt);
	long *who = malloc(n * sizeof *who);
	int nf = nash_pareto_rank(m, n, d, rank, &e);
	double t2 = now();
	nash_pareto_count(m, n, d, rank, cnt, &e);
	double t3 = now();
	nash_pareto_dominator(m, n, d, rank, who);
	double t4 = now();
	double ref[4], hv;
	nash_pareto_default_ref(m, n, d, ref);
	size_t k = 0; /* as nash-pareto does: the front alone */
	for (size_t i = 0; i < n; i++)
		if (rank[i] == 1)
			memmove(m + k++ * (size_t)d, m + i * (size_t)d, (size_t)d * sizeof *m);
	nash_pareto_hypervolume(m, k, d, ref, &hv, &e);
	double t5 = now();
	size_t front = 0;
	for (size_t i = 0; i < n; i++)
		front += rank[i] == 1;
	printf("pareto: %zu points, %d objectives, %s: %.3f s (read %.3f, ranks %.3f, dominated_by %.3f, "
	       "dominators %.3f, hypervolume %.3f); %d fronts, %zu points on the front\n",
	       n, d, what, t5 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, nf, front);
	free(m);
	free(rank);
	free(cnt);
	free(who);
	free(v);
	free(text);
	nash_pareto_set_free(&s);
	return t5 - t0;
}

/* Rank by the definition: peel fronts with pairwise checks. */
static double pairwise(const double *p, size_t n, int d)
{
	double t0 = now();
	int *rank = calloc(n, sizeof *rank);
	char *now_ = malloc(n);
	size_t done = 0;
	for (int f = 1; done < n; f++) {
		for (size_t i = 0; i < n; i++) {
			now_[i] = 0;
			if (rank[i])
				continue;
			int free_ = 1;
			for (size_t j = 0; j < n && free_; j++) {
				if (rank[j] || j == i)
					continue;
				int le = 1, lt = 0;
				for (int k = 0; k < d; k++) {
					le &= p[j * d + k] <= p[i * d + k];
					lt |= p[j * d + k] < p[i * d + k];
				}
				free_ = !(le && lt);
			}
			now_[i] = (char)free_;
		}
		for (size_t i = 0; i < n; i++)
			if (now_[i]) {
				rank[i] = f;
				done++;
			}
	}
	free(now_);
	free(rank);
	return now() - t0;
}

int main(void)
{
	nash_rng rng;
	nash_rng_seed(&rng, 2024);
	const size_t n = 100000;
	double worst2 = 0, worst3 = 0, t;
	t = run("uniform", n, 2, 0, &rng);
	worst2 = t > worst2 ? t : worst2;
	t = run("trade-off curve", n, 2, 1, &rng);
	worst2 = t > worst2 ? t : worst2;
	t = run("uniform", n, 3, 0, &rng);
	worst3 = t > worst3 ? t : worst3;
	t = run("trade-off surface", n, 3, 1, &rng);
	worst3 = t > worst3 ? t : worst3;
	double t4 = run("uniform", n, 4, 0, &rng);

	/* the sort against the pairwise definition on a smaller set */
	size_t m = 4000;
	double *p = malloc(m * 3 * sizeof *p);
	for (size_t i = 0; i < m * 3; i++)
		p[i] = nash_rng_uniform(&rng);
	int *rank = malloc(m * sizeof *rank);
	nash_err e = {{0}};
	double t0 = now();
	int reps = 50;
	for (int r = 0; r < reps; r++)
		nash_pareto_rank(p, m, 3, rank, &e);
	double fast = (now() - t0) / reps, slow = pairwise(p, m, 3);
	printf("pareto: ranks of %zu 3-objective points %.0fx faster than peeling fronts pairwise (%.4f s vs %.3f s)\n",
	       m, slow / fast, fast, slow);
	printf("pareto: 100000 points in %.2f s (2 objectives), %.2f s (3 objectives), worst case of the runs above; "
	       "%.2f s with 4 objectives\n", worst2, worst3, t4);
	free(p);
	free(rank);
	return 0;
}
