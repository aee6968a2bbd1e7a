/* derive.c - from edge probabilities to a genotype (per NASH version), and
 * from a genotype to the discrete network. */
#include "search/search.h"

#include <stdlib.h>
#include <string.h>

static int is_conv(int op)
{
	return op == NASH_OP_CONV1 || op == NASH_OP_CONV3 || op == NASH_OP_CONV5;
}

typedef struct {
	const nash_supernet *s;
	const double *p;
	int version;
	int inspace[NASH_NOPS];   /* ops of the rules' version */
} ctx;

/* May op win on edge j of node (c, i) at all (none never does)? */
static int candidate(const ctx *x, int c, int i, int j, int op, int banned_skip)
{
	const nash_sedge *ed = &x->s->e[x->s->edge[c][i][j]];
	(void)i;
	if (op == NASH_OP_NONE || ed->slot[op] < 0 || !x->inspace[op])
		return 0;
	if (banned_skip && op == NASH_OP_SKIP)
		return 0;
	return 1;
}

/* The stride-2 edge of a down-sampling cell: only convs may win there
 * (v2's and v3's aim). */
static int conv_only(const ctx *x, int c, int j)
{
	return x->s->plan.down[c] && j == 0;
}

static double prob(const ctx *x, int c, int i, int j, int op)
{
	return x->p[(size_t)x->s->edge[c][i][j] * NASH_NOPS + op];
}

/* One node: fills g and returns its probability, or -1 if nothing may win. */
static double derive_node(const ctx *x, int c, int i, int banned_skip, nash_gene *g)
{
	int bj = -1, bop = -1;
	double best = -1;
	if (x->version == 2) {
		/* the edge whose best non-none op is highest (whatever that op),
		 * then that edge's best op among those allowed on it */
		for (int j = 0; j <= i; j++)
			for (int op = 0; op < NASH_NOPS; op++)
				if (candidate(x, c, i, j, op, banned_skip) && prob(x, c, i, j, op) > best) {
					best = prob(x, c, i, j, op);
					bj = j;
				}
		if (bj < 0)
			return -1;
		best = -1;
		for (int op = 0; op < NASH_NOPS; op++)
			if (candidate(x, c, i, bj, op, banned_skip) && (!conv_only(x, c, bj) || is_conv(op)) &&
			    prob(x, c, i, bj, op) > best) {
				best = prob(x, c, i, bj, op);
				bop = op;
			}
		if (bop < 0)
			bj = -1;
	} else {
		/* the best (edge, op) pair; v3 drops skip and pool on the stride-2
		 * edge, which is re-ranking until a pair that may win comes up */
		for (int j = 0; j <= i; j++)
			for (int op = 0; op < NASH_NOPS; op++) {
				if (!candidate(x, c, i, j, op, banned_skip))
					continue;
				if (x->version == 3 && conv_only(x, c, j) && !is_conv(op))
					continue;
				if (prob(x, c, i, j, op) > best) {
					best = prob(x, c, i, j, op);
					bj = j;
					bop = op;
				}
			}
	}
	if (bj < 0)
		return -1;
	g->op = bop;
	g->from = bj;
	return best;
}

int nash_derive(const nash_supernet *s, const double *p, const nash_derive_opts *o, nash_genotype *gt,
                nash_err *e)
{
	ctx x = {s, p, o->version ? o->version : s->version, {0}};
	if (x.version == 0)
		x.version = 1;
	if (x.version < 1 || x.version > 4)
		return nash_fail(e, "unknown NASH version v%d (known: v1, v2, v3, v4)", x.version);
	int ops[NASH_NOPS], nops = nash_version_ops(x.version, ops);
	for (int k = 0; k < nops; k++)
		x.inspace[ops[k]] = 1;
	memset(gt, 0, sizeof *gt);
	gt->ncells = s->plan.ncells;
	double pr[NASH_MAXCELLS][NASH_MAXNODES];
	for (int c = 0; c < s->plan.ncells; c++) {
		gt->nnodes[c] = s->plan.nodes[c];
		for (int i = 0; i < s->plan.nodes[c]; i++) {
			pr[c][i] = derive_node(&x, c, i, 0, &gt->g[c][i]);
			if (pr[c][i] < 0)
				return nash_fail(e, "graph %s: cell %d node %d: no edge offers an operation v%d may choose",
				                 s->g->name, c, i, x.version);
		}
	}
	if (o->max_skip < 0)
		return 0;
	/* at most max_skip skip winners per stage: the least probable ones are
	 * derived again without skip */
	for (int st = 0; st < 4; st++) {
		for (;;) {
			int n = 0, wc = -1, wi = -1;
			double low = 2;
			for (int c = 0; c < s->plan.ncells; c++) {
				if (s->plan.stage[c] != st)
					continue;
				for (int i = 0; i < s->plan.nodes[c]; i++)
					if (gt->g[c][i].op == NASH_OP_SKIP) {
						n++;
						if (pr[c][i] < low) {
							low = pr[c][i];
							wc = c;
							wi = i;
						}
					}
			}
			if (n <= o->max_skip)
				break;
			pr[wc][wi] = derive_node(&x, wc, wi, 1, &gt->g[wc][wi]);
			if (pr[wc][wi] < 0)
				return nash_fail(e, "graph %s: cell %d node %d: --max-skip leaves no operation v%d may choose",
				                 s->g->name, wc, wi, x.version);
		}
	}
	return 0;
}

