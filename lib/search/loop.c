/* loop.c - the NASH search loop: alternating first-order bilevel
 * optimisation of a supernet's weights (SGD on the weight half of the
 * training split) and alpha logits (Adam on the architecture half), with
 * an optional expected hardware cost in the architecture loss. Built from
 * lib/train's optimisers, schedules, batchers and checkpoint pieces. */
#include "search/search.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nash_search_defaults(nash_search_opts *o)
{
	memset(o, 0, sizeof *o);
	o->epochs = 1;
	o->batch = 64;
	o->split = 0.5;
	o->relax = NASH_RELAX_SAMPLE;
	o->temperature = 1;
	o->lr = 0.025;
	o->min_lr = 0;
	o->momentum = 0.9;
	o->wd = 3e-4;
	o->clip = 5;
	o->arch_lr = 3e-4;
	o->arch_beta1 = 0;
	o->arch_beta2 = 0.999;
	o->arch_wd = 1e-3;
	o->arch_every = 1;
	o->eval_images = 2000;
	o->derive.max_skip = -1;
	nash_cost_defaults(&o->cost);
}

/* One alpha tensor: the engine's parameter and the master logits a that
 * Adam trains (the engine sees a / T). */
typedef struct {
	nash_param *eng;
	nash_param master;
	int edge;
} alpha;

struct nash_search {
	nash_graph *g;
	const nash_dataset *d;
	nash_search_opts o;
	nash_supernet sn;
	nash_net *net;
	nash_param **wp;           /* the weights the SGD trains */
	int nwp;
	alpha *al;
	nash_param **ap;           /* the masters, for Adam */
	int nal;
	nash_optim *wopt, *aopt;
	nash_sched sched;
	double *p, *cost, *cgrad;  /* nedges x NASH_NOPS */
	double cost_norm;          /* the largest candidate cost */
	nash_split wsplit, asplit; /* the halves (copies of the images) */
	nash_batcher wb, ab;
	float *x;
	int *y;
	nash_rng rng;              /* paths */
	int bf16;                  /* alpha steps in bfloat16 */
	int epoch;                 /* epochs done */
	int64_t step;              /* steps done in the current epoch */
	int64_t steps_per_epoch;
	double seconds;
	double t_epoch;            /* seconds of the current epoch so far */
	/* the current epoch's sums */
	double tl, alsum;
	int64_t tc, tn, an;
	nash_val *history;         /* per-epoch maps */
	nash_val *initial;         /* evaluation before the first step */
	nash_search_epoch last;
};

/* ------------------------------------------------------------ helpers */

static void push_alpha(nash_search *s, alpha *a)
{
	for (int64_t k = 0; k < a->eng->n; k++)
		a->eng->w[k] = (float)((double)a->master.w[k] / s->o.temperature);
}

static void update_probs(nash_search *s)
{
	for (int i = 0; i < s->nal; i++) {
		const alpha *a = &s->al[i];
		const nash_sedge *x = &s->sn.e[a->edge];
		double *pe = s->p + (size_t)a->edge * NASH_NOPS, mx = -INFINITY, sum = 0, z[NASH_NOPS];
		for (int k = 0; k < NASH_NOPS; k++)
			pe[k] = 0;
		for (int k = 0; k < x->nops; k++) {
			z[k] = (double)a->master.w[k] / s->o.temperature;
			if (z[k] > mx)
				mx = z[k];
		}
		for (int k = 0; k < x->nops; k++)
			sum += exp(z[k] - mx);
		for (int k = 0; k < x->nops; k++)
			pe[x->ops[k]] = exp(z[k] - mx) / sum;
	}
}

/* A split of the images idx[0..n) of src. */
static void subset(const nash_dataset *d, const nash_split *src, const int64_t *idx, int64_t n, nash_split *out)
{
	size_t img = (size_t)d->c * d->h * d->w;
	out->n = n;
	out->x = nash_alloc((size_t)(n ? n : 1) * img);
	out->y = nash_alloc((size_t)(n ? n : 1));
	for (int64_t i = 0; i < n; i++) {
		memcpy(out->x + (size_t)i * img, src->x + (size_t)idx[i] * img, img);
		out->y[i] = src->y[idx[i]];
	}
}

void nash_search_free(nash_search *s)
{
	if (!s)
		return;
	nash_optim_free(s->wopt);
	nash_optim_free(s->aopt);
	nash_net_free(s->net);
	for (int i = 0; i < s->nal; i++) {
		free(s->al[i].master.w);
		free(s->al[i].master.g);
	}
	free(s->al);
	free(s->ap);
	free(s->wp);
	free(s->p);
	free(s->cost);
	free(s->cgrad);
	nash_batcher_free(&s->wb);
	nash_batcher_free(&s->ab);
	free(s->wsplit.x);
	free(s->wsplit.y);
	free(s->asplit.x);
	free(s->asplit.y);
	free(s->x);
	free(s->y);
	nash_val_free(s->history);
	nash_val_free(s->initial);
	nash_supernet_free(&s->sn);
	free(s);
}

