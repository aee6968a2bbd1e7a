/* test_data.c - lib/data: IDX (raw and gzip) and CIFAR-10 (tar.gz and
 * directory) fixtures written at run time through libarchive, limits,
 * validation splits, every bad-input message, batches and augmentation
 * against an independent padded-crop reference. */
#include "data/data.h"
#include "models/models.h"
#include "unit.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* ------------------------------------------------------------- fixtures */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Write bytes raw, or gzip-compressed through libarchive. */
static void write_file(const char *path, const void *buf, size_t n, int gz)
{
	if (!gz) {
		FILE *f = fopen(path, "wb");
		fwrite(buf, 1, n, f);
		fclose(f);
		return;
	}
	struct archive *a = archive_write_new();
	archive_write_add_filter_gzip(a);
	archive_write_set_format_raw(a);
	archive_write_open_filename(a, path);
	struct archive_entry *en = archive_entry_new();
	archive_entry_set_pathname(en, "data");
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_size(en, (la_int64_t)n);
	archive_write_header(a, en);
	archive_write_data(a, buf, n);
	archive_entry_free(en);
	archive_write_close(a);
	archive_write_free(a);
}

/* Image i, pixel p of a synthetic set: a pattern we can recompute. */
static uint8_t pixel(int i, int p) { return (uint8_t)((i * 37 + p * 11) & 255); }
static uint8_t label(int i, int classes) { return (uint8_t)((i * 7 + 3) % classes); }

/* IDX images (magic 0x803) and labels (0x801) of n h x w images. */
static void write_idx(const char *dir, const char *prefix, int n, int h, int w, int classes, int gz,
                      uint32_t img_magic, uint32_t lab_magic, int nlab)
{
	size_t ni = 16 + (size_t)n * h * w, nl = 8 + (size_t)nlab;
	uint8_t *bi = malloc(ni), *bl = malloc(nl);
	put_be32(bi, img_magic);
	put_be32(bi + 4, (uint32_t)n);
	put_be32(bi + 8, (uint32_t)h);
	put_be32(bi + 12, (uint32_t)w);
	for (int i = 0; i < n; i++)
		for (int p = 0; p < h * w; p++)
			bi[16 + (size_t)i * h * w + p] = pixel(i, p);
	put_be32(bl, lab_magic);
	put_be32(bl + 4, (uint32_t)nlab);
	for (int i = 0; i < nlab; i++)
		bl[8 + i] = label(i, classes);
	char p[512];
	const char *tr = strcmp(prefix, "train") ? "t10k" : "train";
	snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, tr, gz ? ".gz" : "");
	write_file(p, bi, ni, gz);
	snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, tr, gz ? ".gz" : "");
	write_file(p, bl, nl, gz);
	free(bi);
	free(bl);
}

/* Strings made for one call, freed at the end. */
static char *kept_s[16];
static int nkept;
static char *kept(char *s)
{
	if (nkept < 16)
		kept_s[nkept++] = s;
	return s;
}

static char *mkdir_tmp(const char *name)
{
	char *p = nash_strfmt("%s/%s", tmpdir, name);
	mkdir(p, 0755);
	return p;
}

static void idx_set(const char *dir, int ntrain, int ntest, int gz)
{
	write_idx(dir, "train", ntrain, 5, 4, 10, gz, 0x803, 0x801, ntrain);
	write_idx(dir, "test", ntest, 5, 4, 10, gz, 0x803, 0x801, ntest);
}

/* CIFAR records: label byte then 3072 pixels. */
static uint8_t *cifar_records(int first, int n, int bad_label)
{
	uint8_t *b = malloc((size_t)n * 3073);
	for (int r = 0; r < n; r++) {
		b[(size_t)r * 3073] = bad_label && r == n - 1 ? 10 : label(first + r, 10);
		for (int p = 0; p < 3072; p++)
			b[(size_t)r * 3073 + 1 + p] = pixel(first + r, p);
	}
	return b;
}

static void tar_add(struct archive *a, const char *name, const void *buf, size_t n)
{
	struct archive_entry *en = archive_entry_new();
	archive_entry_set_pathname(en, name);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, (la_int64_t)n);
	archive_write_header(a, en);
	archive_write_data(a, buf, n);
	archive_entry_free(en);
}

