/* ops.c - forward and backward kernels of the float-level ops and the
 * quantizers (nash-ops(7)), on channels-last activations. Convolutions and
 * GEMMs go to dnn.c. */
#include "nn/nn_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define T(id) (&net->t[id])

/* Hot loops are compiled for AVX-512, AVX2 and the x86-64 baseline and
 * picked at run time (the default build targets any x86-64; rounding and
 * min/max vectorise only from SSE4.1 on). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

/* Work below this many elements runs on one thread: a parallel region
 * costs a barrier, and on a busy machine a barrier waits for a thread the
 * scheduler has parked. */
#define PAR_MIN 32768
static inline int nthr(int64_t m)
{
	return m >= PAR_MIN ? omp_get_max_threads() : 1;
}

/* max(v, 0) and clamps written so that NaN passes through (NaN compares
 * false) and the compiler vectorises them (fmaxf is a call at -O2 and
 * drops NaN). */
#define RELU(v) ((v) < 0 ? 0.0f : (v))
#define CLAMP(v, lo, hi) ((v) < (lo) ? (lo) : (v) > (hi) ? (hi) : (v))

/* ------------------------------------------------------------ views */
void nn_view_batched(nn_view *v, int r, const int64_t *d)
{
	memset(v, 0, sizeof *v);
	v->r = r;
	memcpy(v->d, d, (size_t)r * sizeof *d);
	v->numel = nash_shape_numel(r, d);
	v->bs = v->numel;
	if (r == 0)
		return;
	/* channels last: axis 0 innermost, then axes r-1 .. 1 outward */
	int64_t s = 1;
	v->st[0] = 1;
	s = d[0];
	for (int i = r - 1; i >= 1; i--) {
		v->st[i] = s;
		s *= d[i];
	}
}

void nn_view_rowmajor(nn_view *v, int r, const int64_t *d)
{
	memset(v, 0, sizeof *v);
	v->r = r;
	memcpy(v->d, d, (size_t)r * sizeof *d);
	v->numel = nash_shape_numel(r, d);
	v->bs = 0;
	int64_t s = 1;
	for (int i = r - 1; i >= 0; i--) {
		v->st[i] = s;
		s *= d[i];
	}
}

/* Input gradient bookkeeping: returns 1 when the kernel must add into the
 * tensor's gradient, 0 when it may overwrite it, and marks it written. */
static int gacc(nash_net *net, int id)
{
	nn_tensor *t = T(id);
	int acc = t->gset || t->kind == T_PARAM;
	t->gset = 1;
	return acc;
}

static int need(nash_net *net, int id)
{
	return id >= 0 && T(id)->rg && T(id)->grad;
}

/* Number of images of a tensor in a run of n: unbatched tensors have one. */
static inline int64_t nimg(const nn_tensor *t, int n)
{
	return t->v.bs ? n : 1;
}

/* ----------------------------------------------------- strided copies */
/* For every element of the logical box d[0..r) over n images:
 * dst[...] = (acc ? dst[...] : 0) + src[...]. Axes are visited in the
 * destination's memory order, the innermost as a tight loop. */
HOT static void strided(float *dst, const int64_t *dst_st, int64_t dst_bs,
                    const float *src, const int64_t *src_st, int64_t src_bs,
                    const int64_t *d, int r, int n, int acc)
{
	int ord[NN_MAXD];
	for (int i = 0; i < r; i++)
		ord[i] = i;
	/* sort axes by destination stride, descending (insertion sort) */
	for (int i = 1; i < r; i++)
		for (int j = i; j > 0 && dst_st[ord[j]] > dst_st[ord[j - 1]]; j--) {
			int tmp = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = tmp;
		}
	int64_t inner = r ? d[ord[r - 1]] : 1;
	int64_t ds = r ? dst_st[ord[r - 1]] : 1, ss = r ? src_st[ord[r - 1]] : 1;
	int64_t outer = 1;
	for (int i = 0; i < r - 1; i++)
		outer *= d[ord[i]];
	#pragma omp parallel for collapse(2) schedule(static) num_threads(nthr(n * outer * inner))
	for (int b = 0; b < n; b++)
		for (int64_t o = 0; o < outer; o++) {
			int64_t rem = o, doff = b * dst_bs, soff = b * src_bs;
			for (int i = r - 2; i >= 0; i--) {
				int64_t idx = rem % d[ord[i]];
				rem /= d[ord[i]];
				doff += idx * dst_st[ord[i]];
				soff += idx * src_st[ord[i]];
			}
			float *dp = dst + doff;
			const float *sp = src + soff;
			if (acc)
				for (int64_t k = 0; k < inner; k++)
					dp[k * ds] += sp[k * ss];
			else
				for (int64_t k = 0; k < inner; k++)
					dp[k * ds] = sp[k * ss];
		}
}

/* ---------------------------------------------------------- activations */
HOT static void relu_fwd(const float *x, float *y, int64_t m)
{
	#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
	for (int64_t i = 0; i < m; i++)
		y[i] = RELU(x[i]);
}

/* dx (=|+=) dy where y > 0 */
HOT static void relu_bwd(const float *y, const float *dy, float *dx, int64_t m, int acc)
{
	if (acc) {
		#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
		for (int64_t i = 0; i < m; i++) {
			float g = dy[i];
			dx[i] += y[i] > 0 ? g : 0.0f;
		}
	} else {
		#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
		for (int64_t i = 0; i < m; i++) {
			float g = dy[i];
			dx[i] = y[i] > 0 ? g : 0.0f;
		}
	}
}

HOT static void hardtanh_fwd(const float *x, float *y, int64_t m, float lo, float hi)
{
	#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
	for (int64_t i = 0; i < m; i++)
		y[i] = CLAMP(x[i], lo, hi);
}

HOT static void hardtanh_bwd(const float *x, const float *dy, float *dx, int64_t m, float lo, float hi, int acc)
{
	#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
	for (int64_t i = 0; i < m; i++) {
		float g = dy[i], v = x[i];
		g = v > lo && v < hi ? g : 0.0f;
		dx[i] = acc ? dx[i] + g : g;
	}
}

HOT static void copy_or_add(float *dst, const float *src, int64_t m, int acc)
{
	if (acc) {
		#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
		for (int64_t i = 0; i < m; i++)
			dst[i] += src[i];
	} else if (dst != src)
		memcpy(dst, src, (size_t)m * sizeof *dst);
}

/* ------------------------------------------------------ batch normalisation */
/* x is P pixels of C channels (channels innermost). */
/* Per-channel sums over P pixels of C channels, with d = x - shift. With
 * stats, out gets sum d and sum d^2 first; with dy, then sum g and
 * sum g d, where g = dy, or without stats and with a mask (a fused Relu's
 * output) g = (mask > 0 ? dy : 0). Partial sums of 64 pixels in float, then
 * double; threads take fixed ranges added in order, so the result does
 * not depend on timing. */
