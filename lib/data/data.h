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

/* Where `fashion-mnist` and `mnist` are looked for: $NASH_DATASETS/NAME
 * when that variable is set, else this directory's NAME. */
#define NASH_DATASETS_DIR "/usr/share/datasets"

typedef struct nash_split {
	int64_t n;
	uint8_t *x;     /* n x C x H x W */
	uint8_t *y;     /* n labels in 0..classes-1 */
} nash_split;

typedef struct nash_dataset {
	char *name;     /* "fashion-mnist", "mnist", "idx", "cifar10" */
	char *source;   /* the file or directory it was read from */
	int c, h, w, classes;
	int flip;       /* horizontal flips keep the class: CIFAR-10 and
	                   Fashion-MNIST, not digits (MNIST, generic IDX) */
	const char *const *class_names;  /* classes names, or NULL if unknown */
	int64_t full_train, full_test;   /* images in the files (before limit) */
	nash_split train, val, test;
} nash_dataset;

/* Load a dataset by spec:
 *   fashion-mnist[:DIR]    the Debian package's gzip IDX files (or DIR)
 *   mnist[:DIR]            MNIST in IDX files; 10 classes
 *   idx:DIR, DIR           any directory of IDX files (gzip or raw):
 *                          train-images*, train-labels*, and t10k-* or
 *                          test-*; classes = 1 + the largest label
 *   cifar10:FILE           the CIFAR-10 binary release (.tar.gz, .tgz or
 *                          .tar), read from the archive without extraction
 *   cifar10:DIR            a directory of data_batch_N.bin, test_batch.bin
 * A bare DIR holding data_batch_*.bin is read as CIFAR-10, a bare archive
 * file as CIFAR-10 too. limit > 0 keeps the first limit training and the
 * first limit test images (and reads no further). val_frac in [0, 1) moves
 * round(val_frac * n) training images, chosen by a shuffle seeded with
 * seed, into the validation split (both keep the file order).
 * Errors name the file: missing, unreadable, corrupt gzip or tar, wrong
 * IDX magic, image and label counts that differ, labels out of range,
 * images of different sizes between splits. */
nash_dataset *nash_dataset_load(const char *spec, int64_t limit,
                                double val_frac, uint64_t seed, nash_err *e);
void nash_dataset_free(nash_dataset *d);

/* A split by name: "train", "val" or "test"; NULL with a message for an
 * unknown name or an empty validation split (no val_frac given). */
const nash_split *nash_dataset_split(const nash_dataset *d, const char *name,
                                     nash_err *e);

/* Check that a graph's input (C x H x W) fits the dataset and its output
 * has one logit per class (K, or K x 1 x 1); -1 naming both shapes
 * otherwise. Hardware graphs (channels last, H x W x C, or a 1 x 1 x CHW
 * vector) are accepted too. */
int nash_dataset_check_graph(const nash_dataset *d, const nash_graph *g,
                             nash_err *e);

/* Augmentation applied when filling a training batch. */
typedef struct nash_augment {
	int crop_pad;   /* random crop after zero padding of this many pixels */
	int flip;       /* random horizontal flip */
} nash_augment;

/* Fill x (n x C x H x W floats, pixel/255) and y (may be NULL) from split
 * images idx[0..n), augmenting with aug (NULL: none) drawn from rng in a
 * fixed order per image (crop offsets y then x, then the flip), so a
 * seeded rng gives the same batch every time. */
void nash_batch_fill(const nash_dataset *d, const nash_split *s,
                     const int64_t *idx, int n, const nash_augment *aug,
                     nash_rng *rng, float *x, int *y);

/* The same without conversion: n x C x H x W uint8 pixels, no
 * augmentation (what the integer executor takes). */
void nash_batch_fill_u8(const nash_dataset *d, const nash_split *s,
                        const int64_t *idx, int n, uint8_t *x, int *y);

#endif