/* A CIFAR-10-like release: data_batch_2 before data_batch_1 in the archive
 * (order must come from the names), a text file, test_batch. flaw: 0 none,
 * 1 odd size, 2 label out of range, 3 no test batch. */
static void write_cifar_tar(const char *path, int n1, int n2, int nt, int flaw)
{
	struct archive *a = archive_write_new();
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, path);
	uint8_t *b1 = cifar_records(0, n1, 0), *b2 = cifar_records(n1, n2, flaw == 2);
	uint8_t *bt = cifar_records(1000, nt, 0);
	tar_add(a, "cifar-10-batches-bin/batches.meta.txt", "airplane\n", 9);
	tar_add(a, "cifar-10-batches-bin/data_batch_2.bin", b2, (size_t)n2 * 3073 - (flaw == 1 ? 5 : 0));
	tar_add(a, "cifar-10-batches-bin/data_batch_1.bin", b1, (size_t)n1 * 3073);
	if (flaw != 3)
		tar_add(a, "cifar-10-batches-bin/test_batch.bin", bt, (size_t)nt * 3073);
	archive_write_close(a);
	archive_write_free(a);
	free(b1);
	free(b2);
	free(bt);
}

static int has(const nash_err *e, const char *s)
{
	return strstr(e->msg, s) != NULL;
}

/* ---------------------------------------------------------------- tests */

static void test_idx(void)
{
	char *raw = mkdir_tmp("idxraw"), *gz = mkdir_tmp("idxgz");
	idx_set(raw, 23, 9, 0);
	idx_set(gz, 23, 9, 1);
	nash_err e = {{0}};
	nash_dataset *a = nash_dataset_load(raw, 0, 0, 1, &e);
	CHECK(a != NULL, "raw IDX directory loads: %s", e.msg);
	nash_dataset *b = nash_dataset_load(kept(nash_strfmt("mnist:%s", gz)), 0, 0, 1, &e);
	CHECK(b != NULL, "gzip IDX directory loads as mnist: %s", e.msg);
	if (!a || !b)
		return;
	CHECK(a->train.n == 23 && a->test.n == 9 && a->c == 1 && a->h == 5 && a->w == 4, "shapes and counts");
	CHECK(!strcmp(a->name, "idx") && !strcmp(b->name, "mnist"), "names %s %s", a->name, b->name);
	CHECK(b->classes == 10 && a->classes == 10, "classes: mnist 10, idx from the labels (%d)", a->classes);
	CHECK(!a->flip && !b->flip, "no flips for digits");
	nash_dataset *f = nash_dataset_load(kept(nash_strfmt("fashion-mnist:%s", gz)), 3, 0, 1, &e);
	CHECK(f && f->flip && f->class_names && !strcmp(f->class_names[9], "Ankle boot"),
	      "Fashion-MNIST: flips and class names");
	nash_dataset_free(f);
	int ok = 1;
	for (int i = 0; i < 23; i++) {
		ok &= a->train.y[i] == label(i, 10);
		for (int p = 0; p < 20; p++)
			ok &= a->train.x[i * 20 + p] == pixel(i, p);
	}
	CHECK(ok, "pixels and labels as written");
	CHECK(!memcmp(a->train.x, b->train.x, 23 * 20) && !memcmp(a->test.y, b->test.y, 9), "gzip = raw");
	nash_dataset_free(a);
	nash_dataset_free(b);

	a = nash_dataset_load(gz, 5, 0, 1, &e);
	CHECK(a && a->train.n == 5 && a->test.n == 5 && a->full_train == 23 && a->full_test == 9,
	      "limit keeps the first images of each split");
	CHECK(a && a->train.x[4 * 20 + 3] == pixel(4, 3), "limited images are the first ones");
	nash_dataset_free(a);

	/* a generic IDX directory with fewer classes */
	char *small = mkdir_tmp("idx3");
	write_idx(small, "train", 12, 2, 2, 3, 0, 0x803, 0x801, 12);
	write_idx(small, "test", 4, 2, 2, 3, 0, 0x803, 0x801, 4);
	a = nash_dataset_load(kept(nash_strfmt("idx:%s", small)), 0, 0, 1, &e);
	CHECK(a && a->classes == 3, "idx: classes = 1 + largest label (%d)", a ? a->classes : -1);
	nash_dataset_free(a);
	free(raw);
	free(gz);
	free(small);
}

