/* cost.c - hardware cost of every candidate operation of a supernet, from
 * the hardware layers it would become after streamlining (lib/hw), and the
 * expected cost under the edges' probabilities. The mapping is documented
 * in nash-train(1), SEARCH. */
#include "search/search.h"
#include "hw/hw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nash_cost_name(nash_cost_kind k)
{
	static const char *const n[] = {"lut", "bram", "dsp", "cycles", "macs"};
	return (unsigned)k < 5 ? n[k] : "?";
}

int nash_cost_parse(const char *s, nash_cost_kind *k)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, nash_cost_name((nash_cost_kind)i)) == 0) {
			*k = (nash_cost_kind)i;
			return 0;
		}
	return -1;
}

void nash_cost_defaults(nash_cost_opts *o)
{
	memset(o, 0, sizeof *o);
	o->kind = NASH_COST_LUT;
	o->part = "xczu7ev";
	o->clock_mhz = 200;
	o->fps = 3000;
	o->wbits = 2;
	o->abits = 2;
	o->addbits = 8;
}

static int clog2(int64_t x)
{
	int b = 0;
	while (((int64_t)1 << b) < x)
		b++;
	return b;
}

/* A list of hardware layers being assembled for one candidate. */
typedef struct {
	nash_hw_layer l[8];
	int n;
	const nash_cost_opts *o;
} layers;

static nash_hw_layer *add(layers *L, nash_hw_kind kind, const char *name)
{
	nash_hw_layer *l = &L->l[L->n++];
	memset(l, 0, sizeof *l);
	l->kind = kind;
	snprintf(l->name, sizeof l->name, "%s", name);
	l->node = -1;
	l->nin = 1;
	l->from[0] = -1;
	l->pe = l->simd = 1;
	l->ram = l->tram = NASH_RAM_AUTO;
	l->dil[0] = l->dil[1] = 1;
	return l;
}

/* Thresholds that requantise to the adders' signed addbits-bit stream. */
static int64_t adder_steps(const nash_cost_opts *o)
{
	return ((int64_t)1 << o->addbits) - 2;   /* narrow signed range */
}

/* A KxK/S conv of cin -> cout on an ih x iw map of A-bit activations,
 * followed by BN and the adder's quantizer: a sliding window (none for a
 * 1x1/1 conv, which FINN lowers to a plain matrix product) and an MVAU
 * whose thresholds produce the adder's input. */
static void conv(layers *L, int k, int s, int64_t cin, int64_t cout, int64_t ih, int64_t iw, int64_t oh,
                 int64_t ow, int64_t pad)
{
	const nash_cost_opts *o = L->o;
	if (!(k == 1 && s == 1)) {
		nash_hw_layer *w = add(L, NASH_HW_SWG, "swg");
		w->ch = cin, w->ih = ih, w->iw = iw, w->oh = oh, w->ow = ow;
		w->kh = w->kw = k, w->sh = w->sw = s;
		w->pad[0] = w->pad[1] = w->pad[2] = w->pad[3] = pad;
		w->ibits[0] = w->obits = o->abits;
	}
	nash_hw_layer *m = add(L, NASH_HW_MVAU, "mvau");
	m->mw = (int64_t)k * k * cin, m->mh = cout, m->pix = oh * ow;
	m->wbits = o->wbits, m->ibits[0] = o->abits;
	m->wbin = o->wbits == 1, m->abin = o->abits == 1, m->xnor = m->wbin && m->abin;
	int64_t wmax = m->wbin ? 1 : (int64_t)1 << (o->wbits - 1), amax = m->abin ? 1 : (int64_t)1 << o->abits;
	m->accbits = clog2(m->mw * wmax * amax + 1) + 1;
	m->steps = adder_steps(o);
	m->obits = o->addbits;
	m->dsp = o->kind == NASH_COST_DSP;
}

static void thresholding(layers *L, int64_t ch, int64_t pix, int ibits)
{
	nash_hw_layer *t = add(L, NASH_HW_THRESH, "thresh");
	t->ch = ch, t->pix = pix, t->ibits[0] = ibits;
	t->steps = adder_steps(L->o);
	t->obits = L->o->addbits;
}

