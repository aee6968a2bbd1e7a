/* test_search.c - derivation rules per NASH version on crafted alphas,
 * the discrete network they build, hardware costs and their gradient. */
#include "search/search.h"
#include "train/train.h"
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

/* ------------------------------------------------ the loop's gradients */

/* A synthetic dataset of n random 1 x 8 x 8 images, 4 classes. */
static nash_dataset *tiny_data(int64_t n, uint64_t seed)
{
	nash_dataset *d = calloc(1, sizeof *d);
	d->name = strdup("tiny");
	d->source = strdup("memory");
	d->c = 1, d->h = 8, d->w = 8, d->classes = 4;
	d->train.n = n;
	d->train.x = malloc((size_t)n * 64);
	d->train.y = malloc((size_t)n);
	nash_rng r;
	nash_rng_seed(&r, seed);
	for (int64_t i = 0; i < n * 64; i++)
		d->train.x[i] = (uint8_t)nash_rng_below(&r, 256);
	for (int64_t i = 0; i < n; i++)
		d->train.y[i] = (uint8_t)nash_rng_below(&r, 4);
	return d;
}

static void tiny_free(nash_dataset *d)
{
	free(d->train.x);
	free(d->train.y);
	free(d->name);
	free(d->source);
	free(d);
}

static nash_graph *tiny_supernet(int version)
{
	nash_err e = {{0}};
	nash_model_opts o = {.arch = "resnet18", .in_c = 1, .in_h = 8, .in_w = 8, .width = 2, .classes = 4,
	                     .version = version, .search = 1, .seed = 3};
	nash_graph *g = nash_model_build(&o, &e);
	if (!g)
		printf("# %s\n", e.msg);
	/* moderate random logits */
	nash_rng r;
	nash_rng_seed(&r, 11);
	for (int i = 0; i < g->ntensors; i++)
		if (strstr(g->tensors[i]->name, ".alpha")) {
			float *a = g->tensors[i]->data;
			for (int64_t k = 0; k < nash_tensor_numel(g->tensors[i]); k++)
				a[k] = (float)(0.8 * nash_rng_normal(&r));
		}
	return g;
}

/* The alpha param of a net by tensor name. */
static nash_param *net_alpha(nash_net *net, const char *name)
{
	for (int i = 0; i < nash_net_nparams(net); i++)
		if (strcmp(nash_net_param(net, i)->name, name) == 0)
			return nash_net_param(net, i);
	return NULL;
}

/* Point the softmax-relaxation net snet at the sampled net's path: every
 * Choice one-hot on the candidate net chose, except edge E, which gets
 * p_j = eps for j != k (k: its chosen candidate). */
static void near_path(nash_net *snet, nash_net *net, const char *edge, double eps)
{
	for (int i = 0; i < nash_net_nchoices(net); i++) {
		const nash_node *c = nash_net_choice(net, i);
		nash_param *a = net_alpha(snet, c->in[c->nin - 1]);
		int k = nash_net_chosen(net, i), mine = strcmp(c->name, edge) == 0;
		for (int64_t q = 0; q < a->n; q++)
			a->w[q] = q == k ? 0.0f : mine ? (float)log(eps) : -1e4f;
	}
}

/* The loop's architecture gradient for edge E against the formula
 * sum_j G_j p_j (delta_ij - p_i) / T + L * p_i (c_i - E[c]) / (T max c),
 * with the gate differences G_j - G_k taken from exact backpropagation
 * through the softmax mixture next to the sampled path (every other
 * candidate at probability eps: d loss / d alpha_j = p_j (G_j - E_p[G])),
 * a code path of the engine independent of the sampled gates. */
