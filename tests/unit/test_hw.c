/* test_hw.c - nash-est's library: device table, memory mapping, cycle and
 * resource formulas on hand-computed cases, folding rules and searches,
 * folding files, meta round trip, FIFO insertion, and the calibration
 * against published post-synthesis results (see nash-est(1)). */
#include "hwfix.c"
#include "hw/hw.h"
#include "unit.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static nash_err e;

static nash_hw_design design(nash_graph *g, const char *part, double mhz)
{
	nash_hw_design d;
	const nash_hw_device *dev = nash_hw_device_find(part, &e);
	if (!dev || nash_hw_design_init(&d, g, dev, mhz, &e) < 0) {
		printf("# %s\n", e.msg);
		abort();
	}
	return d;
}

static nash_hw_layer *L(nash_hw_design *d, const char *name)
{
	int i = nash_hw_find(d, name);
	if (i < 0) {
		printf("# no layer %s\n", name);
		abort();
	}
	return &d->l[i];
}

static void fold(nash_hw_design *d, const char *name, int64_t pe, int64_t simd)
{
	if (nash_hw_set_fold(L(d, name), pe, simd, &e) < 0) {
		printf("# %s\n", e.msg);
		abort();
	}
	L(d, name)->pinned = 1;
}

static char *write_tmp(const char *text)
{
	static int k;
	char *path = nash_strfmt("/tmp/test_hw.%d.%d", (int)getpid(), k++);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* ------------------------------------------------------------ devices */

static void test_devices(void)
{
	const nash_hw_device *d = nash_hw_device_find("xczu7ev", &e);
	CHECK(d && d->lut == 230400 && d->bram18 == 624 && d->uram == 96 && d->dsp == 1728, "xczu7ev totals");
	CHECK(nash_hw_device_find("ZCU104", &e) == d, "board name, any case");
	CHECK(nash_hw_device_find("xczu7ev-ffvc1156-2-e", &e) == d, "full part name");
	d = nash_hw_device_find("pynq-z2", &e);
	CHECK(d && !strcmp(d->part, "xc7z020") && d->bram18 == 280, "Pynq-Z2 is an xc7z020 with 280 BRAM18");
	CHECK(nash_hw_device_find("u250", &e) && nash_hw_device_find("alveo-u280", &e) && nash_hw_device_find("kv260", &e),
	      "Alveo and Kria boards");
	CHECK(!nash_hw_device_find("xc7a35t", &e) && strstr(e.msg, "unknown part 'xc7a35t'") && strstr(e.msg, "xczu9eg") &&
	      strstr(e.msg, "pynq-z1"), "unknown part lists the known ones: %s", e.msg);
	CHECK(nash_hw_ndevices() >= 8, "at least the 8 parts of REFERENCE.md section 4");
	/* the built-in copy equals share/nash/devices.tsv */
	FILE *f = fopen("share/nash/devices.tsv", "r");
	if (f) {
		char buf[8192];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		CHECK(!strcmp(buf, nash_hw_devices_builtin()), "built-in device table equals share/nash/devices.tsv");
	} else
		CHECK(1, "# skip: share/nash/devices.tsv not reachable from the working directory");
	char *bad = write_tmp("xc7z020\tpynq-z1\tzynq7\t53200\t106400\t140\t0\n");
	CHECK(nash_hw_devices_load(bad, &e) < 0 && strstr(e.msg, "line 1"), "malformed device file names the line: %s",
	      e.msg);
	unlink(bad);
	free(bad);
}

/* ------------------------------------------------------------- memory */

static int64_t bram(int64_t d, int64_t w)
{
	nash_hw_mem m;
	nash_hw_mem_map(d, w, NASH_RAM_BLOCK, &m);
	return m.bram18;
}

static void test_memory(void)
{
	/* depth-first mapping: the shallowest aspect ratio holding the depth */
	CHECK(bram(36, 1024) == 29, "36 x 1024 -> 29 BRAM18 (512x36)");
	CHECK(bram(80, 960) == 27, "80 x 960 -> 27 BRAM18 (512x36)");
	CHECK(bram(144, 512) == 15, "144 x 512 -> 15 BRAM18");
	CHECK(bram(2304, 128) == 30, "2304 x 128 -> 15 RAMB36 4Kx9 = 30 BRAM18 (%lld)", (long long)bram(2304, 128));
	CHECK(bram(18432, 32) == 64, "18432 x 32 -> 32 RAMB36 32Kx1 = 64 BRAM18");
	CHECK(bram(32768, 4) == 8, "32768 x 4 -> 4 RAMB36 = 8 BRAM18");
	CHECK(bram(1024, 5) == 1, "1024 x 5 -> 1 BRAM18 (1Kx18)");
	CHECK(bram(65536, 1) == 4, "65536 x 1 -> two rows of 32Kx1 RAMB36 = 4 BRAM18");
	CHECK(bram(512, 36) == 1 && bram(512, 37) == 2 && bram(513, 18) == 1, "one BRAM18 holds 512x36 or 1Kx18");
	nash_hw_mem m;
	nash_hw_mem_map(36, 48, NASH_RAM_AUTO, &m);
	CHECK(m.kind == NASH_MEM_LUTRAM && m.lut == 48 && m.bram18 == 0, "auto: 1728 bits -> 48 LUTRAM LUTs");
	nash_hw_mem_map(64, 128, NASH_RAM_AUTO, &m);
	CHECK(m.kind == NASH_MEM_BRAM && m.bram18 == 4, "auto: 8192 bits -> BRAM");
	nash_hw_mem_map(200, 10, NASH_RAM_DISTRIBUTED, &m);
	CHECK(m.kind == NASH_MEM_LUTRAM && m.lut == 40, "distributed: 10 bits x ceil(200/64) = 40 LUTs");
	nash_hw_mem_map(8192, 144, NASH_RAM_ULTRA, &m);
	CHECK(m.kind == NASH_MEM_URAM && m.uram == 4, "ultra: ceil(144/72) x ceil(8192/4096) = 4 URAM");
	nash_hw_mem_map(1, 77, NASH_RAM_BLOCK, &m);
	CHECK(m.kind == NASH_MEM_NONE && m.ff == 77 && m.bram18 == 0, "one word is a register");
	nash_ram_style s;
	CHECK(nash_ram_style_parse("ULTRA", &s) == 0 && s == NASH_RAM_ULTRA && nash_ram_style_parse("x", &s) < 0,
	      "ram_style words");
}

/* ------------------------------------------------------------- cycles */

static void test_cycles(void)
{
	nash_graph *g = hwfix_cnv();
	nash_hw_design d = design(g, "pynq-z1", 100);
	fold(&d, "conv1", 32, 32);
	CHECK(nash_hw_cycles(L(&d, "conv1")) == 2 * 18 * 784, "MVAU: (MH/PE)(MW/SIMD) pixels = 28224");
	fold(&d, "conv0_swg", 0, 3);
	/* W*K*C/SIMD + OH * max(OW*K*K*C/SIMD, S*W*C/SIMD) = 96 + 30 * 270 */
	CHECK(nash_hw_cycles(L(&d, "conv0_swg")) == 96 + 30 * 270, "SWG: FINN's HLS model = 8196");
	CHECK(nash_hw_cycles(L(&d, "pool1")) == 64 * (28 * 28 + 14 * 14), "max-pool 2x2: C/PE (H W + OH OW)");
	CHECK(nash_hw_cycles(L(&d, "top")) == 10, "LabelSelect: Labels/PE");
	nash_hw_design_free(&d);
	nash_graph_free(g);
	/* the paper's bottleneck: ResNet18 224x224, stem SIMD 3, PE 64, 200 MHz */
	g = hwfix_resnet18(1, 64);
	d = design(g, "zcu104", 200);
	fold(&d, "stem_conv", 64, 3);
	fold(&d, "stem_swg", 0, 3);
	CHECK(nash_hw_cycles(L(&d, "stem_conv")) == 49 * 112 * 112, "stem MVAU: 49 x 112 x 112 = 614656 cycles");
	CHECK(nash_hw_cycles(L(&d, "stem_swg")) == 230 * 7 + 112 * 5488, "stem SWG: 230*7 + 112*5488 = 616266");
	d.max_wwidth = 0;
	nash_hw_fold_cycles(&d, 1);   /* every other layer as parallel as it goes */
	printf("# ResNet18-224, stem SIMD 3 PE 64, 200 MHz: %.2f fps, bottleneck %s\n", d.fps, d.l[d.bottleneck].name);
	CHECK(fabs(d.fps - 325) / 325 <= 0.01, "paper's bottleneck reproduced: %.2f fps within 1%% of 325", d.fps);
	CHECK(!strcmp(d.l[d.bottleneck].name, "stem_swg") || !strcmp(d.l[d.bottleneck].name, "stem_conv"),
	      "the stem limits it");
	nash_hw_design_free(&d);
	nash_graph_free(g);
}

/* ----------------------------------------------------------- resources */

static void test_resources(void)
{
	/* cybsec fc1: PE 4, SIMD 16, INT2 x UINT2, 3 thresholds, TMEM 16, const weights */
	nash_graph *g = hwfix_cybsec();
	nash_hw_design d = design(g, "pynq-z1", 100);
	nash_hw_layer *l = L(&d, "fc1");
	fold(&d, "fc1", 4, 16);
	nash_hw_cost(l, d.dev);
	int acc = l->accbits;
	/* per PE: 16 products of 2x2 bits (64) + adder tree 15 * (4 + 4/2) (90)
	 * + accumulator + 3 comparators at 0.5 LUT/bit; thresholds LUTRAM:
	 * 12 memories of 16 x acc bits (acc LUTs each); weights 64 x 128 in
	 * BRAM (4); input buffer 4 x 32 bits LUTRAM (32); control 180 */
	double per_pe = 64 + 90 + acc + 3 * 0.5 * acc;
	double want = 180 + 4 * per_pe + 12.0 * acc + 32;
	CHECK(l->r.lut == (int64_t)llround(want), "MVAU LUT formula by hand: %lld == %.0f", (long long)l->r.lut, want);
	CHECK(l->r.bram18 == 4 && l->mem == NASH_MEM_BRAM, "its weights: 64 x 128 bits -> 4 BRAM18");
	double ffw = 220 + 4 * (acc + 2 + 0.6 * 90) + 16 * 2 + 12.0 * acc + 32;
	CHECK(l->r.ff == (int64_t)llround(ffw), "MVAU FF formula by hand: %lld == %.0f", (long long)l->r.ff, ffw);
	CHECK(l->r.dsp == 0, "2-bit products stay in LUTs");
	/* DSP mapping for 8-bit layers */
	nash_hw_design_free(&d);
	nash_graph_free(g);
	g = hwfix_resnet18(0, 16);
	d = design(g, "zcu104", 200);
	l = L(&d, "stem_conv");
	fold(&d, "stem_conv", 16, 9);
	nash_hw_cost(l, d.dev);
	CHECK(l->dsp && l->r.dsp == 72, "8x8 MVAU on DSP48E2: 16 x 9 products, 2 per DSP = 72 DSPs (%lld)",
	      (long long)l->r.dsp);
	nash_hw_design_free(&d);
	d = design(g, "pynq-z1", 100);
	l = L(&d, "stem_conv");
	fold(&d, "stem_conv", 16, 9);
	nash_hw_cost(l, d.dev);
	CHECK(l->r.dsp == 144, "on DSP48E1 one product per DSP = 144");
	/* FIFOs and width converters are counted */
	nash_hw_evaluate(&d);
	int fifos = 0, dwcs = 0;
	int64_t lut = 0;
	for (int i = 0; i < d.n; i++) {
		fifos += d.l[i].kind == NASH_HW_FIFO;
		dwcs += d.l[i].kind == NASH_HW_DWC;
		lut += d.l[i].r.lut;
	}
	CHECK(fifos == 8, "one skip FIFO per residual add (%d)", fifos);
	CHECK(dwcs > 0 && lut == d.total.lut, "width converters listed and totals include them");
	int deep = 0;
	for (int i = 0; i < d.n; i++)
		if (d.l[i].kind == NASH_HW_FIFO && d.l[i].depth > 100)
			deep++;
	CHECK(deep == 8, "skip FIFOs hold the long branch's delay (all deeper than 100)");
	nash_hw_design_free(&d);
	nash_graph_free(g);
}

/* ------------------------------------------------------------- folding */

static void test_folding(void)
{
	nash_graph *g = hwfix_cnv();
	nash_hw_design d = design(g, "pynq-z1", 100);
	nash_hw_layer *l = L(&d, "conv1");
	CHECK(nash_hw_set_fold(l, 5, 0, &e) < 0 && strstr(e.msg, "conv1") && strstr(e.msg, "PE 5 does not divide MH 64"),
	      "PE must divide MH: %s", e.msg);
	CHECK(nash_hw_set_fold(l, 0, 7, &e) < 0 && strstr(e.msg, "SIMD 7 does not divide MW 576"), "SIMD must divide MW: %s",
	      e.msg);
	CHECK(nash_hw_set_fold(L(&d, "conv1_swg"), 0, 3, &e) < 0 && strstr(e.msg, "IFMChannels 64"),
	      "SWG SIMD must divide IFMChannels: %s", e.msg);
	CHECK(nash_hw_set_fold(L(&d, "conv1_swg"), 2, 0, &e) < 0 && strstr(e.msg, "has no PE"), "SWG has no PE: %s", e.msg);
	CHECK(nash_hw_set_fold(L(&d, "pool1"), 3, 0, &e) < 0 && strstr(e.msg, "NumChannels 64"), "pool PE rule: %s", e.msg);
	/* the search meets the target and respects the weight-width cap */
	int64_t target = 13000;   /* conv1 can do no better than 12544 */
	nash_hw_fold_cycles(&d, target);
	int ok = 1, capped = 1;
	for (int i = 0; i < d.nreal; i++) {
		ok &= d.l[i].cycles <= target;
		if (d.l[i].kind == NASH_HW_MVAU)
			capped &= d.l[i].simd * d.l[i].wbits <= 36 || d.l[i].simd == 1;
	}
	CHECK(ok && d.max_cycles <= target, "every layer meets 13000 cycles (bottleneck %lld)", (long long)d.max_cycles);
	CHECK(capped, "SIMD x weight bits stays within 36");
	CHECK(L(&d, "conv1")->simd == 32 || L(&d, "conv1")->simd == 36, "SIMD raised before PE (conv1 SIMD %lld)",
	      (long long)L(&d, "conv1")->simd);
	/* smallest sufficient folding: one divisor less would miss the target */
	l = L(&d, "fc2");
	CHECK(l->pe * l->simd <= 2 || nash_hw_cycles(l) <= target, "fc2 folded no further than needed");
	int lim;
	int64_t best = nash_hw_min_cycles(&d, &lim);
	CHECK(best > 0 && best <= d.max_cycles, "min cycles %lld (layer %s)", (long long)best, d.l[lim].name);
	/* pinned layers keep their folding */
	fold(&d, "conv0", 1, 1);
	nash_hw_fold_cycles(&d, 1000);
	CHECK(L(&d, "conv0")->pe == 1 && L(&d, "conv0")->simd == 1 && !strcmp(d.l[d.bottleneck].name, "conv0"),
	      "a pinned layer stays and becomes the bottleneck");
	nash_hw_design_free(&d);
	/* fit: the result stays within the caps */
	d = design(g, "pynq-z1", 100);
	nash_hw_limits lim5;
	nash_hw_limits_cap(&lim5, d.dev, 85);
	CHECK(nash_hw_fold_fit(&d, &lim5, &e) == 0, "fit CNV on Pynq-Z1");
	CHECK(d.util[0] <= 85 && d.util[2] <= 85 && d.util[4] <= 85, "fit within 85%%: LUT %.1f%% BRAM %.1f%% at %.0f fps",
	      d.util[0], d.util[2], d.fps);
	double fps85 = d.fps;
	nash_hw_limits_cap(&lim5, d.dev, 40);
	nash_hw_fold_fit(&d, &lim5, &e);
	CHECK(d.fps <= fps85 && d.util[0] <= 40, "a lower cap gives no more fps (%.0f <= %.0f)", d.fps, fps85);
	nash_hw_limits_cap(&lim5, d.dev, 100);
	CHECK(nash_hw_limits_budget(&lim5, "lut=500,dsp=9", &e) == 0 && lim5.cap[NASH_RES_LUT] == 500, "budget parse");
	CHECK(nash_hw_fold_fit(&d, &lim5, &e) < 0 && strstr(e.msg, "lut") && strstr(e.msg, "budget of 500"),
	      "a budget below the smallest folding names the resource: %s", e.msg);
	CHECK(nash_hw_limits_budget(&lim5, "lut=5,flops=3", &e) < 0 && strstr(e.msg, "flops"), "unknown resource: %s", e.msg);
	CHECK(nash_hw_limits_budget(&lim5, "lut=x", &e) < 0, "bad count");
	CHECK(nash_hw_limits_budget(&lim5, "bram36=10", &e) == 0 && lim5.cap[NASH_RES_BRAM] == 20, "bram36 counts double");
	nash_hw_design_free(&d);
	nash_graph_free(g);
	/* URAM takes over big weight memories when BRAM binds */
	g = hwfix_resnet18(0, 16);
	d = design(g, "zcu104", 200);
	nash_hw_limits_cap(&lim5, d.dev, 85);
	nash_hw_limits_budget(&lim5, "bram=100", &e);
	CHECK(nash_hw_fold_fit(&d, &lim5, &e) == 0, "ResNet18-28x28-w16 fits 100 BRAM18 of a ZCU104 (%s)", e.msg);
	printf("# ResNet18-28x28-w16 fit, 100 BRAM18, ZCU104: %.1f fps, LUT %.1f%% FF %.1f%% BRAM %.1f%% URAM %.1f%% DSP %.1f%%\n", d.fps,
	       d.util[0], d.util[1], d.util[2], d.util[3], d.util[4]);
	CHECK(d.total.uram > 0 && d.util[3] <= 85 && d.total.bram18 <= 100, "with URAM for weights");
	nash_hw_design_free(&d);
	nash_graph_free(g);
}

/* ------------------------------------------------------- folding files */

static void test_files(void)
{
	nash_graph *g = hwfix_cnv();
	nash_hw_design d = design(g, "pynq-z1", 100);
	nash_hw_folding f;
	char *p = write_tmp("# CNV\nname\tPE\tSIMD\tram_style\nconv1\t32\t32\tblock\nconv1_swg\t-\t32\npool1\t64\t-\n"
	                    "fc2\t5\t1\tdistributed\tlut\n");
	CHECK(nash_hw_folding_read(p, &f, &e) == 0 && f.n == 4, "TSV folding file: %d entries", f.n);
	CHECK(nash_hw_folding_apply(&d, &f, &e) == 0 && L(&d, "conv1")->pe == 32 && L(&d, "conv1")->ram == NASH_RAM_BLOCK &&
	      L(&d, "conv1_swg")->simd == 32 && L(&d, "pool1")->pe == 64 && L(&d, "conv1")->pinned, "applied and pinned");
	nash_hw_folding_free(&f);
	unlink(p);
	free(p);
	p = write_tmp("conv1\t32\t32\nconv2\t16\n");
	CHECK(nash_hw_folding_read(p, &f, &e) < 0 && strstr(e.msg, "line 2") && strstr(e.msg, "found 2 fields"),
	      "malformed TSV names the line: %s", e.msg);
	unlink(p);
	free(p);
	p = write_tmp("conv1\t32\tx\n");
	CHECK(nash_hw_folding_read(p, &f, &e) < 0 && strstr(e.msg, "line 1") && strstr(e.msg, "SIMD 'x'"), "bad number: %s",
	      e.msg);
	unlink(p);
	free(p);
	p = write_tmp("conv1\t5\t32\n");
	CHECK(nash_hw_folding_read(p, &f, &e) == 0 && nash_hw_folding_apply(&d, &f, &e) < 0 && strstr(e.msg, "line 1") &&
	      strstr(e.msg, "PE 5 does not divide MH 64"), "illegal folding: layer, rule and line: %s", e.msg);
	nash_hw_folding_free(&f);
	unlink(p);
	free(p);
	p = write_tmp("nosuch\t1\t1\n");
	CHECK(nash_hw_folding_read(p, &f, &e) == 0 && nash_hw_folding_apply(&d, &f, &e) < 0 && strstr(e.msg, "nosuch"),
	      "unknown layer: %s", e.msg);
	nash_hw_folding_free(&f);
	unlink(p);
	free(p);
	/* FINN's JSON folding config */
	p = write_tmp("{\n  \"Defaults\": {},\n  \"conv0\": {\"PE\": 16, \"SIMD\": 3, \"ram_style\": \"auto\", \"mem_mode\": \"decoupled\"},\n"
	              "  \"fc2\": {\"PE\": 5, \"SIMD\": 1, \"resType\": \"lut\"}\n}\n");
	CHECK(nash_hw_folding_read(p, &f, &e) == 0 && f.n == 2 && f.e[1].line == 4, "JSON folding config (%s)", e.msg);
	CHECK(nash_hw_folding_apply(&d, &f, &e) == 0 && L(&d, "conv0")->pe == 16 && L(&d, "conv0")->simd == 3 &&
	      L(&d, "conv0")->decoupled && !L(&d, "fc2")->decoupled && !L(&d, "fc2")->dsp && L(&d, "fc2")->dsp_pinned,
	      "applied, with mem_mode and resType");
	nash_hw_folding_free(&f);
	unlink(p);
	free(p);
	p = write_tmp("{\n \"conv0\": {\"PE\": 16,\n \"SIMD\" 3}\n}\n");
	CHECK(nash_hw_folding_read(p, &f, &e) < 0 && strstr(e.msg, "line 3") && strstr(e.msg, "expected ':'"),
	      "malformed JSON names the line: %s", e.msg);
	unlink(p);
	free(p);
	p = write_tmp("{\"conv0\": {\"PE\": -2}}");
	CHECK(nash_hw_folding_read(p, &f, &e) < 0 && strstr(e.msg, "PE must be a positive integer"), "bad JSON PE: %s", e.msg);
	unlink(p);
	free(p);
	CHECK(nash_hw_ram_style_glob(&d, "conv*", NASH_RAM_ULTRA) == 12 && L(&d, "conv3")->ram == NASH_RAM_ULTRA,
	      "--ram-style globs (12 conv layers)");
	nash_hw_design_free(&d);
	nash_graph_free(g);
}

/* ----------------------------------------------------- graph round trip */

static void test_write(void)
{
	nash_graph *g = hwfix_resnet18(0, 16);
	nash_hw_design d = design(g, "zcu104", 200);
	nash_hw_fold_cycles(&d, 20000);
	int64_t lut = d.total.lut, nlayers = d.n;
	double fps = d.fps;
	int nn = g->nnodes;
	CHECK(nash_hw_write(g, &d, 1, NULL, &e) == 0, "write back");
	nash_hw_design_free(&d);
	CHECK(g->nnodes > nn && nash_graph_validate(g, &e) == 0, "FIFO/DWC nodes inserted, graph still valid (%d -> %d nodes)",
	      nn, g->nnodes);
	CHECK(nash_attr_int(nash_node_find(g, "s0b0_conv1"), "SIMD", 0) > 1, "node attributes carry the folding");
	CHECK(!strcmp(nash_attr_str(nash_node_find(g, "s0b0_conv1"), "ram_style", ""), "auto") &&
	      !strcmp(nash_attr_str(nash_node_find(g, "stem_conv"), "resType", ""), "dsp"), "ram_style and resType written");
	unsigned char *buf;
	size_t n;
	nash_record *r;
	CHECK(nash_encode_graph(g, &buf, &n, &e) == 0 && nash_decode(buf, n, &r, &e) == 0, "encode and decode");
	free(buf);
	nash_graph *h = r->graph;
	CHECK(nash_graph_validate(h, &e) == 0, "the decoded graph validates (%s)", e.msg);
	nash_val *m = nash_val_path(h->meta, "est");
	CHECK(m && !strcmp(nash_val_as_str(nash_val_get(m, "part")), "xczu7ev") &&
	      !strcmp(nash_val_as_str(nash_val_get(m, "board")), "zcu104"), "meta.est.part and board");
	CHECK(nash_val_as_int(nash_val_path(m, "total.lut"), -1) == lut, "meta.est.total.lut round trip");
	CHECK(fabs(nash_val_as_f64(nash_val_get(m, "fps"), 0) - fps) < 0.01, "meta.est.fps");
	nash_val *ls = nash_val_get(m, "layers");
	CHECK(ls && ls->t == NASH_V_ARR && (int64_t)ls->u.a.n == nlayers, "meta.est.layers lists every layer and FIFO");
	const char *keys[] = { "clock_mhz", "latency_us", "latency_cycles", "bottleneck", "util", "total", NULL };
	int all = 1;
	for (int i = 0; keys[i]; i++)
		all &= nash_val_get(m, keys[i]) != NULL;
	CHECK(all && nash_val_path(m, "util.bram18") && nash_val_path(m, "total.dsp"), "contract keys present");
	/* estimating the estimated graph again gives the same result */
	d = design(h, "zcu104", 200);
	nash_hw_evaluate(&d);
	CHECK(d.total.lut == lut && d.n == nlayers && fabs(d.fps - fps) < 1e-6, "idempotent on its own output");
	int nodes = h->nnodes;
	CHECK(nash_hw_write(h, &d, 1, NULL, &e) == 0 && h->nnodes == nodes && nash_graph_validate(h, &e) == 0,
	      "re-inserting replaces the earlier FIFOs");
	nash_hw_design_free(&d);
	nash_record_free(r);
	nash_graph_free(g);
	/* not streamlined: the first non-hardware node */
	g = nash_graph_new("float");
	int64_t sh[3] = { 4, 4, 2 }, ws[2] = { 2, 3 };
	nash_graph_add_input(g, "x", NASH_F32, 3, sh);
	nash_tensor_add(g, "w", NASH_F32, 2, ws);
	nash_node_add(g, "Relu", "relu0", (const char *[]){ "x", NULL }, (const char *[]){ "y", NULL });
	nash_graph_add_output(g, "y");
	nash_graph_validate(g, &e);
	const nash_hw_device *dev = nash_hw_device_find("zcu104", &e);
	CHECK(nash_hw_design_init(&d, g, dev, 200, &e) < 0 && strstr(e.msg, "relu0 (Relu)") && strstr(e.msg, "nash-stream"),
	      "a float graph: %s", e.msg);
	nash_graph_free(g);
	/* a stream with two consumers */
	g = hwfix_tfc();
	nash_node *fc1 = nash_node_find(g, "fc1");
	nash_node_set_in(fc1, 0, "in_thresh_out");
	nash_graph_validate(g, &e);
	CHECK(nash_hw_design_init(&d, g, dev, 200, &e) < 0 && strstr(e.msg, "more than one layer"), "fan-out: %s", e.msg);
	nash_graph_free(g);
}

/* ---------------------------------------------------------- calibration */
/* FINN's estimator as REFERENCE.md section 3 restates it (MVAU only). */
static double finn_lut(const nash_hw_layer *l, int lutram_weights)
{
	double P = (double)l->pe, Q = (double)l->simd, W = l->wbits, A = l->ibits[0];
	double mult = Q * (2 * ceil((W + A) / 6) - 1) * (W + A);
	double tree = (W + A) * (2 * Q - 1), acc = l->accbits;
	double nthr = l->steps, tmem = (double)(l->mh / l->pe), wmem = (double)(l->mw * l->mh / (l->pe * l->simd));
	double thr = nthr * acc * ceil(tmem / 64), comp = nthr * acc;
	double c2 = lutram_weights ? P * Q * W * ceil(wmem / 64) : 0;
	return 300 + 1.1 * P * (mult + tree + acc + thr + comp) + c2;
}

static int64_t finn_bram(const nash_hw_layer *l)
{
	int64_t d = l->mw * l->mh / (l->pe * l->simd), w = l->pe * l->simd * l->wbits;
	if (w == 1)
		return (d + 16383) / 16384;
	if (w == 2)
		return (d + 8191) / 8192;
	if (w <= 4)
		return ((d + 4095) / 4096) * ((w + 3) / 4);
	if (w <= 9)
		return ((d + 2047) / 2048) * ((w + 8) / 9);
	if (w <= 18 || d > 512)
		return ((d + 1023) / 1024) * ((w + 17) / 18);
	return ((d + 511) / 512) * ((w + 35) / 36);
}

static void calib_row(const char *name, const nash_hw_design *d, double lut, double ff, double bram18, double finn_l,
                      double finn_b)
{
	double el = 100 * (d->total.lut - lut) / lut, eb = 100 * (d->total.bram18 - bram18) / bram18;
	double ef = 100 * (d->total.ff - ff) / ff;
	printf("# %-10s LUT %6lld vs %6.0f (%+5.1f%%, FINN %6.0f %+5.1f%%)  BRAM18 %4lld vs %4.0f (%+5.1f%%, FINN %4.0f %+5.1f%%)"
	       "  FF %6lld vs %6.0f (%+5.1f%%)\n", name, (long long)d->total.lut, lut, el, finn_l, 100 * (finn_l - lut) / lut,
	       (long long)d->total.bram18, bram18, eb, finn_b, 100 * (finn_b - bram18) / bram18, (long long)d->total.ff, ff, ef);
}

static void test_calibration(void)
{
	/* FINN's cybersecurity MLP tutorial (3-build-accelerator-with-finn):
	 * PE/SIMD 32/15, 4/16, 4/16, 1/1, decoupled weights, 32-deep input
	 * FIFO; out-of-context synthesis on xc7z020 at 100 MHz: LUT 7073,
	 * FF 7534, BRAM 18 (tiles, = 36 BRAM18); FINN's estimate LUT 11360,
	 * BRAM18 36 */
	nash_graph *g = hwfix_cybsec();
	nash_hw_design d = design(g, "xc7z020", 100);
	static const int cyb[4][2] = { {32, 15}, {4, 16}, {4, 16}, {1, 1} };
	for (int i = 0; i < 4; i++) {
		char n[8];
		snprintf(n, sizeof n, "fc%d", i);
		fold(&d, n, cyb[i][0], cyb[i][1]);
		L(&d, n)->decoupled = 1;
	}
	L(&d, "fc0")->user_fifo[0] = 32;
	nash_hw_evaluate(&d);
	calib_row("cybsec", &d, 7073, 7534, 36, 11360, 36);
	CHECK(fabs(d.total.lut - 7073.0) / 7073 <= 0.25, "cybsec LUT within 25%% of synthesis (%lld)", (long long)d.total.lut);
	CHECK(fabs(d.total.bram18 - 36.0) / 36 <= 0.15, "cybsec BRAM within 15%% (%lld)", (long long)d.total.bram18);
	CHECK(fabs(d.total.lut - 7073.0) < fabs(11360 - 7073.0), "closer than FINN's estimator on LUT");
	CHECK(d.max_cycles == 80 && fabs(d.fps - 1250000) < 1, "cycles match FINN's estimate (80, 1.25 Mfps)");
	nash_hw_design_free(&d);
	nash_graph_free(g);
	/* CNV-w1a1, folding of FINN's end-to-end test (PE/SIMD 16/3, 32/32,
	 * 16/32, 16/32, 4/32, 1/32, 1/4, 1/8, 5/1; sliding windows with the
	 * MVAU's SIMD; FIFO depths as set there), decoupled weights, Pynq-Z1 at
	 * 100 MHz; post-synthesis (excluding shell) after FINN PR #209: LUT
	 * 21135, FF 31517, 98 RAMB36 + 9 RAMB18 = 205 BRAM18 */
	g = hwfix_cnv();
	d = design(g, "pynq-z1", 100);
	static const int f[9][2] = { {16, 3}, {32, 32}, {16, 32}, {16, 32}, {4, 32}, {1, 32}, {1, 4}, {1, 8}, {5, 1} };
	static const char *mv[9] = { "conv0", "conv1", "conv2", "conv3", "conv4", "conv5", "fc0", "fc1", "fc2" };
	static const int64_t ifd[9] = { 256, 256, 256, 256, 214, 2, 126, 62, 6 }, sfd[6] = { 2, 51, 9, 106, 2, 2 };
	double finn_l = 0, finn_b = 0;
	for (int i = 0; i < 9; i++) {
		fold(&d, mv[i], f[i][0], f[i][1]);
		L(&d, mv[i])->decoupled = 1;
		L(&d, mv[i])->user_fifo[0] = ifd[i];
	}
	for (int i = 0; i < 6; i++) {
		char n[16];
		snprintf(n, sizeof n, "conv%d_swg", i);
		fold(&d, n, 0, f[i][1]);
		L(&d, n)->user_fifo[0] = sfd[i];
	}
	fold(&d, "pool1", 64, 0);      /* FINN's HLS max-pool of 2020 took all channels at once */
	fold(&d, "pool3", 128, 0);
	nash_hw_evaluate(&d);
	for (int i = 0; i < 9; i++) {
		const nash_hw_layer *l = L(&d, mv[i]);
		finn_l += finn_lut(l, l->mem == NASH_MEM_LUTRAM);
		finn_b += (double)finn_bram(l);
	}
	calib_row("cnv-w1a1", &d, 21135, 31517, 205, finn_l, finn_b);
	CHECK(fabs(d.total.lut - 21135.0) / 21135 <= 0.25, "CNV LUT within 25%% of synthesis (%lld)", (long long)d.total.lut);
	CHECK(fabs(d.total.bram18 - 205.0) / 205 <= 0.15, "CNV BRAM within 15%% (%lld)", (long long)d.total.bram18);
	CHECK(fabs(d.total.bram18 - 205.0) < fabs(finn_b - 205), "closer than FINN's BRAM formula (%.0f)", finn_b);
	CHECK(fabs(d.fps - 3051.76) < 0.1, "CNV at 100 MHz: 3051.8 fps, FINN's 3,052 prediction (%.2f)", d.fps);
	nash_hw_design_free(&d);
	nash_graph_free(g);
}

static void test_speed(void)
{
	nash_graph *g = hwfix_resnet18(1, 64);
	nash_hw_design d = design(g, "zcu104", 200);
	double t0 = nash_now();
	int n = 0;
	while (nash_now() - t0 < 0.2) {
		nash_hw_fold_cycles(&d, 666666);
		n++;
	}
	double ms = 1000 * (nash_now() - t0) / n;
	printf("# fold + estimate ResNet18-224: %.3f ms\n", ms);
	CHECK(ms < 50, "estimation takes milliseconds (%.3f ms)", ms);
	nash_hw_design_free(&d);
	nash_graph_free(g);
}

int main(void)
{
	test_devices();
	test_memory();
	test_cycles();
	test_resources();
	test_folding();
	test_files();
	test_write();
	test_calibration();
	test_speed();
	UNIT_DONE();
}
