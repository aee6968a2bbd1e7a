/* cost.c - cycles and resources of each hardware layer, memory mapping,
 * FIFO and width-converter sizing, design totals. The formulas and the
 * calibration constants are documented in nash-est(1). */
#include "hw/hw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ----------------------------------------------------------- constants */
/* Calibrated against published post-synthesis results (nash-est(1),
 * CALIBRATION); structure from first principles of LUT6 fabric. */
static const struct {
	double lutram_auto_bits;  /* auto: memories up to this many bits go to LUTRAM */
	int srl_max_depth;        /* FIFOs up to this depth are SRL shift registers */
	/* MVAU */
	double mvau_ctl_lut, mvau_ctl_ff;
	double pop_lut;           /* popcount LUTs per XNOR lane */
	double mul_lut;           /* LUTs per bit-product of a W x A multiplier */
	double add_lut;           /* LUTs per adder bit of the SIMD adder tree */
	double cmp_lut;           /* LUTs per bit, comparator against a stored threshold */
	double cmpk_lut;          /* LUTs per bit, comparator against a constant */
	double pipe_ff;           /* FFs per adder-tree LUT (pipeline registers) */
	double dec_ctl_lut, dec_ff; /* decoupled weights: streamer control; FFs per weight-stream bit */
	/* sliding window */
	double swg_ctl_lut, swg_ctl_ff;
	/* thresholding, pools, adders, duplicators, concat, label select */
	double thr_ctl_lut, thr_ctl_ff;
	double pool_ctl_lut, pool_ctl_ff, max_lut;
	double add_ctl_lut, add_ctl_ff;
	double dup_ctl_lut, dup_ctl_ff;
	double cat_ctl_lut, cat_ctl_ff;
	double lbl_ctl_lut, lbl_ctl_ff;
	/* FIFOs and width converters */
	double fifo_ctl_lut, fifo_ctl_ff, dwc_ctl_lut, dwc_ctl_ff;
} cal = {
	.lutram_auto_bits = 4096,
	.srl_max_depth = 256,
	.mvau_ctl_lut = 180, .mvau_ctl_ff = 220,
	.pop_lut = 1.0,
	.mul_lut = 1.0,
	.add_lut = 1.0,
	.cmp_lut = 0.5,
	.cmpk_lut = 0.35,
	.pipe_ff = 0.6,
	.dec_ctl_lut = 40, .dec_ff = 3,
	.swg_ctl_lut = 300, .swg_ctl_ff = 250,
	.thr_ctl_lut = 80, .thr_ctl_ff = 90,
	.pool_ctl_lut = 120, .pool_ctl_ff = 120, .max_lut = 1.5,
	.add_ctl_lut = 50, .add_ctl_ff = 60,
	.dup_ctl_lut = 25, .dup_ctl_ff = 20,
	.cat_ctl_lut = 40, .cat_ctl_ff = 40,
	.lbl_ctl_lut = 120, .lbl_ctl_ff = 80,
	.fifo_ctl_lut = 12, .fifo_ctl_ff = 8,
	.dwc_ctl_lut = 25, .dwc_ctl_ff = 20,
};

static int64_t cdiv(int64_t a, int64_t b)
{
	return b > 0 ? (a + b - 1) / b : 0;
}

static int clog2(int64_t x)
{
	int b = 0;
	while (((int64_t)1 << b) < x)
		b++;
	return b;
}

static int64_t rnd(double x)
{
	return (int64_t)llround(x);
}

/* -------------------------------------------------------------- memory */

const char *nash_ram_style_name(nash_ram_style s)
{
	static const char *const n[] = { "auto", "distributed", "block", "ultra" };
	return (unsigned)s < 4 ? n[s] : "auto";
}

