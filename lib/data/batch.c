/* batch.c - batches of images as float32 pixel/255, with augmentation
 * (random crop after zero padding, random horizontal flip). */
#include "data/data.h"

#include <string.h>

static float pix[256];
static int pix_ready;

static void pix_init(void)
{
	if (pix_ready)
		return;
	for (int i = 0; i < 256; i++)
		pix[i] = (float)i / 255.0f;
	pix_ready = 1;
}

void nash_batch_fill(const nash_dataset *d, const nash_split *s, const int64_t *idx, int n,
                     const nash_augment *aug, nash_rng *rng, float *x, int *y)
{
	pix_init();
	const int c = d->c, h = d->h, w = d->w;
	const size_t img = (size_t)c * h * w;
	int pad = aug ? aug->crop_pad : 0;
	int flip = aug ? aug->flip : 0;
	for (int b = 0; b < n; b++) {
		const uint8_t *src = s->x + (size_t)idx[b] * img;
		float *dst = x + (size_t)b * img;
		if (y)
			y[b] = s->y[idx[b]];
		int dy = 0, dx = 0, fl = 0;
		if (pad > 0 && rng) {
			dy = (int)nash_rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
			dx = (int)nash_rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
		}
		if (flip && rng)
			fl = (int)(nash_rng_u64(rng) >> 63);
		if (!dy && !dx && !fl) {
			for (size_t i = 0; i < img; i++)
				dst[i] = pix[src[i]];
			continue;
		}
		/* output (i, j) reads input (i + dy, j + dx) of the image (mirrored
		 * first when flipping); outside the image it is the zero padding */
		for (int ch = 0; ch < c; ch++) {
			const uint8_t *sp = src + (size_t)ch * h * w;
			float *dp = dst + (size_t)ch * h * w;
			for (int i = 0; i < h; i++) {
				int si = i + dy;
				float *row = dp + (size_t)i * w;
				if (si < 0 || si >= h) {
					memset(row, 0, sizeof(float) * (size_t)w);
					continue;
				}
				const uint8_t *srow = sp + (size_t)si * w;
				for (int j = 0; j < w; j++) {
					int sj = j + dx;
					if (sj < 0 || sj >= w)
						row[j] = 0.0f;
					else
						row[j] = pix[srow[fl ? w - 1 - sj : sj]];
				}
			}
		}
	}
}

void nash_batch_fill_u8(const nash_dataset *d, const nash_split *s, const int64_t *idx, int n, uint8_t *x,
                        int *y)
{
	const size_t img = (size_t)d->c * d->h * d->w;
	for (int b = 0; b < n; b++) {
		memcpy(x + (size_t)b * img, s->x + (size_t)idx[b] * img, img);
		if (y)
			y[b] = s->y[idx[b]];
	}
}
