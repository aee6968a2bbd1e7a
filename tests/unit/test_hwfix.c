/* test_hwfix.c - checks of the hardware-graph TEST FIXTURE (hwfix.c), and
 * the tiny generator the nash-est bats suite uses until nash-stream exists:
 *   test_hwfix emit NAME FILE
 * writes one fixture graph (tfc, cnv, cybsec, resnet18, resnet18-28-w16,
 * resnet18-28-w64) as a nash stream. Without arguments it runs as a TAP
 * unit test. */
#include "hwfix.c"
#include "unit.h"

#include <string.h>

static nash_graph *by_name(const char *name)
{
	if (!strcmp(name, "tfc"))
		return hwfix_tfc();
	if (!strcmp(name, "cnv"))
		return hwfix_cnv();
	if (!strcmp(name, "cybsec"))
		return hwfix_cybsec();
	if (!strcmp(name, "resnet18"))
		return hwfix_resnet18(1, 64);
	if (!strcmp(name, "resnet18-28-w16"))
		return hwfix_resnet18(0, 16);
	if (!strcmp(name, "resnet18-28-w64"))
		return hwfix_resnet18(0, 64);
	return NULL;
}

static int64_t macs(nash_graph *g)
{
	nash_counts c;
	nash_err e;
	if (nash_graph_count(g, &c, &e) < 0)
		return -1;
	return c.macs;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "emit")) {
		nash_graph *g = by_name(argv[2]);
		if (!g) {
			fprintf(stderr, "test_hwfix: unknown fixture %s\n", argv[2]);
			return 2;
		}
		int rc = hwfix_save(g, argv[3]);
		nash_graph_free(g);
		if (rc < 0)
			fprintf(stderr, "test_hwfix: cannot write %s\n", argv[3]);
		return rc < 0 ? 1 : 0;
	}
	/* each graph validates (shape rules of every hardware op) and has the
	 * multiply-accumulates of the network it stands for */
	nash_graph *g = hwfix_tfc();
	CHECK(macs(g) == 784 * 64 + 2 * 64 * 64 + 64 * 10, "TFC has 784-64-64-64-10 MACs");
	CHECK(g->outputs[0].ndim == 3 && g->outputs[0].shape[2] == 1, "TFC ends in a LabelSelect of K = 1");
	nash_graph_free(g);
	g = hwfix_cnv();
	int64_t cnv = 900LL * 27 * 64 + 784LL * 576 * 64 + 144LL * 576 * 128 + 100LL * 1152 * 128 + 9LL * 1152 * 256 +
	              1LL * 2304 * 256 + 256 * 512 + 512 * 512 + 512 * 10;
	CHECK(macs(g) == cnv, "CNV has the BNN-PYNQ MACs (%lld)", (long long)cnv);
	nash_graph_free(g);
	g = hwfix_cybsec();
	CHECK(macs(g) == 600 * 64 + 2 * 64 * 64 + 64, "cybsec MLP is 600-64-64-64-1");
	nash_graph_free(g);
	g = hwfix_resnet18(0, 16);
	/* 28.6 MMAC (REFERENCE.md section 5) plus stage 0's 1x1 downsample,
	 * which the NASH reference code keeps: 784 * 16 * 16 */
	int64_t m = macs(g);
	CHECK(m == 28573184 + 784 * 16 * 16, "ResNet18 28x28 w16: %lld MACs", (long long)m);
	CHECK(nash_node_find(g, "s3b1_add") && nash_node_find(g, "s1b0_dswg"), "residual adds and strided shortcuts");
	nash_graph_free(g);
	g = hwfix_resnet18(1, 64);
	m = macs(g);
	/* torchvision's ResNet18: 1.814 GMAC; + stage 0 downsample 56*56*64*64 */
	CHECK(m > 1810000000LL + 12845056 && m < 1830000000LL + 12845056, "ResNet18 224x224: %lld MACs", (long long)m);
	const nash_tensor *t = nash_tensor_find(g, "stem_swg_out");
	CHECK(t && t->ndim == 3 && t->shape[0] == 112 && t->shape[2] == 147, "stem window stream is 112x112x147");
	nash_graph_free(g);
	/* a broken attribute is caught by the shape rule */
	g = hwfix_tfc();
	nash_node *n = nash_node_find(g, "fc1");
	nash_attr_set_int(n, "MW", 63);
	nash_err e;
	CHECK(nash_graph_validate(g, &e) < 0 && strstr(e.msg, "fc1"), "MVAU shape rule rejects MW that disagrees: %s",
	      e.msg);
	nash_graph_free(g);
	g = hwfix_cnv();
	n = nash_node_find(g, "conv1_swg");
	nash_attr_set_ints(n, "OFMDim", 2, (int64_t[]){ 27, 27 });
	CHECK(nash_graph_validate(g, &e) < 0 && strstr(e.msg, "OFMDim"), "SWG shape rule checks OFMDim: %s", e.msg);
	nash_graph_free(g);
	UNIT_DONE();
}
