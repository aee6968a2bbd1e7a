/* dnn.c - convolutions and GEMMs on oneDNN. Convolutions run oneDNN's
 * forward, backward-data and backward-weights primitives on the
 * channels-last activations (nhwc), created once per node and batch size
 * and reused; weights are reordered to the layout each primitive prefers
 * once per parameter version. In bfloat16 mode (nash_net_bf16) the
 * backward-data convolutions, and the forward ones of Choice candidates
 * evaluated for their gates, take bf16 copies of their activations and
 * weights and accumulate and write f32. GEMMs use dnnl_sgemm. Direct loops remain as
 * the fallback when oneDNN cannot build a primitive, and with
 * NASH_NN_NO_DNNL=1 in the environment (a debugging aid). */
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


/* ------------------------------------------------------------- oneDNN */
#define NCACHE 3

/* A node's weights in one layout, shared by its batch-size entries:
 * refreshed once per parameter version. */
typedef struct wslot {
	dnnl_memory_desc_t md;
	float *p;
	int64_t stamp;
} wslot;

typedef struct centry {
	int n;
	int64_t used;
	dnnl_primitive_t fwd, bwdd, bwdw;
	dnnl_primitive_t r_fwd, r_bwdd, r_dw;  /* weight reorders, NULL if formats match */
	dnnl_memory_desc_t src, dst, wuser, bias, wfwd, wbwdd, wdw;
	int sf, sb, sd;                         /* slots of the fwd / bwd-data / bwd-weights layouts */
	/* bfloat16 mode, built on first use (h16: 1 built, -1 refused) */
	int h16;
	dnnl_primitive_t fwd16, bwdd16, r_fwd16, r_bwdd16;
	dnnl_memory_desc_t src16, dst16, wfwd16, wbwdd16;
	int sf16, sb16;
} centry;

#define NSLOT (5 * NCACHE)
struct nn_dnn {
	centry c[NCACHE];
	wslot s[NSLOT];
	int nslot;
	int fallback;      /* oneDNN refused: direct loops */
};

typedef struct nn_dnn_ctx {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	void *scratch;
	size_t scratch_size;
	float *tmp;        /* activation-sized accumulation buffer */
	size_t tmp_size;
	float *wtmp;       /* weight-sized buffer */
	size_t wtmp_size;
	uint16_t *a16;     /* bfloat16 copy of an activation or its gradient */
	size_t a16_size;
	int a16_tensor;    /* ... of this tensor (-1: none or a gradient) */
	int64_t a16_gen;   /* ... in this gate evaluation (nn_bf16_gen) */
	int64_t clock;
	int off;           /* NASH_NN_NO_DNNL */
} nn_dnn_ctx;

static float *grow(nash_net *net, float **p, size_t *have, size_t want)
{
	if (want > *have) {
		free(*p);
		net->bytes += (want - *have) * sizeof(float);
		*p = nash_alloc(want * sizeof(float));
		*have = want;
	}
	return *p;
}

int nn_dnn_init(nash_net *net, nash_err *e)
{
	nn_dnn_ctx *c = nash_alloc(sizeof *c);
	net->dnn = c;
	c->a16_tensor = -1;
	const char *off = getenv("NASH_NN_NO_DNNL");
	c->off = off && *off && strcmp(off, "0") != 0;
	if (c->off)
		return 0;
	if (dnnl_engine_create(&c->eng, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&c->strm, c->eng, dnnl_stream_default_flags) != dnnl_success)
		return nash_fail(e, "oneDNN: cannot create a CPU engine");
	for (int i = 0; i < net->nnodes; i++)
		if (net->nodes[i].op == OP_CONV)
			net->nodes[i].dnn = nash_alloc(sizeof(struct nn_dnn));
	return 0;
}

static void centry_free(centry *c)
{
	dnnl_primitive_t *ps[] = {&c->fwd, &c->bwdd, &c->bwdw, &c->r_fwd, &c->r_bwdd, &c->r_dw,
	                          &c->fwd16, &c->bwdd16, &c->r_fwd16, &c->r_bwdd16};
	for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
		if (*ps[i])
			dnnl_primitive_destroy(*ps[i]);
	memset(c, 0, sizeof *c);
	c->sf = c->sb = c->sd = c->sf16 = c->sb16 = -1;
}

