/* nash-stream - streamline quantization-aware graphs into integer-only
 * dataflow graphs of hardware layers (nash-ops(7)). */
#include "streamline/streamline.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
"Usage: nash-stream [OPTION]... [FILE]...\n"
"Streamline every quantized graph of nash streams (stdin when no FILE is\n"
"given) into an integer dataflow graph of hardware layers (MVAU, sliding\n"
"windows, thresholds, adders, pools) and write the stream to stdout.\n"
"\n"
"  -l, --list             list the passes in the order they run, and exit\n"
"  -u, --until PASS       stop after PASS (and the passes before it) reach their\n"
"                         fixpoint: a mixed graph to inspect with nash-dump\n"
"  -c, --check[=N]        run N random images (default 4) through the reference\n"
"                         interpreter before the first pass and after every pass\n"
"                         that changed the graph; fail naming the first pass\n"
"                         that changed the outputs\n"
"  -k, --topk K           end with LabelSelect of the K best classes instead of\n"
"                         integer logits (needs one scale for all classes)\n"
"  -s, --seed N           seed of the --check images (default 1)\n"
"      --progress         print each pass and its rewrites on stderr\n"
"  -q, --quiet            no progress\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"Example: nash-gen tfc | nash-quant --preset w1a1 | nash-stream --check | nash-dump --nodes\n"
"See nash-stream(1) for the passes, what each requires, and how the integer\n"
"graph reproduces the fake-quant graph exactly.\n";

static nash_stream_opts opt = {.seed = 1};

static void progress(void *ctx, const char *graph, const char *pass, int rewrites)
{
	(void)ctx;
	if (tool_progress && !tool_quiet)
		fprintf(stderr, "%s: graph %s: %-20s %d rewrite%s\n", tool_name, graph, pass, rewrites,
		        rewrites == 1 ? "" : "s");
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	return nash_streamline(g, &opt, e) < 0 ? -1 : 0;
}

static void list(void)
{
	int n = nash_stream_pass_count();
	for (int i = 0; i < n; i++) {
		printf("%2d  %-20s ", i + 1, nash_stream_pass_name(i));
		/* the description, wrapped at 79 columns */
		const char *p = nash_stream_pass_doc(i);
		int col = 25, first = 1;
		while (*p) {
			while (*p == ' ')
				p++;
			int len = (int)strcspn(p, " ");
			if (!len)
				break;
			if (!first && col + 1 + len > 79) {
				printf("\n%25s", "");
				col = 25;
				first = 1;
			}
			printf("%s%.*s", first ? "" : " ", len, p);
			col += len + !first;
			first = 0;
			p += len;
		}
		putchar('\n');
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"list", no_argument, 0, 'l'}, {"until", required_argument, 0, 'u'},
		{"check", optional_argument, 0, 'c'}, {"topk", required_argument, 0, 'k'},
		{"seed", required_argument, 0, 's'}, TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	int c, do_list = 0;
	tool_init("nash-stream", argc, argv);
	while ((c = getopt_long(argc, argv, "lu:c::k:s:qh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'l': do_list = 1; break;
		case 'u':
			if (nash_stream_pass_find(optarg) < 0)
				die_usage("--until: unknown pass '%s' (nash-stream --list names them)", optarg);
			opt.until = optarg;
			break;
		case 'c': opt.check = optarg ? (int)tool_int("check", optarg, 1, 10000) : 4; break;
		case 'k': opt.topk = (int)tool_int("topk", optarg, 1, 100000); break;
		case 's': opt.seed = (uint64_t)tool_int("seed", optarg, 0, 0x7fffffffL); break;
		case 'q': tool_quiet = 1; tool_progress = 0; break;
		default: die_usage("unknown option");
		}
	}
	if (do_list) {
		if (optind < argc)
			die_usage("--list takes no files");
		list();
		return 0;
	}
	opt.progress = progress;
	tool_each_graph(argv + optind, argc - optind, each, NULL, 1);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("stdout: write error");
	return 0;
}