HOT static void chan_sums(const float *x, int stats, const float *dy, const float *mask, const float *shift,
                          int64_t P, int64_t C, double *out)
{
	int nt = nthr(P * C), ns = (stats ? 2 : 0) + (dy ? 2 : 0);
	double *acc = nash_alloc((size_t)nt * (size_t)ns * (size_t)C * sizeof *acc);
	#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), T_ = omp_get_num_threads();
		double *s = acc + (size_t)t * (size_t)ns * (size_t)C;
		float *f = nash_alloc((size_t)C * (size_t)ns * sizeof *f);
		/* f1, f2: the statistics or the gradient sums; f3, f4: the gradient sums after the statistics */
		float *f1 = f, *f2 = f + C, *f3 = f + 2 * C, *f4 = f + 3 * C;
		int64_t lo = P * t / T_, hi = P * (t + 1) / T_;
		for (int64_t p0 = lo; p0 < hi; p0 += 64) {
			int64_t p1 = p0 + 64 < hi ? p0 + 64 : hi;
			memset(f, 0, (size_t)C * (size_t)ns * sizeof *f);
			for (int64_t p = p0; p < p1; p++) {
				const float *xp = x + p * C, *gp = dy ? dy + p * C : NULL, *mp = mask ? mask + p * C : NULL;
				if (!dy) {
					#pragma omp simd
					for (int64_t c = 0; c < C; c++) {
						float d = xp[c] - shift[c];
						f1[c] += d;
						f2[c] += d * d;
					}
				} else if (stats) {
					#pragma omp simd
					for (int64_t c = 0; c < C; c++) {
						float d = xp[c] - shift[c], g = gp[c];
						f1[c] += d;
						f2[c] += d * d;
						f3[c] += g;
						f4[c] += g * d;
					}
				} else if (mp) {
					#pragma omp simd
					for (int64_t c = 0; c < C; c++) {
						float g = mp[c] > 0 ? gp[c] : 0.0f;
						f1[c] += g;
						f2[c] += g * (xp[c] - shift[c]);
					}
				} else {
					#pragma omp simd
					for (int64_t c = 0; c < C; c++) {
						f1[c] += gp[c];
						f2[c] += gp[c] * (xp[c] - shift[c]);
					}
				}
			}
			for (int64_t c = 0; c < ns * C; c++)
				s[c] += f[c];
		}
		free(f);
	}
	for (int64_t c = 0; c < ns * C; c++) {
		double a = 0;
		for (int t = 0; t < nt; t++)
			a += acc[(size_t)t * (size_t)ns * (size_t)C + (size_t)c];
		out[c] = a;
	}
	free(acc);
}

/* Batch mean and (biased) variance per channel, shifted by the first
 * pixel for accuracy. */
static void chan_stats(const float *x, int64_t P, int64_t C, double *mean, double *var)
{
	double *s = nash_alloc((size_t)C * 2 * sizeof *s);
	chan_sums(x, 1, NULL, NULL, x, P, C, s);
	for (int64_t c = 0; c < C; c++) {
		double m = s[c] / (double)P, v = s[C + c] / (double)P - m * m;
		mean[c] = x[c] + m;
		var[c] = v > 0 ? v : 0;
	}
	free(s);
}

/* y = x * a[c] + b[c], then max(y, 0) with relu */
HOT static void chan_affine(const float *x, float *y, int64_t P, int64_t C, const float *a, const float *b,
                        int relu)
{
	#pragma omp parallel for schedule(static) num_threads(nthr(P * C))
	for (int64_t p = 0; p < P; p++) {
		const float *xp = x + p * C;
		float *yp = y + p * C;
		if (relu) {
			#pragma omp simd
			for (int64_t c = 0; c < C; c++)
				{
					float v = xp[c] * a[c] + b[c];
					yp[c] = RELU(v);
				}
		} else {
			#pragma omp simd
			for (int64_t c = 0; c < C; c++)
				yp[c] = xp[c] * a[c] + b[c];
		}
	}
}

/* Per-channel sums of g and g * (x - mean) * invstd, g = dy, or with a
 * fused Relu g = (y > 0 ? dy : 0). */
static void chan_bwd_sums(const float *x, const float *dy, const float *y, int64_t P, int64_t C, const float *mean,
                          const float *invstd, double *sdy, double *sdyx)
{
	double *s = nash_alloc((size_t)C * 2 * sizeof *s);
	chan_sums(x, 0, dy, y, mean, P, C, s);
	for (int64_t c = 0; c < C; c++) {
		sdy[c] = s[c];
		sdyx[c] = s[C + c] * invstd[c];
	}
	free(s);
}

static void bn_fwd(nash_net *net, nn_node *nd, int n, int mode)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out);
	int64_t C = nd->a.bn.c, P = (int64_t)n * (x->v.numel / C);
	const float *gam = T(nd->in[1])->val, *bet = T(nd->in[2])->val;
	float *rm = T(nd->in[3])->val, *rv = T(nd->in[4])->val;
	float *mean = nd->save, *invstd = nd->save + C, *a = nd->save + 2 * C, *b = nd->save + 3 * C;
	double eps = nd->a.bn.eps;
	if (mode) {
		double *m = nash_alloc((size_t)C * 2 * sizeof *m), *v = m + C;
		chan_stats(x->val, P, C, m, v);
		double mom = nd->a.bn.mom;
		for (int64_t c = 0; c < C; c++) {
			mean[c] = (float)m[c];
			invstd[c] = (float)(1.0 / sqrt(v[c] + eps));
			if (mode == 1) {
				double unb = P > 1 ? v[c] * (double)P / (double)(P - 1) : v[c];
				rm[c] = (float)(mom * rm[c] + (1 - mom) * m[c]);
				rv[c] = (float)(mom * rv[c] + (1 - mom) * unb);
			}
		}
		free(m);
	} else {
		for (int64_t c = 0; c < C; c++) {
			mean[c] = rm[c];
			invstd[c] = (float)(1.0 / sqrt((double)rv[c] + eps));
		}
	}
	for (int64_t c = 0; c < C; c++) {
		a[c] = gam[c] * invstd[c];
		b[c] = bet[c] - mean[c] * a[c];
	}
	if (nd->epi_q >= 0)
		nn_bn_epi_fwd(net, nd, P, C, a, b);
	else
		chan_affine(x->val, y->val, P, C, a, b, nd->fuse_relu);
}

/* sum dy * BN(x) = sum_c a_c sum(dy x) + b_c sum(dy), with a = gamma invstd,
 * b = beta - mean a from the batch statistics: one pass over x and dy
 * (chan_sums shifted by the first pixel), BN(x) never written. */
int nn_bn_gate(nash_net *net, nn_node *nd, int n, const float *dy, double *gate)
{
	if (nd->op != OP_BN || nd->fuse_relu || nd->epi_q >= 0)
		return -1;
	nn_tensor *x = T(nd->in[0]);
	int64_t C = nd->a.bn.c, P = (int64_t)n * (x->v.numel / C);
	const float *gam = T(nd->in[1])->val, *bet = T(nd->in[2])->val, *sh = x->val;
	double *s = nash_alloc((size_t)C * 4 * sizeof *s), g = 0;
	chan_sums(sh, 1, dy, NULL, sh, P, C, s);
	for (int64_t c = 0; c < C; c++) {
		double m = s[c] / (double)P, v = s[C + c] / (double)P - m * m;
		double a = gam[c] / sqrt((v > 0 ? v : 0) + nd->a.bn.eps), mean = sh[c] + m;
		/* sum dy x = sum dy d + shift sum dy */
		g += a * (s[3 * C + c] + sh[c] * s[2 * C + c]) + (bet[c] - mean * a) * s[2 * C + c];
	}
	free(s);
	*gate = g;
	return 0;
}

