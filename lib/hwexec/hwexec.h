/*
 * hwexec.h - the integer executor of hardware graphs (the output of
 * nash-stream(1), operators of nash-ops(7) "Hardware operators"): integer
 * arithmetic only, exact, the reference that nash-eval(1) uses for
 * hardware graphs and that nash-hls(1)'s testbench checks C simulation
 * against, bit for bit.
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) with a
 * message naming the graph, node and reason.
 *
 * Semantics beyond nash-ops(7) that the executor and nash-hls share:
 * - MVAU with binaryXnorMode 1 (BIPOLAR input and weights): acc is the
 *   XNOR popcount, the number of positions where x and W agree,
 *   (W^T x + MW) / 2; thresholds are in that unit.
 * - A thresholded output of datatype BIPOLAR (exactly one step) is -1
 *   below the threshold and +1 at or above it; ActVal is not used.
 * - Padding of a sliding window (and of QuantAvgPool) inserts 0, or -1 on
 *   a BIPOLAR stream (the all-zero bit pattern); StreamingMaxPool pads
 *   with the datatype's minimum. QuantAvgPool's shift is arithmetic
 *   (floor).
 * - Outputs that depend on data (an MVAU without thresholds, AddStreams,
 *   QuantAvgPool) must fit their outputDataType; a value that does not is
 *   an error naming the node, since hardware would wrap it.
 * - Activations and outputs are at most 32-bit integers; accumulators are
 *   int64 where int32 could overflow. Weights and thresholds are copied:
 *   the graph may be freed after nash_hwnet_new.
 * - Two engines give the same results. Where the CPU has AVX-512 VNNI,
 *   images run 16 at a time, one in each 32-bit lane ("vnni16": byte
 *   activations, convolutions read in place, thresholds applied while
 *   the sums are in registers, threshold and add steps folded into their
 *   producers); graphs outside its bounds (inputs or weights wider than
 *   8 bits, sums needing int64) and other CPUs run image by image with
 *   int16/uint8 GEMM kernels.
 * - NASH_HWEXEC_ISA=scalar|sse2|avx2|avx512|vnni16 forces a kernel
 *   (tests); by default the best one the CPU runs is chosen at run time.
 *   NASH_HWEXEC_NOFUSE=1 keeps vnni16 from folding steps (tests).
 */
#ifndef NASH_HWEXEC_H
#define NASH_HWEXEC_H

#include "core/nash.h"

typedef struct nash_hwnet nash_hwnet;

/* What the graph's output holds. */
typedef enum {
	NASH_HWOUT_LOGITS = 0,   /* k integer scores per image (argmax = class) */
	NASH_HWOUT_TOPK = 1      /* k class indices, best first (LabelSelect) */
} nash_hwout;

/* Compile a validated hardware graph for batches of up to batch images.
 * Fails naming the first node that is not a hardware operator (or an
 * integer op the executor does not know) or a tensor without an integer
 * datatype. threads 0: every core. */
nash_hwnet *nash_hwnet_new(const nash_graph *g, int batch, int threads,
                           nash_err *e);
void nash_hwnet_free(nash_hwnet *h);

/* Run n <= batch images given as uint8 pixels in the datasets' layout
 * N x C x H x W (the executor reorders to the graph's H x W x C input).
 * Values outside the input datatype are an error. */
int nash_hwnet_run(nash_hwnet *h, const uint8_t *x, int n, nash_err *e);
/* Run n <= batch inputs given as int32 values in the graph input's own
 * H x W x C layout (for inputs that are not pixels: INT8, BIPOLAR, ...).
 * Values outside the input datatype are an error. */
int nash_hwnet_run_hwc(nash_hwnet *h, const int32_t *x, int n, nash_err *e);
/* Outputs of the last run: n x k row-major. */
const int64_t *nash_hwnet_output(const nash_hwnet *h, int *k, nash_hwout *kind);
/* The graph input's shape [H, W, C]. */
void nash_hwnet_input_shape(const nash_hwnet *h, int64_t *hwc);
/* Where the time of the runs so far went, for benchmarks: when the
 * environment had NASH_HWEXEC_PROFILE set at nash_hwnet_new, runs add up
 * the CPU time (summed over threads) of each kind of work. Fills up to n
 * names (an operator, "MVAU sums (vpdpbusd)", "input and output", ...)
 * and seconds, largest first; returns how many (0: not profiling). */
int nash_hwnet_profile(const nash_hwnet *h, const char **what, double *secs, int n);
/* The kernel in use: "vnni16" (the batch engine), "avx512", "avx2",
 * "sse2" or "scalar". */
const char *nash_hwnet_kernel(const nash_hwnet *h);

#endif
