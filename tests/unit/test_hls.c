/* test_hls.c - lib/hls: the checks before emitting, the emitted project's
 * files and layers, width converters where foldings differ, inputs, and
 * atomic installation; and the generator the nash-hls bats suite uses
 * until nash-stream exists:
 *   test_hls emit NAME FILE
 * writes tfc, cnv, cybsec, resnet18-28-w16 (the hwfix fixtures) or
 * resnet18-nash-w16: a ResNet18-28 with NASH-style cells (an extra binary
 * 3x3 conv edge from the stage input added through a cascade of two-input
 * adds, and the factorised stride-2 skip: two 1x1/2 convs concatenated). */
#include "hls/hls.h"
#include "hwexec/hwexec.h"
#include "hwfix.c"
#include "unit.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A NASH cell stage on top of the fixture builder: the block input x is
 * duplicated three ways: main path (two convs), a NAS edge (binary conv),
 * and the shortcut (factorised 1x1/2 pair when strided, else requant). */
static void nash_block(hwb *b, const char *pre, int64_t cout, int64_t stride)
{
	char name[96], d0[160], d1[160], d2[160], main_out[160], nas_out[160], sc[160];
	int64_t h = b->h, w = b->w, cin = b->c;
	char dt[16];
	snprintf(dt, sizeof dt, "%s", b->dt);
	snprintf(name, sizeof name, "%s_dup", pre);
	snprintf(d0, sizeof d0, "%s_o0", name);
	snprintf(d1, sizeof d1, "%s_o1", name);
	snprintf(d2, sizeof d2, "%s_o2", name);
	const char *in[] = {b->cur, NULL}, *out[] = {d0, d1, d2, NULL};
	nash_node *n = nash_node_add(b->g, "DuplicateStreams", name, in, out);
	nash_attr_set_int(n, "NumChannels", cin);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_int(n, "NumOutputStreams", 3);
	nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){h, w});
	nash_attr_set_str(n, "dataType", dt);
	/* main path */
	hwb_set(b, d0, h, w, cin, dt);
	snprintf(name, sizeof name, "%s_swg1", pre);
	hwb_swg(b, name, 3, stride, 1);
	snprintf(name, sizeof name, "%s_conv1", pre);
	hwb_mvau(b, name, cout, "INT2", "UINT2", 3, 0);
	snprintf(name, sizeof name, "%s_swg2", pre);
	hwb_swg(b, name, 3, 1, 1);
	snprintf(name, sizeof name, "%s_conv2", pre);
	hwb_mvau(b, name, cout, "INT2", "INT8", 255, -128);
	snprintf(main_out, sizeof main_out, "%s", b->cur);
	int64_t oh = b->h, ow = b->w;
	/* NAS edge: binary-weight 3x3 conv of the block input */
	hwb_set(b, d1, h, w, cin, dt);
	snprintf(name, sizeof name, "%s_nas_swg", pre);
	hwb_swg(b, name, 3, stride, 1);
	snprintf(name, sizeof name, "%s_nas_conv", pre);
	hwb_mvau(b, name, cout, "BIPOLAR", "INT8", 255, -128);
	snprintf(nas_out, sizeof nas_out, "%s", b->cur);
	/* shortcut */
	hwb_set(b, d2, h, w, cin, dt);
	if (stride > 1) {
		char sa[160], sb2[160], pa[160], pb[160];
		snprintf(name, sizeof name, "%s_skip_dup", pre);
		hwb_dup(b, name, sa, sb2);
		hwb_set(b, sa, h, w, cin, dt);
		snprintf(name, sizeof name, "%s_skip_swga", pre);
		hwb_swg(b, name, 1, stride, 0);
		snprintf(name, sizeof name, "%s_skip_a", pre);
		hwb_mvau(b, name, cout / 2, "INT8", "INT8", 255, -128);
		snprintf(pa, sizeof pa, "%s", b->cur);
		hwb_set(b, sb2, h, w, cin, dt);
		snprintf(name, sizeof name, "%s_skip_swgb", pre);
		hwb_swg(b, name, 1, stride, 0);
		snprintf(name, sizeof name, "%s_skip_b", pre);
		hwb_mvau(b, name, cout / 2, "INT8", "INT8", 255, -128);
		snprintf(pb, sizeof pb, "%s", b->cur);
		snprintf(name, sizeof name, "%s_skip_cat", pre);
		snprintf(sc, sizeof sc, "%s_out", name);
		const char *ci[] = {pa, pb, NULL}, *co[] = {sc, NULL};
		n = nash_node_add(b->g, "StreamingConcat", name, ci, co);
		nash_attr_set_ints(n, "ChannelsPerStream", 2, (int64_t[]){cout / 2, cout / 2});
		nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){oh, ow});
		nash_attr_set_str(n, "dataType", "INT8");
		nash_attr_set_int(n, "SIMD", 1);
	} else {
		snprintf(name, sizeof name, "%s_requant", pre);
		hwb_thresh(b, name, 255, "INT8", -128);
		snprintf(sc, sizeof sc, "%s", b->cur);
	}
	/* cascade adder: (main + nas) -> requant to INT8 -> + shortcut */
	b->h = oh, b->w = ow, b->c = cout;
	snprintf(name, sizeof name, "%s_add0", pre);
	hwb_add(b, name, main_out, nas_out, "INT8", "INT9");
	snprintf(name, sizeof name, "%s_add0q", pre);
	hwb_thresh(b, name, 255, "INT8", -128);
	char q[160];
	snprintf(q, sizeof q, "%s", b->cur);
	snprintf(name, sizeof name, "%s_add1", pre);
	hwb_add(b, name, q, sc, "INT8", "INT9");
	snprintf(name, sizeof name, "%s_act", pre);
	hwb_thresh(b, name, 3, "UINT2", 0);
}