/* The node's buffer for weights in layout md (created on first use). */
static int slot_for(nash_net *net, struct nn_dnn *d, const dnnl_memory_desc_t *md)
{
	for (int k = 0; k < d->nslot; k++)
		if (dnnl_memory_desc_equal(&d->s[k].md, md))
			return k;
	if (d->nslot == NSLOT)
		return -1;
	wslot *w = &d->s[d->nslot];
	w->md = *md;
	w->p = nn_falloc(net, dnnl_memory_desc_get_size(md) / sizeof(float) + 16);
	w->stamp = -1;
	return d->nslot++;
}

void nn_dnn_free(nash_net *net)
{
	nn_dnn_ctx *c = net->dnn;
	if (!c)
		return;
	for (int i = 0; i < net->nnodes; i++) {
		struct nn_dnn *d = net->nodes[i].dnn;
		if (!d)
			continue;
		for (int k = 0; k < NCACHE; k++)
			centry_free(&d->c[k]);
		for (int k = 0; k < d->nslot; k++)
			free(d->s[k].p);
		free(d);
		net->nodes[i].dnn = NULL;
	}
	if (c->strm)
		dnnl_stream_destroy(c->strm);
	if (c->eng)
		dnnl_engine_destroy(c->eng);
	free(c->scratch);
	free(c->tmp);
	free(c->wtmp);
	free(c->a16);
	free(c);
	net->dnn = NULL;
}

static int scratch_need(nash_net *net, const_dnnl_primitive_desc_t pd)
{
	nn_dnn_ctx *c = net->dnn;
	const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	size_t sz = md ? dnnl_memory_desc_get_size(md) : 0;
	if (sz > c->scratch_size) {
		free(c->scratch);
		net->bytes += sz - c->scratch_size;
		c->scratch = nash_alloc(sz);
		c->scratch_size = sz;
	}
	return 0;
}

/* A reorder between two weight layouts, NULL when they are equal. */
static dnnl_status_t make_reorder(nash_net *net, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                  dnnl_primitive_t *out)
{
	nn_dnn_ctx *c = net->dnn;
	*out = NULL;
	if (dnnl_memory_desc_equal(from, to))
		return dnnl_success;
	dnnl_primitive_desc_t pd;
	dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, c->eng, to, c->eng, NULL);
	if (st != dnnl_success)
		return st;
	st = dnnl_primitive_create(out, pd);
	dnnl_primitive_desc_destroy(pd);
	return st;
}

static void pds_free(dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd, int n)
{
	for (int i = 0; i < n; i++)
		if (pd[i])
			dnnl_primitive_desc_destroy(pd[i]);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
}

