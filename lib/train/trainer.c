/* trainer.c - the training loop of nash-train: epochs of SGD/Adam steps
 * with a schedule, evaluation on the test split, checkpoint state, and
 * meta.train. */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_FORMAT 1

struct nash_trainer {
	nash_graph *g;
	const nash_dataset *d;
	nash_train_opts o;
	nash_net *net;
	nash_param **params;
	int np;
	nash_optim *opt;
	nash_sched sched;
	nash_batcher bat;
	nash_rng rng;          /* the net's own draws (reserved; checkpointed) */
	float *x;
	int *y;
	int64_t steps;         /* per epoch */
	int epoch;             /* epochs completed */
	int64_t step;          /* steps done in the current epoch */
	/* sums of the current epoch */
	double ep_loss, ep_secs, ep_train_secs;
	int64_t ep_correct, ep_images;
	/* the run */
	nash_epoch_stats *hist;
	int nhist;
	double seconds;        /* wall seconds of the run before this session */
	double t_session;      /* when this session's run began */
	double train_secs;     /* of it, in training steps */
	int64_t train_images;
	double last_loss;
	char input[17];        /* fingerprint of the graph before training */
};

void nash_train_defaults(nash_train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->epochs = 15;
	o->batch = 128;
	nash_optim_defaults(&o->optim, NASH_OPT_SGD);
	o->optim.nesterov = 1;
	o->optim.wd = 5e-4;
	o->sched = NASH_SCHED_COSINE;
	o->lr = 0.1;
	o->gamma = 0.1;
	o->seed = 1;
	o->eval_every = 1;
}

int nash_trainer_epoch(const nash_trainer *t) { return t->epoch; }
int64_t nash_trainer_step(const nash_trainer *t) { return t->step; }
int64_t nash_trainer_steps(const nash_trainer *t) { return t->steps; }
nash_net *nash_trainer_net(nash_trainer *t) { return t->net; }
nash_graph *nash_trainer_graph(nash_trainer *t) { return t->g; }

const nash_epoch_stats *nash_trainer_history(const nash_trainer *t, int *n)
{
	*n = t->nhist;
	return t->hist;
}

void nash_trainer_free(nash_trainer *t)
{
	if (!t)
		return;
	nash_optim_free(t->opt);
	nash_net_free(t->net);
	nash_batcher_free(&t->bat);
	free(t->params);
	free(t->x);
	free(t->y);
	free(t->hist);
	free(t);
}

/* The options that shape the run: recorded in meta.train and compared on
 * resume. */
static nash_val *opts_val(const nash_train_opts *o)
{
	nash_val *m = nash_val_map(), *op = nash_val_map();
	nash_val_set(m, "epochs", nash_val_int(o->epochs));
	nash_val_set(m, "batch", nash_val_int(o->batch));
	nash_val_set(op, "name", nash_val_str(nash_optkind_name(o->optim.kind)));
	nash_val_set(op, "lr", nash_val_f64(o->lr));
	if (o->optim.kind == NASH_OPT_SGD) {
		nash_val_set(op, "momentum", nash_val_f64(o->optim.momentum));
		nash_val_set(op, "nesterov", nash_val_bool(o->optim.nesterov));
	} else {
		nash_val_set(op, "beta1", nash_val_f64(o->optim.beta1));
		nash_val_set(op, "beta2", nash_val_f64(o->optim.beta2));
		nash_val_set(op, "eps", nash_val_f64(o->optim.eps));
	}
	nash_val_set(op, "weight_decay", nash_val_f64(o->optim.wd));
	nash_val_set(op, "clip", nash_val_f64(o->clip));
	nash_val_set(m, "optimizer", op);
	nash_val *s = nash_val_map();
	nash_val_set(s, "name", nash_val_str(nash_schedkind_name(o->sched)));
	nash_val_set(s, "warmup_epochs", nash_val_f64(o->warmup));
	if (o->sched == NASH_SCHED_COSINE)
		nash_val_set(s, "min_lr", nash_val_f64(o->min_lr));
	if (o->sched == NASH_SCHED_STEP) {
		nash_val_set(s, "step_epochs", nash_val_f64(o->step_epochs));
		nash_val_set(s, "gamma", nash_val_f64(o->gamma));
	}
	nash_val_set(m, "schedule", s);
	nash_val_set(m, "label_smoothing", nash_val_f64(o->smoothing));
	nash_val *a = nash_val_map();
	nash_val_set(a, "crop_pad", nash_val_int(o->aug.crop_pad));
	nash_val_set(a, "flip", nash_val_bool(o->aug.flip));
	nash_val_set(m, "augment", a);
	nash_val_set(m, "seed", nash_val_int((int64_t)o->seed));
	nash_val_set(m, "eval_every", nash_val_int(o->eval_every));
	return m;
}

