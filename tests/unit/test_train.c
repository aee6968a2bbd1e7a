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
	float x[4 * 6];
	int y[4];
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
	int n = nash_ckpt_read(path, &rd, &e);
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
	CHECK(nash_ckpt_read(path, &rd, &e) < 0 && strstr(e.msg, "not the last one"), "state not last: %s", e.msg);
	nash_graph *c = nash_model_build(&mo, &e);
	nash_ckpt_write(path, &c, 1, &e);
	CHECK(nash_ckpt_read(path, &rd, &e) < 0 && strstr(e.msg, "not a nash-train checkpoint"), "untrained: %s",
	      e.msg);
	FILE *f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	CHECK(nash_ckpt_read(path, &rd, &e) < 0 && strstr(e.msg, path), "garbage names the file: %s", e.msg);
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
	rmdir(tmpdir);
	UNIT_DONE();
}
