/* dnn.c - convolutions and GEMMs. GEMMs go to oneDNN's dnnl_sgemm; the
 * convolution here is a direct loop over channels-last activations (the
 * reference the oneDNN path is checked against). */
#include "nn/nn_impl.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define T(id) (&net->t[id])

void nn_sgemm(nash_net *net, char ta, char tb, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc)
{
	(void)net;
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++)
				c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
		return;
	}
	dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int nn_dnn_init(nash_net *net, nash_err *e)
{
	(void)net;
	(void)e;
	return 0;
}

void nn_dnn_free(nash_net *net)
{
	(void)net;
}

/* weights M x Cg x KH x KW -> [g][kh][kw][c][mm] */
static float *wt_transpose(const nn_conv *p, const float *w)
{
	int64_t G = p->group, Cg = p->c / G, Mg = p->m / G;
	float *t = nash_alloc((size_t)(p->m * Cg * p->kh * p->kw) * sizeof *t);
	for (int64_t g = 0; g < G; g++)
		for (int64_t mm = 0; mm < Mg; mm++)
			for (int64_t c = 0; c < Cg; c++)
				for (int64_t kh = 0; kh < p->kh; kh++)
					for (int64_t kw = 0; kw < p->kw; kw++)
						t[((((g * p->kh + kh) * p->kw + kw) * Cg + c) * Mg) + mm] =
							w[(((g * Mg + mm) * Cg + c) * p->kh + kh) * p->kw + kw];
	return t;
}

static int conv_fwd_ref(nash_net *net, nn_node *nd, int n)
{
	const nn_conv *p = &nd->a.conv;
	const float *x = T(nd->in[0])->val, *bias = nd->in[2] >= 0 ? T(nd->in[2])->val : NULL;
	float *y = T(nd->out)->val, *wt = wt_transpose(p, T(nd->in[1])->val);
	int64_t G = p->group, Cg = p->c / G, Mg = p->m / G;
	#pragma omp parallel for collapse(2) schedule(static)
	for (int b = 0; b < n; b++)
		for (int64_t oh = 0; oh < p->oh; oh++)
			for (int64_t ow = 0; ow < p->ow; ow++) {
				float *yp = y + ((b * p->oh + oh) * p->ow + ow) * p->m;
				for (int64_t m = 0; m < p->m; m++)
					yp[m] = bias ? bias[m] : 0;
				for (int64_t g = 0; g < G; g++)
					for (int64_t kh = 0; kh < p->kh; kh++) {
						int64_t ih = oh * p->sh - p->pt + kh * p->dh;
						if (ih < 0 || ih >= p->h)
							continue;
						for (int64_t kw = 0; kw < p->kw; kw++) {
							int64_t iw = ow * p->sw - p->pl + kw * p->dw;
							if (iw < 0 || iw >= p->w)
								continue;
							const float *xp = x + ((b * p->h + ih) * p->w + iw) * p->c + g * Cg;
							const float *wp = wt + ((g * p->kh + kh) * p->kw + kw) * Cg * Mg;
							float *yg = yp + g * Mg;
							for (int64_t c = 0; c < Cg; c++) {
								float xv = xp[c];
								const float *wr = wp + c * Mg;
								#pragma omp simd
								for (int64_t mm = 0; mm < Mg; mm++)
									yg[mm] += xv * wr[mm];
							}
						}
					}
			}
	free(wt);
	return 0;
}

