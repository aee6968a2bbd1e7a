/* fused.c - BatchNormalization and Add with their elementwise neighbours
 * in one pass: BN -> [Relu] -> Quant, and Quant(a) + Quant(b) -> [Relu] ->
 * [Quant], the shape of every quantized residual block. The values between
 * the fused ops are never stored: backward recomputes them from the
 * node's inputs (a multiply-add and a rounding are cheaper than a trip
 * through memory). Gradients: straight-through estimator, LSQ for learned
 * scales in the log2 domain, as the unfused kernels. */
#include "nn/nn_impl.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define T(id) (&net->t[id])

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

#define PAR_MIN 32768
static inline int nthr(int64_t m)
{
	return m >= PAR_MIN ? omp_get_max_threads() : 1;
}

/* A quantizer fused into a node: its arithmetic, a scale per channel
 * (per-tensor scales repeated), and where its LSQ gradient goes. */
typedef struct {
	int on;
	float lo, hi, z;
	float *sc;        /* C scales */
	int per_ch;
	nash_param *p;    /* learned scale wanting a gradient, else NULL */
	const float *sv;  /* the scale tensor's values */
} fq;

/* Can Quant node q run inside its producer or consumer? A Quant rounding
 * half to even with a per-tensor scale or a per-channel one on a
 * channels-last activation (the others run on their own). */
int nn_fusable_quant(nash_net *net, int qnode)
{
	nn_node *q = &net->nodes[qnode];
	if (q->op != OP_QUANT || q->a.q.rounding != 0 || q->constant || q->dead || q->fuse_relu)
		return 0;
	nn_tensor *x = T(q->in[0]);
	if (!x->v.bs)
		return 0;
	return q->a.q.sc_n == 1 || (q->a.q.sc_axis == 0 && x->v.st[0] == 1);
}

static void fq_init(nash_net *net, int qnode, int64_t C, fq *f)
{
	memset(f, 0, sizeof *f);
	if (qnode < 0) {
		/* absent: a no-op the loops can still evaluate */
		f->sc = nash_alloc((size_t)C * sizeof *f->sc);
		for (int64_t c = 0; c < C; c++)
			f->sc[c] = 1;
		return;
	}
	nn_node *q = &net->nodes[qnode];
	nn_tensor *s = T(q->in[1]);
	f->on = 1;
	f->lo = (float)q->a.q.lo;
	f->hi = (float)q->a.q.hi;
	f->z = (float)q->a.q.zp;
	f->per_ch = q->a.q.sc_n > 1;
	f->sv = s->val;
	f->sc = nash_alloc((size_t)C * sizeof *f->sc);
	for (int64_t c = 0; c < C; c++)
		f->sc[c] = s->val[f->per_ch ? c : 0];
	if (s->scmode == SC_LEARNED && s->rg && s->param >= 0)
		f->p = &net->params[s->param];
}

/* Add per-thread, per-channel LSQ sums (dL/dscale) into the log2 gradient. */
static void fq_finish(fq *f, const double *acc, int nt, int64_t C)
{
	if (f->p) {
		double tot = 0;
		for (int64_t c = 0; c < C; c++) {
			double s = 0;
			for (int t = 0; t < nt; t++)
				s += acc[(size_t)t * (size_t)C + (size_t)c];
			if (f->per_ch)
				f->p->g[c] += (float)(s * f->sv[c] * M_LN2);
			else
				tot += s;
		}
		if (!f->per_ch)
			f->p->g[0] += (float)(tot * f->sv[0] * M_LN2);
	}
	free(f->sc);
}