HOT static void bn_bwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out);
	int64_t C = nd->a.bn.c, P = (int64_t)n * (x->v.numel / C);
	const float *mean = nd->save, *invstd = nd->save + C, *gam = T(nd->in[1])->val;
	double *sdy = nash_alloc((size_t)C * 2 * sizeof *sdy), *sdyx = sdy + C;
	const float *mask = nd->fuse_relu ? y->val : NULL;
	int epi = nd->epi_q >= 0;
	const float *ea = nd->save + 2 * C, *eb = nd->save + 3 * C;
	if (epi)
		nn_bn_epi_bwd(net, nd, P, C, ea, eb, mean, invstd, sdy, sdyx, 0, NULL, NULL, NULL);
	else
		chan_bwd_sums(x->val, y->grad, mask, P, C, mean, invstd, sdy, sdyx);
	if (need(net, nd->in[1])) {
		float *g = T(nd->in[1])->grad;
		gacc(net, nd->in[1]);
		for (int64_t c = 0; c < C; c++)
			g[c] += (float)sdyx[c];
	}
	if (need(net, nd->in[2])) {
		float *g = T(nd->in[2])->grad;
		gacc(net, nd->in[2]);
		for (int64_t c = 0; c < C; c++)
			g[c] += (float)sdy[c];
	}
	if (need(net, nd->in[0])) {
		int acc = gacc(net, nd->in[0]);
		float *k1 = nash_alloc((size_t)C * 3 * sizeof *k1), *k2 = k1 + C, *k3 = k2 + C;
		/* train: dx = g*is*(dy - sdy/P - xhat*sdyx/P); eval: dx = g*is*dy */
		for (int64_t c = 0; c < C; c++) {
			double gi = (double)gam[c] * invstd[c];
			if (net->fwd_train) {
				k1[c] = (float)gi;
				k2[c] = (float)(-gi * invstd[c] * sdyx[c] / (double)P);
				k3[c] = (float)(-gi * sdy[c] / (double)P - (double)k2[c] * mean[c]);
			} else {
				k1[c] = (float)gi;
				k2[c] = 0;
				k3[c] = 0;
			}
		}
		const float *xv = x->val, *dy = y->grad;
		float *dx = T(nd->in[0])->grad;
		if (epi) {
			nn_bn_epi_bwd(net, nd, P, C, ea, eb, mean, invstd, NULL, NULL, acc ? 2 : 1, k1, k2, k3);
			free(k1);
			free(sdy);
			return;
		}
		#pragma omp parallel for schedule(static) num_threads(nthr(P * C))
		for (int64_t p = 0; p < P; p++) {
			const float *xp = xv + p * C, *gp = dy + p * C;
			float *dp = dx + p * C;
			if (mask) {
				const float *yp = mask + p * C;
				#pragma omp simd
				for (int64_t c = 0; c < C; c++) {
					float g = gp[c];
					g = yp[c] > 0 ? g : 0.0f;
					float v = k1[c] * g + k2[c] * xp[c] + k3[c];
					dp[c] = acc ? dp[c] + v : v;
				}
			} else if (acc) {
				#pragma omp simd
				for (int64_t c = 0; c < C; c++)
					dp[c] += k1[c] * gp[c] + k2[c] * xp[c] + k3[c];
			} else {
				#pragma omp simd
				for (int64_t c = 0; c < C; c++)
					dp[c] = k1[c] * gp[c] + k2[c] * xp[c] + k3[c];
			}
		}
		free(k1);
	}
	free(sdy);
}

/* ---------------------------------------------------------------- pools */
/* The taps of a window along one axis that fall inside the image: k0..k1-1;
 * *inpad receives how many lie inside the image plus its declared padding. */
static void pool_taps(int64_t o, int64_t st, int64_t pad0, int64_t pad1, int64_t dil, int64_t k, int64_t size,
                      int64_t *k0, int64_t *k1, int64_t *inpad)
{
	int64_t i0 = o * st - pad0, a = 0, b = 0, np = 0;
	for (int64_t j = 0; j < k; j++) {
		int64_t i = i0 + j * dil;
		if (i >= 0 && i < size) {
			if (b == 0)
				a = j;
			b = j + 1;
		}
		np += i >= -pad0 && i < size + pad1;
	}
	*k0 = a;
	*k1 = b;
	*inpad = np;
}

/* Pooling one output row at a time, one pass per tap: each tap (kh, kw)
 * folds into the outputs whose window it falls inside, a contiguous run of
 * x at stride 1 (long vector loops however few the channels). Windows with
 * no tap inside the image give -inf (max) or 0 (average). */
HOT static void pool_fwd(const nn_pool *p, const float *x, float *y, int n, int max)
{
	int64_t C = p->c, OW = p->ow;
	/* per output column: taps inside the image, and inside image + padding */
	int64_t *cnt = nash_alloc((size_t)OW * 2 * sizeof *cnt);
	for (int64_t ow = 0; ow < OW; ow++) {
		int64_t k0, k1;
		pool_taps(ow, p->sw, p->pl, p->pr, p->dw, p->kw, p->w, &k0, &k1, &cnt[OW + ow]);
		cnt[ow] = k1 - k0;
	}
	#pragma omp parallel for collapse(2) schedule(static) num_threads(nthr(n * p->oh * p->ow * C * p->kh * p->kw))
	for (int b = 0; b < n; b++)
		for (int64_t oh = 0; oh < p->oh; oh++) {
			float *yr = y + (b * p->oh + oh) * OW * C;
			int64_t kh0, kh1, hpad;
			pool_taps(oh, p->sh, p->pt, p->pb, p->dh, p->kh, p->h, &kh0, &kh1, &hpad);
			float init = max ? -INFINITY : 0.0f;
			#pragma omp simd
			for (int64_t i = 0; i < OW * C; i++)
				yr[i] = init;
			for (int64_t kh = kh0; kh < kh1; kh++) {
				int64_t ih = oh * p->sh - p->pt + kh * p->dh;
				const float *xr = x + (b * p->h + ih) * p->w * C;
				for (int64_t kw = 0; kw < p->kw; kw++) {
					/* the outputs this tap lands inside: 0 <= ow sw - pl + kw dw < w */
					int64_t off = kw * p->dw - p->pl, oa = off >= 0 ? 0 : (-off + p->sw - 1) / p->sw;
					int64_t ob = p->w - 1 - off < 0 ? 0 : (p->w - 1 - off) / p->sw + 1;
					ob = ob < OW ? ob : OW;
					if (oa >= ob)
						continue;
					if (p->sw == 1) {
						const float *xs = xr + (oa + off) * C;
						float *ys = yr + oa * C;
						int64_t L = (ob - oa) * C;
						if (max) {
							#pragma omp simd
							for (int64_t i = 0; i < L; i++)
								ys[i] = xs[i] > ys[i] || xs[i] != xs[i] ? xs[i] : ys[i]; /* NaN wins */
						} else {
							#pragma omp simd
							for (int64_t i = 0; i < L; i++)
								ys[i] += xs[i];
						}
					} else
						for (int64_t ow = oa; ow < ob; ow++) {
							const float *xs = xr + (ow * p->sw + off) * C;
							float *ys = yr + ow * C;
							if (max) {
								#pragma omp simd
								for (int64_t c = 0; c < C; c++)
									ys[c] = xs[c] > ys[c] || xs[c] != xs[c] ? xs[c] : ys[c];
							} else {
								#pragma omp simd
								for (int64_t c = 0; c < C; c++)
									ys[c] += xs[c];
							}
						}
				}
			}
			if (!max)
				for (int64_t ow = 0; ow < OW; ow++) {
					/* padded taps count for count_include_pad when they lie
					 * in the declared padding */
					int64_t valid = (kh1 - kh0) * cnt[ow];
					int64_t c_ = valid + p->include_pad * (hpad * cnt[OW + ow] - valid);
					float inv = c_ ? 1.0f / (float)c_ : 0.0f;
					float *ys = yr + ow * C;
					#pragma omp simd
					for (int64_t c = 0; c < C; c++)
						ys[c] *= inv;
				}
		}
	free(cnt);
}

