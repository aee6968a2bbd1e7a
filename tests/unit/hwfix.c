/* hwfix.c - TEST FIXTURE (see hwfix.h): hardware graphs built with the core
 * builder API, standing in for nash-stream output until that tool exists. */
#include "hwfix.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	nash_graph *g;
	nash_rng rng;
	char cur[128];            /* the current stream */
	int64_t h, w, c;
	char dt[16];              /* its datatype */
	int n;                    /* tensor counter */
} hwb;

static void hwb_init(hwb *b, const char *name, int64_t h, int64_t w, int64_t c, const char *dt, uint64_t seed)
{
	memset(b, 0, sizeof *b);
	b->g = nash_graph_new(name);
	nash_rng_seed(&b->rng, seed);
	int64_t sh[3] = { h, w, c };
	nash_datatype d;
	nash_datatype_parse(dt, &d);
	nash_io *io = nash_graph_add_input(b->g, "x", nash_datatype_storage(d), 3, sh);
	io->datatype = d;
	snprintf(b->cur, sizeof b->cur, "x");
	snprintf(b->dt, sizeof b->dt, "%s", dt);
	b->h = h, b->w = w, b->c = c;
}

static const char *hwb_out(const char *layer)
{
	static char buf[160];
	snprintf(buf, sizeof buf, "%s_out", layer);
	return buf;
}

static void hwb_set(hwb *b, const char *t, int64_t h, int64_t w, int64_t c, const char *dt)
{
	char tmp[128], dtmp[16];
	snprintf(tmp, sizeof tmp, "%s", t);
	snprintf(dtmp, sizeof dtmp, "%s", dt);
	memcpy(b->cur, tmp, sizeof tmp);
	memcpy(b->dt, dtmp, sizeof dtmp);
	b->h = h, b->w = w, b->c = c;
}

/* A parameter tensor of random values of datatype dt (storage int8 up to
 * 8 bits, else int32). */
static nash_tensor *hwb_param(hwb *b, const char *name, int64_t r, int64_t c, const char *dt)
{
	nash_datatype d;
	nash_datatype_parse(dt, &d);
	int64_t sh[2] = { r, c };
	nash_tensor *t = nash_tensor_add(b->g, name, nash_datatype_storage(d), 2, sh);
	t->datatype = d;
	int64_t lo = nash_datatype_min(d), hi = nash_datatype_max(d), n = r * c;
	for (int64_t i = 0; i < n; i++) {
		int64_t v = lo + (int64_t)nash_rng_below(&b->rng, (uint64_t)(hi - lo + 1));
		if (d.kind == NASH_DT_BIPOLAR)
			v = nash_rng_below(&b->rng, 2) ? 1 : -1;
		switch (t->dtype) {
		case NASH_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
		case NASH_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
		case NASH_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
		default: ((int32_t *)t->data)[i] = (int32_t)v; break;
		}
	}
	return t;
}

/* Thresholds: rows x steps, ascending within each row, in [lo, hi]. */
static void hwb_thresholds(hwb *b, const char *name, int64_t rows, int64_t steps, int64_t lo, int64_t hi)
{
	int64_t sh[2] = { rows, steps };
	nash_tensor *t = nash_tensor_add(b->g, name, NASH_I32, 2, sh);
	nash_datatype_parse("INT32", &t->datatype);
	int32_t *p = t->data;
	for (int64_t r = 0; r < rows; r++) {
		int64_t v = lo;
		for (int64_t s = 0; s < steps; s++) {
			int64_t room = (hi - v) / (steps - s + 1);
			v += room > 0 ? (int64_t)nash_rng_below(&b->rng, (uint64_t)room + 1) : 0;
			p[r * steps + s] = (int32_t)v;
		}
	}
}

static int bits_of(const char *dt)
{
	nash_datatype d;
	if (nash_datatype_parse(dt, &d) < 0)
		return 8;
	return d.bits;
}

static void hwb_swg(hwb *b, const char *name, int64_t k, int64_t s, int64_t pad)
{
	int64_t oh = (b->h + 2 * pad - k) / s + 1, ow = (b->w + 2 * pad - k) / s + 1;
	const char *in[] = { b->cur, NULL }, *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "ConvolutionInputGenerator", name, in, out);
	nash_attr_set_ints(n, "ConvKernelDim", 2, (int64_t[]){ k, k });
	nash_attr_set_int(n, "IFMChannels", b->c);
	nash_attr_set_ints(n, "IFMDim", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_ints(n, "OFMDim", 2, (int64_t[]){ oh, ow });
	nash_attr_set_int(n, "Stride", s);
	nash_attr_set_int(n, "Dilation", 1);
	nash_attr_set_ints(n, "Padding", 4, (int64_t[]){ pad, pad, pad, pad });
	nash_attr_set_int(n, "SIMD", 1);
	nash_attr_set_str(n, "inputDataType", b->dt);
	nash_attr_set_str(n, "outputDataType", b->dt);
	hwb_set(b, out[0], oh, ow, k * k * b->c, b->dt);
}

