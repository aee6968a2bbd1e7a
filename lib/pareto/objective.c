/* objective.c - objective names, where graphs keep them, point sets,
 * TSV tables, the analysis nash-pareto reports. */
#include "pareto/pareto.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name, *alias;
	nash_obj_kind kind;
	int maximize;
} known[] = {
	{"top1", NULL, NASH_OBJ_TOP1, 1},
	{"top5", NULL, NASH_OBJ_TOP5, 1},
	{"lut", NULL, NASH_OBJ_LUT, 0},
	{"ff", NULL, NASH_OBJ_FF, 0},
	{"bram18", "bram", NASH_OBJ_BRAM18, 0},
	{"uram", NULL, NASH_OBJ_URAM, 0},
	{"dsp", NULL, NASH_OBJ_DSP, 0},
	{"fps", NULL, NASH_OBJ_FPS, 1},
	{"latency", "latency_us", NASH_OBJ_LATENCY, 0},
	{"params", NULL, NASH_OBJ_PARAMS, 0},
	{"macs", NULL, NASH_OBJ_MACS, 0},
};
#define NKNOWN (sizeof known / sizeof known[0])

const char *nash_pareto_obj_names(void)
{
	return "top1, top5, lut, ff, bram18 (bram), uram, dsp, fps, latency, params, macs";
}

int nash_pareto_obj_parse(const char *spec, nash_pareto_obj *o, nash_err *e)
{
	memset(o, 0, sizeof *o);
	const char *colon = strrchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (len == 0)
		return nash_fail(e, "objective '%s': empty name", spec);
	if (len >= sizeof o->name)
		return nash_fail(e, "objective '%.20s...': name too long", spec);
	memcpy(o->name, spec, len);
	o->name[len] = 0;
	if (strpbrk(o->name, "\t\n,= "))
		return nash_fail(e, "objective '%s': a name has no blanks, commas or '='", o->name);
	int dir = -1;
	if (colon) {
		if (strcasecmp(colon + 1, "min") == 0)
			dir = 0;
		else if (strcasecmp(colon + 1, "max") == 0)
			dir = 1;
		else
			return nash_fail(e, "objective '%s': direction '%s' is not min or max", spec, colon + 1);
	}
	o->kind = NASH_OBJ_COLUMN;
	for (size_t k = 0; k < NKNOWN; k++)
		if (strcmp(o->name, known[k].name) == 0 || (known[k].alias && strcmp(o->name, known[k].alias) == 0)) {
			snprintf(o->name, sizeof o->name, "%s", known[k].name);
			o->kind = known[k].kind;
			o->maximize = known[k].maximize;
		}
	if (dir >= 0) {
		o->maximize = dir;
		o->dir_given = 1;
	}
	return 0;
}

int nash_pareto_obj_direction(const nash_pareto_obj *o, nash_err *e)
{
	if (o->kind == NASH_OBJ_COLUMN && !o->dir_given)
		return nash_fail(e, "objective '%s' has no default direction: write %s:min or %s:max",
		                 o->name, o->name, o->name);
	return 0;
}

int nash_pareto_obj_list(const char *list, nash_pareto_obj *o, int max, nash_err *e)
{
	int n = 0;
	const char *p = list;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		char buf[256];
		if (len >= sizeof buf)
			return nash_fail(e, "objective list: item too long");
		memcpy(buf, p, len);
		buf[len] = 0;
		if (n == max)
			return nash_fail(e, "more than %d objectives", max);
		if (nash_pareto_obj_parse(buf, &o[n], e) < 0)
			return -1;
		for (int k = 0; k < n; k++)
			if (strcmp(o[k].name, o[n].name) == 0)
				return nash_fail(e, "objective '%s' given twice", o[n].name);
		n++;
		if (!c)
			break;
		p = c + 1;
	}
	return n;
}

/* ------------------------------------------------------------ graphs */

static int num(nash_graph *g, const nash_val *v, const char *path, double *out, int *single,
               nash_err *e)
{
	if (!nash_val_is_num(v))
		return nash_fail(e, "graph %s: meta.%s is not a number", g->name, path);
	*out = nash_val_as_f64(v, NAN);
	if (single)
		*single = v->t == NASH_V_F32;
	if (!isfinite(*out))
		return nash_fail(e, "graph %s: meta.%s is not finite", g->name, path);
	return 0;
}

