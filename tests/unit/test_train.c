/* test_train.c - lib/train: optimiser updates against hand-derived values
 * and identities, clipping, schedules, batch iteration and its state,
 * progress text, checkpoint files. */
#include "train/train.h"
#include "models/models.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* A free-standing parameter (no net needed for optimiser tests). */
static nash_param mkparam(const char *name, nash_pkind kind, int n, const float *w0)
{
	nash_param p = {name, kind, n, nash_alloc(sizeof(float) * (size_t)n), nash_alloc(sizeof(float) * (size_t)n)};
	memcpy(p.w, w0, sizeof(float) * (size_t)n);
	return p;
}

static void freeparam(nash_param *p)
{
	free(p->w);
	free(p->g);
}

/* ---------------------------------------------------------- optimisers */

static void test_sgd(void)
{
	nash_optim_opts o;
	nash_optim_defaults(&o, NASH_OPT_SGD);
	float w0[2] = {1.0f, -2.0f};
	nash_param p = mkparam("w", NASH_P_WEIGHT, 2, w0);
	nash_param *pp = &p;

	/* heavy ball, m = 0.9, lr 0.1, constant gradient 1:
	 * b1 = 1, w = 0.9; b2 = 1.9, w = 0.71; b3 = 2.71, w = 0.439 */
	nash_optim *opt = nash_optim_new(&o, &pp, 1);
	for (int t = 0; t < 3; t++) {
		p.g[0] = 1.0f;
		p.g[1] = 0.0f;
		nash_optim_step(opt, 0.1);
	}
	CHECK_NEAR(p.w[0], 0.439, 1e-6, "momentum: three steps of a constant gradient");
	CHECK(p.w[1] == -2.0f && nash_optim_steps(opt) == 3, "zero gradient, no decay: unchanged");
	nash_optim_free(opt);

	/* Nesterov: d = g + m*b. b1 = 1, d = 1.9, w = 1 - .19 = .81;
	 * b2 = 1.9, d = 2.71, w = .81 - .271 = .539 */
	memcpy(p.w, w0, sizeof w0);
	o.nesterov = 1;
	opt = nash_optim_new(&o, &pp, 1);
	for (int t = 0; t < 2; t++) {
		p.g[0] = 1.0f;
		p.g[1] = 0.0f;
		nash_optim_step(opt, 0.1);
	}
	CHECK_NEAR(p.w[0], 0.539, 1e-6, "Nesterov: two steps of a constant gradient");
	nash_optim_free(opt);

	/* weight decay = the gradient of wd/2 * w^2 added by hand */
	o.nesterov = 1;
	o.wd = 0.05;
	nash_param q = mkparam("w", NASH_P_WEIGHT, 2, w0), *qq = &q;
	memcpy(p.w, w0, sizeof w0);
	nash_optim *a = nash_optim_new(&o, &pp, 1);
	o.wd = 0;
	nash_optim *b = nash_optim_new(&o, &qq, 1);
	double maxd = 0;
	for (int t = 0; t < 20; t++) {
		for (int k = 0; k < 2; k++) {
			p.g[k] = (float)sin(t + k);
			q.g[k] = p.g[k] + 0.05f * q.w[k];
		}
		nash_optim_step(a, 0.1);
		nash_optim_step(b, 0.1);
		for (int k = 0; k < 2; k++)
			maxd = fmax(maxd, fabs(p.w[k] - q.w[k]));
	}
	CHECK(maxd < 1e-6, "weight decay = L2 gradient added by hand (max diff %g)", maxd);
	nash_optim_free(a);
	nash_optim_free(b);

	/* learned quantizer scales are not decayed; state buffers are ignored */
	o.wd = 0.5;
	nash_param s = mkparam("s", NASH_P_QSCALE, 2, w0), st = mkparam("st", NASH_P_STATE, 2, w0);
	free(st.g);
	st.g = NULL;
	nash_param *ss[2] = {&s, &st};
	opt = nash_optim_new(&o, ss, 2);
	s.g[0] = s.g[1] = 0;
	nash_optim_step(opt, 0.1);
	CHECK(s.w[0] == 1.0f && s.w[1] == -2.0f && st.w[0] == 1.0f, "QSCALE: no weight decay; STATE untouched");
	nash_optim_free(opt);
	o.no_decay = 0;
	o.nesterov = 0;
	opt = nash_optim_new(&o, ss, 2);
	nash_optim_step(opt, 0.1);
	CHECK_NEAR(s.w[0], 1.0 - 0.1 * 0.5, 1e-7, "no_decay = 0: decayed like the rest");
	nash_optim_free(opt);

	/* minimises a quadratic */
	nash_optim_defaults(&o, NASH_OPT_SGD);
	o.nesterov = 1;
	memcpy(p.w, w0, sizeof w0);
	opt = nash_optim_new(&o, &pp, 1);
	for (int t = 0; t < 200; t++) {
		p.g[0] = 2.0f * (p.w[0] - 3.0f);
		p.g[1] = 8.0f * (p.w[1] + 1.0f);
		nash_optim_step(opt, 0.02);
	}
	CHECK(fabs(p.w[0] - 3) < 1e-3 && fabs(p.w[1] + 1) < 1e-3, "SGD reaches the minimum (%g, %g)", p.w[0], p.w[1]);
	nash_optim_free(opt);
	freeparam(&p);
	freeparam(&q);
	freeparam(&s);
	free(st.w);
}