static double check_formula(double T, double L, const char *edge, nash_arch_prec prec, int verbose)
{
	nash_err e = {{0}};
	nash_dataset *d = tiny_data(64, 5);
	nash_graph *g = tiny_supernet(1);
	nash_graph *gs = nash_graph_copy(g);
	nash_graph_validate(gs, &e);
	nash_search_opts o;
	nash_search_defaults(&o);
	o.batch = 16;
	o.threads = 1;
	o.temperature = T;
	o.hw_weight = L;
	o.seed = 9;
	o.arch_prec = prec;
	nash_search *s = nash_search_new(g, d, &o, &e);
	if (!s) {
		printf("# search: %s\n", e.msg);
		return 1e9;
	}
	nash_net *net = nash_search_net(s);
	nash_net_opts so = {16, 1, 1, NASH_RELAX_SOFTMAX};
	nash_net *snet = nash_net_new(gs, &so, &e);
	nash_net_train_mode(snet, 1);
	float x[16 * 64];
	int y[16];
	int64_t idx[16];
	for (int i = 0; i < 16; i++)
		idx[i] = i;
	nash_batch_fill(d, &d->train, idx, 16, NULL, NULL, x, y);
	const nash_supernet *sn = nash_search_supernet(s);
	double *grad = calloc((size_t)sn->nedges * NASH_NOPS, sizeof *grad);
	nash_search_arch_grad(s, x, y, 16, 1, NULL, grad, &e);
	int ed = -1, ci = -1;
	for (int i = 0; i < sn->nedges; i++)
		if (strcmp(sn->e[i].name, edge) == 0)
			ed = i;
	for (int i = 0; i < nash_net_nchoices(net); i++)
		if (strcmp(nash_net_choice(net, i)->name, edge) == 0)
			ci = i;
	const nash_sedge *x0 = &sn->e[ed];
	int k = nash_net_chosen(net, ci);
	const double *p = nash_search_probs(s), *c = nash_search_costs_of(s);
	/* the mixture's exact alpha gradient next to the path */
	const double eps = 1e-6;
	near_path(snet, net, edge, eps);
	nash_net_forward(snet, x, 16, &e);
	nash_net_loss(snet, y, 0, NULL, NULL);
	nash_net_zero_grad(snet);
	nash_net_backward(snet, NASH_GRAD_ALPHA, &e);
	nash_param *sa = net_alpha(snet, x0->alpha);
	double ps[NASH_NOPS], D[NASH_NOPS];
	double z = 1 + eps * (x0->nops - 1);
	for (int j = 0; j < x0->nops; j++)
		ps[j] = (j == k ? 1 : eps) / z;
	for (int j = 0; j < x0->nops; j++)
		D[j] = sa->g[j] / ps[j] - sa->g[k] / ps[k];
	double cmax = 0, ec = 0;
	for (int i = 0; i < sn->nedges * NASH_NOPS; i++)
		cmax = c[i] > cmax ? c[i] : cmax;
	for (int j = 0; j < x0->nops; j++)
		ec += p[(size_t)ed * NASH_NOPS + x0->ops[j]] * c[(size_t)ed * NASH_NOPS + x0->ops[j]];
	double worst = 0, scale = 0;
	for (int i = 0; i < x0->nops; i++) {
		double pi = p[(size_t)ed * NASH_NOPS + x0->ops[i]], ref = 0;
		for (int j = 0; j < x0->nops; j++)
			ref += D[j] * p[(size_t)ed * NASH_NOPS + x0->ops[j]] * ((i == j) - pi);
		if (L > 0)
			ref += L * pi * (c[(size_t)ed * NASH_NOPS + x0->ops[i]] - ec) / cmax;
		ref /= T;
		double got = grad[(size_t)ed * NASH_NOPS + x0->ops[i]];
		if (verbose)
			printf("#   %s: loop %.6g formula %.6g\n", nash_op_name(x0->ops[i]), got, ref);
		worst = fmax(worst, fabs(got - ref));
		scale = fmax(scale, fabs(ref));
	}
	free(grad);
	nash_net_free(snet);
	nash_graph_free(gs);
	nash_search_free(s);
	nash_graph_free(g);
	tiny_free(d);
	return worst / (scale + 1e-12);
}

/* In expectation over the sampled op of edge E (the others fixed), the
 * loop's gradient matches the finite-difference gradient of the expected
 * loss sum_k p_k L_k; the estimator is first order, so the match is tight
 * when the branches' outputs are small (their last BN scaled by gamma). */
