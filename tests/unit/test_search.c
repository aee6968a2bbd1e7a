/* test_search.c - derivation rules per NASH version on crafted alphas,
 * the discrete network they build, hardware costs and their gradient. */
#include "search/search.h"
#include "unit.h"

#include <math.h>
#include <string.h>

static nash_graph *supernet(int version, int width)
{
	nash_err e = {{0}};
	nash_model_opts o = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = width,
	                     .version = version, .search = 1, .seed = 5};
	nash_graph *g = nash_model_build(&o, &e);
	if (!g)
		printf("# build: %s\n", e.msg);
	return g;
}

/* Set alpha of edge cellC.nI.eJ at op to v. */
static void set_alpha(nash_graph *g, int c, int i, int j, int op, float v)
{
	char nm[64];
	snprintf(nm, sizeof nm, "cell%d.n%d.e%d", c, i, j);
	nash_node *n = nash_node_find(g, nm);
	const nash_val *ops = nash_val_get(n->attr, "ops");
	for (size_t k = 0; k < ops->u.a.n; k++)
		if (nash_op_parse(nash_val_as_str(ops->u.a.v[k])) == op)
			nash_tensor_f32(g, n->in[n->nin - 1])[k] = v;
}

static void zero_alphas(nash_graph *g)
{
	for (int i = 0; i < g->nnodes; i++)
		if (strcmp(g->nodes[i]->op, "Choice") == 0) {
			nash_tensor *t = nash_tensor_find(g, g->nodes[i]->in[g->nodes[i]->nin - 1]);
			memset(t->data, 0, nash_tensor_nbytes(t));
		}
}

/* Derive with version v (and max_skip) and return the genotype string of
 * cell c ("" on failure); the whole string goes to *all if non-NULL. */
static char *derive(nash_graph *g, int v, int max_skip, char **all)
{
	nash_err e = {{0}};
	nash_supernet s;
	static char buf[4096];
	buf[0] = 0;
	if (nash_supernet_init(&s, g, &e) < 0) {
		printf("# supernet: %s\n", e.msg);
		return buf;
	}
	double p[512 * NASH_NOPS];
	nash_supernet_probs(&s, p);
	nash_derive_opts o = {v, max_skip};
	nash_genotype gt;
	if (nash_derive(&s, p, &o, &gt, &e) == 0) {
		char *f = nash_genotype_format(&gt);
		snprintf(buf, sizeof buf, "%s", f);
		free(f);
	} else
		printf("# derive: %s\n", e.msg);
	nash_supernet_free(&s);
	if (all)
		*all = buf;
	return buf;
}

