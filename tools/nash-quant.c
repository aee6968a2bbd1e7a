/* nash-quant - insert quantizers (Quant, BipolarQuant, Trunc) into float
 * graphs: per-layer weight and activation bits, binary weights, first and
 * last layers, stage-shared adder quantizers, quantized average pooling,
 * presets; and the integer export of weights. */
#include "quant/quant.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
"Usage: nash-quant [OPTION]... [FILE]...\n"
"Insert quantizers into every float graph of nash streams (stdin when no FILE\n"
"is given) and write the quantized graphs to stdout.\n"
"\n"
"  -p, --preset NAME      w1a1, w1a2, w2a2, w4a4, w8a8 (default), or nash-v1 ..\n"
"                         nash-v4 (the NASH reference code's per-version bits);\n"
"                         --list shows what each sets\n"
"  -w, --wbits N          backbone weight bits, 1..16 (1: binary weights)\n"
"  -a, --abits N          activation bits, 1..16\n"
"      --first-bits N     weight bits of the layers reading the input\n"
"                         (default 8; BNN-PYNQ nets cnv/lfc/sfc/tfc: --wbits)\n"
"      --last-bits N      weight bits of the classifier (same default)\n"
"      --down-bits N      1x1 downsample convs of ResNets (default 8)\n"
"      --nas-bits N       NASH operation convs (default: --wbits)\n"
"      --adder-bits N     the stage-shared adder quantizer, 2..16 (default 8)\n"
"      --pool-bits N      output of the quantized average pool (default: the\n"
"                         widest keeping it within twice the average, <= 8)\n"
"  -l, --layer GLOB=SPEC  override layers whose node name matches GLOB (* and ?):\n"
"                         SPEC is wN (weights of Conv/Gemm), aM (Relu/HardTanh\n"
"                         outputs) or wNaM, e.g. --layer 'layer4.*=w4a4';\n"
"                         repeatable, later ones win\n"
"      --export           only refresh the integer export of graphs that are\n"
"                         already quantized (after training elsewhere)\n"
"      --list             list the presets and their bit widths\n"
"  -q, --quiet            no warnings\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"Example: nash-gen resnet18 --input 1x28x28 --width 16 | nash-quant --preset w2a2\n"
"See nash-quant(1) for the rules and nash-ops(7) for the operators.\n";

static struct {
	const char *preset;
	nash_qbits given;       /* bit options given on the command line */
	int export_only;
	nash_qoverride *ov;
	char **ovtext;
	int nov;
} opt;

