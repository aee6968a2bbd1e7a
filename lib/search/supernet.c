/* supernet.c - the edges of a NASH supernet, their probabilities and the
 * statistics that show a search collapsing. */
#include "search/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int nash_version_parse(const char *s)
{
	if (!s)
		return -1;
	if (s[0] == 'v' || s[0] == 'V')
		s++;
	if (s[0] >= '1' && s[0] <= '4' && !s[1])
		return s[0] - '0';
	return -1;
}

void nash_supernet_free(nash_supernet *s)
{
	free(s->e);
	memset(s, 0, sizeof *s);
}

static int has_prefix(const char *s, const char *pre, size_t n)
{
	return strncmp(s, pre, n) == 0 && s[n] == '.';
}

/* The state an edge reads: the one non-parameter tensor that enters the
 * branch nodes (named "<choice>.<op>...", as the builders name them) from
 * outside; a branch without nodes (identity skip) is the state itself. */
static int find_state(const nash_graph *g, const nash_node *ch, int nops, const char **state, nash_err *e)
{
	size_t pl = strlen(ch->name);
	*state = NULL;
	for (int k = 0; k < nops; k++) {
		const char *b = ch->in[k];
		if (!b[0])
			continue;
		int p = nash_graph_producer(g, b);
		if (p < 0 || !has_prefix(g->nodes[p]->name, ch->name, pl)) {
			/* the branch is a state itself */
			if (*state && strcmp(*state, b) != 0)
				return nash_fail(e, "graph %s: Choice %s: branches read two states (%s, %s)", g->name,
				                 ch->name, *state, b);
			*state = b;
		}
	}
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		if (!has_prefix(n->name, ch->name, pl))
			continue;
		for (int j = 0; j < n->nin; j++) {
			const char *t = n->in[j];
			if (!t[0])
				continue;
			const nash_tensor *pt = nash_tensor_find(g, t);
			if (pt && pt->data)
				continue;               /* a parameter */
			int p = nash_graph_producer(g, t);
			if (p >= 0 && has_prefix(g->nodes[p]->name, ch->name, pl))
				continue;               /* inside the branch */
			if (*state && strcmp(*state, t) != 0)
				return nash_fail(e, "graph %s: Choice %s: branches read two states (%s, %s)", g->name,
				                 ch->name, *state, t);
			*state = t;
		}
	}
	if (!*state)
		return nash_fail(e, "graph %s: Choice %s: cannot find the state its branches read (branch nodes are named %s.<op>...)",
		                 g->name, ch->name, ch->name);
	return 0;
}