static int check_opts(const nash_search_opts *o, nash_err *e)
{
	if (o->arch_every < 1)
		return nash_fail(e, "search: an alpha step every %d steps: must be >= 1", o->arch_every);
	if (o->epochs < 0 || o->batch < 2)
		return nash_fail(e, "search: epochs must be >= 0 and the batch >= 2 (batch normalisation)");
	if (!(o->split > 0 && o->split < 1))
		return nash_fail(e, "search: the weight split must be in (0, 1), not %g", o->split);
	if (!(o->temperature > 0) || !isfinite(o->temperature))
		return nash_fail(e, "search: the temperature must be positive, not %g", o->temperature);
	if (!(o->hw_weight >= 0) || !isfinite(o->hw_weight))
		return nash_fail(e, "search: the hardware weight must be >= 0, not %g", o->hw_weight);
	const double v[] = {o->lr, o->min_lr, o->momentum, o->wd, o->clip, o->arch_lr, o->arch_beta1,
	                    o->arch_beta2, o->arch_wd};
	static const char *const names[] = {"learning rate", "minimum learning rate", "momentum", "weight decay",
	                                    "gradient clip", "architecture learning rate", "Adam beta1",
	                                    "Adam beta2", "architecture weight decay"};
	for (int i = 0; i < 9; i++)
		if (!(v[i] >= 0) || !isfinite(v[i]))
			return nash_fail(e, "search: the %s must be a finite number >= 0, not %g", names[i], v[i]);
	if (o->momentum >= 1 || o->arch_beta1 >= 1 || o->arch_beta2 >= 1)
		return nash_fail(e, "search: momentum and Adam betas must be below 1");
	return 0;
}

/* ------------------------------------------------------------ set-up */

nash_search *nash_search_new(nash_graph *g, const nash_dataset *d, const nash_search_opts *o, nash_err *e)
{
	if (check_opts(o, e) < 0)
		return NULL;
	nash_search *s = nash_alloc(sizeof *s);
	s->g = g;
	s->d = d;
	s->o = *o;
	if (nash_supernet_init(&s->sn, g, e) < 0) {
		free(s);
		return NULL;
	}
	s->history = nash_val_arr();
	if (nash_dataset_check_graph(d, g, e) < 0)
		goto fail;
	size_t ne = (size_t)s->sn.nedges * NASH_NOPS;
	s->p = nash_alloc(ne * sizeof *s->p);
	s->cost = nash_alloc(ne * sizeof *s->cost);
	s->cgrad = nash_alloc(ne * sizeof *s->cgrad);
	if (nash_search_costs(&s->sn, &o->cost, s->cost, e) < 0)
		goto fail;
	for (size_t i = 0; i < ne; i++)
		if (s->cost[i] > s->cost_norm)
			s->cost_norm = s->cost[i];
	/* the halves of the training split */
	int64_t n = d->train.n, nw = (int64_t)llround(o->split * (double)n);
	if (nw < o->batch || n - nw < o->batch) {
		nash_fail(e, "search: %lld training images split %g/%g leave fewer than a batch (%d) in a half",
		          (long long)n, o->split, 1 - o->split, o->batch);
		goto fail;
	}
	int64_t *all = nash_alloc((size_t)n * sizeof *all);
	for (int64_t i = 0; i < n; i++)
		all[i] = i;
	nash_rng r;
	nash_rng_seed(&r, o->seed ^ 0x5ea7c4a11ULL);
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)nash_rng_below(&r, (uint64_t)i + 1), t = all[i];
		all[i] = all[j];
		all[j] = t;
	}
	subset(d, &d->train, all, nw, &s->wsplit);
	subset(d, &d->train, all + nw, n - nw, &s->asplit);
	free(all);
	nash_batcher_init(&s->wb, d, &s->wsplit, o->batch, 1, &o->aug, o->seed ^ 0x3e19b7ULL);
	nash_batcher_init(&s->ab, d, &s->asplit, o->batch, 1, &o->aug, o->seed ^ 0xa7c11ULL);
	s->steps_per_epoch = nash_batcher_steps(&s->wb);
	if (o->steps > 0 && o->steps < s->steps_per_epoch)
		s->steps_per_epoch = o->steps;
	nash_rng_seed(&s->rng, o->seed ^ 0x9a7bULL);
	/* the net and its parameters */
	nash_net_opts no = {o->batch, 1, o->threads, o->relax};
	s->net = nash_net_new(g, &no, e);
	if (!s->net)
		goto fail;
	s->bf16 = o->arch_prec == NASH_ARCH_BF16 || (o->arch_prec == NASH_ARCH_AUTO && nash_bf16_native());
	s->bf16 = s->bf16 && nash_net_bf16(s->net, 1);
	nash_net_bf16(s->net, 0);
	int np = nash_net_nparams(s->net);
	s->wp = nash_alloc((size_t)(np + 1) * sizeof *s->wp);
	s->al = nash_alloc((size_t)(np + 1) * sizeof *s->al);
	s->ap = nash_alloc((size_t)(np + 1) * sizeof *s->ap);
	for (int i = 0; i < np; i++) {
		nash_param *p = nash_net_param(s->net, i);
		if (p->kind == NASH_P_STATE || !p->g)
			continue;
		if (p->kind != NASH_P_ALPHA) {
			s->wp[s->nwp++] = p;
			continue;
		}
		alpha *a = &s->al[s->nal];
		a->eng = p;
		a->edge = -1;
		for (int k = 0; k < s->sn.nedges; k++)
			if (strcmp(s->sn.e[k].alpha, p->name) == 0)
				a->edge = k;
		if (a->edge < 0) {
			nash_fail(e, "graph %s: alpha %s belongs to no Choice edge", g->name, p->name);
			goto fail;
		}
		a->master = *p;
		a->master.w = nash_alloc((size_t)p->n * sizeof(float));
		a->master.g = nash_alloc((size_t)p->n * sizeof(float));
		/* the graph holds the effective logits a / T */
		for (int64_t k = 0; k < p->n; k++)
			a->master.w[k] = (float)((double)p->w[k] * o->temperature);
		push_alpha(s, a);
		s->ap[s->nal] = &a->master;
		s->nal++;
	}
	if (s->nal != s->sn.nedges) {
		nash_fail(e, "graph %s: the engine trains %d alpha tensors for %d Choice edges", g->name, s->nal,
		          s->sn.nedges);
		goto fail;
	}
	/* SGD on every trained weight (the reference decays them all), Adam on alpha */
	nash_optim_opts wo, ao;
	nash_optim_defaults(&wo, NASH_OPT_SGD);
	wo.momentum = o->momentum;
	wo.wd = o->wd;
	wo.no_decay = 0;
	wo.threads = o->threads;
	nash_optim_defaults(&ao, NASH_OPT_ADAM);
	ao.beta1 = o->arch_beta1;
	ao.beta2 = o->arch_beta2;
	ao.wd = o->arch_wd;
	ao.no_decay = 0;
	s->wopt = nash_optim_new(&wo, s->wp, s->nwp);
	s->aopt = nash_optim_new(&ao, s->ap, s->nal);
	memset(&s->sched, 0, sizeof s->sched);
	s->sched.kind = NASH_SCHED_COSINE;
	s->sched.lr = o->lr;
	s->sched.min_lr = o->min_lr;
	s->sched.total = (int64_t)o->epochs * s->steps_per_epoch;
	s->x = nash_alloc((size_t)o->batch * d->c * d->h * d->w * sizeof *s->x);
	s->y = nash_alloc((size_t)o->batch * sizeof *s->y);
	update_probs(s);
	return s;