/* The part of a genotype string for cell c. */
static const char *cell(const char *gs, int c, char *out)
{
	const char *p = gs;
	for (int k = 0; k < c && p; k++) {
		p = strchr(p, '/');
		if (p)
			p++;
	}
	if (!p)
		return "";
	size_t n = strcspn(p, "/");
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

static void test_rules(void)
{
	char b[256];
	nash_graph *g = supernet(1, 4);
	CHECK(g != NULL, "v1 supernet");
	if (!g)
		return;
	zero_alphas(g);
	/* uniform probabilities: ties go to state 0 and the first non-none op */
	const char *gs = derive(g, 1, -1, NULL);
	CHECK(strcmp(cell(gs, 0, b), "max_pool_3x3@0,max_pool_3x3@0,max_pool_3x3@0,max_pool_3x3@0") == 0,
	      "v1 uniform: ties to state 0, first op (%s)", gs);
	gs = derive(g, 2, -1, NULL);
	CHECK(strcmp(cell(gs, 1, b), "conv_1x1@0,conv_1x1@0,conv_1x1@0,conv_1x1@0") == 0,
	      "v2 uniform: the stride-2 edges take their first conv (%s)", b);
	CHECK(strcmp(cell(gs, 0, b), "max_pool_3x3@0,max_pool_3x3@0,max_pool_3x3@0,max_pool_3x3@0") == 0,
	      "v2 uniform: cell 0 has no stride-2 edge (%s)", b);

	/* cell 1 node 2: the stride-2 edge has skip strongest and a weak
	 * conv_3x3; state 2 offers conv_5x5 */
	set_alpha(g, 1, 2, 0, NASH_OP_SKIP, 3);
	set_alpha(g, 1, 2, 0, NASH_OP_CONV3, 1);
	set_alpha(g, 1, 2, 2, NASH_OP_CONV5, 2);
	/* cell 2 node 1: none dominates the stride-2 edge */
	set_alpha(g, 2, 1, 0, NASH_OP_NONE, 5);
	set_alpha(g, 2, 1, 1, NASH_OP_CONV1, 0.5f);
	/* cell 3 node 3: skip then pool lead on the stride-2 edge, conv_3x3 on
	 * state 3 is the best pair that may win (the reference code's second
	 * fallback reads the first edge again here and takes none@0) */
	set_alpha(g, 3, 3, 0, NASH_OP_SKIP, 4);
	set_alpha(g, 3, 3, 0, NASH_OP_MAXPOOL, 3.9f);
	set_alpha(g, 3, 3, 3, NASH_OP_CONV3, 1);
	/* cell 0 node 1: none dominates state 0, state 1 has conv_5x5 */
	set_alpha(g, 0, 1, 0, NASH_OP_NONE, 6);
	set_alpha(g, 0, 1, 1, NASH_OP_CONV5, 0.1f);

	gs = derive(g, 1, -1, NULL);
	CHECK(strcmp(cell(gs, 1, b), "max_pool_3x3@0,max_pool_3x3@0,skip_connect@0,max_pool_3x3@0") == 0,
	      "v1: the stride-2 skip wins (%s)", b);
	CHECK(strcmp(cell(gs, 0, b), "max_pool_3x3@0,conv_5x5@1,max_pool_3x3@0,max_pool_3x3@0") == 0,
	      "v1: none never wins, the edge ranks by its best non-none op (%s)", b);
	CHECK(strstr(gs, "none") == NULL, "v1 genotype without none");
	CHECK(strcmp(cell(gs, 3, b), "max_pool_3x3@0,max_pool_3x3@0,max_pool_3x3@0,skip_connect@0") == 0,
	      "v1 cell 3 (%s)", b);

	gs = derive(g, 2, -1, NULL);
	CHECK(strcmp(cell(gs, 1, b), "conv_1x1@0,conv_1x1@0,conv_3x3@0,conv_1x1@0") == 0,
	      "v2: edge chosen by its best op (skip), then its best conv (%s)", b);
	CHECK(strcmp(cell(gs, 3, b), "conv_1x1@0,conv_1x1@0,conv_1x1@0,conv_1x1@0") == 0,
	      "v2 cell 3: stride-2 edge kept, best conv on it (%s)", b);
	CHECK(strcmp(cell(gs, 2, b), "conv_1x1@0,conv_1x1@1,conv_1x1@0,conv_1x1@0") == 0,
	      "v2 cell 2: the none-heavy edge loses (%s)", b);

	gs = derive(g, 3, -1, NULL);
	CHECK(strcmp(cell(gs, 1, b), "conv_1x1@0,conv_1x1@0,conv_5x5@2,conv_1x1@0") == 0,
	      "v3: re-ranking drops the stride-2 skip, conv_5x5 on state 2 wins (%s)", b);
	CHECK(strcmp(cell(gs, 3, b), "conv_1x1@0,conv_1x1@0,conv_1x1@0,conv_3x3@3") == 0,
	      "v3: after dropping skip and pool the fallback looks at every edge (%s)", b);
	CHECK(strcmp(cell(gs, 2, b), "conv_1x1@0,conv_1x1@1,conv_1x1@0,conv_1x1@0") == 0,
	      "v3: none never wins (%s)", b);
	CHECK(strcmp(cell(gs, 0, b), "max_pool_3x3@0,conv_5x5@1,max_pool_3x3@0,max_pool_3x3@0") == 0,
	      "v3 cell 0 (no stride-2 edge) is plain (%s)", b);

	gs = derive(g, 4, -1, NULL);
	CHECK(strcmp(cell(gs, 1, b), "conv_1x1@0,conv_1x1@0,conv_5x5@2,conv_1x1@0") == 0,
	      "v4 rules on a six-op supernet: convs only (%s)", b);

	/* every derived genotype parses for its backbone and version */
	nash_cellplan plan;
	nash_cellplan_get("resnet18", &plan, NULL);
	for (int v = 1; v <= 4; v++) {
		nash_genotype gt;
		nash_err e = {{0}};
		gs = derive(g, v, -1, NULL);
		CHECK(nash_genotype_parse(gs, &plan, v, &gt, &e) == 0, "v%d genotype parses: %s", v, e.msg);
	}

	/* max-skip: stage 0 with skip winning on three nodes keeps the most
	 * probable one */
	zero_alphas(g);
	set_alpha(g, 0, 0, 0, NASH_OP_SKIP, 2);
	set_alpha(g, 0, 1, 1, NASH_OP_SKIP, 3);   /* the strongest */
	set_alpha(g, 0, 2, 2, NASH_OP_SKIP, 1);
	set_alpha(g, 0, 2, 0, NASH_OP_CONV3, 0.5f);
	gs = derive(g, 1, -1, NULL);
	CHECK(strcmp(cell(gs, 0, b), "skip_connect@0,skip_connect@1,skip_connect@2,max_pool_3x3@0") == 0,
	      "no limit: three skips (%s)", b);
	gs = derive(g, 1, 1, NULL);
	CHECK(strcmp(cell(gs, 0, b), "max_pool_3x3@0,skip_connect@1,conv_3x3@0,max_pool_3x3@0") == 0,
	      "--max-skip 1 keeps the most probable skip, re-derives the others without skip (%s)", b);
	gs = derive(g, 1, 0, NULL);
	CHECK(strstr(cell(gs, 0, b), "skip") == NULL, "--max-skip 0: no skip in stage 0 (%s)", b);
	nash_graph_free(g);

	/* a v4 supernet: none and convs only */
	g = supernet(4, 4);
	zero_alphas(g);
	set_alpha(g, 1, 0, 0, NASH_OP_NONE, 9);
	set_alpha(g, 1, 0, 0, NASH_OP_CONV5, 1);
	gs = derive(g, 0, -1, NULL);
	CHECK(strcmp(cell(gs, 1, b), "conv_5x5@0,conv_1x1@0,conv_1x1@0,conv_1x1@0") == 0,
	      "v4 supernet, its own rules (%s)", b);
	nash_graph_free(g);
}

static void test_network(void)
{
	nash_err e = {{0}};
	nash_graph *g = supernet(2, 4);
	if (!g)
		return;
	zero_alphas(g);
	set_alpha(g, 2, 3, 3, NASH_OP_CONV5, 3);
	char *gs = derive(g, 0, -1, NULL);
	CHECK(strstr(gs, "conv_5x5@3") != NULL, "v2 derivation by default (supernet's version): %s", gs);
	nash_supernet s;
	nash_supernet_init(&s, g, &e);
	CHECK(s.version == 2 && s.nedges == 40 && s.plan.ncells == 4 && s.plan.down[1] && !s.plan.down[0],
	      "supernet: version 2, 40 edges, cell plan from the Choice nodes");
	CHECK(s.e[s.edge[1][2][0]].cin == 4 && s.e[s.edge[1][2][0]].cout == 8 && s.e[s.edge[1][2][0]].ih == 28 &&
	      s.e[s.edge[1][2][0]].oh == 14, "edge shapes: stride-2 edge 4x28x28 -> 8x14x14");
	nash_genotype gt;
	nash_cellplan plan;
	nash_cellplan_get("resnet18", &plan, NULL);
	nash_genotype_parse(gs, &plan, 2, &gt, &e);
	/* train a weight by hand: inherit copies it, a fresh network does not */
	float *w = nash_tensor_f32(g, "cell2.n3.e3.conv_5x5.conv.weight");
	w[0] = 42;
	int inh = 0;
	nash_graph *d = nash_derive_network(g, &gt, 2, 5, 1, NULL, &inh, &e);
	CHECK(d != NULL, "derived network builds (%s)", e.msg);
	nash_graph *f = nash_derive_network(g, &gt, 2, 5, 0, NULL, NULL, &e);
	if (d && f) {
		CHECK(nash_tensor_f32(d, "cell2.n3.e3.conv_5x5.conv.weight")[0] == 42, "inherit copies trained weights");
		CHECK(nash_tensor_f32(f, "cell2.n3.e3.conv_5x5.conv.weight")[0] != 42, "fresh initialisation by default");
		CHECK(inh > 50, "inherited %d tensors", inh);
		int choices = 0;
		for (int i = 0; i < d->nnodes; i++)
			choices += strcmp(d->nodes[i]->op, "Choice") == 0;
		CHECK(choices == 0 && nash_node_find(d, "cell2.n3.add2") != NULL, "no Choice left, cascade adders present");
		CHECK(strncmp(d->name, "resnet18-nash-v2-w4-g", 21) == 0, "name %s", d->name);
		/* the same network nash-gen --genotype builds */
		nash_model_opts o = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 4, .version = 2,
		                     .genotype = gs, .seed = 5};
		nash_graph *r = nash_model_build(&o, &e);
		int same = r && r->nnodes == f->nnodes && r->ntensors == f->ntensors;
		for (int i = 0; same && i < r->nnodes; i++)
			same = strcmp(r->nodes[i]->name, f->nodes[i]->name) == 0;
		for (int i = 0; same && i < r->ntensors; i++)
			if (r->tensors[i]->data)
				same = memcmp(r->tensors[i]->data, nash_tensor_find(f, r->tensors[i]->name)->data,
				              nash_tensor_nbytes(r->tensors[i])) == 0;
		CHECK(same, "fresh derived network equals nash-gen --genotype with the same seed");
		nash_graph_free(r);
	}
	nash_graph_free(d);
	nash_graph_free(f);
	/* a genotype that does not fit the backbone's version */
	nash_genotype bad = gt;
	bad.g[1][0].op = NASH_OP_SKIP;
	bad.g[1][0].from = 0;
	d = nash_derive_network(g, &bad, 2, 5, 0, NULL, NULL, &e);
	CHECK(d == NULL && strstr(e.msg, "v2 allows only convs"), "v2 network refuses a stride-2 skip: %s", e.msg);
	nash_graph_free(d);

	/* winners and entropy */
	nash_winners wn;
	nash_genotype_parse("sk@0,sk@1,mp@0,c3@3/c1@0,-,c5@1,sk@0/c3@0,c3@0,c3@0,c3@0/mp@0,mp@0,mp@0,mp@0", &plan, 0,
	                    &gt, &e);
	nash_genotype_winners(&s, &gt, &wn);
	CHECK(wn.nstages == 4 && wn.skip[0] == 2 && wn.pool[0] == 1 && wn.conv[0] == 1 && wn.none[1] == 1 &&
	      wn.skip[1] == 1 && wn.conv[2] == 4 && wn.pool[3] == 4, "winners per stage");
	double p[64 * NASH_NOPS], st[4];
	zero_alphas(g);
	nash_supernet_probs(&s, p);
	double h = nash_alpha_entropy(&s, p, st);
	CHECK_NEAR(h, log(6.0), 1e-12, "uniform alphas: entropy log 6");
	set_alpha(g, 3, 0, 0, NASH_OP_CONV3, 50);
	nash_supernet_probs(&s, p);
	nash_alpha_entropy(&s, p, st);
	CHECK(st[3] < st[2] && fabs(st[2] - log(6.0)) < 1e-12, "a decided edge lowers its stage's entropy");
	nash_supernet_free(&s);
	nash_graph_free(g);
}

