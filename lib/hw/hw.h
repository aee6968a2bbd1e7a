/*
 * hw.h - FPGA estimation for streamlined (hardware) graphs: the device
 * table, a cost model per hardware layer (cycles, LUT, FF, BRAM18, URAM,
 * DSP), memory mapping (LUTRAM, BRAM, URAM), FIFO and width-converter
 * sizing, and the folding searches (target fps, best fit under a cap or a
 * budget, explicit folding files). This is the library behind nash-est(1);
 * every formula and constant is documented there with its source.
 *
 * Contract: the input graph holds only the hardware operators of
 * nash-ops(7) (H x W x C streams) and has been validated (shapes inferred).
 * Functions never print or exit; failures return -1 and fill nash_err
 * with one line naming the graph, layer and reason.
 */
#ifndef NASH_HW_H
#define NASH_HW_H

#include "core/nash.h"

/* ------------------------------------------------------------- devices */

typedef struct nash_hw_device {
	char part[32];      /* "xczu7ev" */
	char boards[96];    /* comma-separated board names, "zcu104" */
	char family[16];    /* "zynq7", "zynquplus", "virtexuplus" */
	int64_t lut, ff, bram18, uram, dsp;
} nash_hw_device;

/* The device table: $NASH_SHARE/devices.tsv when that file exists (see
 * nash_share_dir; a malformed one makes nash_hw_device_find fail with the
 * file's line), else the built-in copy of share/nash/devices.tsv. */
int nash_hw_ndevices(void);
const nash_hw_device *nash_hw_device_at(int i);
/* Find a device by part (case-insensitive; a full part name such as
 * xc7z020clg400-1 matches its family member xc7z020) or by board name
 * (pynq-z1, zcu104, u250, ...). NULL with "unknown part 'x'; known parts:
 * ..." in e. */
const nash_hw_device *nash_hw_device_find(const char *name, nash_err *e);
/* Replace the table by the TSV file at path (columns: part, boards,
 * family, lut, ff, bram36, uram, dsp; '#' comments). 0 or -1. */
int nash_hw_devices_load(const char *path, nash_err *e);
/* The built-in table as TSV text (what share/nash/devices.tsv holds). */
const char *nash_hw_devices_builtin(void);

/* -------------------------------------------------------------- memory */

typedef enum { NASH_RAM_AUTO = 0, NASH_RAM_DISTRIBUTED, NASH_RAM_BLOCK, NASH_RAM_ULTRA } nash_ram_style;
typedef enum { NASH_MEM_NONE = 0, NASH_MEM_LUTRAM, NASH_MEM_BRAM, NASH_MEM_URAM } nash_mem_kind;

/* "auto", "distributed", "block", "ultra" (FINN's ram_style words). */
const char *nash_ram_style_name(nash_ram_style s);
int nash_ram_style_parse(const char *s, nash_ram_style *out);   /* 0 / -1 */
const char *nash_mem_kind_name(nash_mem_kind k);                /* "lutram", ... */

typedef struct nash_hw_mem {
	nash_mem_kind kind;
	int64_t lut, ff, bram18, uram;
} nash_hw_mem;

/* Map a memory of depth words x width bits (a ROM or simple dual-port RAM)
 * onto LUTRAM, BRAM18/36 or URAM; auto chooses as Vivado does (small
 * memories to LUTRAM, the rest to BRAM; never URAM). */
void nash_hw_mem_map(int64_t depth, int64_t width, nash_ram_style style, nash_hw_mem *m);

/* -------------------------------------------------------------- layers */

typedef enum {
	NASH_HW_MVAU = 0, NASH_HW_SWG, NASH_HW_THRESH, NASH_HW_MAXPOOL, NASH_HW_AVGPOOL,
	NASH_HW_ADD, NASH_HW_DUP, NASH_HW_CONCAT, NASH_HW_LABEL, NASH_HW_FIFO, NASH_HW_DWC,
	NASH_HW_NKINDS
} nash_hw_kind;

/* The op name of a kind ("MVAU", "StreamingFIFO", ...). */
const char *nash_hw_kind_op(nash_hw_kind k);
/* 1 if op is a hardware operator of nash-ops(7). */
int nash_hw_is_hw_op(const char *op);

typedef struct nash_hw_res {
	int64_t lut, ff, bram18, uram, dsp;
} nash_hw_res;

#define NASH_HW_MAXIN 16

