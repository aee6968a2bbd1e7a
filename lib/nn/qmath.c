/* qmath.c - the quantizer arithmetic of nash-ops(7), shared by the engine,
 * nash-quant's integer export, streamlining and QONNX export. */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

void nash_qrange(int bits, int is_signed, int narrow, double *lo, double *hi)
{
	if (is_signed) {
		*lo = -ldexp(1.0, bits - 1) + (narrow ? 1 : 0);
		*hi = ldexp(1.0, bits - 1) - 1;
	} else {
		*lo = 0;
		*hi = ldexp(1.0, bits) - 1 - (narrow ? 1 : 0);
	}
}

double nash_round_even(double x)
{
	double r = floor(x), d = x - r;
	if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0))
		r += 1;
	return r;
}

double nash_quant_int(double x, double scale, double zeropt, double lo, double hi)
{
	/* float32 arithmetic, as the engine, QONNX's reference and torch compute
	 * it: at exact ties a double division can round the other way */
	float u = (float)x / (float)scale + (float)zeropt;
	double q = nash_round_even((double)u);
	return q < lo ? lo : q > hi ? hi : q;
}

void nash_qscale_stats(const float *w, int64_t rows, int64_t per_row,
                       int bits, int binary, float *scale)
{
	double hi = ldexp(1.0, bits - 1) - 1;
	if (hi < 1)
		hi = 1;
	for (int64_t r = 0; r < rows; r++) {
		const float *p = w + r * per_row;
		double acc = 0;
		for (int64_t i = 0; i < per_row; i++) {
			double a = fabs(p[i]);
			if (binary)
				acc += a;
			else if (a > acc)
				acc = a;
		}
		double s = binary ? (per_row ? acc / (double)per_row : 0) : acc / hi;
		scale[r] = s > 0 && isfinite(s) ? (float)s : 1.0f;
	}
}

static int scalar_param(const nash_graph *g, const nash_node *n, int i,
                        const char *what, double *out, nash_err *e)
{
	if (i >= n->nin || !n->in[i][0])
		return nash_fail(e, "node %s (%s): missing %s input", n->name, n->op, what);
	const nash_tensor *t = nash_tensor_find(g, n->in[i]);
	if (!t || !t->data || t->dtype != NASH_F32 || nash_tensor_numel(t) != 1)
		return nash_fail(e, "node %s (%s): %s %s must be a float32 scalar parameter",
		                 n->name, n->op, what, n->in[i]);
	*out = *(const float *)t->data;
	return 0;
}

int nash_qparams_get(const nash_graph *g, const nash_node *n,
                     nash_qparams *q, nash_err *e)
{
	memset(q, 0, sizeof *q);
	q->bipolar = strcmp(n->op, "BipolarQuant") == 0;
	if (!q->bipolar && strcmp(n->op, "Quant") != 0)
		return nash_fail(e, "node %s (%s): not a quantizer", n->name, n->op);
	if (n->nin < (q->bipolar ? 2 : 4) || !n->in[1][0])
		return nash_fail(e, "node %s (%s): needs %s inputs", n->name, n->op,
		                 q->bipolar ? "x, scale" : "x, scale, zeropt, bitwidth");
	const nash_tensor *s = nash_tensor_find(g, n->in[1]);
	if (!s || !s->data || s->dtype != NASH_F32)
		return nash_fail(e, "node %s (%s): scale %s must be a float32 parameter",
		                 n->name, n->op, n->in[1]);
	int64_t ns = nash_tensor_numel(s);
	const float *sp = s->data;
	for (int64_t i = 0; i < ns; i++)
		if (!(sp[i] > 0) || !isfinite(sp[i]))
			return nash_fail(e, "node %s (%s): scale %s[%lld] = %g is not a positive finite number",
			                 n->name, n->op, n->in[1], (long long)i, (double)sp[i]);
	q->scale = s;
	q->mode = nash_attr_str(n, "scale_mode", "const");
	q->target = nash_attr_str(n, "target", "");
	q->rounding = nash_attr_str(n, "rounding_mode", "ROUND");
	if (q->bipolar) {
		q->bits = 1, q->is_signed = 1, q->lo = -1, q->hi = 1;
		return 0;
	}
	double z, b;
	if (scalar_param(g, n, 2, "zeropt", &z, e) < 0 || scalar_param(g, n, 3, "bitwidth", &b, e) < 0)
		return -1;
	if (!(b >= 1 && b <= 32) || b != floor(b))
		return nash_fail(e, "node %s (Quant): bit width %g is not an integer in 1..32", n->name, b);
	if (strcmp(q->rounding, "ROUND") && strcmp(q->rounding, "FLOOR") && strcmp(q->rounding, "CEIL"))
		return nash_fail(e, "node %s (Quant): unknown rounding_mode \"%s\"", n->name, q->rounding);
	q->zeropt = z;
	q->bits = (int)b;
	q->is_signed = (int)nash_attr_int(n, "signed", 1) != 0;
	q->narrow = (int)nash_attr_int(n, "narrow", 0) != 0;
	nash_qrange(q->bits, q->is_signed, q->narrow, &q->lo, &q->hi);
	if (q->hi < q->lo)
		return nash_fail(e, "node %s (Quant): empty range for %d bits%s", n->name, q->bits,
		                 q->narrow ? " narrow" : "");
	return 0;
}