static void test_adam(void)
{
	nash_optim_opts o;
	nash_optim_defaults(&o, NASH_OPT_ADAM);
	float w0[3] = {1.0f, -2.0f, 0.5f};
	nash_param p = mkparam("w", NASH_P_WEIGHT, 3, w0), *pp = &p;
	nash_optim *opt = nash_optim_new(&o, &pp, 1);
	/* first step: m^ = g, v^ = g^2, so each weight moves by lr * g/(|g| + eps) */
	p.g[0] = 3.0f;
	p.g[1] = -0.001f;
	p.g[2] = 0.0f;
	nash_optim_step(opt, 0.01);
	CHECK_NEAR(p.w[0], 1.0 - 0.01 * 3 / (3 + 1e-8), 1e-7, "Adam step 1: lr * sign(g)");
	CHECK_NEAR(p.w[1], -2.0 + 0.01 * 0.001 / (0.001 + 1e-8), 1e-6, "Adam step 1, small gradient");
	CHECK(p.w[2] == 0.5f, "Adam: zero gradient, no move");
	/* second step with g = 1 after g = 3: m = .9*.3 + .1 = .37 -> .37/.19,
	 * v = .999*.009 + .001 = .009991 -> /.001999 */
	p.g[0] = 1.0f;
	p.g[1] = p.g[2] = 0;
	double before = p.w[0];
	nash_optim_step(opt, 0.01);
	double mh = 0.37 / (1 - 0.81), vh = 0.009991 / (1 - 0.999 * 0.999);
	CHECK_NEAR(p.w[0], before - 0.01 * mh / (sqrt(vh) + 1e-8), 1e-6, "Adam step 2 by hand");
	nash_optim_free(opt);

	/* AdamW: with a zero gradient only the decoupled decay acts */
	nash_optim_defaults(&o, NASH_OPT_ADAMW);
	o.wd = 0.1;
	memcpy(p.w, w0, sizeof w0);
	opt = nash_optim_new(&o, &pp, 1);
	p.g[0] = p.g[1] = p.g[2] = 0;
	nash_optim_step(opt, 0.5);
	CHECK_NEAR(p.w[1], -2.0 * (1 - 0.05), 1e-6, "AdamW: w *= 1 - lr*wd");
	nash_optim_free(opt);

	/* Adam minimises a badly scaled quadratic */
	nash_optim_defaults(&o, NASH_OPT_ADAM);
	memcpy(p.w, w0, sizeof w0);
	opt = nash_optim_new(&o, &pp, 1);
	for (int t = 0; t < 3000; t++) {
		p.g[0] = 200.0f * (p.w[0] - 1.5f);
		p.g[1] = 0.02f * (p.w[1] - 0.5f);
		p.g[2] = 2.0f * p.w[2];
		nash_optim_step(opt, t < 2000 ? 0.01 : 0.001);
	}
	CHECK(fabs(p.w[0] - 1.5) < 1e-2 && fabs(p.w[1] - 0.5) < 5e-2 && fabs(p.w[2]) < 1e-2,
	      "Adam reaches the minimum (%g, %g, %g)", p.w[0], p.w[1], p.w[2]);
	nash_optim_free(opt);
	freeparam(&p);
}