static dnnl_status_t build(nash_net *net, nn_node *nd, int n, centry *ce)
{
	struct nn_dnn *d = nd->dnn;
	nn_dnn_ctx *c = net->dnn;
	const nn_conv *p = &nd->a.conv;
	int64_t G = p->group;
	dnnl_dims_t sd = {n, p->c, p->h, p->w}, dd = {n, p->m, p->oh, p->ow}, bd = {p->m};
	dnnl_dims_t wd = {p->m, p->c, p->kh, p->kw}, gwd = {G, p->m / G, p->c / G, p->kh, p->kw};
	dnnl_dims_t strides = {p->sh, p->sw}, dil = {p->dh - 1, p->dw - 1}, pl = {p->pt, p->pl}, pr = {p->pb, p->pr};
	dnnl_memory_desc_t wany, dwany;
	int wn = G > 1 ? 5 : 4;
	dnnl_status_t st;
	ce->sf = ce->sb = ce->sd = ce->sf16 = ce->sb16 = -1;
	ce->h16 = 0;
	int has_bias = nd->in[2] >= 0;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t fpd = NULL, bdpd = NULL, bwpd = NULL;
	dnnl_convolution_desc_t cd;
#define TRY(x) do { if ((st = (x)) != dnnl_success) goto out; } while (0)
	ce->n = n;
	TRY(dnnl_memory_desc_init_by_tag(&ce->src, 4, sd, dnnl_f32, dnnl_nhwc));
	TRY(dnnl_memory_desc_init_by_tag(&ce->dst, 4, dd, dnnl_f32, dnnl_nhwc));
	TRY(dnnl_memory_desc_init_by_tag(&ce->bias, 1, bd, dnnl_f32, dnnl_a));
	TRY(dnnl_memory_desc_init_by_tag(&ce->wuser, wn, G > 1 ? gwd : wd, dnnl_f32, G > 1 ? dnnl_goihw : dnnl_oihw));
	TRY(dnnl_memory_desc_init_by_tag(&wany, wn, G > 1 ? gwd : wd, dnnl_f32, dnnl_format_tag_any));
	dwany = wany;
	TRY(dnnl_primitive_attr_create(&attr));
	TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
	TRY(dnnl_dilated_convolution_forward_desc_init(&cd, net->o.train ? dnnl_forward_training : dnnl_forward_inference,
	                                               dnnl_convolution_direct, &ce->src, &wany,
	                                               has_bias ? &ce->bias : NULL, &ce->dst, strides, dil, pl, pr));
	TRY(dnnl_primitive_desc_create(&fpd, &cd, attr, c->eng, NULL));
	ce->wfwd = *dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
	scratch_need(net, fpd);
	TRY(dnnl_primitive_create(&ce->fwd, fpd));
	TRY(make_reorder(net, &ce->wuser, &ce->wfwd, &ce->r_fwd));
	if (ce->r_fwd && (ce->sf = slot_for(net, d, &ce->wfwd)) < 0)
		TRY(dnnl_out_of_memory);
	if (net->o.train) {
		dnnl_convolution_desc_t bd_, bw_;
		TRY(dnnl_dilated_convolution_backward_data_desc_init(&bd_, dnnl_convolution_direct, &ce->src, &wany, &ce->dst,
		                                                     strides, dil, pl, pr));
		TRY(dnnl_primitive_desc_create(&bdpd, &bd_, attr, c->eng, fpd));
		ce->wbwdd = *dnnl_primitive_desc_query_md(bdpd, dnnl_query_weights_md, 0);
		scratch_need(net, bdpd);
		TRY(dnnl_primitive_create(&ce->bwdd, bdpd));
		TRY(make_reorder(net, &ce->wuser, &ce->wbwdd, &ce->r_bwdd));
		if (ce->r_bwdd && (ce->sb = slot_for(net, d, &ce->wbwdd)) < 0)
			TRY(dnnl_out_of_memory);
		TRY(dnnl_dilated_convolution_backward_weights_desc_init(&bw_, dnnl_convolution_direct, &ce->src, &dwany,
		                                                        has_bias ? &ce->bias : NULL, &ce->dst, strides,
		                                                        dil, pl, pr));
		TRY(dnnl_primitive_desc_create(&bwpd, &bw_, attr, c->eng, fpd));
		ce->wdw = *dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_weights_md, 0);
		scratch_need(net, bwpd);
		TRY(dnnl_primitive_create(&ce->bwdw, bwpd));
		TRY(make_reorder(net, &ce->wdw, &ce->wuser, &ce->r_dw));
		if (ce->r_dw && (ce->sd = slot_for(net, d, &ce->wdw)) < 0)
			TRY(dnnl_out_of_memory);
	}
out:
#undef TRY
	pds_free(attr, (dnnl_primitive_desc_t[]){fpd, bdpd, bwpd}, 3);
	if (st != dnnl_success)
		centry_free(ce);
	return st;
}

/* The bfloat16 forward and backward-data primitives of an entry: bf16
 * activations and weights in, f32 out. Returns 1 when they exist (built
 * now or before), 0 when oneDNN refused (the entry stays f32). */