typedef struct nash_hw_layer {
	nash_hw_kind kind;
	char name[128];
	int node;                 /* index in the graph's node list; -1 for FIFO/DWC */
	/* geometry (H x W x C); which fields matter depends on the kind */
	int64_t mw, mh, pix;      /* MVAU: MW, MH, pixels (numInputVectors) */
	int64_t ch;               /* channels (SWG: IFMChannels; LabelSelect: Labels) */
	int64_t ih, iw, oh, ow;   /* input and output image, unpadded input */
	int64_t kh, kw, sh, sw, pad[4], dil[2];
	int64_t steps;            /* thresholds per channel (0: none) */
	int64_t k;                /* LabelSelect K; DuplicateStreams outputs */
	int nin;                  /* input streams */
	int64_t cps[NASH_HW_MAXIN]; /* StreamingConcat channels per input */
	int ibits[NASH_HW_MAXIN]; /* bits of each input element */
	int wbits, obits, accbits;
	int xnor;                 /* binary XNOR-popcount MVAU */
	int wbin;                 /* weights of 1 bit (bipolar or binary) */
	int abin;                 /* inputs of 1 bit */
	int tconst;               /* thresholds identical for all channels */
	/* folding (0: not applicable to this kind) */
	int64_t pe, simd;
	int pinned;               /* set by a folding file or --folding: search keeps it */
	nash_ram_style ram;       /* weight (or buffer) memory style */
	nash_ram_style tram;      /* threshold memory style (ram_style_thresholds) */
	int ram_pinned;
	int dsp;                  /* MVAU: products on DSP slices (resType dsp) */
	int dsp_pinned;
	int decoupled;            /* MVAU: weights streamed from a separate memory (FINN's mem_mode decoupled) */
	/* stream connectivity: producer layer of each input (-1: graph input) */
	int from[NASH_HW_MAXIN];
	int64_t user_fifo[NASH_HW_MAXIN]; /* inFIFODepths from the node, 0 if none */
	/* FIFO / DWC entries */
	int64_t depth, inw, outw, words;
	int src, dst, dst_in;     /* producer layer, consumer layer and its input */
	/* results of nash_hw_evaluate */
	int64_t cycles;
	nash_hw_res r;
	nash_mem_kind mem;        /* where the main memory went */
	double arrive;            /* cycles from frame start to the first output */
} nash_hw_layer;

typedef struct nash_hw_limits {
	int64_t cap[5];           /* lut, ff, bram18, uram, dsp; -1: unlimited */
	const char *src[5];       /* "budget" or "cap" (for messages) */
} nash_hw_limits;

enum { NASH_RES_LUT = 0, NASH_RES_FF, NASH_RES_BRAM, NASH_RES_URAM, NASH_RES_DSP };
extern const char *const nash_hw_res_names[5];   /* "lut", "ff", "bram18", "uram", "dsp" */

typedef struct nash_hw_design {
	const nash_graph *g;      /* the graph it was built from */
	nash_hw_layer *l;
	int n, cap;
	int nreal;                /* layers 0..nreal-1 are graph nodes, topological order */
	const nash_hw_device *dev;
	double clock_mhz;
	int max_wwidth;           /* cap on SIMD * weight bits in the search (0: none) */
	/* results of nash_hw_evaluate */
	nash_hw_res total;
	double util[5];           /* percent of the device */
	int64_t max_cycles;       /* bottleneck cycles per frame */
	int bottleneck;           /* layer index */
	int64_t latency_cycles;   /* longest path, sum of cycles */
	double fps, latency_us;
} nash_hw_design;

/* Build the layer list of a validated hardware graph. StreamingFIFO and
 * StreamingDataWidthConverter nodes from an earlier run are bypassed (they
 * are resized and reinserted by nash_hw_write). Folding, ram_style and
 * resType come from the node attributes (PE/SIMD default 1). Fails on the
 * first node that is not a hardware operator ("run nash-stream first"). */
int nash_hw_design_init(nash_hw_design *d, const nash_graph *g, const nash_hw_device *dev,
                        double clock_mhz, nash_err *e);
void nash_hw_design_free(nash_hw_design *d);

/* Set a layer's folding, checking the divisibility rules (PE divides MH or
 * the channels, SIMD divides MW or the channels). 0 or -1 with a message
 * naming the layer and the rule. pe or simd 0: leave unchanged. */
int nash_hw_set_fold(nash_hw_layer *l, int64_t pe, int64_t simd, nash_err *e);
/* The layer's largest legal PE and SIMD (0 when not applicable). */
void nash_hw_fold_max(const nash_hw_layer *l, int64_t *pe, int64_t *simd);