static void check_expectation(double gamma, double *rel)
{
	nash_err e = {{0}};
	const char *edge = "cell1.n1.e0";
	nash_dataset *d = tiny_data(64, 7);
	nash_graph *g = tiny_supernet(1);
	for (int i = 0; i < g->ntensors; i++) {
		const char *n = g->tensors[i]->name;
		size_t l = strlen(n);
		if (strncmp(n, "cell1.n1.e0.", 12) == 0 && l > 9 && strcmp(n + l - 9, ".bn.scale") == 0)
			for (int64_t q = 0; q < nash_tensor_numel(g->tensors[i]); q++)
				((float *)g->tensors[i]->data)[q] = (float)gamma;
	}
	nash_search_opts o;
	nash_search_defaults(&o);
	o.batch = 16;
	o.threads = 1;
	o.seed = 2;
	o.arch_prec = NASH_ARCH_F32;
	nash_search *s = nash_search_new(g, d, &o, &e);
	nash_net *net = nash_search_net(s);
	const nash_supernet *sn = nash_search_supernet(s);
	float x[16 * 64];
	int y[16];
	int64_t idx[16];
	for (int i = 0; i < 16; i++)
		idx[i] = 16 + i;
	nash_batch_fill(d, &d->train, idx, 16, NULL, NULL, x, y);
	nash_rng r;
	nash_rng_seed(&r, 4);
	nash_net_sample(net, &r);   /* the other edges stay on these */
	int ci = -1, ed = -1;
	for (int i = 0; i < nash_net_nchoices(net); i++)
		if (strcmp(nash_net_choice(net, i)->name, edge) == 0)
			ci = i;
	for (int i = 0; i < sn->nedges; i++)
		if (strcmp(sn->e[i].name, edge) == 0)
			ed = i;
	const nash_sedge *x0 = &sn->e[ed];
	double *grad = calloc((size_t)sn->nedges * NASH_NOPS, sizeof *grad);
	double Lk[NASH_NOPS], est[NASH_NOPS] = {0}, pe[NASH_NOPS];
	const double *p = nash_search_probs(s);
	for (int k = 0; k < x0->nops; k++)
		pe[k] = p[(size_t)ed * NASH_NOPS + x0->ops[k]];
	for (int k = 0; k < x0->nops; k++) {
		nash_net_choose(net, ci, k);
		nash_search_arch_grad(s, x, y, 16, 0, &Lk[k], grad, &e);
		for (int i = 0; i < x0->nops; i++)
			est[i] += pe[k] * grad[(size_t)ed * NASH_NOPS + x0->ops[i]];
	}
	/* F(a) = sum_k softmax(a)_k L_k by central differences in a */
	const nash_tensor *at = nash_tensor_find(g, x0->alpha);
	const float *a = at->data;
	double worst = 0, scale = 0;
	for (int i = 0; i < x0->nops; i++) {
		double f[2];
		for (int sg = 0; sg < 2; sg++) {
			double z[NASH_NOPS], mx = -1e300, sum = 0;
			for (int k = 0; k < x0->nops; k++) {
				z[k] = a[k] + (k == i ? (sg ? -1e-4 : 1e-4) : 0);
				mx = fmax(mx, z[k]);
			}
			for (int k = 0; k < x0->nops; k++)
				sum += exp(z[k] - mx);
			f[sg] = 0;
			for (int k = 0; k < x0->nops; k++)
				f[sg] += exp(z[k] - mx) / sum * Lk[k];
		}
		double fd = (f[0] - f[1]) / 2e-4;
		worst = fmax(worst, fabs(est[i] - fd));
		scale = fmax(scale, fabs(fd));
	}
	*rel = worst / (scale + 1e-12);
	free(grad);
	nash_search_free(s);
	nash_graph_free(g);
	tiny_free(d);
}

static void test_loop_gradients(void)
{
	double r = check_formula(1, 0, "cell1.n1.e1", NASH_ARCH_F32, 0);
	CHECK(r < 1e-4, "sampled-path alpha gradient = sum_j g_j p_j (delta_ij - p_i), gates from the mixture next to the path (rel %.2g)", r);
	r = check_formula(1, 0, "cell2.n2.e0", NASH_ARCH_F32, 0);
	CHECK(r < 1e-4, "the same on a stride-2 edge (rel %.2g)", r);
	r = check_formula(2, 0.7, "cell1.n3.e2", NASH_ARCH_F32, 0);
	CHECK(r < 1e-4, "with temperature 2 and hardware weight 0.7: /T and the cost term (rel %.2g)", r);
	/* bfloat16 alpha steps: inputs and weights of the convolutions rounded
	 * to 8 significant bits, so the gradient agrees to about 1 % */
	const char *be[] = {"cell1.n1.e1", "cell2.n2.e0", "cell1.n3.e2"};
	double rb = 0;
	for (int i = 0; i < 3; i++)
		rb = fmax(rb, check_formula(1, 0, be[i], NASH_ARCH_BF16, 0));
	CHECK(rb < 2e-2, "the same in bfloat16 agrees to within 2 %% (rel %.2g)", rb);
	if (nash_bf16_native())
		CHECK(rb > 1e-4, "... and bfloat16 is in use on this CPU (it differs from f32: rel %.2g)", rb);
	double r1, r2;
	check_expectation(1e-3, &r1);
	check_expectation(0.1, &r2);
	CHECK(r1 < 0.05, "in expectation the estimator matches the finite-difference gradient of the expected loss (rel %.2g with branch outputs scaled by 1e-3)", r1);
	CHECK(r1 < r2, "the estimator is first order: branch outputs scaled by 0.1 widen the gap (%.2g < %.2g)", r1, r2);
}

