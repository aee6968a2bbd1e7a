/* nash-pareto - Pareto fronts of a sweep: rank graphs (objectives from
 * their meta) or TSV rows by non-dominated sorting; print a table, the
 * hypervolume, a gnuplot plot. */
#include "tool.h"
#include "pareto/pareto.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
"Usage: nash-pareto [OPTION]... [FILE]...\n"
"Rank the models of a sweep by Pareto dominance. Reads nash graph streams\n"
"(objectives from each graph's meta) or TSV tables, from FILEs or stdin;\n"
"prints a TSV table: name, family, bits, the objectives, rank (1 = on the\n"
"Pareto front), dominated_by (how many points dominate it) and dominator\n"
"(the nearest front point that dominates it).\n"
"\n"
"Objectives (default: --x lut --y top1):\n"
"  -x, --x NAME[:min|max]     first objective, the plot's x axis\n"
"  -y, --y NAME[:min|max]     second objective, the plot's y axis\n"
"  -O, --objectives LIST      any number of objectives, comma-separated,\n"
"                             e.g. lut:min,bram:min,top1:max\n"
"      NAME is top1, top5, lut, ff, bram18 (bram), uram, dsp, fps, latency,\n"
"      params, macs (with their usual direction), a meta path such as\n"
"      train.loss:min, or any TSV column with :min or :max.\n"
"\n"
"Input and output:\n"
"      --tsv-in               the input is TSV (default: told by its first byte)\n"
"  -f, --front                list only the points of the front (rank 1)\n"
"  -o, --output FILE          write the table (or hypervolume) to FILE, atomically\n"
"      --pass                 copy the graph stream to stdout, so nash-pareto can\n"
"                             sit inside a pipeline; the table goes to --output\n"
"  -p, --plot FILE            plot the first two objectives with gnuplot: the front\n"
"                             as a step line, points labelled, a style per family;\n"
"                             FILE ends in .png, .svg or .pdf\n"
"      --title TEXT           the plot's title\n"
"  -H, --hypervolume          print the hypervolume of the front instead of the table\n"
"  -r, --ref NAME=V,...       hypervolume reference point (default per objective:\n"
"                             the worst value plus a tenth of the range)\n"
"  -q, --quiet                no notes or warnings on stderr\n"
"  -h, --help                 show this help\n"
"      --version              show the version\n"
"\n"
"Exit status: 0 ok, 1 bad input or I/O (including a failed plot), 2 usage.\n"
"See nash-pareto(1).\n";

enum { OPT_TSV_IN = OPT_TOOL_BASE, OPT_PASS, OPT_TITLE };

static struct {
	nash_pareto_obj obj[NASH_PARETO_MAXOBJ];
	int d;
	const char *plot, *output, *title, *ref;
	int hv, pass, tsv_in, front_only;
} opt;

static nash_pareto_set set;

/* ---------------------------------------------------------------- input */

static int graph_byte(int c)
{
	return (c & 0xf0) == 0x80 || c == 0xde || c == 0xdf;
}

static int text_byte(int c)
{
	return c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f) || c >= 0xc2;
}

typedef struct {
	int in, out;
	unsigned char first;
} copyjob;

/* Feeds the byte already taken from stdin, then the rest of it, into the
 * pipe that has become fd 0. */
static void *copier(void *arg)
{
	copyjob *j = arg;
	char buf[65536];
	nash_err e = {{0}};
	if (nash_write_all(j->out, &j->first, 1, &e) == 0)
		for (;;) {
			ssize_t n = read(j->in, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || nash_write_all(j->out, buf, (size_t)n, &e) < 0)
				break;
		}
	close(j->out);
	close(j->in);
	return NULL;
}

/* The first byte of stdin (-1 when empty), leaving fd 0 to deliver the
 * whole input still. */