static void concat(layers *L, int64_t a, int64_t b, int64_t pix, int bits)
{
	nash_hw_layer *c = add(L, NASH_HW_CONCAT, "concat");
	c->nin = 2;
	c->from[1] = -1;
	c->cps[0] = a, c->cps[1] = b, c->ch = a + b, c->pix = pix;
	c->ibits[0] = c->ibits[1] = c->obits = bits;
}

/* The layers candidate op of edge x becomes; 0 layers for none. */
static void candidate_layers(layers *L, const nash_sedge *x, int op, int version)
{
	const nash_cost_opts *o = L->o;
	L->n = 0;
	if (op == NASH_OP_NONE)
		return;
	int s = x->stride;
	int64_t pin = x->ih * x->iw, pout = x->oh * x->ow;
	switch (op) {
	case NASH_OP_CONV1: case NASH_OP_CONV3: case NASH_OP_CONV5: {
		int k = op == NASH_OP_CONV1 ? 1 : op == NASH_OP_CONV3 ? 3 : 5;
		conv(L, k, s, x->cin, x->cout, x->ih, x->iw, x->oh, x->ow, k / 2);
		break;
	}
	case NASH_OP_MAXPOOL: {
		nash_hw_layer *p = add(L, NASH_HW_MAXPOOL, "pool");
		p->ch = x->cin, p->ih = x->ih, p->iw = x->iw, p->oh = x->oh, p->ow = x->ow;
		p->kh = p->kw = 3, p->sh = p->sw = s;
		p->pad[0] = p->pad[1] = p->pad[2] = p->pad[3] = 1;
		p->ibits[0] = p->obits = o->abits;
		if (x->cout != x->cin) {
			if (version != 2) {   /* channels duplicated: a fork and a concat */
				nash_hw_layer *d = add(L, NASH_HW_DUP, "dup");
				d->ch = x->cin, d->pix = pout, d->k = 2, d->ibits[0] = d->obits = o->abits;
			}                     /* v2: zero channels, a concat with a constant stream */
			concat(L, x->cin, x->cout - x->cin, pout, o->abits);
		}
		thresholding(L, x->cout, pout, o->abits);   /* BN and the adder's quantizer */
		break;
	}
	case NASH_OP_SKIP:
		if (s == 1 && x->cin == x->cout) {
			thresholding(L, x->cin, pin, o->abits);  /* requantise to the adder's scale */
			break;
		}
		/* factorised reduce: two 1x1/S convs (one on the shifted map), concat */
		conv(L, 1, s, x->cin, x->cout / 2, x->ih, x->iw, x->oh, x->ow, 0);
		conv(L, 1, s, x->cin, x->cout - x->cout / 2, x->ih, x->iw, x->oh, x->ow, 0);
		concat(L, x->cout / 2, x->cout - x->cout / 2, pout, o->addbits);
		break;
	}
	/* every op adds a consumer of the state (one more fork output) and a
	 * two-input add of the cascade */
	nash_hw_layer *d = add(L, NASH_HW_DUP, "fork");
	d->ch = x->cin, d->pix = pin, d->k = 2, d->ibits[0] = d->obits = o->abits;
	nash_hw_layer *a = add(L, NASH_HW_ADD, "add");
	a->nin = 2;
	a->from[1] = -1;
	a->ch = x->cout, a->pix = pout;
	a->ibits[0] = a->ibits[1] = o->addbits;
	a->obits = o->addbits + 1;
}

static double branch_macs(const nash_supernet *s, const nash_sedge *x, int op)
{
	const nash_graph *g = s->g;
	char pre[256];
	int n = snprintf(pre, sizeof pre, "%s.%s.", x->name, nash_op_name(op));
	double m = 0;
	for (int i = 0; i < g->nnodes; i++)
		if (strncmp(g->nodes[i]->name, pre, (size_t)n) == 0) {
			int64_t v = nash_node_macs(g, g->nodes[i]);
			if (v > 0)
				m += (double)v;
		}
	return m;
}