/* An MVAU on the current stream: mh outputs, weights of wdt; odt NULL for
 * noActivation (the accumulator leaves), else steps thresholds give odt. */
static void hwb_mvau(hwb *b, const char *name, int64_t mh, const char *wdt, const char *odt, int64_t steps,
                     int64_t actval)
{
	int64_t mw = b->c;
	char wn[160], tn[160];
	snprintf(wn, sizeof wn, "%s.W", name);
	snprintf(tn, sizeof tn, "%s.T", name);
	hwb_param(b, wn, mw, mh, wdt);
	int wb = bits_of(wdt), ab = bits_of(b->dt);
	int64_t amax = (int64_t)1 << (ab > 30 ? 30 : ab), wmax = (int64_t)1 << (wb > 30 ? 30 : wb - 1);
	int64_t range = mw * amax * (wmax > 0 ? wmax : 1);
	int accb = 2;
	while (((int64_t)1 << (accb - 1)) < range)
		accb++;
	char acc[16];
	snprintf(acc, sizeof acc, "INT%d", accb > 32 ? 32 : accb);
	if (odt)
		hwb_thresholds(b, tn, mh, steps, -range / 4, range / 4);
	const char *in3[] = { b->cur, wn, tn, NULL }, *in2[] = { b->cur, wn, NULL };
	const char *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "MVAU", name, odt ? in3 : in2, out);
	nash_attr_set_int(n, "MW", mw);
	nash_attr_set_int(n, "MH", mh);
	nash_attr_set_int(n, "SIMD", 1);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_str(n, "inputDataType", b->dt);
	nash_attr_set_str(n, "weightDataType", wdt);
	nash_attr_set_str(n, "accDataType", acc);
	nash_attr_set_str(n, "outputDataType", odt ? odt : acc);
	nash_attr_set_int(n, "ActVal", actval);
	nash_attr_set_int(n, "noActivation", odt ? 0 : 1);
	nash_attr_set_int(n, "binaryXnorMode", strcmp(wdt, "BIPOLAR") == 0 && strcmp(b->dt, "BIPOLAR") == 0);
	nash_attr_set_str(n, "ram_style", "auto");
	hwb_set(b, out[0], b->h, b->w, mh, odt ? odt : acc);
}

static void hwb_thresh(hwb *b, const char *name, int64_t steps, const char *odt, int64_t actval)
{
	char tn[160];
	snprintf(tn, sizeof tn, "%s.T", name);
	int ib = bits_of(b->dt);
	int64_t r = ib >= 31 ? ((int64_t)1 << 30) : ((int64_t)1 << ib);
	hwb_thresholds(b, tn, b->c, steps, -r / 2, r / 2);
	const char *in[] = { b->cur, tn, NULL }, *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "Thresholding", name, in, out);
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_int(n, "numSteps", steps);
	nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_str(n, "inputDataType", b->dt);
	nash_attr_set_str(n, "outputDataType", odt);
	nash_attr_set_int(n, "ActVal", actval);
	hwb_set(b, out[0], b->h, b->w, b->c, odt);
}

static void hwb_maxpool(hwb *b, const char *name, int64_t k, int64_t s, int64_t pad)
{
	int64_t oh = (b->h + 2 * pad - k) / s + 1, ow = (b->w + 2 * pad - k) / s + 1;
	const char *in[] = { b->cur, NULL }, *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "StreamingMaxPool", name, in, out);
	nash_attr_set_int(n, "PoolDim", k);
	nash_attr_set_int(n, "Stride", s);
	nash_attr_set_ints(n, "Padding", 4, (int64_t[]){ pad, pad, pad, pad });
	nash_attr_set_ints(n, "ImgDim", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_ints(n, "OutImgDim", 2, (int64_t[]){ oh, ow });
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_str(n, "dataType", b->dt);
	hwb_set(b, out[0], oh, ow, b->c, b->dt);
}