/* ------------------------------------------------------------------ BN */
HOT void nn_bn_epi_fwd(nash_net *net, nn_node *nd, int64_t P, int64_t C, const float *a, const float *b)
{
	const float *x = T(nd->in[0])->val;
	float *y = T(nd->out)->val;
	fq f;
	fq_init(net, nd->epi_q, C, &f);
	int relu = nd->fuse_relu;
	const float lo = f.lo, hi = f.hi, z = f.z, rmin = relu ? 0.0f : -INFINITY;
	const float *sc = f.sc;
	#pragma omp parallel for schedule(static) num_threads(nthr(P * C))
	for (int64_t p = 0; p < P; p++) {
		const float *xp = x + p * C;
		float *yp = y + p * C;
		#pragma omp simd
		for (int64_t c = 0; c < C; c++) {
			float v = xp[c] * a[c] + b[c];
			v = v < rmin ? rmin : v;
			yp[c] = nn_qf(v, sc[c], lo, hi, z);
		}
	}
	free(f.sc);
}

/* dx_mode 0: per-channel sums of g = dL/d(BN output) and g * xhat (and
 * the quantizer's LSQ gradient); 1/2: dx = k1 g + k2 x + k3 (write/add). */
HOT void nn_bn_epi_bwd(nash_net *net, nn_node *nd, int64_t P, int64_t C, const float *a, const float *b,
                       const float *mean, const float *invstd, double *sdy, double *sdyx, int dx_mode,
                       const float *k1, const float *k2, const float *k3)
{
	const float *x = T(nd->in[0])->val, *dq = T(nd->out)->grad;
	float *dx = dx_mode ? T(nd->in[0])->grad : NULL;
	fq f;
	fq_init(net, nd->epi_q, C, &f);
	if (dx_mode)
		f.p = NULL;
	int nt = nthr(P * C);
	const float qlo = f.lo, qhi = f.hi, z = f.z, rmin = nd->fuse_relu ? 0.0f : -INFINITY;
	const float *sc = f.sc;
	double *acc = nash_alloc((size_t)nt * 3 * (size_t)C * sizeof *acc);
	#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), T_ = omp_get_num_threads();
		double *s1 = acc + (size_t)t * 3 * (size_t)C, *s2 = s1 + C, *s3 = s2 + C;
		float *f1 = nash_alloc((size_t)C * 3 * sizeof *f1), *f2 = f1 + C, *f3 = f2 + C;
		int64_t lo = P * t / T_, hi = P * (t + 1) / T_;
		for (int64_t p0 = lo; p0 < hi; p0 += 64) {
			int64_t p1 = p0 + 64 < hi ? p0 + 64 : hi;
			if (!dx_mode)
				memset(f1, 0, (size_t)C * 3 * sizeof *f1);
			for (int64_t p = p0; p < p1; p++) {
				const float *xp = x + p * C, *gp = dq + p * C;
				float *dp = dx ? dx + p * C : NULL;
				if (dx_mode) {
					const float add = dx_mode == 2;
					#pragma omp simd
					for (int64_t c = 0; c < C; c++) {
						float y0 = xp[c] * a[c] + b[c], y1 = y0 < rmin ? rmin : y0, d;
						float pass = nn_qb(y1, sc[c], qlo, qhi, z, &d);
						float gy = y0 > rmin ? gp[c] * pass : 0.0f;
						float v = k1[c] * gy + k2[c] * xp[c] + k3[c];
						dp[c] = add > 0 ? dp[c] + v : v;
					}
				} else {
					#pragma omp simd
					for (int64_t c = 0; c < C; c++) {
						float y0 = xp[c] * a[c] + b[c], y1 = y0 < rmin ? rmin : y0, d;
						float pass = nn_qb(y1, sc[c], qlo, qhi, z, &d), g = gp[c];
						float gy = y0 > rmin ? g * pass : 0.0f;
						f1[c] += gy;
						f2[c] += gy * (xp[c] - mean[c]);
						f3[c] += g * d;
					}
				}
			}
			if (!dx_mode)
				for (int64_t c = 0; c < C; c++) {
					s1[c] += f1[c];
					s2[c] += f2[c];
					s3[c] += f3[c];
				}
		}
		free(f1);
	}
	if (!dx_mode) {
		double *lsq = nash_alloc((size_t)nt * (size_t)C * sizeof *lsq);
		for (int64_t c = 0; c < C; c++) {
			double u = 0, v = 0;
			for (int t = 0; t < nt; t++) {
				u += acc[(size_t)t * 3 * (size_t)C + (size_t)c];
				v += acc[(size_t)t * 3 * (size_t)C + (size_t)C + (size_t)c];
				lsq[(size_t)t * (size_t)C + (size_t)c] = acc[(size_t)t * 3 * (size_t)C + 2 * (size_t)C + (size_t)c];
			}
			sdy[c] = u;
			sdyx[c] = v * invstd[c];
		}
		fq_finish(&f, lsq, nt, C);
		free(lsq);
	} else
		free(f.sc);
	free(acc);
}

