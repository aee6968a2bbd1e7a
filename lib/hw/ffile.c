/* ffile.c - folding files: TSV (name, PE, SIMD, ram_style, resType) or
 * JSON in FINN's folding_config format. */
#include "hw/hw.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *slurp(const char *path, nash_err *e)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		nash_fail(e, "folding file %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0, k;
	char *buf = nash_alloc(cap);
	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 >= cap) {
			cap *= 2;
			buf = nash_realloc(buf, cap);
		}
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		nash_fail(e, "folding file %s: read error", path);
		return NULL;
	}
	buf[n] = 0;
	if (strlen(buf) != n) {
		free(buf);
		nash_fail(e, "folding file %s: contains a NUL byte (not a text file)", path);
		return NULL;
	}
	return buf;
}

static nash_hw_fold_entry *push(nash_hw_folding *f)
{
	f->e = nash_realloc(f->e, (size_t)(f->n + 1) * sizeof *f->e);
	nash_hw_fold_entry *x = &f->e[f->n++];
	memset(x, 0, sizeof *x);
	x->decoupled = -1;
	return x;
}

static int fold_value(const char *s, int64_t *out)
{
	if (!strcmp(s, "-") || !*s) {
		*out = 0;
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ TSV */

static int read_tsv(const char *path, char *text, nash_hw_folding *f, nash_err *e)
{
	int line = 0;
	char *p = text;
	while (*p) {
		char *eol = strchr(p, '\n');
		if (eol)
			*eol = 0;
		line++;
		char *s = p;
		p = eol ? eol + 1 : p + strlen(p);
		size_t len = strlen(s);
		if (len && s[len - 1] == '\r')
			s[--len] = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		char *fld[6];
		int nf = 0;
		for (char *q = s;;) {
			if (nf < 6)
				fld[nf] = q;
			nf++;
			char *tab = strchr(q, '\t');
			if (!tab)
				break;
			*tab = 0;
			q = tab + 1;
		}
		for (int i = 0; i < nf && i < 6; i++) {   /* trim spaces */
			char *a = fld[i];
			while (*a == ' ')
				a++;
			char *z = a + strlen(a);
			while (z > a && z[-1] == ' ')
				*--z = 0;
			fld[i] = a;
		}
		if (f->n == 0 && (!strcasecmp(fld[0], "name") || !strcasecmp(fld[0], "layer")))
			continue;   /* header */
		if (nf < 3 || nf > 5)
			return nash_fail(e, "folding file %s line %d: expected name, PE, SIMD [, ram_style [, resType]] separated by tabs, found %d field%s",
			                 path, line, nf, nf == 1 ? "" : "s");
		nash_hw_fold_entry *x = push(f);
		x->line = line;
		if (strlen(fld[0]) >= sizeof x->name)
			return nash_fail(e, "folding file %s line %d: layer name too long", path, line);
		snprintf(x->name, sizeof x->name, "%s", fld[0]);
		if (fold_value(fld[1], &x->pe) < 0)
			return nash_fail(e, "folding file %s line %d: PE '%s' is not a positive integer (or '-')", path, line, fld[1]);
		if (fold_value(fld[2], &x->simd) < 0)
			return nash_fail(e, "folding file %s line %d: SIMD '%s' is not a positive integer (or '-')", path, line,
			                 fld[2]);
		if (nf > 3 && strcmp(fld[3], "-")) {
			nash_ram_style rs;
			if (nash_ram_style_parse(fld[3], &rs) < 0)
				return nash_fail(e, "folding file %s line %d: ram_style '%s' is not auto, distributed, block or ultra",
				                 path, line, fld[3]);
			snprintf(x->ram_style, sizeof x->ram_style, "%s", nash_ram_style_name(rs));
		}
		if (nf > 4 && strcmp(fld[4], "-")) {
			if (strcmp(fld[4], "lut") && strcmp(fld[4], "dsp") && strcmp(fld[4], "auto"))
				return nash_fail(e, "folding file %s line %d: resType '%s' is not lut, dsp or auto", path, line, fld[4]);
			snprintf(x->res_type, sizeof x->res_type, "%s", fld[4]);
		}
	}
	return 0;
}

/* ----------------------------------------------------------------- JSON */
/* A small JSON reader for folding files: values become nash_val trees;
 * errors carry the line. */

typedef struct { const char *s; int line; const char *path; nash_err *e; int depth; } jp;

static void ws(jp *p)
{
	for (;;) {
		if (*p->s == '\n')
			p->line++;
		if (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n')
			p->s++;
		else
			break;
	}
}

static int jfail(jp *p, const char *what)
{
	char got[16];
	if (!*p->s)
		snprintf(got, sizeof got, "end of file");
	else
		snprintf(got, sizeof got, "'%c'", *p->s);
	return nash_fail(p->e, "folding file %s line %d: malformed JSON: %s, found %s", p->path, p->line, what, got);
}

static nash_val *jvalue(jp *p);

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *jstring(jp *p)
{
	if (*p->s != '"') {
		jfail(p, "expected a string");
		return NULL;
	}
	p->s++;
	size_t cap = 32, n = 0;
	char *out = nash_alloc(cap);
	while (*p->s != '"') {
		unsigned c = (unsigned char)*p->s;
		if (!c || c == '\n' || c < 0x20) {
			free(out);
			jfail(p, "unterminated string");
			return NULL;
		}
		if (n + 8 >= cap)
			out = nash_realloc(out, cap *= 2);
		if (c == '\\') {
			char x = *++p->s;
			switch (x) {
			case '"': case '\\': case '/': out[n++] = x; break;
			case 'b': out[n++] = '\b'; break;
			case 'f': out[n++] = '\f'; break;
			case 'n': out[n++] = '\n'; break;
			case 'r': out[n++] = '\r'; break;
			case 't': out[n++] = '\t'; break;
			case 'u': {
				unsigned u = 0;
				for (int i = 1; i <= 4; i++) {
					int h = hexv(p->s[i]);
					if (h < 0) {
						free(out);
						jfail(p, "bad \\u escape");
						return NULL;
					}
					u = u * 16 + (unsigned)h;
				}
				p->s += 4;
				if (u < 0x80)
					out[n++] = (char)u;
				else if (u < 0x800) {
					out[n++] = (char)(0xc0 | (u >> 6));
					out[n++] = (char)(0x80 | (u & 0x3f));
				} else {
					out[n++] = (char)(0xe0 | (u >> 12));
					out[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
					out[n++] = (char)(0x80 | (u & 0x3f));
				}
				break;
			}
			default:
				free(out);
				jfail(p, "bad escape");
				return NULL;
			}
			p->s++;
		} else
			out[n++] = *p->s++;
	}
	p->s++;
	out[n] = 0;
	return out;
}

static nash_val *jvalue(jp *p)
{
	ws(p);
	if (++p->depth > 64) {
		nash_fail(p->e, "folding file %s line %d: JSON nested too deeply", p->path, p->line);
		return NULL;
	}
	nash_val *v = NULL;
	if (*p->s == '{') {
		p->s++;
		v = nash_val_map();
		ws(p);
		if (*p->s == '}')
			p->s++;
		else
			for (;;) {
				ws(p);
				char *k = jstring(p);
				if (!k)
					goto bad;
				ws(p);
				if (*p->s != ':') {
					free(k);
					jfail(p, "expected ':'");
					goto bad;
				}
				p->s++;
				nash_val *x = jvalue(p);
				if (!x) {
					free(k);
					goto bad;
				}
				nash_val_set(v, k, x);
				free(k);
				ws(p);
				if (*p->s == ',') {
					p->s++;
					continue;
				}
				if (*p->s == '}') {
					p->s++;
					break;
				}
				jfail(p, "expected ',' or '}'");
				goto bad;
			}
	} else if (*p->s == '[') {
		p->s++;
		v = nash_val_arr();
		ws(p);
		if (*p->s == ']')
			p->s++;
		else
			for (;;) {
				nash_val *x = jvalue(p);
				if (!x)
					goto bad;
				nash_val_push(v, x);
				ws(p);
				if (*p->s == ',') {
					p->s++;
					continue;
				}
				if (*p->s == ']') {
					p->s++;
					break;
				}
				jfail(p, "expected ',' or ']'");
				goto bad;
			}
	} else if (*p->s == '"') {
		char *s = jstring(p);
		if (!s)
			return NULL;
		v = nash_val_str(s);
		free(s);
	} else if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "false", 5)) {
		v = nash_val_bool(*p->s == 't');
		p->s += *p->s == 't' ? 4 : 5;
	} else if (!strncmp(p->s, "null", 4)) {
		v = nash_val_nil();
		p->s += 4;
	} else if (*p->s == '-' || isdigit((unsigned char)*p->s)) {
		char *end;
		errno = 0;
		long long i = strtoll(p->s, &end, 10);
		if (*end == '.' || *end == 'e' || *end == 'E') {
			double d = strtod(p->s, &end);
			v = nash_val_f64(d);
		} else if (errno) {
			jfail(p, "number out of range");
			return NULL;
		} else
			v = nash_val_int(i);
		p->s = end;
	} else {
		jfail(p, "expected a value");
		return NULL;
	}
	p->depth--;
	return v;
bad:
	nash_val_free(v);
	return NULL;
}

static int json_fold(jp *p, nash_val *x, nash_hw_fold_entry *fe, const char *key, int line)
{
	if (x->t != NASH_V_MAP)
		return nash_fail(p->e, "folding file %s line %d: the entry of %s must be an object such as {\"PE\": 4, \"SIMD\": 8}",
		                 p->path, line, key);
	nash_val *v;
	if ((v = nash_val_get(x, "PE"))) {
		if (v->t != NASH_V_INT || v->u.i < 1)
			return nash_fail(p->e, "folding file %s line %d: %s: PE must be a positive integer", p->path, line, key);
		fe->pe = v->u.i;
	}
	if ((v = nash_val_get(x, "SIMD"))) {
		if (v->t != NASH_V_INT || v->u.i < 1)
			return nash_fail(p->e, "folding file %s line %d: %s: SIMD must be a positive integer", p->path, line, key);
		fe->simd = v->u.i;
	}
	if ((v = nash_val_get(x, "ram_style"))) {
		nash_ram_style rs;
		const char *s = nash_val_as_str(v);
		if (!s || nash_ram_style_parse(s, &rs) < 0)
			return nash_fail(p->e, "folding file %s line %d: %s: ram_style must be auto, distributed, block or ultra",
			                 p->path, line, key);
		snprintf(fe->ram_style, sizeof fe->ram_style, "%s", nash_ram_style_name(rs));
	}
	if ((v = nash_val_get(x, "mem_mode"))) {
		const char *s = nash_val_as_str(v);
		if (!s)
			return nash_fail(p->e, "folding file %s line %d: %s: mem_mode must be a string", p->path, line, key);
		fe->decoupled = strstr(s, "decoupled") != NULL;
	}
	if ((v = nash_val_get(x, "resType"))) {
		const char *s = nash_val_as_str(v);
		if (!s || (strcmp(s, "lut") && strcmp(s, "dsp") && strcmp(s, "auto")))
			return nash_fail(p->e, "folding file %s line %d: %s: resType must be lut, dsp or auto", p->path, line, key);
		snprintf(fe->res_type, sizeof fe->res_type, "%s", s);
	}
	return 0;
}

static int read_json(const char *path, const char *text, nash_hw_folding *f, nash_err *e)
{
	jp p = { text, 1, path, e, 0 };
	ws(&p);
	if (*p.s != '{')
		return jfail(&p, "expected '{' (an object of layer name -> folding)");
	p.s++;
	ws(&p);
	if (*p.s == '}')
		p.s++;
	else
		for (;;) {
			ws(&p);
			int line = p.line;
			char *k = jstring(&p);
			if (!k)
				return -1;
			ws(&p);
			if (*p.s != ':') {
				free(k);
				return jfail(&p, "expected ':'");
			}
			p.s++;
			nash_val *x = jvalue(&p);
			if (!x) {
				free(k);
				return -1;
			}
			int rc = 0;
			if (strcmp(k, "Defaults") != 0) {
				nash_hw_fold_entry *fe = push(f);
				fe->line = line;
				snprintf(fe->name, sizeof fe->name, "%s", k);
				rc = json_fold(&p, x, fe, k, line);
			}
			nash_val_free(x);
			free(k);
			if (rc < 0)
				return -1;
			ws(&p);
			if (*p.s == ',') {
				p.s++;
				continue;
			}
			if (*p.s == '}') {
				p.s++;
				break;
			}
			return jfail(&p, "expected ',' or '}'");
		}
	ws(&p);
	if (*p.s)
		return jfail(&p, "text after the end of the object");
	return 0;
}

int nash_hw_folding_read(const char *path, nash_hw_folding *f, nash_err *e)
{
	memset(f, 0, sizeof *f);
	snprintf(f->path, sizeof f->path, "%s", path);
	char *text = slurp(path, e);
	if (!text)
		return -1;
	const char *s = text;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	int rc = *s == '{' ? read_json(path, text, f, e) : read_tsv(path, text, f, e);
	free(text);
	if (rc < 0)
		nash_hw_folding_free(f);
	return rc;
}

void nash_hw_folding_free(nash_hw_folding *f)
{
	free(f->e);
	f->e = NULL;
	f->n = 0;
}

int nash_hw_folding_apply(nash_hw_design *d, const nash_hw_folding *f, nash_err *e)
{
	for (int i = 0; i < f->n; i++) {
		const nash_hw_fold_entry *x = &f->e[i];
		int li = nash_hw_find(d, x->name);
		if (li < 0)
			return nash_fail(e, "folding file %s line %d: graph %s has no hardware layer named %s (names as nash-dump -n shows them)",
			                 f->path, x->line, d->g->name, x->name);
		nash_hw_layer *l = &d->l[li];
		if (nash_hw_set_fold(l, x->pe, x->simd, e) < 0) {
			nash_err_prefix(e, "folding file %s line %d: ", f->path, x->line);
			return -1;
		}
		if (x->pe || x->simd)
			l->pinned = 1;
		if (x->ram_style[0]) {
			nash_ram_style_parse(x->ram_style, &l->ram);
			l->ram_pinned = 1;
		}
		if (x->decoupled >= 0 && l->kind == NASH_HW_MVAU)
			l->decoupled = x->decoupled;
		if (x->res_type[0]) {
			if (l->kind != NASH_HW_MVAU)
				return nash_fail(e, "folding file %s line %d: layer %s (%s) has no resType (only MVAU has)", f->path,
				                 x->line, l->name, nash_hw_kind_op(l->kind));
			if (strcmp(x->res_type, "auto")) {
				l->dsp = x->res_type[0] == 'd';
				l->dsp_pinned = 1;
			}
		}
	}
	return 0;
}

int nash_hw_ram_style_glob(nash_hw_design *d, const char *glob, nash_ram_style s)
{
	int n = 0;
	for (int i = 0; i < d->nreal; i++)
		if (nash_glob(glob, d->l[i].name)) {
			d->l[i].ram = s;
			d->l[i].ram_pinned = 1;
			n++;
		}
	return n;
}