static void test_val(void)
{
	char *dir = mkdir_tmp("idxval");
	idx_set(dir, 40, 6, 1);
	nash_err e = {{0}};
	nash_dataset *a = nash_dataset_load(dir, 0, 0.25, 7, &e), *b = nash_dataset_load(dir, 0, 0.25, 7, &e);
	nash_dataset *c = nash_dataset_load(dir, 0, 0.25, 8, &e);
	CHECK(a && a->train.n == 30 && a->val.n == 10, "val split: 10 of 40");
	if (!a || !b || !c)
		return;
	CHECK(!memcmp(a->val.x, b->val.x, 200) && !memcmp(a->val.y, b->val.y, 10), "same seed, same split");
	CHECK(memcmp(a->val.x, c->val.x, 200) != 0, "another seed, another split");
	/* every training image lands in exactly one split, in file order */
	int seen[40] = {0}, ordered = 1, last = -1;
	for (int s = 0; s < 2; s++) {
		const nash_split *sp = s ? &a->val : &a->train;
		last = -1;
		for (int k = 0; k < sp->n; k++) {
			int i = -1;
			for (int j = 0; j < 40; j++)
				if (pixel(j, 0) == sp->x[k * 20] && pixel(j, 1) == sp->x[k * 20 + 1])
					i = j;
			if (i >= 0)
				seen[i]++;
			ordered &= i > last;
			last = i;
		}
	}
	int once = 1;
	for (int i = 0; i < 40; i++)
		once &= seen[i] == 1;
	CHECK(once && ordered, "train + val is a partition of the training set, both in file order");
	CHECK(nash_dataset_split(a, "val", &e) == &a->val, "split by name");
	nash_dataset *d = nash_dataset_load(dir, 0, 0, 7, &e);
	CHECK(d && !nash_dataset_split(d, "val", &e) && has(&e, "no validation split"), "no val split: %s", e.msg);
	CHECK(!nash_dataset_split(a, "dev", &e) && has(&e, "unknown split 'dev'"), "unknown split: %s", e.msg);
	CHECK(!nash_dataset_load(dir, 0, 1.0, 7, &e) && has(&e, "outside [0, 1)"), "val fraction 1: %s", e.msg);
	nash_dataset_free(a);
	nash_dataset_free(b);
	nash_dataset_free(c);
	nash_dataset_free(d);
	free(dir);
}