static void test_clip_state(void)
{
	nash_optim_opts o;
	nash_optim_defaults(&o, NASH_OPT_SGD);
	float a0[2] = {0, 0}, b0[1] = {0};
	nash_param a = mkparam("a", NASH_P_WEIGHT, 2, a0), b = mkparam("b", NASH_P_BN, 1, b0);
	nash_param *ps[2] = {&a, &b};
	nash_optim *opt = nash_optim_new(&o, ps, 2);
	a.g[0] = 3;
	a.g[1] = 0;
	b.g[0] = 4;
	CHECK_NEAR(nash_optim_grad_norm(opt), 5, 1e-12, "global norm over parameters");
	double n = nash_optim_clip(opt, 2.5);
	CHECK(n == 5 && fabs(a.g[0] - 1.5) < 1e-5 && fabs(b.g[0] - 2.0) < 1e-5, "clip to 2.5 keeps the direction");
	n = nash_optim_clip(opt, 10);
	CHECK(fabs(a.g[0] - 1.5) < 1e-5, "below the limit: untouched");
	b.g[0] = NAN;
	n = nash_optim_clip(opt, 1);
	CHECK(isnan(n) && a.g[0] == a.g[0], "non-finite norm reported, nothing scaled");
	nash_optim_free(opt);

	/* state round trip: 5 steps, save, 5 more == restore into a fresh one */
	for (int kind = 0; kind < 3; kind++) {
		nash_optim_defaults(&o, (nash_optkind)kind);
		o.nesterov = 1;
		o.wd = 1e-2;
		a.w[0] = a.w[1] = b.w[0] = 0.3f;
		opt = nash_optim_new(&o, ps, 2);
		for (int t = 0; t < 10; t++) {
			a.g[0] = (float)cos(t);
			a.g[1] = (float)sin(3 * t);
			b.g[0] = 0.1f * (float)t;
			nash_optim_step(opt, 0.05);
			if (t == 4) {
				nash_val *st = nash_optim_state(opt);
				nash_optim *o2 = nash_optim_new(&o, ps, 2);
				nash_err e = {{0}};
				float wa[2] = {a.w[0], a.w[1]}, wb = b.w[0];
				CHECK(nash_optim_restore(o2, st, &e) == 0, "%s restore: %s", nash_optkind_name(o.kind), e.msg);
				for (int u = 5; u < 10; u++) {
					a.g[0] = (float)cos(u);
					a.g[1] = (float)sin(3 * u);
					b.g[0] = 0.1f * (float)u;
					nash_optim_step(o2, 0.05);
				}
				float ra[2] = {a.w[0], a.w[1]}, rb = b.w[0];
				a.w[0] = wa[0];
				a.w[1] = wa[1];
				b.w[0] = wb;
				for (int u = 5; u < 10; u++) {
					a.g[0] = (float)cos(u);
					a.g[1] = (float)sin(3 * u);
					b.g[0] = 0.1f * (float)u;
					nash_optim_step(opt, 0.05);
				}
				CHECK(ra[0] == a.w[0] && ra[1] == a.w[1] && rb == b.w[0], "%s: restored state continues bit for bit",
				      nash_optkind_name(o.kind));
				nash_optim_defaults(&o, kind == 0 ? NASH_OPT_ADAM : NASH_OPT_SGD);
				nash_optim *o3 = nash_optim_new(&o, ps, 2);
				CHECK(nash_optim_restore(o3, st, &e) < 0 && strstr(e.msg, "optimiser state is for"),
				      "state of another optimiser refused: %s", e.msg);
				nash_optim_free(o3);
				nash_optim_free(o2);
				nash_val_free(st);
				break;
			}
		}
		nash_optim_free(opt);
	}
	nash_optkind k;
	CHECK(nash_optkind_parse("adamw", &k) == 0 && k == NASH_OPT_ADAMW && nash_optkind_parse("lion", &k) < 0,
	      "optimiser names");
	freeparam(&a);
	freeparam(&b);
}

/* ------------------------------------------------------------ schedules */

static void test_sched(void)
{
	nash_sched s = {NASH_SCHED_COSINE, 0.1, 0.001, 110, 10, 0, 0};
	CHECK_NEAR(nash_sched_lr(&s, 0), 0.01, 1e-12, "warm-up starts at lr/warmup");
	CHECK_NEAR(nash_sched_lr(&s, 4), 0.05, 1e-12, "warm-up is linear");
	CHECK_NEAR(nash_sched_lr(&s, 10), 0.1, 1e-12, "peak after warm-up");
	CHECK_NEAR(nash_sched_lr(&s, 60), (0.1 + 0.001) / 2, 1e-12, "cosine midpoint");
	CHECK(nash_sched_lr(&s, 109) > 0.001 && nash_sched_lr(&s, 109) < 0.0011, "cosine ends near min_lr");
	CHECK_NEAR(nash_sched_lr(&s, 500), 0.001, 1e-12, "after the end: min_lr");
	double prev = 1;
	int mono = 1;
	for (int t = 10; t < 110; t++) {
		mono &= nash_sched_lr(&s, t) <= prev;
		prev = nash_sched_lr(&s, t);
	}
	CHECK(mono, "cosine decreases");
	nash_sched st = {NASH_SCHED_STEP, 0.1, 0, 100, 0, 30, 0.1};
	CHECK(nash_sched_lr(&st, 29) == 0.1 && fabs(nash_sched_lr(&st, 30) - 0.01) < 1e-15 &&
	      fabs(nash_sched_lr(&st, 95) - 1e-4) < 1e-15, "step: x0.1 every 30 steps");
	nash_sched c = {NASH_SCHED_CONST, 0.3, 0, 100, 0, 0, 0};
	CHECK(nash_sched_lr(&c, 0) == 0.3 && nash_sched_lr(&c, 99) == 0.3, "const");
	nash_schedkind k;
	double per = 0, gam = 0;
	nash_err e = {{0}};
	CHECK(nash_sched_parse("step:5:0.5", &k, &per, &gam, &e) == 0 && k == NASH_SCHED_STEP && per == 5 && gam == 0.5,
	      "parse step:5:0.5");
	CHECK(nash_sched_parse("step:2", &k, &per, &gam, &e) == 0 && per == 2 && gam == 0.1, "parse step:2");
	CHECK(nash_sched_parse("cosine", &k, &per, &gam, &e) == 0 && k == NASH_SCHED_COSINE, "parse cosine");
	CHECK(nash_sched_parse("step:0", &k, &per, &gam, &e) < 0 && strstr(e.msg, "EPOCHS > 0"), "step:0: %s", e.msg);
	CHECK(nash_sched_parse("step:3:2", &k, &per, &gam, &e) < 0 && strstr(e.msg, "GAMMA"), "gamma 2: %s", e.msg);
	CHECK(nash_sched_parse("linear", &k, &per, &gam, &e) < 0 && strstr(e.msg, "unknown schedule 'linear'"),
	      "unknown: %s", e.msg);
}

