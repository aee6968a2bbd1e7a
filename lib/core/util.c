/* util.c - errors, allocation, RNG, hashing, globbing, atomic files. */
#include "core/nash.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef NASH_PREFIX
#define NASH_PREFIX "/usr/local"
#endif

int nash_fail(nash_err *e, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void nash_err_prefix(nash_err *e, const char *fmt, ...)
{
	char pre[512], old[sizeof e->msg];
	va_list ap;
	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	snprintf(e->msg, sizeof e->msg, "%s%s", pre, old);
}

static const char *program = "nash";

void nash_set_program(const char *name)
{
	program = name && *name ? name : "nash";
}

static void oom(size_t n)
{
	char buf[256];
	int len = snprintf(buf, sizeof buf,
	                   "%s: out of memory: %zu bytes more were not available (a smaller batch, width or image may fit)\n",
	                   program, n);
	if (write(2, buf, (size_t)(len < (int)sizeof buf ? len : (int)sizeof buf - 1)) < 0) { /* nothing more to do */ }
	_exit(1);
}

void *nash_alloc(size_t n)
{
	void *p = NULL;
	size_t r = (n + 63) & ~(size_t)63;
	if (r == 0)
		r = 64;
	if (r < n || posix_memalign(&p, 64, r) != 0)
		oom(n);
	memset(p, 0, r);
	return p;
}

void *nash_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *nash_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		oom(strlen(s));
	return d;
}

char *nash_strfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

double nash_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ RNG */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void nash_rng_seed(nash_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nash_rng_u64(nash_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double nash_rng_uniform(nash_rng *r)
{
	return (double)(nash_rng_u64(r) >> 11) * 0x1.0p-53;
}

double nash_rng_normal(nash_rng *r)
{
	/* Box-Muller; one value per call keeps the stream simple to replay. */
	double u1 = nash_rng_uniform(r), u2 = nash_rng_uniform(r);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t nash_rng_below(nash_rng *r, uint64_t n)
{
	if (n <= 1)
		return 0;
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
	do
		x = nash_rng_u64(r);
	while (x >= lim);
	return x % n;
}

uint64_t nash_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int nash_glob(const char *p, const char *s)
{
	const char *star = NULL, *ss = NULL;
	while (*s) {
		if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (*p == '*') {
			star = p++;
			ss = s;
		} else if (star) {
			p = star + 1;
			s = ++ss;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}

/* ---------------------------------------------------------------- files */
char *nash_tmp_path(const char *path)
{
	static unsigned counter;
	return nash_strfmt("%s.tmp.%ld.%u", path, (long)getpid(), counter++);
}

int nash_write_all(int fd, const void *buf, size_t n, nash_err *e)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return nash_fail(e, "write error: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A target that exists and is not a regular file (/dev/null, /dev/full,
 * a FIFO) is written in place: renaming over it would replace the device
 * with a file (as root) and a temporary file would land next to it. */
static int write_in_place(const char *path, const void *data, size_t n, nash_err *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return nash_fail(e, "%s: cannot open: %s", path, strerror(errno));
	if (nash_write_all(fd, data, n, e) < 0) {
		nash_err_prefix(e, "%s: ", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return nash_fail(e, "%s: %s", path, strerror(errno));
	return 0;
}

/* Write all of data to fd and sync it; errors name path. */
static int write_synced(int fd, const char *path, const void *data, size_t n, nash_err *e)
{
	if (nash_write_all(fd, data, n, e) == 0 && fsync(fd) == 0)
		return 0;
	if (!e || !e->msg[0] || strncmp(e->msg, "write", 5) != 0)
		nash_fail(e, "%s: %s", path, strerror(errno));
	else
		nash_err_prefix(e, "%s: ", path);
	return -1;
}

/* The data in an unnamed file (O_TMPFILE) of path's directory, then linked
 * to a temporary name and renamed over path: a kill while writing leaves
 * nothing behind. 1 when this file system or kernel cannot (fall back). */
static int write_unnamed(const char *path, const void *data, size_t n, nash_err *e)
{
	const char *sl = strrchr(path, '/');
	char *dir = sl ? nash_strfmt("%.*s", (int)(sl == path ? 1 : sl - path), path) : nash_strdup(".");
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	free(dir);
	if (fd < 0) {
		if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
			return 1;
		return nash_fail(e, "%s: cannot create: %s", path, strerror(errno));
	}
	if (write_synced(fd, path, data, n, e) < 0) {
		close(fd);
		return -1;
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	char *tmp = nash_tmp_path(path);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0) {
		int err = errno;
		close(fd);
		free(tmp);
		if (err == ENOENT)  /* no /proc: the named temporary file then */
			return 1;
		return nash_fail(e, "%s: cannot create: %s", path, strerror(err));
	}
	int rc = 0;
	if (close(fd) < 0)
		rc = nash_fail(e, "%s: %s", path, strerror(errno));
	else if (rename(tmp, path) < 0)
		rc = nash_fail(e, "%s: cannot rename into place: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int nash_write_file_atomic(const char *path, const void *data, size_t n,
                           nash_err *e)
{
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return nash_fail(e, "%s: is a directory", path);
		return write_in_place(path, data, n, e);
	}
	/* through a symbolic link, replace the file it points to, not the link */
	char *real = NULL;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		real = realpath(path, NULL);
	if (real) {
		int rc = nash_write_file_atomic(real, data, n, e);
		free(real);
		return rc;
	}
	int un = write_unnamed(path, data, n, e);
	if (un <= 0)
		return un;
	char *tmp = nash_tmp_path(path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		nash_fail(e, "%s: cannot create: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	if (write_synced(fd, path, data, n, e) < 0) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		nash_fail(e, "%s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		nash_fail(e, "%s: cannot rename into place: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *nash_share_dir(void)
{
	static char dir[PATH_MAX];
	if (dir[0])
		return dir;
	const char *env = getenv("NASH_SHARE");
	if (env && *env) {
		snprintf(dir, sizeof dir, "%s", env);
		return dir;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			/* installed (bin/../share/nash) or the build tree
			 * (build/bin/../../share/nash) */
			char cand[PATH_MAX + 32];
			snprintf(cand, sizeof cand, "%s/../share/nash", exe);
			if (is_dir(cand) && realpath(cand, dir))
				return dir;
			snprintf(cand, sizeof cand, "%s/../../share/nash", exe);
			if (is_dir(cand) && realpath(cand, dir))
				return dir;
		}
	}
	snprintf(dir, sizeof dir, "%s/share/nash", NASH_PREFIX);
	return dir;
}