static void list(void) __attribute__((noreturn));
static void list(void)
{
	printf("%-8s %3s %3s %5s %4s %4s %3s %4s %6s %5s %4s  %s\n", "preset", "w", "a", "first", "last", "down", "nas",
	       "skip", "nas_a", "adder", "pool", "about");
	for (int i = 0; nash_quant_presets[i]; i++) {
		for (int r = 0; r < 2; r++) {
			const char *arch = r ? "resnet34" : "resnet18";
			nash_qbits b;
			if (r && strncmp(nash_quant_presets[i], "nash-", 5) != 0)
				break;
			nash_quant_preset(nash_quant_presets[i], arch, &b, NULL);
			nash_quant_resolve(&b, arch);
			char pool[8];
			snprintf(pool, sizeof pool, b.pool ? "%d" : "auto", b.pool);
			printf("%-8s %3d %3d %5d %4d %4d %3d %4d %6d %5d %4s  %s\n", r ? "" : nash_quant_presets[i], b.w, b.a,
			       b.first, b.last, b.down, b.nas_w, b.skip_w, b.nas_a, b.adder, pool,
			       r ? "(on resnet34: the reference code's ResNet34 setting)" : nash_quant_preset_about(nash_quant_presets[i]));
		}
	}
	printf("On cnv, lfc, sfc and tfc the w/a presets quantize the first and last layers with w bits (BNN-PYNQ).\n");
	exit(0);
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	if (opt.export_only) {
		int n = nash_quant_export(g, e);
		if (n < 0)
			return -1;
		if (n == 0)
			warn("graph %s has no weight or bias quantizers to export", g->name);
		return 0;
	}
	const nash_val *av = nash_val_path(g->meta, "gen.arch");
	const char *arch = av ? nash_val_as_str(av) : NULL;
	nash_quant_opts o = {.preset = opt.preset ? opt.preset : "w8a8", .ov = opt.ov, .nov = opt.nov};
	if (nash_quant_preset(o.preset, arch, &o.bits, e) < 0) {
		nash_err_prefix(e, "graph %s: ", g->name);
		return -1;
	}
	const int *gv = &opt.given.w;
	int *bv = &o.bits.w, changed = 0;
	for (size_t i = 0; i < sizeof opt.given / sizeof(int); i++)
		if (gv[i]) {
			changed |= bv[i] != gv[i];
			bv[i] = gv[i];
		}
	nash_quant_resolve(&o.bits, arch);
	nash_quant_result r;
	int rc = nash_quant_apply(g, &o, &r, e);
	for (int i = 0; i < r.nwarn; i++)
		warn("%s", r.warn[i]);
	nash_quant_result_free(&r);
	if (rc < 0)
		return -1;
	for (int i = 0; i < opt.nov; i++) {
		const nash_qoverride *v = &opt.ov[i];
		if (!v->hits_w && !v->hits_a)
			warn("graph %s: --layer '%s' matches no layer", g->name, opt.ovtext[i]);
		else if (v->w && !v->hits_w)
			warn("graph %s: --layer '%s': w%d matches no Conv or Gemm", g->name, opt.ovtext[i], v->w);
		else if (v->a && !v->hits_a)
			warn("graph %s: --layer '%s': a%d matches no Relu or HardTanh", g->name, opt.ovtext[i], v->a);
	}
	nash_val_set(nash_meta(g, "quant"), "tool", nash_val_str("nash-quant " NASH_VERSION));
	char label[32];
	if (changed)
		snprintf(label, sizeof label, "w%da%d", o.bits.w, o.bits.a);
	else
		snprintf(label, sizeof label, "%s", o.preset);
	char *name = nash_strfmt("%s-%s", g->name, label);
	nash_graph_rename(g, name);
	free(name);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_FIRST = OPT_TOOL_BASE, O_LAST, O_DOWN, O_NAS, O_ADDER, O_POOL, O_EXPORT, O_LIST };
	static const struct option lo[] = {
		{"preset", required_argument, 0, 'p'}, {"wbits", required_argument, 0, 'w'},
		{"abits", required_argument, 0, 'a'}, {"first-bits", required_argument, 0, O_FIRST},
		{"last-bits", required_argument, 0, O_LAST}, {"down-bits", required_argument, 0, O_DOWN},
		{"nas-bits", required_argument, 0, O_NAS}, {"adder-bits", required_argument, 0, O_ADDER},
		{"pool-bits", required_argument, 0, O_POOL}, {"layer", required_argument, 0, 'l'},
		{"export", no_argument, 0, O_EXPORT}, {"list", no_argument, 0, O_LIST},
		TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	int c, bitopts = 0;
	tool_init("nash-quant", argc, argv);
	while ((c = getopt_long(argc, argv, "p:w:a:l:qh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'p':
			opt.preset = optarg;
			if (!nash_quant_preset_about(optarg)) {
				nash_err e = {{0}};
				nash_quant_preset(optarg, NULL, &opt.given, &e);
				die_usage("--preset: %s", e.msg);
			}
			break;
		case 'w': opt.given.w = (int)tool_int("wbits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case 'a': opt.given.a = (int)tool_int("abits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case O_FIRST: opt.given.first = (int)tool_int("first-bits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case O_LAST: opt.given.last = (int)tool_int("last-bits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case O_DOWN: opt.given.down = (int)tool_int("down-bits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case O_NAS: opt.given.nas_w = (int)tool_int("nas-bits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case O_ADDER: opt.given.adder = (int)tool_int("adder-bits", optarg, 2, NASH_QUANT_MAXBITS); bitopts++; break;
		case O_POOL: opt.given.pool = (int)tool_int("pool-bits", optarg, 1, NASH_QUANT_MAXBITS); bitopts++; break;
		case 'l': {
			char *eq = strrchr(optarg, '=');
			nash_err e = {{0}};
			int w, a;
			if (!eq || eq == optarg)
				die_usage("--layer: '%s' is not GLOB=SPEC (e.g. 'layer4.*=w4a4')", optarg);
			if (nash_quant_spec_parse(eq + 1, &w, &a, &e) < 0)
				die_usage("--layer: %s", e.msg);
			opt.ov = nash_realloc(opt.ov, (size_t)(opt.nov + 1) * sizeof *opt.ov);
			opt.ovtext = nash_realloc(opt.ovtext, (size_t)(opt.nov + 1) * sizeof *opt.ovtext);
			opt.ovtext[opt.nov] = optarg;
			opt.ov[opt.nov++] = (nash_qoverride){nash_strfmt("%.*s", (int)(eq - optarg), optarg), w, a, 0, 0};
			break;
		}
		case O_EXPORT: opt.export_only = 1; break;
		case O_LIST: list();
		case 'q': tool_quiet = 1; break;
		default: die_usage("unknown option");
		}
	}
	if (opt.export_only && (opt.preset || bitopts || opt.nov))
		die_usage("--export takes no preset, bit or --layer options (it keeps the graph's quantizers)");
	tool_each_graph(argv + optind, argc - optind, each, NULL, 1);
	return 0;
}