static int peek_stdin(void)
{
	unsigned char c;
	struct stat st;
	if (fstat(0, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t at = lseek(0, 0, SEEK_CUR);
		if (at >= 0) {
			ssize_t n = pread(0, &c, 1, at);
			return n == 1 ? c : -1;
		}
	}
	ssize_t n;
	do
		n = read(0, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("stdin: read error: %s", strerror(errno));
	if (n == 0)
		return -1;
	static copyjob job;
	int p[2];
	if (pipe(p) < 0)
		die("pipe: %s", strerror(errno));
	job.in = dup(0);
	job.out = p[1];
	job.first = c;
	if (job.in < 0 || dup2(p[0], 0) < 0)
		die("stdin: %s", strerror(errno));
	close(p[0]);
	pthread_t t;
	if (pthread_create(&t, NULL, copier, &job) != 0)
		die("cannot start a thread");
	pthread_detach(t);
	return c;
}

/* 1 if FILE ("-" = stdin) holds a graph stream, 0 if a TSV table. */
static int is_graphs(const char *file)
{
	if (opt.tsv_in)
		return 0;
	int c;
	if (strcmp(file, "-") == 0) {
		c = peek_stdin();
	} else {
		FILE *f = fopen(file, "rb");
		if (!f)
			die("%s: %s", file, strerror(errno));
		c = fgetc(f);
		fclose(f);
	}
	/* empty or binary input goes to the stream reader, whose messages
	 * say what is wrong with it */
	return c < 0 || graph_byte(c) || !text_byte(c);
}

static void check_graph_objectives(void)
{
	nash_err e = {{0}};
	for (int j = 0; j < opt.d; j++) {
		const nash_pareto_obj *o = &opt.obj[j];
		if (o->kind == NASH_OBJ_COLUMN && !strchr(o->name, '.'))
			die("unknown objective '%s' (known: %s; or a meta path such as train.loss:min)", o->name,
			    nash_pareto_obj_names());
		if (nash_pareto_obj_direction(o, &e) < 0)
			die_usage("%s", e.msg);
	}
}

static int add_graph(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	return nash_pareto_set_add_graph(&set, g, e) < 0 ? -1 : 0;
}

static void read_graphs(char **files, int n)
{
	if (n == 0)
		return;
	check_graph_objectives();
	tool_each_graph(files, n, add_graph, NULL, opt.pass);
}

static void read_tsv(const char *file)
{
	nash_err e = {{0}};
	const char *label = strcmp(file, "-") ? file : "stdin";
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f)
		die("%s: %s", file, strerror(errno));
	if (opt.pass) {
		/* a table is a usage error; bytes that are no table either are bad data */
		char *line = NULL;
		size_t cap = 0;
		ssize_t len = getline(&line, &cap, f);
		for (ssize_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)line[k];
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				die("%s:1: binary data (byte 0x%02x): neither a TSV table nor a nash stream", label, c);
		}
		die_usage("--pass copies a graph stream, but %s is a TSV table", label);
	}
	long rows = nash_pareto_read_tsv(&set, f, label, &e);
	if (f != stdin)
		fclose(f);
	if (rows < 0)
		die("%s", e.msg);
	for (int j = 0; j < opt.d; j++)
		if (nash_pareto_obj_direction(&opt.obj[j], &e) < 0)
			die_usage("%s", e.msg);
}

static void read_inputs(char **files, int nfiles)
{
	static char *dash[] = {"-"};
	if (nfiles == 0) {
		files = dash;
		nfiles = 1;
	}
	int run = 0; /* start of the current run of graph files */
	for (int i = 0; i < nfiles; i++) {
		if (is_graphs(files[i]))
			continue;
		read_graphs(files + run, i - run);
		read_tsv(files[i]);
		run = i + 1;
	}
	read_graphs(files + run, nfiles - run);
}

/* ---------------------------------------------------------------- output */

static void add_objective(const char *spec)
{
	nash_err e = {{0}};
	if (opt.d == NASH_PARETO_MAXOBJ)
		die_usage("more than %d objectives", NASH_PARETO_MAXOBJ);
	if (nash_pareto_obj_parse(spec, &opt.obj[opt.d], &e) < 0)
		die_usage("%s", e.msg);
	for (int k = 0; k < opt.d; k++)
		if (strcmp(opt.obj[k].name, opt.obj[opt.d].name) == 0)
			die_usage("objective '%s' given twice", opt.obj[k].name);
	opt.d++;
}

