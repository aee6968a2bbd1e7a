/* test_stream_ref.c - the reference interpreter of lib/streamline against
 * values computed by hand (or by independent loops here), op by op: the
 * quantizers (ties to even, clamping, narrow ranges, FLOOR/CEIL, sign(0)),
 * MultiThreshold with strict columns, convolution, pools, and every
 * hardware operator of nash-ops(7) in H x W x C (window order, threshold
 * and BIPOLAR encodings, padding values, shifts of negative sums, label
 * ties), plus the datatype checks. */
#include "streamline/streamline.h"
#include "unit.h"

#include <string.h>

static nash_graph *G;

static void begin(const char *name) { G = nash_graph_new(name); }

static void input(const char *name, int ndim, const int64_t *shape, const char *dt)
{
	nash_io *io = nash_graph_add_input(G, name, NASH_F32, ndim, shape);
	if (dt)
		nash_datatype_parse(dt, &io->datatype);
}

static void fparam(const char *name, int ndim, const int64_t *shape, const double *v)
{
	nash_tensor *t = nash_tensor_add(G, name, NASH_F32, ndim, shape);
	for (int64_t i = 0; i < nash_tensor_numel(t); i++)
		((float *)t->data)[i] = (float)v[i];
}

static void iparam(const char *name, int ndim, const int64_t *shape, const int64_t *v, const char *dt)
{
	nash_tensor *t = nash_tensor_add(G, name, NASH_I32, ndim, shape);
	nash_datatype_parse(dt, &t->datatype);
	for (int64_t i = 0; i < nash_tensor_numel(t); i++)
		((int32_t *)t->data)[i] = (int32_t)v[i];
}

static nash_node *node(const char *op, const char *const *in, const char *const *out)
{
	return nash_node_add(G, op, op, in, out);
}

/* Validate, run on the given input values, return output 0 (copied). */
static double out[4096];
static int64_t nout;
static int run(const double *x0, const double *x1, nash_err *e)
{
	nash_graph_add_output(G, G->nodes[G->nnodes - 1]->out[0]);
	if (nash_graph_validate(G, e) < 0)
		return -1;
	nash_ref *r = nash_ref_new(G, e);
	if (!r)
		return -1;
	const double *in[2] = {x0, x1};
	int rc = nash_ref_run(r, in, e);
	if (rc == 0) {
		const double *v = nash_ref_output(r, 0, &nout);
		memcpy(out, v, (size_t)nout * sizeof *v);
	}
	nash_ref_free(r);
	return rc;
}

static void end(void)
{
	nash_graph_free(G);
	G = NULL;
}

static int same(const double *a, const double *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (a[i] != b[i]) {
			printf("#   element %lld: got %.17g, want %.17g\n", (long long)i, a[i], b[i]);
			return 0;
		}
	return 1;
}