/* -------------------------------------------------------------- batches */

static nash_dataset *tiny_dataset(int ntrain)
{
	nash_dataset *d = nash_alloc(sizeof *d);
	d->name = nash_strdup("tiny");
	d->source = nash_strdup("memory");
	d->c = 1;
	d->h = 2;
	d->w = 3;
	d->classes = 10;
	d->train.n = ntrain;
	d->train.x = nash_alloc((size_t)ntrain * 6);
	d->train.y = nash_alloc((size_t)ntrain);
	for (int i = 0; i < ntrain; i++) {
		for (int p = 0; p < 6; p++)
			d->train.x[i * 6 + p] = (uint8_t)(i + p);   /* pixel 0 identifies the image */
		d->train.y[i] = (uint8_t)(i % 10);
	}
	return d;
}

static void test_batcher(void)
{
	nash_dataset *d = tiny_dataset(21);
	nash_batcher b;
	nash_batcher_init(&b, d, &d->train, 4, 1, NULL, 9);
	CHECK(nash_batcher_steps(&b) == 5, "21 images in batches of 4: 5 steps (the single last one dropped)");
	float x[8 * 6]; /* batches of 4, and of 8 at the end */
	int y[8];
	int orders[2][21], n, seen[21], labels_ok = 1;
	for (int ep = 0; ep < 2; ep++) {
		nash_batcher_epoch(&b);
		memset(seen, 0, sizeof seen);
		int k = 0, steps = 0;
		while ((n = nash_batcher_next(&b, x, y)) > 0) {
			steps++;
			for (int i = 0; i < n; i++) {
				int id = (int)lroundf(x[i * 6] * 255.0f);
				orders[ep][k++] = id;
				seen[id]++;
				labels_ok &= y[i] == id % 10;
			}
		}
		int once = 0;
		for (int i = 0; i < 21; i++)
			once += seen[i] == 1;
		CHECK(steps == 5 && k == 20 && once == 20, "epoch %d: 5 batches, 20 distinct images", ep + 1);
	}
	CHECK(labels_ok, "labels follow their images");
	CHECK(memcmp(orders[0], orders[1], sizeof orders[0]) != 0, "each epoch draws a new order");

	/* state mid-epoch: the rest of the epoch and the next one replay */
	nash_batcher_epoch(&b);
	nash_batcher_next(&b, x, y);
	nash_val *st = nash_batcher_state(&b);
	float rest[3][16 * 6];
	int nr = 0;
	nash_augment aug = {1, 1};
	for (;;) {
		n = nash_batcher_next(&b, rest[nr % 3], y);
		if (!n) {
			if (b.epoch == 4)
				break;
			nash_batcher_epoch(&b);
			continue;
		}
		nr++;
	}
	nash_batcher b2;
	nash_batcher_init(&b2, d, &d->train, 4, 1, NULL, 12345);
	nash_err e = {{0}};
	CHECK(nash_batcher_restore(&b2, st, &e) == 0, "restore: %s", e.msg);
	int same = 1, n2 = 0;
	float cur[4 * 6];
	for (;;) {
		n = nash_batcher_next(&b2, cur, y);
		if (!n) {
			if (b2.epoch == 4)
				break;
			nash_batcher_epoch(&b2);
			continue;
		}
		if (n2 >= nr - 3)
			same &= !memcmp(cur, rest[n2 % 3], sizeof(float) * (size_t)n * 6);
		n2++;
	}
	CHECK(same && n2 == nr, "restored batcher replays the same batches (%d of %d)", n2, nr);
	nash_dataset *d2 = tiny_dataset(22);
	nash_batcher b3;
	nash_batcher_init(&b3, d2, &d2->train, 4, 1, &aug, 1);
	CHECK(nash_batcher_restore(&b3, st, &e) < 0 && strstr(e.msg, "21 images"), "other split size: %s", e.msg);
	CHECK(nash_batcher_steps(&b3) == 6, "22 in 4s: 6 steps");
	nash_val_free(st);

	/* augmentation draws come from the same rng: restore replays them */
	nash_batcher_epoch(&b3);
	nash_batcher_next(&b3, x, y);
	st = nash_batcher_state(&b3);
	float a1[4 * 6], a2[4 * 6];
	nash_batcher_next(&b3, a1, y);
	nash_batcher_restore(&b3, st, &e);
	nash_batcher_next(&b3, a2, y);
	CHECK(!memcmp(a1, a2, sizeof a1), "augmented batches replay after restore");
	nash_val_free(st);
	nash_batcher_free(&b);
	nash_batcher_free(&b2);
	nash_batcher_free(&b3);

	/* unshuffled: file order */
	nash_batcher_init(&b, d, &d->train, 8, 0, NULL, 1);
	nash_batcher_epoch(&b);
	nash_batcher_next(&b, x, y);
	n = nash_batcher_next(&b, x, y);
	CHECK(n == 8 && lroundf(x[0] * 255) == 8, "unshuffled batches follow the file");
	nash_batcher_free(&b);

	nash_rng r, r2;
	nash_rng_seed(&r, 5);
	nash_rng_u64(&r);
	nash_val *rs = nash_rng_state(&r);
	CHECK(nash_rng_restore(&r2, rs, &e) == 0 && nash_rng_u64(&r2) == nash_rng_u64(&r), "rng state round trip");
	nash_val_free(rs);
	nash_dataset_free(d);
	nash_dataset_free(d2);
}