int nash_ram_style_parse(const char *s, nash_ram_style *out)
{
	static const struct { const char *w; nash_ram_style s; } t[] = {
		{"auto", NASH_RAM_AUTO}, {"distributed", NASH_RAM_DISTRIBUTED}, {"lutram", NASH_RAM_DISTRIBUTED},
		{"block", NASH_RAM_BLOCK}, {"bram", NASH_RAM_BLOCK}, {"ultra", NASH_RAM_ULTRA}, {"uram", NASH_RAM_ULTRA},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (strcasecmp(s, t[i].w) == 0) {
			*out = t[i].s;
			return 0;
		}
	return -1;
}

const char *nash_mem_kind_name(nash_mem_kind k)
{
	static const char *const n[] = { "none", "lutram", "bram", "uram" };
	return (unsigned)k < 4 ? n[k] : "none";
}

/* BRAM18 units for depth x width. Vivado's default mapping avoids depth
 * cascades (no output multiplexer): it takes the shallowest aspect ratio
 * that holds the whole depth, in RAMB18 or RAMB36, whichever needs fewer
 * BRAM18 units; above 32K words, rows of 32K x 1 RAMB36s. */
static int64_t bram18_count(int64_t d, int64_t w)
{
	static const int64_t dep18[] = {16384, 8192, 4096, 2048, 1024, 512};
	static const int64_t wid18[] = {1, 2, 4, 9, 18, 36};
	static const int64_t dep36[] = {32768, 16384, 8192, 4096, 2048, 1024, 512};
	static const int64_t wid36[] = {1, 2, 4, 9, 18, 36, 72};
	int64_t rows = cdiv(d, 32768);
	int64_t dd = cdiv(d, rows);
	int64_t best = -1;
	for (int i = 5; i >= 0; i--)
		if (dep18[i] >= dd) {
			best = cdiv(w, wid18[i]);
			break;
		}
	for (int i = 6; i >= 0; i--)
		if (dep36[i] >= dd) {
			int64_t c = 2 * cdiv(w, wid36[i]);
			if (best < 0 || c < best)
				best = c;
			break;
		}
	return rows * best;
}

void nash_hw_mem_map(int64_t depth, int64_t width, nash_ram_style style, nash_hw_mem *m)
{
	memset(m, 0, sizeof *m);
	if (depth <= 0 || width <= 0)
		return;
	if (depth == 1) {        /* one word: a register */
		m->ff = width;
		return;
	}
	if (style == NASH_RAM_AUTO)
		style = (double)depth * (double)width <= cal.lutram_auto_bits ? NASH_RAM_DISTRIBUTED : NASH_RAM_BLOCK;
	switch (style) {
	case NASH_RAM_DISTRIBUTED:
		m->kind = NASH_MEM_LUTRAM;
		m->lut = width * cdiv(depth, 64);        /* RAM64X1 per bit and 64 words */
		m->ff = width;                           /* output register */
		break;
	case NASH_RAM_ULTRA:
		m->kind = NASH_MEM_URAM;
		m->uram = cdiv(width, 72) * cdiv(depth, 4096);
		break;
	default:
		m->kind = NASH_MEM_BRAM;
		m->bram18 = bram18_count(depth, width);
		break;
	}
}

static void add_mem(nash_hw_layer *l, const nash_hw_mem *m, double *lut, double *ff)
{
	*lut += (double)m->lut;
	*ff += (double)m->ff;
	l->r.bram18 += m->bram18;
	l->r.uram += m->uram;
	if (m->kind > l->mem)
		l->mem = m->kind;
}

/* -------------------------------------------------------------- cycles */

static int64_t padded_h(const nash_hw_layer *l) { return l->ih + l->pad[0] + l->pad[2]; }
static int64_t padded_w(const nash_hw_layer *l) { return l->iw + l->pad[1] + l->pad[3]; }

int64_t nash_hw_cycles(const nash_hw_layer *l)
{
	switch (l->kind) {
	case NASH_HW_MVAU:
		return (l->mh / l->pe) * (l->mw / l->simd) * l->pix;
	case NASH_HW_SWG: {
		/* FINN's HLS sliding-window model: fill KH rows, then per output row
		 * the larger of emitting OW windows and reading S new input rows */
		int64_t cf = l->ch / l->simd, wp = padded_w(l);
		int64_t khe = (l->kh - 1) * l->dil[0] + 1;
		int64_t emit = l->ow * l->kh * l->kw * cf, read = l->sh * wp * cf;
		return wp * khe * cf + l->oh * (emit > read ? emit : read);
	}
	case NASH_HW_THRESH: case NASH_HW_ADD: case NASH_HW_DUP:
		return (l->ch / l->pe) * l->pix;
	case NASH_HW_MAXPOOL: case NASH_HW_AVGPOOL:
		/* read every (padded) input pixel once, write every output pixel */
		return (l->ch / l->pe) * (padded_h(l) * padded_w(l) + l->oh * l->ow);
	case NASH_HW_CONCAT:
		return (l->ch / l->simd) * l->pix;
	case NASH_HW_LABEL:
		return l->ch / l->pe;
	case NASH_HW_FIFO:
		return l->words;
	case NASH_HW_DWC: {
		int64_t bits = l->words * l->inw;
		int64_t a = l->words, b = cdiv(bits, l->outw);
		return a > b ? a : b;
	}
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ resources */

/* LUTs of the SIMD-lane datapath of one PE (products and adder tree). */
static double lanes_lut(const nash_hw_layer *l, double *tree_bits)
{
	double q = (double)l->simd;
	double lg = q > 1 ? ceil(log2(q)) : 0;
	double p, mult = 0;
	if (l->xnor) {
		/* XNOR gates, then an adder tree over 1-bit terms (HLS builds
		 * ripple adders, not compressor trees) */
		p = 1;
		mult = cal.pop_lut * q;
	} else if (l->wbin || l->abin) {
		/* one operand of one bit: a select or negate, absorbed into the adders */
		p = (double)(l->wbits > l->ibits[0] ? l->wbits : l->ibits[0]) + 1;
	} else {
		p = (double)(l->wbits + l->ibits[0]);
		mult = cal.mul_lut * l->wbits * l->ibits[0] * q;
	}
	double tree = q > 1 ? cal.add_lut * (q - 1) * (p + lg / 2) : 0;
	*tree_bits = tree;
	return mult + tree;
}

/* Thresholds: up to 15 steps (4-bit outputs) FINN's HLS way, one
 * comparator per step and PE against a TMEM-deep memory per step and PE
 * (constants when TMEM is 1 or all channels share them); more steps use a
 * binary search (FINN's RTL thresholding): log2(steps + 1) comparisons per
 * element, one memory per search stage of TMEM * 2^s words. */
static void thresholds(nash_hw_layer *l, int64_t tmem, int64_t steps, int bits, double *lut, double *ff)
{
	if (steps <= 0)
		return;
	double pe = (double)l->pe;
	nash_hw_mem m;
	if (steps <= 15) {
		int konst = l->tconst || tmem == 1;
		*lut += pe * (double)steps * (konst ? cal.cmpk_lut : cal.cmp_lut) * bits;
		if (!konst) {
			nash_hw_mem_map(tmem, bits, l->tram, &m);
			int64_t k = l->pe * steps;
			m.lut *= k, m.ff *= k, m.bram18 *= k, m.uram *= k;
			add_mem(l, &m, lut, ff);
		}
		return;
	}
	int stages = clog2(steps + 1);
	*lut += pe * stages * (cal.cmp_lut * bits + stages);
	*ff += pe * stages * (bits + stages);
	for (int s = 0; s < stages; s++) {
		nash_hw_mem_map(tmem << s, l->pe * bits, l->tram, &m);
		add_mem(l, &m, lut, ff);
	}
}

static void cost_mvau(nash_hw_layer *l, const nash_hw_device *dev)
{
	double lut = cal.mvau_ctl_lut, ff = cal.mvau_ctl_ff;
	double pe = (double)l->pe;
	int64_t tmem = l->mh / l->pe, sf = l->mw / l->simd;
	double acc = (double)l->accbits;
	double per_pe = 0, per_pe_ff = acc + l->obits;
	if (l->dsp) {
		int pack = (strcmp(dev->family, "zynq7") != 0 && l->wbits <= 8 && l->ibits[0] <= 8) ? 2 : 1;
		l->r.dsp = cdiv(l->pe * l->simd, pack);
		per_pe += acc / 2;                   /* DSP cascade does products and sums */
		per_pe_ff += 0;
	} else {
		double tree;
		per_pe += lanes_lut(l, &tree);
		per_pe_ff += cal.pipe_ff * tree;
		if (sf > 1)
			per_pe += acc;                   /* accumulator */
	}
	thresholds(l, tmem, l->steps, l->accbits, &lut, &ff);
	lut += pe * per_pe;
	ff += pe * per_pe_ff;
	/* weights */
	nash_hw_mem w;
	nash_hw_mem_map((l->mw / l->simd) * tmem, l->pe * l->simd * l->wbits, l->ram, &w);
	add_mem(l, &w, &lut, &ff);
	if (l->decoupled) {   /* streamer: two read registers, the kernel's input register */
		lut += cal.dec_ctl_lut + 2.0 * clog2((l->mw / l->simd) * tmem);
		ff += cal.dec_ff * (double)(l->pe * l->simd * l->wbits);
	}
	/* the input vector is kept while the MH/PE output groups are computed */
	ff += (double)(l->simd * l->ibits[0]);
	if (tmem > 1) {
		nash_hw_mem in;
		nash_hw_mem_map(sf, l->simd * l->ibits[0], NASH_RAM_AUTO, &in);
		add_mem(l, &in, &lut, &ff);
	}
	l->r.lut = rnd(lut);
	l->r.ff = rnd(ff);
}

/* Line buffer of a sliding window: FINN's HLS generator keeps KH/S + 1
 * blocks of S rows (K + S rows for S = 1). */
static void line_buffer(nash_hw_layer *l, int64_t fold, int bits, nash_ram_style style, double *lut, double *ff)
{
	int64_t khe = (l->kh - 1) * l->dil[0] + 1;
	int64_t blocks = khe / l->sh + 1;
	nash_hw_mem m;
	nash_hw_mem_map(l->sh * padded_w(l) * (l->ch / fold), fold * bits, style, &m);
	m.lut *= blocks, m.ff *= blocks, m.bram18 *= blocks, m.uram *= blocks;
	add_mem(l, &m, lut, ff);
	/* output multiplexer over the blocks (LUT6 = 4:1 mux per bit) */
	*lut += (double)(fold * bits) * (double)cdiv(blocks, 4);
}

void nash_hw_cost(nash_hw_layer *l, const nash_hw_device *dev)
{
	memset(&l->r, 0, sizeof l->r);
	l->mem = NASH_MEM_NONE;
	l->cycles = nash_hw_cycles(l);
	double lut = 0, ff = 0;
	nash_hw_mem m;
	switch (l->kind) {
	case NASH_HW_MVAU:
		cost_mvau(l, dev);
		return;
	case NASH_HW_SWG:
		lut = cal.swg_ctl_lut;
		ff = cal.swg_ctl_ff + 2.0 * (double)(l->simd * l->ibits[0]);
		line_buffer(l, l->simd, l->ibits[0], l->ram, &lut, &ff);
		break;
	case NASH_HW_THRESH:
		lut = cal.thr_ctl_lut;
		ff = cal.thr_ctl_ff + (double)l->pe * (l->ibits[0] + l->obits);
		thresholds(l, l->ch / l->pe, l->steps, l->ibits[0], &lut, &ff);
		break;
	case NASH_HW_MAXPOOL: {
		int overlap = l->kh != l->sh || l->kw != l->sw || l->pad[0] || l->pad[1] || l->pad[2] || l->pad[3];
		lut = cal.pool_ctl_lut + (double)(l->pe * l->ibits[0]) * cal.max_lut * (overlap ? 2 : 1);
		ff = cal.pool_ctl_ff + 2.0 * (double)(l->pe * l->ibits[0]);
		if (overlap)
			line_buffer(l, l->pe, l->ibits[0], l->ram, &lut, &ff);
		else {
			nash_hw_mem_map(l->ow * (l->ch / l->pe), l->pe * l->ibits[0], l->ram, &m);
			add_mem(l, &m, &lut, &ff);
		}
		break;
	}
	case NASH_HW_AVGPOOL:
		lut = cal.pool_ctl_lut + (double)(l->pe * l->accbits);
		ff = cal.pool_ctl_ff + (double)(l->pe * (l->accbits + l->obits));
		nash_hw_mem_map(l->ow * (l->ch / l->pe), l->pe * l->accbits, l->ram, &m);
		add_mem(l, &m, &lut, &ff);
		break;
	case NASH_HW_ADD:
		lut = cal.add_ctl_lut + (double)(l->pe * l->obits);
		ff = cal.add_ctl_ff + (double)(l->pe * l->obits);
		break;
	case NASH_HW_DUP:
		lut = cal.dup_ctl_lut * (double)l->k;
		ff = cal.dup_ctl_ff * (double)l->k + (double)(l->pe * l->ibits[0]);
		break;
	case NASH_HW_CONCAT:
		lut = cal.cat_ctl_lut * l->nin + (double)(l->simd * l->obits) * (double)cdiv(l->nin, 4);
		ff = cal.cat_ctl_ff + (double)(l->simd * l->obits);
		break;
	case NASH_HW_LABEL:
		lut = cal.lbl_ctl_lut + (double)(l->pe * l->ibits[0]) + 1.5 * (double)(l->k * (l->ibits[0] + l->obits));
		ff = cal.lbl_ctl_ff + (double)(l->k * (l->ibits[0] + l->obits) + l->pe * l->ibits[0]);
		break;
	case NASH_HW_FIFO: {
		int64_t d = l->depth, w = l->inw;
		if (d <= cal.srl_max_depth) {
			/* SRL16E pairs up to 16 deep, SRLC32E per 32 words and bit */
			lut = cal.fifo_ctl_lut + 2.0 * clog2(d) + (double)(d <= 16 ? cdiv(w, 2) : cdiv(d, 32) * w);
			ff = cal.fifo_ctl_ff + (double)(w + clog2(d));
			l->mem = NASH_MEM_NONE;
		} else {
			lut = cal.fifo_ctl_lut + 4.0 * clog2(d);
			ff = cal.fifo_ctl_ff + (double)(w + 2 * clog2(d));
			nash_hw_mem_map(d, w, l->ram, &m);
			add_mem(l, &m, &lut, &ff);
		}
		break;
	}
	case NASH_HW_DWC: {
		int64_t hi = l->inw > l->outw ? l->inw : l->outw, lo = l->inw > l->outw ? l->outw : l->inw;
		lut = cal.dwc_ctl_lut + (double)hi;
		ff = cal.dwc_ctl_ff + (double)hi;
		if (hi % lo) {    /* general ratio: buffer of in + out bits */
			lut += (double)lo;
			ff += (double)lo;
		}
		break;
	}
	default:
		break;
	}
	l->r.lut = rnd(lut);
	l->r.ff = rnd(ff);
}

/* -------------------------------------------------------- stream widths */

/* Elements per word, bits per element and words per frame of the stream a
 * layer produces. */
static void out_stream(const nash_hw_layer *l, int64_t *epw, int *bits, int64_t *elems)
{
	switch (l->kind) {
	case NASH_HW_MVAU:
		*epw = l->pe, *bits = l->obits, *elems = l->pix * l->mh;
		break;
	case NASH_HW_SWG:
		*epw = l->simd, *bits = l->ibits[0], *elems = l->oh * l->ow * l->kh * l->kw * l->ch;
		break;
	case NASH_HW_MAXPOOL: case NASH_HW_AVGPOOL:
		*epw = l->pe, *bits = l->obits, *elems = l->oh * l->ow * l->ch;
		break;
	case NASH_HW_CONCAT:
		*epw = l->simd, *bits = l->obits, *elems = l->pix * l->ch;
		break;
	case NASH_HW_LABEL:
		*epw = 1, *bits = l->obits, *elems = l->k;
		break;
	default:
		*epw = l->pe, *bits = l->obits, *elems = l->pix * l->ch;
		break;
	}
}

static int64_t in_epw(const nash_hw_layer *l)
{
	switch (l->kind) {
	case NASH_HW_MVAU: case NASH_HW_SWG: case NASH_HW_CONCAT:
		return l->simd;
	default:
		return l->pe;
	}
}

/* Cycles from a layer's first input to its first output, at the pipeline's
 * initiation interval ii: windows wait for their first KH rows. */
static double first_delay(const nash_hw_layer *l, int64_t ii)
{
	switch (l->kind) {
	case NASH_HW_SWG: case NASH_HW_MAXPOOL: case NASH_HW_AVGPOOL: {
		int64_t khe = (l->kh - 1) * l->dil[0] + 1;
		int64_t kwe = (l->kw - 1) * l->dil[1] + 1;
		int64_t rows = khe - l->pad[0];
		if (rows < 1)
			rows = 1;
		int64_t cols = kwe - l->pad[1];
		if (cols < 1)
			cols = 1;
		double frac = ((double)(rows - 1) * l->iw + (double)cols) / ((double)l->ih * l->iw);
		return frac > 1 ? (double)ii : frac * (double)ii;
	}
	case NASH_HW_MVAU:
		return (double)ii / (double)(l->pix > 0 ? l->pix : 1);
	default:
		return 2;
	}
}

/* ----------------------------------------------------------- evaluation */

static nash_hw_layer *append(nash_hw_design *d)
{
	if (d->n == d->cap) {
		d->cap = d->cap * 2 + 8;
		d->l = nash_realloc(d->l, (size_t)d->cap * sizeof *d->l);
	}
	nash_hw_layer *l = &d->l[d->n++];
	memset(l, 0, sizeof *l);
	return l;
}

void nash_hw_evaluate(nash_hw_design *d)
{
	d->n = d->nreal;
	int64_t ii = 1;
	int bn = 0;
	for (int i = 0; i < d->nreal; i++) {
		nash_hw_layer *l = &d->l[i];
		nash_hw_cost(l, d->dev);
		if (l->cycles > ii) {
			ii = l->cycles;
			bn = i;
		}
	}
	d->max_cycles = ii;
	d->bottleneck = bn;
	/* arrival times, FIFOs on every edge that must buffer, width converters */
	for (int i = 0; i < d->nreal; i++) {
		nash_hw_layer *l = &d->l[i];
		double start = 0;
		for (int j = 0; j < l->nin; j++) {
			int p = l->from[j];
			if (p >= 0 && d->l[p].arrive > start)
				start = d->l[p].arrive;
		}
		l->arrive = start + first_delay(l, ii);
		for (int j = 0; j < l->nin; j++) {
			int p = l->from[j];
			int64_t epw, elems, depth = 2;
			int bits;
			if (p >= 0)
				out_stream(&d->l[p], &epw, &bits, &elems);
			else
				epw = in_epw(l), bits = l->ibits[j], elems = 0;
			int64_t words = epw ? elems / epw : 0;
			if (p >= 0 && l->nin > 1) {
				/* a join: words of the early stream that arrive while the
				 * late one is still on its way */
				double wait = start - d->l[p].arrive;
				if (wait > 0) {
					int64_t skip = (int64_t)ceil(wait / (double)ii * (double)words);
					if (skip > 0)
						depth = skip + 2;
				}
			}
			if (l->user_fifo[j] > depth)
				depth = l->user_fifo[j];
			if (depth > 2) {
				/* re-fetch l: append may move the array */
				nash_hw_layer *f = append(d);
				l = &d->l[i];
				f->kind = NASH_HW_FIFO;
				f->node = -1;
				f->src = p, f->dst = i, f->dst_in = j;
				f->depth = depth;
				f->inw = f->outw = epw * bits;
				f->words = words;
				f->ram = NASH_RAM_AUTO;
				snprintf(f->name, sizeof f->name, "fifo_%s_%d", l->name, j);
			}
			int64_t cepw = in_epw(l);
			if (p >= 0 && cepw != epw) {
				nash_hw_layer *c = append(d);
				l = &d->l[i];
				c->kind = NASH_HW_DWC;
				c->node = -1;
				c->src = p, c->dst = i, c->dst_in = j;
				c->inw = epw * bits;
				c->outw = cepw * bits;
				c->words = words;
				snprintf(c->name, sizeof c->name, "dwc_%s_%d", l->name, j);
			}
		}
	}
	for (int i = d->nreal; i < d->n; i++)
		nash_hw_cost(&d->l[i], d->dev);
	/* totals, utilisation, throughput and latency */
	memset(&d->total, 0, sizeof d->total);
	for (int i = 0; i < d->n; i++) {
		const nash_hw_res *r = &d->l[i].r;
		d->total.lut += r->lut;
		d->total.ff += r->ff;
		d->total.bram18 += r->bram18;
		d->total.uram += r->uram;
		d->total.dsp += r->dsp;
	}
	const int64_t have[5] = { d->dev->lut, d->dev->ff, d->dev->bram18, d->dev->uram, d->dev->dsp };
	const int64_t used[5] = { d->total.lut, d->total.ff, d->total.bram18, d->total.uram, d->total.dsp };
	for (int k = 0; k < 5; k++)
		d->util[k] = have[k] > 0 ? 100.0 * (double)used[k] / (double)have[k] : (used[k] ? INFINITY : 0);
	d->fps = d->clock_mhz * 1e6 / (double)ii;
	/* latency: the longest path, summing cycles (FINN's critical path) */
	int64_t lat = 0;
	int64_t *acc = nash_alloc((size_t)d->nreal * sizeof *acc);
	for (int i = 0; i < d->nreal; i++) {
		const nash_hw_layer *l = &d->l[i];
		int64_t best = 0;
		for (int j = 0; j < l->nin; j++)
			if (l->from[j] >= 0 && acc[l->from[j]] > best)
				best = acc[l->from[j]];
		acc[i] = best + l->cycles;
		if (acc[i] > lat)
			lat = acc[i];
	}
	free(acc);
	d->latency_cycles = lat;
	d->latency_us = (double)lat / d->clock_mhz;
}
