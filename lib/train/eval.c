/* eval.c - accuracy, loss, confusion matrix of a float (or fake-quant)
 * net over a dataset split. */
#include "train/train.h"
#include "hwexec/hwexec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nash_evalres_free(nash_evalres *r)
{
	free(r->confusion);
	free(r->pred);
	free(r->class_n);
	free(r->class_top1);
	free(r->class_top5);
	r->confusion = r->class_n = r->class_top1 = r->class_top5 = NULL;
	r->pred = NULL;
}

const nash_node *nash_graph_hw_node(const nash_graph *g)
{
	static const char *const hw[] = {
		"ConvolutionInputGenerator", "MVAU", "Thresholding", "StreamingMaxPool", "AddStreams",
		"DuplicateStreams", "StreamingConcat", "QuantAvgPool", "LabelSelect", "StreamingFIFO",
		"StreamingDataWidthConverter", NULL
	};
	for (int i = 0; i < g->nnodes; i++)
		for (int k = 0; hw[k]; k++)
			if (!strcmp(g->nodes[i]->op, hw[k]))
				return g->nodes[i];
	return NULL;
}

int nash_score_rank(const float *s, int k, int y)
{
	int r = 0;
	for (int j = 0; j < k; j++)
		r += s[j] > s[y] || (s[j] == s[y] && j < y);
	return r;
}

static void tally(nash_evalres *r, int detail, int64_t at, int y, int rank, int pred)
{
	r->top1 += rank < 1;
	r->top5 += rank < 5;
	if (detail) {
		r->pred[at] = pred;
		r->confusion[(size_t)y * r->classes + pred]++;
		r->class_n[y]++;
		r->class_top1[y] += rank < 1;
		r->class_top5[y] += rank < 5;
	}
	r->n++;
}

static void res_init(nash_evalres *r, const nash_dataset *d, int64_t n, int detail)
{
	memset(r, 0, sizeof *r);
	r->classes = d->classes;
	if (detail) {
		r->confusion = nash_alloc(sizeof *r->confusion * (size_t)d->classes * (size_t)d->classes);
		r->pred = nash_alloc(sizeof *r->pred * (size_t)(n > 0 ? n : 1));
		r->class_n = nash_alloc(sizeof(int64_t) * (size_t)d->classes);
		r->class_top1 = nash_alloc(sizeof(int64_t) * (size_t)d->classes);
		r->class_top5 = nash_alloc(sizeof(int64_t) * (size_t)d->classes);
	}
}

int nash_evaluate_hw(struct nash_hwnet *h, int batch, const nash_dataset *d, const nash_split *s, int64_t limit,
                     int detail, nash_evalres *r, nash_err *e)
{
	int64_t n = limit > 0 && limit < s->n ? limit : s->n;
	res_init(r, d, n, detail);
	r->loss = NAN;
	size_t img = (size_t)d->c * d->h * d->w;
	uint8_t *x = nash_alloc(img * (size_t)batch);
	int *y = nash_alloc(sizeof(int) * (size_t)batch);
	int64_t *idx = nash_alloc(sizeof(int64_t) * (size_t)batch);
	int rc = 0;
	for (int64_t at = 0; at < n && rc == 0; at += batch) {
		int m = (int)(n - at < batch ? n - at : batch);
		for (int i = 0; i < m; i++)
			idx[i] = at + i;
		nash_batch_fill_u8(d, s, idx, m, x, y);
		if (nash_hwnet_run(h, x, m, e) < 0) {
			rc = -1;
			break;
		}
		int k;
		nash_hwout kind;
		const int64_t *out = nash_hwnet_output(h, &k, &kind);
		if (kind == NASH_HWOUT_LOGITS && k != d->classes) {
			rc = nash_fail(e, "the graph gives %d scores per image, the dataset has %d classes", k, d->classes);
			break;
		}
		for (int i = 0; i < m; i++) {
			const int64_t *o = out + (size_t)i * k;
			int rank, pred;
			if (kind == NASH_HWOUT_LOGITS) {
				rank = 0;
				pred = 0;
				for (int j = 0; j < k; j++) {
					rank += o[j] > o[y[i]] || (o[j] == o[y[i]] && j < y[i]);
					if (o[j] > o[pred])
						pred = j;
				}
			} else {
				rank = k > 5 ? k : 5;   /* not listed: beyond top-5 */
				for (int j = 0; j < k; j++)
					if (o[j] == y[i]) {
						rank = j;
						break;
					}
				pred = o[0] >= 0 && o[0] < d->classes ? (int)o[0] : -1;
				if (pred < 0) {
					rc = nash_fail(e, "the graph's LabelSelect output %lld is not a class", (long long)o[0]);
					break;
				}
			}
			tally(r, detail, at + i, y[i], rank, pred);
		}
	}
	free(x);
	free(y);
	free(idx);
	if (rc < 0)
		nash_evalres_free(r);
	return rc;
}

int nash_evaluate(nash_net *net, int batch, const nash_dataset *d, const nash_split *s, int64_t limit, int detail,
                  nash_evalres *r, nash_err *e)
{
	int64_t n = limit > 0 && limit < s->n ? limit : s->n;
	res_init(r, d, n, detail);
	size_t img = (size_t)d->c * d->h * d->w;
	float *x = nash_alloc(sizeof(float) * img * (size_t)batch);
	int *y = nash_alloc(sizeof(int) * (size_t)batch);
	int64_t *idx = nash_alloc(sizeof(int64_t) * (size_t)batch);
	double loss = 0;
	int rc = 0;
	nash_net_train_mode(net, 0);
	for (int64_t at = 0; at < n && rc == 0; at += batch) {
		int m = (int)(n - at < batch ? n - at : batch);
		for (int i = 0; i < m; i++)
			idx[i] = at + i;
		nash_batch_fill(d, s, idx, m, NULL, NULL, x, y);
		if (nash_net_forward(net, x, m, e) < 0) {
			rc = -1;
			break;
		}
		int k;
		const float *lg = nash_net_logits(net, &k);
		if (k != d->classes) {
			rc = nash_fail(e, "the net gives %d scores per image, the dataset has %d classes", k, d->classes);
			break;
		}
		for (int i = 0; i < m; i++) {
			const float *l = lg + (size_t)i * k;
			double mx = l[0];
			int p = 0;
			for (int j = 1; j < k; j++) {
				mx = l[j] > mx ? l[j] : mx;
				if (l[j] > l[p])
					p = j;
			}
			double se = 0;
			for (int j = 0; j < k; j++)
				se += exp((double)l[j] - mx);
			loss += mx + log(se) - l[y[i]];
			tally(r, detail, at + i, y[i], nash_score_rank(l, k, y[i]), p);
		}
	}
	r->loss = r->n ? loss / (double)r->n : NAN;
	free(x);
	free(y);
	free(idx);
	if (rc < 0)
		nash_evalres_free(r);
	return rc;
}
