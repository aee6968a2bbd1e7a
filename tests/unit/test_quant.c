/* test_quant.c - quantizer insertion checked structurally, and the integer
 * export checked against nash_quant_int on crafted weights (ties, clamping,
 * zero rows, binary, biases). */
#include "models/models.h"
#include "nn/nn.h"
#include "quant/quant.h"
#include "unit.h"

#include <string.h>

static nash_graph *build(const char *arch, const char *genotype, int width)
{
	nash_err e = {{0}};
	nash_model_opts o = {.arch = arch, .genotype = genotype, .seed = 3};
	if (strncmp(arch, "resnet", 6) == 0)
		o.in_c = 1, o.in_h = o.in_w = 28, o.width = width;
	nash_graph *g = nash_model_build(&o, &e);
	if (!g)
		printf("# build %s: %s\n", arch, e.msg);
	return g;
}

static int quantize(nash_graph *g, const char *preset, nash_qoverride *ov, int nov, nash_err *e)
{
	const nash_val *av = nash_val_path(g->meta, "gen.arch");
	const char *arch = av ? nash_val_as_str(av) : NULL;
	nash_quant_opts o = {.preset = preset, .ov = ov, .nov = nov};
	if (nash_quant_preset(preset, arch, &o.bits, e) < 0)
		return -1;
	nash_quant_resolve(&o.bits, arch);
	nash_quant_result r;
	int rc = nash_quant_apply(g, &o, &r, e);
	for (int i = 0; i < r.nwarn; i++)
		printf("# warning: %s\n", r.warn[i]);
	nash_quant_result_free(&r);
	return rc;
}

static const nash_node *producer(const nash_graph *g, const char *t)
{
	int p = nash_graph_producer(g, t);
	return p < 0 ? NULL : g->nodes[p];
}

static int count_op(const nash_graph *g, const char *op)
{
	int n = 0;
	for (int i = 0; i < g->nnodes; i++)
		n += strcmp(g->nodes[i]->op, op) == 0;
	return n;
}

static float fval(const nash_graph *g, const char *name)
{
	const nash_tensor *t = nash_tensor_find(g, name);
	return t && t->data && t->dtype == NASH_F32 ? *(const float *)t->data : -1;
}

static double ival(const nash_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case NASH_I8: return ((const int8_t *)t->data)[i];
	case NASH_I16: return ((const int16_t *)t->data)[i];
	case NASH_I32: return ((const int32_t *)t->data)[i];
	default: return 1e30;
	}
}

/* Every weight quantizer of g: its integers equal nash_quant_int of its
 * weights with its scale (or the sign, for BipolarQuant). */
static int export_matches(const nash_graph *g, int *nq)
{
	int ok = 1;
	*nq = 0;
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		if (strcmp(nash_attr_str(n, "target", ""), "weight") != 0)
			continue;
		nash_qparams q;
		nash_err e;
		if (nash_qparams_get(g, n, &q, &e) < 0)
			return 0;
		const nash_tensor *w = nash_tensor_find(g, n->in[0]);
		const nash_tensor *t = nash_tensor_find(g, nash_attr_str(n, "int_tensor", ""));
		if (!t || nash_tensor_numel(t) != nash_tensor_numel(w))
			return 0;
		int64_t rows = nash_tensor_numel(q.scale), per = nash_tensor_numel(w) / rows;
		const float *wp = w->data, *sp = q.scale->data;
		for (int64_t k = 0; k < nash_tensor_numel(w); k++) {
			double want = q.bipolar ? (wp[k] >= 0 ? 1 : -1) : nash_quant_int(wp[k], sp[k / per], 0, q.lo, q.hi);
			ok &= ival(t, k) == want;
		}
		(*nq)++;
	}
	return ok;
}

/* A one-layer graph: input 1x1x4 -> Flatten -> Gemm(W rows x 4) with the
 * given weights, so crafted values reach the export unchanged. */