static void quant_tests(void)
{
	nash_err e;
	int64_t s8[1] = {8}, one[1] = {1};
	/* ROUND ties to even, unsigned 2 bits, scale 1 */
	double x[8] = {0.5, 1.5, 2.5, -0.5, 3.49, 3.5, 7, 1.4999999};
	begin("quant");
	input("x", 1, s8, NULL);
	fparam("s", 1, one, (double[]){1});
	fparam("z", 1, one, (double[]){0});
	fparam("b", 1, one, (double[]){2});
	nash_node *q = node("Quant", (const char *[]){"x", "s", "z", "b", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(q, "signed", 0);
	CHECK(run(x, NULL, &e) == 0, "Quant runs (%s)", e.msg);
	CHECK(same(out, (double[]){0, 2, 2, 0, 3, 3, 3, 1}, 8), "Quant ROUND: ties to even, clamp to [0, 3]");
	end();
	/* signed narrow 3 bits, scale 0.5: [-3, 3] */
	double xs[8] = {-2.0, -1.75, -1.25, -0.25, 0.25, 0.75, 1.25, 9};
	begin("quant2");
	input("x", 1, s8, NULL);
	fparam("s", 1, one, (double[]){0.5});
	fparam("z", 1, one, (double[]){0});
	fparam("b", 1, one, (double[]){3});
	q = node("Quant", (const char *[]){"x", "s", "z", "b", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(q, "signed", 1);
	nash_attr_set_int(q, "narrow", 1);
	CHECK(run(xs, NULL, &e) == 0, "signed Quant runs (%s)", e.msg);
	/* x/s: -4 -3.5 -2.5 -0.5 0.5 1.5 2.5 18 -> -3(clamp) -4->-3 -2 0 0 2 2 3 */
	CHECK(same(out, (double[]){-1.5, -1.5, -1, 0, 0, 1, 1, 1.5}, 8), "signed narrow Quant: ties to even, clamp to +-3");
	end();
	/* FLOOR and CEIL */
	for (int m = 0; m < 2; m++) {
		begin("quant3");
		input("x", 1, s8, NULL);
		fparam("s", 1, one, (double[]){1});
		fparam("z", 1, one, (double[]){0});
		fparam("b", 1, one, (double[]){4});
		q = node("Quant", (const char *[]){"x", "s", "z", "b", NULL}, (const char *[]){"y", NULL});
		nash_attr_set_int(q, "signed", 1);
		nash_attr_set_str(q, "rounding_mode", m ? "CEIL" : "FLOOR");
		double v[8] = {-1.5, -1, -0.2, 0, 0.2, 1, 1.5, 2.9};
		CHECK(run(v, NULL, &e) == 0, "Quant %s runs", m ? "CEIL" : "FLOOR");
		double want_f[8] = {-2, -1, -1, 0, 0, 1, 1, 2}, want_c[8] = {-1, -1, 0, 0, 1, 1, 2, 3};
		CHECK(same(out, m ? want_c : want_f, 8), "Quant %s", m ? "CEIL" : "FLOOR");
		end();
	}
	/* per-channel scale C x 1 x 1 on a 2 x 1 x 2 tensor */
	int64_t s3[3] = {2, 1, 2}, sc[3] = {2, 1, 1};
	begin("quant4");
	input("x", 3, s3, NULL);
	fparam("s", 3, sc, (double[]){1, 0.25});
	fparam("z", 1, one, (double[]){0});
	fparam("b", 1, one, (double[]){8});
	q = node("Quant", (const char *[]){"x", "s", "z", "b", NULL}, (const char *[]){"y", NULL});
	CHECK(run((double[]){1.3, 2.6, 1.3, 2.6}, NULL, &e) == 0, "per-channel Quant runs (%s)", e.msg);
	CHECK(same(out, (double[]){1, 3, 1.25, 2.5}, 4), "per-channel Quant scales each channel");
	end();
	/* BipolarQuant: sign(0) = +1 */
	begin("bip");
	input("x", 1, s8, NULL);
	fparam("s", 1, one, (double[]){0.5});
	node("BipolarQuant", (const char *[]){"x", "s", NULL}, (const char *[]){"y", NULL});
	CHECK(run((double[]){-2, -1e-9, 0, 1e-9, 3, -0.0, 7, -7}, NULL, &e) == 0, "BipolarQuant runs");
	CHECK(same(out, (double[]){-0.5, -0.5, 0.5, 0.5, 0.5, 0.5, 0.5, -0.5}, 8), "BipolarQuant: sign(0) = +1");
	end();
	/* Trunc: floor(round(x / s) / 4) * s */
	begin("trunc");
	input("x", 1, s8, NULL);
	fparam("s", 1, one, (double[]){0.5});
	fparam("z", 1, one, (double[]){0});
	fparam("ib", 1, one, (double[]){6});
	fparam("ob", 1, one, (double[]){4});
	node("Trunc", (const char *[]){"x", "s", "z", "ib", "ob", NULL}, (const char *[]){"y", NULL});
	CHECK(run((double[]){0, 1.5, 2, 3.5, 7.9, -0.5, 20, 1.75}, NULL, &e) == 0, "Trunc runs");
	/* x/s: 0 3 4 7 15.8->16 -1 40 3.5->4 ; /4 floor: 0 0 1 1 4 -1 10 1 */
	CHECK(same(out, (double[]){0, 0, 0.5, 0.5, 2, -0.5, 5, 0.5}, 8), "Trunc: round, shift down (FLOOR), keep the scale");
	end();
}

static void threshold_tests(void)
{
	nash_err e;
	int64_t s3[3] = {2, 1, 3}, ts[2] = {2, 3}, t1[2] = {1, 3};
	/* per-channel rows, strict middle column */
	begin("mt");
	input("x", 3, s3, NULL);
	fparam("T", 2, ts, (double[]){0, 1, 2, 10, 20, 30});
	nash_node *n = node("MultiThreshold", (const char *[]){"x", "T", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_float(n, "out_scale", 2);
	nash_attr_set_float(n, "out_bias", -1);
	nash_attr_set_ints(n, "strict", 3, (int64_t[]){0, 1, 0});
	CHECK(run((double[]){0, 1, 2, 10, 20, 29}, NULL, &e) == 0, "MultiThreshold runs (%s)", e.msg);
	/* ch0: 0 -> 1 (>=0), 1 -> 1 (1 > 1 false), 2 -> 3; ch1: 10 -> 1, 20 -> 1, 29 -> 2 */
	CHECK(same(out, (double[]){1, 1, 5, 1, 1, 3}, 6), "MultiThreshold: out_scale * count + out_bias, strict column");
	end();
	begin("mt1");
	input("x", 3, s3, NULL);
	fparam("T", 2, t1, (double[]){0.5, 1.5, 2.5});
	node("MultiThreshold", (const char *[]){"x", "T", NULL}, (const char *[]){"y", NULL});
	CHECK(run((double[]){0, 0.5, 3, 1.49, 1.5, -4}, NULL, &e) == 0, "MultiThreshold with one row runs");
	CHECK(same(out, (double[]){0, 1, 3, 1, 2, 0}, 6), "one threshold row serves every channel");
	end();
}

static void conv_tests(void)
{
	nash_err e;
	/* 2 x 5 x 4 input, 3 outputs, 3 x 3, stride 2, pads [1,0,1,2], bias;
	 * the reference: the loops of the definition, written out here */
	int64_t xs[3] = {2, 5, 4}, ws[4] = {3, 2, 3, 3}, bs[1] = {3};
	double x[40], w[54], b[3] = {0.5, -1, 2};
	for (int i = 0; i < 40; i++)
		x[i] = (i * 7 % 11) - 5;
	for (int i = 0; i < 54; i++)
		w[i] = (i * 5 % 7) - 3;
	begin("conv");
	input("x", 3, xs, NULL);
	fparam("W", 4, ws, w);
	fparam("B", 1, bs, b);
	nash_node *n = node("Conv", (const char *[]){"x", "W", "B", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 0, 1, 2});
	CHECK(run(x, NULL, &e) == 0, "Conv runs (%s)", e.msg);
	int OH = (5 + 2 - 3) / 2 + 1, OW = (4 + 2 - 3) / 2 + 1, ok = nout == 3 * OH * OW;
	for (int m = 0; m < 3 && ok; m++)
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				double acc = b[m];
				for (int c = 0; c < 2; c++)
					for (int ky = 0; ky < 3; ky++)
						for (int kx = 0; kx < 3; kx++) {
							int ih = oh * 2 - 1 + ky, iw = ow * 2 - 0 + kx;
							if (ih >= 0 && ih < 5 && iw >= 0 && iw < 4)
								acc += w[((m * 2 + c) * 3 + ky) * 3 + kx] * x[(c * 5 + ih) * 4 + iw];
						}
				ok &= out[(m * OH + oh) * OW + ow] == acc;
			}
	CHECK(ok, "Conv with stride, asymmetric padding and bias matches the definition");
	end();

	/* BatchNormalization */
	int64_t c2[1] = {2}, s2[3] = {2, 1, 2};
	begin("bn");
	input("x", 3, s2, NULL);
	fparam("g", 1, c2, (double[]){2, -1});
	fparam("b", 1, c2, (double[]){1, 0.5});
	fparam("m", 1, c2, (double[]){1, -1});
	fparam("v", 1, c2, (double[]){3.99999, 0.24999});
	n = node("BatchNormalization", (const char *[]){"x", "g", "b", "m", "v", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_float(n, "epsilon", 1e-5);
	CHECK(run((double[]){1, 3, -1, 0}, NULL, &e) == 0, "BatchNormalization runs");
	double v0 = (double)(float)3.99999 + 1e-5, v1 = (double)(float)0.24999 + 1e-5;
	CHECK_NEAR(out[1], (3 - 1) / sqrt(v0) * 2 + 1, 1e-12, "BN channel 0");
	CHECK_NEAR(out[3], (0 + 1) / sqrt(v1) * -1 + 0.5, 1e-12, "BN channel 1 (negative scale)");
	end();

	/* MaxPool pads with -inf, AveragePool count_include_pad 0 and 1, GAP */
	int64_t p3[3] = {1, 2, 3};
	for (int k = 0; k < 3; k++) {
		begin("pool");
		input("x", 3, p3, NULL);
		n = node(k == 0 ? "MaxPool" : "AveragePool", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
		nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
		nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
		nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 0, 0});
		if (k == 2)
			nash_attr_set_int(n, "count_include_pad", 1);
		CHECK(run((double[]){-1, -2, -3, -4, -5, -6}, NULL, &e) == 0, "pool %d runs", k);
		/* windows: {pad,pad,pad,-1} {pad,pad,-2,-3} {pad,-4,pad,?}.. output 2x2 */
		/* one output row: windows over rows -1..0, columns -1..0 and 1..2 */
		double mx[2] = {-1, -2}, av0[2] = {-1, -2.5}, av1[2] = {-0.25, -1.25};
		CHECK(nout == 2 && same(out, k == 0 ? mx : k == 1 ? av0 : av1, 2), "%s", k == 0 ? "MaxPool: padding never wins"
		      : k == 1 ? "AveragePool counts only real pixels" : "AveragePool with count_include_pad");
		end();
	}
	begin("gap");
	input("x", 3, p3, NULL);
	node("GlobalAveragePool", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	CHECK(run((double[]){1, 2, 3, 4, 5, 9}, NULL, &e) == 0 && out[0] == 4, "GlobalAveragePool");
	end();

	/* Slice (the NASH shift), Pad of channels, Transpose, Concat, Flatten */
	int64_t s33[3] = {1, 3, 3};
	begin("slice");
	input("x", 3, s33, NULL);
	n = node("Slice", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "starts", 2, (int64_t[]){1, 1});
	nash_attr_set_ints(n, "ends", 2, (int64_t[]){INT32_MAX, INT32_MAX});
	nash_attr_set_ints(n, "axes", 2, (int64_t[]){2, 3});
	CHECK(run((double[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, NULL, &e) == 0 && same(out, (double[]){5, 6, 8, 9}, 4),
	      "Slice drops the first row and column");
	end();
	begin("pad");
	input("x", 3, (int64_t[]){1, 1, 2}, NULL);
	n = node("Pad", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "pads", 8, (int64_t[]){0, 1, 0, 0, 0, 1, 0, 0});
	CHECK(run((double[]){3, 4}, NULL, &e) == 0 && same(out, (double[]){0, 0, 3, 4, 0, 0}, 6), "Pad of channels");
	end();
	begin("transpose");
	input("x", 3, (int64_t[]){2, 1, 3}, NULL);
	n = node("Transpose", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "perm", 4, (int64_t[]){0, 2, 3, 1});
	CHECK(run((double[]){1, 2, 3, 4, 5, 6}, NULL, &e) == 0 && same(out, (double[]){1, 4, 2, 5, 3, 6}, 6),
	      "Transpose C x H x W to H x W x C");
	end();
	begin("concat");
	input("a", 3, (int64_t[]){1, 1, 2}, NULL);
	input("b", 3, (int64_t[]){2, 1, 2}, NULL);
	n = node("Concat", (const char *[]){"a", "b", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "axis", 1);
	CHECK(run((double[]){1, 2}, (double[]){3, 4, 5, 6}, &e) == 0 && same(out, (double[]){1, 2, 3, 4, 5, 6}, 6),
	      "Concat on channels");
	end();
}

static void hw_tests(void)
{
	nash_err e;
	/* the sliding window: (ky, kx, c) with c fastest, zero padding */
	begin("swg");
	input("x", 3, (int64_t[]){2, 2, 2}, "INT8");
	nash_node *n = node("ConvolutionInputGenerator", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "ConvKernelDim", 2, (int64_t[]){2, 2});
	nash_attr_set_int(n, "IFMChannels", 2);
	nash_attr_set_ints(n, "IFMDim", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(n, "Stride", 2, (int64_t[]){2, 2});
	nash_attr_set_ints(n, "Padding", 4, (int64_t[]){0, 0, 1, 1});
	/* pixels (h, w) hold channels (10hw + 1, -(10hw + 1)) */
	double x[8] = {1, -1, 2, -2, 11, -11, 12, -12};
	CHECK(run(x, NULL, &e) == 0 && nout == 8 && same(out, x, 8), "SWG 2x2/2: one window, (ky, kx, c) order (%s)",
	      e.msg);
	end();
	begin("swg2");
	input("x", 3, (int64_t[]){2, 2, 1}, "INT4");
	n = node("ConvolutionInputGenerator", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "ConvKernelDim", 2, (int64_t[]){2, 2});
	nash_attr_set_int(n, "IFMChannels", 1);
	nash_attr_set_ints(n, "IFMDim", 2, (int64_t[]){2, 2});
	nash_attr_set_int(n, "Stride", 1);
	nash_attr_set_ints(n, "Padding", 4, (int64_t[]){0, 0, 1, 1});
	CHECK(run((double[]){1, 2, 3, 4}, NULL, &e) == 0 && nout == 16 &&
	      same(out, (double[]){1, 2, 3, 4, 2, 0, 4, 0, 3, 4, 0, 0, 4, 0, 0, 0}, 16),
	      "SWG pads the bottom and right with zeros");
	end();
	/* a BIPOLAR stream has no 0: the window pads it with -1 (nash-ops(7)) */
	begin("swg3");
	input("x", 3, (int64_t[]){1, 1, 1}, "BIPOLAR");
	n = node("ConvolutionInputGenerator", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_ints(n, "ConvKernelDim", 2, (int64_t[]){2, 1});
	nash_attr_set_int(n, "IFMChannels", 1);
	nash_attr_set_ints(n, "IFMDim", 2, (int64_t[]){1, 1});
	nash_attr_set_int(n, "Stride", 1);
	nash_attr_set_ints(n, "Padding", 4, (int64_t[]){1, 0, 0, 0});
	CHECK(run((double[]){1}, NULL, &e) == 0 && nout == 2 && same(out, (double[]){-1, 1}, 2),
	      "SWG pads a BIPOLAR stream with -1");
	end();
	/* XNOR-popcount: acc = (W^T x + MW) / 2, thresholds in that unit */
	begin("xnor");
	input("x", 3, (int64_t[]){1, 1, 4}, "BIPOLAR");
	nash_tensor *bw = nash_tensor_add(G, "W", NASH_I8, 2, (int64_t[]){4, 2});
	nash_datatype_parse("BIPOLAR", &bw->datatype);
	int8_t wv[8] = {1, -1, 1, -1, -1, -1, 1, 1};
	memcpy(bw->data, wv, sizeof wv);
	n = node("MVAU", (const char *[]){"x", "W", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "binaryXnorMode", 1);
	/* x = (1, 1, -1, 1): dots 1+1+1+1 = 4 and -1-1+1+1 = 0 -> popcounts 4, 2 */
	CHECK(run((double[]){1, 1, -1, 1}, NULL, &e) == 0 && same(out, (double[]){4, 2}, 2),
	      "MVAU binaryXnorMode: the XNOR popcount (%s)", e.msg);
	end();
	/* MVAU with thresholds and ActVal; BIPOLAR output encoding; noActivation */
	for (int k = 0; k < 3; k++) {
		begin("mvau");
		input("x", 3, (int64_t[]){1, 2, 3}, "INT4");
		iparam("W", 2, (int64_t[]){3, 2}, (int64_t[]){1, -1, 2, 0, -3, 1}, "INT3");
		iparam("T", 2, (int64_t[]){2, 2}, (int64_t[]){-5, 3, 0, 100}, "INT8");
		n = node("MVAU", k == 2 ? (const char *[]){"x", "W", NULL} : (const char *[]){"x", "W", "T", NULL},
		         (const char *[]){"y", NULL});
		nash_attr_set_int(n, "MW", 3);
		nash_attr_set_int(n, "MH", 2);
		nash_attr_set_int(n, "ActVal", k == 0 ? -1 : 0);
		if (k == 1) {
			iparam("T1", 2, (int64_t[]){1, 1}, (int64_t[]){0}, "INT8");
			nash_node_set_in(n, 2, "T1");
			nash_attr_set_str(n, "outputDataType", "BIPOLAR");
			nash_attr_set_int(n, "ActVal", 5); /* not used by a BIPOLAR output */
		}
		/* acc: pixel 0 (1,2,3): [1+4-9, -1+0+3] = [-4, 2]; pixel 1 (0,-1,1): [-2-3, 0+1] = [-5, 1] */
		CHECK(run((double[]){1, 2, 3, 0, -1, 1}, NULL, &e) == 0, "MVAU %d runs (%s)", k, e.msg);
		double want0[4] = {-1 + 1, -1 + 1, -1 + 1, -1 + 1};
		/* k0: ch0 T {-5, 3}: -4 -> 1 step, -5 -> 1; ch1 T {0, 100}: 2 -> 1, 1 -> 1 */
		double want1[4] = {-1, 1, -1, 1}, want2[4] = {-4, 2, -5, 1};
		CHECK(same(out, k == 0 ? want0 : k == 1 ? want1 : want2, 4), "%s",
		      k == 0 ? "MVAU: ActVal + count of thresholds passed"
		      : k == 1 ? "MVAU BIPOLAR output: count 0 is -1, 1 is +1" : "MVAU without thresholds: the accumulator");
		end();
	}
	/* Thresholding with one shared row */
	begin("thr");
	input("x", 3, (int64_t[]){1, 1, 3}, "INT8");
	iparam("T", 2, (int64_t[]){1, 3}, (int64_t[]){-1, 0, 5}, "INT8");
	n = node("Thresholding", (const char *[]){"x", "T", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "ActVal", -2);
	CHECK(run((double[]){-2, 0, 9}, NULL, &e) == 0 && same(out, (double[]){-2, 0, 1}, 3), "Thresholding");
	end();
	/* StreamingMaxPool pads with the datatype's minimum (never wins) */
	begin("smp");
	input("x", 3, (int64_t[]){2, 2, 1}, "INT4");
	n = node("StreamingMaxPool", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "PoolDim", 2);
	nash_attr_set_int(n, "Stride", 1);
	nash_attr_set_ints(n, "Padding", 4, (int64_t[]){1, 1, 0, 0});
	CHECK(run((double[]){-8, -7, -6, -5}, NULL, &e) == 0 && same(out, (double[]){-8, -7, -6, -5}, 4),
	      "StreamingMaxPool: padding never wins");
	end();
	/* QuantAvgPool: sum, arithmetic shift (floor for negative sums) */
	begin("qap");
	input("x", 3, (int64_t[]){2, 2, 2}, "INT4");
	n = node("QuantAvgPool", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "Kernel", 2);
	nash_attr_set_int(n, "Stride", 2);
	nash_attr_set_int(n, "Shift", 2);
	/* sums: ch0 = 1+2+3+1 = 7 -> 1; ch1 = -1-2-3-1 = -7 -> -2 */
	CHECK(run((double[]){1, -1, 2, -2, 3, -3, 1, -1}, NULL, &e) == 0 && same(out, (double[]){1, -2}, 2),
	      "QuantAvgPool: window sum shifted right (floor)");
	end();
	/* LabelSelect: ties go to the lower index */
	begin("label");
	input("x", 3, (int64_t[]){1, 1, 5}, "INT8");
	n = node("LabelSelect", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_attr_set_int(n, "K", 3);
	CHECK(run((double[]){3, 7, 7, -1, 3}, NULL, &e) == 0 && same(out, (double[]){1, 2, 0}, 3),
	      "LabelSelect: the K largest, ties to the lower index");
	end();
	/* AddStreams, StreamingConcat, DuplicateStreams */
	begin("streams");
	input("a", 3, (int64_t[]){1, 2, 2}, "INT4");
	input("b", 3, (int64_t[]){1, 2, 1}, "INT4");
	n = node("DuplicateStreams", (const char *[]){"a", NULL}, (const char *[]){"a0", "a1", NULL});
	nash_attr_set_int(n, "NumOutputStreams", 2);
	node("AddStreams", (const char *[]){"a0", "a1", NULL}, (const char *[]){"s", NULL});
	node("StreamingConcat", (const char *[]){"s", "b", NULL}, (const char *[]){"y", NULL});
	CHECK(run((double[]){1, 2, 3, 4}, (double[]){5, 6}, &e) == 0 && same(out, (double[]){2, 4, 5, 6, 8, 6}, 6),
	      "DuplicateStreams, AddStreams, StreamingConcat per pixel");
	end();
}

static void check_tests(void)
{
	nash_err e;
	/* a value outside the datatype a tensor claims is reported where it appears */
	begin("dt");
	input("x", 3, (int64_t[]){1, 1, 2}, "INT4");
	node("AddStreams", (const char *[]){"x", "x", NULL}, (const char *[]){"y", NULL});
	nash_graph_add_output(G, "y");
	nash_graph_validate(G, &e);
	nash_graph_shape(G, "y");
	nash_tensor *t = nash_tensor_find(G, "y");
	nash_datatype_parse("INT4", &t->datatype);
	nash_ref *r = nash_ref_new(G, &e);
	const double *in[1] = {(double[]){3, 5}};
	CHECK(r && nash_ref_run(r, in, &e) < 0 && strstr(e.msg, "AddStreams") && strstr(e.msg, "y[1] = 10") &&
	      strstr(e.msg, "INT4"), "a value outside the tensor's datatype names node and value: %s", e.msg);
	const double *bad[1] = {(double[]){3, 8}};
	CHECK(nash_ref_run(r, bad, &e) < 0 && strstr(e.msg, "input x[1] = 8"), "input outside its datatype: %s", e.msg);
	nash_ref_free(r);
	end();
	/* pixels: a float input gets float32 pixel/255, an integer one H x W x C pixels */
	begin("pix");
	input("x", 3, (int64_t[]){2, 1, 2}, NULL);
	nash_node_add(G, "Identity", "id", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_graph_add_output(G, "y");
	nash_graph_validate(G, &e);
	uint8_t px[4] = {0, 1, 254, 255};
	double v[4];
	CHECK(nash_ref_pixels(G, 0, px, 2, 1, 2, v, &e) == 0 && v[1] == (double)(1.0f / 255.0f) && v[3] == 1.0,
	      "float input: float32 pixel/255");
	end();
	begin("pix2");
	input("x", 3, (int64_t[]){1, 2, 2}, "UINT8");
	nash_node_add(G, "Identity", "id", (const char *[]){"x", NULL}, (const char *[]){"y", NULL});
	nash_graph_add_output(G, "y");
	nash_graph_validate(G, &e);
	CHECK(nash_ref_pixels(G, 0, px, 2, 1, 2, v, &e) == 0 && same(v, (double[]){0, 254, 1, 255}, 4),
	      "integer input: pixels reordered to H x W x C");
	end();
	/* Choice: derive first */
	begin("choice");
	input("x", 1, (int64_t[]){2}, NULL);
	fparam("alpha", 1, (int64_t[]){1}, (double[]){0});
	node("Choice", (const char *[]){"x", "alpha", NULL}, (const char *[]){"y", NULL});
	nash_graph_add_output(G, "y");
	nash_graph_validate(G, &e);
	CHECK(!nash_ref_new(G, &e) && strstr(e.msg, "Choice") && strstr(e.msg, "derive"), "a supernet is refused: %s",
	      e.msg);
	end();
}

int main(void)
{
	quant_tests();
	threshold_tests();
	conv_tests();
	hw_tests();
	check_tests();
	UNIT_DONE();
}
