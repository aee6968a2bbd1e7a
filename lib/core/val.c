/* val.c - ordered msgpack-like value trees and their JSON text. */
#include "core/nash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nash_val *mk(nash_vtype t)
{
	nash_val *v = calloc(1, sizeof *v);
	if (!v)
		v = nash_alloc(sizeof *v);
	v->t = t;
	return v;
}

nash_val *nash_val_nil(void) { return mk(NASH_V_NIL); }
nash_val *nash_val_bool(int b) { nash_val *v = mk(NASH_V_BOOL); v->u.b = !!b; return v; }
nash_val *nash_val_int(int64_t i) { nash_val *v = mk(NASH_V_INT); v->u.i = i; return v; }
nash_val *nash_val_f64(double f) { nash_val *v = mk(NASH_V_F64); v->u.f = f; return v; }
nash_val *nash_val_f32(float f) { nash_val *v = mk(NASH_V_F32); v->u.f = f; return v; }
nash_val *nash_val_arr(void) { return mk(NASH_V_ARR); }
nash_val *nash_val_map(void) { return mk(NASH_V_MAP); }

nash_val *nash_val_strn(const char *s, size_t n)
{
	nash_val *v = mk(NASH_V_STR);
	v->u.s.p = nash_realloc(NULL, n + 1);
	if (n)
		memcpy(v->u.s.p, s, n);
	v->u.s.p[n] = 0;
	v->u.s.n = n;
	return v;
}

nash_val *nash_val_str(const char *s) { return nash_val_strn(s ? s : "", s ? strlen(s) : 0); }

nash_val *nash_val_bin(const void *p, size_t n)
{
	nash_val *v = nash_val_strn(p, n);
	v->t = NASH_V_BIN;
	return v;
}

nash_val *nash_val_ints(const int64_t *x, size_t n)
{
	nash_val *a = nash_val_arr();
	for (size_t i = 0; i < n; i++)
		nash_val_push(a, nash_val_int(x[i]));
	return a;
}

nash_val *nash_val_f64s(const double *x, size_t n)
{
	nash_val *a = nash_val_arr();
	for (size_t i = 0; i < n; i++)
		nash_val_push(a, nash_val_f64(x[i]));
	return a;
}

void nash_val_free(nash_val *v)
{
	if (!v)
		return;
	switch (v->t) {
	case NASH_V_STR: case NASH_V_BIN: case NASH_V_EXT:
		free(v->u.s.p);
		break;
	case NASH_V_ARR:
		for (size_t i = 0; i < v->u.a.n; i++)
			nash_val_free(v->u.a.v[i]);
		free(v->u.a.v);
		break;
	case NASH_V_MAP:
		for (size_t i = 0; i < v->u.m.n; i++) {
			nash_val_free(v->u.m.k[i]);
			nash_val_free(v->u.m.v[i]);
		}
		free(v->u.m.k);
		free(v->u.m.v);
		break;
	default:
		break;
	}
	free(v);
}

nash_val *nash_val_copy(const nash_val *v)
{
	if (!v)
		return NULL;
	nash_val *c;
	switch (v->t) {
	case NASH_V_STR: case NASH_V_BIN: case NASH_V_EXT:
		c = nash_val_strn(v->u.s.p, v->u.s.n);
		c->t = v->t;
		c->ext_type = v->ext_type;
		return c;
	case NASH_V_ARR:
		c = nash_val_arr();
		for (size_t i = 0; i < v->u.a.n; i++)
			nash_val_push(c, nash_val_copy(v->u.a.v[i]));
		return c;
	case NASH_V_MAP:
		c = nash_val_map();
		for (size_t i = 0; i < v->u.m.n; i++) {
			if (c->u.m.n == c->u.m.cap) {
				c->u.m.cap = c->u.m.cap ? 2 * c->u.m.cap : 4;
				c->u.m.k = nash_realloc(c->u.m.k, c->u.m.cap * sizeof *c->u.m.k);
				c->u.m.v = nash_realloc(c->u.m.v, c->u.m.cap * sizeof *c->u.m.v);
			}
			c->u.m.k[c->u.m.n] = nash_val_copy(v->u.m.k[i]);
			c->u.m.v[c->u.m.n++] = nash_val_copy(v->u.m.v[i]);
		}
		return c;
	default:
		c = mk(v->t);
		c->u = v->u;
		return c;
	}
}