static void test_costs(void)
{
	nash_err e = {{0}};
	nash_graph *g = supernet(1, 8);
	if (!g)
		return;
	nash_supernet s;
	nash_supernet_init(&s, g, &e);
	double *c = calloc((size_t)s.nedges * NASH_NOPS, sizeof *c);
	double *p = calloc((size_t)s.nedges * NASH_NOPS, sizeof *p);
	double *gr = calloc((size_t)s.nedges * NASH_NOPS, sizeof *gr);
	nash_cost_opts o;
	nash_cost_defaults(&o);
	static const nash_cost_kind kinds[] = {NASH_COST_LUT, NASH_COST_BRAM, NASH_COST_DSP, NASH_COST_CYCLES,
	                                       NASH_COST_MACS};
	for (int k = 0; k < 5; k++) {
		o.kind = kinds[k];
		int rc = nash_search_costs(&s, &o, c, &e);
		CHECK(rc == 0, "%s costs (%s)", nash_cost_name(o.kind), e.msg);
		int e1 = s.edge[2][1][1];   /* stride 1, 32 -> 32 at 7x7 */
		const nash_sedge *x = &s.e[e1];
		double macs3 = (double)(x->cin * x->cout * 9 * x->oh * x->ow);
		double *ce = c + (size_t)e1 * NASH_NOPS;
		printf("# %s: none %g pool %g skip %g c1 %g c3 %g c5 %g\n", nash_cost_name(o.kind), ce[0], ce[1], ce[2],
		       ce[3], ce[4], ce[5]);
		CHECK(ce[NASH_OP_NONE] == 0, "%s: none costs nothing", nash_cost_name(o.kind));
		if (o.kind == NASH_COST_LUT || o.kind == NASH_COST_CYCLES || o.kind == NASH_COST_MACS)
			CHECK(ce[NASH_OP_CONV1] < ce[NASH_OP_CONV3] && ce[NASH_OP_CONV3] < ce[NASH_OP_CONV5],
			      "%s: conv_1x1 < conv_3x3 < conv_5x5", nash_cost_name(o.kind));
		if (o.kind == NASH_COST_LUT)
			CHECK(ce[NASH_OP_SKIP] > 0 && ce[NASH_OP_SKIP] < ce[NASH_OP_CONV1] && ce[NASH_OP_MAXPOOL] < ce[NASH_OP_CONV3],
			      "lut: identity skip is cheaper than convs, pool cheaper than conv_3x3");
		if (o.kind == NASH_COST_MACS)
			CHECK(x->cin == 32 && x->oh == 7 && ce[NASH_OP_CONV3] == macs3 && ce[NASH_OP_SKIP] == 0 &&
			      ce[NASH_OP_MAXPOOL] == 0, "macs: conv_3x3 32->32 at 7x7 is %g", macs3);
		if (o.kind == NASH_COST_DSP)
			CHECK(ce[NASH_OP_CONV3] > 0, "dsp: products on DSP slices");
	}
	/* the expected cost's alpha gradient against central differences */
	o.kind = NASH_COST_LUT;
	nash_search_costs(&s, &o, c, &e);
	for (int i = 0; i < g->ntensors; i++)
		if (strstr(g->tensors[i]->name, ".alpha")) {
			float *a = g->tensors[i]->data;
			for (int64_t k = 0; k < nash_tensor_numel(g->tensors[i]); k++)
				a[k] = (float)(0.3 * sin(1.7 * (double)(i * 7 + k)));
		}
	nash_supernet_probs(&s, p);
	nash_expected_cost(&s, p, c, gr);
	int ed = s.edge[1][3][0];
	float *a = nash_tensor_f32(g, s.e[ed].alpha);
	double worst = 0;
	for (int k = 0; k < s.e[ed].nops; k++) {
		float keep = a[k];
		const double h = 1e-2;
		a[k] = keep + (float)h;
		nash_supernet_probs(&s, p);
		double up = nash_expected_cost(&s, p, c, NULL);
		a[k] = keep - (float)h;
		nash_supernet_probs(&s, p);
		double dn = nash_expected_cost(&s, p, c, NULL);
		a[k] = keep;
		double fd = (up - dn) / (2 * h), an = gr[(size_t)ed * NASH_NOPS + s.e[ed].ops[k]];
		double rel = fabs(fd - an) / (fabs(fd) + 1);
		if (rel > worst)
			worst = rel;
	}
	CHECK(worst < 1e-3, "expected-cost gradient matches central differences (worst rel %.2g)", worst);
	/* bad cost options */
	o.part = "nosuchpart";
	CHECK(nash_search_costs(&s, &o, c, &e) < 0 && strstr(e.msg, "nosuchpart"), "unknown part: %s", e.msg);
	nash_cost_kind kk;
	CHECK(nash_cost_parse("luts", &kk) < 0 && nash_cost_parse("bram", &kk) == 0 && kk == NASH_COST_BRAM,
	      "cost names");
	free(c);
	free(p);
	free(gr);
	nash_supernet_free(&s);
	nash_graph_free(g);
}

