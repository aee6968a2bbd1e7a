/*
 * pareto.h - Pareto fronts of model sweeps: objectives read from graph
 * meta or TSV, non-dominated sorting in any number of objectives,
 * dominance counts, hypervolume, and plots through gnuplot.
 *
 * Conventions. The numeric functions take n points of d objectives stored
 * row-major (pts[i*d + j]) with EVERY objective to be minimised: callers
 * negate the objectives to be maximised first (nash_pareto_set_minspace
 * does it for a set). Point a dominates point b when a is no worse in
 * every objective and better in at least one; equal points do not
 * dominate each other, so duplicates share a rank.
 * Like all of lib/, nothing here prints or exits: failures return -1 and
 * fill a nash_err.
 */
#ifndef NASH_PARETO_H
#define NASH_PARETO_H

#include "core/nash.h"

#define NASH_PARETO_MAXOBJ 16   /* most objectives in one analysis */

/* ------------------------------------------------------ the numerics */

/* Non-dominated sorting: rank[i] = 1 for the points no other point
 * dominates (the Pareto front), 2 for the front of what remains, ...
 * Equivalently 1 + the length of the longest chain of points dominating
 * i. O(n log n) for d <= 3 (sweeps with a balanced staircase); for d >= 4
 * bit sets of dominators, O(d n^2 / 64) word operations (pairwise checks
 * for small n, or when there are too many fronts for the sets).
 * Returns the number of fronts, or -1 if a value is NaN. */
int nash_pareto_rank(const double *pts, size_t n, int d, int *rank,
                     nash_err *e);

/* cnt[i] = how many points dominate point i (0 exactly on the front).
 * O(n log n) for d = 2, O(n log^2 n) for d = 3 (divide and conquer),
 * bit sets for d >= 4 (O(d n^2 / 64)). rank is nash_pareto_rank's output
 * (currently unused; kept so a method may skip work with it). Returns 0,
 * or -1 on NaN. */
int nash_pareto_count(const double *pts, size_t n, int d, const int *rank,
                      size_t *cnt, nash_err *e);

/* who[i] = the index of the front point (rank 1) that dominates point i
 * and lies nearest to it, distances measured with every objective
 * divided by its range over all n points (ties: the lower index); -1 for
 * the points of the front. rank as above. */
void nash_pareto_dominator(const double *pts, size_t n, int d,
                           const int *rank, long *who);

/* Hypervolume of the region dominated by the points and bounded by the
 * reference point ref (both in minimisation space): the Lebesgue measure
 * of the union of the boxes [p, ref]. Points not strictly better than
 * ref in every objective add nothing. Exact in every dimension: a sweep
 * for d = 2, a sweep over a 2-D staircase for d = 3, slicing along the
 * last objective down to 3-D for d >= 4 (its cost grows quickly with the
 * front size). Returns 0, or -1 if a value or ref is not finite. */
int nash_pareto_hypervolume(const double *pts, size_t n, int d,
                            const double *ref, double *hv, nash_err *e);

/* The default reference point (minimisation space): per objective the
 * worst value over the n points plus a tenth of the objective's range
 * (when the range is 0: a tenth of |worst|, or 1 when worst is 0), so
 * every front point adds volume. */
void nash_pareto_default_ref(const double *pts, size_t n, int d, double *ref);

/* --------------------------------------------------------- objectives */

typedef enum {
	NASH_OBJ_COLUMN = 0,  /* TSV column / a meta path such as train.loss */
	NASH_OBJ_TOP1, NASH_OBJ_TOP5,
	NASH_OBJ_LUT, NASH_OBJ_FF, NASH_OBJ_BRAM18, NASH_OBJ_URAM, NASH_OBJ_DSP,
	NASH_OBJ_FPS, NASH_OBJ_LATENCY, NASH_OBJ_PARAMS, NASH_OBJ_MACS
} nash_obj_kind;

typedef struct nash_pareto_obj {
	char name[64];        /* canonical name ("bram" becomes "bram18") */
	nash_obj_kind kind;
	int maximize;
	int dir_given;        /* the spec named the direction */
} nash_pareto_obj;

/* Parse one objective "name" or "name:min" / "name:max". Known names
 * (top1, top5, lut, ff, bram18 or bram, uram, dsp, fps, latency or
 * latency_us, params, macs) take their default direction when none is
 * given; any other name becomes a NASH_OBJ_COLUMN objective (a TSV column
 * or, when it contains a dot, a meta path), which needs a direction (see
 * nash_pareto_obj_direction). Returns 0, -1 on a malformed spec (e.g.
 * "lut:up", an empty name). */
int nash_pareto_obj_parse(const char *spec, nash_pareto_obj *o, nash_err *e);
/* -1 ("objective 'loss' has no default direction: write loss:min or
 * loss:max") for a column objective given without a direction. */
int nash_pareto_obj_direction(const nash_pareto_obj *o, nash_err *e);
/* Parse a comma-separated list into o[0..max); returns the count or -1. */
int nash_pareto_obj_list(const char *list, nash_pareto_obj *o, int max,
                         nash_err *e);