fail:
	nash_search_free(s);
	return NULL;
}

nash_net *nash_search_net(nash_search *s) { return s->net; }
const nash_supernet *nash_search_supernet(const nash_search *s) { return &s->sn; }
int nash_search_epochs_done(const nash_search *s) { return s->epoch; }
int64_t nash_search_step_in_epoch(const nash_search *s) { return s->step; }
int nash_search_arch_bf16(const nash_search *s) { return s->bf16; }
int64_t nash_search_steps_per_epoch(const nash_search *s) { return s->steps_per_epoch; }
const double *nash_search_costs_of(const nash_search *s) { return s->cost; }

const double *nash_search_probs(nash_search *s)
{
	update_probs(s);
	return s->p;
}

/* ------------------------------------------------------------ steps */

int nash_search_arch_grad(nash_search *s, const float *x, const int *y, int n, int draw, double *loss,
                          double *grad, nash_err *e)
{
	nash_net_train_mode(s->net, 1);
	if (draw && s->o.relax == NASH_RELAX_SAMPLE)
		nash_net_sample(s->net, &s->rng);
	nash_net_bf16(s->net, s->bf16);
	int rc = nash_net_forward(s->net, x, n, e);
	int top1 = 0;
	double l = rc < 0 ? 0 : nash_net_loss(s->net, y, 0, &top1, NULL);
	if (rc == 0 && !isfinite(l))
		rc = nash_fail(e, "graph %s: the architecture loss is not finite", s->g->name);
	if (rc == 0) {
		/* only the alphas receive gradients here */
		for (int i = 0; i < s->nal; i++)
			memset(s->al[i].eng->g, 0, (size_t)s->al[i].eng->n * sizeof(float));
		rc = nash_net_backward(s->net, NASH_GRAD_ALPHA, e);
	}
	nash_net_bf16(s->net, 0);
	if (rc < 0)
		return -1;
	if (loss)
		*loss = l;
	s->alsum += l * n;
	s->an += n;
	/* d/da of CE(softmax(a / T)) + L * E[cost] / max cost */
	int hw = s->o.hw_weight > 0 && s->cost_norm > 0;
	update_probs(s);
	if (hw)
		nash_expected_cost(&s->sn, s->p, s->cost, s->cgrad);
	for (int i = 0; i < s->nal; i++) {
		alpha *a = &s->al[i];
		const nash_sedge *ed = &s->sn.e[a->edge];
		for (int k = 0; k < ed->nops; k++) {
			double g = a->eng->g[k];
			if (hw)
				g += s->o.hw_weight * s->cgrad[(size_t)a->edge * NASH_NOPS + ed->ops[k]] / s->cost_norm;
			g /= s->o.temperature;
			a->master.g[k] = (float)g;
			if (grad)
				grad[(size_t)a->edge * NASH_NOPS + ed->ops[k]] = g;
		}
	}
	return 0;
}

static void epoch_begin(nash_search *s)
{
	s->tl = s->alsum = 0;
	s->tc = s->tn = s->an = 0;
	s->t_epoch = 0;
	nash_batcher_epoch(&s->wb);
}

/* The next batch of the architecture half, starting a new pass of it
 * when one ends. */
static int arch_batch(nash_search *s)
{
	int n = nash_batcher_next(&s->ab, s->x, s->y);
	if (n < 2) {
		nash_batcher_epoch(&s->ab);
		n = nash_batcher_next(&s->ab, s->x, s->y);
	}
	return n;
}

static int end_epoch(nash_search *s, nash_err *e);