static int build16(nash_net *net, nn_node *nd, centry *ce)
{
	if (ce->h16)
		return ce->h16 > 0;
	struct nn_dnn *d = nd->dnn;
	nn_dnn_ctx *c = net->dnn;
	const nn_conv *p = &nd->a.conv;
	int64_t G = p->group;
	dnnl_dims_t sd = {ce->n, p->c, p->h, p->w}, dd = {ce->n, p->m, p->oh, p->ow};
	dnnl_dims_t wd = {p->m, p->c, p->kh, p->kw}, gwd = {G, p->m / G, p->c / G, p->kh, p->kw};
	dnnl_dims_t strides = {p->sh, p->sw}, dil = {p->dh - 1, p->dw - 1}, pl = {p->pt, p->pl}, pr = {p->pb, p->pr};
	dnnl_memory_desc_t wany;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t fpd = NULL, bdpd = NULL;
	dnnl_convolution_desc_t cd, bd_;
	dnnl_status_t st;
	int has_bias = nd->in[2] >= 0;
#define TRY(x) do { if ((st = (x)) != dnnl_success) goto out; } while (0)
	TRY(dnnl_memory_desc_init_by_tag(&ce->src16, 4, sd, dnnl_bf16, dnnl_nhwc));
	TRY(dnnl_memory_desc_init_by_tag(&ce->dst16, 4, dd, dnnl_bf16, dnnl_nhwc));
	TRY(dnnl_memory_desc_init_by_tag(&wany, G > 1 ? 5 : 4, G > 1 ? gwd : wd, dnnl_bf16, dnnl_format_tag_any));
	TRY(dnnl_primitive_attr_create(&attr));
	TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
	TRY(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &ce->src16,
	                                               &wany, has_bias ? &ce->bias : NULL, &ce->dst, strides, dil, pl,
	                                               pr));
	TRY(dnnl_primitive_desc_create(&fpd, &cd, attr, c->eng, NULL));
	ce->wfwd16 = *dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
	scratch_need(net, fpd);
	TRY(dnnl_primitive_create(&ce->fwd16, fpd));
	TRY(make_reorder(net, &ce->wuser, &ce->wfwd16, &ce->r_fwd16));
	if ((ce->sf16 = slot_for(net, d, &ce->wfwd16)) < 0)
		TRY(dnnl_out_of_memory);
	TRY(dnnl_dilated_convolution_backward_data_desc_init(&bd_, dnnl_convolution_direct, &ce->src, &wany,
	                                                     &ce->dst16, strides, dil, pl, pr));
	TRY(dnnl_primitive_desc_create(&bdpd, &bd_, attr, c->eng, fpd));
	ce->wbwdd16 = *dnnl_primitive_desc_query_md(bdpd, dnnl_query_weights_md, 0);
	scratch_need(net, bdpd);
	TRY(dnnl_primitive_create(&ce->bwdd16, bdpd));
	TRY(make_reorder(net, &ce->wuser, &ce->wbwdd16, &ce->r_bwdd16));
	if ((ce->sb16 = slot_for(net, d, &ce->wbwdd16)) < 0)
		TRY(dnnl_out_of_memory);
out:
#undef TRY
	pds_free(attr, (dnnl_primitive_desc_t[]){fpd, bdpd}, 2);
	ce->h16 = st == dnnl_success ? 1 : -1;
	if (st != dnnl_success) {
		dnnl_primitive_t *ps[] = {&ce->fwd16, &ce->bwdd16, &ce->r_fwd16, &ce->r_bwdd16};
		for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
			if (*ps[i]) {
				dnnl_primitive_destroy(*ps[i]);
				*ps[i] = NULL;
			}
	}
	return ce->h16 > 0;
}

int nn_dnn_active(const nash_net *net)
{
	return net->dnn && !((const nn_dnn_ctx *)net->dnn)->off;
}

