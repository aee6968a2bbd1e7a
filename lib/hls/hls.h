/*
 * hls.h - Vitis HLS projects from folded hardware graphs: one template
 * instantiation per layer of nash-ops(7) (share/nash/hls/nash_hls.h),
 * weights and thresholds packed per PE/SIMD, a testbench whose expected
 * outputs come from the integer executor (lib/hwexec), a Tcl script for
 * Vitis HLS, a Makefile whose csim target needs only g++, a README; the
 * project written as a directory or a .tar.gz, atomically; C simulation
 * run and checked. This is the library behind nash-hls(1).
 *
 * Contract: no printing, no exiting; failures return -1 and fill nash_err
 * with one line naming the graph, node and reason.
 */
#ifndef NASH_HLS_LIB_H
#define NASH_HLS_LIB_H

#include "core/nash.h"

/* The graph must be folded (meta.est from nash-est) and hold only
 * operators with a template; -1 naming the first that is not. */
int nash_hls_check(const nash_graph *g, nash_err *e);

/* Testbench inputs: n images in the graph input's H x W x C layout as
 * int32 (malloc'd into *x): the first n test images of data (a dataset
 * spec of nash_dataset_load: fashion-mnist, mnist:DIR, cifar10:FILE, ...)
 * when the input is an image of the data set's shape (or its flattened
 * grey image, 1 x 1 x H*W, for an MLP) and its datatype holds pixels
 * 0..255; else values drawn uniformly from the input datatype with seed.
 * source gets a short description ("fashion-mnist test images 0..9",
 * "random INT8 values, seed 1 ..."); it must hold 256 bytes. */
int nash_hls_inputs(const nash_graph *g, const char *data, int n, uint64_t seed, int32_t **x, char *source,
                    nash_err *e);

/* What was emitted. */
typedef struct nash_hls_info {
	int layers;            /* template instantiations (graph layers) */
	int converters;        /* width converters the emitter added */
	int nfiles;
	char **files;          /* relative paths, in writing order */
	char top[64];          /* the top function's name */
} nash_hls_info;
void nash_hls_info_free(nash_hls_info *info);

/* Write the project for g into the existing empty directory dir, with n
 * testbench images x (from nash_hls_inputs) whose expected outputs the
 * integer executor computes (threads as in nash_hwnet_new). The header
 * library is copied from share_hls (the installed share/nash/hls). */
int nash_hls_write(const nash_graph *g, const int32_t *x, int n, int threads, const char *share_hls,
                   const char *dir, nash_hls_info *info, nash_err *e);

/* Build and run the C simulation in dir with the Makefile's csim target
 * (make and g++ from PATH; CXX is honoured). The log goes to dir/csim.log
 * (removed again when keep_log is 0). passed: every image matched. */
typedef struct nash_hls_csim {
	int ran, passed;
	int images, mismatches;
	double compile_s, run_s;
} nash_hls_csim;
int nash_hls_run_csim(const char *dir, int keep_log, nash_hls_csim *r, nash_err *e);
/* Stop the command the C simulation is running (make, g++, the testbench;
 * its whole process group) and wait for it; nothing when none runs.
 * Async-signal-safe: for a tool's SIGTERM/SIGINT handler. */
void nash_hls_stop_csim(void);

/* Move the finished directory tmpdir to dest atomically (an existing dest
 * is replaced only after the new one is in place), or pack it into the
 * archive dest (.tar.gz, .tgz or .tar, by name) through a temporary file
 * and a rename; the archive's entries live under a top directory named
 * after dest. tmpdir is removed in both cases. */
int nash_hls_install(const char *tmpdir, const char *dest, nash_err *e);
/* 1 if dest names an archive (.tar.gz, .tgz, .tar). */
int nash_hls_is_archive(const char *dest);
/* Remove a directory tree (best effort). */
void nash_hls_rmtree(const char *dir);

#endif