/* Reference point in minimisation space: the default rule, then --ref. */
static void reference(const double *m, double *ref)
{
	nash_pareto_default_ref(m, set.n, set.d, ref);
	if (!opt.ref)
		return;
	char *list = nash_strdup(opt.ref), *save = NULL;
	for (char *it = strtok_r(list, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '=');
		if (!eq)
			die_usage("--ref: '%s' is not NAME=VALUE", it);
		*eq = 0;
		nash_pareto_obj o;
		nash_err e = {{0}};
		if (nash_pareto_obj_parse(it, &o, &e) < 0)
			die_usage("--ref: %s", e.msg);
		int j = 0;
		while (j < set.d && strcmp(set.obj[j].name, o.name) != 0)
			j++;
		if (j == set.d)
			die_usage("--ref: '%s' is not one of the objectives", it);
		double v = tool_float("ref", eq + 1, -INFINITY, INFINITY);
		ref[j] = set.obj[j].maximize ? -v : v;
	}
	free(list);
}

/* 12 significant digits: enough to compare sweeps, no float noise. */
static char *g12(char *buf, double v)
{
	snprintf(buf, 32, "%.12g", v == 0 ? 0.0 : v);
	if (strchr(buf, 'e') && fabs(v) >= 1e-4 && fabs(v) < 1e15) {
		double back = strtod(buf, NULL);
		return nash_pareto_num(buf, back, 0);
	}
	return buf;
}

static char *ref_text(const double *ref)
{
	char *s = NULL, num[32];
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	for (int j = 0; j < set.d; j++)
		fprintf(f, "%s%s=%s", j ? "," : "", set.obj[j].name, g12(num, set.obj[j].maximize ? -ref[j] : ref[j]));
	fclose(f);
	return s;
}

/* The hypervolume of the front (ranks given), reference text in *refs. */
static double hypervolume(const int *rank, char **refs, size_t *nfront)
{
	nash_err e = {{0}};
	double *m = nash_pareto_set_minspace(&set), ref[NASH_PARETO_MAXOBJ], hv;
	reference(m, ref);
	size_t k = 0, d = (size_t)set.d;
	for (size_t i = 0; i < set.n; i++) /* the front alone has the same volume */
		if (rank[i] == 1)
			memmove(m + k++ * d, m + i * d, d * sizeof *m);
	*nfront = k;
	if (nash_pareto_hypervolume(m, k, set.d, ref, &hv, &e) < 0)
		die("%s", e.msg);
	*refs = ref_text(ref);
	free(m);
	return hv;
}

static void table(FILE *f, const nash_pareto_result *r)
{
	char num[32];
	fprintf(f, "name\tfamily\tbits");
	for (int j = 0; j < set.d; j++)
		fprintf(f, "\t%s", set.obj[j].name);
	fprintf(f, "\trank\tdominated_by\tdominator\n");
	for (size_t i = 0; i < set.n; i++) {
		if (opt.front_only && r->rank[i] != 1)
			continue;
		fprintf(f, "%s\t%s\t%s", set.name[i], set.family[i], set.bits[i] ? set.bits[i] : "-");
		for (int j = 0; j < set.d; j++)
			fprintf(f, "\t%s", nash_pareto_num(num, set.v[i * (size_t)set.d + j],
			                                   set.single[i * (size_t)set.d + j]));
		fprintf(f, "\t%d\t%zu\t%s\n", r->rank[i], r->dominated_by[i],
		        r->dominator[i] >= 0 ? set.name[r->dominator[i]] : "-");
	}
}

static const char *describe(const nash_pareto_obj *o)
{
	static const struct { nash_obj_kind k; const char *s; } d[] = {
		{NASH_OBJ_TOP1, "top-1 accuracy (%)"}, {NASH_OBJ_TOP5, "top-5 accuracy (%)"},
		{NASH_OBJ_LUT, "LUTs"}, {NASH_OBJ_FF, "flip-flops"}, {NASH_OBJ_BRAM18, "BRAM18 blocks"},
		{NASH_OBJ_URAM, "URAM blocks"}, {NASH_OBJ_DSP, "DSP slices"}, {NASH_OBJ_FPS, "frames per second"},
		{NASH_OBJ_LATENCY, "latency (us)"}, {NASH_OBJ_PARAMS, "parameters"}, {NASH_OBJ_MACS, "MACs per image"},
	};
	for (size_t k = 0; k < sizeof d / sizeof d[0]; k++)
		if (d[k].k == o->kind)
			return d[k].s;
	return o->name;
}