int nn_bf16_native(void)
{
	return (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

/* f32 -> bfloat16, rounding to nearest even (values are finite here: the
 * forward checks its input, and the loss its gradient). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void bf16_round(uint16_t *o, const uint32_t *u, int64_t m)
{
	#pragma omp parallel for simd schedule(static) num_threads(m >= 32768 ? omp_get_max_threads() : 1)
	for (int64_t i = 0; i < m; i++)
		o[i] = (uint16_t)((u[i] + 0x7fffu + ((u[i] >> 16) & 1u)) >> 16);
}

static uint16_t *to_bf16(nash_net *net, const float *x, int64_t m, int tensor)
{
	nn_dnn_ctx *c = net->dnn;
	/* the candidates of one Choice read the same input: converted once */
	if (tensor >= 0 && c->a16_tensor == tensor && c->a16_gen == net->bf16_gen && (size_t)m <= c->a16_size)
		return c->a16;
	c->a16_tensor = tensor;
	c->a16_gen = net->bf16_gen;
	if ((size_t)m > c->a16_size) {
		free(c->a16);
		net->bytes += ((size_t)m - c->a16_size) * sizeof(uint16_t);
		c->a16 = nash_alloc((size_t)m * sizeof(uint16_t));
		c->a16_size = (size_t)m;
	}
	bf16_round(c->a16, (const uint32_t *)x, m);
	return c->a16;
}

/* The primitives for n images (built on first use, a few sizes cached). */
static centry *entry(nash_net *net, nn_node *nd, int n)
{
	nn_dnn_ctx *c = net->dnn;
	struct nn_dnn *d = nd->dnn;
	if (!d || d->fallback)
		return NULL;
	centry *lru = &d->c[0];
	for (int k = 0; k < NCACHE; k++) {
		if (d->c[k].fwd && d->c[k].n == n) {
			d->c[k].used = ++c->clock;
			return &d->c[k];
		}
		if (!d->c[k].fwd || d->c[k].used < lru->used)
			lru = &d->c[k];
	}
	centry_free(lru);
	if (build(net, nd, n, lru) != dnnl_success) {
		d->fallback = 1;
		return NULL;
	}
	lru->used = ++c->clock;
	return lru;
}

typedef struct { int arg; const dnnl_memory_desc_t *md; void *ptr; } xarg;

static dnnl_status_t run(nash_net *net, dnnl_primitive_t prim, const xarg *a, int na, int scratch)
{
	nn_dnn_ctx *c = net->dnn;
	dnnl_exec_arg_t args[8];
	dnnl_memory_t mem[8];
	dnnl_memory_desc_t smd;
	dnnl_status_t st = dnnl_success;
	int k = 0;
	for (int i = 0; i < na && st == dnnl_success; i++, k++) {
		st = dnnl_memory_create(&mem[k], a[i].md, c->eng, a[i].ptr);
		args[k].arg = a[i].arg;
		args[k].memory = mem[k];
	}
	if (st == dnnl_success && scratch && c->scratch_size) {
		dnnl_dims_t sd = {(dnnl_dim_t)c->scratch_size};
		dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a);
		st = dnnl_memory_create(&mem[k], &smd, c->eng, c->scratch);
		args[k].arg = DNNL_ARG_SCRATCHPAD;
		args[k].memory = mem[k];
		k++;
	}
	if (st == dnnl_success)
		st = dnnl_primitive_execute(prim, c->strm, k, args);
	if (st == dnnl_success)
		st = dnnl_stream_wait(c->strm);
	for (int i = 0; i < k; i++)
		if (mem[i])
			dnnl_memory_destroy(mem[i]);
	return st;
}

/* Weight reorders are small: below 64 K elements they run on one thread
 * (a parallel region costs a barrier, and on a busy machine a barrier
 * waits for a parked thread). */
static dnnl_status_t reorder(nash_net *net, dnnl_primitive_t r, const dnnl_memory_desc_t *from, const void *src,
                             const dnnl_memory_desc_t *to, void *dst)
{
	xarg a[2] = {{DNNL_ARG_FROM, from, (void *)src}, {DNNL_ARG_TO, to, dst}};
	int small = dnnl_memory_desc_get_size(to) < 65536 * sizeof(float), saved = omp_get_max_threads();
	if (small)
		omp_set_num_threads(1);
	dnnl_status_t st = run(net, r, a, 2, 0);
	if (small)
		omp_set_num_threads(saved);
	return st;
}

