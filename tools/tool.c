/* tool.c - shared main-program support for the nash-* tools. */
#include "tool.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tool_name = "nash";
int tool_quiet;
int tool_progress;

/* At a successful exit, text still buffered for stdout (help, --list,
 * tables) must reach it: a full disk turns exit 0 into one line and 1. */
static void flush_stdout(int status, void *arg)
{
	(void)arg;
	if (status != 0)
		return;
	errno = 0;
	int bad = ferror(stdout);
	if (fflush(stdout) != 0 || bad) {
		int err = errno;
		fprintf(stderr, "%s: stdout: write error%s%s\n", tool_name, err ? ": " : "",
		        err ? strerror(err) : "");
		_exit(1);
	}
}

static char **tool_argv;
static int tool_argc;

void tool_init(const char *name, int argc, char **argv)
{
	tool_argc = argc;
	tool_argv = argv;
	opterr = 0;  /* tool_std_option names a bad option in our one line */
	tool_name = name;
	nash_set_program(name);
	on_exit(flush_stdout, NULL);
	signal(SIGPIPE, SIG_DFL);
	nash_pipe_widen(1);
	tool_progress = isatty(2);
}

static void vmsg(const char *pre, const char *fmt, va_list ap)
{
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "%s: %s", tool_name, pre);
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	/* one line: fold embedded newlines */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "%s\n", buf);
}

/* Set by die(): a tool that gives up on bad data leaves its memory to the
 * process's end. LeakSanitizer (make check-asan) asks this hook at exit,
 * so it checks for leaks on the paths that finish their work only. */
static volatile int dying;
int __lsan_is_turned_off(void) __attribute__((used, visibility("default")));
int __lsan_is_turned_off(void)
{
	return dying;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	dying = 1;
	exit(1);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	dying = 1;
	fprintf(stderr, "Try '%s --help' for more information.\n", tool_name);
	exit(2);
}

void warn(const char *fmt, ...)
{
	if (tool_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void note(const char *fmt, ...)
{
	if (tool_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void tool_version(void)
{
	printf("%s (nash) %s\n", tool_name, NASH_VERSION);
	exit(0);
}

void tool_help(const char *text)
{
	fputs(text, stdout);
	exit(0);
}

void tool_stdout_binary(void)
{
	if (isatty(1))
		die_usage("refusing to write a binary stream to a terminal; redirect stdout or pipe it (e.g. into nash-dump)");
}

long tool_int(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		die_usage("--%s: '%s' is not an integer", opt, s);
	if (v < lo || v > hi)
		die_usage("--%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
	return v;
}

int tool_choice(const char *opt, const char *s, const char *const *names)
{
	char list[256] = "";
	int n = 0;
	while (names[n])
		n++;
	for (int i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
		size_t l = strlen(list);
		snprintf(list + l, sizeof list - l, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
	}
	die_usage("--%s: '%s' is not %s", opt, s, list);
}

double tool_float(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		die_usage("--%s: '%s' is not a number", opt, s);
	if (v < lo || v > hi)
		die_usage("--%s: %g is out of range [%g, %g]", opt, v, lo, hi);
	return v;
}

int tool_std_option(int c, const char *help)
{
	switch (c) {
	case 'h': tool_help(help);
	case OPT_VERSION: tool_version();
	case OPT_QUIET: tool_quiet = 1; tool_progress = 0; return 1;
	case OPT_PROGRESS: tool_progress = 1; return 1;
	case '?':
		if (tool_argv && optind > 0 && optind <= tool_argc)
			die_usage("option '%s' is unknown or misses its argument", tool_argv[optind - 1]);
		die_usage("unknown or incomplete option");
	default: return 0;
	}
}

void tool_write_graph(const nash_graph *g)
{
	nash_err e = {{0}};
	if (nash_write_graph(1, g, &e) < 0)
		die("stdout: %s", e.msg);
}

long tool_each_graph(char **files, int nfiles, tool_graph_fn fn, void *ctx, int out)
{
	static char *dash[] = {"-"};
	long records = 0, graphs = 0;
	if (nfiles == 0) {
		files = dash;
		nfiles = 1;
	}
	if (out)
		tool_stdout_binary();
	for (int f = 0; f < nfiles; f++) {
		nash_err e = {{0}};
		nash_reader *r = nash_reader_open(files[f], &e);
		if (!r)
			die("%s", e.msg);
		nash_record *rec;
		int rc;
		while ((rc = nash_read(r, &rec, &e)) > 0) {
			records++;
			if (rec->kind == NASH_REC_GRAPH) {
				graphs++;
				if (nash_graph_validate(rec->graph, &e) < 0)
					die("%s", e.msg);
				int keep = fn(rec->graph, ctx, &e);
				if (keep < 0)
					die("%s", e.msg);
				if (out && keep == 0)
					tool_write_graph(rec->graph);
			} else if (out) {
				if (nash_write_record(1, rec, &e) < 0)
					die("stdout: %s", e.msg);
			}
			nash_record_free(rec);
		}
		if (rc < 0)
			die("%s", e.msg);
		nash_reader_free(r);
	}
	if (records == 0)
		die("empty input: no records on %s", nfiles == 1 && strcmp(files[0], "-") ? files[0] : "stdin");
	return graphs;
}