/* "xczu7ev @ 200 MHz" when every point shares one part and clock. */
static char *target(void)
{
	/* points without them (TSV rows) say nothing either way */
	const char *part = NULL;
	double clk = 0;
	int same_part = 1, same_clock = 1;
	for (size_t i = 0; i < set.n; i++) {
		const char *p = set.part[i];
		if (p && !part)
			part = p;
		else if (p)
			same_part &= strcmp(p, part) == 0;
		if (set.clock[i] > 0 && clk == 0)
			clk = set.clock[i];
		else if (set.clock[i] > 0)
			same_clock &= set.clock[i] == clk;
	}
	if (!same_part)
		warn("the points were estimated for different FPGA parts; their resources are not comparable");
	if (!same_clock)
		warn("the points were estimated at different clocks");
	if (!same_part || !part)
		return NULL;
	char num[32];
	return clk > 0 && same_clock ? nash_strfmt("%s @ %s MHz", part, nash_pareto_num(num, clk, 0))
	                             : nash_strdup(part);
}

#define LABEL_ALL 100 /* label every point up to this many */

static void plot(const nash_pareto_result *r, const char *tgt, const char *hvtext, int table_written)
{
	nash_err e = {{0}};
	double *x = nash_alloc(set.n * sizeof *x), *y = nash_alloc(set.n * sizeof *y);
	char **label = nash_alloc(set.n * sizeof *label);
	for (size_t i = 0; i < set.n; i++) {
		x[i] = set.v[i * (size_t)set.d];
		y[i] = set.v[i * (size_t)set.d + 1];
		if (set.n > LABEL_ALL && r->rank[i] != 1) /* a crowd: name the front only */
			label[i] = nash_strdup("");
		else
			label[i] = set.bits[i] && !strstr(set.name[i], set.bits[i]) ? nash_strfmt("%s %s", set.name[i], set.bits[i])
		                                                            : nash_strdup(set.name[i]);
	}
	char *xl = nash_strfmt("%s, %s is better", describe(&set.obj[0]), set.obj[0].maximize ? "higher" : "lower");
	char *yl = nash_strfmt("%s, %s is better", describe(&set.obj[1]), set.obj[1].maximize ? "higher" : "lower");
	char *title = opt.title ? nash_strdup(opt.title)
	            : nash_strfmt("Pareto front of %zu model%s%s%s%s%s%s", set.n, set.n == 1 ? "" : "s",
	                          tgt ? " on " : "", tgt ? tgt : "", set.d > 2 ? " (first two of " : "",
	                          set.d > 2 ? "several objectives)" : "", hvtext ? hvtext : "");
	nash_plot p = {opt.plot, xl, yl, title, set.obj[0].maximize, set.obj[1].maximize, set.d == 2,
	               set.n, x, y, r->rank, label, set.family};
	int rc = nash_pareto_plot(&p, &e);
	for (size_t i = 0; i < set.n; i++)
		free(label[i]);
	free(label);
	free(x);
	free(y);
	free(xl);
	free(yl);
	free(title);
	if (rc < 0)
		die("%s%s", e.msg, table_written ? " (the table was written)" : "");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"x", required_argument, 0, 'x'}, {"y", required_argument, 0, 'y'},
		{"objectives", required_argument, 0, 'O'}, {"tsv-in", no_argument, 0, OPT_TSV_IN},
		{"front", no_argument, 0, 'f'}, {"output", required_argument, 0, 'o'},
		{"pass", no_argument, 0, OPT_PASS}, {"plot", required_argument, 0, 'p'},
		{"title", required_argument, 0, OPT_TITLE}, {"hypervolume", no_argument, 0, 'H'},
		{"ref", required_argument, 0, 'r'}, TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	const char *x = NULL, *y = NULL, *list = NULL;
	int c;
	tool_init("nash-pareto", argc, argv);
	while ((c = getopt_long(argc, argv, "x:y:O:fo:p:Hr:qh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'x': x = optarg; break;
		case 'y': y = optarg; break;
		case 'O': list = optarg; break;
		case OPT_TSV_IN: opt.tsv_in = 1; break;
		case 'f': opt.front_only = 1; break;
		case 'o': opt.output = optarg; break;
		case OPT_PASS: opt.pass = 1; break;
		case 'p': opt.plot = optarg; break;
		case OPT_TITLE: opt.title = optarg; break;
		case 'H': opt.hv = 1; break;
		case 'r': opt.ref = optarg; break;
		case 'q': tool_quiet = 1; break;
		default: die_usage("unknown option");
		}
	}
	if (list && (x || y))
		die_usage("--objectives replaces --x and --y; give one or the other");
	if (!x != !y)
		die_usage("--x and --y go together (or use --objectives)");
	if (list) {
		char *dup = nash_strdup(list), *save = NULL;
		for (char *it = strtok_r(dup, ",", &save); it; it = strtok_r(NULL, ",", &save))
			add_objective(it);
		free(dup);
		if (opt.d == 0)
			die_usage("--objectives: no objective given");
	} else {
		add_objective(x ? x : "lut");
		add_objective(y ? y : "top1");
	}
	if (opt.ref && !opt.hv)
		die_usage("--ref goes with --hypervolume");
	if (opt.plot) {
		if (nash_pareto_plot_format(opt.plot) == NASH_PLOT_NONE)
			die_usage("--plot %s: the name must end in .png, .svg or .pdf", opt.plot);
		if (opt.d < 2)
			die_usage("--plot needs two objectives or more");
	}
	if (opt.title && !opt.plot)
		die_usage("--title goes with --plot");
	if (opt.pass && opt.output && strcmp(opt.output, "-") == 0)
		die_usage("--pass writes the stream to stdout; give --output a file");
	nash_err e = {{0}};
	if (opt.plot && nash_pareto_plot_probe(opt.plot, &e) < 0)
		die("%s", e.msg);

	nash_pareto_set_init(&set, opt.obj, opt.d);
	read_inputs(argv + optind, argc - optind);
	if (set.n == 0)
		die("no points: the input holds no graphs or rows");

	nash_pareto_result r = {0};
	if (opt.hv) { /* ranks are all the number and the plot need */
		double *m = nash_pareto_set_minspace(&set);
		r.rank = nash_alloc(set.n * sizeof *r.rank);
		if ((r.nfronts = nash_pareto_rank(m, set.n, set.d, r.rank, &e)) < 0)
			die("%s", e.msg);
		free(m);
	} else if (nash_pareto_analyze(&set, &r, &e) < 0) {
		die("%s", e.msg);
	}
	char *tgt = target();

	/* the table, or the hypervolume */
	char *text = NULL, *hvtext = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (opt.hv) {
		char *refs, num[32];
		size_t nfront;
		double hv = hypervolume(r.rank, &refs, &nfront);
		fprintf(f, "%s\n", g12(num, hv));
		note("hypervolume %s of %zu front point%s (of %zu), reference %s", num, nfront, nfront == 1 ? "" : "s",
		     set.n, refs);
		hvtext = nash_strfmt(", hypervolume %.6g", hv);
		free(refs);
	} else {
		table(f, &r);
	}
	if (fclose(f) != 0)
		die("out of memory");
	int written = 0;
	if (opt.output && strcmp(opt.output, "-") != 0) {
		if (nash_write_file_atomic(opt.output, text, len, &e) < 0)
			die("%s", e.msg);
		written = 1;
	} else if (!opt.pass) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
			die("stdout: write error: %s", strerror(errno));
		written = 1;
	}
	if (opt.plot)
		plot(&r, tgt, hvtext, written);
	free(text);
	free(hvtext);
	free(tgt);
	nash_pareto_result_free(&r);
	nash_pareto_set_free(&set);
	return 0;
}