static int read_edge(const nash_graph *g, int idx, nash_sedge *x, nash_err *e)
{
	const nash_node *n = g->nodes[idx];
	memset(x, 0, sizeof *x);
	x->node = idx;
	x->name = n->name;
	for (int k = 0; k < NASH_NOPS; k++)
		x->slot[k] = -1;
	const nash_val *ops = nash_val_get(n->attr, "ops");
	if (!ops || ops->t != NASH_V_ARR || ops->u.a.n < 1 || ops->u.a.n > NASH_NOPS)
		return nash_fail(e, "graph %s: Choice %s: attribute ops must list 1..%d candidate names", g->name, n->name,
		                 NASH_NOPS);
	x->nops = (int)ops->u.a.n;
	for (int k = 0; k < x->nops; k++) {
		const char *nm = nash_val_as_str(ops->u.a.v[k]);
		int op = nm ? nash_op_parse(nm) : -1;
		if (op < 0)
			return nash_fail(e, "graph %s: Choice %s: unknown candidate '%s' in ops", g->name, n->name, nm ? nm : "?");
		if (x->slot[op] >= 0)
			return nash_fail(e, "graph %s: Choice %s: candidate %s listed twice", g->name, n->name, nm);
		x->ops[k] = op;
		x->slot[op] = k;
	}
	if (n->nin != x->nops + 1)
		return nash_fail(e, "graph %s: Choice %s: %d inputs for %d candidates (the branches, then alpha)", g->name,
		                 n->name, n->nin, x->nops);
	x->alpha = n->in[x->nops];
	const nash_tensor *a = nash_tensor_find(g, x->alpha);
	if (!a || !a->data || a->dtype != NASH_F32 || nash_tensor_numel(a) != x->nops)
		return nash_fail(e, "graph %s: Choice %s: alpha '%s' must be a float32 parameter of %d logits", g->name,
		                 n->name, x->alpha, x->nops);
	for (int k = 0; k < x->nops; k++)
		if (x->ops[k] == NASH_OP_NONE ? n->in[k][0] != 0 : n->in[k][0] == 0)
			return nash_fail(e, "graph %s: Choice %s: input %d must be %s for candidate %s", g->name, n->name, k,
			                 x->ops[k] == NASH_OP_NONE ? "absent (\"\")" : "a branch", nash_op_name(x->ops[k]));
	static const char *const keys[] = {"cell", "node", "from", "stride"};
	int64_t v[4];
	for (int k = 0; k < 4; k++) {
		v[k] = nash_attr_int(n, keys[k], -1);
		if (v[k] < 0)
			return nash_fail(e, "graph %s: Choice %s: attribute %s missing", g->name, n->name, keys[k]);
	}
	x->cell = (int)v[0];
	x->to = (int)v[1];
	x->from = (int)v[2];
	x->stride = (int)v[3];
	if (x->cell >= NASH_MAXCELLS || x->to >= NASH_MAXNODES || x->from > x->to || x->stride < 1)
		return nash_fail(e, "graph %s: Choice %s: cell %d node %d from %d stride %d is not an edge of a NASH cell",
		                 g->name, n->name, x->cell, x->to, x->from, x->stride);
	if (find_state(g, n, x->nops, &x->state, e) < 0)
		return -1;
	const nash_tensor *si = nash_graph_shape(g, x->state), *so = nash_graph_shape(g, n->out[0]);
	if (!si || !so || si->ndim != 3 || so->ndim != 3)
		return nash_fail(e, "graph %s: Choice %s: its state and output must be C x H x W feature maps", g->name,
		                 n->name);
	x->cin = si->shape[0], x->ih = si->shape[1], x->iw = si->shape[2];
	x->cout = so->shape[0], x->oh = so->shape[1], x->ow = so->shape[2];
	return 0;
}