HOT static void pool_bwd(const nn_pool *p, const float *x, const float *y, const float *dy, float *dx,
                     int n, int max, int acc)
{
	int64_t C = p->c;
	#pragma omp parallel for schedule(static) num_threads(nthr(n * p->oh * p->ow * C * p->kh * p->kw))
	for (int b = 0; b < n; b++) {
		float *dxb = dx + b * p->h * p->w * C;
		if (!acc)
			memset(dxb, 0, (size_t)(p->h * p->w * C) * sizeof *dxb);
		/* max: the gradient goes to the first window element equal to the
		 * output; found[c] (a float, so the loop vectorises) marks it */
		float *found = max ? nash_alloc((size_t)C * sizeof *found) : NULL;
		for (int64_t oh = 0; oh < p->oh; oh++)
			for (int64_t ow = 0; ow < p->ow; ow++) {
				int64_t o = ((b * p->oh + oh) * p->ow + ow) * C;
				const float *yp = y + o, *gp = dy + o;
				if (max)
					memset(found, 0, (size_t)C * sizeof *found);
				/* the taps inside the image; average: the same count as the
				 * forward's (pool_taps) */
				int64_t kh0, kh1, hpad, kw0, kw1, wpad;
				pool_taps(oh, p->sh, p->pt, p->pb, p->dh, p->kh, p->h, &kh0, &kh1, &hpad);
				pool_taps(ow, p->sw, p->pl, p->pr, p->dw, p->kw, p->w, &kw0, &kw1, &wpad);
				int64_t valid = (kh1 - kh0) * (kw1 - kw0), cnt = valid + p->include_pad * (hpad * wpad - valid);
				float inv = cnt ? 1.0f / (float)cnt : 0;
				for (int64_t kh = kh0; kh < kh1; kh++) {
					int64_t ih = oh * p->sh - p->pt + kh * p->dh;
					for (int64_t kw = kw0; kw < kw1; kw++) {
						int64_t iw = ow * p->sw - p->pl + kw * p->dw, off = (ih * p->w + iw) * C;
						float *dp = dxb + off;
						if (max) {
							const float *xp = x + b * p->h * p->w * C + off;
							#pragma omp simd
							for (int64_t c = 0; c < C; c++) {
								float hit = found[c] == 0 && xp[c] == yp[c] ? 1.0f : 0.0f;
								dp[c] += hit * gp[c];
								found[c] += hit;
							}
						} else {
							#pragma omp simd
							for (int64_t c = 0; c < C; c++)
								dp[c] += gp[c] * inv;
						}
					}
				}
			}
		free(found);
	}
}

HOT static void gap_fwd(const float *x, float *y, int n, int64_t S, int64_t C)
{
	#pragma omp parallel for schedule(static) num_threads(nthr(n * S * C))
	for (int b = 0; b < n; b++) {
		float *yp = y + b * C;
		double *acc = nash_alloc((size_t)C * sizeof *acc);
		for (int64_t s = 0; s < S; s++) {
			const float *xp = x + (b * S + s) * C;
			for (int64_t c = 0; c < C; c++)
				acc[c] += xp[c];
		}
		for (int64_t c = 0; c < C; c++)
			yp[c] = (float)(acc[c] / (double)S);
		free(acc);
	}
}

HOT static void gap_bwd(const float *dy, float *dx, int n, int64_t S, int64_t C, int acc)
{
	float inv = 1.0f / (float)S;
	#pragma omp parallel for collapse(2) schedule(static) num_threads(nthr(n * S * C))
	for (int b = 0; b < n; b++)
		for (int64_t s = 0; s < S; s++) {
			float *dp = dx + (b * S + s) * C;
			const float *gp = dy + b * C;
			#pragma omp simd
			for (int64_t c = 0; c < C; c++)
				dp[c] = (acc ? dp[c] : 0) + gp[c] * inv;
		}
}

/* ------------------------------------------------------ broadcasting */
/* Strides of input tensor t broadcast to the output view o (numpy rules:
 * aligned at the right; broadcast axes get stride 0). */
static void bstrides(const nn_view *o, const nn_view *t, int64_t *st)
{
	for (int i = 0; i < o->r; i++) {
		int j = t->r - o->r + i;
		st[i] = j >= 0 && t->d[j] != 1 ? t->st[j] : 0;
	}
}

static int same_layout(const nn_view *o, const nn_view *t)
{
	if (t->r != o->r || t->bs != o->bs)
		return 0;
	for (int i = 0; i < o->r; i++)
		if (t->d[i] != o->d[i] || t->st[i] != o->st[i])
			return 0;
	return 1;
}

/* Output axes in memory order, innermost first: channels-last for batched
 * views (axis 0, then r-1 .. 1), row-major otherwise (r-1 .. 0). */
static void mem_order(const nn_view *o, int *ord)
{
	int r = o->r, k = 0;
	if (o->bs) {
		if (r)
			ord[k++] = 0;
		for (int i = r - 1; i >= 1; i--)
			ord[k++] = i;
	} else
		for (int i = r - 1; i >= 0; i--)
			ord[k++] = i;
}