/* ----------------------------------------------------- nets and training */

/* Flatten + Gemm over 1 x 2 x 3 images, 10 classes, weights w[o][k] given. */
static nash_graph *linear_graph(const float *w, const float *b)
{
	nash_graph *g = nash_graph_new("lin");
	int64_t in[] = {1, 2, 3}, ws[] = {10, 6}, bs[] = {10};
	nash_graph_add_input(g, "x", NASH_F32, 3, in);
	memcpy(nash_tensor_add(g, "fc.w", NASH_F32, 2, ws)->data, w, sizeof(float) * 60);
	memcpy(nash_tensor_add(g, "fc.b", NASH_F32, 1, bs)->data, b, sizeof(float) * 10);
	nash_attr_set_int(nash_node_add(g, "Flatten", "flat", (const char *[]){"x", NULL}, (const char *[]){"f", NULL}),
	                  "axis", 1);
	nash_node *n = nash_node_add(g, "Gemm", "fc", (const char *[]){"f", "fc.w", "fc.b", NULL},
	                             (const char *[]){"y", NULL});
	nash_attr_set_int(n, "transB", 1);
	nash_graph_add_output(g, "y");
	nash_err e = {{0}};
	if (nash_graph_validate(g, &e) < 0)
		printf("# linear graph: %s\n", e.msg);
	return g;
}

/* Images whose pixels tell the class: pixel p of class k is bright when
 * p == k % 6, and the class's tens digit shows in the mean level. */
static nash_dataset *learnable(int n, int ntest)
{
	nash_dataset *d = tiny_dataset(n);
	d->test.n = ntest;
	d->test.x = nash_alloc((size_t)ntest * 6);
	d->test.y = nash_alloc((size_t)ntest);
	nash_rng r;
	nash_rng_seed(&r, 11);
	for (int s = 0; s < 2; s++) {
		nash_split *sp = s ? &d->test : &d->train;
		for (int i = 0; i < sp->n; i++) {
			int k = (int)nash_rng_below(&r, 10);
			sp->y[i] = (uint8_t)k;
			for (int p = 0; p < 6; p++)
				sp->x[i * 6 + p] = (uint8_t)(nash_rng_below(&r, 40) + (p == k % 6 ? 150 : 0) + (k >= 6 ? 60 : 0));
		}
	}
	return d;
}

