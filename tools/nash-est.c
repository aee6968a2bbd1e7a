/* nash-est - fold each hardware graph (PE/SIMD) for a target fps or a
 * resource budget on an FPGA part, and estimate cycles, fps, latency, LUT,
 * FF, BRAM, URAM and DSP per layer. */
#include "tool.h"
#include "hw/hw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
"Usage: nash-est [OPTION]... [FILE]...\n"
"Fold every hardware graph of nash streams (stdin when no FILE is given) and\n"
"estimate its cycles, fps, latency and FPGA resources; write the stream with\n"
"meta.est and the chosen PE/SIMD to stdout.\n"
"\n"
"Target:\n"
"  -p, --part NAME        FPGA part or board (default xczu7ev); an unknown\n"
"                         name lists the known ones\n"
"  -c, --clock MHZ        clock frequency (default 200)\n"
"Folding (default: keep the PE/SIMD the nodes carry, 1 where none):\n"
"      --fps N            fold for N frames/s (FINN-like divisor search)\n"
"      --fit              the highest fps within the utilisation cap\n"
"      --cap PCT          utilisation cap for --fit, every resource (default 85)\n"
"      --budget SPEC      the highest fps within a budget, e.g.\n"
"                         lut=20000,bram=100,dsp=50 (bram counts BRAM18)\n"
"  -f, --folding FILE     per-layer PE/SIMD/ram_style/resType (TSV or FINN's\n"
"                         JSON folding config); these layers stay fixed\n"
"      --ram-style GLOB=STYLE  memory of the matching layers: auto,\n"
"                         distributed, block or ultra (repeatable)\n"
"      --max-weight-width BITS  weight bits per cycle an MVAU may read in the\n"
"                         search (SIMD x weight bits; default 36, 0: no cap)\n"
"      --best-effort      an unreachable --fps folds for the best reachable\n"
"                         fps instead of failing\n"
"Output:\n"
"      --no-insert        no StreamingFIFO/DataWidthConverter nodes in the output\n"
"                         (earlier ones are removed; they are still counted,\n"
"                         see meta.est.layers)\n"
"  -r, --report           a human table per graph on stderr\n"
"  -t, --tsv              print the per-layer table (TSV) on stdout instead of\n"
"                         the stream\n"
"  -q, --quiet            no warnings\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"See nash-est(1) for the cost models, their sources and calibration.\n";

enum { MODE_ATTRS, MODE_FPS, MODE_FIT };

static struct {
	const char *part;
	double clock, fps, cap;
	const char *budget, *folding;
	int mode, best_effort, no_insert, report, tsv, tsv_header;
	int max_wwidth;
	char **ram_globs;
	int nram;
	const nash_hw_device *dev;
	nash_hw_folding fold;
	int have_fold;
} opt = { .part = "xczu7ev", .clock = 200, .cap = 85, .max_wwidth = 36 };

static const char *fold_name(const nash_hw_layer *l, int which, char *buf)
{
	int64_t pe, simd;
	nash_hw_fold_max(l, &pe, &simd);
	if ((which ? simd : pe) == 0)
		return "-";
	sprintf(buf, "%lld", (long long)(which ? l->simd : l->pe));
	return buf;
}

static void report(const nash_graph *g, const nash_hw_design *d)
{
	char b1[32], b2[32];
	fprintf(stderr, "%s: graph %s: %s (%s) at %g MHz: %.1f fps, latency %.1f us, bottleneck %s\n", tool_name,
	        g->name, d->dev->part, d->dev->boards, d->clock_mhz, d->fps, d->latency_us, d->l[d->bottleneck].name);
	fprintf(stderr, "  %-28s %-27s %5s %5s %10s %8s %8s %6s %5s %5s %s\n", "layer", "op", "PE", "SIMD", "cycles",
	        "LUT", "FF", "BRAM18", "URAM", "DSP", "mem");
	for (int i = 0; i < d->n; i++) {
		const nash_hw_layer *l = &d->l[i];
		fprintf(stderr, "  %-28s %-27s %5s %5s %10lld %8lld %8lld %6lld %5lld %5lld %s", l->name,
		        nash_hw_kind_op(l->kind), fold_name(l, 0, b1), fold_name(l, 1, b2), (long long)l->cycles,
		        (long long)l->r.lut, (long long)l->r.ff, (long long)l->r.bram18, (long long)l->r.uram,
		        (long long)l->r.dsp, nash_mem_kind_name(l->mem));
		if (l->kind == NASH_HW_FIFO)
			fprintf(stderr, " depth %lld", (long long)l->depth);
		if (i == d->bottleneck)
			fprintf(stderr, "  <- bottleneck");
		fprintf(stderr, "\n");
	}
	fprintf(stderr, "  %-28s %-27s %5s %5s %10lld %8lld %8lld %6lld %5lld %5lld\n", "total", "", "", "",
	        (long long)d->max_cycles, (long long)d->total.lut, (long long)d->total.ff, (long long)d->total.bram18,
	        (long long)d->total.uram, (long long)d->total.dsp);
	fprintf(stderr, "  %-28s %-27s %5s %5s %10s %7.1f%% %7.1f%% %5.1f%% %4.1f%% %4.1f%%\n", "utilisation", "", "",
	        "", "", d->util[0], d->util[1], d->util[2], isfinite(d->util[3]) ? d->util[3] : 0, d->util[4]);
}