/* y = a (op) b over the output box; op add or mul. */
HOT static void bin_fwd(const nn_view *o, float *y, const float *a, const int64_t *sa, int64_t abs_,
                    const float *b, const int64_t *sb, int64_t bbs, int n, int mul)
{
	int r = o->r, ord[NN_MAXD];
	mem_order(o, ord);
	int64_t inner = r ? o->d[ord[0]] : 1, outer = o->numel / inner;
	int64_t ys = r ? o->st[ord[0]] : 1, as = r ? sa[ord[0]] : 0, bs = r ? sb[ord[0]] : 0;
	#pragma omp parallel for collapse(2) schedule(static) num_threads(nthr(n * o->numel))
	for (int bi = 0; bi < n; bi++)
		for (int64_t q = 0; q < outer; q++) {
			int64_t rem = q, yo = bi * o->bs, ao = bi * abs_, bo = bi * bbs;
			for (int k = 1; k < r; k++) {
				int ax = ord[k];
				int64_t idx = rem % o->d[ax];
				rem /= o->d[ax];
				yo += idx * o->st[ax];
				ao += idx * sa[ax];
				bo += idx * sb[ax];
			}
			float *yp = y + yo;
			const float *ap = a + ao, *bp = b + bo;
			if (mul)
				for (int64_t k = 0; k < inner; k++)
					yp[k * ys] = ap[k * as] * bp[k * bs];
			else
				for (int64_t k = 0; k < inner; k++)
					yp[k * ys] = ap[k * as] + bp[k * bs];
		}
}

/* da (broadcast shape of a) += dy * (mul ? b : 1), reduced over broadcast
 * axes. Serial over images when a is unbatched (the sum crosses images). */
HOT static void bin_bwd(const nn_view *o, const float *dy, float *da, const int64_t *sa, int64_t abs_,
                    const float *b, const int64_t *sb, int64_t bbs, int n, int mul)
{
	int r = o->r;
	int64_t idx[NN_MAXD];
	int par = abs_ != 0;
	#pragma omp parallel for schedule(static) private(idx) if (par)
	for (int bi = 0; bi < n; bi++) {
		for (int64_t q = 0; q < o->numel; q++) {
			int64_t rem = q, yo = bi * o->bs, ao = bi * abs_, bo = bi * bbs;
			/* q enumerates the output in its memory order */
			if (o->bs) {
				idx[0] = rem % o->d[0];
				rem /= o->d[0];
				for (int i = r - 1; i >= 1; i--) {
					idx[i] = rem % o->d[i];
					rem /= o->d[i];
				}
			} else {
				for (int i = r - 1; i >= 0; i--) {
					idx[i] = rem % o->d[i];
					rem /= o->d[i];
				}
			}
			for (int i = 0; i < r; i++) {
				yo += idx[i] * o->st[i];
				ao += idx[i] * sa[i];
				bo += idx[i] * sb[i];
			}
			da[ao] += mul ? dy[yo] * b[bo] : dy[yo];
		}
	}
}

HOT static void binary_fwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *a = T(nd->in[0]), *b = T(nd->in[1]), *y = T(nd->out);
	int mul = nd->op == OP_MUL, relu = nd->fuse_relu;
	if (nd->epi_q >= 0 || nd->pre_q[0] >= 0 || nd->pre_q[1] >= 0) {
		nn_add_fused_fwd(net, nd, n);
		return;
	}
	int64_t m = nimg(y, n) * y->v.numel;
	const float *ap = a->val, *bp = b->val;
	float *yp = y->val;
	if (same_layout(&y->v, &a->v) && same_layout(&y->v, &b->v)) {
		if (mul) {
			#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
			for (int64_t i = 0; i < m; i++)
				yp[i] = ap[i] * bp[i];
		} else if (relu) {
			#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
			for (int64_t i = 0; i < m; i++)
				{
					float v = ap[i] + bp[i];
					yp[i] = RELU(v);
				}
		} else {
			#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
			for (int64_t i = 0; i < m; i++)
				yp[i] = ap[i] + bp[i];
		}
		return;
	}
	int64_t sa[NN_MAXD], sb[NN_MAXD];
	bstrides(&y->v, &a->v, sa);
	bstrides(&y->v, &b->v, sb);
	bin_fwd(&y->v, y->val, a->val, sa, a->v.bs, b->val, sb, b->v.bs, (int)nimg(y, n), mul);
	if (relu)
		relu_fwd(y->val, y->val, m);
}

HOT static void binary_bwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *y = T(nd->out);
	int mul = nd->op == OP_MUL;
	if (nd->epi_q >= 0 || nd->pre_q[0] >= 0 || nd->pre_q[1] >= 0) {
		nn_add_fused_bwd(net, nd, n);
		return;
	}
	int64_t m = nimg(y, n) * y->v.numel;
	const float *dy = y->grad;
	float *masked = NULL;
	int ga = need(net, nd->in[0]), gb = need(net, nd->in[1]);
	nn_tensor *a = T(nd->in[0]), *b = T(nd->in[1]);
	/* the common case: Add (+ Relu) of two same-layout tensors, one pass */
	if (!mul && same_layout(&y->v, &a->v) && same_layout(&y->v, &b->v) && (ga || gb)) {
		int aa = ga ? gacc(net, nd->in[0]) : 0, ab = gb ? gacc(net, nd->in[1]) : 0;
		float *da = ga ? a->grad : NULL, *db = gb ? b->grad : NULL;
		const float *yv = y->val;
		int relu = nd->fuse_relu;
		if (nd->in[0] == nd->in[1]) { /* x + x */
			#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
			for (int64_t i = 0; i < m; i++) {
				float g = dy[i];
				g = !relu || yv[i] > 0 ? 2 * g : 0.0f;
				da[i] = aa ? da[i] + g : g;
			}
			return;
		}
		#pragma omp parallel for schedule(static) num_threads(nthr(m))
		for (int64_t i0 = 0; i0 < m; i0 += 1024) {
			int64_t i1 = i0 + 1024 < m ? i0 + 1024 : m;
			#pragma omp simd
			for (int64_t i = i0; i < i1; i++) {
				float g = dy[i];
				g = !relu || yv[i] > 0 ? g : 0.0f;
				if (da)
					da[i] = aa ? da[i] + g : g;
				if (db)
					db[i] = ab ? db[i] + g : g;
			}
		}
		return;
	}
	if (nd->fuse_relu) {
		masked = nash_alloc((size_t)m * sizeof *masked);
		relu_bwd(y->val, dy, masked, m, 0);
		dy = masked;
	}
	for (int side = 0; side < 2; side++) {
		int id = nd->in[side], oid = nd->in[1 - side];
		if (!need(net, id))
			continue;
		nn_tensor *u = T(id), *v = T(oid);
		int acc = gacc(net, id);
		if (same_layout(&y->v, &u->v) && (!mul || same_layout(&y->v, &v->v))) {
			if (!mul)
				copy_or_add(u->grad, dy, m, acc);
			else {
				const float *vp = v->val;
				float *du = u->grad;
				#pragma omp parallel for simd schedule(static) num_threads(nthr(m))
				for (int64_t i = 0; i < m; i++)
					du[i] = (acc ? du[i] : 0) + dy[i] * vp[i];
			}
			continue;
		}
		if (!acc)
			memset(u->grad, 0, (size_t)(nimg(u, n) * u->v.numel) * sizeof(float));
		int64_t su[NN_MAXD], sv[NN_MAXD];
		bstrides(&y->v, &u->v, su);
		bstrides(&y->v, &v->v, sv);
		bin_bwd(&y->v, dy, u->grad, su, u->v.bs, v->val, sv, v->v.bs, (int)nimg(y, n), mul);
	}
	free(masked);
}

