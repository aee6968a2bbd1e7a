/* nash-hls - emit a Vitis HLS project (C++ dataflow design, testbench,
 * Tcl script, Makefile) for each folded hardware graph, optionally verify
 * it right away by C simulation with g++, and pass the graph on with
 * meta.hls. */
#include "tool.h"
#include "hls/hls.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
"Usage: nash-hls -o PATH [OPTION]... [FILE]...\n"
"Write a Vitis HLS project for every folded hardware graph of nash streams\n"
"(stdin when no FILE is given): one template call per layer with the folding\n"
"nash-est chose, weights and thresholds packed per PE/SIMD, a testbench whose\n"
"expected outputs come from nash's integer executor, a Tcl script for Vitis HLS\n"
"and a Makefile whose csim target needs only g++. The stream passes on to\n"
"stdout with meta.hls.\n"
"\n"
"  -o, --output PATH      the project: a directory, or an archive when PATH ends\n"
"                         in .tar.gz, .tgz or .tar; %n in PATH is replaced by\n"
"                         the graph name (needed for a stream of several graphs)\n"
"  -n, --images N         testbench frames (default 10)\n"
"  -d, --data SPEC        test images for the testbench when the input is an\n"
"                         image of the data set's shape: fashion-mnist (default),\n"
"                         mnist:DIR, cifar10:FILE.tar.gz, ...; other inputs get\n"
"                         seeded random values\n"
"  -s, --seed N           seed of random inputs (default 1)\n"
"      --csim             build and run the C simulation now (g++ from PATH);\n"
"                         exit 1 if any frame differs from the integer executor\n"
"  -t, --threads N        threads of the integer executor (default: every core)\n"
"      --progress         progress lines on stderr even when it is not a terminal\n"
"  -q, --quiet            no progress lines\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"See nash-hls(1) for the project layout and the header library.\n";

static struct {
	const char *out, *data;
	int images, csim, threads;
	uint64_t seed;
	long graphs;
	char share[4096];
} opt = {.data = "fashion-mnist", .images = 10, .seed = 1};

/* A project put in place whose graph is not yet on stdout: removed if we
 * die before that write succeeds, so an error leaves no project behind. */
static char *pending;

/* The project being written (a temporary name until installed). */
static char *volatile work;

/* SIGTERM, SIGINT or SIGHUP while a project is being written or simulated:
 * the simulation's commands are stopped and the temporary directory goes,
 * then the signal takes its default course.
 * (Removing a tree is not async-signal-safe in general; the process is
 * ending and holds no lock of its own here.) */