static nash_graph *resnet_nash(int width)
{
	hwb b;
	char gname[64];
	snprintf(gname, sizeof gname, "resnet18-nash-28x28-w%d-hw", width);
	hwb_init(&b, gname, 28, 28, 1, "UINT8", 6);
	hwb_swg(&b, "stem_swg", 3, 1, 1);
	hwb_mvau(&b, "stem_conv", width, "INT8", "UINT2", 3, 0);
	for (int s = 0; s < 4; s++)
		for (int k = 0; k < 2; k++) {
			char pre[32];
			snprintf(pre, sizeof pre, "s%db%d", s, k);
			if (k == 0 && s > 0)
				nash_block(&b, pre, (int64_t)width << s, 2);
			else
				resblock(&b, pre, (int64_t)width << s, 1, k == 0);
		}
	hwb_avgpool(&b, "head_pool", "UINT4");
	hwb_mvau(&b, "fc", 10, "INT8", NULL, 0, 0);
	hwb_label(&b, "top", 1);
	return hwb_done(&b);
}

/* NAME-logits: the graph without its LabelSelect, so the output is the
 * integer scores (which vary from image to image far more than the class
 * of a network with random weights does). */
static nash_graph *by_name(const char *name);
static nash_graph *logits(const char *name)
{
	char base[64];
	snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 7), name);
	nash_graph *g = by_name(base);
	nash_node *last = g ? g->nodes[g->nnodes - 1] : NULL;
	if (!last || strcmp(last->op, "LabelSelect"))
		return g;
	free(g->outputs[0].name);
	g->outputs[0].name = nash_strdup(last->in[0]);
	g->outputs[0].ndim = 0;
	nash_node_remove(g, g->nnodes - 1);
	nash_graph_prune(g);
	nash_err e;
	if (nash_graph_validate(g, &e) < 0) {
		fprintf(stderr, "test_hls: %s\n", e.msg);
		exit(1);
	}
	return g;
}