/* --------------------------------------------------------- quantizers */
/* The scale of a quantizer broadcasts along at most one axis. Elements are
 * visited in runs: `run` consecutive elements share a scale, and the scale
 * index advances every `run` elements modulo `ns`. Per-tensor: ns 1;
 * channels-last per channel: run 1, ns C; row-major per output channel
 * (weights): run numel/M, ns M. */
typedef struct { int64_t run, ns; } qlay;

static qlay q_layout(const nn_node *nd, const nn_view *v)
{
	qlay l = {v->numel ? v->numel : 1, 1};
	if (nd->a.q.sc_n > 1) {
		l.run = v->st[nd->a.q.sc_axis];
		l.ns = nd->a.q.sc_n;
	}
	return l;
}

/* One quantizer over a span with one scale sc (x, y, dy, dx may alias). */
typedef struct {
	int op, rm, trm, relu;
	float lo, hi, z, S;
} qk;

static inline float qround(float u, int mode)
{
	return mode == 0 ? rintf(u) : mode == 1 ? floorf(u) : ceilf(u);
}

static inline __attribute__((always_inline)) void q_span_fwd(const qk *k, const float *x, float *y, int64_t len, float sc)
{
	if (k->op == OP_BIPOLAR) {
		#pragma omp simd
		for (int64_t i = 0; i < len; i++)
			y[i] = x[i] >= 0 ? sc : x[i] < 0 ? -sc : x[i];
	} else if (k->op == OP_TRUNC) {
		float z = k->z, S = k->S;
		int trm = k->trm;
		#pragma omp simd
		for (int64_t i = 0; i < len; i++) {
			float r = rintf(x[i] / sc + z);
			y[i] = (qround(r / S, trm) - z) * sc;
		}
	} else {
		float lo = k->lo, hi = k->hi, z = k->z;
		int rm = k->rm, relu = k->relu;
		#pragma omp simd
		for (int64_t i = 0; i < len; i++) {
			float v = x[i];
			v = relu ? RELU(v) : v;
			float q = qround(v / sc + z, rm);
			q = CLAMP(q, lo, hi);
			y[i] = (q - z) * sc;
		}
	}
}

/* Input gradient over a span (acc: add) and, when want_s, the sum of
 * dy * dy/dscale (LSQ: q - x/s inside the range, lo or hi where clamped;
 * bipolar: sign - x/s where |x| <= s; Trunc: t - x/(s S)), in one pass. */
static inline __attribute__((always_inline)) double q_span_bwd(const qk *k, const float *x, const float *dy, float *dx, int64_t len, float sc, int acc,
                         int want_s)
{
	double ssum = 0;
	float lo = k->lo, hi = k->hi, z = k->z, S = k->S;
	int rm = k->rm, trm = k->trm, relu = k->relu, op = k->op;
	for (int64_t i0 = 0; i0 < len; i0 += 1024) {
		int64_t i1 = i0 + 1024 < len ? i0 + 1024 : len;
		float part = 0;
		#pragma omp simd reduction(+:part)
		for (int64_t i = i0; i < i1; i++) {
			float xi = x[i], g = dy[i], pass, d;
			if (op == OP_BIPOLAR) {
				float u = xi / sc, au = u < 0 ? -u : u;
				pass = au <= 1 ? 1.0f : 0.0f;
				d = (xi >= 0 ? 1.0f : -1.0f) - pass * u;
			} else if (op == OP_TRUNC) {
				float r = rintf(xi / sc + z);
				pass = 1.0f / S;
				d = (qround(r / S, trm) - z) - xi / (S * sc);
			} else {
				float v = relu ? RELU(xi) : xi;
				float u = v / sc + z, q = qround(u, rm);
				int in = q >= lo && q <= hi && (!relu || xi > 0);
				pass = in ? 1.0f : 0.0f;
				d = q < lo ? lo - z : q > hi ? hi - z : q - u;
			}
			if (dx)
				dx[i] = acc ? dx[i] + pass * g : pass * g;
			part += g * d;
		}
		ssum += part;
	}
	return want_s ? ssum : 0;
}

static qk q_kernel(const nn_node *nd)
{
	qk k = {nd->op, nd->a.q.rounding, nd->a.q.trunc_rounding, nd->fuse_relu, (float)nd->a.q.lo,
	        (float)nd->a.q.hi, (float)nd->a.q.zp, (float)nd->a.q.s_div};
	return k;
}

HOT static void quant_fwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out), *s = T(nd->in[1]);
	qk k = q_kernel(nd);
	qlay l = q_layout(nd, &x->v);
	int64_t tot = nimg(x, n) * x->v.numel;
	const float *sv = s->val, *xv = x->val;
	float *yv = y->val;
	if (l.ns == 1)
		l.run = 4096; /* one scale: chunks */
	if (l.run == 1 && k.op == OP_QUANT && k.rm == 0 && !k.relu) {
		/* per channel, channels innermost: a vector loop per pixel */
		int64_t np = tot / l.ns, C = l.ns;
		float lo = k.lo, hi = k.hi, z = k.z;
		#pragma omp parallel for schedule(static) num_threads(nthr(tot))
		for (int64_t p = 0; p < np; p++) {
			const float *xp = xv + p * C;
			float *yp = yv + p * C;
			#pragma omp simd
			for (int64_t c = 0; c < C; c++) {
				float q = rintf(xp[c] / sv[c] + z);
				q = CLAMP(q, lo, hi);
				yp[c] = (q - z) * sv[c];
			}
		}
		return;
	}
	int64_t nrun = (tot + l.run - 1) / l.run;
	#pragma omp parallel for schedule(static) num_threads(nthr(tot))
	for (int64_t r = 0; r < nrun; r++) {
		int64_t len = r * l.run + l.run <= tot ? l.run : tot - r * l.run;
		q_span_fwd(&k, xv + r * l.run, yv + r * l.run, len, sv[r % l.ns]);
	}
}

