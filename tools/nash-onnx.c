/* nash-onnx - QONNX export (the hand-off to FINN's builder) and import
 * (Brevitas exports and other QONNX models) of nash graphs. */
#include "tool.h"
#include "onnx/qonnx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
"Usage: nash-onnx export -o FILE.onnx|DIR/ [OPTION]... [FILE.nash]...\n"
"       nash-onnx import [OPTION]... FILE.onnx...\n"
"Move quantized models between nash and FINN/Brevitas as QONNX.\n"
"\n"
"export: write each quantized float-level graph of nash streams (stdin when\n"
"no FILE is given) as a QONNX model, and pass the stream on to stdout unless\n"
"stdout is a terminal.\n"
"  -o, --output PATH      FILE.onnx for a stream of one graph; DIR/ (an\n"
"                         existing directory or a name ending in /) for one\n"
"                         file per graph, named after the graph\n"
"      --opset N          ai.onnx opset to declare (11..17, default 13)\n"
"      --no-nash-meta     leave out the nash.graph metadata entry\n"
"\n"
"import: read ONNX/QONNX models (\"-\" is stdin) and write them as nash\n"
"graphs to stdout, one per file, in order.\n"
"  -n, --name NAME        graph name (one FILE only; default: the name nash\n"
"                         exported it with, else the file name without .onnx)\n"
"      --ignore-nash-meta import from the ONNX graph alone\n"
"\n"
"  -q, --quiet            no status lines\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"See nash-onnx(1) for the mapping of operators and attributes.\n";

static struct {
	const char *output;
	int dir, opset, no_nash, ignore_nash, pass;
	const char *name;
	char **seen;        /* graph names written, for -o DIR/ */
	int nseen, ngraphs;
} opt;

/* A file name from a graph name: [A-Za-z0-9._+-] kept, others become _. */
static char *file_name(const char *graph)
{
	size_t n = strlen(graph);
	char *s = malloc(n + 6);
	if (!s)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = graph[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		         c == '_' || c == '-' || c == '+';
		s[i] = ok ? c : '_';
	}
	if (n == 0 || s[0] == '.')
		s[0] = '_';
	strcpy(s + (n ? n : 1), ".onnx");
	return s;
}

/* Write the model: atomically (temporary file, rename) for a regular
 * file; straight into an existing device or FIFO (-o /dev/stdout), which
 * a rename would replace. */
static int write_model(const char *path, const unsigned char *buf, size_t n, nash_err *e)
{
	struct stat st;
	if (!strcmp(path, "-"))
		return nash_write_all(1, buf, n, e) < 0 ? (nash_err_prefix(e, "stdout: "), -1) : 0;
	if (stat(path, &st) < 0 || S_ISREG(st.st_mode))
		return nash_write_file_atomic(path, buf, n, e);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return nash_fail(e, "%s: %s", path, strerror(errno));
	int rc = nash_write_all(fd, buf, n, e);
	if (rc < 0)
		nash_err_prefix(e, "%s: ", path);
	if (close(fd) < 0 && rc == 0)
		rc = nash_fail(e, "%s: %s", path, strerror(errno));
	return rc;
}

static int export_one(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	char *path;
	opt.ngraphs++;
	if (opt.dir) {
		char *f = file_name(g->name);
		for (int i = 0; i < opt.nseen; i++)
			if (!strcmp(opt.seen[i], f)) {
				nash_fail(e, "%s%s: two graphs of the stream map to this file (graph %s); rename one (nash-dump shows the names)",
				          opt.output, f, g->name);
				free(f);
				return -1;
			}
		opt.seen = realloc(opt.seen, (size_t)(opt.nseen + 1) * sizeof *opt.seen);
		opt.seen[opt.nseen++] = f;
		size_t l = strlen(opt.output);
		path = nash_strfmt("%s%s%s", opt.output, l && opt.output[l - 1] == '/' ? "" : "/", f);
	} else {
		if (opt.ngraphs > 1)
			return nash_fail(e, "%s: the stream holds more than one graph (the second is %s); -o DIR/ writes one file per graph",
			                 opt.output, g->name);
		path = nash_strdup(opt.output);
	}
	nash_onnx_export_opts eo = {opt.opset, opt.no_nash};
	unsigned char *buf = NULL;
	size_t n = 0;
	int rc = nash_onnx_export(g, &eo, &buf, &n, e);
	if (rc < 0)
		nash_err_prefix(e, "%s: ", path);
	else
		rc = write_model(path, buf, n, e);
	if (rc == 0) {
		nash_val *m = nash_meta(g, "onnx");
		nash_val_set(m, "exported", nash_val_str(path));
		nash_val_set(m, "opset", nash_val_int(opt.opset ? opt.opset : NASH_ONNX_OPSET_DEFAULT));
		if (tool_progress)
			note("wrote %s (graph %s, %zu bytes)", path, g->name, n);
	}
	free(buf);
	free(path);
	return rc;
}