static nash_graph *by_name(const char *name)
{
	size_t n = strlen(name);
	if (n > 7 && !strcmp(name + n - 7, "-logits"))
		return logits(name);
	if (!strcmp(name, "tfc"))
		return hwfix_tfc();
	if (!strcmp(name, "cnv"))
		return hwfix_cnv();
	if (!strcmp(name, "cybsec"))
		return hwfix_cybsec();
	if (!strcmp(name, "resnet18-28-w16"))
		return hwfix_resnet18(0, 16);
	if (!strcmp(name, "resnet18-nash-w16"))
		return resnet_nash(16);
	if (!strcmp(name, "tfc-relu")) { /* folded, but with an op that has no template */
		nash_graph *g = hwfix_tfc();
		const char *in[] = {"x", NULL}, *out[] = {"x_relu", NULL};
		nash_node_insert(g, 0, "Relu", "pre_relu", in, out);
		nash_node_set_in(nash_node_find(g, "in_thresh"), 0, "x_relu");
		nash_val_set(nash_meta(g, "est"), "part", nash_val_str("xczu7ev"));
		nash_err e;
		if (nash_graph_validate(g, &e) < 0) {
			fprintf(stderr, "test_hls: %s\n", e.msg);
			exit(1);
		}
		return g;
	}
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Thresholds at the quantiles of the values they see (n inputs through the
 * integer executor), layer after layer, so every stream varies from image
 * to image: random thresholds saturate and a class that never changes
 * would prove little about C simulation. */
static void calibrate(nash_graph *g, int n)
{
	nash_err e;
	int32_t *x;
	char src[256];
	if (nash_hls_inputs(g, "fashion-mnist", n, 3, &x, src, &e) < 0 &&
	    nash_hls_inputs(g, "", n, 3, &x, src, &e) < 0)
		return;
	for (int i = 0; i < g->nnodes; i++) {
		nash_node *nd = g->nodes[i];
		int mvau = !strcmp(nd->op, "MVAU") && nd->nin > 2 && !nash_attr_int(nd, "noActivation", 0);
		if (!mvau && strcmp(nd->op, "Thresholding"))
			continue;
		nash_tensor *t = nash_tensor_find(g, nd->in[mvau ? 2 : 1]);
		nash_graph *c = nash_graph_copy(g);
		nash_node *cn = nash_node_find(c, nd->name);
		free(c->outputs[0].name);
		c->outputs[0].name = nash_strdup(mvau ? cn->out[0] : cn->in[0]);
		c->outputs[0].ndim = 0;
		if (mvau) {
			nash_attr_set_int(cn, "noActivation", 1);
			nash_attr_set_str(cn, "outputDataType", "INT32");
		}
		nash_graph_prune(c);
		nash_hwnet *h = nash_graph_validate(c, &e) == 0 ? nash_hwnet_new(c, n, 0, &e) : NULL;
		if (!h || nash_hwnet_run_hwc(h, x, n, &e) < 0) {
			fprintf(stderr, "test_hls: calibrate %s: %s\n", nd->name, e.msg);
			exit(1);
		}
		int k;
		const int64_t *o = nash_hwnet_output(h, &k, NULL);
		int64_t ch = t->shape[0] == 1 ? 1 : t->shape[0], steps = t->shape[1], per = (int64_t)n * k / ch;
		int64_t *v = malloc((size_t)per * 8);
		int64_t C = mvau ? nash_attr_int(nd, "MH", 1) : nash_attr_int(nd, "NumChannels", 1);
		for (int64_t r = 0; r < ch; r++) {
			int64_t m = 0;
			for (int64_t j = 0; j < (int64_t)n * k; j++)
				if (ch == 1 || j % C == r)
					v[m++] = o[j];
			qsort(v, (size_t)m, 8, cmp64);
			for (int64_t s2 = 0; s2 < steps; s2++)
				((int32_t *)t->data)[r * steps + s2] = (int32_t)v[(s2 + 1) * m / (steps + 1)];
		}
		free(v);
		nash_hwnet_free(h);
		nash_graph_free(c);
	}
	free(x);
}

static void fold(nash_graph *g)
{
	/* a folding as nash-est writes it: meta.est and a few PE/SIMD */
	nash_val *m = nash_meta(g, "est");
	nash_val_set(m, "part", nash_val_str("xczu7ev"));
	nash_val_set(m, "clock_mhz", nash_val_f64(200));
}

static int exists(const char *dir, const char *f)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, f);
	return access(p, F_OK) == 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = calloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	fclose(f);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "emit")) {
		nash_graph *g = by_name(argv[2]);
		if (!g) {
			fprintf(stderr, "test_hls: unknown graph %s\n", argv[2]);
			return 2;
		}
		if (!strstr(argv[2], "relu"))
			calibrate(g, 32);
		int rc = hwfix_save(g, argv[3]);
		nash_graph_free(g);
		return rc < 0 ? 1 : 0;
	}
	nash_err e;
	char share[512];
	snprintf(share, sizeof share, "%s/hls", nash_share_dir());
	const char *tmp = getenv("NASH_TEST_TMP") ? getenv("NASH_TEST_TMP") : "/tmp";
	char base[512];
	snprintf(base, sizeof base, "%s/test_hls.%d", tmp, (int)getpid());
	mkdir(base, 0755);

	/* no folding, a foreign op */
	nash_graph *g = hwfix_tfc();
	CHECK(nash_hls_check(g, &e) < 0 && strstr(e.msg, "no folding") && strstr(e.msg, "nash-est"),
	      "a graph without meta.est is refused: %s", e.msg);
	fold(g);
	CHECK(nash_hls_check(g, &e) == 0, "with meta.est it passes the check");
	free(nash_node_find(g, "fc1")->op);
	nash_node_find(g, "fc1")->op = nash_strdup("Gemm");
	CHECK(nash_hls_check(g, &e) < 0 && strstr(e.msg, "fc1") && strstr(e.msg, "Gemm has no HLS template"),
	      "an op without a template is named: %s", e.msg);
	nash_graph_free(g);

	/* inputs: Fashion-MNIST for 28x28x1 pixel inputs, random otherwise */
	g = hwfix_resnet18(0, 16);
	fold(g);
	int32_t *x = NULL;
	char src[256];
	if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) == 0) {
		CHECK(nash_hls_inputs(g, "fashion-mnist", 3, 1, &x, src, &e) == 0 && strstr(src, "fashion-mnist test images 0..2"),
		      "28x28x1 UINT8 input takes Fashion-MNIST: %s", src);
		int nz = 0;
		for (int i = 0; x && i < 784; i++)
			nz += x[i] != 0;
		CHECK(nz > 100, "the first image has %d non-zero pixels", nz);
		free(x);
	}
	CHECK(nash_hls_inputs(g, "/nonexistent", 3, 1, &x, src, &e) < 0 && strstr(e.msg, "/nonexistent"),
	      "a missing data directory is an error: %s", e.msg);
	nash_graph_free(g);
	g = hwfix_cnv();
	CHECK(nash_hls_inputs(g, "fashion-mnist", 4, 9, &x, src, &e) == 0 && strstr(src, "random INT8") &&
	          strstr(src, "seed 9"),
	      "other inputs are seeded random values: %s", src);
	int lo = 0, hi = 0;
	for (int i = 0; i < 4 * 3072; i++)
		lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
	CHECK(lo == -128 && hi == 127, "random INT8 inputs span the datatype (%d..%d)", lo, hi);
	free(x);
	nash_graph_free(g);

	/* a project: files, layers, converters where SIMD differs */
	g = hwfix_tfc();
	fold(g);
	nash_attr_set_int(nash_node_find(g, "fc0"), "SIMD", 16);
	nash_attr_set_int(nash_node_find(g, "fc0"), "PE", 4);
	nash_attr_set_int(nash_node_find(g, "fc1"), "SIMD", 8);
	nash_attr_set_str(nash_node_find(g, "fc1"), "ram_style", "block");
	nash_hls_inputs(g, "", 2, 1, &x, src, &e);
	char dir[600];
	snprintf(dir, sizeof dir, "%s/p", base);
	mkdir(dir, 0755);
	nash_hls_info info;
	int rc = nash_hls_write(g, x, 2, 1, share, dir, &info, &e);
	CHECK(rc == 0, "TFC project written %s", rc ? e.msg : "");
	CHECK(info.layers == 6 && info.converters == 2, "6 layers, %d width converters (thresholds PE 1 to fc0 SIMD 16, fc0 PE 4 to fc1 SIMD 8)",
	      info.converters);
	const char *want[] = {"top.cpp", "top.h", "tb.cpp", "tb_data.h", "Makefile", "run_hls.tcl", "README.md",
	                      "nash/nash_hls.h", "nash/nash_shim.h", NULL};
	int all = 1;
	for (int i = 0; want[i]; i++)
		all &= exists(dir, want[i]);
	CHECK(all && info.nfiles == 9, "the project has its %d files", info.nfiles);
	char p[700];
	snprintf(p, sizeof p, "%s/top.cpp", dir);
	char *top = slurp(p);
	CHECK(top && strstr(top, "nash::mvau<784, 64, 16, 4,") && strstr(top, "impl=bram") && strstr(top, "#pragma HLS DATAFLOW") &&
	          strstr(top, "nash::dwc<"),
	      "top.cpp instantiates fc0 at SIMD 16 PE 4, binds fc1's weights to BRAM, converts widths");
	free(top);
	snprintf(p, sizeof p, "%s/run_hls.tcl", dir);
	top = slurp(p);
	CHECK(top && strstr(top, "set_part {xczu7ev}") && strstr(top, "create_clock -period 5") && strstr(top, "csynth_design") &&
	          strstr(top, "export_design"),
	      "run_hls.tcl: part, 200 MHz clock, csim, csynth, export");
	free(top);
	nash_hls_info_free(&info);
	free(x);
	nash_graph_free(g);

	/* install: a directory replaces an old one; an archive goes through a
	 * temporary name; an unwritable place leaves nothing */
	char dest[700];
	snprintf(dest, sizeof dest, "%s/final", base);
	mkdir(dest, 0755);
	snprintf(p, sizeof p, "%s/old-file", dest);
	fclose(fopen(p, "w"));
	CHECK(nash_hls_install(dir, dest, &e) == 0 && exists(dest, "top.cpp") && !exists(dest, "old-file") &&
	          access(dir, F_OK) != 0,
	      "a directory project replaces the old one and the temporary is gone");
	snprintf(p, sizeof p, "%s/a.tar.gz", base);
	CHECK(nash_hls_install(dest, p, &e) == 0 && access(p, F_OK) == 0 && access(dest, F_OK) != 0,
	      "a .tar.gz is written and the source tree removed");
	snprintf(dir, sizeof dir, "%s/q", base);
	mkdir(dir, 0755);
	CHECK(nash_hls_install(dir, "/proc/nash-hls-test.tar.gz", &e) < 0 && strstr(e.msg, "/proc/nash-hls-test.tar.gz") &&
	          access(dir, F_OK) != 0,
	      "an unwritable archive path fails cleanly: %s", e.msg);
	nash_hls_rmtree(base);
	UNIT_DONE();
}