static nash_val *data_val(const nash_train_opts *o, const nash_dataset *d)
{
	nash_val *m = nash_val_map();
	nash_val_set(m, "spec", nash_val_str(o->dataset ? o->dataset : d->name));
	nash_val_set(m, "name", nash_val_str(d->name));
	nash_val_set(m, "train", nash_val_int(d->train.n));
	nash_val_set(m, "val", nash_val_int(d->val.n));
	nash_val_set(m, "test", nash_val_int(d->test.n));
	nash_val_set(m, "limit", nash_val_int(o->limit));
	nash_val_set(m, "val_split", nash_val_f64(o->val_frac));
	return m;
}

nash_trainer *nash_trainer_new(nash_graph *g, const nash_dataset *d, const nash_train_opts *o, nash_err *e)
{
	for (int i = 0; i < g->nnodes; i++)
		if (!strcmp(g->nodes[i]->op, "Choice")) {
			nash_fail(e, "graph %s: node %s is a Choice (a NASH supernet): search it with --search, or derive a network first",
			          g->name, g->nodes[i]->name);
			return NULL;
		}
	const nash_node *hw = nash_graph_hw_node(g);
	if (hw) {
		nash_fail(e, "graph %s: node %s is a hardware operator (%s): nash-train trains float-level graphs", g->name,
		          hw->name, hw->op);
		return NULL;
	}
	if (nash_dataset_check_graph(d, g, e) < 0)
		return NULL;
	nash_trainer *t = nash_alloc(sizeof *t);
	t->g = g;
	t->d = d;
	t->o = *o;
	/* the input's fingerprint (a restore replaces it with the one the
	 * checkpoint recorded) */
	if (nash_graph_fingerprint(g, t->input, e) < 0) {
		free(t);
		return NULL;
	}
	nash_net_opts no = {.batch = o->batch, .train = 1, .threads = o->threads, .relax = NASH_RELAX_SAMPLE};
	t->net = nash_net_new(g, &no, e);
	if (!t->net) {
		free(t);
		return NULL;
	}
	t->np = nash_net_params(t->net, ~(1u << NASH_P_ALPHA), &t->params);
	nash_optim_opts oo = o->optim;
	oo.threads = o->threads;
	t->opt = nash_optim_new(&oo, t->params, t->np);
	nash_batcher_init(&t->bat, d, &d->train, o->batch, 1, &o->aug, o->seed ^ 0x62617463686573ull /* "batches" */);
	nash_rng_seed(&t->rng, o->seed ^ 0x6e65742d726e67ull /* "net-rng" */);
	t->steps = nash_batcher_steps(&t->bat);
	t->sched.kind = o->sched;
	t->sched.lr = o->lr;
	t->sched.min_lr = o->min_lr;
	t->sched.total = t->steps * o->epochs;
	t->sched.warmup = (int64_t)llround(o->warmup * (double)t->steps);
	t->sched.period = (int64_t)llround(o->step_epochs * (double)t->steps);
	t->sched.gamma = o->gamma;
	size_t img = (size_t)d->c * d->h * d->w;
	t->x = nash_alloc(sizeof(float) * img * (size_t)o->batch);
	t->y = nash_alloc(sizeof(int) * (size_t)o->batch);
	t->hist = nash_alloc(sizeof *t->hist * (size_t)(o->epochs + 1));
	return t;
}

/* ------------------------------------------------------------- history */

static void put_num(nash_val *m, const char *k, double v)
{
	if (isfinite(v))
		nash_val_set(m, k, nash_val_f64(v));
}

static double get_num(const nash_val *m, const char *k)
{
	const nash_val *v = nash_val_get(m, k);
	return v ? nash_val_as_f64(v, NAN) : NAN;
}

