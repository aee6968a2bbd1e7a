/* eval.c - accuracy, loss, confusion matrix of a float (or fake-quant)
 * net over a dataset split. */
#include "train/train.h"

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

int nash_evaluate(nash_net *net, int batch, const nash_dataset *d, const nash_split *s, int64_t limit, int detail,
                  nash_evalres *r, nash_err *e)
{
	int64_t n = limit > 0 && limit < s->n ? limit : s->n;
	memset(r, 0, sizeof *r);
	r->classes = d->classes;
	if (detail) {
		r->confusion = nash_alloc(sizeof *r->confusion * (size_t)d->classes * (size_t)d->classes);
		r->pred = nash_alloc(sizeof *r->pred * (size_t)(n > 0 ? n : 1));
		r->class_n = nash_alloc(sizeof(int64_t) * (size_t)d->classes);
		r->class_top1 = nash_alloc(sizeof(int64_t) * (size_t)d->classes);
		r->class_top5 = nash_alloc(sizeof(int64_t) * (size_t)d->classes);
	}
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
			int rank = nash_score_rank(l, k, y[i]);
			r->top1 += rank < 1;
			r->top5 += rank < 5;
			double mx = l[0];
			for (int j = 1; j < k; j++)
				mx = l[j] > mx ? l[j] : mx;
			double se = 0;
			for (int j = 0; j < k; j++)
				se += exp((double)l[j] - mx);
			loss += mx + log(se) - l[y[i]];
			if (detail) {
				int p = 0;
				for (int j = 1; j < k; j++)
					if (l[j] > l[p])
						p = j;
				r->pred[at + i] = p;
				r->confusion[(size_t)y[i] * k + p]++;
				r->class_n[y[i]]++;
				r->class_top1[y[i]] += rank < 1;
				r->class_top5[y[i]] += rank < 5;
			}
		}
		r->n += m;
	}
	r->loss = r->n ? loss / (double)r->n : NAN;
	free(x);
	free(y);
	free(idx);
	if (rc < 0)
		nash_evalres_free(r);
	return rc;
}