/* Cycles per frame of one layer at its folding. */
int64_t nash_hw_cycles(const nash_hw_layer *l);
/* Resources of one layer at its folding. */
void nash_hw_cost(nash_hw_layer *l, const nash_hw_device *dev);
/* Cost every layer, size FIFOs and width converters (replacing earlier
 * FIFO/DWC entries), and fill totals, utilisation, fps, latency. */
void nash_hw_evaluate(nash_hw_design *d);

/* FINN-style search for target cycles per frame: in graph order, raise
 * SIMD (MVAU: up to max_wwidth bits of weights per cycle), then PE,
 * through the divisors of each dimension until the layer's cycles are at
 * or below the target. Pinned layers keep their folding. Then evaluates.
 * Returns the achieved bottleneck cycles (may exceed the target). */
int64_t nash_hw_fold_cycles(nash_hw_design *d, int64_t target);
/* The fewest cycles per frame reachable (every unpinned layer at its most
 * parallel legal folding), and the layer that limits it. */
int64_t nash_hw_min_cycles(const nash_hw_design *d, int *limiting);
/* Fold for the highest fps whose resources stay within the limits (a
 * binary search over target cycles, then a rebalancing pass); with a part
 * that has URAM, moves the largest weight memories of unpinned layers to
 * URAM when BRAM is the binding limit. -1 with the binding resource in e
 * when even the smallest folding does not fit. */
int nash_hw_fold_fit(nash_hw_design *d, const nash_hw_limits *lim, nash_err *e);
/* When BRAM is over its limit and the part has URAM, move whole layers'
 * memories (unpinned MVAU weights and thresholds, Thresholding tables) to
 * URAM, those freeing the most BRAM per URAM first, while URAM lasts.
 * Re-evaluates the design. */
void nash_hw_use_uram(nash_hw_design *d, const nash_hw_limits *lim);
/* Limits from a utilisation cap in percent of the device. */
void nash_hw_limits_cap(nash_hw_limits *lim, const nash_hw_device *dev, double pct);
/* Parse "lut=20000,bram=100,dsp=50" (bram counts BRAM18; also ff, uram,
 * bram36 = 2 BRAM18) into lim, overriding those entries. 0 or -1. */
int nash_hw_limits_budget(nash_hw_limits *lim, const char *spec, nash_err *e);

/* Find a layer by name (graph layers only); -1 if none. */
int nash_hw_find(const nash_hw_design *d, const char *name);

/* ----------------------------------------------------------- folding files */

typedef struct nash_hw_fold_entry {
	char name[128];
	int64_t pe, simd;         /* 0: not given */
	char ram_style[16];       /* "" if not given */
	char res_type[8];         /* "", "lut", "dsp", "auto" */
	int decoupled;            /* mem_mode: -1 not given, 0 const, 1 decoupled */
	int line;                 /* line in the file (for messages) */
} nash_hw_fold_entry;

typedef struct nash_hw_folding {
	nash_hw_fold_entry *e;
	int n;
	char path[256];
} nash_hw_folding;

/* Read a folding file: TSV (name, PE, SIMD [, ram_style [, resType]] per
 * line; '-' for "not given"; '#' comments; an optional header line starting
 * with "name") or JSON (FINN's folding_config format: an object of layer
 * name -> {"PE": n, "SIMD": n, "ram_style": s, "resType": s, "mem_mode": s};
 * a "Defaults" entry and other keys are ignored). Errors name the file and line. */
int nash_hw_folding_read(const char *path, nash_hw_folding *f, nash_err *e);
void nash_hw_folding_free(nash_hw_folding *f);
/* Apply and pin the entries; unknown layer names, illegal foldings and
 * attributes that do not apply are errors naming the file line. */
int nash_hw_folding_apply(nash_hw_design *d, const nash_hw_folding *f, nash_err *e);
/* Set the ram_style of every graph layer whose name matches the glob
 * (pinned). Returns the number of layers matched. */
int nash_hw_ram_style_glob(nash_hw_design *d, const char *glob, nash_ram_style s);

/* --------------------------------------------------------------- output */

/* Write the estimate back: PE/SIMD/ram_style/resType into the hardware
 * nodes, StreamingFIFO and StreamingDataWidthConverter nodes inserted
 * where FIFOs deeper than 2 or width converters are needed (unless insert
 * is 0; earlier inserted ones are removed first), and meta.est (see
 * nash-est(1) for the keys). extra (may be NULL) is merged into meta.est. */
int nash_hw_write(nash_graph *g, nash_hw_design *d, int insert, const nash_val *extra, nash_err *e);

#endif