static nash_val *stats_val(const nash_epoch_stats *s)
{
	nash_val *m = nash_val_map();
	nash_val_set(m, "epoch", nash_val_int(s->epoch));
	put_num(m, "lr", s->lr);
	put_num(m, "loss", s->loss);
	put_num(m, "top1", s->top1);
	put_num(m, "test_loss", s->test_loss);
	put_num(m, "test_top1", s->test_top1);
	put_num(m, "test_top5", s->test_top5);
	put_num(m, "val_top1", s->val_top1);
	put_num(m, "seconds", s->seconds);
	put_num(m, "images_per_s", s->images_per_s);
	return m;
}

static void stats_get(const nash_val *m, nash_epoch_stats *s)
{
	s->epoch = (int)nash_val_as_int(nash_val_get(m, "epoch"), 0);
	s->lr = get_num(m, "lr");
	s->loss = get_num(m, "loss");
	s->top1 = get_num(m, "top1");
	s->test_loss = get_num(m, "test_loss");
	s->test_top1 = get_num(m, "test_top1");
	s->test_top5 = get_num(m, "test_top5");
	s->val_top1 = get_num(m, "val_top1");
	s->seconds = get_num(m, "seconds");
	s->images_per_s = get_num(m, "images_per_s");
}

static nash_val *history_val(const nash_trainer *t)
{
	nash_val *a = nash_val_arr();
	for (int i = 0; i < t->nhist; i++)
		nash_val_push(a, stats_val(&t->hist[i]));
	return a;
}

/* ---------------------------------------------------------- checkpoint */

static double total_seconds(const nash_trainer *t)
{
	return t->seconds + (t->t_session > 0 ? nash_now() - t->t_session : 0);
}

int nash_trainer_checkpoint(nash_trainer *t, nash_err *e)
{
	if (nash_net_sync(t->net, e) < 0)
		return -1;
	nash_val *c = nash_val_map();
	nash_val_set(c, "format", nash_val_int(CKPT_FORMAT));
	nash_val_set(c, "input", nash_val_str(t->input));
	nash_val_set(c, "epoch", nash_val_int(t->epoch));
	nash_val_set(c, "step", nash_val_int(t->step));
	nash_val_set(c, "options", opts_val(&t->o));
	nash_val_set(c, "data", data_val(&t->o, t->d));
	nash_val *run = nash_val_map();
	nash_val_set(run, "seconds", nash_val_f64(total_seconds(t)));
	nash_val_set(run, "train_seconds", nash_val_f64(t->train_secs));
	nash_val_set(run, "train_images", nash_val_int(t->train_images));
	nash_val_set(run, "epoch_loss", nash_val_f64(t->ep_loss));
	nash_val_set(run, "epoch_correct", nash_val_int(t->ep_correct));
	nash_val_set(run, "epoch_images", nash_val_int(t->ep_images));
	nash_val_set(run, "epoch_seconds", nash_val_f64(t->ep_secs));
	nash_val_set(run, "epoch_train_seconds", nash_val_f64(t->ep_train_secs));
	nash_val_set(run, "last_loss", nash_val_f64(t->last_loss));
	nash_val_set(c, "run", run);
	nash_val_set(c, "history", history_val(t));
	nash_val_set(c, "rng", nash_rng_state(&t->rng));
	nash_val_set(c, "batcher", nash_batcher_state(&t->bat));
	nash_val_set(c, "optimizer", nash_optim_state(t->opt));
	nash_val_set(c, "params", nash_params_state(t->net));
	nash_val_set(t->g->meta, "checkpoint", c);
	return 0;
}

/* The first key where two option maps differ, as "key=a" and "key=b". */
static int opts_diff(const nash_val *a, const nash_val *b, const char *pre, char *out, size_t n)
{
	for (size_t i = 0; i < a->u.m.n; i++) {
		const char *k = nash_val_as_str(a->u.m.k[i]);
		const nash_val *va = a->u.m.v[i], *vb = nash_val_get(b, k);
		char path[128];
		snprintf(path, sizeof path, "%s%s", pre, k);
		if (va->t == NASH_V_MAP && vb && vb->t == NASH_V_MAP) {
			char sub[130];
			snprintf(sub, sizeof sub, "%s.", path);
			if (opts_diff(va, vb, sub, out, n))
				return 1;
			continue;
		}
		if (!vb || !nash_val_equal(va, vb)) {
			char *ja = nash_val_json(va, -1, 0), *jb = vb ? nash_val_json(vb, -1, 0) : nash_strdup("nothing");
			snprintf(out, n, "%s=%s, this run has %s=%s", path, ja, path, jb);
			free(ja);
			free(jb);
			return 1;
		}
	}
	return 0;
}

