/* nnfix.h - small graphs for the engine's unit tests and benchmarks:
 * a builder over lib/core and a finite-difference gradient checker. */
#ifndef NASH_NNFIX_H
#define NASH_NNFIX_H

#include "nn/nn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FXFN static __attribute__((unused))

static nash_graph *fx_g;
static nash_rng fx_rng;

FXFN void fx_new(const char *name, int c, int h, int w)
{
	fx_g = nash_graph_new(name);
	nash_rng_seed(&fx_rng, nash_hash(name));
	if (h > 0)
		nash_graph_add_input(fx_g, "x", NASH_F32, 3, (int64_t[]){c, h, w});
	else
		nash_graph_add_input(fx_g, "x", NASH_F32, 1, (int64_t[]){c});
}

/* A parameter of the given shape, N(mean, sd) values. */
FXFN const char *fx_param(const char *name, int nd, const int64_t *shape, double mean, double sd)
{
	nash_tensor *t = nash_tensor_add(fx_g, name, NASH_F32, nd, shape);
	float *p = t->data;
	for (int64_t i = 0; i < nash_tensor_numel(t); i++)
		p[i] = (float)(mean + sd * nash_rng_normal(&fx_rng));
	return t->name;
}

FXFN const char *fx_const(const char *name, int nd, const int64_t *shape, const float *v)
{
	nash_tensor *t = nash_tensor_add(fx_g, name, NASH_F32, nd, shape);
	memcpy(t->data, v, (size_t)nash_tensor_numel(t) * sizeof(float));
	return t->name;
}

FXFN const char *fx_scalar(const char *name, float v)
{
	return fx_const(name, 0, NULL, &v);
}

/* A node named like its output; inputs NULL-terminated ("" = absent). */
FXFN nash_node *fx_node(const char *op, const char *name, ...)
{
	const char *in[32];
	int k = 0;
	va_list ap;
	va_start(ap, name);
	for (const char *s; (s = va_arg(ap, const char *)) && k < 31;)
		in[k++] = s;
	va_end(ap);
	in[k] = NULL;
	return nash_node_add(fx_g, op, name, in, (const char *[]){name, NULL});
}

FXFN nash_node *fx_conv(const char *name, const char *x, int cin, int cout, int kh, int kw, int group,
                          int bias, double sd)
{
	char w[128], b[128];
	snprintf(w, sizeof w, "%s.weight", name);
	snprintf(b, sizeof b, "%s.bias", name);
	fx_param(w, 4, (int64_t[]){cout, cin / group, kh, kw}, 0, sd);
	if (bias)
		fx_param(b, 1, (int64_t[]){cout}, 0, 0.1);
	nash_node *n = fx_node("Conv", name, x, w, bias ? b : NULL, NULL);
	nash_attr_set_int(n, "group", group);
	return n;
}

FXFN nash_node *fx_bn(const char *name, const char *x, int c)
{
	char s[4][128];
	static const char *suf[] = {"scale", "bias", "mean", "var"};
	for (int i = 0; i < 4; i++) {
		snprintf(s[i], sizeof s[i], "%s.%s", name, suf[i]);
		fx_param(s[i], 1, (int64_t[]){c}, i == 0 || i == 3 ? 1.0 : 0.0, i == 3 ? 0.0 : 0.2);
	}
	return fx_node("BatchNormalization", name, x, s[0], s[1], s[2], s[3], NULL);
}

/* Quant node with scalar zeropt 0 and the given bit width. */
FXFN nash_node *fx_quant(const char *name, const char *x, const char *scale, int bits, int is_signed,
                           int narrow, const char *mode)
{
	char z[128], b[128];
	snprintf(z, sizeof z, "%s.zeropt", name);
	snprintf(b, sizeof b, "%s.bitwidth", name);
	fx_scalar(z, 0);
	fx_scalar(b, (float)bits);
	nash_node *n = fx_node("Quant", name, x, scale, z, b, NULL);
	nash_attr_set_int(n, "signed", is_signed);
	nash_attr_set_int(n, "narrow", narrow);
	nash_attr_set_str(n, "scale_mode", mode);
	return n;
}

/* Flatten, then a Gemm to `classes` logits; finishes and validates. */
FXFN nash_graph *fx_head(const char *x, int features, int classes)
{
	fx_node("Flatten", "flat", x, NULL);
	fx_param("fc.weight", 2, (int64_t[]){classes, features}, 0, 1.0 / sqrt((double)features));
	fx_param("fc.bias", 1, (int64_t[]){classes}, 0, 0.1);
	nash_node *n = nash_node_add(fx_g, "Gemm", "fc", (const char *[]){"flat", "fc.weight", "fc.bias", NULL},
	                             (const char *[]){"logits", NULL});
	nash_attr_set_int(n, "transB", 1);
	nash_graph_add_output(fx_g, "logits");
	return fx_g;
}

FXFN nash_graph *fx_finish(const char *out)
{
	nash_graph_add_output(fx_g, out);
	return fx_g;
}

FXFN void fx_fill(float *x, int64_t m, nash_rng *r, double sd)
{
	for (int64_t i = 0; i < m; i++)
		x[i] = (float)(sd * nash_rng_normal(r));
}

#endif