int nash_supernet_init(nash_supernet *s, const nash_graph *g, nash_err *e)
{
	memset(s, 0, sizeof *s);
	s->g = g;
	memset(s->edge, -1, sizeof s->edge);
	int n = 0;
	for (int i = 0; i < g->nnodes; i++)
		n += strcmp(g->nodes[i]->op, "Choice") == 0;
	if (n == 0)
		return nash_fail(e, "graph %s has no Choice nodes: nothing to search (make a supernet with nash-gen --nash vN --search)",
		                 g->name);
	s->e = nash_alloc((size_t)n * sizeof *s->e);
	for (int i = 0; i < g->nnodes; i++) {
		if (strcmp(g->nodes[i]->op, "Choice") != 0)
			continue;
		nash_sedge *x = &s->e[s->nedges];
		if (read_edge(g, i, x, e) < 0)
			goto fail;
		if (s->edge[x->cell][x->to][x->from] >= 0) {
			nash_fail(e, "graph %s: Choice %s: edge cell %d node %d from %d appears twice", g->name, x->name, x->cell,
			          x->to, x->from);
			goto fail;
		}
		s->edge[x->cell][x->to][x->from] = s->nedges++;
		if (x->cell + 1 > s->plan.ncells)
			s->plan.ncells = x->cell + 1;
		if (x->to + 1 > s->plan.nodes[x->cell])
			s->plan.nodes[x->cell] = x->to + 1;
	}
	/* every node of every cell has one edge from each earlier state */
	for (int c = 0; c < s->plan.ncells; c++) {
		if (!s->plan.nodes[c]) {
			nash_fail(e, "graph %s: cell %d has no Choice nodes", g->name, c);
			goto fail;
		}
		for (int i = 0; i < s->plan.nodes[c]; i++)
			for (int j = 0; j <= i; j++)
				if (s->edge[c][i][j] < 0) {
					nash_fail(e, "graph %s: cell %d node %d has no Choice for the edge from state %d", g->name, c, i, j);
					goto fail;
				}
		int e0 = s->edge[c][0][0];
		s->plan.down[c] = s->e[e0].stride > 1;
		s->plan.stage[c] = c == 0 ? 0 : s->plan.stage[c - 1] + s->plan.down[c];
		if (s->plan.stage[c] > 3) {
			nash_fail(e, "graph %s: more than 4 down-sampling stages", g->name);
			goto fail;
		}
	}
	const nash_val *gen = nash_val_get(g->meta, "gen");
	const char *arch = gen ? nash_val_as_str(nash_val_get(gen, "arch")) : NULL;
	const char *ver = gen ? nash_val_as_str(nash_val_get(gen, "nash")) : NULL;
	if (ver) {
		s->version = nash_version_parse(ver);
		if (s->version < 0) {
			nash_fail(e, "graph %s: meta.gen.nash '%s' is not a NASH version (v1, v2, v3, v4)", g->name, ver);
			goto fail;
		}
	}
	if (arch) {
		snprintf(s->arch, sizeof s->arch, "%s", arch);
		nash_cellplan want;
		if (nash_cellplan_get(arch, &want, NULL) == 0) {
			int ok = want.ncells == s->plan.ncells;
			for (int c = 0; ok && c < want.ncells; c++)
				ok = want.nodes[c] == s->plan.nodes[c] && want.down[c] == s->plan.down[c];
			if (!ok) {
				nash_fail(e, "graph %s: its Choice nodes do not form the NASH cells of %s", g->name, arch);
				goto fail;
			}
		}
	}
	return 0;
fail:
	nash_supernet_free(s);
	return -1;
}

void nash_supernet_probs(const nash_supernet *s, double *p)
{
	for (int i = 0; i < s->nedges; i++) {
		const nash_sedge *x = &s->e[i];
		const float *a = nash_tensor_f32(s->g, x->alpha);
		double *pe = p + (size_t)i * NASH_NOPS, mx = -INFINITY, sum = 0;
		for (int k = 0; k < NASH_NOPS; k++)
			pe[k] = 0;
		for (int k = 0; k < x->nops; k++)
			if (a[k] > mx)
				mx = a[k];
		for (int k = 0; k < x->nops; k++)
			sum += exp(a[k] - mx);
		for (int k = 0; k < x->nops; k++)
			pe[x->ops[k]] = exp(a[k] - mx) / sum;
	}
}

void nash_genotype_winners(const nash_supernet *s, const nash_genotype *gt, nash_winners *w)
{
	memset(w, 0, sizeof *w);
	for (int c = 0; c < gt->ncells && c < s->plan.ncells; c++) {
		int st = s->plan.stage[c];
		if (st + 1 > w->nstages)
			w->nstages = st + 1;
		for (int i = 0; i < gt->nnodes[c]; i++)
			switch (gt->g[c][i].op) {
			case NASH_OP_NONE: w->none[st]++; break;
			case NASH_OP_SKIP: w->skip[st]++; break;
			case NASH_OP_MAXPOOL: w->pool[st]++; break;
			default: w->conv[st]++; break;
			}
	}
}

double nash_alpha_entropy(const nash_supernet *s, const double *p, double *per_stage)
{
	double tot = 0, st[4] = {0};
	int cnt[4] = {0};
	for (int i = 0; i < s->nedges; i++) {
		double h = 0;
		for (int k = 0; k < NASH_NOPS; k++) {
			double q = p[(size_t)i * NASH_NOPS + k];
			if (q > 0)
				h -= q * log(q);
		}
		tot += h;
		int sg = s->plan.stage[s->e[i].cell];
		st[sg] += h;
		cnt[sg]++;
	}
	if (per_stage)
		for (int k = 0; k < 4; k++)
			per_stage[k] = cnt[k] ? st[k] / cnt[k] : 0;
	return s->nedges ? tot / s->nedges : 0;
}