static void tsv(const nash_graph *g, const nash_hw_design *d)
{
	char b1[32], b2[32];
	if (!opt.tsv_header++)
		printf("graph\tlayer\top\tPE\tSIMD\tcycles\tlut\tff\tbram18\turam\tdsp\tmem\tdepth\n");
	for (int i = 0; i < d->n; i++) {
		const nash_hw_layer *l = &d->l[i];
		printf("%s\t%s\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%s\t", g->name, l->name,
		       nash_hw_kind_op(l->kind), fold_name(l, 0, b1), fold_name(l, 1, b2), (long long)l->cycles,
		       (long long)l->r.lut, (long long)l->r.ff, (long long)l->r.bram18, (long long)l->r.uram,
		       (long long)l->r.dsp, nash_mem_kind_name(l->mem));
		if (l->kind == NASH_HW_FIFO)
			printf("%lld\n", (long long)l->depth);
		else
			printf("-\n");
	}
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	nash_hw_design d;
	if (nash_hw_design_init(&d, g, opt.dev, opt.clock, e) < 0)
		return -1;
	d.max_wwidth = opt.max_wwidth;
	int rc = 0;
	for (int i = 0; i < opt.nram && rc == 0; i++) {
		char *eq = strchr(opt.ram_globs[i], '=');
		nash_ram_style s;
		*eq = 0;
		nash_ram_style_parse(eq + 1, &s);
		if (nash_hw_ram_style_glob(&d, opt.ram_globs[i], s) == 0)
			warn("graph %s: --ram-style %s matches no layer", g->name, opt.ram_globs[i]);
		*eq = '=';
	}
	if (opt.have_fold && nash_hw_folding_apply(&d, &opt.fold, e) < 0)
		rc = -1;
	nash_val *extra = nash_val_map();
	if (rc == 0 && opt.mode == MODE_FPS) {
		int64_t target = (int64_t)floor(opt.clock * 1e6 / opt.fps);
		if (target < 1)
			target = 1;
		int lim;
		int64_t best = nash_hw_min_cycles(&d, &lim);
		if (best > target) {
			double bfps = opt.clock * 1e6 / (double)best;
			if (!opt.best_effort)
				rc = nash_fail(e, "graph %s: target %g fps is not reachable on this folding space: the best is %.1f fps, limited by layer %s (%s); use --best-effort to fold for it",
				               g->name, opt.fps, bfps, d.l[lim].name, nash_hw_kind_op(d.l[lim].kind));
			else {
				warn("graph %s: target %g fps is not reachable; folding for the best, %.1f fps, limited by layer %s",
				     g->name, opt.fps, bfps, d.l[lim].name);
				target = best;
			}
		}
		if (rc == 0) {
			nash_hw_fold_cycles(&d, target);
			/* BRAM beyond the part: let URAM take what it can */
			nash_hw_limits lim;
			nash_hw_limits_cap(&lim, opt.dev, 100);
			nash_hw_use_uram(&d, &lim);
		}
		nash_val_set(extra, "mode", nash_val_str("fps"));
		nash_val_set(extra, "target_fps", nash_val_f64(opt.fps));
	} else if (rc == 0 && opt.mode == MODE_FIT) {
		nash_hw_limits lim;
		nash_hw_limits_cap(&lim, opt.dev, opt.cap);
		if (opt.budget && nash_hw_limits_budget(&lim, opt.budget, e) < 0)
			rc = -1;
		if (rc == 0)
			rc = nash_hw_fold_fit(&d, &lim, e);
		nash_val_set(extra, "mode", nash_val_str(opt.budget ? "budget" : "fit"));
		nash_val_set(extra, "cap_pct", nash_val_f64(opt.cap));
		if (opt.budget)
			nash_val_set(extra, "budget", nash_val_str(opt.budget));
	} else if (rc == 0) {
		nash_hw_evaluate(&d);
		nash_val_set(extra, "mode", nash_val_str(opt.have_fold ? "folding" : "attributes"));
	}
	if (rc == 0 && d.total.uram > 0 && opt.dev->uram == 0) {
		for (int i = 0; i < d.n; i++)
			if (d.l[i].r.uram > 0) {
				rc = nash_fail(e, "graph %s: layer %s asks for URAM (ram_style ultra) but part %s has none",
				               g->name, d.l[i].name, opt.dev->part);
				break;
			}
	}
	if (rc == 0) {
		nash_val_set(extra, "max_weight_width", nash_val_int(opt.max_wwidth));
		nash_val_set(extra, "estimator", nash_val_str("nash-est " NASH_VERSION));
		if (opt.mode == MODE_FPS || opt.mode == MODE_ATTRS)
			for (int k = 0; k < 5; k++)
				if (d.util[k] > 100.0 && isfinite(d.util[k])) {
					warn("graph %s: needs %.0f%% of the %s of %s", g->name, d.util[k], nash_hw_res_names[k],
					     opt.dev->part);
					break;
				}
		if (opt.report)
			report(g, &d);
		if (opt.tsv)
			tsv(g, &d);
		else
			rc = nash_hw_write(g, &d, !opt.no_insert, extra, e);
	}
	nash_val_free(extra);
	nash_hw_design_free(&d);
	return rc;
}