HOT static void quant_bwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out), *s = T(nd->in[1]);
	qk k = q_kernel(nd);
	qlay l = q_layout(nd, &x->v);
	int64_t tot = nimg(x, n) * x->v.numel;
	if (l.ns == 1)
		l.run = 4096; /* one scale: chunks */
	int64_t nrun = (tot + l.run - 1) / l.run;
	const float *sv = s->val, *xv = x->val, *dy = y->grad;
	int gx = need(net, nd->in[0]), acc = gx ? gacc(net, nd->in[0]) : 0;
	float *dx = gx ? x->grad : NULL;
	int want_s = s->scmode == SC_LEARNED && s->rg && s->param >= 0;
	if (!gx && !want_s)
		return;
	int64_t ns = l.ns;
	int nt = nthr(tot);
	double *acc_s = nash_alloc((size_t)nt * (size_t)ns * sizeof *acc_s);
	if (l.run == 1) {
		/* per channel, channels innermost */
		int64_t np = tot / ns;
		#pragma omp parallel num_threads(nt)
		{
			int t = omp_get_thread_num(), T_ = omp_get_num_threads();
			int64_t lo = np * t / T_, hi = np * (t + 1) / T_;
			double *as = acc_s + (size_t)t * (size_t)ns;
			for (int64_t p = lo; p < hi; p++)
				for (int64_t c = 0; c < ns; c++)
					as[c] += q_span_bwd(&k, xv + p * ns + c, dy + p * ns + c, dx ? dx + p * ns + c : NULL, 1,
					                    sv[c], acc, want_s);
		}
	} else {
		#pragma omp parallel num_threads(nt)
		{
			int t = omp_get_thread_num(), T_ = omp_get_num_threads();
			int64_t lo = nrun * t / T_, hi = nrun * (t + 1) / T_;
			double *as = acc_s + (size_t)t * (size_t)ns;
			for (int64_t r = lo; r < hi; r++) {
				int64_t len = r * l.run + l.run <= tot ? l.run : tot - r * l.run;
				as[r % ns] += q_span_bwd(&k, xv + r * l.run, dy + r * l.run, dx ? dx + r * l.run : NULL, len,
				                         sv[r % ns], acc, want_s);
			}
		}
	}
	if (want_s) {
		/* LSQ gradient in the log2 domain: dL/du = dL/ds * s * ln 2 */
		nash_param *p = &net->params[s->param];
		for (int64_t si = 0; si < ns; si++) {
			double sum = 0;
			for (int t = 0; t < nt; t++)
				sum += acc_s[(size_t)t * (size_t)ns + (size_t)si];
			p->g[si] += (float)(sum * sv[si] * M_LN2);
		}
	}
	free(acc_s);
}

/* ---------------------------------------------------------------- Gemm */
static void gemm_fwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *x = T(nd->in[0]), *w = T(nd->in[1]), *y = T(nd->out);
	int64_t K = nd->a.gemm.k, M = nd->a.gemm.m;
	int tb = nd->a.gemm.transb;
	nn_sgemm(net, 'N', tb ? 'T' : 'N', n, M, K, nd->a.gemm.alpha, x->val, K, w->val, tb ? K : M, 0.0f,
	         y->val, M);
	if (nd->in[2] >= 0) {
		const float *bv = T(nd->in[2])->val;
		float beta = nd->a.gemm.beta;
		int64_t nb = T(nd->in[2])->v.numel;
		for (int b = 0; b < n; b++)
			for (int64_t j = 0; j < M; j++)
				y->val[b * M + j] += beta * bv[nb == 1 ? 0 : j];
	}
}

static void gemm_bwd(nash_net *net, nn_node *nd, int n)
{
	nn_tensor *x = T(nd->in[0]), *w = T(nd->in[1]), *y = T(nd->out);
	int64_t K = nd->a.gemm.k, M = nd->a.gemm.m;
	int tb = nd->a.gemm.transb;
	float al = nd->a.gemm.alpha;
	if (need(net, nd->in[0])) {
		int acc = gacc(net, nd->in[0]);
		/* dx (n x K) = al * dy (n x M) * W' where W' is M x K */
		nn_sgemm(net, 'N', tb ? 'N' : 'T', n, K, M, al, y->grad, M, w->val, tb ? K : M, acc ? 1.0f : 0.0f,
		         x->grad, K);
	}
	if (need(net, nd->in[1])) {
		float beta = gacc(net, nd->in[1]) ? 1.0f : 0.0f;
		if (tb) /* dW (M x K) = al * dy' x */
			nn_sgemm(net, 'T', 'N', M, K, n, al, y->grad, M, x->val, K, beta, w->grad, K);
		else    /* dW (K x M) = al * x' dy */
			nn_sgemm(net, 'T', 'N', K, M, n, al, x->val, K, y->grad, M, beta, w->grad, M);
	}
	if (nd->in[2] >= 0 && need(net, nd->in[2])) {
		nn_tensor *bt = T(nd->in[2]);
		int acc = gacc(net, nd->in[2]);
		int64_t nb = bt->v.numel;
		float beta = nd->a.gemm.beta;
		if (!acc)
			memset(bt->grad, 0, (size_t)nb * sizeof(float));
		for (int64_t j = 0; j < M; j++) {
			double s = 0;
			for (int b = 0; b < n; b++)
				s += y->grad[b * M + j];
			bt->grad[nb == 1 ? 0 : j] += (float)(beta * s);
		}
	}
}

/* -------------------------------------------------- shape-only ops */
static void concat_run(nash_net *net, nn_node *nd, int n, int bwd)
{
	nn_tensor *y = T(nd->out);
	int ax = nd->a.cat.axis;
	int64_t off = 0;
	for (int i = 0; i < nd->nin; i++) {
		nn_tensor *x = T(nd->in[i]);
		if (!bwd)
			strided(y->val + off * y->v.st[ax], y->v.st, y->v.bs, x->val, x->v.st, x->v.bs, x->v.d, x->v.r,
			        (int)nimg(y, n), 0);
		else if (need(net, nd->in[i])) {
			/* the same input twice adds both parts */
			int acc = gacc(net, nd->in[i]);
			strided(x->grad, x->v.st, x->v.bs, y->grad + off * y->v.st[ax], y->v.st, y->v.bs, x->v.d,
			        x->v.r, (int)nimg(y, n), acc);
		}
		off += x->v.d[ax];
	}
}

static void slice_run(nash_net *net, nn_node *nd, int n, int bwd)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out);
	int64_t off = 0, st[NN_MAXD];
	for (int i = 0; i < x->v.r; i++) {
		off += nd->a.sl.start[i] * x->v.st[i];
		st[i] = x->v.st[i] * nd->a.sl.step[i];
	}
	if (!bwd) {
		strided(y->val, y->v.st, y->v.bs, x->val + off, st, x->v.bs, y->v.d, y->v.r, (int)nimg(y, n), 0);
		return;
	}
	if (!need(net, nd->in[0]))
		return;
	int acc = gacc(net, nd->in[0]);
	if (!acc)
		memset(x->grad, 0, (size_t)(nimg(x, n) * x->v.numel) * sizeof(float));
	strided(x->grad + off, st, x->v.bs, y->grad, y->v.st, y->v.bs, y->v.d, y->v.r, (int)nimg(y, n), 1);
}