int nash_trainer_restore(nash_trainer *t, nash_err *e)
{
	const nash_val *c = nash_val_get(t->g->meta, "checkpoint");
	const char *gn = t->g->name;
	if (!c || c->t != NASH_V_MAP)
		return nash_fail(e, "graph %s: no training state (meta.checkpoint)", gn);
	if (nash_val_as_int(nash_val_get(c, "format"), -1) != CKPT_FORMAT)
		return nash_fail(e, "graph %s: checkpoint format %lld, this nash-train reads %d", gn,
		                 (long long)nash_val_as_int(nash_val_get(c, "format"), -1), CKPT_FORMAT);
	char diff[512];
	nash_val *now = opts_val(&t->o), *dnow = data_val(&t->o, t->d);
	const nash_val *was = nash_val_get(c, "options"), *dwas = nash_val_get(c, "data");
	int differ = !was || !dwas || opts_diff(was, now, "", diff, sizeof diff) || opts_diff(dwas, dnow, "data.", diff, sizeof diff);
	nash_val_free(now);
	nash_val_free(dnow);
	if (differ)
		return nash_fail(e, "graph %s: the checkpoint was made with %s", gn, was && dwas ? diff : "no options");
	const char *in = nash_val_as_str(nash_val_get(c, "input"));
	snprintf(t->input, sizeof t->input, "%s", in ? in : "");
	t->epoch = (int)nash_val_as_int(nash_val_get(c, "epoch"), -1);
	t->step = nash_val_as_int(nash_val_get(c, "step"), -1);
	if (t->epoch < 0 || t->epoch > t->o.epochs || t->step < 0 || t->step > t->steps)
		return nash_fail(e, "graph %s: checkpoint position epoch %d step %lld is outside this run", gn, t->epoch,
		                 (long long)t->step);
	const nash_val *run = nash_val_get(c, "run");
	t->seconds = get_num(run, "seconds");
	t->train_secs = get_num(run, "train_seconds");
	t->train_images = nash_val_as_int(nash_val_get(run, "train_images"), 0);
	t->ep_loss = get_num(run, "epoch_loss");
	t->ep_correct = nash_val_as_int(nash_val_get(run, "epoch_correct"), 0);
	t->ep_images = nash_val_as_int(nash_val_get(run, "epoch_images"), 0);
	t->ep_secs = get_num(run, "epoch_seconds");
	t->ep_train_secs = get_num(run, "epoch_train_seconds");
	t->last_loss = get_num(run, "last_loss");
	const nash_val *h = nash_val_get(c, "history");
	t->nhist = 0;
	if (h && h->t == NASH_V_ARR)
		for (size_t i = 0; i < h->u.a.n && t->nhist < t->o.epochs; i++)
			stats_get(h->u.a.v[i], &t->hist[t->nhist++]);
	if (nash_rng_restore(&t->rng, nash_val_get(c, "rng"), e) < 0 ||
	    nash_batcher_restore(&t->bat, nash_val_get(c, "batcher"), e) < 0 ||
	    nash_optim_restore(t->opt, nash_val_get(c, "optimizer"), e) < 0 ||
	    nash_params_restore(t->net, nash_val_get(c, "params"), e) < 0) {
		nash_err_prefix(e, "graph %s: checkpoint: ", gn);
		return -1;
	}
	return 0;
}

int nash_train_check_done(const nash_graph *g, const nash_dataset *d, const nash_train_opts *o, nash_err *e)
{
	const nash_val *m = nash_val_get(g->meta, "train");
	if (!m || m->t != NASH_V_MAP)
		return nash_fail(e, "graph %s: not trained (no meta.train)", g->name);
	nash_val *now = opts_val(o), *was = nash_val_map();
	for (size_t i = 0; i < now->u.m.n; i++) {
		const char *k = nash_val_as_str(now->u.m.k[i]);
		const nash_val *v = nash_val_get(m, k);
		if (v)
			nash_val_set(was, k, nash_val_copy(v));
	}
	const char *spec = nash_val_as_str(nash_val_get(m, "dataset"));
	int64_t ntr = nash_val_as_int(nash_val_path(m, "images.train"), -1);
	int64_t nte = nash_val_as_int(nash_val_path(m, "images.test"), -1);
	char diff[512];
	int rc = 0;
	if (opts_diff(was, now, "", diff, sizeof diff))
		rc = nash_fail(e, "graph %s was trained with %s", g->name, diff);
	else if (!spec || strcmp(spec, o->dataset ? o->dataset : d->name) || ntr != d->train.n || nte != d->test.n)
		rc = nash_fail(e, "graph %s was trained on %s (%lld training, %lld test images), this run uses %s (%lld, %lld)",
		               g->name, spec ? spec : "?", (long long)ntr, (long long)nte, o->dataset ? o->dataset : d->name,
		               (long long)d->train.n, (long long)d->test.n);
	nash_val_free(now);
	nash_val_free(was);
	return rc;
}