int main(int argc, char **argv)
{
	enum { O_FPS = OPT_TOOL_BASE, O_FIT, O_CAP, O_BUDGET, O_RAM, O_WW, O_BEST, O_NOINS };
	static const struct option lo[] = {
		{"part", required_argument, 0, 'p'}, {"clock", required_argument, 0, 'c'},
		{"fps", required_argument, 0, O_FPS}, {"fit", no_argument, 0, O_FIT},
		{"cap", required_argument, 0, O_CAP}, {"budget", required_argument, 0, O_BUDGET},
		{"folding", required_argument, 0, 'f'}, {"ram-style", required_argument, 0, O_RAM},
		{"max-weight-width", required_argument, 0, O_WW}, {"best-effort", no_argument, 0, O_BEST},
		{"no-insert", no_argument, 0, O_NOINS}, {"report", no_argument, 0, 'r'},
		{"tsv", no_argument, 0, 't'}, TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	int c, fit = 0;
	tool_init("nash-est", argc, argv);
	while ((c = getopt_long(argc, argv, "p:c:f:rtqh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'p': opt.part = optarg; break;
		case 'c': opt.clock = tool_float("clock", optarg, 1, 2000); break;
		case O_FPS: opt.fps = tool_float("fps", optarg, 1e-6, 1e12); break;
		case O_FIT: fit = 1; break;
		case O_CAP: opt.cap = tool_float("cap", optarg, 1, 100); fit |= 2; break;
		case O_BUDGET: opt.budget = optarg; break;
		case 'f': opt.folding = optarg; break;
		case O_RAM: {
			char *eq = strchr(optarg, '=');
			nash_ram_style s;
			if (!eq || eq == optarg || nash_ram_style_parse(eq + 1, &s) < 0)
				die_usage("--ram-style: '%s' is not GLOB=STYLE with STYLE auto, distributed, block or ultra", optarg);
			opt.ram_globs = realloc(opt.ram_globs, (size_t)(opt.nram + 1) * sizeof *opt.ram_globs);
			opt.ram_globs[opt.nram++] = optarg;
			break;
		}
		case O_WW: opt.max_wwidth = (int)tool_int("max-weight-width", optarg, 0, 1 << 20); break;
		case O_BEST: opt.best_effort = 1; break;
		case O_NOINS: opt.no_insert = 1; break;
		case 'r': opt.report = 1; break;
		case 't': opt.tsv = 1; break;
		case 'q': tool_quiet = 1; break;
		default: die_usage("unknown option");
		}
	}
	if (opt.fps > 0 && (fit || opt.budget))
		die_usage("--fps and --fit/--budget exclude each other: give a target or a limit");
	if (fit == 2 && !opt.budget)
		die_usage("--cap goes with --fit or --budget");
	if (opt.budget) {
		nash_hw_limits l;
		nash_err e;
		memset(&l, 0, sizeof l);
		if (nash_hw_limits_budget(&l, opt.budget, &e) < 0)
			die_usage("--budget: %s", e.msg);
	}
	opt.mode = opt.fps > 0 ? MODE_FPS : (fit || opt.budget) ? MODE_FIT : MODE_ATTRS;
	if (opt.best_effort && opt.mode != MODE_FPS)
		die_usage("--best-effort goes with --fps");
	nash_err e = {{0}};
	opt.dev = nash_hw_device_find(opt.part, &e);
	if (!opt.dev)
		die("%s", e.msg);
	if (opt.folding) {
		if (nash_hw_folding_read(opt.folding, &opt.fold, &e) < 0)
			die("%s", e.msg);
		opt.have_fold = 1;
	}
	tool_each_graph(argv + optind, argc - optind, each, NULL, !opt.tsv);
	if (opt.have_fold)
		nash_hw_folding_free(&opt.fold);
	free(opt.ram_globs);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("stdout: write error");
	return 0;
}