/* ----------------------------------------------------------------- Add */
HOT void nn_add_fused_fwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *u = T(nd->in[0]), *v = T(nd->in[1]), *y = T(nd->out);
	int64_t C = y->v.r ? y->v.d[0] : 1, P = (int64_t)n * y->v.numel / C;
	fq f1, f2, f3;
	fq_init(net, nd->pre_q[0], C, &f1);
	fq_init(net, nd->pre_q[1], C, &f2);
	fq_init(net, nd->epi_q, C, &f3);
	const float lo1 = f1.lo, hi1 = f1.hi, z1 = f1.z, lo2 = f2.lo, hi2 = f2.hi, z2 = f2.z;
	const float lo3 = f3.lo, hi3 = f3.hi, z3 = f3.z, rmin = nd->fuse_relu ? 0.0f : -INFINITY;
	const float *s1 = f1.sc, *s2 = f2.sc, *s3 = f3.sc;
	/* flags as floats: an int condition keeps GCC from vectorising */
	const float q1 = f1.on, q2 = f2.on, q3 = f3.on;
	const float *up = u->val, *vp = v->val;
	float *yp = y->val;
	#pragma omp parallel for schedule(static) num_threads(nthr(P * C))
	for (int64_t p = 0; p < P; p++) {
		const float *ua = up + p * C, *va = vp + p * C;
		float *ya = yp + p * C;
		#pragma omp simd
		for (int64_t c = 0; c < C; c++) {
			float a = ua[c], b = va[c];
			float qa = nn_qf(a, s1[c], lo1, hi1, z1), qb = nn_qf(b, s2[c], lo2, hi2, z2);
			float s = (q1 > 0 ? qa : a) + (q2 > 0 ? qb : b);
			s = s < rmin ? rmin : s;
			float qs = nn_qf(s, s3[c], lo3, hi3, z3);
			ya[c] = q3 > 0 ? qs : s;
		}
	}
	free(f1.sc);
	free(f2.sc);
	free(f3.sc);
}