static void test_idx_errors(void)
{
	nash_err e = {{0}};
	char *p;
	CHECK(!nash_dataset_load(p = nash_strfmt("%s/nowhere", tmpdir), 0, 0, 1, &e) && has(&e, "nowhere") &&
	      has(&e, "No such file"), "missing path: %s", e.msg);
	free(p);
	CHECK(!nash_dataset_load(p = nash_strfmt("mnist:%s/nowhere", tmpdir), 0, 0, 1, &e) && has(&e, "nowhere"),
	      "missing mnist dir: %s", e.msg);
	free(p);

	char *dir = mkdir_tmp("nolabels");
	write_idx(dir, "train", 4, 2, 2, 10, 0, 0x803, 0x801, 4);
	write_idx(dir, "test", 4, 2, 2, 10, 0, 0x803, 0x801, 4);
	p = nash_strfmt("%s/t10k-labels-idx1-ubyte", dir);
	unlink(p);
	free(p);
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "no t10k-labels-idx1-ubyte"), "missing file: %s",
	      e.msg);
	free(dir);

	dir = mkdir_tmp("magic");
	write_idx(dir, "train", 4, 2, 2, 10, 1, 0x802, 0x801, 4);
	write_idx(dir, "test", 4, 2, 2, 10, 1, 0x803, 0x801, 4);
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "train-images-idx3-ubyte.gz: not an IDX image file") &&
	      has(&e, "0x00000802"), "wrong image magic: %s", e.msg);
	write_idx(dir, "train", 4, 2, 2, 10, 1, 0x803, 0x803, 4);
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "train-labels-idx1-ubyte.gz: not an IDX label file"),
	      "wrong label magic: %s", e.msg);
	free(dir);

	dir = mkdir_tmp("count");
	write_idx(dir, "train", 4, 2, 2, 10, 0, 0x803, 0x801, 3);
	write_idx(dir, "test", 4, 2, 2, 10, 0, 0x803, 0x801, 4);
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "train-labels-idx1-ubyte: 3 labels, but") &&
	      has(&e, "holds 4 images"), "count mismatch: %s", e.msg);
	free(dir);

	dir = mkdir_tmp("range");
	write_idx(dir, "train", 30, 2, 2, 13, 0, 0x803, 0x801, 30);
	write_idx(dir, "test", 4, 2, 2, 10, 0, 0x803, 0x801, 4);
	p = nash_strfmt("mnist:%s", dir);
	CHECK(!nash_dataset_load(p, 0, 0, 1, &e) && has(&e, "train-labels-idx1-ubyte: label 10 of image 1") &&
	      has(&e, "out of range 0..9"), "label out of range: %s", e.msg);
	free(p);
	free(dir);

	dir = mkdir_tmp("corrupt");
	idx_set(dir, 200, 4, 1);
	p = nash_strfmt("%s/train-images-idx3-ubyte.gz", dir);
	FILE *f = fopen(p, "r+b");
	fseek(f, 40, SEEK_SET);
	fwrite("\xde\xad\xbe\xef\xde\xad\xbe\xef", 1, 8, f);
	fclose(f);
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, p), "corrupt gzip names the file: %s", e.msg);
	/* truncated gzip: cut the file in the middle */
	idx_set(dir, 200, 4, 1);
	struct stat st;
	stat(p, &st);
	CHECK(truncate(p, st.st_size / 2) == 0, "truncate");
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, p) && (has(&e, "truncated") || has(&e, "gzip")),
	      "truncated gzip: %s", e.msg);
	/* a raw file shorter than its header says */
	idx_set(dir, 200, 4, 0);
	unlink(p);
	free(p);
	p = nash_strfmt("%s/train-images-idx3-ubyte", dir);
	stat(p, &st);
	CHECK(truncate(p, st.st_size - 7) == 0, "truncate");
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "train-images-idx3-ubyte: truncated"),
	      "short raw file: %s", e.msg);
	nash_dataset *part = nash_dataset_load(dir, 100, 0, 1, &e);
	CHECK(part != NULL, "a limit that stops before the cut still loads");
	nash_dataset_free(part);
	CHECK(truncate(p, 0) == 0, "truncate");
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "empty file"), "empty file: %s", e.msg);
	free(p);
	free(dir);

	dir = mkdir_tmp("sizes");
	write_idx(dir, "train", 4, 2, 2, 10, 0, 0x803, 0x801, 4);
	write_idx(dir, "test", 4, 3, 2, 10, 0, 0x803, 0x801, 4);
	CHECK(!nash_dataset_load(dir, 0, 0, 1, &e) && has(&e, "images are 3x2 but"), "sizes differ: %s", e.msg);
	free(dir);
}