int nash_search_step(nash_search *s, nash_err *e)
{
	const nash_search_opts *o = &s->o;
	if (s->epoch >= o->epochs)
		return 1;
	double t0 = nash_now();
	if (s->step == 0)
		epoch_begin(s);
	/* architecture: one Adam step on alpha */
	int n;
	if (((int64_t)s->epoch * s->steps_per_epoch + s->step) % o->arch_every == 0) {
		n = arch_batch(s);
		if (nash_search_arch_grad(s, s->x, s->y, n, 1, NULL, NULL, e) < 0)
			goto fail;
		nash_optim_step(s->aopt, o->arch_lr);
		for (int i = 0; i < s->nal; i++)
			push_alpha(s, &s->al[i]);
	}
	/* weights: one SGD step */
	n = nash_batcher_next(&s->wb, s->x, s->y);
	if (n < 2) {   /* the weight half ran out early (steps beyond one pass) */
		nash_batcher_epoch(&s->wb);
		n = nash_batcher_next(&s->wb, s->x, s->y);
	}
	if (o->relax == NASH_RELAX_SAMPLE)
		nash_net_sample(s->net, &s->rng);
	if (nash_net_forward(s->net, s->x, n, e) < 0)
		goto fail;
	int top1 = 0;
	double l = nash_net_loss(s->net, s->y, 0, &top1, NULL);
	if (!isfinite(l)) {
		nash_fail(e, "graph %s: the training loss is not finite", s->g->name);
		goto fail;
	}
	nash_net_zero_grad(s->net);
	if (nash_net_backward(s->net, NASH_GRAD_WEIGHTS, e) < 0)
		goto fail;
	if (o->clip > 0)
		nash_optim_clip(s->wopt, o->clip);
	int64_t t = (int64_t)s->epoch * s->steps_per_epoch + s->step;
	s->last.lr = nash_sched_lr(&s->sched, t);
	nash_optim_step(s->wopt, s->last.lr);
	s->tl += l * n;
	s->tc += top1;
	s->tn += n;
	s->last.loss = l;
	s->last.top1 = 100.0 * top1 / n;
	s->step++;
	s->t_epoch += nash_now() - t0;
	if (s->step >= s->steps_per_epoch && end_epoch(s, e) < 0)
		return -1;
	return s->epoch >= o->epochs;
fail:
	nash_err_prefix(e, "epoch %d step %lld: ", s->epoch + 1, (long long)s->step + 1);
	return -1;
}

/* ------------------------------------------------------------ epochs */

/* The Choice input of edge k in the derived architecture: the genotype's
 * op on its edge, none elsewhere; -1 when the edge has no none. */
static int derived_slot(const nash_search *s, const nash_genotype *gt, int k)
{
	const nash_sedge *x = &s->sn.e[k];
	const nash_gene *gn = &gt->g[x->cell][x->to];
	if (gn->op != NASH_OP_NONE && gn->from == x->from && x->slot[gn->op] >= 0)
		return x->slot[gn->op];
	return x->slot[NASH_OP_NONE];
}

/* Eval-mode loss and top-1 (percent) over up to eval_images of the
 * validation split (else the architecture half): out[0..1] the supernet
 * (paths drawn from a fixed seed per batch, or the mixture), out[2..3] the
 * derived architecture inside it (each edge fixed to its genotype op or
 * none; NAN when an edge has no none). */
static int evaluate(nash_search *s, const nash_genotype *gt, double out[4], nash_err *e)
{
	const nash_search_opts *o = &s->o;
	const nash_split *sp = s->d->val.n > 0 ? &s->d->val : &s->asplit;
	int64_t n = sp->n;
	if (o->eval_images > 0 && n > o->eval_images)
		n = o->eval_images;
	int nch = nash_net_nchoices(s->net);
	int *map = nash_alloc((size_t)(nch + 1) * sizeof *map), derivable = 1;
	for (int i = 0; i < nch; i++) {
		const nash_node *c = nash_net_choice(s->net, i);
		map[i] = -1;
		for (int k = 0; k < s->sn.nedges; k++)
			if (strcmp(s->sn.e[k].name, c->name) == 0)
				map[i] = k;
		if (map[i] < 0 || derived_slot(s, gt, map[i]) < 0)
			derivable = 0;
	}
	int64_t *idx = nash_alloc((size_t)(n + 1) * sizeof *idx);
	for (int64_t i = 0; i < n; i++)
		idx[i] = i;
	nash_net_train_mode(s->net, 0);
	int rc = 0;
	out[2] = out[3] = NAN;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		if (pass == 1 && !derivable)
			break;
		if (pass == 1 && o->relax == NASH_RELAX_SOFTMAX)
			for (int i = 0; i < s->nal; i++) {
				int keep = derived_slot(s, gt, s->al[i].edge);
				for (int64_t k = 0; k < s->al[i].eng->n; k++)
					s->al[i].eng->w[k] = k == keep ? 0.0f : -1e4f;
			}
		nash_rng r;
		nash_rng_seed(&r, o->seed ^ 0xe7a1ULL);
		double sum = 0;
		int64_t correct = 0;
		for (int64_t b = 0; b < n; b += o->batch) {
			int m = (int)(n - b < o->batch ? n - b : o->batch);
			nash_batch_fill(s->d, sp, idx + b, m, NULL, NULL, s->x, s->y);
			if (o->relax == NASH_RELAX_SAMPLE) {
				if (pass == 0)
					nash_net_sample(s->net, &r);
				else
					for (int i = 0; i < nch; i++)
						nash_net_choose(s->net, i, derived_slot(s, gt, map[i]));
			}
			if (nash_net_forward(s->net, s->x, m, e) < 0) {
				rc = -1;
				break;
			}
			int top1 = 0;
			sum += nash_net_loss(s->net, s->y, 0, &top1, NULL) * m;
			correct += top1;
		}
		if (pass == 1 && o->relax == NASH_RELAX_SOFTMAX)
			for (int i = 0; i < s->nal; i++)
				push_alpha(s, &s->al[i]);
		out[2 * pass] = n ? sum / (double)n : NAN;
		out[2 * pass + 1] = n ? 100.0 * (double)correct / (double)n : NAN;
	}
	nash_net_params_changed(s->net);
	nash_net_train_mode(s->net, 1);
	free(idx);
	free(map);
	return rc;
}

static nash_val *winners_val(const nash_winners *w)
{
	nash_val *a = nash_val_arr();
	for (int st = 0; st < w->nstages; st++) {
		nash_val *m = nash_val_map();
		nash_val_set(m, "stage", nash_val_int(st));
		nash_val_set(m, "skip", nash_val_int(w->skip[st]));
		nash_val_set(m, "pool", nash_val_int(w->pool[st]));
		nash_val_set(m, "conv", nash_val_int(w->conv[st]));
		nash_val_set(m, "none", nash_val_int(w->none[st]));
		nash_val_push(a, m);
	}
	return a;
}

