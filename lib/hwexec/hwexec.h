/*
 * hwexec.h - the integer executor of hardware graphs (the output of
 * nash-stream(1), operators of nash-ops(7) "Hardware operators"): integer
 * arithmetic only, exact, the reference that nash-eval(1) uses for
 * hardware graphs and that nash-hls(1)'s testbench checks C simulation
 * against, bit for bit.
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) with a
 * message naming the graph, node and reason.
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
/* Outputs of the last run: n x k row-major. */
const int64_t *nash_hwnet_output(const nash_hwnet *h, int *k, nash_hwout *kind);

#endif
