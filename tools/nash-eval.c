/* nash-eval - run every graph of a stream over a dataset split and record
 * top-1, top-5, per-class accuracy and the confusion matrix in meta.eval;
 * --compare measures how often two graphs agree; --exact runs float-level
 * graphs in the exact arithmetic of nash-ops(7) (lib/streamline's
 * reference interpreter) instead of the float32 engine. */
#include "tool.h"
#include "data/data.h"
#include "train/train.h"
#include "hwexec/hwexec.h"
#include "streamline/streamline.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
"Usage: nash-eval [OPTION]... [FILE]...\n"
"Evaluate every graph of nash streams (stdin when no FILE is given) on a\n"
"dataset split and write the graphs, with meta.eval, to stdout.\n"
"\n"
"  -d, --data SPEC        fashion-mnist (default), mnist:DIR, idx:DIR or DIR,\n"
"                         cifar10:FILE.tar.gz, cifar10:DIR (see nash-train(1))\n"
"  -S, --split NAME       test (default), train or val\n"
"      --val-split F      the validation fraction the graph was trained with\n"
"                         (with the same --seed), needed for --split val\n"
"  -s, --seed N           seed of the validation split (default 1)\n"
"      --limit N          only the first N images of the split (for val: of\n"
"                         the training set before the split, as nash-train)\n"
"  -b, --batch N          images per forward pass (default 256)\n"
"  -j, --threads N        threads (default 0: every core)\n"
"      --compare FILE     also run the graph(s) of FILE (one for every input\n"
"                         graph, or one for all) and report how often both\n"
"                         predict the same class\n"
"  -x, --exact            run float-level (fake-quant) graphs in the exact\n"
"                         arithmetic of nash-ops(7), in double precision,\n"
"                         instead of the float32 engine (slower); hardware\n"
"                         graphs are exact on the integer executor anyway\n"
"  -t, --tsv              print the results as TSV on stdout instead of the\n"
"                         stream: one row for all images, one per class\n"
"                         with its confusion-matrix row\n"
"  -q, --quiet            no summary lines on stderr\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"Exit status: 0 on success, 1 on bad data or I/O errors, 2 on usage errors.\n"
"See nash-eval(1).\n";

static struct {
	const char *data, *split, *compare;
	double val_frac;
	uint64_t seed;
	int64_t limit;
	int batch, threads, tsv, header, exact;
} opt = {.data = "fashion-mnist", .split = "test", .seed = 1, .batch = 256};

static nash_dataset *data;
static const nash_split *split;
static nash_graph **ref;
static int nref;
static long ngraph;

/* Rank of class y among k scores (as nash_score_rank, in double). */
static int rank_of(const double *s, int k, int y)
{
	int r = 0;
	for (int j = 0; j < k; j++)
		r += s[j] > s[y] || (s[j] == s[y] && j < y);
	return r;
}

/* Evaluate a float-level graph with the reference interpreter: every
 * value exact (double precision on the float32 parameters, ties decided
 * as nash-ops(7) says), one interpreter per thread, images split between
 * the threads. Fills r as nash_evaluate does with detail. */