/* ------------------------------------------------- the discrete network */

static const char *gen_str(const nash_val *gen, const char *k)
{
	return gen ? nash_val_as_str(nash_val_get(gen, k)) : NULL;
}

nash_graph *nash_derive_network(const nash_graph *g, const nash_genotype *gt, int version, uint64_t seed,
                                int inherit, const char *name, int *ninherited, nash_err *e)
{
	const nash_val *gen = nash_val_get(g->meta, "gen");
	const char *arch = gen_str(gen, "arch");
	if (!arch) {
		nash_fail(e, "graph %s: meta.gen.arch is missing: the derived network is rebuilt from the options nash-gen recorded there (use --keep-supernet to keep the supernet instead)",
		          g->name);
		return NULL;
	}
	nash_model_opts o = {0};
	o.arch = arch;
	const nash_val *in = nash_val_get(gen, "input");
	if (!in || in->t != NASH_V_ARR || in->u.a.n != 3) {
		nash_fail(e, "graph %s: meta.gen.input must be [C, H, W]", g->name);
		return NULL;
	}
	o.in_c = (int)nash_val_as_int(in->u.a.v[0], 0);
	o.in_h = (int)nash_val_as_int(in->u.a.v[1], 0);
	o.in_w = (int)nash_val_as_int(in->u.a.v[2], 0);
	o.classes = (int)nash_val_as_int(nash_val_get(gen, "classes"), 0);
	o.width = (int)nash_val_as_int(nash_val_get(gen, "width"), 0);
	const char *stem = gen_str(gen, "stem"), *style = gen_str(gen, "style");
	o.stem = stem && strcmp(stem, "small") == 0 ? NASH_STEM_SMALL
	         : stem && strcmp(stem, "imagenet") == 0 ? NASH_STEM_IMAGENET : NASH_STEM_AUTO;
	o.ref_style = style && strcmp(style, "ref") == 0;
	o.version = version;
	o.seed = seed;
	char *gs = nash_genotype_format(gt);
	o.genotype = gs;
	char *nm = NULL;
	if (name)
		nm = nash_strdup(name);
	else {
		/* the supernet's name without "-super", tagged with the genotype */
		const char *sp = strstr(g->name, "-super");
		size_t n = strlen(g->name);
		nm = nash_alloc(n + 32);
		if (sp) {
			memcpy(nm, g->name, (size_t)(sp - g->name));
			strcpy(nm + (sp - g->name), sp + 6);
		} else
			strcpy(nm, g->name);
		snprintf(nm + strlen(nm), 32, "-g%08llx", (unsigned long long)(nash_hash(gs) & 0xffffffffu));
	}
	o.name = nm;
	nash_graph *d = nash_model_build(&o, e);
	free(gs);
	free(nm);
	if (!d) {
		nash_err_prefix(e, "graph %s: rebuilding the derived network: ", g->name);
		return NULL;
	}
	int copied = 0;
	if (inherit)
		for (int i = 0; i < d->ntensors; i++) {
			nash_tensor *t = d->tensors[i];
			const nash_tensor *u = nash_tensor_find(g, t->name);
			if (!t->data || !u || !u->data || u->dtype != t->dtype || u->ndim != t->ndim ||
			    memcmp(u->shape, t->shape, (size_t)t->ndim * sizeof *t->shape) != 0)
				continue;
			memcpy(t->data, u->data, nash_tensor_nbytes(t));
			copied++;
		}
	if (ninherited)
		*ninherited = copied;
	/* other stages' meta and unknown keys pass through */
	for (size_t i = 0; i < g->meta->u.m.n; i++) {
		const char *k = nash_val_as_str(g->meta->u.m.k[i]);
		if (k && strcmp(k, "gen") != 0)
			nash_val_set(d->meta, k, nash_val_copy(g->meta->u.m.v[i]));
	}
	if (g->extra)
		d->extra = nash_val_copy(g->extra);
	return d;
}