static int run_export(char **files, int nfiles)
{
	if (!opt.output)
		die_usage("export needs -o FILE.onnx or -o DIR/");
	size_t l = strlen(opt.output);
	struct stat st;
	if (l == 0)
		die_usage("-o: empty path");
	if (strcmp(opt.output, "-") && stat(opt.output, &st) == 0 && S_ISDIR(st.st_mode))
		opt.dir = 1;
	else if (opt.output[l - 1] == '/') {
		opt.dir = 1;
		if (mkdir(opt.output, 0777) < 0 && errno != EEXIST)
			die("%s: cannot create the directory: %s", opt.output, strerror(errno));
	}
	/* the stream passes on to stdout unless the model goes there */
	struct stat so;
	int to_stdout = !strcmp(opt.output, "-") ||
	                (fstat(1, &so) == 0 && stat(opt.output, &st) == 0 && so.st_dev == st.st_dev && so.st_ino == st.st_ino);
	if (to_stdout && opt.dir)
		die_usage("-o: a directory cannot be standard output");
	if (to_stdout)
		tool_stdout_binary();
	opt.pass = !to_stdout && !isatty(1);
	long n = tool_each_graph(files, nfiles, export_one, NULL, opt.pass);
	if (n == 0)
		die("no graph in the input: nothing to export");
	for (int i = 0; i < opt.nseen; i++)
		free(opt.seen[i]);
	free(opt.seen);
	return 0;
}

static int run_import(char **files, int nfiles)
{
	if (nfiles == 0)
		die_usage("import needs at least one FILE.onnx (\"-\" for stdin)");
	if (opt.name && nfiles > 1)
		die_usage("--name works with one FILE only");
	tool_stdout_binary();
	nash_onnx_import_opts io = {opt.name, opt.ignore_nash};
	for (int i = 0; i < nfiles; i++) {
		nash_err e = {{0}};
		nash_graph *g = nash_onnx_import_file(files[i], &io, &e);
		if (!g)
			die("%s", e.msg);
		tool_write_graph(g);
		if (tool_progress)
			note("read %s as graph %s (%d nodes)", files[i], g->name, g->nnodes);
		nash_graph_free(g);
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_OPSET = OPT_TOOL_BASE, O_NONASH, O_IGNORE };
	static const struct option lo[] = {
		{"output", required_argument, 0, 'o'}, {"opset", required_argument, 0, O_OPSET},
		{"no-nash-meta", no_argument, 0, O_NONASH}, {"name", required_argument, 0, 'n'},
		{"ignore-nash-meta", no_argument, 0, O_IGNORE}, TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	tool_init("nash-onnx", argc, argv);
	if (argc < 2)
		die_usage("missing command: export or import");
	const char *cmd = argv[1];
	int is_export = !strcmp(cmd, "export"), is_import = !strcmp(cmd, "import");
	if (!is_export && !is_import) {
		/* options before the command: only --help and --version make sense */
		int c;
		opterr = 0;
		while ((c = getopt_long(argc, argv, "hq", lo, NULL)) != -1)
			if (c != '?')
				tool_std_option(c, help);
		die_usage("unknown command '%s': export or import", cmd);
	}
	int c;
	int sargc = argc - 1;
	char **sargv = argv + 1;  /* options after the command */
	opterr = 0;  /* our own one-line message names the option */
	while ((c = getopt_long(sargc, sargv, ":o:n:qh", lo, NULL)) != -1) {
		if (c == '?' || c == ':')
			die_usage("%s option '%s'", c == ':' ? "missing argument to" : "unknown", sargv[optind - 1]);
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'o':
			if (!is_export)
				die_usage("-o belongs to export; import writes the stream to stdout");
			opt.output = optarg;
			break;
		case O_OPSET:
			if (!is_export)
				die_usage("--opset belongs to export");
			opt.opset = (int)tool_int("opset", optarg, NASH_ONNX_EXPORT_MIN, NASH_ONNX_EXPORT_MAX);
			break;
		case O_NONASH:
			if (!is_export)
				die_usage("--no-nash-meta belongs to export");
			opt.no_nash = 1;
			break;
		case 'n':
			if (!is_import)
				die_usage("--name belongs to import");
			opt.name = optarg;
			break;
		case O_IGNORE:
			if (!is_import)
				die_usage("--ignore-nash-meta belongs to import");
			opt.ignore_nash = 1;
			break;
		case 'q': tool_quiet = 1; tool_progress = 0; break;
		default: die_usage("unknown option");
		}
	}
	char **files = sargv + optind;
	int nfiles = sargc - optind;
	return is_export ? run_export(files, nfiles) : run_import(files, nfiles);
}