static int run_exact(const nash_graph *g, nash_evalres *r, nash_err *e)
{
	int64_t n = split->n, npix = (int64_t)data->c * data->h * data->w;
	int K = data->classes;
	memset(r, 0, sizeof *r);
	r->classes = K;
	r->confusion = nash_alloc(sizeof *r->confusion * (size_t)K * (size_t)K);
	r->pred = nash_alloc(sizeof *r->pred * (size_t)(n > 0 ? n : 1));
	r->class_n = nash_alloc(sizeof(int64_t) * (size_t)K);
	r->class_top1 = nash_alloc(sizeof(int64_t) * (size_t)K);
	r->class_top5 = nash_alloc(sizeof(int64_t) * (size_t)K);
	int32_t *rank = nash_alloc(sizeof *rank * (size_t)(n > 0 ? n : 1));
	double *loss = nash_alloc(sizeof *loss * (size_t)(n > 0 ? n : 1));
	const nash_tensor *in = nash_graph_shape(g, g->inputs[0].name);
	int64_t nin = in ? nash_tensor_numel(in) : npix;
	int nt = opt.threads > 0 ? opt.threads : omp_get_max_threads();
	if (nt > n)
		nt = n > 0 ? (int)n : 1;
	int failed = 0;
	#pragma omp parallel num_threads(nt)
	{
		nash_err te = {{0}};
		nash_ref *rf = nash_ref_new(g, &te);
		double *x = nash_alloc(sizeof *x * (size_t)(nin > npix ? nin : npix));
		double *lg = nash_alloc(sizeof *lg * (size_t)K);
		int bad = rf == NULL;
		#pragma omp for schedule(dynamic, 16)
		for (int64_t i = 0; i < n; i++) {
			if (bad || failed)
				continue;
			const double *ip[1] = {x};
			int64_t topk = 0;
			if (nash_ref_pixels(g, 0, split->x + i * npix, data->c, data->h, data->w, x, &te) < 0
			    || nash_ref_run(rf, ip, &te) < 0) {
				bad = 1;
				continue;
			}
			if (nash_ref_logits(rf, lg, K, &topk) != K) {
				nash_fail(&te, "the output does not hold %d logits", K);
				bad = 1;
				continue;
			}
			int y = split->y[i], p = 0;
			double mx = lg[0], se = 0;
			for (int j = 1; j < K; j++)
				if (lg[j] > lg[p])
					p = j, mx = lg[j];
			for (int j = 0; j < K; j++)
				se += exp(lg[j] - mx);
			r->pred[i] = p;
			rank[i] = rank_of(lg, K, y);
			loss[i] = log(se) + mx - lg[y];
		}
		if (bad) {
			#pragma omp critical
			{
				if (!failed)
					*e = te;
				failed = 1;
			}
		}
		nash_ref_free(rf);
		free(x);
		free(lg);
	}
	if (!failed) {
		double ls = 0;
		for (int64_t i = 0; i < n; i++) {
			int y = split->y[i];
			r->top1 += rank[i] < 1;
			r->top5 += rank[i] < 5;
			r->confusion[(size_t)y * K + r->pred[i]]++;
			r->class_n[y]++;
			r->class_top1[y] += rank[i] < 1;
			r->class_top5[y] += rank[i] < 5;
			ls += loss[i];
		}
		r->n = n;
		r->loss = n > 0 ? ls / (double)n : NAN;
	} else
		nash_evalres_free(r);
	free(rank);
	free(loss);
	return failed ? -1 : 0;
}

/* Evaluate one graph over the split: float-level graphs on the training
 * engine (or, with --exact, the reference interpreter), hardware graphs
 * on the integer executor. */
static int run(nash_graph *g, nash_evalres *r, const char **executor, nash_err *e)
{
	if (nash_dataset_check_graph(data, g, e) < 0)
		return -1;
	int rc;
	if (nash_graph_hw_node(g)) {
		*executor = "integer";
		nash_hwnet *h = nash_hwnet_new(g, opt.batch, opt.threads, e);
		if (!h)
			return -1;
		rc = nash_evaluate_hw(h, opt.batch, data, split, 0, 1, r, e);
		nash_hwnet_free(h);
	} else if (opt.exact) {
		*executor = "exact";
		rc = run_exact(g, r, e);
	} else {
		*executor = "float";
		nash_net_opts no = {.batch = opt.batch, .train = 0, .threads = opt.threads};
		nash_net *net = nash_net_new(g, &no, e);
		if (!net)
			return -1;
		rc = nash_evaluate(net, opt.batch, data, split, 0, 1, r, e);
		nash_net_free(net);
	}
	if (rc < 0 && strncmp(e->msg, "graph ", 6))
		nash_err_prefix(e, "graph %s: ", g->name);
	return rc;
}

static double pct(int64_t a, int64_t b)
{
	return b > 0 ? 100.0 * (double)a / (double)b : NAN;
}

