/* plot.c - Pareto plots through gnuplot and the template share/nash/pareto.gp.
 *
 * The points and the front go to data files in a private temporary
 * directory; gnuplot gets the settings as -e assignments, then the
 * template, and writes to a temporary name next to the target, which is
 * renamed into place only after gnuplot succeeded and wrote something. */
#include "pareto/pareto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

nash_plot_fmt nash_pareto_plot_format(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (!dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
		return NASH_PLOT_NONE;
	if (strcasecmp(dot, ".png") == 0)
		return NASH_PLOT_PNG;
	if (strcasecmp(dot, ".svg") == 0)
		return NASH_PLOT_SVG;
	if (strcasecmp(dot, ".pdf") == 0)
		return NASH_PLOT_PDF;
	return NASH_PLOT_NONE;
}

int nash_pareto_plot_probe(const char *path, nash_err *e)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return nash_fail(e, "cannot write plot %s: it is a directory", path);
	char *tmp = nash_tmp_path(path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		nash_fail(e, "cannot write plot %s: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	close(fd);
	unlink(tmp);
	free(tmp);
	return 0;
}

/* The first executable "gnuplot" on PATH, malloc'd, or NULL. */
static char *find_gnuplot(void)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		return NULL;
	char *dup = nash_strdup(path), *save = NULL;
	for (char *dir = strtok_r(dup, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *cand = nash_strfmt("%s/gnuplot", *dir ? dir : ".");
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			free(dup);
			return cand;
		}
		free(cand);
	}
	free(dup);
	return NULL;
}

/* Append a gnuplot single-quoted string ('' stands for one quote). */
static void gq(char **buf, size_t *len, size_t *cap, const char *var, const char *s)
{
	size_t need = *len + strlen(var) + 2 * strlen(s) + 8;
	if (need > *cap) {
		*cap = 2 * need;
		*buf = nash_realloc(*buf, *cap);
	}
	*len += (size_t)sprintf(*buf + *len, "%s='", var);
	for (; *s; s++) {
		if (*s == '\'')
			(*buf)[(*len)++] = '\'';
		(*buf)[(*len)++] = *s == '\n' ? ' ' : *s;
	}
	*len += (size_t)sprintf(*buf + *len, "'; ");
}

static const char *style_of(const char *family)
{
	static const char *const fams[] = {"baseline", "v1", "v2", "v3", "v4"};
	for (size_t k = 0; k < sizeof fams / sizeof fams[0]; k++)
		if (strcmp(family, fams[k]) == 0)
			return fams[k];
	return "other";
}

static const char *const famorder[] = {"baseline", "v1", "v2", "v3", "v4", "other"};
#define NFAM 6

static FILE *data_file(const char *dir, const char *name, nash_err *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		nash_fail(e, "%s: %s", path, strerror(errno));
	return f;
}

static int close_data(FILE *f, const char *dir, const char *name, nash_err *e)
{
	if (fclose(f) != 0)
		return nash_fail(e, "%s/%s: %s", dir, name, strerror(errno));
	return 0;
}

typedef struct {
	double x, y; /* y: smaller is better */
} xy;

static int xycmp(const void *a, const void *b)
{
	const xy *p = a, *q = b;
	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	return p->y < q->y ? -1 : p->y > q->y;
}

/* fam-<family>.tsv (x, y) per style family present, labels.tsv (x, y,
 * label) for the labelled points, front.tsv (x, y) for the front in x
 * order. fams gets the families present, space-separated. */
static int write_data(const nash_plot *p, const char *dir, char *fams, size_t famcap, nash_err *e)
{
	FILE *ff[NFAM] = {0};
	char name[64];
	fams[0] = 0;
	for (size_t i = 0; i < p->n; i++) {
		const char *st = style_of(p->family[i]);
		int k = 0;
		while (strcmp(st, famorder[k]) != 0)
			k++;
		if (!ff[k]) {
			snprintf(name, sizeof name, "fam-%s.tsv", famorder[k]);
			if (!(ff[k] = data_file(dir, name, e)))
				goto fail;
		}
		fprintf(ff[k], "%.17g\t%.17g\n", p->x[i], p->y[i]);
	}
	for (int k = 0; k < NFAM; k++)
		if (ff[k]) {
			snprintf(name, sizeof name, "fam-%s.tsv", famorder[k]);
			FILE *f = ff[k];
			ff[k] = NULL;
			if (close_data(f, dir, name, e) < 0)
				goto fail;
			snprintf(fams + strlen(fams), famcap - strlen(fams), "%s%s", fams[0] ? " " : "", famorder[k]);
		}

	FILE *f = data_file(dir, "labels.tsv", e);
	if (!f)
		return -1;
	for (size_t i = 0; i < p->n; i++)
		if (p->label[i] && p->label[i][0]) {
			fprintf(f, "%.17g\t%.17g\t", p->x[i], p->y[i]);
			for (const char *c = p->label[i]; *c; c++) /* gnuplot quotes with " */
				fputc(*c == '"' ? '\'' : *c == '\t' || *c == '\n' ? ' ' : *c, f);
			fputc('\n', f);
		}
	if (close_data(f, dir, "labels.tsv", e) < 0)
		return -1;

	/* the front in x order (ties: the better y first) */
	if (!(f = data_file(dir, "front.tsv", e)))
		return -1;
	size_t m = 0;
	xy *pt = nash_alloc((p->n ? p->n : 1) * sizeof *pt);
	for (size_t i = 0; i < p->n; i++)
		if (p->rank[i] == 1)
			pt[m++] = (xy){p->x[i], p->ymax ? -p->y[i] : p->y[i]};
	qsort(pt, m, sizeof *pt, xycmp);
	for (size_t k = 0; k < m; k++)
		fprintf(f, "%.17g\t%.17g\n", pt[k].x, p->ymax ? -pt[k].y : pt[k].y);
	free(pt);
	return close_data(f, dir, "front.tsv", e);
fail:
	for (int k = 0; k < NFAM; k++)
		if (ff[k])
			fclose(ff[k]);
	return -1;
}

static void rmtree(const char *dir)
{
	static const char *const files[] = {"labels.tsv", "front.tsv", "gnuplot.err"};
	char path[PATH_MAX];
	for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[k]);
		unlink(path);
	}
	for (int k = 0; k < NFAM; k++) {
		snprintf(path, sizeof path, "%s/fam-%s.tsv", dir, famorder[k]);
		unlink(path);
	}
	rmdir(dir);
}