static void pad_run(nash_net *net, nn_node *nd, int n, int bwd)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out);
	int r = x->v.r;
	int64_t xo = 0, yo = 0, box[NN_MAXD];
	for (int i = 0; i < r; i++) {
		int64_t b = nd->a.pad.begin[i];
		int64_t xs = b < 0 ? -b : 0, ys = b > 0 ? b : 0;
		int64_t len = x->v.d[i] - xs;
		if (len > y->v.d[i] - ys)
			len = y->v.d[i] - ys;
		box[i] = len > 0 ? len : 0;
		xo += xs * x->v.st[i];
		yo += ys * y->v.st[i];
	}
	int64_t nbox = nash_shape_numel(r, box);
	if (!bwd) {
		int64_t m = nimg(y, n) * y->v.numel;
		float v = nd->a.pad.value;
		for (int64_t i = 0; i < m; i++)
			y->val[i] = v;
		if (nbox > 0)
			strided(y->val + yo, y->v.st, y->v.bs, x->val + xo, x->v.st, x->v.bs, box, r, (int)nimg(y, n), 0);
		return;
	}
	if (!need(net, nd->in[0]))
		return;
	int acc = gacc(net, nd->in[0]);
	if (!acc)
		memset(x->grad, 0, (size_t)(nimg(x, n) * x->v.numel) * sizeof(float));
	if (nbox > 0)
		strided(x->grad + xo, x->v.st, x->v.bs, y->grad + yo, y->v.st, y->v.bs, box, r, (int)nimg(y, n), 1);
}

static void flatten_run(nash_net *net, nn_node *nd, int n, int bwd)
{
	nn_tensor *x = T(nd->in[0]), *y = T(nd->out);
	nn_view rm;
	nn_view_rowmajor(&rm, x->v.r, x->v.d);
	rm.bs = y->v.bs;
	int64_t m = nimg(y, n) * y->v.numel;
	if (same_layout(&rm, &x->v) || x->v.numel == (x->v.r ? x->v.d[0] : 1)) {
		if (!bwd)
			memcpy(y->val, x->val, (size_t)m * sizeof(float));
		else if (need(net, nd->in[0]))
			copy_or_add(x->grad, y->grad, m, gacc(net, nd->in[0]));
		return;
	}
	if (!bwd)
		strided(y->val, rm.st, rm.bs, x->val, x->v.st, x->v.bs, x->v.d, x->v.r, (int)nimg(y, n), 0);
	else if (need(net, nd->in[0]))
		strided(x->grad, x->v.st, x->v.bs, y->grad, rm.st, rm.bs, x->v.d, x->v.r, (int)nimg(y, n),
		        gacc(net, nd->in[0]));
}

/* ------------------------------------------------------------ dispatch */
int nn_forward_node(nash_net *net, nn_node *nd, int n, int mode, nash_err *e)
{
	nn_tensor *y = T(nd->out);
	int64_t m = nimg(y, n) * y->v.numel;
	switch (nd->op) {
	case OP_CONV:
		return nn_conv_fwd(net, nd, n, e);
	case OP_GEMM:
		gemm_fwd(net, nd, n);
		break;
	case OP_BN:
		bn_fwd(net, nd, n, mode);
		break;
	case OP_RELU:
		relu_fwd(T(nd->in[0])->val, y->val, m);
		break;
	case OP_HARDTANH:
		hardtanh_fwd(T(nd->in[0])->val, y->val, m, nd->a.ht.lo, nd->a.ht.hi);
		break;
	case OP_MAXPOOL:
	case OP_AVGPOOL:
		pool_fwd(&nd->a.pool, T(nd->in[0])->val, y->val, n, nd->op == OP_MAXPOOL);
		break;
	case OP_GAP: {
		nn_tensor *x = T(nd->in[0]);
		int64_t C = x->v.d[0];
		gap_fwd(x->val, y->val, n, x->v.numel / C, C);
		break;
	}
	case OP_ADD:
	case OP_MUL:
		binary_fwd(net, nd, n);
		break;
	case OP_CONCAT:
		concat_run(net, nd, n, 0);
		break;
	case OP_FLATTEN:
		flatten_run(net, nd, n, 0);
		break;
	case OP_SLICE:
		slice_run(net, nd, n, 0);
		break;
	case OP_PAD:
		pad_run(net, nd, n, 0);
		break;
	case OP_IDENTITY:
		memcpy(y->val, T(nd->in[0])->val, (size_t)m * sizeof(float));
		break;
	case OP_QUANT:
	case OP_BIPOLAR:
	case OP_TRUNC:
		quant_fwd(net, nd, n);
		break;
	default:
		return nash_fail(e, "node %s (%s): no forward kernel", nd->n->name, nd->n->op);
	}
	return 0;
}

int nn_backward_node(nash_net *net, nn_node *nd, int n, int mode, nash_err *e)
{
	nn_tensor *y = T(nd->out);
	int64_t m = nimg(y, n) * y->v.numel;
	(void)mode;
	switch (nd->op) {
	case OP_CONV: {
		int gx = need(net, nd->in[0]) ? 1 + gacc(net, nd->in[0]) : 0;
		int gw = need(net, nd->in[1]) ? 1 + gacc(net, nd->in[1]) : 0;
		int gb = nd->in[2] >= 0 && need(net, nd->in[2]) ? 1 + gacc(net, nd->in[2]) : 0;
		return nn_conv_bwd(net, nd, n, gx, gw, gb, e);
	}
	case OP_GEMM:
		gemm_bwd(net, nd, n);
		break;
	case OP_BN:
		bn_bwd(net, nd, n);
		break;
	case OP_RELU:
		if (need(net, nd->in[0]))
			relu_bwd(y->val, y->grad, T(nd->in[0])->grad, m, gacc(net, nd->in[0]));
		break;
	case OP_HARDTANH:
		if (need(net, nd->in[0]))
			hardtanh_bwd(T(nd->in[0])->val, y->grad, T(nd->in[0])->grad, m, nd->a.ht.lo, nd->a.ht.hi,
			             gacc(net, nd->in[0]));
		break;
	case OP_MAXPOOL:
	case OP_AVGPOOL:
		if (need(net, nd->in[0]))
			pool_bwd(&nd->a.pool, T(nd->in[0])->val, y->val, y->grad, T(nd->in[0])->grad, n,
			         nd->op == OP_MAXPOOL, gacc(net, nd->in[0]));
		break;
	case OP_GAP:
		if (need(net, nd->in[0])) {
			nn_tensor *x = T(nd->in[0]);
			int64_t C = x->v.d[0];
			gap_bwd(y->grad, x->grad, n, x->v.numel / C, C, gacc(net, nd->in[0]));
		}
		break;
	case OP_ADD:
	case OP_MUL:
		binary_bwd(net, nd, n);
		break;
	case OP_CONCAT:
		concat_run(net, nd, n, 1);
		break;
	case OP_FLATTEN:
		flatten_run(net, nd, n, 1);
		break;
	case OP_SLICE:
		slice_run(net, nd, n, 1);
		break;
	case OP_PAD:
		pad_run(net, nd, n, 1);
		break;
	case OP_IDENTITY:
		if (need(net, nd->in[0]))
			copy_or_add(T(nd->in[0])->grad, y->grad, m, gacc(net, nd->in[0]));
		break;
	case OP_QUANT:
	case OP_BIPOLAR:
	case OP_TRUNC:
		quant_bwd(net, nd, n);
		break;
	default:
		return nash_fail(e, "node %s (%s): no backward kernel", nd->n->name, nd->n->op);
	}
	return 0;
}
