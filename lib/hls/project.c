/* project.c - testbench inputs, C simulation, and putting a project in
 * place (directory or archive, atomically). See hls.h. */
#include "hls/hls.h"
#include "data/data.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int nash_hls_inputs(const nash_graph *g, const char *data, int n, uint64_t seed, int32_t **x, char *source,
                    nash_err *e)
{
	const nash_io *in = &g->inputs[0];
	if (in->ndim != 3)
		return nash_fail(e, "graph %s: input %s is not H x W x C", g->name, in->name);
	int64_t H = in->shape[0], W = in->shape[1], C = in->shape[2], isz = H * W * C;
	nash_datatype d = in->datatype;
	/* an image input (H x W x C with 1 or 3 channels, or a flattened
	 * grey image 1 x 1 x N for an MLP) whose datatype holds pixels */
	int pixels = nash_datatype_is_int(d) && d.kind != NASH_DT_BIPOLAR && nash_datatype_min(d) <= 0 &&
	             nash_datatype_max(d) >= 255 && ((C == 1 || C == 3) || (H == 1 && W == 1));
	*x = nash_alloc((size_t)((int64_t)(n > 0 ? n : 1) * isz) * sizeof **x);
	if (pixels && data && *data) {
		nash_dataset *ds = nash_dataset_load(data, n, 0, seed, e);
		if (!ds) {
			free(*x);
			*x = NULL;
			return -1;
		}
		int same = ds->h == H && ds->w == W && ds->c == C;
		int flat = H == 1 && W == 1 && ds->c == 1 && (int64_t)ds->h * ds->w == C;
		if ((same || flat) && ds->test.n >= n) {
			int64_t hw = (int64_t)ds->h * ds->w, c = ds->c;
			for (int i = 0; i < n; i++) /* N x C x H x W to H x W x C */
				for (int64_t ch = 0; ch < c; ch++)
					for (int64_t p = 0; p < hw; p++)
						(*x)[(int64_t)i * isz + p * c + ch] = ds->test.x[((int64_t)i * c + ch) * hw + p];
			snprintf(source, 256, "%s test images 0..%d", ds->name, n - 1);
			nash_dataset_free(ds);
			return 0;
		}
		if (ds->test.n < n) {
			nash_fail(e, "%s: %d images asked for, its test set has %lld", data, n, (long long)ds->test.n);
			nash_dataset_free(ds);
			free(*x);
			*x = NULL;
			return -1;
		}
		nash_dataset_free(ds);
		pixels = 0;
	}
	nash_rng r;
	nash_rng_seed(&r, seed);
	int64_t lo = nash_datatype_min(d), hi = nash_datatype_max(d);
	for (int64_t i = 0; i < (int64_t)n * isz; i++) {
		int64_t v = lo + (int64_t)nash_rng_below(&r, (uint64_t)(hi - lo + 1));
		if (d.kind == NASH_DT_BIPOLAR)
			v = v > 0 ? 1 : -1;
		(*x)[i] = (int32_t)v;
	}
	char dn[16];
	snprintf(source, 256, "random %s values, seed %llu (the input is not an image of %s)", nash_datatype_name(d, dn),
	         (unsigned long long)seed, data && *data ? data : "the data set");
	return 0;
}

/* ------------------------------------------------------------ csim */

/* The running command's process group (its own, so that a signal can
 * stop make and the compilers it started), 0 when none. */
static volatile pid_t csim_pg;