/* The known names, comma-separated, for messages. */
const char *nash_pareto_obj_names(void);

/* Value of objective o in graph g (g validated, so counting works):
 * top1/top5 from meta.eval, else meta.train; resources from
 * meta.est.total.<name>; fps from meta.est.fps; latency from
 * meta.est.latency_us; params and macs counted from the nodes; a
 * column objective whose name holds a dot reads that meta path. *single
 * (may be NULL) is set when the value was stored as float32. Fails with
 * "graph NAME: no meta.est (run nash-est first)" and the like, or when
 * a column objective has no dot (not a graph quantity). */
int nash_pareto_graph_value(nash_graph *g, const nash_pareto_obj *o,
                            double *v, int *single, nash_err *e);
/* "v1".."v4" (meta.gen.nash, any string kept as is) or "baseline". */
const char *nash_pareto_graph_family(const nash_graph *g);
/* meta.quant.preset ("w2a2") or NULL. */
const char *nash_pareto_graph_bits(const nash_graph *g);

/* ----------------------------------------------------------- point sets */

typedef struct nash_pareto_set {
	int d;
	nash_pareto_obj obj[NASH_PARETO_MAXOBJ];
	size_t n, cap;
	double *v;            /* n*d values in the objectives' own directions */
	unsigned char *single;/* n*d: value was float32 (print fewer digits) */
	char **name, **family, **bits;  /* bits[i] may be NULL */
	char **part;          /* meta.est.part or NULL */
	double *clock;        /* meta.est.clock_mhz or 0 */
} nash_pareto_set;

/* An empty set over the d objectives o. */
void nash_pareto_set_init(nash_pareto_set *s, const nash_pareto_obj *o, int d);
void nash_pareto_set_free(nash_pareto_set *s);
/* Append one point (values in the objectives' directions); strings are
 * copied, family NULL means "other", bits and part may be NULL. */
void nash_pareto_set_add(nash_pareto_set *s, const char *name,
                         const char *family, const char *bits,
                         const double *v, const unsigned char *single);
/* Read every objective of graph g and append it as a point. */
int nash_pareto_set_add_graph(nash_pareto_set *s, nash_graph *g, nash_err *e);
/* Read a TSV table from f (label names it in messages): a header line of
 * column names, then one point per line. Columns "name", "family" and
 * "bits" are used when present (else names are "row1", "row2", ...
 * and the family "other"); each objective needs a column of its name
 * (or of an alias: bram/bram18, latency/latency_us). Blank lines and
 * lines starting with '#' are skipped. Fails on a missing column (the
 * message lists the columns), a short row or a value that is not a
 * number, naming file and line. Returns the number of rows read. */
long nash_pareto_read_tsv(nash_pareto_set *s, FILE *f, const char *label,
                          nash_err *e);
/* A malloc'd n*d copy of the values with maximised objectives negated. */
double *nash_pareto_set_minspace(const nash_pareto_set *s);

/* Everything nash-pareto reports per point. */
typedef struct nash_pareto_result {
	int nfronts;
	int *rank;            /* n */
	size_t *dominated_by; /* n */
	long *dominator;      /* n: nearest dominating front point or -1 */
} nash_pareto_result;
int nash_pareto_analyze(const nash_pareto_set *s, nash_pareto_result *r,
                        nash_err *e);
void nash_pareto_result_free(nash_pareto_result *r);

/* Shortest decimal text that reads back as v (as a float when single),
 * in plain decimals unless v is tiny or huge; buf holds >= 32 bytes. */
char *nash_pareto_num(char *buf, double v, int single);

/* --------------------------------------------------------------- plots */

typedef enum { NASH_PLOT_NONE = 0, NASH_PLOT_PNG, NASH_PLOT_SVG,
	NASH_PLOT_PDF } nash_plot_fmt;
/* Format from the file name's suffix (case-insensitive), or NONE. */
nash_plot_fmt nash_pareto_plot_format(const char *path);

typedef struct nash_plot {
	const char *path;          /* .png, .svg or .pdf */
	const char *xlabel, *ylabel, *title;
	int xmax, ymax;            /* larger is better on that axis */
	int steps;                 /* draw the front as a step line */
	size_t n;
	const double *x, *y;       /* in the objectives' own directions */
	const int *rank;           /* rank 1 points are ringed */
	char *const *label;        /* point labels */
	char *const *family;       /* style: baseline, v1..v4, anything else
	                              is drawn as "other" */
} nash_plot;

/* Check that path can be created (a temporary is made next to it and
 * removed); -1 with "cannot write plot PATH: reason" otherwise. */
int nash_pareto_plot_probe(const char *path, nash_err *e);
/* Draw the plot with gnuplot (found on PATH) and the template
 * <share>/pareto.gp; the file is written under a temporary name and
 * renamed into place, so a failure leaves nothing behind. Fails when
 * gnuplot is missing, when the template is missing, or when gnuplot
 * fails (the message quotes its first error line). */
int nash_pareto_plot(const nash_plot *p, nash_err *e);

#endif
