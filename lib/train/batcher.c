/* batcher.c - epochs of (shuffled, augmented) batches over a split, and
 * their state for checkpoints. */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

void nash_batcher_init(nash_batcher *b, const nash_dataset *d, const nash_split *s, int batch, int shuffle,
                       const nash_augment *aug, uint64_t seed)
{
	memset(b, 0, sizeof *b);
	b->d = d;
	b->s = s;
	b->batch = batch > 0 ? batch : 1;
	b->shuffle = shuffle;
	if (aug)
		b->aug = *aug;
	nash_rng_seed(&b->rng, seed);
	b->order = nash_alloc(sizeof *b->order * (size_t)(s->n > 0 ? s->n : 1));
	for (int64_t i = 0; i < s->n; i++)
		b->order[i] = i;
	b->pos = s->n;   /* no epoch begun */
}

void nash_batcher_free(nash_batcher *b)
{
	free(b->order);
	b->order = NULL;
}

/* Images the epoch uses: all, less a trailing single image. */
static int64_t used(const nash_batcher *b)
{
	int64_t n = b->s->n;
	if (n > 1 && n % b->batch == 1)
		n--;
	return n;
}

int64_t nash_batcher_steps(const nash_batcher *b)
{
	return (used(b) + b->batch - 1) / b->batch;
}

void nash_batcher_epoch(nash_batcher *b)
{
	int64_t n = b->s->n;
	for (int64_t i = 0; i < n; i++)
		b->order[i] = i;
	if (b->shuffle)
		for (int64_t i = n - 1; i > 0; i--) {
			int64_t j = (int64_t)nash_rng_below(&b->rng, (uint64_t)i + 1), t = b->order[i];
			b->order[i] = b->order[j];
			b->order[j] = t;
		}
	b->pos = 0;
	b->epoch++;
}

int nash_batcher_next(nash_batcher *b, float *x, int *y)
{
	int64_t end = used(b);
	if (b->pos >= end)
		return 0;
	int n = (int)(end - b->pos < b->batch ? end - b->pos : b->batch);
	const nash_augment *aug = b->aug.crop_pad > 0 || b->aug.flip ? &b->aug : NULL;
	nash_batch_fill(b->d, b->s, b->order + b->pos, n, aug, &b->rng, x, y);
	b->pos += n;
	return n;
}

nash_val *nash_rng_state(const nash_rng *r)
{
	uint8_t buf[32];
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 8; k++)
			buf[i * 8 + k] = (uint8_t)(r->s[i] >> (8 * k));
	return nash_val_bin(buf, 32);
}

int nash_rng_restore(nash_rng *r, const nash_val *v, nash_err *e)
{
	if (!v || v->t != NASH_V_BIN || v->u.s.n != 32)
		return nash_fail(e, "random generator state is not 32 bytes");
	const uint8_t *p = (const uint8_t *)v->u.s.p;
	for (int i = 0; i < 4; i++) {
		r->s[i] = 0;
		for (int k = 0; k < 8; k++)
			r->s[i] |= (uint64_t)p[i * 8 + k] << (8 * k);
	}
	return 0;
}

nash_val *nash_batcher_state(const nash_batcher *b)
{
	nash_val *st = nash_val_map();
	nash_val_set(st, "n", nash_val_int(b->s->n));
	nash_val_set(st, "epoch", nash_val_int(b->epoch));
	nash_val_set(st, "pos", nash_val_int(b->pos));
	nash_val_set(st, "rng", nash_rng_state(&b->rng));
	/* the order as little-endian uint32 */
	size_t n = (size_t)b->s->n;
	uint8_t *buf = nash_alloc(n * 4 + 1);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			buf[i * 4 + k] = (uint8_t)((uint64_t)b->order[i] >> (8 * k));
	nash_val_set(st, "order", nash_val_bin(buf, n * 4));
	free(buf);
	return st;
}

int nash_batcher_restore(nash_batcher *b, const nash_val *st, nash_err *e)
{
	int64_t n = nash_val_as_int(nash_val_get(st, "n"), -1);
	if (n != b->s->n)
		return nash_fail(e, "batch state is for %lld images, the split holds %lld", (long long)n,
		                 (long long)b->s->n);
	const nash_val *o = nash_val_get(st, "order");
	if (!o || o->t != NASH_V_BIN || o->u.s.n != (size_t)n * 4)
		return nash_fail(e, "batch state: the image order is missing or has the wrong size");
	if (nash_rng_restore(&b->rng, nash_val_get(st, "rng"), e) < 0)
		return -1;
	const uint8_t *p = (const uint8_t *)o->u.s.p;
	for (int64_t i = 0; i < n; i++) {
		uint32_t v = 0;
		for (int k = 0; k < 4; k++)
			v |= (uint32_t)p[i * 4 + k] << (8 * k);
		if ((int64_t)v >= n)
			return nash_fail(e, "batch state: image index %u out of range", v);
		b->order[i] = v;
	}
	b->pos = nash_val_as_int(nash_val_get(st, "pos"), 0);
	b->epoch = nash_val_as_int(nash_val_get(st, "epoch"), 0);
	if (b->pos < 0 || b->pos > n)
		return nash_fail(e, "batch state: position %lld out of range", (long long)b->pos);
	return 0;
}