static void test_evaluate(void)
{
	/* logits = W x with x = pixel/255: scores we can rank by hand */
	float w[60] = {0}, b[10] = {0};
	for (int o = 0; o < 10; o++)
		for (int k = 0; k < 6; k++)
			w[o * 6 + k] = (float)((o * 7 + k * 3) % 11) - 5.0f;
	b[3] = 0.25f;
	nash_graph *g = linear_graph(w, b);
	nash_dataset *d = learnable(30, 17);
	nash_err e = {{0}};
	nash_net_opts no = {.batch = 4, .train = 0, .threads = 1};
	nash_net *net = nash_net_new(g, &no, &e);
	CHECK(net != NULL, "linear net: %s", e.msg);
	if (!net)
		return;
	nash_evalres r;
	CHECK(nash_evaluate(net, 4, d, &d->test, 0, 1, &r, &e) == 0, "evaluate: %s", e.msg);
	int64_t top1 = 0, top5 = 0, conf[100] = {0};
	double loss = 0;
	for (int i = 0; i < 17; i++) {
		double l[10], mx = -1e30, se = 0;
		for (int o = 0; o < 10; o++) {
			l[o] = b[o];
			for (int k = 0; k < 6; k++)
				l[o] += w[o * 6 + k] * (d->test.x[i * 6 + k] / 255.0);
			mx = l[o] > mx ? l[o] : mx;
		}
		int y = d->test.y[i], rank = 0, p = 0;
		for (int o = 0; o < 10; o++) {
			rank += l[o] > l[y];
			p = l[o] > l[p] ? o : p;
			se += exp(l[o] - mx);
		}
		top1 += rank < 1;
		top5 += rank < 5;
		loss += mx + log(se) - l[y];
		conf[y * 10 + p]++;
	}
	CHECK(r.n == 17 && r.top1 == top1 && r.top5 == top5, "top-1 %lld/%lld, top-5 %lld/%lld by hand",
	      (long long)r.top1, (long long)top1, (long long)r.top5, (long long)top5);
	CHECK_NEAR(r.loss, loss / 17, 1e-5, "mean cross-entropy by hand");
	CHECK(!memcmp(r.confusion, conf, sizeof conf), "confusion matrix by hand");
	int64_t s1 = 0, sn = 0;
	for (int c = 0; c < 10; c++) {
		s1 += r.class_top1[c];
		sn += r.class_n[c];
	}
	CHECK(s1 == r.top1 && sn == 17, "per-class counts add up");
	nash_evalres r2;
	nash_evaluate(net, 3, d, &d->test, 5, 0, &r2, &e);
	CHECK(r2.n == 5 && !r2.confusion && !r2.pred, "limit 5, no detail");
	nash_evalres_free(&r);
	float ties[4] = {1, 3, 3, 0};
	CHECK(nash_score_rank(ties, 4, 1) == 0 && nash_score_rank(ties, 4, 2) == 1 && nash_score_rank(ties, 4, 3) == 3,
	      "ties rank the lower index first");
	nash_param **ps;
	int np = nash_net_params(net, 1u << NASH_P_BIAS, &ps);
	CHECK(np == 0, "an eval-only net has no gradients to select");
	free(ps);
	nash_net_free(net);
	nash_graph_free(g);
	nash_dataset_free(d);
}

typedef struct stopper {
	int64_t at, seen;
} stopper;

static int stop_at(void *ctx, nash_trainer *t, int epoch, int64_t step, int n, double loss, double acc)
{
	stopper *s = ctx;
	(void)t, (void)epoch, (void)step, (void)n, (void)loss, (void)acc;
	return ++s->seen == s->at;
}