static nash_val *f64(double v)
{
	return isfinite(v) ? nash_val_f64(v) : nash_val_nil();
}

static int end_epoch(nash_search *s, nash_err *e)
{
	double t0 = nash_now();
	nash_genotype gt;
	update_probs(s);
	if (nash_derive(&s->sn, s->p, &s->o.derive, &gt, e) < 0)
		return -1;
	double ev[4];
	if (evaluate(s, &gt, ev, e) < 0) {
		nash_err_prefix(e, "epoch %d evaluation: ", s->epoch + 1);
		return -1;
	}
	s->t_epoch += nash_now() - t0;
	s->seconds += s->t_epoch;
	nash_search_epoch *st = &s->last;
	st->epoch = s->epoch + 1;
	st->loss = s->tn ? s->tl / (double)s->tn : NAN;
	st->top1 = s->tn ? 100.0 * (double)s->tc / (double)s->tn : NAN;
	st->arch_loss = s->an ? s->alsum / (double)s->an : NAN;
	st->val_loss = ev[0];
	st->val_top1 = ev[1];
	st->derived_loss = ev[2];
	st->derived_top1 = ev[3];
	double est[4];
	st->entropy = nash_alpha_entropy(&s->sn, s->p, est);
	st->expected_cost = nash_expected_cost(&s->sn, s->p, s->cost, NULL);
	st->genotype_cost = nash_genotype_cost(&s->sn, &gt, s->cost);
	st->seconds = s->t_epoch;
	nash_val *m = nash_val_map();
	nash_val_set(m, "epoch", nash_val_int(st->epoch));
	nash_val_set(m, "steps", nash_val_int(s->step));
	nash_val_set(m, "lr", f64(st->lr));
	nash_val_set(m, "loss", f64(st->loss));
	nash_val_set(m, "top1", f64(st->top1));
	nash_val_set(m, "arch_loss", f64(st->arch_loss));
	nash_val_set(m, "val_loss", f64(st->val_loss));
	nash_val_set(m, "val_top1", f64(st->val_top1));
	nash_val_set(m, "derived_val_loss", f64(st->derived_loss));
	nash_val_set(m, "derived_val_top1", f64(st->derived_top1));
	nash_val_set(m, "entropy", f64(st->entropy));
	int ns = s->sn.plan.stage[s->sn.plan.ncells - 1] + 1;
	nash_val_set(m, "entropy_stage", nash_val_f64s(est, (size_t)ns));
	nash_winners w;
	nash_genotype_winners(&s->sn, &gt, &w);
	nash_val_set(m, "winners", winners_val(&w));
	nash_val_set(m, "expected_cost", f64(st->expected_cost));
	nash_val_set(m, "genotype_cost", f64(st->genotype_cost));
	char *gs = nash_genotype_format(&gt);
	nash_val_set(m, "genotype", nash_val_str(gs));
	free(gs);
	nash_val_set(m, "seconds", f64(st->seconds));
	nash_val_push(s->history, m);
	s->epoch++;
	s->step = 0;
	return 0;
}