static void add_into(float *dst, const float *src, int64_t m)
{
	#pragma omp parallel for simd schedule(static) num_threads(m >= 32768 ? omp_get_max_threads() : 1)
	for (int64_t i = 0; i < m; i++)
		dst[i] += src[i];
}

#define DNNL_FAIL(what, st) nash_fail(e, "node %s (Conv): oneDNN %s failed (status %d)", nd->n->name, what, (int)(st))

int nn_conv_fwd(nash_net *net, nn_node *nd, int n, nash_err *e)
{
	centry *ce = net->dnn && !((nn_dnn_ctx *)net->dnn)->off ? entry(net, nd, n) : NULL;
	if (!ce)
		return conv_fwd_ref(net, nd, n);
	const float *w = T(nd->in[1])->val;
	dnnl_status_t st;
	if (net->bf16 && net->bf16_fwd && build16(net, nd, ce)) {
		wslot *ws = &((struct nn_dnn *)nd->dnn)->s[ce->sf16];
		if (ws->stamp != net->version) {
			if ((st = reorder(net, ce->r_fwd16, &ce->wuser, w, &ce->wfwd16, ws->p)) != dnnl_success)
				return DNNL_FAIL("weight reorder", st);
			ws->stamp = net->version;
		}
		const nn_conv *p = &nd->a.conv;
		uint16_t *x16 = to_bf16(net, T(nd->in[0])->val, (int64_t)n * p->h * p->w * p->c, net->bf16_fwd ? nd->in[0] : -1);
		xarg a[4] = {{DNNL_ARG_SRC, &ce->src16, x16},
		             {DNNL_ARG_WEIGHTS, &ce->wfwd16, ws->p},
		             {DNNL_ARG_DST, &ce->dst, T(nd->out)->val},
		             {DNNL_ARG_BIAS, &ce->bias, nd->in[2] >= 0 ? T(nd->in[2])->val : NULL}};
		if ((st = run(net, ce->fwd16, a, nd->in[2] >= 0 ? 4 : 3, 1)) != dnnl_success)
			return DNNL_FAIL("bfloat16 forward", st);
		return 0;
	}
	wslot *ws = ce->r_fwd ? &((struct nn_dnn *)nd->dnn)->s[ce->sf] : NULL;
	if (ws && ws->stamp != net->version) {
		if ((st = reorder(net, ce->r_fwd, &ce->wuser, w, &ce->wfwd, ws->p)) != dnnl_success)
			return DNNL_FAIL("weight reorder", st);
		ws->stamp = net->version;
	}
	xarg a[4] = {{DNNL_ARG_SRC, &ce->src, T(nd->in[0])->val},
	             {DNNL_ARG_WEIGHTS, &ce->wfwd, ws ? ws->p : (void *)w},
	             {DNNL_ARG_DST, &ce->dst, T(nd->out)->val},
	             {DNNL_ARG_BIAS, &ce->bias, nd->in[2] >= 0 ? T(nd->in[2])->val : NULL}};
	if ((st = run(net, ce->fwd, a, nd->in[2] >= 0 ? 4 : 3, 1)) != dnnl_success)
		return DNNL_FAIL("forward", st);
	return 0;
}