/* ------------------------------------------------------------- the loop */

static int evaluate(nash_trainer *t, const nash_split *s, double *top1, double *top5, double *loss, nash_err *e)
{
	nash_evalres r;
	if (nash_evaluate(t->net, t->o.batch, t->d, s, 0, 0, &r, e) < 0)
		return -1;
	*top1 = 100.0 * (double)r.top1 / (double)r.n;
	if (top5)
		*top5 = 100.0 * (double)r.top5 / (double)r.n;
	if (loss)
		*loss = r.loss;
	return 0;
}

static int end_epoch(nash_trainer *t, const nash_train_hooks *h, nash_err *e)
{
	double t0 = nash_now();
	t->epoch++;
	nash_epoch_stats s;
	s.epoch = t->epoch;
	s.lr = nash_sched_lr(&t->sched, (int64_t)t->epoch * t->steps - 1);
	s.loss = t->ep_images ? t->ep_loss / (double)t->ep_images : NAN;
	s.top1 = t->ep_images ? 100.0 * (double)t->ep_correct / (double)t->ep_images : NAN;
	s.test_loss = s.test_top1 = s.test_top5 = s.val_top1 = NAN;
	int due = t->epoch == t->o.epochs || (t->o.eval_every > 0 && t->epoch % t->o.eval_every == 0);
	if (due) {
		if (evaluate(t, &t->d->test, &s.test_top1, &s.test_top5, &s.test_loss, e) < 0)
			goto fail;
		if (t->d->val.n > 0 && evaluate(t, &t->d->val, &s.val_top1, NULL, NULL, e) < 0)
			goto fail;
	}
	double dt = nash_now() - t0;
	t->ep_secs += dt;
	s.seconds = t->ep_secs;
	s.images_per_s = t->ep_train_secs > 0 ? (double)t->ep_images / t->ep_train_secs : NAN;
	t->hist[t->nhist++] = s;
	t->step = 0;
	t->ep_loss = t->ep_secs = t->ep_train_secs = 0;
	t->ep_correct = t->ep_images = 0;
	if (h && h->epoch && h->epoch(h->ctx, t, &s, e) < 0)
		return -1;
	return 0;
fail:
	nash_err_prefix(e, "graph %s: evaluation after epoch %d: ", t->g->name, t->epoch);
	return -1;
}

/* An engine error during a step: "graph G: training stopped at epoch E
 * step S/N: <the engine's message without its own graph prefix>". */
static int step_fail(nash_trainer *t, nash_err *e)
{
	char msg[sizeof e->msg], pre[300];
	snprintf(pre, sizeof pre, "graph %s: ", t->g->name);
	const char *m = e->msg;
	if (!strncmp(m, pre, strlen(pre)))
		m += strlen(pre);
	snprintf(msg, sizeof msg, "%s", m);
	return nash_fail(e, "graph %s: training stopped at epoch %d step %lld/%lld: %s", t->g->name, t->epoch + 1,
	                 (long long)t->step + 1, (long long)t->steps, msg);
}