static void hwb_avgpool(hwb *b, const char *name, const char *odt)
{
	int64_t k = b->h;
	int ib = bits_of(b->dt), acc = ib;
	while (((int64_t)1 << (acc - ib)) < k * b->w)
		acc++;
	const char *in[] = { b->cur, NULL }, *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "QuantAvgPool", name, in, out);
	nash_attr_set_ints(n, "Kernel", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_ints(n, "Stride", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_ints(n, "ImgDim", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_str(n, "inputDataType", b->dt);
	nash_attr_set_str(n, "outputDataType", odt);
	nash_attr_set_int(n, "AccumBits", acc);
	nash_attr_set_int(n, "Shift", acc - bits_of(odt));
	hwb_set(b, out[0], 1, 1, b->c, odt);
}

static void hwb_label(hwb *b, const char *name, int64_t k)
{
	const char *in[] = { b->cur, NULL }, *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "LabelSelect", name, in, out);
	nash_attr_set_int(n, "Labels", b->c);
	nash_attr_set_int(n, "K", k);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_str(n, "inputDataType", b->dt);
	int ob = 1;
	while (((int64_t)1 << ob) < b->c)
		ob++;
	char odt[16];
	snprintf(odt, sizeof odt, "UINT%d", ob);
	nash_attr_set_str(n, "outputDataType", odt);
	hwb_set(b, out[0], 1, 1, k, odt);
}

/* DuplicateStreams into two streams; names of the two outputs in a, c. */
static void hwb_dup(hwb *b, const char *name, char *a, char *c)
{
	snprintf(a, 160, "%s_out0", name);
	snprintf(c, 160, "%s_out1", name);
	const char *in[] = { b->cur, NULL }, *out[] = { a, c, NULL };
	nash_node *n = nash_node_add(b->g, "DuplicateStreams", name, in, out);
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_int(n, "NumOutputStreams", 2);
	nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){ b->h, b->w });
	nash_attr_set_str(n, "dataType", b->dt);
}

/* An AddStreams of x (datatype idt0) and y (idt1). */
static void hwb_add2(hwb *b, const char *name, const char *x, const char *idt0, const char *y, const char *idt1,
                     const char *odt)
{
	const char *in[] = { x, y, NULL }, *out[] = { hwb_out(name), NULL };
	nash_node *n = nash_node_add(b->g, "AddStreams", name, in, out);
	nash_attr_set_int(n, "NumChannels", b->c);
	nash_attr_set_int(n, "PE", 1);
	nash_attr_set_ints(n, "numInputVectors", 2, (int64_t[]){ b->h, b->w });
	nash_val *dts = nash_val_arr();
	nash_val_push(dts, nash_val_str(idt0));
	nash_val_push(dts, nash_val_str(idt1));
	nash_val_set(n->attr, "inputDataTypes", dts);
	nash_attr_set_str(n, "outputDataType", odt);
	hwb_set(b, out[0], b->h, b->w, b->c, odt);
}

static void hwb_add(hwb *b, const char *name, const char *x, const char *y, const char *idt, const char *odt)
{
	hwb_add2(b, name, x, idt, y, idt, odt);
}

static nash_graph *hwb_done(hwb *b)
{
	nash_graph_add_output(b->g, b->cur);
	nash_err e;
	if (nash_graph_validate(b->g, &e) < 0) {
		fprintf(stderr, "hwfix: %s\n", e.msg);
		abort();
	}
	return b->g;
}

nash_graph *hwfix_tfc(void)
{
	hwb b;
	hwb_init(&b, "tfc-w1a1", 1, 1, 784, "UINT8", 1);
	hwb_thresh(&b, "in_thresh", 1, "BIPOLAR", -1);
	hwb_mvau(&b, "fc0", 64, "BIPOLAR", "BIPOLAR", 1, -1);
	hwb_mvau(&b, "fc1", 64, "BIPOLAR", "BIPOLAR", 1, -1);
	hwb_mvau(&b, "fc2", 64, "BIPOLAR", "BIPOLAR", 1, -1);
	hwb_mvau(&b, "fc3", 10, "BIPOLAR", NULL, 0, 0);
	hwb_label(&b, "top", 1);
	return hwb_done(&b);
}