HOT void nn_add_fused_bwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *u = T(nd->in[0]), *v = T(nd->in[1]), *y = T(nd->out);
	int64_t C = y->v.r ? y->v.d[0] : 1, P = (int64_t)n * y->v.numel / C;
	int gu = u->rg && u->grad, gv = v->rg && v->grad;
	int same = nd->in[0] == nd->in[1];
	int au = 0, av = 0;
	if (gu) {
		au = u->gset || u->kind == T_PARAM;
		u->gset = 1;
	}
	if (gv && !same) {
		av = v->gset || v->kind == T_PARAM;
		v->gset = 1;
	}
	fq f1, f2, f3;
	fq_init(net, nd->pre_q[0], C, &f1);
	fq_init(net, nd->pre_q[1], C, &f2);
	fq_init(net, nd->epi_q, C, &f3);
	const float lo1 = f1.lo, hi1 = f1.hi, z1 = f1.z, lo2 = f2.lo, hi2 = f2.hi, z2 = f2.z;
	const float lo3 = f3.lo, hi3 = f3.hi, z3 = f3.z, rmin = nd->fuse_relu ? 0.0f : -INFINITY;
	const float *s1 = f1.sc, *s2 = f2.sc, *s3 = f3.sc;
	const float q1 = f1.on, q2 = f2.on, q3 = f3.on;
	int nt = nthr(P * C);
	const float *up = u->val, *vp = v->val, *dy = y->grad;
	float *du = gu ? u->grad : NULL, *dv = gv && !same ? v->grad : NULL;
	double *acc = nash_alloc((size_t)nt * 3 * (size_t)C * sizeof *acc);
	#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), T_ = omp_get_num_threads();
		double *l1 = acc + (size_t)t * 3 * (size_t)C, *l2 = l1 + C, *l3 = l2 + C;
		float *fl = nash_alloc((size_t)C * 3 * sizeof *fl), *fl2 = fl + C, *fl3 = fl2 + C;
		int64_t lo = P * t / T_, hi = P * (t + 1) / T_;
		for (int64_t p0 = lo; p0 < hi; p0 += 64) {
			int64_t p1 = p0 + 64 < hi ? p0 + 64 : hi;
			memset(fl, 0, (size_t)C * 3 * sizeof *fl);
			for (int64_t p = p0; p < p1; p++) {
				const float *ua = up + p * C, *va = vp + p * C, *ga = dy + p * C;
				float *dua = du ? du + p * C : NULL, *dva = dv ? dv + p * C : NULL;
				float wu[C], wv[C];
				#pragma omp simd
				for (int64_t c = 0; c < C; c++) {
					float d1, d2, d3, a = ua[c], b = va[c];
					float p1_ = nn_qb(a, s1[c], lo1, hi1, z1, &d1), p2_ = nn_qb(b, s2[c], lo2, hi2, z2, &d2);
					float qa = nn_qf(a, s1[c], lo1, hi1, z1), qb = nn_qf(b, s2[c], lo2, hi2, z2);
					p1_ = q1 > 0 ? p1_ : 1.0f;
					p2_ = q2 > 0 ? p2_ : 1.0f;
					float s0 = (q1 > 0 ? qa : a) + (q2 > 0 ? qb : b), sr = s0 < rmin ? rmin : s0;
					float p3_ = nn_qb(sr, s3[c], lo3, hi3, z3, &d3);
					p3_ = q3 > 0 ? p3_ : 1.0f;
					float g3 = ga[c], g = s0 > rmin ? g3 * p3_ : 0.0f;
					fl3[c] += q3 > 0 ? g3 * d3 : 0.0f;
					fl[c] += q1 > 0 ? g * d1 : 0.0f;
					fl2[c] += q2 > 0 ? g * d2 : 0.0f;
					wu[c] = g * p1_;
					wv[c] = g * p2_;
				}
				if (dua) {
					if (same)
						for (int64_t c = 0; c < C; c++)
							wu[c] += wv[c];
					if (au)
						for (int64_t c = 0; c < C; c++)
							dua[c] += wu[c];
					else
						memcpy(dua, wu, (size_t)C * sizeof *dua);
				}
				if (dva) {
					if (av)
						for (int64_t c = 0; c < C; c++)
							dva[c] += wv[c];
					else
						memcpy(dva, wv, (size_t)C * sizeof *dva);
				}
			}
			for (int64_t c = 0; c < C; c++) {
				l1[c] += fl[c];
				l2[c] += fl2[c];
				l3[c] += fl3[c];
			}
		}
		free(fl);
	}
	double *tmp = nash_alloc((size_t)nt * (size_t)C * sizeof *tmp);
	fq *fs[3] = {&f1, &f2, &f3};
	for (int j = 0; j < 3; j++) {
		for (int t = 0; t < nt; t++)
			memcpy(tmp + (size_t)t * (size_t)C, acc + (size_t)t * 3 * (size_t)C + (size_t)j * (size_t)C,
			       (size_t)C * sizeof *tmp);
		fq_finish(fs[j], tmp, nt, C);
	}
	free(tmp);
	free(acc);
}