static int est_value(nash_graph *g, const char *path, double *v, int *single, nash_err *e)
{
	if (!nash_val_get(g->meta, "est"))
		return nash_fail(e, "graph %s: no meta.est (run nash-est first)", g->name);
	const nash_val *x = nash_val_path(g->meta, path);
	if (!x)
		return nash_fail(e, "graph %s: no meta.%s", g->name, path);
	return num(g, x, path, v, single, e);
}

int nash_pareto_graph_value(nash_graph *g, const nash_pareto_obj *o, double *v, int *single,
                            nash_err *e)
{
	char path[128];
	if (single)
		*single = 0;
	switch (o->kind) {
	case NASH_OBJ_TOP1:
	case NASH_OBJ_TOP5: {
		const char *k = o->kind == NASH_OBJ_TOP1 ? "top1" : "top5";
		const nash_val *ev = nash_val_get(g->meta, "eval"), *tr = nash_val_get(g->meta, "train");
		if (!ev && !tr)
			return nash_fail(e, "graph %s: no meta.eval or meta.train for %s (run nash-train or nash-eval first)",
			                 g->name, k);
		const nash_val *x;
		snprintf(path, sizeof path, "eval.%s", k);
		if (!(x = nash_val_path(g->meta, path))) {
			snprintf(path, sizeof path, "train.%s", k);
			x = nash_val_path(g->meta, path);
		}
		if (!x)
			return nash_fail(e, "graph %s: no %s in meta.%s", g->name, k,
			                 ev && tr ? "eval or meta.train" : ev ? "eval" : "train");
		return num(g, x, path, v, single, e);
	}
	case NASH_OBJ_LUT: case NASH_OBJ_FF: case NASH_OBJ_BRAM18: case NASH_OBJ_URAM:
	case NASH_OBJ_DSP:
		snprintf(path, sizeof path, "est.total.%s", o->name);
		return est_value(g, path, v, single, e);
	case NASH_OBJ_FPS:
		return est_value(g, "est.fps", v, single, e);
	case NASH_OBJ_LATENCY:
		return est_value(g, "est.latency_us", v, single, e);
	case NASH_OBJ_PARAMS:
	case NASH_OBJ_MACS: {
		nash_counts c;
		if (nash_graph_count(g, &c, e) < 0)
			return -1;
		*v = (double)(o->kind == NASH_OBJ_PARAMS ? c.params : c.macs);
		return 0;
	}
	case NASH_OBJ_COLUMN:
		break;
	}
	if (!strchr(o->name, '.'))
		return nash_fail(e, "unknown objective '%s' (known: %s; or a meta path such as train.loss:min)",
		                 o->name, nash_pareto_obj_names());
	const nash_val *x = nash_val_path(g->meta, o->name);
	if (!x) {
		char stage[64];
		snprintf(stage, sizeof stage, "%.*s", (int)strcspn(o->name, "."), o->name);
		if (!nash_val_get(g->meta, stage))
			return nash_fail(e, "graph %s: no meta.%s (for objective %s)", g->name, stage, o->name);
		return nash_fail(e, "graph %s: no meta.%s", g->name, o->name);
	}
	return num(g, x, o->name, v, single, e);
}

const char *nash_pareto_graph_family(const nash_graph *g)
{
	const char *s = nash_val_as_str(nash_val_path(g->meta, "gen.nash"));
	return s && *s ? s : "baseline";
}

const char *nash_pareto_graph_bits(const nash_graph *g)
{
	const char *s = nash_val_as_str(nash_val_path(g->meta, "quant.preset"));
	return s && *s ? s : NULL;
}

/* -------------------------------------------------------------- sets */

void nash_pareto_set_init(nash_pareto_set *s, const nash_pareto_obj *o, int d)
{
	memset(s, 0, sizeof *s);
	s->d = d;
	memcpy(s->obj, o, (size_t)d * sizeof *o);
}

void nash_pareto_set_free(nash_pareto_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->name[i]);
		free(s->family[i]);
		free(s->bits[i]);
		free(s->part[i]);
	}
	free(s->name);
	free(s->family);
	free(s->bits);
	free(s->part);
	free(s->clock);
	free(s->v);
	free(s->single);
	memset(s, 0, sizeof *s);
}