void nash_hls_stop_csim(void)
{
	pid_t pg = csim_pg;
	if (pg > 0) {
		kill(-pg, SIGTERM);
		while (waitpid(pg, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

static int run_cmd(char *const argv[], const char *dir, const char *log)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		if (chdir(dir) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);   /* also here: whichever runs first */
	csim_pg = pid;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			csim_pg = 0;
			return -1;
		}
	csim_pg = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int nash_hls_run_csim(const char *dir, int keep_log, nash_hls_csim *r, nash_err *e)
{
	memset(r, 0, sizeof *r);
	char *log = nash_strfmt("%s/csim.log", dir);
	unlink(log);
	char *build[] = {"make", "--no-print-directory", "csim_bin", NULL};
	double t0 = nash_now();
	int rc = run_cmd(build, dir, log);
	r->compile_s = nash_now() - t0;
	int ret = 0;
	if (rc != 0) {
		/* the last line of the compiler's complaint */
		char last[512] = "";
		FILE *f = fopen(log, "r");
		char line[512];
		while (f && fgets(line, sizeof line, f))
			if (strstr(line, "error") || rc == 127)
				snprintf(last, sizeof last, "%s", line);
		if (f)
			fclose(f);
		last[strcspn(last, "\n")] = 0;
		ret = nash_fail(e, "C simulation did not build in %s (make csim_bin exit %d%s%s%s)", dir, rc,
		                rc == 127 ? ": make not found" : "", last[0] ? "): " : "", last[0] ? last : "");
		if (!last[0] && rc != 127)
			nash_fail(e, "C simulation did not build in %s (make csim_bin exit %d)", dir, rc);
		goto out;
	}
	char *runv[] = {"./csim_bin", NULL};
	t0 = nash_now();
	rc = run_cmd(runv, dir, log);
	r->run_s = nash_now() - t0;
	r->ran = 1;
	FILE *f = fopen(log, "r");
	char line[1024];
	int found = 0;
	while (f && fgets(line, sizeof line, f)) {
		int imgs, match, mis;
		if (sscanf(line, "csim: %d images, %d match, %d mismatch", &imgs, &match, &mis) == 3) {
			r->images = imgs;
			r->mismatches = mis;
			found = 1;
		}
	}
	if (f)
		fclose(f);
	if (!found)
		ret = nash_fail(e, "C simulation in %s crashed or printed no result (exit %d); see csim.log", dir, rc);
	r->passed = found && rc == 0 && r->mismatches == 0;
out:
	if (!keep_log)
		unlink(log);
	free(log);
	{
		char *bin = nash_strfmt("%s/csim_bin", dir);
		unlink(bin);
		free(bin);
	}
	return ret;
}

/* -------------------------------------------------------- install */

void nash_hls_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char *p = nash_strfmt("%s/%s", dir, de->d_name);
			struct stat st;
			if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
				nash_hls_rmtree(p);
			else
				unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int ends(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

int nash_hls_is_archive(const char *dest)
{
	return ends(dest, ".tar.gz") || ends(dest, ".tgz") || ends(dest, ".tar");
}

/* add every file under dir/rel to the archive as top/rel */
static int add_tree(struct archive *a, const char *dir, const char *rel, const char *top, nash_err *e)
{
	char *path = rel[0] ? nash_strfmt("%s/%s", dir, rel) : nash_strdup(dir);
	DIR *d = opendir(path);
	if (!d) {
		nash_fail(e, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	/* sorted, so archives list the same way every time */
	char **names = NULL;
	int nn = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			names = nash_realloc(names, (size_t)(nn + 1) * sizeof *names);
			names[nn++] = nash_strdup(de->d_name);
		}
	closedir(d);
	for (int i = 0; i < nn; i++)
		for (int j = i + 1; j < nn; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j], names[j] = t;
			}
	int rc = 0;
	for (int i = 0; i < nn && rc == 0; i++) {
		char *r2 = rel[0] ? nash_strfmt("%s/%s", rel, names[i]) : nash_strdup(names[i]);
		char *full = nash_strfmt("%s/%s", dir, r2);
		char *an = nash_strfmt("%s/%s", top, r2);
		struct stat st;
		if (lstat(full, &st) < 0)
			rc = nash_fail(e, "%s: %s", full, strerror(errno));
		else if (S_ISDIR(st.st_mode)) {
			struct archive_entry *en = archive_entry_new();
			archive_entry_set_pathname(en, an);
			archive_entry_set_filetype(en, AE_IFDIR);
			archive_entry_set_perm(en, 0755);
			archive_entry_set_mtime(en, st.st_mtime, 0);
			if (archive_write_header(a, en) != ARCHIVE_OK)
				rc = nash_fail(e, "%s", archive_error_string(a));
			archive_entry_free(en);
			if (rc == 0)
				rc = add_tree(a, dir, r2, top, e);
		} else {
			struct archive_entry *en = archive_entry_new();
			archive_entry_set_pathname(en, an);
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_set_perm(en, 0644);
			archive_entry_set_size(en, st.st_size);
			archive_entry_set_mtime(en, st.st_mtime, 0);
			if (archive_write_header(a, en) != ARCHIVE_OK)
				rc = nash_fail(e, "%s", archive_error_string(a));
			archive_entry_free(en);
			int fd = rc == 0 ? open(full, O_RDONLY) : -1;
			if (rc == 0 && fd < 0)
				rc = nash_fail(e, "%s: %s", full, strerror(errno));
			char buf[65536];
			ssize_t k;
			while (rc == 0 && (k = read(fd, buf, sizeof buf)) > 0)
				if (archive_write_data(a, buf, (size_t)k) != k)
					rc = nash_fail(e, "%s", archive_error_string(a));
			if (fd >= 0)
				close(fd);
		}
		free(r2), free(full), free(an);
	}
	for (int i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(path);
	return rc;
}

int nash_hls_install(const char *tmpdir, const char *dest, nash_err *e)
{
	if (!nash_hls_is_archive(dest)) {
		struct stat st;
		char *old = NULL;
		if (stat(dest, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				nash_hls_rmtree(tmpdir);
				return nash_fail(e, "%s exists and is not a directory", dest);
			}
			old = nash_tmp_path(dest);
			if (rename(dest, old) < 0) {
				nash_fail(e, "%s: cannot replace: %s", dest, strerror(errno));
				free(old);
				nash_hls_rmtree(tmpdir);
				return -1;
			}
		}
		if (rename(tmpdir, dest) < 0) {
			nash_fail(e, "%s: cannot move the project into place: %s", dest, strerror(errno));
			if (old)
				rename(old, dest);
			free(old);
			nash_hls_rmtree(tmpdir);
			return -1;
		}
		if (old)
			nash_hls_rmtree(old);
		free(old);
		return 0;
	}
	/* the archive's top directory: the file name without its suffix */
	const char *base = strrchr(dest, '/');
	base = base ? base + 1 : dest;
	char top[256];
	snprintf(top, sizeof top, "%s", base);
	for (const char *suf = NULL, *const sufs[] = {".tar.gz", ".tgz", ".tar", NULL}, *const *s = sufs; *s; s++)
		if (ends(top, *s)) {
			top[strlen(top) - strlen(*s)] = 0;
			(void)suf;
			break;
		}
	if (!top[0])
		strcpy(top, "project");
	char *tmp = nash_tmp_path(dest);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (!ends(dest, ".tar"))
		archive_write_add_filter_gzip(a);
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = nash_fail(e, "%s: cannot create: %s", dest, strerror(errno));
	else if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		rc = nash_fail(e, "%s: %s", dest, archive_error_string(a));
	if (rc == 0) {
		struct archive_entry *en = archive_entry_new();
		archive_entry_set_pathname(en, top);
		archive_entry_set_filetype(en, AE_IFDIR);
		archive_entry_set_perm(en, 0755);
		if (archive_write_header(a, en) != ARCHIVE_OK)
			rc = nash_fail(e, "%s: %s", dest, archive_error_string(a));
		archive_entry_free(en);
	}
	if (rc == 0)
		rc = add_tree(a, tmpdir, "", top, e);
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = nash_fail(e, "%s: %s", dest, archive_error_string(a) ? archive_error_string(a) : "write error");
	archive_write_free(a);
	if (fd >= 0) {
		if (rc == 0 && fsync(fd) < 0)
			rc = nash_fail(e, "%s: %s", dest, strerror(errno));
		if (close(fd) < 0 && rc == 0)
			rc = nash_fail(e, "%s: %s", dest, strerror(errno));
	}
	if (rc == 0 && rename(tmp, dest) < 0)
		rc = nash_fail(e, "%s: cannot rename into place: %s", dest, strerror(errno));
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	nash_hls_rmtree(tmpdir);
	return rc;
}
