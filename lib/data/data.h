/*
 * data.h - datasets read through libarchive, splits, batches and
 * augmentation.
 *
 * Images are kept as uint8 N x C x H x W; a batch is float32 pixel/255 (the
 * graph does its own normalisation, nash-ops(7)), so the same images reach
 * the integer hardware graph as exact UINT8 pixels.
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) with a
 * message naming the file and reason.
 */
#ifndef NASH_DATA_H
#define NASH_DATA_H

#include "core/nash.h"

typedef struct nash_split {
	int64_t n;
	uint8_t *x;     /* n x C x H x W */
	uint8_t *y;     /* n labels in 0..classes-1 */
} nash_split;

typedef struct nash_dataset {
	char *name;     /* "fashion-mnist", "mnist", "cifar10", or the path */
	char *source;   /* where it was read from */
	int c, h, w, classes;
	int flip;       /* horizontal flips make sense (CIFAR), not digits */
	nash_split train, val, test;
} nash_dataset;

/* Load a dataset by spec:
 *   fashion-mnist          the Debian package's gzip IDX files
 *   mnist:DIR, DIR         a directory of IDX files (gzip or raw)
 *   cifar10:FILE.tar.gz    the CIFAR-10 binary release, read from the
 *                          archive; cifar10:DIR the extracted .bin files
 * limit > 0 keeps the first limit training and test images. val_frac in
 * [0, 1) moves that fraction of the training set (a seeded shuffle) into
 * the validation split. */
nash_dataset *nash_dataset_load(const char *spec, int64_t limit,
                                double val_frac, uint64_t seed, nash_err *e);
void nash_dataset_free(nash_dataset *d);

/* Check that a graph's input (C x H x W) fits the dataset and its output
 * has one logit per class; -1 naming both shapes otherwise. */
int nash_dataset_check_graph(const nash_dataset *d, const nash_graph *g,
                             nash_err *e);

/* Augmentation applied when filling a training batch. */
typedef struct nash_augment {
	int crop_pad;   /* random crop after zero padding of this many pixels */
	int flip;       /* random horizontal flip */
} nash_augment;

/* Fill x (n x C x H x W floats, pixel/255) and y from split images idx[0..n),
 * augmenting with aug (NULL: none) drawn from rng. */
void nash_batch_fill(const nash_dataset *d, const nash_split *s,
                     const int64_t *idx, int n, const nash_augment *aug,
                     nash_rng *rng, float *x, int *y);

#endif
