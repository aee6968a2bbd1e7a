/* common.c - helpers shared by QONNX export and import. */
#include "onnx/priv.h"

#include <stdlib.h>
#include <string.h>

struct ox_blk {
	ox_blk *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
};

void *ox_alloc(ox_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!a->head || a->head->cap - a->head->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		ox_blk *b = nash_alloc(sizeof *b + cap);
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = a->head->mem + a->head->used;
	a->head->used += n;
	memset(p, 0, n);
	return p;
}

char *ox_strdup(ox_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ox_alloc(a, n);
	memcpy(p, s, n);
	return p;
}

void ox_arena_free(ox_arena *a)
{
	while (a->head) {
		ox_blk *b = a->head;
		a->head = b->next;
		free(b);
	}
}

void ox_push(ox_vec *v, void *p)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 16;
		v->v = nash_realloc(v->v, v->cap * sizeof *v->v);
	}
	v->v[v->n++] = p;
}

void ox_vec_free(ox_vec *v)
{
	free(v->v);
	memset(v, 0, sizeof *v);
}

static void set_grow(ox_set *s)
{
	ox_set t = { nash_alloc((s->cap ? 2 * s->cap : 64) * sizeof(char *)), s->cap ? 2 * s->cap : 64, 0 };
	for (size_t i = 0; i < s->cap; i++)
		if (s->k[i])
			ox_set_add(&t, s->k[i]);
	free(s->k);
	*s = t;
}

int ox_set_has(const ox_set *s, const char *k)
{
	if (!s->cap)
		return 0;
	size_t m = s->cap - 1, h = nash_hash(k) & m;
	while (s->k[h]) {
		if (strcmp(s->k[h], k) == 0)
			return 1;
		h = (h + 1) & m;
	}
	return 0;
}

int ox_set_add(ox_set *s, const char *k)
{
	if (2 * (s->n + 1) > s->cap)
		set_grow(s);
	size_t m = s->cap - 1, h = nash_hash(k) & m;
	while (s->k[h]) {
		if (strcmp(s->k[h], k) == 0)
			return 0;
		h = (h + 1) & m;
	}
	s->k[h] = k;
	s->n++;
	return 1;
}

void ox_set_free(ox_set *s)
{
	free(s->k);
	memset(s, 0, sizeof *s);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ox_b64_encode(const unsigned char *p, size_t n)
{
	char *out = nash_alloc(4 * ((n + 2) / 3) + 1), *o = out;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static int b64val(int c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

unsigned char *ox_b64_decode(const char *s, size_t len, size_t *n)
{
	if (len % 4)
		return NULL;
	unsigned char *out = nash_alloc(len / 4 * 3 + 1);
	size_t k = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad || (v[j] = b64val((unsigned char)s[i + j])) < 0) {
				free(out);
				return NULL;
			}
		}
		unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		out[k++] = (unsigned char)(x >> 16);
		if (pad < 2)
			out[k++] = (unsigned char)(x >> 8);
		if (pad < 1)
			out[k++] = (unsigned char)x;
	}
	*n = k;
	return out;
}

int ox_onnx_type(nash_dtype d)
{
	switch (d) {
	case NASH_F32: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	case NASH_I8: return ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
	case NASH_U8: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
	case NASH_I16: return ONNX__TENSOR_PROTO__DATA_TYPE__INT16;
	case NASH_I32: return ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
	case NASH_I64: return ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
	default: return ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED;
	}
}

int ox_nash_dtype(int t, nash_dtype *out)
{
	switch (t) {
	case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *out = NASH_F32; return 0;
	case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *out = NASH_I8; return 0;
	case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: *out = NASH_U8; return 0;
	case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: *out = NASH_I16; return 0;
	case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *out = NASH_I32; return 0;
	case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *out = NASH_I64; return 0;
	default: return -1;
	}
}

const char *ox_type_name(int t)
{
	static const char *const names[] = {
		"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
		"BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"
	};
	return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

int ox_qonnx_domain(const char *d)
{
	return d && (strcmp(d, NASH_QONNX_DOMAIN) == 0 || strcmp(d, "onnx.brevitas") == 0 ||
	             strcmp(d, "finn.custom_op.general") == 0 || strcmp(d, "finn") == 0);
}