static int conv_bwd_ref(nash_net *net, nn_node *nd, int n, int gx, int gw, int gb)
{
	const nn_conv *p = &nd->a.conv;
	const float *x = T(nd->in[0])->val, *dy = T(nd->out)->grad;
	int64_t G = p->group, Cg = p->c / G, Mg = p->m / G, KK = p->kh * p->kw;
	if (gx) {
		float *dx = T(nd->in[0])->grad, *wt = wt_transpose(p, T(nd->in[1])->val);
		#pragma omp parallel for schedule(static)
		for (int b = 0; b < n; b++) {
			float *dxb = dx + b * p->h * p->w * p->c;
			if (gx == 1)
				memset(dxb, 0, (size_t)(p->h * p->w * p->c) * sizeof *dxb);
			for (int64_t oh = 0; oh < p->oh; oh++)
				for (int64_t ow = 0; ow < p->ow; ow++) {
					const float *gp = dy + ((b * p->oh + oh) * p->ow + ow) * p->m;
					for (int64_t g = 0; g < G; g++)
						for (int64_t kh = 0; kh < p->kh; kh++) {
							int64_t ih = oh * p->sh - p->pt + kh * p->dh;
							if (ih < 0 || ih >= p->h)
								continue;
							for (int64_t kw = 0; kw < p->kw; kw++) {
								int64_t iw = ow * p->sw - p->pl + kw * p->dw;
								if (iw < 0 || iw >= p->w)
									continue;
								float *dp = dxb + (ih * p->w + iw) * p->c + g * Cg;
								const float *wp = wt + ((g * p->kh + kh) * p->kw + kw) * Cg * Mg;
								const float *gg = gp + g * Mg;
								for (int64_t c = 0; c < Cg; c++) {
									const float *wr = wp + c * Mg;
									float s = 0;
									#pragma omp simd reduction(+:s)
									for (int64_t mm = 0; mm < Mg; mm++)
										s += gg[mm] * wr[mm];
									dp[c] += s;
								}
							}
						}
				}
		}
		free(wt);
	}
	if (gw) {
		nn_tensor *wt_ = T(nd->in[1]);
		int acc = gw == 2;
		float *tmp = nash_alloc((size_t)(G * KK * Cg * Mg) * sizeof *tmp);
		#pragma omp parallel for collapse(2) schedule(static)
		for (int64_t g = 0; g < G; g++)
			for (int64_t kk = 0; kk < KK; kk++) {
				int64_t kh = kk / p->kw, kw = kk % p->kw;
				for (int64_t c = 0; c < Cg; c++) {
					float *tr = tmp + ((g * KK + kk) * Cg + c) * Mg;
					for (int b = 0; b < n; b++)
						for (int64_t oh = 0; oh < p->oh; oh++) {
							int64_t ih = oh * p->sh - p->pt + kh * p->dh;
							if (ih < 0 || ih >= p->h)
								continue;
							for (int64_t ow = 0; ow < p->ow; ow++) {
								int64_t iw = ow * p->sw - p->pl + kw * p->dw;
								if (iw < 0 || iw >= p->w)
									continue;
								float xv = x[((b * p->h + ih) * p->w + iw) * p->c + g * Cg + c];
								const float *gg = dy + ((b * p->oh + oh) * p->ow + ow) * p->m + g * Mg;
								#pragma omp simd
								for (int64_t mm = 0; mm < Mg; mm++)
									tr[mm] += xv * gg[mm];
							}
						}
				}
			}
		float *dw = wt_->grad;
		for (int64_t g = 0; g < G; g++)
			for (int64_t mm = 0; mm < Mg; mm++)
				for (int64_t c = 0; c < Cg; c++)
					for (int64_t kk = 0; kk < KK; kk++) {
						float v = tmp[((g * KK + kk) * Cg + c) * Mg + mm];
						float *d = &dw[((g * Mg + mm) * Cg + c) * KK + kk];
						*d = acc ? *d + v : v;
					}
		free(tmp);
	}
	if (gb) {
		nn_tensor *bt = T(nd->in[2]);
		int acc = gb == 2;
		for (int64_t m = 0; m < p->m; m++) {
			double s = 0;
			for (int64_t i = 0; i < (int64_t)n * p->oh * p->ow; i++)
				s += dy[i * p->m + m];
			bt->grad[m] = acc ? bt->grad[m] + (float)s : (float)s;
		}
	}
	return 0;
}

int nn_conv_fwd(nash_net *net, nn_node *nd, int n, nash_err *e)
{
	(void)e;
	return conv_fwd_ref(net, nd, n);
}

int nn_conv_bwd(nash_net *net, nn_node *nd, int n, int gx, int gw, int gb, nash_err *e)
{
	(void)e;
	return conv_bwd_ref(net, nd, n, gx, gw, gb);
}