static nash_graph *gemm_graph(const float *w, int rows)
{
	nash_graph *g = nash_graph_new("crafted");
	nash_graph_add_input(g, "input", NASH_F32, 3, (int64_t[]){1, 1, 4});
	nash_node_add(g, "Flatten", "flatten", (const char *[]){"input", NULL}, (const char *[]){"flatten", NULL});
	nash_tensor *t = nash_tensor_add(g, "fc.weight", NASH_F32, 2, (int64_t[]){rows, 4});
	memcpy(t->data, w, sizeof(float) * 4 * (size_t)rows);
	nash_tensor *b = nash_tensor_add(g, "fc.bias", NASH_F32, 1, (int64_t[]){rows});
	for (int r = 0; r < rows; r++)
		((float *)b->data)[r] = 0.25f * (float)r - 0.3f;
	nash_node *n = nash_node_add(g, "Gemm", "fc", (const char *[]){"flatten", "fc.weight", "fc.bias", NULL},
	                             (const char *[]){"logits", NULL});
	nash_attr_set_int(n, "transB", 1);
	nash_graph_add_output(g, "logits");
	return g;
}


/* The engine on a quantized graph: train-mode forward of n synthetic images
 * (pixels at 1/255 steps), loss, backward, one SGD step on the learned
 * scales (log2 domain), sync. Returns how many learned scales changed in
 * the graph; *nlearned the count of learned-scale parameters; -1 on error. */
static int engine_step(nash_graph *g, int *nlearned, nash_err *e)
{
	const nash_io *in = &g->inputs[0];
	int64_t per = nash_shape_numel(in->ndim, in->shape);
	enum { N = 4 };
	nash_net_opts o = {.batch = N, .train = 1, .threads = 1};
	nash_net *net = nash_net_new(g, &o, e);
	if (!net)
		return -1;
	float *x = nash_alloc((size_t)(N * per) * sizeof *x);
	nash_rng r;
	nash_rng_seed(&r, 5);
	for (int64_t i = 0; i < N * per; i++)
		x[i] = (float)nash_rng_below(&r, 256) / 255.0f;
	int lab[N] = {0, 1, 2, 3}, changed = -1;
	nash_net_train_mode(net, 1);
	*nlearned = 0;
	if (nash_net_forward(net, x, N, e) == 0 && isfinite(nash_net_loss(net, lab, 0, NULL, NULL)) &&
	    nash_net_backward(net, NASH_GRAD_WEIGHTS, e) == 0) {
		int np = nash_net_nparams(net);
		float *before = nash_alloc((size_t)np * sizeof *before);
		for (int i = 0; i < np; i++) {
			nash_param *p = nash_net_param(net, i);
			if (p->kind != NASH_P_QSCALE)
				continue;
			(*nlearned)++;
			before[i] = *nash_tensor_f32(g, p->name);
			for (int64_t k = 0; k < p->n; k++)
				p->w[k] -= 0.5f * p->g[k];
		}
		changed = 0;
		if (nash_net_sync(net, e) < 0)
			changed = -1;
		for (int i = 0; i < np && changed >= 0; i++) {
			nash_param *p = nash_net_param(net, i);
			if (p->kind == NASH_P_QSCALE)
				changed += *nash_tensor_f32(g, p->name) != before[i];
		}
		free(before);
	}
	free(x);
	nash_net_free(net);
	return changed;
}