static void test_trainer(void)
{
	float w[60], b[10] = {0};
	nash_rng r;
	nash_rng_seed(&r, 3);
	for (int i = 0; i < 60; i++)
		w[i] = (float)(nash_rng_normal(&r) * 0.1);
	nash_dataset *d = learnable(400, 200);
	nash_train_opts o;
	nash_train_defaults(&o);
	CHECK(o.optim.kind == NASH_OPT_SGD && o.optim.nesterov && o.optim.wd == 5e-4 && o.lr == 0.1 &&
	      o.sched == NASH_SCHED_COSINE && o.batch == 128 && o.epochs == 15 &&
	      (o.optim.no_decay & (1u << NASH_P_QSCALE)), "defaults; learned quantizer scales are not decayed");
	o.epochs = 4;
	o.batch = 32;
	o.threads = 1;
	o.lr = 0.5;
	o.dataset = "learnable";
	nash_err e = {{0}};

	/* an uninterrupted run learns the task */
	nash_graph *g1 = linear_graph(w, b);
	nash_trainer *t = nash_trainer_new(g1, d, &o, &e);
	CHECK(t != NULL, "trainer: %s", e.msg);
	if (!t)
		return;
	CHECK(nash_trainer_steps(t) == 13, "400 images in batches of 32: 13 steps");
	CHECK(nash_trainer_run(t, NULL, &e) == 0 && nash_trainer_finish(t, &e) == 0, "run: %s", e.msg);
	int nh;
	const nash_epoch_stats *hp = nash_trainer_history(t, &nh);
	nash_epoch_stats h[4];
	memcpy(h, hp, sizeof h);
	CHECK(nh == 4 && h[3].test_top1 > 80 && h[3].test_top1 >= h[0].test_top1 - 5, "learns: %.1f%% -> %.1f%%",
	      h[0].test_top1, h[3].test_top1);
	CHECK(nash_val_path(g1->meta, "train.top1") && !nash_val_get(g1->meta, "checkpoint"),
	      "meta.train written, no checkpoint left");
	CHECK(nash_train_check_done(g1, d, &o, &e) == 0, "check_done on its own options: %s", e.msg);
	o.batch = 16;
	CHECK(nash_train_check_done(g1, d, &o, &e) < 0 && strstr(e.msg, "batch=32, this run has batch=16"),
	      "check_done names the difference: %s", e.msg);
	o.batch = 32;
	nash_trainer_free(t);

	/* stopped after 20 steps, checkpointed through a file, resumed */
	nash_graph *g2 = linear_graph(w, b);
	t = nash_trainer_new(g2, d, &o, &e);
	stopper st = {20, 0};
	nash_train_hooks hk = {&st, stop_at, NULL};
	CHECK(nash_trainer_run(t, &hk, &e) == 1 && nash_trainer_epoch(t) == 1 && nash_trainer_step(t) == 7,
	      "the step hook stops the loop at epoch 2 step 7");
	CHECK(nash_trainer_checkpoint(t, &e) == 0, "checkpoint: %s", e.msg);
	char *path = nash_strfmt("%s/t.ckpt", tmpdir);
	CHECK(nash_ckpt_write(path, &g2, 1, &e) == 0, "write: %s", e.msg);
	nash_trainer_free(t);
	nash_graph **rd;
	CHECK(nash_ckpt_read(path, "train", &rd, &e) == 1, "read: %s", e.msg);
	t = nash_trainer_new(rd[0], d, &o, &e);
	CHECK(t && nash_trainer_restore(t, &e) == 0, "restore: %s", e.msg);
	CHECK(nash_trainer_run(t, NULL, &e) == 0 && nash_trainer_finish(t, &e) == 0, "finish: %s", e.msg);
	int same = 1;
	for (int i = 0; i < 60; i++)
		same &= nash_tensor_f32(rd[0], "fc.w")[i] == nash_tensor_f32(g1, "fc.w")[i];
	for (int i = 0; i < 10; i++)
		same &= nash_tensor_f32(rd[0], "fc.b")[i] == nash_tensor_f32(g1, "fc.b")[i];
	CHECK(same, "resumed run ends with the uninterrupted run's weights, bit for bit");
	int nh2;
	const nash_epoch_stats *h2 = nash_trainer_history(t, &nh2);
	CHECK(nh2 == 4 && h2[1].loss == h[1].loss && h2[3].test_top1 == h[3].test_top1,
	      "and the same history (epoch 2 loss %.6f vs %.6f)", h2[1].loss, h[1].loss);
	nash_trainer_free(t);

	/* other options refuse the checkpoint */
	nash_graph *g3 = linear_graph(w, b);
	t = nash_trainer_new(g3, d, &o, &e);
	st.seen = 0;
	nash_trainer_run(t, &hk, &e);
	nash_trainer_checkpoint(t, &e);
	nash_trainer_free(t);
	o.optim.wd = 1e-3;
	t = nash_trainer_new(g3, d, &o, &e);
	CHECK(t && nash_trainer_restore(t, &e) < 0 &&
	      strstr(e.msg, "the checkpoint was made with optimizer.weight_decay=0.0005, this run has optimizer.weight_decay=0.001"),
	      "other options: %s", e.msg);
	nash_trainer_free(t);
	o.optim.wd = 5e-4;

	/* graphs the trainer refuses */
	float big[60];
	for (int i = 0; i < 60; i++)
		big[i] = 1.7e38f;   /* finite, but two of them overflow float */
	nash_graph *g4 = linear_graph(big, b);
	o.epochs = 1;
	t = nash_trainer_new(g4, d, &o, &e);
	CHECK(t && nash_trainer_run(t, NULL, &e) < 0 &&
	      (strstr(e.msg, "at epoch 1 step 1/13") != NULL), "overflowing logits stop at epoch 1 step 1: %s", e.msg);
	nash_trainer_free(t);
	nash_graph *g5 = linear_graph(w, b);
	nash_node_add(g5, "Softmax", "sm", (const char *[]){"y", NULL}, (const char *[]){"p", NULL});
	free(g5->outputs[0].name);
	g5->outputs[0].name = nash_strdup("p");
	nash_shape_rule_add("Softmax", nash_shape_rule("Relu"));
	nash_graph_validate(g5, &e);
	CHECK(!nash_trainer_new(g5, d, &o, &e) && strstr(e.msg, "sm") && strstr(e.msg, "Softmax"),
	      "an op the engine cannot train names the node: %s", e.msg);
	nash_graph *g6 = linear_graph(w, b);
	free(g6->nodes[1]->op);
	g6->nodes[1]->op = nash_strdup("MVAU");
	CHECK(!nash_trainer_new(g6, d, &o, &e) && strstr(e.msg, "node fc is a hardware operator (MVAU)"),
	      "a hardware operator: %s", e.msg);
	CHECK(nash_graph_hw_node(g6) == g6->nodes[1] && !nash_graph_hw_node(g5), "hardware node detection");
	nash_model_opts mo = {.arch = "resnet18", .in_c = 1, .in_h = 28, .in_w = 28, .width = 4, .version = 1,
	                      .search = 1};
	nash_graph *g7 = nash_model_build(&mo, &e);
	CHECK(g7 && !nash_trainer_new(g7, d, &o, &e) && strstr(e.msg, "is a Choice (a NASH supernet)"),
	      "a supernet: %s", e.msg);
	unlink(path);
	free(path);
	nash_graph_free(rd[0]);
	free(rd);
	nash_graph *gs[] = {g1, g2, g3, g4, g5, g6, g7};
	for (int i = 0; i < 7; i++)
		nash_graph_free(gs[i]);
	nash_dataset_free(d);
}