/* Names end up in a TSV cell and a gnuplot label: no tabs or newlines. */
static char *clean(const char *s)
{
	char *c = nash_strdup(s);
	for (char *p = c; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	return c;
}

void nash_pareto_set_add(nash_pareto_set *s, const char *name, const char *family,
                         const char *bits, const double *v, const unsigned char *single)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = nash_realloc(s->v, s->cap * (size_t)s->d * sizeof *s->v);
		s->single = nash_realloc(s->single, s->cap * (size_t)s->d);
		s->name = nash_realloc(s->name, s->cap * sizeof *s->name);
		s->family = nash_realloc(s->family, s->cap * sizeof *s->family);
		s->bits = nash_realloc(s->bits, s->cap * sizeof *s->bits);
		s->part = nash_realloc(s->part, s->cap * sizeof *s->part);
		s->clock = nash_realloc(s->clock, s->cap * sizeof *s->clock);
	}
	size_t i = s->n++;
	memcpy(s->v + i * (size_t)s->d, v, (size_t)s->d * sizeof *v);
	if (single)
		memcpy(s->single + i * (size_t)s->d, single, (size_t)s->d);
	else
		memset(s->single + i * (size_t)s->d, 0, (size_t)s->d);
	s->name[i] = clean(name);
	s->family[i] = clean(family ? family : "other");
	s->bits[i] = bits ? clean(bits) : NULL;
	s->part[i] = NULL;
	s->clock[i] = 0;
}

int nash_pareto_set_add_graph(nash_pareto_set *s, nash_graph *g, nash_err *e)
{
	double v[NASH_PARETO_MAXOBJ];
	unsigned char single[NASH_PARETO_MAXOBJ];
	for (int j = 0; j < s->d; j++) {
		int sg;
		if (nash_pareto_graph_value(g, &s->obj[j], &v[j], &sg, e) < 0)
			return -1;
		single[j] = (unsigned char)sg;
	}
	nash_pareto_set_add(s, g->name, nash_pareto_graph_family(g), nash_pareto_graph_bits(g), v, single);
	const char *part = nash_val_as_str(nash_val_path(g->meta, "est.part"));
	if (part)
		s->part[s->n - 1] = clean(part);
	s->clock[s->n - 1] = nash_val_as_f64(nash_val_path(g->meta, "est.clock_mhz"), 0);
	return 0;
}

double *nash_pareto_set_minspace(const nash_pareto_set *s)
{
	double *m = nash_alloc((s->n ? s->n : 1) * (size_t)s->d * sizeof *m);
	for (size_t i = 0; i < s->n; i++)
		for (int j = 0; j < s->d; j++) {
			double x = s->v[i * (size_t)s->d + j];
			m[i * (size_t)s->d + j] = s->obj[j].maximize ? -x : x;
		}
	return m;
}

/* ---------------------------------------------------------------- TSV */

/* Split line (modified in place) at tabs; returns the field count. */
static int split(char *line, char ***f, int *cap)
{
	int n = 0;
	for (char *p = line;;) {
		if (n == *cap) {
			*cap = *cap ? 2 * *cap : 16;
			*f = nash_realloc(*f, (size_t)*cap * sizeof **f);
		}
		(*f)[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = 0;
		p = t + 1;
	}
	return n;
}

static int col_find(char **h, int nh, const char *name)
{
	for (int k = 0; k < nh; k++)
		if (strcmp(h[k], name) == 0)
			return k;
	return -1;
}

long nash_pareto_read_tsv(nash_pareto_set *s, FILE *f, const char *label, nash_err *e)
{
	char *line = NULL, **fld = NULL, **hdr = NULL;
	size_t lcap = 0;
	int fcap = 0, hcap = 0, nh = -1, col[NASH_PARETO_MAXOBJ], cname = -1, cfam = -1, cbits = -1;
	long lineno = 0, rows = 0, rc = -1;
	char *hline = NULL;
	ssize_t len;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (len == 0 || line[0] == '#')
			continue;
		for (ssize_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)line[k];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				nash_fail(e, "%s:%ld: binary data (byte 0x%02x): neither a TSV table nor a nash stream",
				          label, lineno, c);
				goto out;
			}
		}
		if (nh < 0) {
			hline = nash_strdup(line);
			nh = split(hline, &hdr, &hcap);
			cname = col_find(hdr, nh, "name");
			cfam = col_find(hdr, nh, "family");
			cbits = col_find(hdr, nh, "bits");
			for (int j = 0; j < s->d; j++) {
				const nash_pareto_obj *o = &s->obj[j];
				col[j] = col_find(hdr, nh, o->name);
				if (col[j] < 0 && o->kind == NASH_OBJ_BRAM18)
					col[j] = col_find(hdr, nh, "bram");
				if (col[j] < 0 && o->kind == NASH_OBJ_LATENCY)
					col[j] = col_find(hdr, nh, "latency_us");
				if (col[j] < 0) {
					char have[512] = "";
					for (int k = 0; k < nh; k++)
						snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s",
						         k ? ", " : "", hdr[k]);
					nash_fail(e, "%s: no column for objective '%s' (columns: %s)", label, o->name,
					          have);
					goto out;
				}
			}
			continue;
		}
		int n = split(line, &fld, &fcap);
		if (n < nh) {
			nash_fail(e, "%s:%ld: %d fields, the header has %d", label, lineno, n, nh);
			goto out;
		}
		double v[NASH_PARETO_MAXOBJ];
		for (int j = 0; j < s->d; j++) {
			const char *t = fld[col[j]];
			char *end;
			errno = 0;
			v[j] = strtod(t, &end);
			if (end == t || *end || errno == ERANGE || !isfinite(v[j])) {
				nash_fail(e, "%s:%ld: column %s: '%s' is not a %snumber", label, lineno, hdr[col[j]], t,
				          end != t && !*end ? "finite " : "");
				goto out;
			}
		}
		rows++;
		char rowname[32];
		snprintf(rowname, sizeof rowname, "row%ld", rows);
		const char *nm = cname >= 0 && fld[cname][0] ? fld[cname] : rowname;
		const char *fam = cfam >= 0 && fld[cfam][0] ? fld[cfam] : NULL;
		const char *bits = cbits >= 0 && fld[cbits][0] && strcmp(fld[cbits], "-") ? fld[cbits] : NULL;
		nash_pareto_set_add(s, nm, fam, bits, v, NULL);
	}
	if (ferror(f)) {
		nash_fail(e, "%s: read error: %s", label, strerror(errno));
		goto out;
	}
	if (nh < 0) {
		nash_fail(e, "%s: empty input: no TSV header line", label);
		goto out;
	}
	rc = rows;