int nash_val_equal(const nash_val *a, const nash_val *b)
{
	if (!a || !b)
		return a == b;
	if (a->t != b->t)
		return 0;
	switch (a->t) {
	case NASH_V_NIL: return 1;
	case NASH_V_BOOL: return a->u.b == b->u.b;
	case NASH_V_INT: return a->u.i == b->u.i;
	case NASH_V_UINT: return a->u.u == b->u.u;
	case NASH_V_F32: case NASH_V_F64:
		return a->u.f == b->u.f || (isnan(a->u.f) && isnan(b->u.f));
	case NASH_V_STR: case NASH_V_BIN: case NASH_V_EXT:
		return a->ext_type == b->ext_type && a->u.s.n == b->u.s.n &&
		       memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
	case NASH_V_ARR:
		if (a->u.a.n != b->u.a.n)
			return 0;
		for (size_t i = 0; i < a->u.a.n; i++)
			if (!nash_val_equal(a->u.a.v[i], b->u.a.v[i]))
				return 0;
		return 1;
	case NASH_V_MAP:
		if (a->u.m.n != b->u.m.n)
			return 0;
		for (size_t i = 0; i < a->u.m.n; i++)
			if (!nash_val_equal(a->u.m.k[i], b->u.m.k[i]) ||
			    !nash_val_equal(a->u.m.v[i], b->u.m.v[i]))
				return 0;
		return 1;
	}
	return 0;
}

void nash_val_push(nash_val *a, nash_val *x)
{
	if (a->u.a.n == a->u.a.cap) {
		a->u.a.cap = a->u.a.cap ? 2 * a->u.a.cap : 4;
		a->u.a.v = nash_realloc(a->u.a.v, a->u.a.cap * sizeof *a->u.a.v);
	}
	a->u.a.v[a->u.a.n++] = x;
}

static long find_key(const nash_val *m, const char *key)
{
	if (!m || m->t != NASH_V_MAP)
		return -1;
	size_t n = strlen(key);
	for (size_t i = 0; i < m->u.m.n; i++) {
		const nash_val *k = m->u.m.k[i];
		if (k->t == NASH_V_STR && k->u.s.n == n && memcmp(k->u.s.p, key, n) == 0)
			return (long)i;
	}
	return -1;
}

void nash_val_set(nash_val *m, const char *key, nash_val *x)
{
	long i = find_key(m, key);
	if (i >= 0) {
		nash_val_free(m->u.m.v[i]);
		m->u.m.v[i] = x;
		return;
	}
	if (m->u.m.n == m->u.m.cap) {
		m->u.m.cap = m->u.m.cap ? 2 * m->u.m.cap : 4;
		m->u.m.k = nash_realloc(m->u.m.k, m->u.m.cap * sizeof *m->u.m.k);
		m->u.m.v = nash_realloc(m->u.m.v, m->u.m.cap * sizeof *m->u.m.v);
	}
	m->u.m.k[m->u.m.n] = nash_val_str(key);
	m->u.m.v[m->u.m.n++] = x;
}

nash_val *nash_val_get(const nash_val *m, const char *key)
{
	long i = find_key(m, key);
	return i < 0 ? NULL : m->u.m.v[i];
}

int nash_val_del(nash_val *m, const char *key)
{
	long i = find_key(m, key);
	if (i < 0)
		return 0;
	nash_val_free(m->u.m.k[i]);
	nash_val_free(m->u.m.v[i]);
	memmove(m->u.m.k + i, m->u.m.k + i + 1, (m->u.m.n - (size_t)i - 1) * sizeof *m->u.m.k);
	memmove(m->u.m.v + i, m->u.m.v + i + 1, (m->u.m.n - (size_t)i - 1) * sizeof *m->u.m.v);
	m->u.m.n--;
	return 1;
}