nash_graph *hwfix_cnv(void)
{
	hwb b;
	hwb_init(&b, "cnv-w1a1", 32, 32, 3, "INT8", 2);
	static const int64_t ch[6] = { 64, 64, 128, 128, 256, 256 };
	char name[32];
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "conv%d_swg", i);
		hwb_swg(&b, name, 3, 1, 0);
		snprintf(name, sizeof name, "conv%d", i);
		hwb_mvau(&b, name, ch[i], "BIPOLAR", "BIPOLAR", 1, -1);
		if (i == 1 || i == 3) {
			snprintf(name, sizeof name, "pool%d", i);
			hwb_maxpool(&b, name, 2, 2, 0);
		}
	}
	hwb_mvau(&b, "fc0", 512, "BIPOLAR", "BIPOLAR", 1, -1);
	hwb_mvau(&b, "fc1", 512, "BIPOLAR", "BIPOLAR", 1, -1);
	hwb_mvau(&b, "fc2", 10, "BIPOLAR", NULL, 0, 0);
	hwb_label(&b, "top", 1);
	return hwb_done(&b);
}

nash_graph *hwfix_cybsec(void)
{
	hwb b;
	hwb_init(&b, "cybsec-mlp-w2a2", 1, 1, 600, "BINARY", 3);
	hwb_mvau(&b, "fc0", 64, "INT2", "UINT2", 3, 0);
	hwb_mvau(&b, "fc1", 64, "INT2", "UINT2", 3, 0);
	hwb_mvau(&b, "fc2", 64, "INT2", "UINT2", 3, 0);
	hwb_mvau(&b, "fc3", 1, "INT2", "BIPOLAR", 1, -1);
	return hwb_done(&b);
}

/* One basic block of ResNet18 (two 3x3 convs, cascade adder). */
static void resblock(hwb *b, const char *pre, int64_t cout, int64_t stride, int down)
{
	char name[96], xa[160], xb[160], main_out[160];
	int64_t h = b->h, w = b->w, cin = b->c;
	char dt[16];
	snprintf(dt, sizeof dt, "%s", b->dt);
	snprintf(name, sizeof name, "%s_dup", pre);
	hwb_dup(b, name, xa, xb);
	/* main path */
	hwb_set(b, xa, h, w, cin, dt);
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
	/* shortcut */
	hwb_set(b, xb, h, w, cin, dt);
	if (down) {
		if (stride > 1) {
			snprintf(name, sizeof name, "%s_dswg", pre);
			hwb_swg(b, name, 1, stride, 0);
		}
		snprintf(name, sizeof name, "%s_down", pre);
		hwb_mvau(b, name, cout, "INT8", "INT8", 255, -128);
	} else {
		snprintf(name, sizeof name, "%s_requant", pre);
		hwb_thresh(b, name, 255, "INT8", -128);
	}
	snprintf(name, sizeof name, "%s_add", pre);
	char sc[160];
	snprintf(sc, sizeof sc, "%s", b->cur);
	b->h = oh, b->w = ow, b->c = cout;
	hwb_add(b, name, main_out, sc, "INT8", "INT9");
	snprintf(name, sizeof name, "%s_act", pre);
	hwb_thresh(b, name, 3, "UINT2", 0);
}

nash_graph *hwfix_resnet18(int imagenet, int width)
{
	hwb b;
	char gname[64];
	snprintf(gname, sizeof gname, "resnet18-%s-w%d-hw", imagenet ? "imagenet" : "28x28", width);
	if (imagenet) {
		hwb_init(&b, gname, 224, 224, 3, "UINT8", 4);
		hwb_swg(&b, "stem_swg", 7, 2, 3);
		hwb_mvau(&b, "stem_conv", width, "INT8", NULL, 0, 0);
		hwb_maxpool(&b, "stem_pool", 3, 2, 1);
		hwb_thresh(&b, "stem_act", 3, "UINT2", 0);
	} else {
		hwb_init(&b, gname, 28, 28, 1, "UINT8", 5);
		hwb_swg(&b, "stem_swg", 3, 1, 1);
		hwb_mvau(&b, "stem_conv", width, "INT8", "UINT2", 3, 0);
	}
	for (int s = 0; s < 4; s++)
		for (int k = 0; k < 2; k++) {
			char pre[32];
			snprintf(pre, sizeof pre, "s%db%d", s, k);
			resblock(&b, pre, (int64_t)width << s, s > 0 && k == 0 ? 2 : 1, k == 0);
		}
	hwb_avgpool(&b, "head_pool", "UINT4");
	hwb_mvau(&b, "fc", imagenet ? 1000 : 10, "INT8", NULL, 0, 0);
	hwb_label(&b, "top", 1);
	return hwb_done(&b);
}

int hwfix_save(const nash_graph *g, const char *path)
{
	nash_err e;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	int rc = nash_write_graph(fd, g, &e);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}
