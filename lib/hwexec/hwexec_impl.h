/* hwexec_impl.h - private to lib/hwexec: the compiled form of a hardware
 * graph shared by the per-image engine (hwexec.c) and the 16-image batch
 * engine (lanes.c). */
#ifndef NASH_HWEXEC_IMPL_H
#define NASH_HWEXEC_IMPL_H

#include "hwexec/hwexec.h"
#include "kern.h"

#include <stdint.h>
#include <stdio.h>

typedef enum { ST_SWG, ST_MVAU, ST_THR, ST_MAXPOOL, ST_AVGPOOL, ST_ADD, ST_DUP, ST_CONCAT, ST_LABEL } stkind;

#define MAXIO 16

typedef struct slot {
	char *name;
	int64_t pix, ch;         /* pixels x channels */
	int el;                  /* bytes an element: 4 (int32), or a GEMM operand's
	                            rows of int16 (2) or uint8 (1) at stride ld */
	int64_t ld;              /* elements per row */
	nash_datatype dt;
	size_t off, bytes;       /* place in a thread's workspace */
	int alias;               /* -1, or the slot it is the same buffer as */
} slot;

/* Thresholds of one layer, ready to apply. */
typedef struct thr {
	int64_t steps, rows;     /* rows: channels, or 1 for shared thresholds */
	int64_t *t;              /* rows x steps, as given */
	int sorted;              /* every row ascending: binary search is exact */
	int32_t *tt;             /* steps x chp, int32, transposed (small tables) */
	int32_t *blk;            /* large sorted tables: rows x 256, padded */
	int32_t *coarse;         /* rows x 16: the last threshold of each block of 16 */
	int32_t *lut;            /* rows x span: the output for lo .. lo+span-1 */
	int64_t lo, span;
	int64_t actval;
	int bipolar;             /* BIPOLAR output: -1 below, +1 at or above */
} thr;

typedef struct step {
	stkind k;
	char *name, *op;
	int nin, nout, in[MAXIO], out[MAXIO];
	/* geometry */
	int64_t ih, iw, c, oh, ow, kh, kw, sh, sw, dh, dw, pad[4];
	int64_t padval;          /* what padding inserts */
	/* MVAU */
	int64_t mw, mh, kp, mhp, pix;
	int fast, xnor, u8;
	int16_t *wp;             /* packed (fast) */
	int8_t *wp8;             /* packed (u8 x s8) */
	int64_t *wt;             /* mh x mw (slow path) */
	int has_thr;
	thr th;
	/* range check of data-dependent outputs */
	int check;
	int64_t omin, omax;
	nash_datatype odt;
	/* QuantAvgPool */
	int shift;
	/* LabelSelect */
	int64_t kk;
	/* StreamingConcat */
	int64_t cps[MAXIO];
} step;

struct nash_hwnet {
	char *gname;
	int batch, threads;
	hwk_isa isa;
	int nslots;
	slot *s;
	int nsteps;
	step *st;
	int in_slot, out_slot;
	int64_t ih, iw, ic;
	nash_datatype idt;
	size_t ws_bytes;         /* per thread: slots + scratch */
	size_t scratch_off, scratch_bytes;
	unsigned char **ws;      /* one workspace per thread */
	int nws;
	int64_t k;
	nash_hwout kind;
	int64_t *out;            /* batch x k */
	int32_t *inbuf;          /* batch x (H*W*C) reordered input */
	struct hwx_lanes *lanes;  /* the batch engine, when it runs this graph */
	int prof;                /* NASH_HWEXEC_PROFILE: time kinds of work */
	double prof_s[8];        /* thread CPU seconds per HWX_P_* */
};

/* kinds of work a profile tells apart */
enum { HWX_P_IO, HWX_P_GEMM, HWX_P_EPI, HWX_P_THR, HWX_P_ADD, HWX_P_POOL, HWX_P_OTHER, HWX_P_N };

typedef struct runerr {
	int set;
	char msg[512];
} runerr;

void hwx_range_fail(runerr *re, const nash_hwnet *h, const step *s, int64_t v);
/* profiling: the calling thread's CPU time; add seconds to a kind */
double hwx_cpu_now(void);
void hwx_prof_add(nash_hwnet *h, int kind, double s);
int hwx_prof_kind(const step *s);

static inline int hwx_base_slot(const nash_hwnet *h, int i)
{
	while (h->s[i].alias >= 0)
		i = h->s[i].alias;
	return i;
}

/* #{i : T[i] <= v} for sorted T of n values (the first index with
 * T[i] > v). */
static inline int64_t hwx_count_le(const int64_t *T, int64_t n, int64_t v)
{
	int64_t lo = 0, hi = n;
	while (lo < hi) {
		int64_t mid = (lo + hi) / 2;
		if (v >= T[mid])
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline int64_t hwx_thr_count(const thr *th, int64_t c, int64_t v)
{
	const int64_t *r = th->t + (th->rows == 1 ? 0 : c) * th->steps;
	if (th->sorted)
		return hwx_count_le(r, th->steps, v);
	int64_t n = 0;
	for (int64_t s = 0; s < th->steps; s++)
		n += v >= r[s];
	return n;
}

static inline int32_t hwx_thr_out(const thr *th, int64_t n)
{
	return th->bipolar ? (n ? 1 : -1) : (int32_t)(th->actval + n);
}

/* The batch engine (lanes.c): only where hwx_lanes_cpu (AVX-512 F, BW,
 * DQ, VL and VNNI). */
int hwx_lanes_cpu(void);
struct hwx_lanes *hwx_lanes_new(const nash_hwnet *h, const nash_graph *g, nash_err *e);
void hwx_lanes_free(struct hwx_lanes *l);
/* Run n images from h->inbuf into h->out. */
int hwx_lanes_run(nash_hwnet *h, int n, nash_err *e);

#endif