/* A search stopped after some steps, checkpointed into its graph, read
 * back and resumed ends bit for bit where an uninterrupted one ends. */
static void test_resume(void)
{
	nash_err e = {{0}};
	nash_dataset *d = tiny_data(96, 13);
	nash_search_opts o;
	nash_search_defaults(&o);
	o.batch = 16;
	o.threads = 1;
	o.epochs = 2;
	o.steps = 2;
	o.hw_weight = 0.3;
	o.temperature = 1.5;
	o.eval_images = 32;
	nash_graph *a = tiny_supernet(3), *b = tiny_supernet(3);
	nash_search *sa = nash_search_new(a, d, &o, &e);
	int rc = nash_search_run(sa, NULL, &e);
	nash_genotype ga, gb;
	rc |= nash_search_finish(sa, &ga, &e);
	CHECK(rc == 0, "uninterrupted search (%s)", e.msg);
	nash_search *sb = nash_search_new(b, d, &o, &e);
	/* stop after three steps: one epoch and a step into the next */
	for (int i = 0; i < 3; i++)
		nash_search_step(sb, &e);
	CHECK(nash_search_epochs_done(sb) == 1 && nash_search_step_in_epoch(sb) == 1, "stopped in epoch 2");
	CHECK(nash_search_checkpoint(sb, &e) == 0, "checkpoint (%s)", e.msg);
	unsigned char *buf;
	size_t n;
	nash_encode_graph(b, &buf, &n, &e);
	nash_search_free(sb);
	nash_record *r = NULL;
	nash_decode(buf, n, &r, &e);
	free(buf);
	nash_graph *c = r->graph;
	nash_graph_validate(c, &e);
	nash_search_opts o2 = o;
	o2.epochs = 3;
	nash_search *sc = nash_search_new(c, d, &o2, &e);
	CHECK(nash_search_restore(sc, &e) < 0 && strstr(e.msg, "epochs"), "restore refuses other options: %s", e.msg);
	nash_search_free(sc);
	e.msg[0] = 0;
	sc = nash_search_new(c, d, &o, &e);
	rc = nash_search_restore(sc, &e);
	CHECK(rc == 0, "restore (%s)", e.msg);
	rc = nash_search_run(sc, NULL, &e);
	rc |= nash_search_finish(sc, &gb, &e);
	CHECK(rc == 0, "resumed search (%s)", e.msg);
	int same = 1, cnt = 0;
	for (int i = 0; i < a->ntensors; i++) {
		nash_tensor *t = a->tensors[i], *u = nash_tensor_find(c, t->name);
		if (!t->data)
			continue;
		cnt++;
		same &= u && u->data && memcmp(t->data, u->data, nash_tensor_nbytes(t)) == 0;
	}
	CHECK(same && cnt > 100, "resumed weights, statistics and alphas equal the uninterrupted run's (%d tensors)", cnt);
	const nash_val *ha = nash_val_path(a->meta, "search.history"), *hc = nash_val_path(c->meta, "search.history");
	CHECK(ha && hc && ha->u.a.n == 2 && hc->u.a.n == 2 &&
	      nash_val_equal(nash_val_get(ha->u.a.v[1], "val_loss"), nash_val_get(hc->u.a.v[1], "val_loss")) &&
	      nash_val_equal(nash_val_get(ha->u.a.v[1], "loss"), nash_val_get(hc->u.a.v[1], "loss")),
	      "the same history");
	CHECK(memcmp(&ga, &gb, sizeof ga) == 0, "the same genotype");
	CHECK(!nash_val_get(c->meta, "checkpoint"), "finish removes meta.checkpoint");
	nash_search_free(sa);
	nash_search_free(sc);
	nash_graph_free(a);
	nash_graph_free(b);
	nash_record_free(r);
	tiny_free(d);
}