nash_val *nash_val_submap(nash_val *m, const char *key)
{
	nash_val *v = nash_val_get(m, key);
	if (v && v->t == NASH_V_MAP)
		return v;
	v = nash_val_map();
	nash_val_set(m, key, v);
	return v;
}

int nash_val_is_num(const nash_val *v)
{
	return v && (v->t == NASH_V_INT || v->t == NASH_V_UINT || v->t == NASH_V_F32 ||
	             v->t == NASH_V_F64 || v->t == NASH_V_BOOL);
}

int64_t nash_val_as_int(const nash_val *v, int64_t def)
{
	if (!v)
		return def;
	switch (v->t) {
	case NASH_V_BOOL: return v->u.b;
	case NASH_V_INT: return v->u.i;
	case NASH_V_UINT: return (int64_t)v->u.u;
	case NASH_V_F32: case NASH_V_F64:
		if (isfinite(v->u.f) && fabs(v->u.f) < 9.2e18)
			return (int64_t)llround(v->u.f);
		return def;
	default: return def;
	}
}

double nash_val_as_f64(const nash_val *v, double def)
{
	if (!v)
		return def;
	switch (v->t) {
	case NASH_V_BOOL: return v->u.b;
	case NASH_V_INT: return (double)v->u.i;
	case NASH_V_UINT: return (double)v->u.u;
	case NASH_V_F32: case NASH_V_F64: return v->u.f;
	default: return def;
	}
}

const char *nash_val_as_str(const nash_val *v)
{
	return v && v->t == NASH_V_STR ? v->u.s.p : NULL;
}

nash_val *nash_val_path(const nash_val *root, const char *path)
{
	const nash_val *cur = root;
	char key[256];
	while (cur && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof key)
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		cur = nash_val_get(cur, key);
		path += n + (dot ? 1 : 0);
	}
	return (nash_val *)cur;
}

/* ----------------------------------------------------------------- JSON */
typedef struct { char *p; size_t n, cap; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		while (b->n + n + 1 > b->cap)
			b->cap = b->cap ? 2 * b->cap : 256;
		b->p = nash_realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_jstr(sbuf *b, const char *s, size_t n)
{
	sb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		switch (c) {
		case '"': sb_put(b, "\\\"", 2); break;
		case '\\': sb_put(b, "\\\\", 2); break;
		case '\n': sb_put(b, "\\n", 2); break;
		case '\r': sb_put(b, "\\r", 2); break;
		case '\t': sb_put(b, "\\t", 2); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				snprintf(esc, sizeof esc, "\\u%04x", c);
				sb_puts(b, esc);
			} else
				sb_put(b, (const char *)&c, 1);
		}
	}
	sb_put(b, "\"", 1);
}

void nash_json_str(FILE *f, const char *s, size_t n)
{
	sbuf b = {0};
	sb_jstr(&b, s, n);
	fwrite(b.p, 1, b.n, f);
	free(b.p);
}