static void tsv(const nash_graph *g, const nash_evalres *r, const nash_evalres *c)
{
	int k = r->classes;
	if (!opt.header++) {
		printf("graph\tclass\tname\timages\ttop1\ttop5");
		if (c)
			printf("\tagree");
		for (int j = 0; j < k; j++)
			printf("\tpred_%d", j);
		printf("\n");
	}
	printf("%s\tall\t-\t%lld\t%.2f\t%.2f", g->name, (long long)r->n, pct(r->top1, r->n), pct(r->top5, r->n));
	int64_t agree = 0;
	if (c) {
		for (int64_t i = 0; i < r->n; i++)
			agree += r->pred[i] == c->pred[i];
		printf("\t%.2f", pct(agree, r->n));
	}
	for (int j = 0; j < k; j++) {
		int64_t s = 0;
		for (int i = 0; i < k; i++)
			s += r->confusion[(size_t)i * k + j];
		printf("\t%lld", (long long)s);
	}
	printf("\n");
	for (int i = 0; i < k; i++) {
		printf("%s\t%d\t%s\t%lld\t%.2f\t%.2f", g->name, i, data->class_names ? data->class_names[i] : "-",
		       (long long)r->class_n[i], pct(r->class_top1[i], r->class_n[i]), pct(r->class_top5[i], r->class_n[i]));
		if (c) {
			int64_t a = 0;
			for (int64_t m = 0; m < r->n; m++)
				a += split->y[m] == i && r->pred[m] == c->pred[m];
			printf("\t%.2f", pct(a, r->class_n[i]));
		}
		for (int j = 0; j < k; j++)
			printf("\t%lld", (long long)r->confusion[(size_t)i * k + j]);
		printf("\n");
	}
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	long gi = ngraph++;
	double t0 = nash_now();
	nash_evalres r, c;
	const char *exec, *rexec = NULL;
	if (run(g, &r, &exec, e) < 0)
		return -1;
	nash_graph *rg = NULL;
	if (opt.compare) {
		if (nref > 1 && gi >= nref) {
			nash_evalres_free(&r);
			return nash_fail(e, "%s holds %d graphs but the input has more", opt.compare, nref);
		}
		rg = ref[nref == 1 ? 0 : gi];
		if (run(rg, &c, &rexec, e) < 0) {
			nash_err_prefix(e, "%s: ", opt.compare);
			nash_evalres_free(&r);
			return -1;
		}
	}
	int k = r.classes;
	nash_val *m = nash_val_map();
	nash_val_set(m, "dataset", nash_val_str(opt.data));
	nash_val_set(m, "split", nash_val_str(opt.split));
	nash_val_set(m, "images", nash_val_int(r.n));
	nash_val_set(m, "executor", nash_val_str(exec));
	nash_val_set(m, "top1", nash_val_f64(pct(r.top1, r.n)));
	nash_val_set(m, "top5", nash_val_f64(pct(r.top5, r.n)));
	if (isfinite(r.loss))   /* integer graphs have no loss */
		nash_val_set(m, "loss", nash_val_f64(r.loss));
	nash_val *pc = nash_val_arr(), *cm = nash_val_arr();
	for (int i = 0; i < k; i++) {
		nash_val *ci = nash_val_map();
		nash_val_set(ci, "class", nash_val_int(i));
		if (data->class_names)
			nash_val_set(ci, "name", nash_val_str(data->class_names[i]));
		nash_val_set(ci, "images", nash_val_int(r.class_n[i]));
		if (r.class_n[i]) {
			nash_val_set(ci, "top1", nash_val_f64(pct(r.class_top1[i], r.class_n[i])));
			nash_val_set(ci, "top5", nash_val_f64(pct(r.class_top5[i], r.class_n[i])));
		}
		nash_val_push(pc, ci);
		nash_val_push(cm, nash_val_ints(r.confusion + (size_t)i * k, (size_t)k));
	}
	nash_val_set(m, "per_class", pc);
	nash_val_set(m, "confusion", cm);
	double agree = NAN;
	if (rg) {
		int64_t a = 0;
		for (int64_t i = 0; i < r.n; i++)
			a += r.pred[i] == c.pred[i];
		agree = pct(a, r.n);
		nash_val *cv = nash_val_map();
		nash_val_set(cv, "file", nash_val_str(opt.compare));
		nash_val_set(cv, "graph", nash_val_str(rg->name));
		nash_val_set(cv, "agree", nash_val_f64(agree));
		nash_val_set(cv, "disagree_images", nash_val_int(r.n - a));
		nash_val_set(cv, "top1", nash_val_f64(pct(c.top1, c.n)));
		nash_val_set(cv, "executor", nash_val_str(rexec));
		nash_val_set(m, "compare", cv);
	}
	nash_val_set(m, "seconds", nash_val_f64(nash_now() - t0));
	nash_val_set(g->meta, "eval", m);
	char extra[160] = "";
	if (rg)
		snprintf(extra, sizeof extra, "; agrees with %s (top1 %.2f%%) on %.2f%%", rg->name, pct(c.top1, c.n), agree);
	note("graph %s: %s %lld images: top1 %.2f%% top5 %.2f%%%s", g->name, opt.split, (long long)r.n,
	     pct(r.top1, r.n), pct(r.top5, r.n), extra);
	if (opt.tsv)
		tsv(g, &r, rg ? &c : NULL);
	nash_evalres_free(&r);
	if (rg)
		nash_evalres_free(&c);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_VAL = OPT_TOOL_BASE, O_LIMIT, O_COMPARE };
	static const struct option lo[] = {
		{"data", required_argument, 0, 'd'}, {"split", required_argument, 0, 'S'},
		{"val-split", required_argument, 0, O_VAL}, {"seed", required_argument, 0, 's'},
		{"limit", required_argument, 0, O_LIMIT}, {"batch", required_argument, 0, 'b'},
		{"threads", required_argument, 0, 'j'}, {"compare", required_argument, 0, O_COMPARE},
		{"tsv", no_argument, 0, 't'}, {"exact", no_argument, 0, 'x'}, TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	int c;
	nash_err e = {{0}};
	tool_init("nash-eval", argc, argv);
	while ((c = getopt_long(argc, argv, "d:S:s:b:j:txqh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'd': opt.data = optarg; break;
		case 'S':
			tool_choice("split", optarg, (const char *[]){"test", "train", "val", NULL});
			opt.split = optarg;
			break;
		case O_VAL: opt.val_frac = tool_float("val-split", optarg, 0, 0.99); break;
		case 's': opt.seed = (uint64_t)tool_int("seed", optarg, 0, 1L << 62); break;
		case O_LIMIT: opt.limit = tool_int("limit", optarg, 1, 1L << 40); break;
		case 'b': opt.batch = (int)tool_int("batch", optarg, 1, 65536); break;
		case 'j': opt.threads = (int)tool_int("threads", optarg, 0, 1024); break;
		case O_COMPARE: opt.compare = optarg; break;
		case 't': opt.tsv = 1; break;
		case 'x': opt.exact = 1; break;
		case 'q': tool_quiet = 1; break;
		default: die_usage("unknown option");
		}
	}
	if (!strcmp(opt.split, "val") && opt.val_frac <= 0)
		die_usage("--split val needs --val-split F (the fraction training used)");
	if (opt.compare) {
		if ((nref = nash_read_graphs_file(opt.compare, &ref, &e)) < 0)
			die("%s", e.msg);
		if (nref == 0)
			die("%s: no graph to compare with", opt.compare);
		for (int i = 0; i < nref; i++)
			if (nash_graph_validate(ref[i], &e) < 0)
				die("%s: %s", opt.compare, e.msg);
	}
	/* --limit as nash-train's: the first images of the training and test
	 * files (the loader stops there); the validation split is carved from
	 * the limited training images, so the same --limit gives the same one */
	data = nash_dataset_load(opt.data, opt.limit, opt.val_frac, opt.seed, &e);
	if (!data)
		die("%s", e.msg);
	if (!(split = nash_dataset_split(data, opt.split, &e)))
		die("%s", e.msg);
	tool_each_graph(argv + optind, argc - optind, each, NULL, !opt.tsv);
	nash_dataset_free(data);
	for (int i = 0; i < nref; i++)
		nash_graph_free(ref[i]);
	free(ref);
	return 0;
}