int nash_search_costs(const nash_supernet *s, const nash_cost_opts *o, double *cost, nash_err *e)
{
	memset(cost, 0, (size_t)s->nedges * NASH_NOPS * sizeof *cost);
	if (o->kind == NASH_COST_MACS) {
		for (int i = 0; i < s->nedges; i++)
			for (int k = 0; k < s->e[i].nops; k++)
				cost[(size_t)i * NASH_NOPS + s->e[i].ops[k]] = branch_macs(s, &s->e[i], s->e[i].ops[k]);
		return 0;
	}
	if (o->wbits < 1 || o->wbits > 16 || o->abits < 1 || o->abits > 16 || o->addbits < 2 || o->addbits > 16)
		return nash_fail(e, "hardware cost: bit widths must be in 1..16 (weights %d, activations %d, adders %d)",
		                 o->wbits, o->abits, o->addbits);
	if (!(o->clock_mhz > 0) || !(o->fps > 0))
		return nash_fail(e, "hardware cost: clock and fps must be positive");
	const nash_hw_device *dev = nash_hw_device_find(o->part, e);
	if (!dev)
		return -1;
	int64_t target = (int64_t)floor(o->clock_mhz * 1e6 / o->fps);
	if (target < 1)
		target = 1;
	for (int i = 0; i < s->nedges; i++) {
		const nash_sedge *x = &s->e[i];
		for (int k = 0; k < x->nops; k++) {
			layers L = {.o = o};
			candidate_layers(&L, x, x->ops[k], s->version);
			if (!L.n)
				continue;
			nash_hw_design d = {0};
			d.l = nash_alloc(sizeof L.l);   /* evaluate may append to it */
			memcpy(d.l, L.l, (size_t)L.n * sizeof *L.l);
			d.n = d.nreal = L.n;
			d.cap = (int)(sizeof L.l / sizeof *L.l);
			d.dev = dev;
			d.clock_mhz = o->clock_mhz;
			d.max_wwidth = 36;
			double c = 0;
			if (o->kind == NASH_COST_CYCLES) {
				/* the work the op adds, unfolded: what folding must buy back */
				for (int j = 0; j < L.n; j++)
					c += (double)nash_hw_cycles(&d.l[j]);
			} else {
				/* each layer folded for the target rate (no FIFOs: all
				 * inputs come from outside this little design) */
				nash_hw_fold_cycles(&d, target);
				c = o->kind == NASH_COST_LUT ? (double)d.total.lut
				    : o->kind == NASH_COST_BRAM ? (double)d.total.bram18 : (double)d.total.dsp;
			}
			nash_hw_design_free(&d);
			cost[(size_t)i * NASH_NOPS + x->ops[k]] = c;
		}
	}
	return 0;
}

double nash_expected_cost(const nash_supernet *s, const double *p, const double *cost, double *grad)
{
	double tot = 0;
	for (int i = 0; i < s->nedges; i++) {
		const double *pe = p + (size_t)i * NASH_NOPS, *ce = cost + (size_t)i * NASH_NOPS;
		double ex = 0;
		for (int k = 0; k < NASH_NOPS; k++)
			ex += pe[k] * ce[k];
		tot += ex;
		if (grad)
			for (int k = 0; k < NASH_NOPS; k++)
				grad[(size_t)i * NASH_NOPS + k] = pe[k] * (ce[k] - ex);
	}
	return tot;
}

double nash_genotype_cost(const nash_supernet *s, const nash_genotype *gt, const double *cost)
{
	double tot = 0;
	for (int c = 0; c < gt->ncells && c < s->plan.ncells; c++)
		for (int i = 0; i < gt->nnodes[c] && i < s->plan.nodes[c]; i++) {
			const nash_gene *g = &gt->g[c][i];
			if (g->op == NASH_OP_NONE || g->from < 0 || g->from > i)
				continue;
			tot += cost[(size_t)s->edge[c][i][g->from] * NASH_NOPS + g->op];
		}
	return tot;
}