static void sb_num(sbuf *b, double f, int is32)
{
	char t[40];
	if (!isfinite(f)) {
		sb_puts(b, "null");
		return;
	}
	snprintf(t, sizeof t, "%.*g", is32 ? 9 : 17, f);
	/* shortest form that reads back to the same value, never an exponent
	   for a number whose integer digits fit (10, not 1e+01) */
	int p0 = 1;
	if (fabs(f) >= 1 && fabs(f) < 1e15)
		p0 = (int)floor(log10(fabs(f))) + 1;
	for (int p = p0; p <= (is32 ? 9 : 17); p++) {
		char u[40];
		snprintf(u, sizeof u, "%.*g", p, f);
		if (is32 ? (float)strtod(u, NULL) == (float)f : strtod(u, NULL) == f) {
			memcpy(t, u, sizeof u);
			break;
		}
	}
	sb_puts(b, t);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void sb_indent(sbuf *b, int indent, int depth)
{
	if (indent < 0)
		return;
	sb_put(b, "\n", 1);
	for (int i = 0; i < indent * depth; i++)
		sb_put(b, " ", 1);
}

static void json_rec(sbuf *b, const nash_val *v, int indent, int depth, int full)
{
	char t[64];
	if (!v) {
		sb_puts(b, "null");
		return;
	}
	switch (v->t) {
	case NASH_V_NIL: sb_puts(b, "null"); break;
	case NASH_V_BOOL: sb_puts(b, v->u.b ? "true" : "false"); break;
	case NASH_V_INT: snprintf(t, sizeof t, "%lld", (long long)v->u.i); sb_puts(b, t); break;
	case NASH_V_UINT: snprintf(t, sizeof t, "%llu", (unsigned long long)v->u.u); sb_puts(b, t); break;
	case NASH_V_F32: sb_num(b, v->u.f, 1); break;
	case NASH_V_F64: sb_num(b, v->u.f, 0); break;
	case NASH_V_STR: sb_jstr(b, v->u.s.p, v->u.s.n); break;
	case NASH_V_BIN: case NASH_V_EXT:
		if (!full) {
			snprintf(t, sizeof t, "{\"bin\":%zu}", v->u.s.n);
			sb_puts(b, t);
		} else {
			const unsigned char *p = (const unsigned char *)v->u.s.p;
			size_t n = v->u.s.n;
			sb_put(b, "\"", 1);
			for (size_t i = 0; i < n; i += 3) {
				uint32_t x = (uint32_t)p[i] << 16;
				if (i + 1 < n) x |= (uint32_t)p[i + 1] << 8;
				if (i + 2 < n) x |= p[i + 2];
				char q[4] = { b64[x >> 18], b64[(x >> 12) & 63],
				              i + 1 < n ? b64[(x >> 6) & 63] : '=',
				              i + 2 < n ? b64[x & 63] : '=' };
				sb_put(b, q, 4);
			}
			sb_put(b, "\"", 1);
		}
		break;
	case NASH_V_ARR: {
		/* short arrays of scalars stay on one line */
		int flat = indent < 0 || v->u.a.n <= 16;
		for (size_t i = 0; flat && i < v->u.a.n; i++)
			if (v->u.a.v[i]->t == NASH_V_ARR || v->u.a.v[i]->t == NASH_V_MAP)
				flat = 0;
		if (indent >= 0 && v->u.a.n > 16) {
			flat = 1;
			for (size_t i = 0; flat && i < v->u.a.n; i++)
				if (!nash_val_is_num(v->u.a.v[i]))
					flat = 0;
		}
		sb_put(b, "[", 1);
		for (size_t i = 0; i < v->u.a.n; i++) {
			if (i)
				sb_puts(b, flat && indent >= 0 ? ", " : ",");
			if (!flat)
				sb_indent(b, indent, depth + 1);
			json_rec(b, v->u.a.v[i], indent, depth + 1, full);
		}
		if (!flat && v->u.a.n)
			sb_indent(b, indent, depth);
		sb_put(b, "]", 1);
		break;
	}
	case NASH_V_MAP:
		sb_put(b, "{", 1);
		for (size_t i = 0; i < v->u.m.n; i++) {
			if (i)
				sb_put(b, ",", 1);
			sb_indent(b, indent, depth + 1);
			const nash_val *k = v->u.m.k[i];
			if (k->t == NASH_V_STR)
				sb_jstr(b, k->u.s.p, k->u.s.n);
			else {
				/* JSON keys are strings: render other keys as their JSON text */
				char *kj = nash_val_json(k, -1, full);
				sb_jstr(b, kj, strlen(kj));
				free(kj);
			}
			sb_puts(b, indent >= 0 ? ": " : ":");
			json_rec(b, v->u.m.v[i], indent, depth + 1, full);
		}
		if (v->u.m.n)
			sb_indent(b, indent, depth);
		sb_put(b, "}", 1);
		break;
	}
}

char *nash_val_json(const nash_val *v, int indent, int full_bin)
{
	sbuf b = {0};
	json_rec(&b, v, indent, 0, full_bin);
	if (!b.p)
		b.p = nash_strdup("");
	return b.p;
}
