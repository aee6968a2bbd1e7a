/* tool.h - what every nash-* main shares: naming, dying, option parsing,
 * the record loop. Only tools include this; lib/ never exits or prints. */
#ifndef NASH_TOOL_H
#define NASH_TOOL_H

#include "core/nash.h"

#include <getopt.h>

#ifndef NASH_VERSION
#define NASH_VERSION "0.0.0"
#endif

extern const char *tool_name;   /* "nash-gen" */
extern int tool_quiet;          /* --quiet given */
extern int tool_progress;       /* progress wanted: --progress or stderr is a tty */

/* Set the name, SIGPIPE to default (a closed pipe ends us quietly). */
void tool_init(const char *name, int argc, char **argv);
/* "nash-x: msg" on stderr, exit 1 (data or I/O error). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* "nash-x: msg" plus a pointer to --help, exit 2 (usage error). */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Print a warning line "nash-x: warning: msg" unless --quiet. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a status line "nash-x: msg" on stderr unless --quiet. */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "nash-x (nash) VERSION" and exit 0. */
void tool_version(void) __attribute__((noreturn));
/* Print the text and exit 0. */
void tool_help(const char *text) __attribute__((noreturn));
/* Refuse to write a binary stream to a terminal (exit 2). */
void tool_stdout_binary(void);

/* Strict number parsing for options; a bad value is a usage error. */
long tool_int(const char *opt, const char *s, long lo, long hi);
double tool_float(const char *opt, const char *s, double lo, double hi);
/* The index of s in names (NULL-ended); anything else is a usage error
 * that lists them. */
int tool_choice(const char *opt, const char *s, const char *const *names);

/* The record loop. Reads every record of each file in files (stdin when
 * nfiles is 0 or a file is "-"); validates each graph, calls fn, and
 * writes the graph to stdout when out is set. Records of other kinds pass
 * through untouched (when out is set). fn returns 0 to keep the graph,
 * 1 to drop it from the output, -1 on error (e filled). An empty input
 * (no record at all) is an error. Dies on any error. Returns the number
 * of graphs seen. */
typedef int (*tool_graph_fn)(nash_graph *g, void *ctx, nash_err *e);
long tool_each_graph(char **files, int nfiles, tool_graph_fn fn, void *ctx, int out);
/* Write one graph to stdout, dying on error. */
void tool_write_graph(const nash_graph *g);

/* Standard options every tool accepts; use with getopt_long. */
enum { OPT_VERSION = 0x1000, OPT_QUIET, OPT_PROGRESS, OPT_TOOL_BASE = 0x1100 };
#define TOOL_STD_OPTIONS \
	{"help", no_argument, 0, 'h'}, \
	{"version", no_argument, 0, OPT_VERSION}, \
	{"quiet", no_argument, 0, OPT_QUIET}, \
	{"progress", no_argument, 0, OPT_PROGRESS}
/* Handle a standard option; returns 1 if c was one. */
int tool_std_option(int c, const char *help);

#endif