int main(void)
{
	nash_err e = {{0}};

	/* ------------------------------------------------ presets and specs */
	nash_qbits b;
	int w, a;
	CHECK(nash_quant_preset("w3a3", NULL, &b, &e) < 0 && strstr(e.msg, "known: w1a1, w1a2, w2a2, w4a4, w8a8, nash-v1"),
	      "unknown preset lists the known ones: %s", e.msg);
	CHECK(nash_quant_preset("nash-v2", "tfc", &b, &e) < 0 && strstr(e.msg, "no NASH cells"), "nash-v2 on tfc: %s",
	      e.msg);
	CHECK(nash_quant_preset("nash-v4", "resnet18", &b, &e) == 0 && b.w == 1 && b.nas_w == 8 && b.a == 8 &&
	      b.pool == 4, "nash-v4: binary backbone, 8-bit NAS convs, 4-bit pool");
	CHECK(nash_quant_preset("nash-v3", "resnet34", &b, &e) == 0 && b.w == 2 && b.a == 2 && b.nas_a == 8,
	      "nash presets on resnet34: the reference code's 2-bit ResNet34");
	CHECK(nash_quant_preset("w2a2", "tfc", &b, &e) == 0 && (nash_quant_resolve(&b, "tfc"), b.first == 2 && b.last == 2),
	      "BNN-PYNQ nets: first and last follow w");
	CHECK(nash_quant_preset("w2a2", "resnet18", &b, &e) == 0 &&
	      (nash_quant_resolve(&b, "resnet18"), b.first == 8 && b.last == 8 && b.down == 8 && b.nas_w == 2 &&
	       b.pool == 0 && b.adder == 8), "ResNets: 8-bit first, last, downsample and adders; automatic pool");
	CHECK(nash_quant_spec_parse("w4a4", &w, &a, &e) == 0 && w == 4 && a == 4, "spec w4a4");
	CHECK(nash_quant_spec_parse("a2", &w, &a, &e) == 0 && w == 0 && a == 2, "spec a2");
	CHECK(nash_quant_spec_parse("w17", &w, &a, &e) < 0 && strstr(e.msg, "1..16"), "spec w17: %s", e.msg);
	CHECK(nash_quant_spec_parse("w0", &w, &a, &e) < 0, "spec w0");
	CHECK(nash_quant_spec_parse("x4", &w, &a, &e) < 0 && nash_quant_spec_parse("", &w, &a, &e) < 0 &&
	      nash_quant_spec_parse("w4a", &w, &a, &e) < 0 && nash_quant_spec_parse("a4w4", &w, &a, &e) < 0,
	      "malformed specs");
	CHECK(nash_quant_act_range(2) == 1.5 && nash_quant_act_range(4) == 4 && nash_quant_act_range(8) == 10,
	      "initial activation ranges of the reference code");

	/* ------------------------------------------------------------- tfc */
	nash_graph *g = build("tfc", NULL, 0);
	CHECK(g && quantize(g, "w2a2", NULL, 0, &e) == 0, "tfc w2a2 (%s)", e.msg);
	CHECK(count_op(g, "Quant") == 8 && count_op(g, "BipolarQuant") == 0, "tfc: input, 4 weight, 3 act quantizers");
	const nash_node *wq = producer(g, nash_node_find(g, "fc1")->in[1]);
	CHECK(wq && strcmp(wq->op, "Quant") == 0 && nash_attr_int(wq, "narrow", 0) == 1 &&
	      strcmp(nash_attr_str(wq, "scale_mode", ""), "stats") == 0 && fval(g, wq->in[3]) == 2,
	      "fc1 weights: narrow 2-bit stats quantizer");
	const nash_tensor *ws = nash_tensor_find(g, wq->in[1]);
	CHECK(ws && ws->ndim == 2 && ws->shape[0] == 64 && ws->shape[1] == 1, "per-output-channel scale 64x1");
	const nash_node *last = producer(g, nash_node_find(g, "fc3")->in[1]);
	CHECK(last && nash_tensor_numel(nash_tensor_find(g, last->in[1])) == 1 && nash_tensor_find(g, last->in[1])->ndim == 0,
	      "classifier: one per-tensor scale");
	const nash_node *aq = producer(g, nash_node_find(g, "fc2")->in[0]);
	CHECK(aq && strcmp(nash_attr_str(aq, "target", ""), "act") == 0 && nash_attr_int(aq, "signed", 0) == 1 &&
	      nash_attr_int(aq, "narrow", 0) == 1, "HardTanh output: signed narrow activation quantizer");
	CHECK(fabs(fval(g, aq->in[1]) - 1.0) < 1e-7, "signed 2-bit activation scale starts at the HardTanh range (1)");
	const nash_node *iq = producer(g, nash_node_find(g, "flatten")->in[0]);
	CHECK(iq && strcmp(nash_attr_str(iq, "target", ""), "input") == 0 && fabs(fval(g, iq->in[1]) - 1.0 / 255) < 1e-9 &&
	      fval(g, iq->in[3]) == 8 && nash_attr_int(iq, "signed", 1) == 0, "input: unsigned 8-bit, scale 1/255");
	int nq = 0;
	CHECK(export_matches(g, &nq) && nq == 4, "tfc export = nash_quant_int of the weights (%d quantizers)", nq);
	nash_counts c0;
	nash_graph_count(g, &c0, &e);
	nash_graph_prune(g);
	CHECK(nash_tensor_find(g, "fc0.wq.int") != NULL, "prune keeps the integer tensors");
	CHECK(c0.params < 59392 + 300, "exported integers are not counted as parameters (%lld)", (long long)c0.params);
	CHECK(quantize(g, "w2a2", NULL, 0, &e) < 0 && strstr(e.msg, "layer fc0 is already quantized"),
	      "quantizing twice: %s", e.msg);
	/* training changes weights: the export refreshes scales and integers */
	float *w1 = nash_tensor_f32(g, "fc1.weight");
	w1[0] = 3.0f;
	CHECK(nash_quant_export(g, &e) == 4 && export_matches(g, &nq) && fabs(nash_tensor_f32(g, wq->in[1])[0] - 3.0) < 1e-6,
	      "export after a weight change: scale max|W| / 1 and integers follow");
	w1[5] = NAN;
	CHECK(nash_quant_export(g, &e) < 0 && strstr(e.msg, "NaN") && strstr(e.msg, "fc1.weight"), "NaN weights: %s",
	      e.msg);
	nash_graph_free(g);

	g = build("tfc", NULL, 0);
	nash_tensor_f32(g, "fc2.weight")[7] = NAN;
	CHECK(quantize(g, "w2a2", NULL, 0, &e) < 0 && strstr(e.msg, "fc2.weight") && strstr(e.msg, "NaN"),
	      "NaN weights refused: %s", e.msg);
	nash_graph_free(g);

	/* binary weights and bipolar activations (BNN-PYNQ w1a1) */
	g = build("tfc", NULL, 0);
	CHECK(g && quantize(g, "w1a1", NULL, 0, &e) == 0, "tfc w1a1 (%s)", e.msg);
	CHECK(count_op(g, "BipolarQuant") == 7 && count_op(g, "Quant") == 1, "w1a1: 4 binary weights, 3 bipolar acts");
	CHECK(export_matches(g, &nq) && nq == 4, "binary export: signs");
	const nash_tensor *bt = nash_tensor_find(g, "fc0.wq.int");
	CHECK(bt && bt->datatype.kind == NASH_DT_BIPOLAR && bt->dtype == NASH_I8, "binary integers: int8, BIPOLAR");
	nash_graph_free(g);

	/* ------------------------------------------------ crafted weights */
	const float cw[] = {
		7.0f, 2.5f, -2.5f, 3.5f,      /* ties to even: 2, -2, 4 */
		0.0f, 0.0f, 0.0f, 0.0f,       /* zero row: scale 1, integers 0 */
		-14.0f, 5.0f, 1.0f, 0.999f,   /* scale 2: -7, 2 (2.5), 0 (0.5), 0 */
		0.5f, -0.5f, 1.5f, -3.5f,     /* scale 0.5: 1, -1, 3, -7 */
	};
	g = gemm_graph(cw, 4);
	CHECK(nash_graph_validate(g, &e) == 0, "crafted graph (%s)", e.msg);
	/* the crafted layer is both first and last: make it a middle layer by
	 * override so it keeps per-channel scales: last wins, so check both */
	nash_qoverride ov = {"fc", 4, 0, 0, 0};
	CHECK(quantize(g, "w8a8", &ov, 1, &e) == 0 && ov.hits_w == 1, "crafted: override w4 (%s)", e.msg);
	const nash_node *cq = producer(g, "fc.wq");
	const nash_tensor *cs = nash_tensor_find(g, cq->in[1]);
	CHECK(nash_tensor_numel(cs) == 1 && fabs(((float *)cs->data)[0] - 2.0) < 1e-7,
	      "classifier scale: one, max|W| / 7 = 2");
	const nash_tensor *ci = nash_tensor_find(g, nash_attr_str(cq, "int_tensor", ""));
	static const int want_pt[] = {4, 1, -1, 2, 0, 0, 0, 0, -7, 2, 0, 0, 0, 0, 1, -2};
	int okpt = ci && ci->datatype.kind == NASH_DT_INT && ci->datatype.bits == 4;
	for (int i = 0; okpt && i < 16; i++)
		okpt &= ival(ci, i) == want_pt[i];
	CHECK(okpt, "per-tensor integers with ties to even (3.5 -> 4, 2.5 -> 2 at scale 1; 1.25 -> 1 ...)");
	/* per-channel: turn the weight scale (and so the bias scale) into one
	 * per row and export again */
	const nash_node *bq = producer(g, nash_node_find(g, "fc")->in[2]);
	CHECK(bq && nash_tensor_numel(nash_tensor_find(g, bq->in[1])) == 1, "bias scale per tensor like the weight's");
	nash_tensor_add(g, cq->in[1], NASH_F32, 2, (int64_t[]){4, 1});
	nash_tensor_add(g, bq->in[1], NASH_F32, 1, (int64_t[]){4});
	CHECK(nash_quant_export(g, &e) == 2, "export: weight and bias quantizers (%s)", e.msg);
	cs = nash_tensor_find(g, cq->in[1]);
	const float *sp = cs->data;
	CHECK(sp[0] == 1.0f && sp[1] == 1.0f && sp[2] == 2.0f && sp[3] == 0.5f, "per-row stats scales 1, 1 (zero row), 2, 0.5");
	static const int want_pc[] = {7, 2, -2, 4, 0, 0, 0, 0, -7, 2, 0, 0, 1, -1, 3, -7};
	ci = nash_tensor_find(g, nash_attr_str(cq, "int_tensor", ""));
	int okpc = 1;
	for (int i = 0; i < 16; i++) {
		okpc &= ival(ci, i) == want_pc[i];
		okpc &= ival(ci, i) == nash_quant_int(cw[i], sp[i / 4], 0, -7, 7);
	}
	CHECK(okpc, "per-row integers: ties to even, zero row, nash_quant_int");
	/* the bias: Int32Bias, scale = input scale (1/255) x weight scale */
	CHECK(bq && strcmp(nash_attr_str(bq, "scale_mode", ""), "product") == 0 && fval(g, bq->in[3]) == 32,
	      "bias quantizer: 32-bit, product scale");
	nash_val *from = nash_val_get(bq->attr, "scale_from");
	CHECK(from && from->u.a.n == 2 && strcmp(nash_val_as_str(from->u.a.v[0]), "input.q.scale") == 0 &&
	      strcmp(nash_val_as_str(from->u.a.v[1]), cq->in[1]) == 0, "scale_from: input scale, weight scale");
	const nash_tensor *bs = nash_tensor_find(g, bq->in[1]), *bi = nash_tensor_find(g, nash_attr_str(bq, "int_tensor", ""));
	int okb = bs && bi && bi->dtype == NASH_I32 && nash_tensor_numel(bs) == 4;
	const float *bb = nash_tensor_f32(g, "fc.bias");
	for (int r = 0; okb && r < 4; r++) {
		double s = (double)(float)(1.0 / 255) * sp[r];
		okb &= fabs(((const float *)bs->data)[r] - s) < 1e-9 && ival(bi, r) == nash_quant_int(bb[r], ((const float *)bs->data)[r], 0, -2147483648.0, 2147483647.0);
	}
	CHECK(okb, "bias scales are products, bias integers nash_quant_int");
	/* clamping: a const weight scale smaller than max|W| / hi */
	nash_node *cqm = nash_node_find(g, "fc.wq");
	nash_attr_set_str(cqm, "scale_mode", "const");
	float *spm = nash_tensor_f32(g, cqm->in[1]);
	spm[0] = 0.5f;
	CHECK(nash_quant_export(g, &e) == 2 && spm[0] == 0.5f, "const scale is not refreshed");
	ci = nash_tensor_find(g, nash_attr_str(cqm, "int_tensor", ""));
	CHECK(ival(ci, 0) == 7 && ival(ci, 1) == 5 && ival(ci, 2) == -5 && ival(ci, 3) == 7, "clamped at +-7 (narrow)");
	nash_graph_free(g);

	/* ------------------------------------------ ResNet with NASH cells */
	const char *gt = "c3@0,sk@1,-,mp@2/conv_1x1@0,none,skip_connect@0,conv_5x5@3/none,none,none,none/c5@0,c5@1,c5@2,c5@3";
	g = build("resnet18", gt, 8);
	int fadds[4] = {0}, fadd = 0;
	for (int i = 0; g && i < g->nnodes; i++)
		if (strcmp(g->nodes[i]->op, "Add") == 0) {
			fadd++;
			fadds[nash_attr_int(g->nodes[i], "cell", 0) & 3]++;
		}
	CHECK(g && quantize(g, "nash-v3", NULL, 0, &e) == 0, "resnet18 NASH genotype, nash-v3 (%s)", e.msg);
	int adds = 0, shared = 1, cells[4] = {0};
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		if (strcmp(n->op, "Add") != 0)
			continue;
		adds++;
		const nash_node *qa = producer(g, n->in[0]), *qb = producer(g, n->in[1]);
		int cell = (int)nash_attr_int(n, "cell", -1);
		char want[64];
		snprintf(want, sizeof want, "cell%d.adder.scale", cell);
		shared &= qa && qb && strcmp(nash_attr_str(qa, "target", ""), "adder") == 0 &&
		          strcmp(qa->in[1], want) == 0 && strcmp(qb->in[1], want) == 0 && fval(g, qa->in[3]) == 8 &&
		          nash_attr_int(qa, "narrow", 0) == 1 && nash_attr_int(qa, "signed", 0) == 1;
		if (cell >= 0 && cell < 4)
			cells[cell]++;
	}
	CHECK(adds == fadd && adds > 8 && shared,
	      "every Add of the cascades reads two quantizers sharing cellN.adder.scale (%d adds)", adds);
	CHECK(!memcmp(cells, fadds, sizeof cells), "adds per cell %d, %d, %d, %d", cells[0], cells[1], cells[2], cells[3]);
	CHECK(fabs(fval(g, "cell0.adder.scale") - 10.0 / 127) < 1e-7, "adder range starts at +-10");
	const nash_node *nasw = producer(g, nash_node_find(g, "cell0.n0.e0.conv_3x3.conv")->in[1]);
	CHECK(nasw && strcmp(nasw->op, "BipolarQuant") == 0, "v3: NAS convs binary");
	const nash_node *bbw = producer(g, nash_node_find(g, "layer2.1.conv1")->in[1]);
	CHECK(bbw && fval(g, bbw->in[3]) == 4, "v3: backbone convs 4 bit");
	const nash_node *skw = producer(g, nash_node_find(g, "cell1.n2.e0.skip_connect.conv_a")->in[1]);
	CHECK(skw && fval(g, skw->in[3]) == 4, "v3: factorized reduce 4 bit");
	const nash_node *dsw = producer(g, nash_node_find(g, "layer3.0.downsample.conv")->in[1]);
	CHECK(dsw && fval(g, dsw->in[3]) == 8, "downsample 8 bit");
	/* state 2 of cell 0 feeds a NAS max-pool: an 8-bit NAS-input quantizer
	 * besides the 4-bit backbone one */
	const nash_node *mp = nash_node_find(g, "cell0.n3.e2.max_pool_3x3.pool");
	const nash_node *mpq = producer(g, mp->in[0]), *bq2 = producer(g, nash_node_find(g, "layer1.1.conv1")->in[0]);
	CHECK(mpq && bq2 && strcmp(mpq->in[0], bq2->in[0]) == 0 && fval(g, mpq->in[3]) == 8 && fval(g, bq2->in[3]) == 4 &&
	      fabs(fval(g, mpq->in[1]) - 10.0 * sqrt(3) / 255) < 1e-7 && fabs(fval(g, bq2->in[1]) - 4.0 * sqrt(3) / 15) < 1e-7,
	      "v3: NAS ops read the state (a sum of 3 terms) through 8 bits (range 10 sqrt 3), the backbone through 4 bits (4 sqrt 3)");
	/* quantized average pool: 4-bit acts over 4x4 -> in 8 bits, out 4 */
	const nash_node *tr = producer(g, nash_node_find(g, "head.flatten")->in[0]);
	const nash_node *mul = tr ? producer(g, tr->in[0]) : NULL;
	CHECK(tr && strcmp(tr->op, "Trunc") == 0 && mul && strcmp(mul->op, "Mul") == 0 && fval(g, mul->in[1]) == 16 &&
	      fval(g, tr->in[3]) == 8 && fval(g, tr->in[4]) == 4 && strcmp(nash_attr_str(tr, "rounding_mode", ""), "FLOOR") == 0,
	      "GlobalAveragePool -> Mul(16) -> Trunc(8 -> 4 bits, FLOOR)");
	const nash_node *lastq = producer(g, nash_node_find(g, "head.pool")->in[0]);
	CHECK(lastq && strcmp(tr->in[1], lastq->in[1]) == 0, "Trunc keeps the pooled activation's scale tensor");
	const nash_node *stemw = producer(g, nash_node_find(g, "stem.conv")->in[1]);
	CHECK(stemw && fval(g, stemw->in[3]) == 8 && nash_tensor_numel(nash_tensor_find(g, stemw->in[1])) == 8,
	      "stem: 8 bit per channel");
	CHECK(export_matches(g, &nq) && nq == 30, "resnet18 export matches (%d weight quantizers)", nq);
	nash_val *cnt = nash_val_path(g->meta, "quant.counts.adder_scales");
	CHECK(cnt && nash_val_as_int(cnt, 0) == 4 &&
	      nash_val_as_int(nash_val_path(g->meta, "quant.counts.adders"), 0) == 2 * fadd,
	      "meta.quant counts: 4 adder scales, two adder quantizers per Add");
	nash_graph_free(g);

	/* 1-bit activations over a 4x4 window: the sum needs 5 bits */
	g = build("resnet18", NULL, 8);
	CHECK(g && quantize(g, "w1a1", NULL, 0, &e) == 0, "resnet18 w1a1 (%s)", e.msg);
	tr = producer(g, nash_node_find(g, "head.flatten")->in[0]);
	CHECK(tr && fval(g, tr->in[3]) == 5 && fval(g, tr->in[4]) == 2,
	      "Trunc in_bitwidth 5 for 16 one-bit values; automatic output 2 bits (at most twice the average)");
	nash_graph_free(g);

	/* overrides */
	g = build("resnet18", NULL, 8);
	nash_qoverride ovs[2] = {{"layer4.*", 4, 4, 0, 0}, {"nothing*", 3, 0, 0, 0}};
	CHECK(g && quantize(g, "w2a2", ovs, 2, &e) == 0, "overrides (%s)", e.msg);
	tr = producer(g, nash_node_find(g, "head.flatten")->in[0]);
	CHECK(tr && fval(g, tr->in[3]) == 8 && fval(g, tr->in[4]) == 5, "4-bit (overridden) activations, 4x4 pool: 8 bits in, 5 out");
	CHECK(ovs[0].hits_w == 5 && ovs[0].hits_a == 4 && ovs[1].hits_w == 0 && ovs[1].hits_a == 0,
	      "layer4.* matches 5 convs and 4 relus; nothing* nothing (%d %d)", ovs[0].hits_w, ovs[0].hits_a);
	CHECK(fval(g, producer(g, nash_node_find(g, "layer4.1.conv2")->in[1])->in[3]) == 4 &&
	      fval(g, producer(g, nash_node_find(g, "layer3.1.conv2")->in[1])->in[3]) == 2, "override applied to layer4 only");
	nash_graph_free(g);

	/* supernet: Choice outputs go through the adder quantizer */
	nash_model_opts so = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 8, .version = 2,
	                      .search = 1, .seed = 1};
	g = nash_model_build(&so, &e);
	CHECK(g && quantize(g, "w2a2", NULL, 0, &e) == 0, "supernet w2a2 (%s)", e.msg);
	const nash_node *cadd = NULL;
	for (int i = 0; g && i < g->nnodes && !cadd; i++)
		if (strcmp(g->nodes[i]->op, "Add") == 0) {
			const nash_node *qq = producer(g, g->nodes[i]->in[1]);
			const nash_node *ch = qq ? producer(g, qq->in[0]) : NULL;
			if (ch && strcmp(ch->op, "Choice") == 0)
				cadd = g->nodes[i];
		}
	CHECK(cadd != NULL, "supernet: a Choice output reaches its Add through the adder quantizer");
	nash_graph_free(g);

	/* ------------------------------------------------------ the engine */
	static const struct { const char *arch, *gt, *preset; int learned; } eg[] = {
		{"tfc", NULL, "w2a2", 3},        /* three HardTanh quantizers */
		{"tfc", NULL, "w1a1", 0},        /* bipolar activations: constant scale */
		{"resnet18", NULL, "w2a2", 21},  /* 17 activations, 4 adder cells */
		{"resnet18", NULL, "w1a2", 21},
		{"resnet18", "c3@0,sk@1,-,mp@2/c1@0,-,sk@0,c5@3/-,-,-,-/c5@0,c5@1,c5@2,c5@3", "nash-v3", 26}, /* 22 activations */
	};
	for (size_t k = 0; k < sizeof eg / sizeof *eg; k++) {
		g = build(eg[k].arch, eg[k].gt, 8);
		int nl = 0, ch = -2;
		if (g && quantize(g, eg[k].preset, NULL, 0, &e) == 0)
			ch = engine_step(g, &nl, &e);
		CHECK(ch >= 0 && nl == eg[k].learned, "%s%s %s runs forward and backward in the engine (%d learned scales; %s)",
		      eg[k].arch, eg[k].gt ? " NASH" : "", eg[k].preset, nl, ch < 0 ? e.msg : "ok");
		CHECK(nl == 0 || ch == nl, "%s %s: one step changes every learned scale (%d of %d)", eg[k].arch,
		      eg[k].preset, ch, nl);
		CHECK(ch < 0 || (nash_quant_export(g, &e) > 0 && export_matches(g, &nq)),
		      "%s %s: export after the step matches", eg[k].arch, eg[k].preset);
		nash_graph_free(g);
	}
	UNIT_DONE();
}