static void on_fatal(int sig)
{
	char *w = work;
	nash_hls_stop_csim();
	if (w)
		nash_hls_rmtree(w);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup(void)
{
	if (pending) {
		struct stat st;
		if (stat(pending, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				nash_hls_rmtree(pending);
			else
				unlink(pending);
		}
	}
}

static char *dest_for(const nash_graph *g)
{
	const char *p = strstr(opt.out, "%n");
	if (!p)
		return nash_strdup(opt.out);
	char name[256];
	size_t j = 0;
	for (const char *s = g->name; *s && j + 1 < sizeof name; s++)
		name[j++] = *s == '/' ? '_' : *s;
	name[j] = 0;
	return nash_strfmt("%.*s%s%s", (int)(p - opt.out), opt.out, name, p + 2);
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	free(pending); /* the previous graph reached stdout */
	pending = NULL;
	if (opt.graphs++ > 0 && !strstr(opt.out, "%n"))
		return nash_fail(e, "graph %s: -o %s names one project but the stream holds several graphs; put %%n in the path",
		                 g->name, opt.out);
	if (nash_hls_check(g, e) < 0)
		return -1;
	int32_t *x = NULL;
	char source[256];
	if (nash_hls_inputs(g, opt.data, opt.images, opt.seed, &x, source, e) < 0)
		return -1;
	char *dest = dest_for(g);
	char *tmp = nash_tmp_path(dest);
	int rc = 0;
	if (mkdir(tmp, 0755) < 0)
		rc = nash_fail(e, "%s: cannot create the project: %s", dest, strerror(errno));
	else
		work = tmp;
	nash_hls_info info;
	memset(&info, 0, sizeof info);
	nash_hls_csim cs;
	memset(&cs, 0, sizeof cs);
	if (rc == 0 && nash_hls_write(g, x, opt.images, opt.threads, opt.share, tmp, &info, e) < 0) {
		nash_err_prefix(e, "%s: ", dest);
		rc = -1;
	}
	if (rc == 0 && opt.csim) {
		if (tool_progress)
			note("graph %s: C simulation of %d frames (building with g++)...", g->name, opt.images);
		rc = nash_hls_run_csim(tmp, 1, &cs, e);
		if (rc == 0 && !cs.passed)
			rc = nash_fail(e, "graph %s: C simulation differs from the integer executor on %d of %d frames (rerun without --csim and run make csim in the project to see them)",
			               g->name, cs.mismatches, cs.images);
		if (rc == 0 && tool_progress)
			note("graph %s: C simulation passed: %d frames bit-exact, %.2f s per frame (build %.1f s)", g->name,
			     cs.images, cs.run_s / (cs.images ? cs.images : 1), cs.compile_s);
	}
	if (rc < 0)
		nash_hls_rmtree(tmp);
	else
		rc = nash_hls_install(tmp, dest, e);
	work = NULL;
	if (rc == 0) {
		pending = nash_strdup(dest);
		nash_val *m = nash_meta(g, "hls");
		nash_val_set(m, "project", nash_val_str(dest));
		nash_val_set(m, "format", nash_val_str(nash_hls_is_archive(dest) ? "archive" : "directory"));
		nash_val_set(m, "top", nash_val_str(info.top));
		nash_val *files = nash_val_arr();
		for (int i = 0; i < info.nfiles; i++)
			nash_val_push(files, nash_val_str(info.files[i]));
		nash_val_set(m, "files", files);
		nash_val_set(m, "layers", nash_val_int(info.layers));
		nash_val_set(m, "converters", nash_val_int(info.converters));
		nash_val_set(m, "images", nash_val_int(opt.images));
		nash_val_set(m, "inputs", nash_val_str(source));
		if (opt.csim) {
			nash_val *c = nash_val_map();
			nash_val_set(c, "passed", nash_val_bool(cs.passed));
			nash_val_set(c, "images", nash_val_int(cs.images));
			nash_val_set(c, "mismatches", nash_val_int(cs.mismatches));
			nash_val_set(c, "build_s", nash_val_f64(cs.compile_s));
			nash_val_set(c, "run_s", nash_val_f64(cs.run_s));
			nash_val_set(c, "per_image_s", nash_val_f64(cs.images ? cs.run_s / cs.images : 0));
			nash_val_set(m, "csim", c);
		} else
			nash_val_del(m, "csim");
		nash_val_set(m, "tool", nash_val_str("nash-hls " NASH_VERSION));
		if (tool_progress)
			note("graph %s: %d layers -> %s", g->name, info.layers, dest);
	}
	nash_hls_info_free(&info);
	free(x);
	free(tmp);
	free(dest);
	return rc;
}

int main(int argc, char **argv)
{
	enum { O_CSIM = OPT_TOOL_BASE };
	static const struct option lo[] = {
		{"output", required_argument, 0, 'o'}, {"images", required_argument, 0, 'n'},
		{"data", required_argument, 0, 'd'}, {"seed", required_argument, 0, 's'},
		{"csim", no_argument, 0, O_CSIM}, {"threads", required_argument, 0, 't'},
		TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	int c;
	tool_init("nash-hls", argc, argv);
	signal(SIGXFSZ, SIG_IGN); /* a file size limit is a write error, not a kill */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while ((c = getopt_long(argc, argv, "o:n:d:s:t:qh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 'n': opt.images = (int)tool_int("images", optarg, 1, 100000); break;
		case 'd': opt.data = optarg; break;
		case 's': opt.seed = (uint64_t)tool_int("seed", optarg, 0, 0x7fffffffL); break;
		case O_CSIM: opt.csim = 1; break;
		case 't': opt.threads = (int)tool_int("threads", optarg, 0, 1024); break;
		case 'q': tool_quiet = 1; break;
		default: die_usage("unknown option");
		}
	}
	if (!opt.out || !*opt.out)
		die_usage("-o PATH is required: the project directory or .tar.gz archive to write");
	snprintf(opt.share, sizeof opt.share, "%s/hls", nash_share_dir());
	{
		char probe[4200];
		snprintf(probe, sizeof probe, "%s/nash_hls.h", opt.share);
		struct stat st;
		if (stat(probe, &st) < 0)
			die("the HLS header library is missing: %s (set NASH_SHARE or reinstall)", probe);
	}
	atexit(cleanup);
	tool_each_graph(argv + optind, argc - optind, each, NULL, 1);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("stdout: write error: %s", strerror(errno));
	free(pending);
	pending = NULL;
	return 0;
}