static void test_cifar(void)
{
	nash_err e = {{0}};
	char *tgz = nash_strfmt("%s/cifar.tar.gz", tmpdir);
	write_cifar_tar(tgz, 3, 4, 5, 0);
	char *spec = nash_strfmt("cifar10:%s", tgz);
	nash_dataset *d = nash_dataset_load(spec, 0, 0, 1, &e);
	CHECK(d != NULL, "CIFAR-10 archive loads: %s", e.msg);
	if (!d)
		return;
	CHECK(d->c == 3 && d->h == 32 && d->w == 32 && d->classes == 10 && d->flip, "CIFAR shape and flip");
	CHECK(d->train.n == 7 && d->test.n == 5, "7 training images from two batches, 5 test");
	int ok = 1;
	for (int i = 0; i < 7; i++) {   /* batch 1 (0..2), then batch 2 (3..6) */
		ok &= d->train.y[i] == label(i, 10);
		for (int p = 0; p < 3072; p += 97)
			ok &= d->train.x[(size_t)i * 3072 + p] == pixel(i, p);
	}
	for (int i = 0; i < 5; i++)
		ok &= d->test.y[i] == label(1000 + i, 10) && d->test.x[(size_t)i * 3072 + 5] == pixel(1000 + i, 5);
	CHECK(ok, "batches in name order, records as written");
	CHECK(d->class_names && !strcmp(d->class_names[9], "truck"), "class names");
	nash_dataset_free(d);
	d = nash_dataset_load(tgz, 4, 0, 1, &e);
	CHECK(d && !strcmp(d->name, "cifar10") && d->train.n == 4 && d->test.n == 4 &&
	      d->train.y[3] == label(3, 10), "a bare archive is CIFAR-10; limit crosses batches");
	nash_dataset_free(d);

	/* the same as a directory of .bin files */
	char *dir = mkdir_tmp("cifardir");
	uint8_t *b1 = cifar_records(0, 3, 0), *b2 = cifar_records(3, 4, 0), *bt = cifar_records(1000, 5, 0);
	char *p;
	write_file(p = nash_strfmt("%s/data_batch_1.bin", dir), b1, 3 * 3073, 0);
	free(p);
	write_file(p = nash_strfmt("%s/data_batch_2.bin", dir), b2, 4 * 3073, 0);
	free(p);
	write_file(p = nash_strfmt("%s/test_batch.bin", dir), bt, 5 * 3073, 0);
	nash_dataset *dd = nash_dataset_load(dir, 0, 0, 1, &e);
	d = nash_dataset_load(spec, 0, 0, 1, &e);
	CHECK(dd && d && dd->train.n == 7 && !memcmp(dd->train.x, d->train.x, 7 * 3072) &&
	      !memcmp(dd->test.y, d->test.y, 5), "CIFAR directory = archive");
	nash_dataset_free(d);
	nash_dataset_free(dd);
	write_file(p, bt, 5 * 3073 - 1, 0);
	CHECK(!nash_dataset_load(kept(nash_strfmt("cifar10:%s", dir)), 0, 0, 1, &e) && has(&e, "test_batch.bin") &&
	      has(&e, "whole number of 3073-byte records"), "short .bin: %s", e.msg);
	free(p);
	free(b1);
	free(b2);
	free(bt);

	write_cifar_tar(tgz, 3, 4, 5, 1);
	CHECK(!nash_dataset_load(spec, 0, 0, 1, &e) && has(&e, "data_batch_2.bin") && has(&e, "3073-byte records"),
	      "odd batch size: %s", e.msg);
	write_cifar_tar(tgz, 3, 4, 5, 2);
	CHECK(!nash_dataset_load(spec, 0, 0, 1, &e) && has(&e, "data_batch_2.bin: label 10 of record 3"),
	      "label out of range: %s", e.msg);
	write_cifar_tar(tgz, 3, 4, 5, 3);
	CHECK(!nash_dataset_load(spec, 0, 0, 1, &e) && has(&e, "no test_batch.bin"), "no test batch: %s", e.msg);

	/* corrupt compressed stream and a gzip of something that is no tar */
	write_cifar_tar(tgz, 30, 4, 5, 0);
	FILE *f = fopen(tgz, "r+b");
	fseek(f, 200, SEEK_SET);
	for (int i = 0; i < 64; i++)
		fputc(0x5a, f);
	fclose(f);
	CHECK(!nash_dataset_load(spec, 0, 0, 1, &e) && has(&e, tgz) && !has(&e, "no test_batch"),
	      "corrupt tar.gz names the file and the damage: %s", e.msg);
	write_file(tgz, "hello, this is not a tar archive at all\n", 40, 1);
	CHECK(!nash_dataset_load(spec, 0, 0, 1, &e) && has(&e, tgz), "not a tar: %s", e.msg);
	free(spec);
	free(tgz);
	free(dir);
}