int nash_trainer_run(nash_trainer *t, const nash_train_hooks *h, nash_err *e)
{
	const char *gn = t->g->name;
	if (t->epoch >= t->o.epochs)
		return 0;
	t->t_session = nash_now();
	int64_t steps = t->steps;
	if (steps < 1)
		return nash_fail(e, "graph %s: the training split has %lld images, too few for a batch", gn,
		                 (long long)t->d->train.n);
	while (t->epoch < t->o.epochs) {
		if (t->step == 0)
			nash_batcher_epoch(&t->bat);
		nash_net_train_mode(t->net, 1);
		double tseg = nash_now();
		int n;
		while ((n = nash_batcher_next(&t->bat, t->x, t->y)) > 0) {
			double lr = nash_sched_lr(&t->sched, (int64_t)t->epoch * steps + t->step);
			nash_net_zero_grad(t->net);
			if (nash_net_forward(t->net, t->x, n, e) < 0)
				return step_fail(t, e);
			int c1 = 0;
			double loss = nash_net_loss(t->net, t->y, t->o.smoothing, &c1, NULL);
			if (!isfinite(loss))
				return nash_fail(e, "graph %s: the loss is %s at epoch %d step %lld/%lld; training stopped", gn,
				                 isnan(loss) ? "NaN" : "infinite", t->epoch + 1, (long long)t->step + 1,
				                 (long long)steps);
			if (nash_net_backward(t->net, NASH_GRAD_WEIGHTS, e) < 0)
				return step_fail(t, e);
			double norm = nash_optim_clip(t->opt, t->o.clip);
			if (!isfinite(norm))
				return nash_fail(e, "graph %s: the gradient is %s at epoch %d step %lld/%lld; training stopped",
				                 gn, isnan(norm) ? "NaN" : "infinite", t->epoch + 1, (long long)t->step + 1,
				                 (long long)steps);
			nash_optim_step(t->opt, lr);
			t->step++;
			t->ep_loss += loss * n;
			t->ep_correct += c1;
			t->ep_images += n;
			t->train_images += n;
			t->last_loss = loss;
			double now = nash_now(), dt = now - tseg;
			tseg = now;
			t->ep_secs += dt;
			t->ep_train_secs += dt;
			t->train_secs += dt;
			if (h && h->step &&
			    h->step(h->ctx, t, t->epoch + 1, t->step - 1, n, loss,
			            100.0 * (double)t->ep_correct / (double)t->ep_images))
				return 1;
			tseg = nash_now();
		}
		if (end_epoch(t, h, e) < 0)
			return -1;
	}
	return 0;
}

int nash_trainer_finish(nash_trainer *t, nash_err *e)
{
	if (nash_net_sync(t->net, e) < 0)
		return -1;
	nash_val_del(t->g->meta, "checkpoint");
	nash_val *m = nash_val_map();
	nash_val_set(m, "dataset", nash_val_str(t->o.dataset ? t->o.dataset : t->d->name));
	nash_val_set(m, "source", nash_val_str(t->d->source));
	nash_val *im = nash_val_map();
	nash_val_set(im, "train", nash_val_int(t->d->train.n));
	if (t->d->val.n)
		nash_val_set(im, "val", nash_val_int(t->d->val.n));
	nash_val_set(im, "test", nash_val_int(t->d->test.n));
	nash_val_set(m, "images", im);
	if (t->o.limit > 0)
		nash_val_set(m, "limit", nash_val_int(t->o.limit));
	if (t->o.val_frac > 0)
		nash_val_set(m, "val_split", nash_val_f64(t->o.val_frac));
	nash_val *ov = opts_val(&t->o);
	for (size_t i = 0; i < ov->u.m.n; i++)
		nash_val_set(m, nash_val_as_str(ov->u.m.k[i]), nash_val_copy(ov->u.m.v[i]));
	nash_val_free(ov);
	nash_val_set(m, "threads", nash_val_int(t->o.threads));
	const nash_epoch_stats *last = NULL, *best = NULL;
	for (int i = 0; i < t->nhist; i++) {
		const nash_epoch_stats *s = &t->hist[i];
		if (isfinite(s->test_top1)) {
			last = s;
			if (!best || s->test_top1 > best->test_top1)
				best = s;
		}
	}
	if (last) {
		put_num(m, "top1", last->test_top1);
		put_num(m, "top5", last->test_top5);
		put_num(m, "test_loss", last->test_loss);
		put_num(m, "val_top1", last->val_top1);
		put_num(m, "best_top1", best->test_top1);
		put_num(m, "best_top5", best->test_top5);
		nash_val_set(m, "best_epoch", nash_val_int(best->epoch));
	}
	if (t->nhist) {
		put_num(m, "loss", t->hist[t->nhist - 1].loss);
		put_num(m, "train_top1", t->hist[t->nhist - 1].top1);
	}
	nash_val_set(m, "history", history_val(t));
	nash_val_set(m, "seconds", nash_val_f64(total_seconds(t)));
	put_num(m, "images_per_s", t->train_secs > 0 ? (double)t->train_images / t->train_secs : NAN);
	nash_val_set(t->g->meta, "train", m);
	return 0;
}
