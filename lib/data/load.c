/* load.c - datasets from IDX files (gzip or raw) and the CIFAR-10 binary
 * release (tar archive or directory), all read through libarchive so that
 * compressed files and archives are decoded on the fly, never extracted. */
#include "data/data.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const fashion_names[] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
};
static const char *const digit_names[] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"
};
static const char *const cifar_names[] = {
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck"
};

#define CIFAR_REC 3073  /* label byte + 3 x 32 x 32 */

/* ------------------------------------------------------------ file access */

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Check that path exists and is a readable regular file; a clear message
 * otherwise (libarchive's own is vaguer). */
static int check_file(const char *path, nash_err *e)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return nash_fail(e, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return nash_fail(e, "%s: is a directory, expected a file", path);
	if (st.st_size == 0)
		return nash_fail(e, "%s: empty file", path);
	return 0;
}

/* Open one file that may be gzip/xz/bzip2-compressed or raw. */
static struct archive *open_raw(const char *path, nash_err *e)
{
	if (check_file(path, e) < 0)
		return NULL;
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	struct archive_entry *en;
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &en) != ARCHIVE_OK) {
		nash_fail(e, "%s: %s", path, archive_error_string(a) ? archive_error_string(a) : "cannot read");
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Read exactly n bytes of the current entry. what names the data in the
 * message of a short read. */
static int read_exact(struct archive *a, void *buf, size_t n, const char *label,
                      const char *what, nash_err *e)
{
	size_t got = 0;
	while (got < n) {
		la_ssize_t r = archive_read_data(a, (char *)buf + got, n - got);
		if (r < 0)
			return nash_fail(e, "%s: %s", label, archive_error_string(a) ? archive_error_string(a) : "read error");
		if (r == 0)
			return nash_fail(e, "%s: truncated: the file ends inside %s", label, what);
		got += (size_t)r;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------------ IDX */

/* Read an IDX images file (magic 0x00000803, N x H x W uint8) and its
 * labels (0x00000801, N). classes > 0 bounds the labels; otherwise the
 * caller checks them. */
static int idx_split(const char *ipath, const char *lpath, int64_t limit, int classes,
                     nash_split *s, int *h, int *w, int64_t *full, nash_err *e)
{
	uint8_t hdr[16];
	struct archive *ai = NULL, *al = NULL;
	int rc = -1;
	if (!(ai = open_raw(ipath, e)) || !(al = open_raw(lpath, e)))
		goto out;
	if (read_exact(ai, hdr, 16, ipath, "the IDX header", e) < 0)
		goto out;
	uint32_t magic = be32(hdr);
	if (magic != 0x00000803) {
		nash_fail(e, "%s: not an IDX image file: magic 0x%08x, expected 0x00000803 (unsigned bytes, 3 dimensions)",
		          ipath, magic);
		goto out;
	}
	uint32_t n = be32(hdr + 4), hh = be32(hdr + 8), ww = be32(hdr + 12);
	if (hh < 1 || ww < 1 || hh > 4096 || ww > 4096 || n > (1u << 30)) {
		nash_fail(e, "%s: implausible IDX dimensions %ux%ux%u", ipath, n, hh, ww);
		goto out;
	}
	if (read_exact(al, hdr, 8, lpath, "the IDX header", e) < 0)
		goto out;
	magic = be32(hdr);
	if (magic != 0x00000801) {
		nash_fail(e, "%s: not an IDX label file: magic 0x%08x, expected 0x00000801 (unsigned bytes, 1 dimension)",
		          lpath, magic);
		goto out;
	}
	uint32_t nl = be32(hdr + 4);
	if (nl != n) {
		nash_fail(e, "%s: %u labels, but %s holds %u images", lpath, nl, ipath, n);
		goto out;
	}
	int64_t keep = limit > 0 && limit < (int64_t)n ? limit : (int64_t)n;
	size_t img = (size_t)hh * ww;
	s->n = keep;
	s->x = nash_alloc((size_t)keep * img);
	s->y = nash_alloc((size_t)keep);
	char what[96];
	snprintf(what, sizeof what, "the %lld images its header announces", (long long)keep);
	if (read_exact(ai, s->x, (size_t)keep * img, ipath, what, e) < 0)
		goto out;
	snprintf(what, sizeof what, "the %lld labels its header announces", (long long)keep);
	if (read_exact(al, s->y, (size_t)keep, lpath, what, e) < 0)
		goto out;
	if (classes > 0)
		for (int64_t i = 0; i < keep; i++)
			if (s->y[i] >= classes) {
				nash_fail(e, "%s: label %d of image %lld is out of range 0..%d", lpath, s->y[i],
				          (long long)i, classes - 1);
				goto out;
			}
	*h = (int)hh;
	*w = (int)ww;
	*full = n;
	rc = 0;
out:
	if (ai)
		archive_read_free(ai);
	if (al)
		archive_read_free(al);
	return rc;
}

/* Find the IDX file of a directory whose name starts with one of the
 * prefixes: the uncompressed one if both exist, then the gzip one. */
static char *idx_find(const char *dir, const char *const *prefixes)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char *best = NULL;
	int best_rank = 99;
	struct dirent *de;
	while ((de = readdir(d))) {
		for (int p = 0; prefixes[p]; p++) {
			size_t k = strlen(prefixes[p]);
			if (strncmp(de->d_name, prefixes[p], k) != 0)
				continue;
			const char *rest = de->d_name + k;
			int rank;
			/* train-images-idx3-ubyte, train-images.idx3-ubyte, + .gz */
			if (strstr(rest, "ubyte") == NULL)
				continue;
			size_t rl = strlen(rest);
			rank = (rl > 3 && strcmp(rest + rl - 3, ".gz") == 0) ? 2 : 1;
			rank = rank * 10 + p;
			if (rank < best_rank || (rank == best_rank && strcmp(de->d_name, strrchr(best, '/') + 1) < 0)) {
				free(best);
				best = nash_strfmt("%s/%s", dir, de->d_name);
				best_rank = rank;
			}
		}
	}
	closedir(d);
	return best;
}

static int load_idx(nash_dataset *d, const char *dir, int64_t limit, int classes, nash_err *e)
{
	static const char *const tri[] = {"train-images", NULL}, *const trl[] = {"train-labels", NULL};
	static const char *const tei[] = {"t10k-images", "test-images", NULL};
	static const char *const tel[] = {"t10k-labels", "test-labels", NULL};
	if (!is_dir(dir)) {
		struct stat st;
		if (stat(dir, &st) < 0)
			return nash_fail(e, "%s: %s", dir, strerror(errno));
		return nash_fail(e, "%s: not a directory of IDX files", dir);
	}
	char *p[4] = {idx_find(dir, tri), idx_find(dir, trl), idx_find(dir, tei), idx_find(dir, tel)};
	static const char *const want[4] = {"train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]",
	                                    "t10k-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]"};
	int rc = 0;
	for (int i = 0; i < 4 && rc == 0; i++)
		if (!p[i])
			rc = nash_fail(e, "%s: no %s in this directory", dir, want[i]);
	int h1 = 0, w1 = 0, h2 = 0, w2 = 0;
	if (rc == 0)
		rc = idx_split(p[0], p[1], limit, classes, &d->train, &h1, &w1, &d->full_train, e);
	if (rc == 0)
		rc = idx_split(p[2], p[3], limit, classes, &d->test, &h2, &w2, &d->full_test, e);
	if (rc == 0 && (h1 != h2 || w1 != w2))
		rc = nash_fail(e, "%s: images are %dx%d but %s has %dx%d", p[2], h2, w2, p[0], h1, w1);
	if (rc == 0 && classes == 0) {
		/* a generic IDX directory: the classes are what the labels use */
		int mx = 0;
		for (int64_t i = 0; i < d->train.n; i++)
			mx = d->train.y[i] > mx ? d->train.y[i] : mx;
		for (int64_t i = 0; i < d->test.n; i++)
			if (d->test.y[i] > mx && rc == 0)
				rc = nash_fail(e, "%s: label %d of image %lld is out of range 0..%d (the training labels' range)",
				               p[3], d->test.y[i], (long long)i, mx);
		classes = mx + 1;
	}
	d->c = 1;
	d->h = h1;
	d->w = w1;
	d->classes = classes;
	d->source = nash_strdup(dir);
	for (int i = 0; i < 4; i++)
		free(p[i]);
	return rc;
}

/* -------------------------------------------------------------- CIFAR-10 */

/* One batch file: 0 test_batch, 1..5 data_batch_N, -1 not a batch. */
static int cifar_batch_no(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	if (strcmp(b, "test_batch.bin") == 0)
		return 0;
	if (strncmp(b, "data_batch_", 11) == 0 && b[11] >= '1' && b[11] <= '9' && strcmp(b + 12, ".bin") == 0)
		return b[11] - '0';
	return -1;
}

typedef struct cifar_parts {
	uint8_t *buf[10];    /* raw records per batch number */
	int64_t n[10];       /* records read */
	int64_t full[10];    /* records in the file */
	char *label[10];
} cifar_parts;

/* Read the records of the current entry (size bytes, or -1 unknown) into
 * the batch slot, at most limit records (the rest is skipped). */
static int cifar_read(struct archive *a, const char *label, int64_t size, int no, int64_t limit,
                      cifar_parts *cp, nash_err *e)
{
	if (cp->buf[no])
		return nash_fail(e, "%s: a second copy of a batch already read from %s", label, cp->label[no]);
	if (size >= 0 && size % CIFAR_REC)
		return nash_fail(e, "%s: %lld bytes is not a whole number of %d-byte records (label + 3x32x32)", label,
		                 (long long)size, CIFAR_REC);
	int64_t nrec = size >= 0 ? size / CIFAR_REC : -1;
	int64_t want = nrec;
	if (limit > 0 && (want < 0 || want > limit))
		want = limit;
	size_t lim = want >= 0 ? (size_t)want * CIFAR_REC : SIZE_MAX;
	size_t cap = want > 0 ? lim : (size_t)10000 * CIFAR_REC;
	uint8_t *buf = nash_alloc(cap);
	size_t got = 0;
	while (got < lim) {
		if (got == cap) {
			cap *= 2;
			buf = nash_realloc(buf, cap);
		}
		size_t ask = cap - got < lim - got ? cap - got : lim - got;
		la_ssize_t r = archive_read_data(a, buf + got, ask);
		if (r < 0) {
			free(buf);
			return nash_fail(e, "%s: %s", label, archive_error_string(a) ? archive_error_string(a) : "read error");
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (want >= 0 && got < (size_t)want * CIFAR_REC) {
		free(buf);
		return nash_fail(e, "%s: truncated: %zu of %lld bytes", label, got, (long long)want * CIFAR_REC);
	}
	if (got % CIFAR_REC) {
		free(buf);
		return nash_fail(e, "%s: %zu bytes is not a whole number of %d-byte records (label + 3x32x32)", label, got,
		                 CIFAR_REC);
	}
	for (size_t r = 0; r < got / CIFAR_REC; r++)
		if (buf[r * CIFAR_REC] > 9) {
			int y = buf[r * CIFAR_REC];
			free(buf);
			return nash_fail(e, "%s: label %d of record %zu is out of range 0..9", label, y, r);
		}
	cp->buf[no] = buf;
	cp->n[no] = (int64_t)(got / CIFAR_REC);
	cp->full[no] = nrec >= 0 ? nrec : cp->n[no];
	return 0;
}

static void cifar_collect(nash_split *s, cifar_parts *cp, int from, int to, int64_t limit)
{
	int64_t n = 0;
	for (int b = from; b <= to; b++)
		n += cp->n[b];
	if (limit > 0 && n > limit)
		n = limit;
	s->n = n;
	s->x = nash_alloc((size_t)n * 3072);
	s->y = nash_alloc((size_t)n);
	int64_t k = 0;
	for (int b = from; b <= to && k < n; b++)
		for (int64_t r = 0; r < cp->n[b] && k < n; r++, k++) {
			s->y[k] = cp->buf[b][r * CIFAR_REC];
			memcpy(s->x + k * 3072, cp->buf[b] + r * CIFAR_REC + 1, 3072);
		}
}

static int cifar_finish(nash_dataset *d, cifar_parts *cp, const char *src, int64_t limit, nash_err *e)
{
	if (!cp->buf[0])
		return nash_fail(e, "%s: no test_batch.bin (is this the CIFAR-10 binary release?)", src);
	int any = 0;
	for (int b = 1; b <= 9; b++)
		any |= cp->buf[b] != NULL;
	if (!any)
		return nash_fail(e, "%s: no data_batch_N.bin (is this the CIFAR-10 binary release?)", src);
	cifar_collect(&d->train, cp, 1, 9, limit);
	cifar_collect(&d->test, cp, 0, 0, limit);
	d->full_train = 0;
	for (int b = 1; b <= 9; b++)
		d->full_train += cp->full[b];
	d->full_test = cp->full[0];
	d->c = 3;
	d->h = d->w = 32;
	d->classes = 10;
	d->flip = 1;
	d->class_names = cifar_names;
	d->source = nash_strdup(src);
	return 0;
}

static void cifar_parts_free(cifar_parts *cp)
{
	for (int b = 0; b < 10; b++) {
		free(cp->buf[b]);
		free(cp->label[b]);
	}
}

static int load_cifar_archive(nash_dataset *d, const char *path, int64_t limit, nash_err *e)
{
	if (check_file(path, e) < 0)
		return -1;
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	cifar_parts cp;
	memset(&cp, 0, sizeof cp);
	int rc = 0;
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
		rc = nash_fail(e, "%s: %s", path, archive_error_string(a));
	struct archive_entry *en;
	while (rc == 0) {
		int r = archive_read_next_header(a, &en);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = nash_fail(e, "%s: %s", path, archive_error_string(a) ? archive_error_string(a) : "damaged archive");
			break;
		}
		const char *name = archive_entry_pathname(en);
		int no = name ? cifar_batch_no(name) : -1;
		if (no < 0 || archive_entry_filetype(en) != AE_IFREG)
			continue;   /* batches.meta.txt, readme.html, directories */
		char *label = nash_strfmt("%s: %s", path, name);
		rc = cifar_read(a, label, archive_entry_size_is_set(en) ? archive_entry_size(en) : -1, no, limit, &cp, e);
		if (rc == 0)
			cp.label[no] = label;
		else
			free(label);
	}
	archive_read_free(a);
	if (rc == 0)
		rc = cifar_finish(d, &cp, path, limit, e);
	cifar_parts_free(&cp);
	return rc;
}

static int load_cifar_dir(nash_dataset *d, const char *dir, int64_t limit, nash_err *e)
{
	cifar_parts cp;
	memset(&cp, 0, sizeof cp);
	char *sub = nash_strfmt("%s/cifar-10-batches-bin", dir);
	const char *base = is_dir(sub) ? sub : dir;
	int rc = 0;
	for (int b = 0; b <= 5 && rc == 0; b++) {
		char *p = b ? nash_strfmt("%s/data_batch_%d.bin", base, b) : nash_strfmt("%s/test_batch.bin", base);
		struct stat st;
		if (stat(p, &st) == 0) {
			struct archive *a = open_raw(p, e);
			if (!a)
				rc = -1;
			else {
				rc = cifar_read(a, p, S_ISREG(st.st_mode) && archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE
				                          ? (int64_t)st.st_size : -1, b, limit, &cp, e);
				archive_read_free(a);
			}
		}
		if (rc == 0 && cp.buf[b])
			cp.label[b] = p;
		else
			free(p);
	}
	if (rc == 0)
		rc = cifar_finish(d, &cp, base, limit, e);
	cifar_parts_free(&cp);
	free(sub);
	return rc;
}

static int has_cifar_batches(const char *dir)
{
	struct stat st;
	char *p = nash_strfmt("%s/test_batch.bin", dir), *q = nash_strfmt("%s/cifar-10-batches-bin", dir);
	int r = stat(p, &st) == 0 || is_dir(q);
	free(p);
	free(q);
	return r;
}

/* ----------------------------------------------------------- the dataset */

static void split_free(nash_split *s)
{
	free(s->x);
	free(s->y);
	memset(s, 0, sizeof *s);
}

void nash_dataset_free(nash_dataset *d)
{
	if (!d)
		return;
	free(d->name);
	free(d->source);
	split_free(&d->train);
	split_free(&d->val);
	split_free(&d->test);
	free(d);
}

/* Move round(frac * n) training images, chosen by a seeded shuffle, into
 * the validation split; both keep the file order. */
static void carve_val(nash_dataset *d, double frac, uint64_t seed)
{
	int64_t n = d->train.n, nv = (int64_t)(frac * (double)n + 0.5);
	if (nv <= 0 || nv >= n)
		return;
	size_t img = (size_t)d->c * d->h * d->w;
	int64_t *perm = nash_alloc((size_t)n * sizeof *perm);
	uint8_t *inval = nash_alloc((size_t)n);
	for (int64_t i = 0; i < n; i++)
		perm[i] = i;
	nash_rng r;
	nash_rng_seed(&r, seed ^ 0x76616c2d73706c74ull);  /* "val-splt" */
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)nash_rng_below(&r, (uint64_t)i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int64_t i = 0; i < nv; i++)
		inval[perm[i]] = 1;
	nash_split tr = {n - nv, nash_alloc((size_t)(n - nv) * img), nash_alloc((size_t)(n - nv))};
	nash_split va = {nv, nash_alloc((size_t)nv * img), nash_alloc((size_t)nv)};
	int64_t kt = 0, kv = 0;
	for (int64_t i = 0; i < n; i++) {
		nash_split *s = inval[i] ? &va : &tr;
		int64_t *k = inval[i] ? &kv : &kt;
		memcpy(s->x + (size_t)*k * img, d->train.x + (size_t)i * img, img);
		s->y[*k] = d->train.y[i];
		(*k)++;
	}
	split_free(&d->train);
	d->train = tr;
	d->val = va;
	free(perm);
	free(inval);
}

static char *named_dir(const char *name)
{
	const char *root = getenv("NASH_DATASETS");
	return nash_strfmt("%s/%s", root && *root ? root : NASH_DATASETS_DIR, name);
}

nash_dataset *nash_dataset_load(const char *spec, int64_t limit, double val_frac, uint64_t seed, nash_err *e)
{
	if (!spec || !*spec) {
		nash_fail(e, "empty dataset name");
		return NULL;
	}
	if (!(val_frac >= 0 && val_frac < 1)) {
		nash_fail(e, "validation fraction %g is outside [0, 1)", val_frac);
		return NULL;
	}
	nash_dataset *d = nash_alloc(sizeof *d);
	const char *colon = strchr(spec, ':');
	char kind[32] = "";
	const char *path = spec;
	if (colon && (size_t)(colon - spec) < sizeof kind) {
		memcpy(kind, spec, (size_t)(colon - spec));
		kind[colon - spec] = 0;
		if (!strcmp(kind, "fashion-mnist") || !strcmp(kind, "mnist") || !strcmp(kind, "idx") ||
		    !strcmp(kind, "cifar10"))
			path = colon + 1;
		else
			kind[0] = 0;
	}
	if (!kind[0] && (!strcmp(spec, "fashion-mnist") || !strcmp(spec, "mnist") || !strcmp(spec, "cifar10"))) {
		snprintf(kind, sizeof kind, "%s", spec);
		path = NULL;
	}
	char *owned = NULL;
	int rc;
	if (!kind[0]) {
		/* a bare path: IDX directory, CIFAR-10 directory or archive */
		if (is_dir(path))
			snprintf(kind, sizeof kind, "%s", has_cifar_batches(path) ? "cifar10" : "idx");
		else {
			struct stat st;
			if (stat(path, &st) < 0) {
				nash_fail(e, "%s: %s (a dataset is fashion-mnist, mnist:DIR, cifar10:FILE.tar.gz or a directory)",
				          path, strerror(errno));
				free(d);
				return NULL;
			}
			snprintf(kind, sizeof kind, "cifar10");
		}
	}
	if (!path || !*path) {
		if (!strcmp(kind, "idx")) {
			nash_fail(e, "dataset '%s': idx: needs a directory", spec);
			free(d);
			return NULL;
		}
		path = owned = named_dir(!strcmp(kind, "cifar10") ? "cifar-10" : kind);
	}
	d->name = nash_strdup(kind);
	if (!strcmp(kind, "cifar10"))
		rc = is_dir(path) ? load_cifar_dir(d, path, limit, e) : load_cifar_archive(d, path, limit, e);
	else {
		int named = strcmp(kind, "idx") != 0;
		rc = load_idx(d, path, limit, named ? 10 : 0, e);
		if (named)
			d->class_names = !strcmp(kind, "fashion-mnist") ? fashion_names : digit_names;
		/* a mirrored garment is the same garment; a mirrored digit is not */
		d->flip = !strcmp(kind, "fashion-mnist");
	}
	if (rc < 0 && owned && !is_dir(owned) && !strcmp(kind, "fashion-mnist"))
		nash_err_prefix(e, "dataset fashion-mnist (Debian package dataset-fashion-mnist) not found: ");
	if (rc == 0 && (d->train.n < 1 || d->test.n < 1))
		rc = nash_fail(e, "%s: no images in the %s split", path, d->train.n < 1 ? "training" : "test");
	free(owned);
	if (rc < 0) {
		nash_dataset_free(d);
		return NULL;
	}
	carve_val(d, val_frac, seed);
	return d;
}

const nash_split *nash_dataset_split(const nash_dataset *d, const char *name, nash_err *e)
{
	if (!strcmp(name, "train"))
		return &d->train;
	if (!strcmp(name, "test"))
		return &d->test;
	if (!strcmp(name, "val")) {
		if (d->val.n < 1) {
			nash_fail(e, "dataset %s has no validation split (carve one with a validation fraction)", d->name);
			return NULL;
		}
		return &d->val;
	}
	nash_fail(e, "unknown split '%s' (train, val or test)", name);
	return NULL;
}

int nash_dataset_check_graph(const nash_dataset *d, const nash_graph *g, nash_err *e)
{
	char a[128], b[128];
	if (g->nin != 1)
		return nash_fail(e, "graph %s: %d inputs; a dataset feeds exactly one", g->name, g->nin);
	const nash_io *in = &g->inputs[0];
	/* C x H x W (float graphs), H x W x C (hardware graphs), 1 x 1 x CHW (a
	 * hardware MLP's input vector) */
	int64_t chw[3] = {d->c, d->h, d->w}, hwc[3] = {d->h, d->w, d->c}, vec[3] = {1, 1, (int64_t)d->c * d->h * d->w};
	if (in->ndim != 3 || (memcmp(in->shape, chw, sizeof chw) && memcmp(in->shape, hwc, sizeof hwc) &&
	                      memcmp(in->shape, vec, sizeof vec)))
		return nash_fail(e, "graph %s: input %s is %s but %s images are %s", g->name, in->name,
		                 nash_shape_str(in->ndim, in->shape, a), d->name, nash_shape_str(3, chw, b));
	if (g->nout < 1)
		return nash_fail(e, "graph %s: no output", g->name);
	const char *oname = g->outputs[0].name;
	int pi = nash_graph_producer(g, oname);
	if (pi >= 0 && !strcmp(g->nodes[pi]->op, "LabelSelect")) {
		int64_t labels = nash_attr_int(g->nodes[pi], "Labels", -1);
		if (labels != d->classes)
			return nash_fail(e, "graph %s: LabelSelect %s chooses among %lld labels but %s has %d classes",
			                 g->name, g->nodes[pi]->name, (long long)labels, d->name, d->classes);
		return 0;
	}
	const nash_tensor *t = nash_graph_shape(g, oname);
	const nash_io *o = &g->outputs[0];
	int nd = t ? t->ndim : o->ndim;
	const int64_t *sh = t ? t->shape : o->shape;
	int64_t numel = nash_shape_numel(nd, sh);
	int lead = 0;
	for (int i = 0; i < nd; i++)
		lead += sh[i] != 1;
	if (numel != d->classes || lead > 1)
		return nash_fail(e, "graph %s: output %s is %s but %s has %d classes (one logit per class expected)",
		                 g->name, oname, nash_shape_str(nd, sh, a), d->name, d->classes);
	return 0;
}