static void test_batches(void)
{
	char *dir = mkdir_tmp("batch");
	idx_set(dir, 16, 4, 0);
	nash_err e = {{0}};
	nash_dataset *d = nash_dataset_load(dir, 0, 0, 1, &e);
	if (!d)
		return;
	int64_t idx[6] = {3, 0, 15, 7, 7, 2};
	float x[6 * 20], ref[6 * 20];
	int y[6];
	nash_batch_fill(d, &d->train, idx, 6, NULL, NULL, x, y);
	int ok = 1;
	for (int b = 0; b < 6; b++) {
		ok &= y[b] == label((int)idx[b], 10);
		for (int p = 0; p < 20; p++)
			ok &= x[b * 20 + p] == (float)pixel((int)idx[b], p) / 255.0f;
	}
	CHECK(ok, "plain batch: pixel/255 and labels");

	/* crop: compare with an explicitly padded image cropped at the offsets
	 * the same rng stream draws (dy then dx, each in 0..2*pad) */
	nash_augment aug = {2, 0};
	nash_rng r1, r2;
	nash_rng_seed(&r1, 42);
	nash_rng_seed(&r2, 42);
	nash_batch_fill(d, &d->train, idx, 6, &aug, &r1, x, y);
	int moved = 0;
	for (int b = 0; b < 6; b++) {
		int oy = (int)nash_rng_below(&r2, 5), ox = (int)nash_rng_below(&r2, 5);
		float padded[9][8] = {{0}};
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 4; j++)
				padded[i + 2][j + 2] = (float)pixel((int)idx[b], i * 4 + j) / 255.0f;
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 4; j++)
				ref[b * 20 + i * 4 + j] = padded[i + oy][j + ox];
		moved += oy != 2 || ox != 2;
	}
	CHECK(!memcmp(x, ref, sizeof ref) && moved > 0, "random crop = crop of the zero-padded image");

	/* flip only: each image is itself or its mirror, both occur */
	aug.crop_pad = 0;
	aug.flip = 1;
	int same = 0, mirrored = 0;
	for (int t = 0; t < 20; t++) {
		nash_batch_fill(d, &d->train, idx, 6, &aug, &r1, x, y);
		for (int b = 0; b < 6; b++) {
			int s = 1, m = 1;
			for (int i = 0; i < 5; i++)
				for (int j = 0; j < 4; j++) {
					float v = x[b * 20 + i * 4 + j];
					s &= v == (float)pixel((int)idx[b], i * 4 + j) / 255.0f;
					m &= v == (float)pixel((int)idx[b], i * 4 + 3 - j) / 255.0f;
				}
			same += s;
			mirrored += m && !s;
		}
	}
	CHECK(same + mirrored == 120 && same > 30 && mirrored > 30, "flips: %d plain, %d mirrored", same,
	      mirrored);
	uint8_t u[6 * 20];
	nash_batch_fill_u8(d, &d->train, idx + 1, 2, u, y);
	CHECK(u[5] == pixel(0, 5) && u[20 + 3] == pixel(15, 3) && y[1] == label(15, 10), "uint8 batch");
	nash_dataset_free(d);
	free(dir);
}

static void test_check_graph(void)
{
	nash_err e = {{0}};
	char *dir = mkdir_tmp("graphcheck");
	write_idx(dir, "train", 4, 28, 28, 10, 0, 0x803, 0x801, 4);
	write_idx(dir, "test", 4, 28, 28, 10, 0, 0x803, 0x801, 4);
	nash_dataset *d = nash_dataset_load(kept(nash_strfmt("mnist:%s", dir)), 0, 0, 1, &e);
	nash_model_opts o = {.arch = "tfc"};
	nash_graph *g = nash_model_build(&o, &e);
	CHECK(d && g && nash_dataset_check_graph(d, g, &e) == 0, "tfc fits 1x28x28, 10 classes: %s", e.msg);
	o.classes = 12;
	nash_graph *g2 = nash_model_build(&o, &e);
	CHECK(nash_dataset_check_graph(d, g2, &e) < 0 && has(&e, "but mnist has 10 classes"), "classes: %s", e.msg);
	nash_model_opts r = {.arch = "resnet18", .in_c = 3, .in_h = 32, .in_w = 32, .width = 4};
	nash_graph *g3 = nash_model_build(&r, &e);
	CHECK(g3 && nash_dataset_check_graph(d, g3, &e) < 0 && has(&e, "is 3x32x32 but mnist images are 1x28x28"),
	      "input shape: %s", e.msg);
	nash_graph_free(g);
	nash_graph_free(g2);
	nash_graph_free(g3);
	nash_dataset_free(d);
	free(dir);
}

int main(void)
{
	const char *td = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/nash-test-data.XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(tmpdir))
		return 1;
	test_idx();
	test_val();
	test_idx_errors();
	test_cifar();
	test_batches();
	test_check_graph();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	for (int i = 0; i < nkept; i++)
		free(kept_s[i]);
	UNIT_DONE();
}