int nn_conv_bwd(nash_net *net, nn_node *nd, int n, int gx, int gw, int gb, nash_err *e)
{
	centry *ce = net->dnn && !((nn_dnn_ctx *)net->dnn)->off ? entry(net, nd, n) : NULL;
	if (!ce)
		return conv_bwd_ref(net, nd, n, gx, gw, gb);
	nn_dnn_ctx *c = net->dnn;
	const nn_conv *p = &nd->a.conv;
	nn_tensor *x = T(nd->in[0]), *wt = T(nd->in[1]), *y = T(nd->out);
	dnnl_status_t st;
	struct nn_dnn *d = nd->dnn;
	if (gx && net->bf16 && build16(net, nd, ce)) {
		wslot *ws = &d->s[ce->sb16];
		if (ws->stamp != net->version) {
			if ((st = reorder(net, ce->r_bwdd16, &ce->wuser, wt->val, &ce->wbwdd16, ws->p)) != dnnl_success)
				return DNNL_FAIL("weight reorder", st);
			ws->stamp = net->version;
		}
		int64_t m = (int64_t)n * p->h * p->w * p->c;
		float *dst = gx == 2 ? grow(net, &c->tmp, &c->tmp_size, (size_t)m) : x->grad;
		uint16_t *dy16 = to_bf16(net, y->grad, (int64_t)n * p->oh * p->ow * p->m, -1);
		xarg a[3] = {{DNNL_ARG_DIFF_DST, &ce->dst16, dy16},
		             {DNNL_ARG_WEIGHTS, &ce->wbwdd16, ws->p},
		             {DNNL_ARG_DIFF_SRC, &ce->src, dst}};
		if ((st = run(net, ce->bwdd16, a, 3, 1)) != dnnl_success)
			return DNNL_FAIL("bfloat16 backward data", st);
		if (gx == 2)
			add_into(x->grad, dst, m);
	} else if (gx) {
		wslot *ws = ce->r_bwdd ? &d->s[ce->sb] : NULL;
		if (ws && ws->stamp != net->version) {
			if ((st = reorder(net, ce->r_bwdd, &ce->wuser, wt->val, &ce->wbwdd, ws->p)) != dnnl_success)
				return DNNL_FAIL("weight reorder", st);
			ws->stamp = net->version;
		}
		int64_t m = (int64_t)n * p->h * p->w * p->c;
		float *dst = gx == 2 ? grow(net, &c->tmp, &c->tmp_size, (size_t)m) : x->grad;
		xarg a[3] = {{DNNL_ARG_DIFF_DST, &ce->dst, y->grad},
		             {DNNL_ARG_WEIGHTS, &ce->wbwdd, ws ? ws->p : wt->val},
		             {DNNL_ARG_DIFF_SRC, &ce->src, dst}};
		if ((st = run(net, ce->bwdd, a, 3, 1)) != dnnl_success)
			return DNNL_FAIL("backward data", st);
		if (gx == 2)
			add_into(x->grad, dst, m);
	}
	if (gw || gb) {
		int64_t nw = p->m * (p->c / p->group) * p->kh * p->kw;
		float *wtmp = grow(net, &c->wtmp, &c->wtmp_size, (size_t)(nw + p->m));
		float *dwb = ce->r_dw ? d->s[ce->sd].p : NULL;
		float *dw = gw == 1 && !ce->r_dw ? wt->grad : ce->r_dw ? dwb : wtmp;
		float *db = gb == 1 ? T(nd->in[2])->grad : wtmp + nw;
		xarg a[4] = {{DNNL_ARG_SRC, &ce->src, x->val},
		             {DNNL_ARG_DIFF_DST, &ce->dst, y->grad},
		             {DNNL_ARG_DIFF_WEIGHTS, &ce->wdw, dw},
		             {DNNL_ARG_DIFF_BIAS, &ce->bias, db}};
		if ((st = run(net, ce->bwdw, a, nd->in[2] >= 0 ? 4 : 3, 1)) != dnnl_success)
			return DNNL_FAIL("backward weights", st);
		if (gw) {
			if (ce->r_dw) {
				float *to = gw == 1 ? wt->grad : wtmp;
				if ((st = reorder(net, ce->r_dw, &ce->wdw, dwb, &ce->wuser, to)) != dnnl_success)
					return DNNL_FAIL("weight gradient reorder", st);
				if (gw == 2)
					add_into(wt->grad, wtmp, nw);
			} else if (gw == 2)
				add_into(wt->grad, wtmp, nw);
		}
		if (gb == 2)
			add_into(T(nd->in[2])->grad, wtmp + nw, p->m);
	}
	return 0;
}
