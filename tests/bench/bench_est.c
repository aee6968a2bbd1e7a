/* bench_est.c - how many ResNet18 graphs (224x224, the test fixture's
 * hardware graph) nash-est's library folds and estimates per second:
 * layer extraction, the FINN-like folding search for 300 fps at 200 MHz on
 * an xczu7ev, costs, FIFO sizing and writing meta.est, PE/SIMD and the
 * FIFO nodes back into the graph (no stream I/O). Also the --fit search. */
#include "../unit/hwfix.c"
#include "hw/hw.h"

#include <stdio.h>
#include <stdlib.h>

static double run(nash_graph *g, const nash_hw_device *dev, int fit, double seconds, int *count)
{
	nash_err e;
	double t0 = nash_now(), t;
	int n = 0;
	do {
		nash_hw_design d;
		if (nash_hw_design_init(&d, g, dev, 200, &e) < 0) {
			fprintf(stderr, "bench_est: %s\n", e.msg);
			exit(1);
		}
		if (fit) {
			nash_hw_limits lim;
			nash_hw_limits_cap(&lim, dev, 85);
			if (nash_hw_fold_fit(&d, &lim, &e) < 0) {
				fprintf(stderr, "bench_est: %s\n", e.msg);
				exit(1);
			}
		} else
			nash_hw_fold_cycles(&d, (int64_t)(200e6 / 300));
		if (nash_hw_write(g, &d, 1, NULL, &e) < 0) {
			fprintf(stderr, "bench_est: %s\n", e.msg);
			exit(1);
		}
		nash_hw_design_free(&d);
		n++;
		t = nash_now() - t0;
	} while (t < seconds);
	*count = n;
	return n / t;
}

int main(void)
{
	nash_err e;
	nash_graph *g = hwfix_resnet18(1, 64);
	const nash_hw_device *zcu = nash_hw_device_find("xczu7ev", &e), *u250 = nash_hw_device_find("xcu250", &e);
	int n1, n2;
	run(g, zcu, 0, 0.1, &n1);   /* warm up */
	double fps = run(g, zcu, 0, 1.0, &n1);
	double fit = run(g, u250, 1, 1.0, &n2);
	printf("est: %.0f ResNet18 graphs/s with automatic folding (--fps 300, xczu7ev, 200 MHz; %d runs); "
	       "%.0f graphs/s with --fit (xcu250, 85%% cap; %d runs)\n", fps, n1, fit, n2);
	nash_graph_free(g);
	return 0;
}