int nash_search_run(nash_search *s, const nash_search_hooks *h, nash_err *e)
{
	if (!s->initial && s->epoch == 0 && s->step == 0) {
		/* where the search starts from, to compare the epochs with */
		nash_genotype gt;
		double ev[4];
		update_probs(s);
		if (nash_derive(&s->sn, s->p, &s->o.derive, &gt, e) < 0 || evaluate(s, &gt, ev, e) < 0)
			return -1;
		s->initial = nash_val_map();
		nash_val_set(s->initial, "val_loss", f64(ev[0]));
		nash_val_set(s->initial, "val_top1", f64(ev[1]));
		nash_val_set(s->initial, "entropy", f64(nash_alpha_entropy(&s->sn, s->p, NULL)));
		nash_val_set(s->initial, "expected_cost", f64(nash_expected_cost(&s->sn, s->p, s->cost, NULL)));
	}
	while (s->epoch < s->o.epochs) {
		int ep = s->epoch;
		int64_t stp = s->step;
		int rc = nash_search_step(s, e);
		if (rc < 0)
			return -1;
		if (h && h->step && h->step(h->ctx, s, ep + 1, stp + 1, s->o.batch, s->last.loss, s->last.top1))
			return 1;
		if (s->epoch != ep && h && h->epoch && h->epoch(h->ctx, s, &s->last, e) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------- checkpoints */

/* The options that shape a run, as recorded and compared on restore. */
static nash_val *shape_opts(const nash_search *s)
{
	const nash_search_opts *o = &s->o;
	nash_val *m = nash_val_map();
	nash_val_set(m, "epochs", nash_val_int(o->epochs));
	nash_val_set(m, "batch", nash_val_int(o->batch));
	nash_val_set(m, "split", nash_val_f64(o->split));
	nash_val_set(m, "steps", nash_val_int(s->steps_per_epoch));
	nash_val_set(m, "relax", nash_val_str(o->relax == NASH_RELAX_SOFTMAX ? "softmax" : "sample"));
	nash_val_set(m, "temperature", nash_val_f64(o->temperature));
	nash_val_set(m, "lr", nash_val_f64(o->lr));
	nash_val_set(m, "min_lr", nash_val_f64(o->min_lr));
	nash_val_set(m, "momentum", nash_val_f64(o->momentum));
	nash_val_set(m, "weight_decay", nash_val_f64(o->wd));
	nash_val_set(m, "clip", nash_val_f64(o->clip));
	nash_val_set(m, "arch_lr", nash_val_f64(o->arch_lr));
	nash_val_set(m, "arch_beta1", nash_val_f64(o->arch_beta1));
	nash_val_set(m, "arch_beta2", nash_val_f64(o->arch_beta2));
	nash_val_set(m, "arch_weight_decay", nash_val_f64(o->arch_wd));
	nash_val_set(m, "arch_every", nash_val_int(o->arch_every));
	nash_val_set(m, "hw_weight", nash_val_f64(o->hw_weight));
	nash_val_set(m, "hw_cost", nash_val_str(nash_cost_name(o->cost.kind)));
	nash_val_set(m, "seed", nash_val_int((int64_t)o->seed));
	nash_val_set(m, "train_images", nash_val_int(s->wsplit.n + s->asplit.n));
	return m;
}

int nash_search_checkpoint(nash_search *s, nash_err *e)
{
	if (nash_net_sync(s->net, e) < 0)
		return -1;
	nash_val *c = nash_val_map();
	nash_val_set(c, "loop", nash_val_str("search"));
	nash_val_set(c, "options", shape_opts(s));
	nash_val_set(c, "epoch", nash_val_int(s->epoch));
	nash_val_set(c, "step", nash_val_int(s->step));
	nash_val_set(c, "seconds", nash_val_f64(s->seconds));
	nash_val_set(c, "weights_optim", nash_optim_state(s->wopt));
	nash_val_set(c, "alpha_optim", nash_optim_state(s->aopt));
	nash_val *am = nash_val_map();
	for (int i = 0; i < s->nal; i++)
		nash_val_set(am, s->al[i].master.name,
		             nash_val_bin(s->al[i].master.w, (size_t)s->al[i].master.n * sizeof(float)));
	nash_val_set(c, "alpha", am);
	nash_val_set(c, "weight_batches", nash_batcher_state(&s->wb));
	nash_val_set(c, "arch_batches", nash_batcher_state(&s->ab));
	nash_val_set(c, "rng", nash_rng_state(&s->rng));
	nash_val *sums = nash_val_map();
	nash_val_set(sums, "loss", nash_val_f64(s->tl));
	nash_val_set(sums, "arch_loss", nash_val_f64(s->alsum));
	nash_val_set(sums, "correct", nash_val_int(s->tc));
	nash_val_set(sums, "n", nash_val_int(s->tn));
	nash_val_set(sums, "arch_n", nash_val_int(s->an));
	nash_val_set(sums, "seconds", nash_val_f64(s->t_epoch));
	nash_val_set(c, "sums", sums);
	nash_val_set(c, "history", nash_val_copy(s->history));
	if (s->initial)
		nash_val_set(c, "initial", nash_val_copy(s->initial));
	nash_val_set(s->g->meta, "checkpoint", c);
	return 0;
}

int nash_search_restore(nash_search *s, nash_err *e)
{
	const nash_val *c = nash_val_get(s->g->meta, "checkpoint");
	const char *loop = c ? nash_val_as_str(nash_val_get(c, "loop")) : NULL;
	if (!loop || strcmp(loop, "search") != 0)
		return nash_fail(e, "graph %s: its checkpoint is not one of a search (meta.checkpoint.loop is not \"search\")",
		                 s->g->name);
	nash_val *want = shape_opts(s);
	const nash_val *have = nash_val_get(c, "options");
	int rc = 0;
	for (size_t i = 0; i < want->u.m.n && rc == 0; i++) {
		const char *k = nash_val_as_str(want->u.m.k[i]);
		const nash_val *h = have ? nash_val_get(have, k) : NULL;
		if (!h || !nash_val_equal(h, want->u.m.v[i])) {
			char *a = h ? nash_val_json(h, -1, 0) : nash_strdup("nothing");
			char *b = nash_val_json(want->u.m.v[i], -1, 0);
			rc = nash_fail(e, "graph %s: the checkpoint was made with %s %s, this run asks for %s", s->g->name, k,
			               a, b);
			free(a);
			free(b);
		}
	}
	nash_val_free(want);
	if (rc < 0)
		return -1;
	if (nash_optim_restore(s->wopt, nash_val_get(c, "weights_optim"), e) < 0 ||
	    nash_optim_restore(s->aopt, nash_val_get(c, "alpha_optim"), e) < 0 ||
	    nash_batcher_restore(&s->wb, nash_val_get(c, "weight_batches"), e) < 0 ||
	    nash_batcher_restore(&s->ab, nash_val_get(c, "arch_batches"), e) < 0 ||
	    nash_rng_restore(&s->rng, nash_val_get(c, "rng"), e) < 0) {
		nash_err_prefix(e, "graph %s: checkpoint: ", s->g->name);
		return -1;
	}
	const nash_val *am = nash_val_get(c, "alpha");
	for (int i = 0; i < s->nal; i++) {
		const nash_val *b = am ? nash_val_get(am, s->al[i].master.name) : NULL;
		if (!b || b->t != NASH_V_BIN || b->u.s.n != (size_t)s->al[i].master.n * sizeof(float))
			return nash_fail(e, "graph %s: checkpoint: the logits of %s are missing or of the wrong size",
			                 s->g->name, s->al[i].master.name);
		memcpy(s->al[i].master.w, b->u.s.p, b->u.s.n);
		push_alpha(s, &s->al[i]);
	}
	s->epoch = (int)nash_val_as_int(nash_val_get(c, "epoch"), 0);
	s->step = nash_val_as_int(nash_val_get(c, "step"), 0);
	if (s->epoch < 0 || s->epoch > s->o.epochs || s->step < 0 || s->step >= s->steps_per_epoch)
		return nash_fail(e, "graph %s: checkpoint: epoch %d step %lld is outside this run", s->g->name, s->epoch,
		                 (long long)s->step);
	s->seconds = nash_val_as_f64(nash_val_get(c, "seconds"), 0);
	const nash_val *sums = nash_val_get(c, "sums");
	s->tl = nash_val_as_f64(nash_val_get(sums, "loss"), 0);
	s->alsum = nash_val_as_f64(nash_val_get(sums, "arch_loss"), 0);
	s->tc = nash_val_as_int(nash_val_get(sums, "correct"), 0);
	s->tn = nash_val_as_int(nash_val_get(sums, "n"), 0);
	s->an = nash_val_as_int(nash_val_get(sums, "arch_n"), 0);
	s->t_epoch = nash_val_as_f64(nash_val_get(sums, "seconds"), 0);
	const nash_val *h = nash_val_get(c, "history");
	if (h && h->t == NASH_V_ARR) {
		nash_val_free(s->history);
		s->history = nash_val_copy(h);
	}
	const nash_val *in = nash_val_get(c, "initial");
	if (in) {
		nash_val_free(s->initial);
		s->initial = nash_val_copy(in);
	}
	update_probs(s);
	return 0;
}

/* ------------------------------------------------------------ the end */

static nash_val *dvals(const double *v, int n)
{
	return nash_val_f64s(v, (size_t)n);
}

static void edges_meta(nash_val *m, const nash_supernet *sn, const double *p, const double *cost)
{
	nash_val *edges = nash_val_arr();
	for (int i = 0; i < sn->nedges; i++) {
		const nash_sedge *x = &sn->e[i];
		nash_val *em = nash_val_map(), *ops = nash_val_arr();
		double pv[NASH_NOPS], cv[NASH_NOPS];
		for (int k = 0; k < x->nops; k++) {
			nash_val_push(ops, nash_val_str(nash_op_name(x->ops[k])));
			pv[k] = p[(size_t)i * NASH_NOPS + x->ops[k]];
			cv[k] = cost ? cost[(size_t)i * NASH_NOPS + x->ops[k]] : 0;
		}
		nash_val_set(em, "name", nash_val_str(x->name));
		nash_val_set(em, "cell", nash_val_int(x->cell));
		nash_val_set(em, "node", nash_val_int(x->to));
		nash_val_set(em, "from", nash_val_int(x->from));
		nash_val_set(em, "stride", nash_val_int(x->stride));
		nash_val_set(em, "ops", ops);
		nash_val_set(em, "p", dvals(pv, x->nops));
		if (cost)
			nash_val_set(em, "cost", dvals(cv, x->nops));
		nash_val_push(edges, em);
	}
	nash_val_set(m, "edges", edges);
}

int nash_search_finish(nash_search *s, nash_genotype *gt, nash_err *e)
{
	const nash_search_opts *o = &s->o;
	if (nash_net_sync(s->net, e) < 0)
		return -1;
	nash_val_del(s->g->meta, "checkpoint");
	update_probs(s);
	if (nash_derive(&s->sn, s->p, &o->derive, gt, e) < 0)
		return -1;
	nash_val *m = nash_val_map();
	nash_val_set(m, "tool", nash_val_str("nash-train"));
	nash_val_set(m, "supernet", nash_val_str(s->g->name));
	if (o->dataset)
		nash_val_set(m, "dataset", nash_val_str(o->dataset));
	nash_val_set(m, "relax", nash_val_str(o->relax == NASH_RELAX_SOFTMAX ? "softmax" : "sample"));
	nash_val_set(m, "epochs", nash_val_int(s->epoch));
	nash_val_set(m, "steps_per_epoch", nash_val_int(s->steps_per_epoch));
	nash_val_set(m, "batch", nash_val_int(o->batch));
	nash_val_set(m, "split", nash_val_f64(o->split));
	nash_val_set(m, "seed", nash_val_int((int64_t)o->seed));
	nash_val_set(m, "temperature", nash_val_f64(o->temperature));
	nash_val *w = nash_val_map();
	nash_val_set(w, "optimizer", nash_val_str("sgd"));
	nash_val_set(w, "lr", nash_val_f64(o->lr));
	nash_val_set(w, "min_lr", nash_val_f64(o->min_lr));
	nash_val_set(w, "schedule", nash_val_str("cosine"));
	nash_val_set(w, "momentum", nash_val_f64(o->momentum));
	nash_val_set(w, "weight_decay", nash_val_f64(o->wd));
	nash_val_set(w, "clip", nash_val_f64(o->clip));
	nash_val_set(w, "images", nash_val_int(s->wsplit.n));
	nash_val_set(m, "weights", w);
	nash_val *a = nash_val_map();
	nash_val_set(a, "optimizer", nash_val_str("adam"));
	nash_val_set(a, "lr", nash_val_f64(o->arch_lr));
	double betas[2] = {o->arch_beta1, o->arch_beta2};
	nash_val_set(a, "betas", dvals(betas, 2));
	nash_val_set(a, "weight_decay", nash_val_f64(o->arch_wd));
	nash_val_set(a, "every", nash_val_int(o->arch_every));
	nash_val_set(a, "precision", nash_val_str(s->bf16 ? "bf16" : "f32"));
	nash_val_set(a, "images", nash_val_int(s->asplit.n));
	nash_val_set(m, "arch", a);
	nash_val *h = nash_val_map();
	nash_val_set(h, "weight", nash_val_f64(o->hw_weight));
	nash_val_set(h, "cost", nash_val_str(nash_cost_name(o->cost.kind)));
	if (o->cost.kind == NASH_COST_MACS)
		nash_val_set(h, "model", nash_val_str("macs: the multiply-accumulates of each candidate per image"));
	else {
		nash_val_set(h, "model", nash_val_str("lib/hw: each candidate's hardware layers, folded for the target fps"));
		nash_val_set(h, "part", nash_val_str(o->cost.part));
		nash_val_set(h, "clock_mhz", nash_val_f64(o->cost.clock_mhz));
		nash_val_set(h, "fps", nash_val_f64(o->cost.fps));
		nash_val_set(h, "weight_bits", nash_val_int(o->cost.wbits));
		nash_val_set(h, "act_bits", nash_val_int(o->cost.abits));
		nash_val_set(h, "adder_bits", nash_val_int(o->cost.addbits));
	}
	nash_val_set(h, "norm", nash_val_f64(s->cost_norm));
	nash_val_set(m, "hw", h);
	edges_meta(m, &s->sn, s->p, s->cost);
	if (s->initial)
		nash_val_set(m, "initial", nash_val_copy(s->initial));
	nash_val_set(m, "history", nash_val_copy(s->history));
	char v[8];
	int ver = o->derive.version ? o->derive.version : s->sn.version ? s->sn.version : 1;
	snprintf(v, sizeof v, "v%d", ver);
	nash_val *dv = nash_val_map();
	nash_val_set(dv, "rules", nash_val_str(v));
	nash_val_set(dv, "max_skip", nash_val_int(o->derive.max_skip));
	nash_val_set(m, "derive", dv);
	char *gs = nash_genotype_format(gt);
	nash_val_set(m, "genotype", nash_val_str(gs));
	free(gs);
	nash_winners wn;
	nash_genotype_winners(&s->sn, gt, &wn);
	nash_val_set(m, "winners", winners_val(&wn));
	nash_val_set(m, "entropy", f64(nash_alpha_entropy(&s->sn, s->p, NULL)));
	nash_val_set(m, "expected_cost", f64(nash_expected_cost(&s->sn, s->p, s->cost, NULL)));
	nash_val_set(m, "genotype_cost", f64(nash_genotype_cost(&s->sn, gt, s->cost)));
	nash_val_set(m, "seconds", nash_val_f64(s->seconds));
	nash_val_set(s->g->meta, "search", m);
	return 0;
}

nash_graph *nash_search_output(nash_graph *g, const nash_genotype *gt, int version, uint64_t seed, int inherit,
                               int keep_supernet, nash_err *e)
{
	nash_val *m = nash_meta(g, "search");
	nash_val_set(m, "network", nash_val_str(keep_supernet ? "supernet" : "derived"));
	if (keep_supernet)
		return g;
	int n = 0;
	nash_graph *d = nash_derive_network(g, gt, version, seed, inherit, NULL, &n, e);
	if (!d)
		return NULL;
	nash_val *dm = nash_meta(d, "search");
	nash_val_set(dm, "inherit_weights", nash_val_bool(inherit));
	nash_val_set(dm, "inherited_tensors", nash_val_int(n));
	nash_val_set(dm, "init_seed", nash_val_int((int64_t)seed));
	return d;
}

/* ------------------------------------------------- without a search */

int nash_search_derive_only(nash_graph *g, const nash_derive_opts *o, nash_genotype *gt, nash_err *e)
{
	nash_supernet sn;
	if (nash_supernet_init(&sn, g, e) < 0)
		return -1;
	double *p = nash_alloc((size_t)sn.nedges * NASH_NOPS * sizeof *p);
	nash_supernet_probs(&sn, p);
	int rc = nash_derive(&sn, p, o, gt, e);
	if (rc == 0) {
		nash_val *m = nash_meta(g, "search");
		if (!nash_val_get(m, "tool"))
			nash_val_set(m, "tool", nash_val_str("nash-train"));
		nash_val_set(m, "supernet", nash_val_str(g->name));
		if (!nash_val_get(m, "edges") || !nash_val_get(m, "hw"))
			edges_meta(m, &sn, p, NULL);
		char v[8];
		snprintf(v, sizeof v, "v%d", o->version ? o->version : sn.version ? sn.version : 1);
		nash_val *dv = nash_val_map();
		nash_val_set(dv, "rules", nash_val_str(v));
		nash_val_set(dv, "max_skip", nash_val_int(o->max_skip));
		nash_val_set(dv, "searched", nash_val_bool(0));
		nash_val_set(m, "derive", dv);
		char *gs = nash_genotype_format(gt);
		nash_val_set(m, "genotype", nash_val_str(gs));
		free(gs);
		nash_winners wn;
		nash_genotype_winners(&sn, gt, &wn);
		nash_val_set(m, "winners", winners_val(&wn));
		nash_val_set(m, "entropy", f64(nash_alpha_entropy(&sn, p, NULL)));
	}
	free(p);
	nash_supernet_free(&sn);
	return rc;
}

int nash_search_genotype(const nash_graph *g, const char *s, int version, nash_genotype *gt, nash_err *e)
{
	nash_supernet sn;
	if (nash_supernet_init(&sn, g, e) < 0)
		return -1;
	int v = version ? version : sn.version;
	int rc = nash_genotype_parse(s, &sn.plan, v, gt, e);
	if (rc < 0)
		nash_err_prefix(e, "graph %s: ", g->name);
	for (int c = 0; rc == 0 && c < gt->ncells; c++)
		for (int i = 0; rc == 0 && i < gt->nnodes[c]; i++) {
			const nash_gene *x = &gt->g[c][i];
			if (x->op != NASH_OP_NONE && sn.e[sn.edge[c][i][x->from]].slot[x->op] < 0)
				rc = nash_fail(e, "graph %s: genotype cell %d node %d: the supernet does not search %s on that edge",
				               g->name, c, i, nash_op_name(x->op));
		}
	nash_supernet_free(&sn);
	return rc;
}
