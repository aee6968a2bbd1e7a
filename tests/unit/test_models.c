/* test_models.c - genotype syntax, cell plans, builder invariants. */
#include "models/models.h"
#include "unit.h"

#include <string.h>

int main(void)
{
	nash_err e = {{0}};
	nash_cellplan p18, p34;
	CHECK(nash_cellplan_get("resnet18", &p18, &e) == 0 && p18.ncells == 4, "resnet18 plan");
	CHECK(nash_cellplan_get("resnet34", &p34, &e) == 0 && p34.ncells == 6, "resnet34 plan");
	int nodes = 0, edges = 0;
	for (int c = 0; c < p34.ncells; c++) {
		nodes += p34.nodes[c];
		edges += p34.nodes[c] * (p34.nodes[c] + 1) / 2;
	}
	CHECK(nodes == 32 && edges == 104, "resnet34: 32 nodes, 104 edges");
	CHECK(!p34.down[0] && p34.down[1] && !p34.down[2] && p34.down[3] && !p34.down[4] && p34.down[5],
	      "resnet34 down-sampling cells 1, 3, 5");
	CHECK(nash_cellplan_get("tfc", &p18, &e) < 0, "tfc has no cells: %s", e.msg);
	nash_cellplan_get("resnet18", &p18, &e);

	nash_genotype g;
	const char *s = "c3@0,sk@1,-,mp@2/conv_1x1@0,none,skip_connect@0,conv_5x5@3/none,none,none,none/c5@0,c5@1,c5@2,c5@3";
	CHECK(nash_genotype_parse(s, &p18, 1, &g, &e) == 0, "parse with aliases (%s)", e.msg);
	char *f = nash_genotype_format(&g);
	CHECK(strcmp(f, "conv_3x3@0,skip_connect@1,none,max_pool_3x3@2/conv_1x1@0,none,skip_connect@0,conv_5x5@3/"
	                "none,none,none,none/conv_5x5@0,conv_5x5@1,conv_5x5@2,conv_5x5@3") == 0, "format: %s", f);
	nash_genotype g2;
	CHECK(nash_genotype_parse(f, &p18, 1, &g2, &e) == 0 && memcmp(&g, &g2, sizeof g) == 0, "round trip");
	free(f);
	CHECK(nash_genotype_parse(s, &p18, 4, &g, &e) < 0 && strstr(e.msg, "not in v4"), "v4 space: %s", e.msg);
	CHECK(nash_genotype_parse("c3@1,-,-,-/-,-,-,-/-,-,-,-/-,-,-,-", &p18, 1, &g, &e) < 0, "state after node: %s", e.msg);
	CHECK(nash_genotype_parse("c3,-,-,-/-,-,-,-/-,-,-,-/-,-,-,-", &p18, 1, &g, &e) < 0 && strstr(e.msg, "@STATE"),
	      "missing state: %s", e.msg);
	CHECK(nash_genotype_parse("c7@0,-,-,-/-,-,-,-/-,-,-,-/-,-,-,-", &p18, 1, &g, &e) < 0 && strstr(e.msg, "c7"),
	      "unknown op: %s", e.msg);
	CHECK(nash_genotype_parse("-,-,-/-,-,-,-/-,-,-,-/-,-,-,-", &p18, 1, &g, &e) < 0 && strstr(e.msg, "3 nodes"),
	      "node count: %s", e.msg);
	CHECK(nash_genotype_parse("-,-,-,-/mp@0,-,-,-/-,-,-,-/-,-,-,-", &p18, 2, &g, &e) < 0, "v2 stride-2 pool: %s", e.msg);
	CHECK(nash_genotype_parse("-,-,-,-/mp@1,-,-,-/-,-,-,-/-,-,-,-", &p18, 2, &g, &e) < 0, "state 1 of node 0");
	CHECK(nash_genotype_parse("-,-,-,-/-,mp@1,-,-/-,-,-,-/-,-,-,-", &p18, 2, &g, &e) == 0, "v2 stride-1 pool ok");

	/* a supernet and the network a genotype derives share tensor names and
	 * initial values, so weights move by name */
	nash_model_opts o = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 8,
	                     .version = 1, .search = 1, .seed = 7};
	nash_graph *sup = nash_model_build(&o, &e);
	o.search = 0;
	o.genotype = s;
	nash_graph *der = nash_model_build(&o, &e);
	CHECK(sup && der, "build supernet and derived (%s)", e.msg);
	int shared = 0, same = 1;
	for (int i = 0; der && i < der->ntensors; i++) {
		nash_tensor *t = der->tensors[i], *u = nash_tensor_find(sup, t->name);
		if (!t->data)
			continue;
		if (u && u->data) {
			shared++;
			same &= memcmp(t->data, u->data, nash_tensor_nbytes(t)) == 0;
		}
	}
	CHECK(shared > 40 && same, "derived weights appear in the supernet with equal values (%d shared)", shared);
	nash_node *ch = nash_node_find(sup, "cell2.n1.e0");
	CHECK(ch && strcmp(ch->op, "Choice") == 0 && nash_attr_int(ch, "stride", 0) == 2 && ch->nin == 7 &&
	      ch->in[0][0] == 0, "Choice inputs: none first, alpha last");
	nash_graph_free(sup);
	nash_graph_free(der);
	UNIT_DONE();
}