/* ------------------------------------------------------------- progress */

static void test_progress(void)
{
	nash_progress p;
	char buf[256];
	nash_progress_init(&p, 1, 3, 10, 30);
	nash_progress_epoch_start(&p);
	CHECK(nash_progress_step(&p, 1, 0, 64, 2.3, 10.0, buf, sizeof buf) == 1, "first step draws");
	CHECK(nash_progress_step(&p, 1, 1, 64, 2.2, 11.0, buf, sizeof buf) == 0, "at most 5 redraws a second");
	CHECK(nash_progress_step(&p, 1, 9, 64, 1.234567, 50.0, buf, sizeof buf) == 1, "the epoch's last step draws");
	const char *want = "epoch 1/3 [####################] 10/10 loss 1.2346 acc 50.0% ";
	CHECK(!strncmp(buf, want, strlen(want)) &&
	      strstr(buf, " img/s ETA "), "bar text: %s", buf);
	char t[16];
	CHECK(!strcmp(nash_fmt_duration(75, t), "1:15") && !strcmp(nash_fmt_duration(3725, t), "1:02:05"),
	      "durations");
}

/* ---------------------------------------------------------- checkpoints */

static void test_ckpt(void)
{
	nash_err e = {{0}};
	nash_model_opts mo = {.arch = "tfc"};
	nash_graph *a = nash_model_build(&mo, &e), *b = nash_model_build(&mo, &e);
	char fa[17], fb[17];
	CHECK(nash_graph_fingerprint(a, fa, &e) == 0 && nash_graph_fingerprint(b, fb, &e) == 0 && !strcmp(fa, fb),
	      "same graph, same fingerprint %s", fa);
	nash_tensor_f32(b, b->nodes[1]->in[1])[0] += 1e-3f;
	nash_graph_fingerprint(b, fb, &e);
	CHECK(strcmp(fa, fb) != 0, "a changed weight changes the fingerprint");
	nash_val_set(nash_meta(a, "train"), "top1", nash_val_f64(50));
	nash_val *ck = nash_meta(b, "checkpoint");
	nash_val_set(ck, "epoch", nash_val_int(3));
	nash_val_set(ck, "blob", nash_val_bin("\0\1\2", 3));
	char *path = nash_strfmt("%s/ck.nash", tmpdir);
	nash_graph *gs[2] = {a, b};
	CHECK(nash_ckpt_write(path, gs, 2, &e) == 0, "write: %s", e.msg);
	nash_graph **rd = NULL;
	int n = nash_ckpt_read(path, "train", &rd, &e);
	CHECK(n == 2 && nash_val_as_int(nash_val_path(rd[1]->meta, "checkpoint.epoch"), 0) == 3 &&
	      nash_val_equal(nash_val_path(rd[1]->meta, "checkpoint.blob"), nash_val_get(ck, "blob")),
	      "read back: two graphs, state in the last");
	char fr[17];
	nash_val_del(rd[1]->meta, "checkpoint");
	nash_val_del(b->meta, "checkpoint");
	nash_graph_fingerprint(rd[1], fr, &e);
	nash_graph_fingerprint(b, fb, &e);
	CHECK(!strcmp(fr, fb), "weights survive the round trip exactly");
	for (int i = 0; i < n; i++)
		nash_graph_free(rd[i]);
	free(rd);

	nash_graph *gs2[2] = {b, a};
	nash_val_set(nash_meta(b, "checkpoint"), "epoch", nash_val_int(1));
	nash_ckpt_write(path, gs2, 2, &e);
	CHECK(nash_ckpt_read(path, "train", &rd, &e) < 0 && strstr(e.msg, "not the last one"), "state not last: %s", e.msg);
	nash_graph *c = nash_model_build(&mo, &e);
	nash_ckpt_write(path, &c, 1, &e);
	CHECK(nash_ckpt_read(path, "train", &rd, &e) < 0 && strstr(e.msg, "has neither meta.train nor meta.checkpoint"), "untrained: %s",
	      e.msg);
	FILE *f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	CHECK(nash_ckpt_read(path, "train", &rd, &e) < 0 && strstr(e.msg, path), "garbage names the file: %s", e.msg);
	CHECK(nash_ckpt_write("/dev/full/x", gs, 1, &e) < 0 && strstr(e.msg, "/dev/full/x"), "unwritable: %s", e.msg);
	unlink(path);
	free(path);
	nash_graph_free(a);
	nash_graph_free(b);
	nash_graph_free(c);
}

int main(void)
{
	const char *td = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/nash-test-train.XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(tmpdir))
		return 1;
	test_sgd();
	test_adam();
	test_clip_state();
	test_sched();
	test_batcher();
	test_progress();
	test_ckpt();
	test_evaluate();
	test_trainer();
	rmdir(tmpdir);
	UNIT_DONE();
}