/* First line of gnuplot's complaint that says something. */
static void first_error(const char *path, char *out, size_t cap)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[512], last[512] = "";
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		char *s = line;
		while (*s == ' ' || *s == '^')
			s++;
		if (!*s)
			continue;
		snprintf(last, sizeof last, "%s", s);
		if (strstr(s, "rror") || strstr(s, "annot")) {
			snprintf(out, cap, "%s", s);
			break;
		}
	}
	if (!out[0])
		snprintf(out, cap, "%s", last);
	fclose(f);
}

int nash_pareto_plot(const nash_plot *p, nash_err *e)
{
	static const char *const fmtname[] = {"", "png", "svg", "pdf"};
	nash_plot_fmt fmt = nash_pareto_plot_format(p->path);
	if (fmt == NASH_PLOT_NONE)
		return nash_fail(e, "plot %s: the name must end in .png, .svg or .pdf", p->path);
	char *gp = find_gnuplot();
	if (!gp)
		return nash_fail(e, "cannot plot %s: gnuplot not found on PATH (install gnuplot-nox)", p->path);
	char tpl[PATH_MAX];
	snprintf(tpl, sizeof tpl, "%s/pareto.gp", nash_share_dir());
	if (access(tpl, R_OK) != 0) {
		free(gp);
		return nash_fail(e, "cannot plot %s: template %s: %s (set NASH_SHARE to nash's share directory)",
		                 p->path, tpl, strerror(errno));
	}
	const char *tdir = getenv("TMPDIR");
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/nash-pareto.XXXXXX", tdir && *tdir ? tdir : "/tmp");
	if (!mkdtemp(dir)) {
		free(gp);
		return nash_fail(e, "cannot plot %s: temporary directory %s: %s", p->path, dir, strerror(errno));
	}
	char fams[64];
	if (write_data(p, dir, fams, sizeof fams, e) < 0) {
		nash_err_prefix(e, "cannot plot %s: ", p->path);
		rmtree(dir);
		free(gp);
		return -1;
	}
	char *out = nash_tmp_path(p->path);
	int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		nash_fail(e, "cannot write plot %s: %s", p->path, strerror(errno));
		goto fail;
	}
	close(fd);

	char *cmd = NULL;
	size_t len = 0, cap = 0;
	gq(&cmd, &len, &cap, "fmt", fmtname[fmt]);
	gq(&cmd, &len, &cap, "out", out);
	gq(&cmd, &len, &cap, "dir", dir);
	gq(&cmd, &len, &cap, "xlab", p->xlabel ? p->xlabel : "");
	gq(&cmd, &len, &cap, "ylab", p->ylabel ? p->ylabel : "");
	gq(&cmd, &len, &cap, "ttl", p->title ? p->title : "");
	gq(&cmd, &len, &cap, "steps", p->steps ? (p->xmax ? "fsteps" : "steps") : "");
	gq(&cmd, &len, &cap, "fams", fams);

	char errpath[PATH_MAX];
	snprintf(errpath, sizeof errpath, "%s/gnuplot.err", dir);
	pid_t pid = fork();
	if (pid < 0) {
		nash_fail(e, "cannot plot %s: fork: %s", p->path, strerror(errno));
		free(cmd);
		goto fail;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY), err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in < 0 || err < 0)
			_exit(126);
		dup2(in, 0);
		dup2(err, 1);
		dup2(err, 2);
		signal(SIGPIPE, SIG_DFL);
		execl(gp, "gnuplot", "-e", cmd, tpl, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			nash_fail(e, "cannot plot %s: waitpid: %s", p->path, strerror(errno));
			goto fail;
		}
	struct stat sb;
	char why[400];
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		first_error(errpath, why, sizeof why);
		if (WIFEXITED(st))
			nash_fail(e, "cannot plot %s: gnuplot failed (exit %d)%s%s", p->path, WEXITSTATUS(st),
			          why[0] ? ": " : "", why);
		else
			nash_fail(e, "cannot plot %s: gnuplot killed by signal %d", p->path, WTERMSIG(st));
		goto fail;
	}
	if (stat(out, &sb) != 0 || sb.st_size == 0) {
		first_error(errpath, why, sizeof why);
		nash_fail(e, "cannot plot %s: gnuplot wrote nothing%s%s", p->path, why[0] ? ": " : "", why);
		goto fail;
	}
	fd = open(out, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		nash_fail(e, "cannot write plot %s: %s", p->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	/* gnuplot exits 0 when its writes fail (a full disk): the file must
	 * end as its format does */
	char tail[65] = "";
	off_t at = sb.st_size > 64 ? sb.st_size - 64 : 0;
	ssize_t got = pread(fd, tail, 64, at);
	close(fd);
	tail[got > 0 ? got : 0] = 0;
	int whole = fmt == NASH_PLOT_PNG ? got >= 8 && memcmp(tail + got - 8, "IEND", 4) == 0
	          : fmt == NASH_PLOT_SVG ? memmem(tail, got > 0 ? (size_t)got : 0, "</svg>", 6) != NULL
	          : memmem(tail, got > 0 ? (size_t)got : 0, "%%EOF", 5) != NULL;
	if (!whole) {
		nash_fail(e, "cannot write plot %s: gnuplot's output is cut short (%lld bytes; disk full?)", p->path,
		          (long long)sb.st_size);
		goto fail;
	}
	if (rename(out, p->path) < 0) {
		nash_fail(e, "cannot write plot %s: cannot rename into place: %s", p->path, strerror(errno));
		goto fail;
	}
	free(out);
	free(gp);
	rmtree(dir);
	return 0;
fail:
	unlink(out);
	free(out);
	free(gp);
	rmtree(dir);
	return -1;
}