static void test_bad(void)
{
	nash_err e = {{0}};
	nash_model_opts o = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 4};
	nash_graph *g = nash_model_build(&o, &e);
	nash_supernet s;
	CHECK(nash_supernet_init(&s, g, &e) < 0 && strstr(e.msg, "has no Choice nodes"), "plain graph: %s", e.msg);
	nash_graph_free(g);
	g = supernet(1, 4);
	nash_node *n = nash_node_find(g, "cell1.n2.e1");
	nash_val_del(n->attr, "from");
	CHECK(nash_supernet_init(&s, g, &e) < 0 && strstr(e.msg, "cell1.n2.e1") && strstr(e.msg, "from"),
	      "Choice without from: %s", e.msg);
	nash_attr_set_int(n, "from", 2);
	CHECK(nash_supernet_init(&s, g, &e) < 0 && strstr(e.msg, "twice"), "duplicate edge: %s", e.msg);
	nash_graph_free(g);
	CHECK(nash_version_parse("v3") == 3 && nash_version_parse("4") == 4 && nash_version_parse("v5") < 0 &&
	      nash_version_parse("v") < 0 && nash_version_parse("v11") < 0, "version names");
}

int main(void)
{
	test_rules();
	test_network();
	test_costs();
	test_bad();
	UNIT_DONE();
}