out:
	free(line);
	free(fld);
	free(hdr);
	free(hline);
	return rc;
}

/* ------------------------------------------------------------ analysis */

int nash_pareto_analyze(const nash_pareto_set *s, nash_pareto_result *r, nash_err *e)
{
	size_t n = s->n;
	memset(r, 0, sizeof *r);
	r->rank = nash_alloc((n ? n : 1) * sizeof *r->rank);
	r->dominated_by = nash_alloc((n ? n : 1) * sizeof *r->dominated_by);
	r->dominator = nash_alloc((n ? n : 1) * sizeof *r->dominator);
	double *m = nash_pareto_set_minspace(s);
	int nf = nash_pareto_rank(m, n, s->d, r->rank, e);
	if (nf < 0 || nash_pareto_count(m, n, s->d, r->rank, r->dominated_by, e) < 0) {
		free(m);
		nash_pareto_result_free(r);
		return -1;
	}
	nash_pareto_dominator(m, n, s->d, r->rank, r->dominator);
	r->nfronts = nf;
	free(m);
	return 0;
}

void nash_pareto_result_free(nash_pareto_result *r)
{
	free(r->rank);
	free(r->dominated_by);
	free(r->dominator);
	memset(r, 0, sizeof *r);
}

char *nash_pareto_num(char *buf, double v, int single)
{
	if (isnan(v)) {
		strcpy(buf, "nan");
		return buf;
	}
	if (isinf(v)) {
		strcpy(buf, v > 0 ? "inf" : "-inf");
		return buf;
	}
	if (v == 0) { /* no "-0" */
		strcpy(buf, "0");
		return buf;
	}
	/* %g strips trailing zeros, so the first precision that reads back
	 * from 15 (6 for a float) up gives the shortest text */
	int p = single ? 6 : 15, last = single ? 9 : 17;
	for (; p < last; p++) {
		snprintf(buf, 32, "%.*g", p, v);
		double back = strtod(buf, NULL);
		if (single ? (float)back == (float)v : back == v)
			break;
	}
	if (p == last)
		snprintf(buf, 32, "%.*g", p, v);
	/* plain decimals rather than 3e+06 where that stays short */
	double a = fabs(v);
	char *e = strchr(buf, 'e');
	if (e && a >= 1e-4 && a < 1e15) {
		int digits = 0;
		for (char *c = buf; c < e; c++)
			digits += *c >= '0' && *c <= '9';
		int mag = (int)floor(log10(a)), dec = digits - 1 - mag;
		snprintf(buf, 32, "%.*f", dec > 0 ? dec : 0, v);
	}
	return buf;
}