/* --arch-every K: an alpha step at every K-th step only. */
static void test_arch_every(void)
{
	nash_err e = {{0}};
	nash_dataset *d = tiny_data(96, 17);
	nash_search_opts o;
	nash_search_defaults(&o);
	o.batch = 16;
	o.threads = 1;
	o.epochs = 2;
	o.steps = 3;
	o.arch_every = 2;
	nash_graph *g = tiny_supernet(1);
	nash_search *s = nash_search_new(g, d, &o, &e);
	for (int i = 0; i < 5; i++)
		nash_search_step(s, &e);
	nash_search_checkpoint(s, &e);
	int64_t as = nash_val_as_int(nash_val_path(g->meta, "checkpoint.alpha_optim.steps"), -1);
	int64_t ws = nash_val_as_int(nash_val_path(g->meta, "checkpoint.weights_optim.steps"), -1);
	CHECK(as == 3 && ws == 5, "five steps with an alpha step every 2: 3 alpha and 5 weight updates (%lld, %lld)",
	      (long long)as, (long long)ws);
	nash_search_free(s);
	nash_graph_free(g);
	o.arch_every = 0;
	g = tiny_supernet(1);
	CHECK(nash_search_new(g, d, &o, &e) == NULL && strstr(e.msg, ">= 1"), "arch_every 0 refused: %s", e.msg);
	nash_graph_free(g);
	tiny_free(d);
}

/* ResNet34's six cells (6/4/4/6/6/6 nodes, down-sampling cells 1, 3, 5). */
static void test_resnet34(void)
{
	nash_err e = {{0}};
	nash_model_opts o = {.arch = "resnet34", .in_c = 1, .in_h = 28, .in_w = 28, .width = 2, .version = 3,
	                     .search = 1, .seed = 1};
	nash_graph *g = nash_model_build(&o, &e);
	nash_supernet s;
	CHECK(g && nash_supernet_init(&s, g, &e) == 0 && s.nedges == 104 && s.plan.ncells == 6, "resnet34 supernet: 104 edges (%s)", e.msg);
	CHECK(s.plan.down[1] && !s.plan.down[2] && s.plan.down[3] && s.plan.down[5] && s.plan.stage[2] == 1 &&
	      s.plan.stage[5] == 3, "cells 1, 3, 5 down-sample; stages from the strides");
	/* skip strongest everywhere: v3 keeps it off the stride-2 edges only */
	for (int i = 0; i < s.nedges; i++)
		nash_tensor_f32(g, s.e[i].alpha)[s.e[i].slot[NASH_OP_SKIP]] = 2;
	double *p = calloc((size_t)s.nedges * NASH_NOPS, sizeof *p);
	nash_supernet_probs(&s, p);
	nash_derive_opts d = {0, -1};
	nash_genotype gt;
	CHECK(nash_derive(&s, p, &d, &gt, &e) == 0, "derive");
	nash_winners w;
	nash_genotype_winners(&s, &gt, &w);
	/* the node 0 of a down-sampling cell has the stride-2 edge only: a conv */
	CHECK(w.nstages == 4 && w.skip[0] == 6 && w.conv[0] == 0 && w.skip[1] == 7 && w.conv[1] == 1 &&
	      w.skip[2] == 11 && w.conv[2] == 1 && w.skip[3] == 5 && w.conv[3] == 1,
	      "v3 on resnet34: skip wins everywhere but on the stride-2 edges (%d %d %d %d)", w.skip[0], w.skip[1],
	      w.skip[2], w.skip[3]);
	d.max_skip = 2;
	nash_derive(&s, p, &d, &gt, &e);
	nash_genotype_winners(&s, &gt, &w);
	CHECK(w.skip[0] == 2 && w.skip[1] == 2 && w.skip[2] == 2, "--max-skip 2 per stage, across stage 1's two cells");
	nash_graph *n = nash_derive_network(g, &gt, 3, 1, 0, NULL, NULL, &e);
	CHECK(n != NULL, "resnet34 derived network builds (%s)", e.msg);
	nash_graph_free(n);
	free(p);
	nash_supernet_free(&s);
	nash_graph_free(g);
}

int main(void)
{
	test_rules();
	test_network();
	test_costs();
	test_bad();
	test_loop_gradients();
	test_resume();
	test_arch_every();
	test_resnet34();
	UNIT_DONE();
}
