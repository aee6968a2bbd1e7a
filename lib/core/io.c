/* io.c - nash(5) records: incremental framing, decoding and encoding.
 * This file (with nothing else in nash) talks msgpack. */
#include "core/nash.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nash stores tensor data little-endian and assumes a little-endian host"
#endif

/* ------------------------------------------------------------- framing */
/* A resumable scanner finds where one msgpack object ends without
 * building it, enforcing depth and size limits before anything is
 * allocated. State: scan position and a stack of items still to read. */
struct nash_reader {
	int fd, own;
	char label[256];
	unsigned char *buf;
	size_t cap, len;     /* bytes in buf */
	size_t pos;          /* scan position (relative to buf) */
	int depth;
	uint64_t left[NASH_MAX_DEPTH + 1]; /* items left at each level */
	long count;
	int eof;
};

void nash_pipe_widen(int fd)
{
#ifdef F_SETPIPE_SZ
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) < (1 << 20))
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);  /* may fail (limit): harmless */
#else
	(void)fd;
#endif
}

nash_reader *nash_reader_new(int fd, const char *label)
{
	nash_reader *r = nash_alloc(sizeof *r);
	r->fd = fd;
	snprintf(r->label, sizeof r->label, "%s", label ? label : "stdin");
	nash_pipe_widen(fd);
	return r;
}

nash_reader *nash_reader_open(const char *path, nash_err *e)
{
	if (strcmp(path, "-") == 0)
		return nash_reader_new(0, "stdin");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		nash_fail(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	nash_reader *r = nash_reader_new(fd, path);
	r->own = 1;
	return r;
}

void nash_reader_free(nash_reader *r)
{
	if (!r)
		return;
	if (r->own)
		close(r->fd);
	free(r->buf);
	free(r);
}

long nash_reader_count(const nash_reader *r) { return r->count; }

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Header of the object at p (avail bytes): sets hdr (header bytes),
 * body (payload bytes to skip) and items (children to scan).
 * Returns 1 ok, 0 need more bytes, -1 invalid byte. */
static int header(const unsigned char *p, size_t avail, size_t *hdr,
                  uint64_t *body, uint64_t *items)
{
	unsigned c = p[0];
	int ext = 0; /* size of a length field */
	*body = 0;
	*items = 0;
	*hdr = 1;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return 1;
	if ((c & 0xf0) == 0x80) { *items = 2 * (uint64_t)(c & 0x0f); return 1; }
	if ((c & 0xf0) == 0x90) { *items = c & 0x0f; return 1; }
	if ((c & 0xe0) == 0xa0) { *body = c & 0x1f; return 1; }
	switch (c) {
	case 0xcc: case 0xd0: *body = 1; return 1;
	case 0xcd: case 0xd1: *body = 2; return 1;
	case 0xca: case 0xce: case 0xd2: *body = 4; return 1;
	case 0xcb: case 0xcf: case 0xd3: *body = 8; return 1;
	case 0xd4: *body = 2; return 1;   /* fixext 1 + type */
	case 0xd5: *body = 3; return 1;
	case 0xd6: *body = 5; return 1;
	case 0xd7: *body = 9; return 1;
	case 0xd8: *body = 17; return 1;
	case 0xc4: case 0xd9: ext = 1; break;
	case 0xc5: case 0xda: ext = 2; break;
	case 0xc6: case 0xdb: ext = 4; break;
	case 0xc7: ext = 1; break;
	case 0xc8: ext = 2; break;
	case 0xc9: ext = 4; break;
	case 0xdc: ext = 2; break;
	case 0xdd: ext = 4; break;
	case 0xde: ext = 2; break;
	case 0xdf: ext = 4; break;
	default: return -1; /* 0xc1: never used */
	}
	if (avail < (size_t)1 + (size_t)ext)
		return 0;
	uint64_t n = be(p + 1, ext);
	*hdr = 1 + (size_t)ext;
	if (c == 0xdc || c == 0xdd)
		*items = n;
	else if (c == 0xde || c == 0xdf)
		*items = 2 * n;
	else if (c >= 0xc7 && c <= 0xc9)
		*body = n + 1; /* ext: type byte + data */
	else
		*body = n;
	return 1;
}

/* Scan from r->pos. Returns 1 when an object ends at r->pos, 0 when more
 * bytes are needed, -1 on an invalid or over-limit object. */
static int scan(nash_reader *r, nash_err *e)
{
	for (;;) {
		if (r->pos >= r->len)
			return 0;
		size_t hdr;
		uint64_t body, items;
		int h = header(r->buf + r->pos, r->len - r->pos, &hdr, &body, &items);
		if (h < 0)
			return nash_fail(e, "%s: record %ld: not a nash stream (invalid msgpack byte 0x%02x at offset %zu)",
			                 r->label, r->count + 1, r->buf[r->pos], r->pos);
		if (h == 0)
			return 0;
		if (body > NASH_MAX_RECORD || items > NASH_MAX_RECORD ||
		    r->pos + hdr + body > NASH_MAX_RECORD)
			return nash_fail(e, "%s: record %ld: size over the limit of %zu bytes (corrupt stream?)",
			                 r->label, r->count + 1, NASH_MAX_RECORD);
		if (r->len - r->pos < hdr + body)
			return 0;
		r->pos += hdr + (size_t)body;
		if (items > 0) {
			if (r->depth >= NASH_MAX_DEPTH)
				return nash_fail(e, "%s: record %ld: nested deeper than %d levels",
				                 r->label, r->count + 1, NASH_MAX_DEPTH);
			r->left[++r->depth] = items;
			continue;
		}
		/* one complete item: pop finished levels */
		for (;;) {
			if (r->depth == 0)
				return 1;
			if (--r->left[r->depth] > 0)
				break;
			r->depth--;
		}
	}
}

/* ------------------------------------------------------------ decoding */
typedef struct {
	nash_err *e;
	const char *where;
} dctx;

static int str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       memcmp(o->via.str.ptr, s, n) == 0;
}

static char *ostr(const msgpack_object *o)
{
	char *s = nash_realloc(NULL, o->via.str.size + 1);
	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = 0;
	return s;
}

static nash_val *to_val(const msgpack_object *o)
{
	nash_val *v;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return nash_val_nil();
	case MSGPACK_OBJECT_BOOLEAN: return nash_val_bool(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)INT64_MAX) {
			v = nash_val_int(0);
			v->t = NASH_V_UINT;
			v->u.u = o->via.u64;
			return v;
		}
		return nash_val_int((int64_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return nash_val_int(o->via.i64);
	case MSGPACK_OBJECT_FLOAT32: return nash_val_f32((float)o->via.f64);
	case MSGPACK_OBJECT_FLOAT64: return nash_val_f64(o->via.f64);
	case MSGPACK_OBJECT_STR: return nash_val_strn(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN: return nash_val_bin(o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		v = nash_val_bin(o->via.ext.ptr, o->via.ext.size);
		v->t = NASH_V_EXT;
		v->ext_type = o->via.ext.type;
		return v;
	case MSGPACK_OBJECT_ARRAY:
		v = nash_val_arr();
		for (uint32_t i = 0; i < o->via.array.size; i++)
			nash_val_push(v, to_val(&o->via.array.ptr[i]));
		return v;
	case MSGPACK_OBJECT_MAP:
		v = nash_val_map();
		v->u.m.cap = o->via.map.size ? o->via.map.size : 1;
		v->u.m.k = nash_realloc(NULL, v->u.m.cap * sizeof *v->u.m.k);
		v->u.m.v = nash_realloc(NULL, v->u.m.cap * sizeof *v->u.m.v);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			v->u.m.k[i] = to_val(&o->via.map.ptr[i].key);
			v->u.m.v[i] = to_val(&o->via.map.ptr[i].val);
		}
		v->u.m.n = o->via.map.size;
		return v;
	}
	return nash_val_nil();
}

static void extra_add(nash_val **extra, const msgpack_object_kv *kv)
{
	if (!*extra)
		*extra = nash_val_map();
	nash_val *m = *extra;
	if (m->u.m.n == m->u.m.cap) {
		m->u.m.cap = m->u.m.cap ? 2 * m->u.m.cap : 4;
		m->u.m.k = nash_realloc(m->u.m.k, m->u.m.cap * sizeof *m->u.m.k);
		m->u.m.v = nash_realloc(m->u.m.v, m->u.m.cap * sizeof *m->u.m.v);
	}
	m->u.m.k[m->u.m.n] = to_val(&kv->key);
	m->u.m.v[m->u.m.n++] = to_val(&kv->val);
}

static const char *otype(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER: case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
	case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: return "a float";
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_BIN: return "binary data";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	default: return "an extension value";
	}
}

#define WANT(o, T, what) do { if ((o)->type != (T)) \
	return nash_fail(c->e, "%s: %s must be %s, found %s", c->where, what, \
	                 otype_want(T), otype(o)); } while (0)

static const char *otype_want(int t)
{
	switch (t) {
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	case MSGPACK_OBJECT_BIN: return "binary data";
	default: return "?";
	}
}

static int dec_shape(dctx *c, const msgpack_object *o, const char *what,
                     int *ndim, int64_t *shape)
{
	WANT(o, MSGPACK_OBJECT_ARRAY, what);
	if (o->via.array.size > NASH_MAXDIM)
		return nash_fail(c->e, "%s: %s has %u dimensions (at most %d)", c->where, what,
		                 o->via.array.size, NASH_MAXDIM);
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *d = &o->via.array.ptr[i];
		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return nash_fail(c->e, "%s: %s must be non-negative integers", c->where, what);
		if (d->via.u64 > NASH_MAX_NUMEL)
			return nash_fail(c->e, "%s: %s dimension %u is %llu, over the limit", c->where, what,
			                 i, (unsigned long long)d->via.u64);
		shape[i] = (int64_t)d->via.u64;
	}
	*ndim = (int)o->via.array.size;
	int64_t n = nash_shape_numel(*ndim, shape);
	if (n < 0 || n > NASH_MAX_NUMEL)
		return nash_fail(c->e, "%s: %s claims more than %lld elements", c->where, what,
		                 (long long)NASH_MAX_NUMEL);
	return 0;
}

static int dec_dtype(dctx *c, const msgpack_object *o, nash_dtype *d)
{
	WANT(o, MSGPACK_OBJECT_STR, "dtype");
	char *s = ostr(o);
	int rc = nash_dtype_parse(s, d);
	if (rc < 0)
		nash_fail(c->e, "%s: unknown dtype \"%.40s\"", c->where, s);
	free(s);
	return rc;
}

static int dec_datatype(dctx *c, const msgpack_object *o, nash_datatype *d)
{
	WANT(o, MSGPACK_OBJECT_STR, "datatype");
	char *s = ostr(o);
	int rc = nash_datatype_parse(s, d);
	if (rc < 0)
		nash_fail(c->e, "%s: unknown datatype \"%.40s\"", c->where, s);
	free(s);
	return rc;
}

static int dec_names(dctx *c, const msgpack_object *o, const char *what,
                     int *n, char ***out)
{
	*n = 0;
	*out = nash_realloc(NULL, sizeof **out);
	WANT(o, MSGPACK_OBJECT_ARRAY, what);
	*out = nash_realloc(*out, (size_t)(o->via.array.size + 1) * sizeof **out);
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *s = &o->via.array.ptr[i];
		if (s->type != MSGPACK_OBJECT_STR)
			return nash_fail(c->e, "%s: %s must list tensor names (strings)", c->where, what);
		(*out)[(*n)++] = ostr(s);
	}
	return 0;
}

static int dec_io(dctx *c, nash_graph *g, const msgpack_object *o, int input)
{
	const char *what = input ? "inputs" : "outputs";
	WANT(o, MSGPACK_OBJECT_ARRAY, what);
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *m = &o->via.array.ptr[i];
		if (m->type != MSGPACK_OBJECT_MAP)
			return nash_fail(c->e, "%s: %s[%u] must be a map", c->where, what, i);
		const msgpack_object *name = NULL;
		for (uint32_t k = 0; k < m->via.map.size; k++)
			if (str_eq(&m->via.map.ptr[k].key, "name"))
				name = &m->via.map.ptr[k].val;
		if (!name || name->type != MSGPACK_OBJECT_STR)
			return nash_fail(c->e, "%s: %s[%u] has no name", c->where, what, i);
		char *nm = ostr(name);
		nash_io *io = input ? nash_graph_add_input(g, nm, NASH_F32, 0, NULL)
		                    : nash_graph_add_output(g, nm);
		free(nm);
		for (uint32_t k = 0; k < m->via.map.size; k++) {
			const msgpack_object_kv *kv = &m->via.map.ptr[k];
			if (str_eq(&kv->key, "name"))
				continue;
			if (str_eq(&kv->key, "shape")) {
				if (dec_shape(c, &kv->val, "shape", &io->ndim, io->shape) < 0)
					return -1;
			} else if (str_eq(&kv->key, "dtype")) {
				if (dec_dtype(c, &kv->val, &io->dtype) < 0)
					return -1;
			} else if (str_eq(&kv->key, "datatype")) {
				if (dec_datatype(c, &kv->val, &io->datatype) < 0)
					return -1;
			} else
				extra_add(&io->extra, kv);
		}
	}
	return 0;
}

static int dec_node(dctx *c, nash_graph *g, const msgpack_object *m, uint32_t idx)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return nash_fail(c->e, "%s: nodes[%u] must be a map", c->where, idx);
	const msgpack_object *op = NULL, *name = NULL;
	for (uint32_t k = 0; k < m->via.map.size; k++) {
		if (str_eq(&m->via.map.ptr[k].key, "op"))
			op = &m->via.map.ptr[k].val;
		else if (str_eq(&m->via.map.ptr[k].key, "name"))
			name = &m->via.map.ptr[k].val;
	}
	if (!op || op->type != MSGPACK_OBJECT_STR)
		return nash_fail(c->e, "%s: nodes[%u] has no op", c->where, idx);
	char *ops = ostr(op);
	char *nms = name && name->type == MSGPACK_OBJECT_STR ? ostr(name) : nash_strfmt("node%u", idx);
	nash_node *n = nash_node_add(g, ops, nms, NULL, NULL);
	free(ops);
	free(nms);
	char where[300];
	snprintf(where, sizeof where, "%s: node %s", c->where, n->name);
	dctx nc = {c->e, where};
	for (uint32_t k = 0; k < m->via.map.size; k++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[k];
		if (str_eq(&kv->key, "op") || str_eq(&kv->key, "name"))
			continue;
		if (str_eq(&kv->key, "in")) {
			for (int i = 0; i < n->nin; i++)
				free(n->in[i]);
			free(n->in);
			n->in = NULL;
			n->nin = 0;
			if (dec_names(&nc, &kv->val, "in", &n->nin, &n->in) < 0)
				return -1;
		} else if (str_eq(&kv->key, "out")) {
			for (int i = 0; i < n->nout; i++)
				free(n->out[i]);
			free(n->out);
			n->out = NULL;
			n->nout = 0;
			if (dec_names(&nc, &kv->val, "out", &n->nout, &n->out) < 0)
				return -1;
		} else if (str_eq(&kv->key, "attr")) {
			if (kv->val.type != MSGPACK_OBJECT_MAP)
				return nash_fail(c->e, "%s: attr must be a map", where);
			nash_val_free(n->attr);
			n->attr = to_val(&kv->val);
		} else
			extra_add(&n->extra, kv);
	}
	return 0;
}

static int dec_tensor(dctx *c, nash_graph *g, const msgpack_object_kv *tkv)
{
	if (tkv->key.type != MSGPACK_OBJECT_STR)
		return nash_fail(c->e, "%s: tensor names must be strings", c->where);
	char *name = ostr(&tkv->key);
	char where[300];
	snprintf(where, sizeof where, "%s: tensor %s", c->where, name);
	dctx tc = {c->e, where};
	const msgpack_object *m = &tkv->val;
	if (m->type != MSGPACK_OBJECT_MAP) {
		free(name);
		return nash_fail(c->e, "%s: must be a map", where);
	}
	if (nash_tensor_find(g, name)) {
		free(name);
		return nash_fail(c->e, "%s: listed twice", where);
	}
	nash_dtype dt = NASH_F32;
	nash_datatype dty = {0, 0};
	int ndim = 0, has_shape = 0;
	int64_t shape[NASH_MAXDIM] = {0};
	const msgpack_object *data = NULL;
	nash_val *extra = NULL;
	int rc = 0;
	for (uint32_t k = 0; k < m->via.map.size && rc == 0; k++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[k];
		if (str_eq(&kv->key, "dtype"))
			rc = dec_dtype(&tc, &kv->val, &dt);
		else if (str_eq(&kv->key, "shape")) {
			rc = dec_shape(&tc, &kv->val, "shape", &ndim, shape);
			has_shape = 1;
		} else if (str_eq(&kv->key, "datatype"))
			rc = dec_datatype(&tc, &kv->val, &dty);
		else if (str_eq(&kv->key, "data")) {
			if (kv->val.type != MSGPACK_OBJECT_BIN)
				rc = nash_fail(c->e, "%s: data must be binary (msgpack bin)", where);
			data = &kv->val;
		} else
			extra_add(&extra, kv);
	}
	if (rc == 0 && !has_shape)
		rc = nash_fail(c->e, "%s: no shape", where);
	nash_tensor *t = NULL;
	if (rc == 0 && data) {
		int64_t numel = nash_shape_numel(ndim, shape);
		size_t need = (size_t)numel * nash_dtype_size(dt);
		if (data->via.bin.size != need)
			rc = nash_fail(c->e, "%s: data has %u bytes but shape and dtype %s need %zu",
			               where, data->via.bin.size, nash_dtype_name(dt), need);
		else {
			t = nash_tensor_add(g, name, dt, ndim, shape);
			if (need)
				memcpy(t->data, data->via.bin.ptr, need); /* copy out: unaligned */
		}
	} else if (rc == 0)
		t = nash_tensor_annotate(g, name, dt, ndim, shape);
	if (t) {
		t->datatype = dty;
		t->extra = extra;
	} else
		nash_val_free(extra);
	free(name);
	return rc;
}

static int dec_graph(const msgpack_object *root, long recno, const char *label,
                     nash_graph **out, nash_err *e)
{
	char where[300];
	const msgpack_object *name = NULL;
	for (uint32_t k = 0; k < root->via.map.size; k++)
		if (str_eq(&root->via.map.ptr[k].key, "name"))
			name = &root->via.map.ptr[k].val;
	if (!name || name->type != MSGPACK_OBJECT_STR)
		return nash_fail(e, "%s: record %ld: graph has no name", label, recno);
	char *nm = ostr(name);
	nash_graph *g = nash_graph_new(nm);
	free(nm);
	snprintf(where, sizeof where, "%s: graph %s", label, g->name);
	dctx c = {e, where};
	int rc = 0;
	for (uint32_t k = 0; k < root->via.map.size && rc == 0; k++) {
		const msgpack_object_kv *kv = &root->via.map.ptr[k];
		const msgpack_object *v = &kv->val;
		if (str_eq(&kv->key, "name") || str_eq(&kv->key, "kind"))
			continue;
		if (str_eq(&kv->key, "nash"))
			g->version = (int)v->via.u64;
		else if (str_eq(&kv->key, "inputs"))
			rc = dec_io(&c, g, v, 1);
		else if (str_eq(&kv->key, "outputs"))
			rc = dec_io(&c, g, v, 0);
		else if (str_eq(&kv->key, "nodes")) {
			if (v->type != MSGPACK_OBJECT_ARRAY)
				rc = nash_fail(e, "%s: nodes must be an array", where);
			for (uint32_t i = 0; rc == 0 && i < v->via.array.size; i++)
				rc = dec_node(&c, g, &v->via.array.ptr[i], i);
		} else if (str_eq(&kv->key, "tensors")) {
			if (v->type != MSGPACK_OBJECT_MAP)
				rc = nash_fail(e, "%s: tensors must be a map", where);
			for (uint32_t i = 0; rc == 0 && i < v->via.map.size; i++)
				rc = dec_tensor(&c, g, &v->via.map.ptr[i]);
		} else if (str_eq(&kv->key, "meta")) {
			if (v->type != MSGPACK_OBJECT_MAP)
				rc = nash_fail(e, "%s: meta must be a map", where);
			else {
				nash_val_free(g->meta);
				g->meta = to_val(v);
			}
		} else
			extra_add(&g->extra, kv);
	}
	if (rc < 0) {
		nash_graph_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

static int decode(const void *buf, size_t n, long recno, const char *label,
                  nash_record **out, nash_err *e)
{
	msgpack_unpacked up;
	size_t off = 0;
	msgpack_unpacked_init(&up);
	msgpack_unpack_return ur = msgpack_unpack_next(&up, buf, n, &off);
	int rc = 0;
	if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES) {
		msgpack_unpacked_destroy(&up);
		return nash_fail(e, "%s: record %ld: %s", label, recno,
		                 ur == MSGPACK_UNPACK_NOMEM_ERROR ? "too large or deep to decode"
		                 : ur == MSGPACK_UNPACK_CONTINUE ? "truncated (stream ends inside a record)"
		                 : "not a nash stream (invalid msgpack)");
	}
	const msgpack_object *root = &up.data;
	const msgpack_object *ver = NULL, *kind = NULL;
	if (root->type != MSGPACK_OBJECT_MAP) {
		rc = nash_fail(e, "%s: record %ld: not a nash record (%s, not a map)", label, recno, otype(root));
		goto done;
	}
	for (uint32_t k = 0; k < root->via.map.size; k++) {
		if (str_eq(&root->via.map.ptr[k].key, "nash"))
			ver = &root->via.map.ptr[k].val;
		else if (str_eq(&root->via.map.ptr[k].key, "kind"))
			kind = &root->via.map.ptr[k].val;
	}
	if (!ver || ver->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		rc = nash_fail(e, "%s: record %ld: no \"nash\" format version: not a nash stream", label, recno);
		goto done;
	}
	if (ver->via.u64 > NASH_FORMAT_MAJOR) {
		rc = nash_fail(e, "%s: record %ld: format version %llu is newer than this nash reads (%d); upgrade nash",
		               label, recno, (unsigned long long)ver->via.u64, NASH_FORMAT_MAJOR);
		goto done;
	}
	if (!kind || kind->type != MSGPACK_OBJECT_STR) {
		rc = nash_fail(e, "%s: record %ld: no \"kind\"", label, recno);
		goto done;
	}
	nash_record *r = nash_alloc(sizeof *r);
	snprintf(r->kind_name, sizeof r->kind_name, "%.*s",
	         (int)(kind->via.str.size < 63 ? kind->via.str.size : 63), kind->via.str.ptr);
	if (str_eq(kind, "graph")) {
		r->kind = NASH_REC_GRAPH;
		if (dec_graph(root, recno, label, &r->graph, e) < 0) {
			free(r);
			rc = -1;
			goto done;
		}
	} else {
		r->kind = NASH_REC_OTHER;
		r->raw = nash_realloc(NULL, off);
		memcpy(r->raw, buf, off);
		r->nraw = off;
	}
	*out = r;
done:
	msgpack_unpacked_destroy(&up);
	return rc;
}

int nash_decode(const void *buf, size_t n, nash_record **out, nash_err *e)
{
	return decode(buf, n, 1, "buffer", out, e);
}

void nash_record_free(nash_record *r)
{
	if (!r)
		return;
	nash_graph_free(r->graph);
	free(r->raw);
	free(r);
}

int nash_read(nash_reader *r, nash_record **out, nash_err *e)
{
	*out = NULL;
	/* drop the previous record's bytes */
	for (;;) {
		int s = scan(r, e);
		if (s < 0)
			return -1;
		if (s == 1) {
			size_t n = r->pos;
			r->count++;
			int rc = decode(r->buf, n, r->count, r->label, out, e);
			memmove(r->buf, r->buf + n, r->len - n);
			r->len -= n;
			r->pos = 0;
			r->depth = 0;
			return rc < 0 ? -1 : 1;
		}
		if (r->eof) {
			if (r->len == 0)
				return 0;
			return nash_fail(e, "%s: record %ld: truncated (stream ends inside a record after %zu bytes)",
			                 r->label, r->count + 1, r->len);
		}
		if (r->cap - r->len < 65536) {
			size_t nc = r->cap < 65536 ? 131072 : 2 * r->cap;
			r->buf = nash_realloc(r->buf, nc);
			r->cap = nc;
		}
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return nash_fail(e, "%s: read error: %s", r->label, strerror(errno));
		}
		if (got == 0)
			r->eof = 1;
		r->len += (size_t)got;
	}
}

/* ------------------------------------------------------------ encoding */
static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_val(msgpack_packer *pk, const nash_val *v)
{
	if (!v) {
		msgpack_pack_nil(pk);
		return;
	}
	switch (v->t) {
	case NASH_V_NIL: msgpack_pack_nil(pk); break;
	case NASH_V_BOOL: if (v->u.b) msgpack_pack_true(pk); else msgpack_pack_false(pk); break;
	case NASH_V_INT: msgpack_pack_int64(pk, v->u.i); break;
	case NASH_V_UINT: msgpack_pack_uint64(pk, v->u.u); break;
	case NASH_V_F32: msgpack_pack_float(pk, (float)v->u.f); break;
	case NASH_V_F64: msgpack_pack_double(pk, v->u.f); break;
	case NASH_V_STR: msgpack_pack_str(pk, v->u.s.n); msgpack_pack_str_body(pk, v->u.s.p, v->u.s.n); break;
	case NASH_V_BIN: msgpack_pack_bin(pk, v->u.s.n); msgpack_pack_bin_body(pk, v->u.s.p, v->u.s.n); break;
	case NASH_V_EXT: msgpack_pack_ext(pk, v->u.s.n, v->ext_type); msgpack_pack_ext_body(pk, v->u.s.p, v->u.s.n); break;
	case NASH_V_ARR:
		msgpack_pack_array(pk, v->u.a.n);
		for (size_t i = 0; i < v->u.a.n; i++)
			pack_val(pk, v->u.a.v[i]);
		break;
	case NASH_V_MAP:
		msgpack_pack_map(pk, v->u.m.n);
		for (size_t i = 0; i < v->u.m.n; i++) {
			pack_val(pk, v->u.m.k[i]);
			pack_val(pk, v->u.m.v[i]);
		}
		break;
	}
}

static size_t nextra(const nash_val *x) { return x ? x->u.m.n : 0; }

static void pack_extra(msgpack_packer *pk, const nash_val *x)
{
	for (size_t i = 0; i < nextra(x); i++) {
		pack_val(pk, x->u.m.k[i]);
		pack_val(pk, x->u.m.v[i]);
	}
}

static void pack_shape(msgpack_packer *pk, int ndim, const int64_t *shape)
{
	msgpack_pack_array(pk, (size_t)ndim);
	for (int i = 0; i < ndim; i++)
		msgpack_pack_int64(pk, shape[i]);
}

static void pack_io(msgpack_packer *pk, const nash_io *io, int n)
{
	char dtn[16];
	msgpack_pack_array(pk, (size_t)n);
	for (int i = 0; i < n; i++) {
		int dt = io[i].datatype.kind != NASH_DT_NONE;
		msgpack_pack_map(pk, 3 + (size_t)dt + nextra(io[i].extra));
		pack_str(pk, "name");
		pack_str(pk, io[i].name);
		pack_str(pk, "shape");
		pack_shape(pk, io[i].ndim, io[i].shape);
		pack_str(pk, "dtype");
		pack_str(pk, nash_dtype_name(io[i].dtype));
		if (dt) {
			pack_str(pk, "datatype");
			pack_str(pk, nash_datatype_name(io[i].datatype, dtn));
		}
		pack_extra(pk, io[i].extra);
	}
}

int nash_encode_graph(const nash_graph *g, unsigned char **buf, size_t *n, nash_err *e)
{
	(void)e;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char dtn[16];
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	msgpack_pack_map(&pk, 8 + nextra(g->extra));
	pack_str(&pk, "nash");
	msgpack_pack_int64(&pk, NASH_FORMAT_MAJOR);
	pack_str(&pk, "kind");
	pack_str(&pk, "graph");
	pack_str(&pk, "name");
	pack_str(&pk, g->name);
	pack_str(&pk, "inputs");
	pack_io(&pk, g->inputs, g->nin);
	pack_str(&pk, "outputs");
	pack_io(&pk, g->outputs, g->nout);
	pack_str(&pk, "nodes");
	msgpack_pack_array(&pk, (size_t)g->nnodes);
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *nd = g->nodes[i];
		msgpack_pack_map(&pk, 5 + nextra(nd->extra));
		pack_str(&pk, "op");
		pack_str(&pk, nd->op);
		pack_str(&pk, "name");
		pack_str(&pk, nd->name);
		pack_str(&pk, "in");
		msgpack_pack_array(&pk, (size_t)nd->nin);
		for (int k = 0; k < nd->nin; k++)
			pack_str(&pk, nd->in[k]);
		pack_str(&pk, "out");
		msgpack_pack_array(&pk, (size_t)nd->nout);
		for (int k = 0; k < nd->nout; k++)
			pack_str(&pk, nd->out[k]);
		pack_str(&pk, "attr");
		pack_val(&pk, nd->attr);
		pack_extra(&pk, nd->extra);
	}
	pack_str(&pk, "tensors");
	size_t nt = 0;
	for (int i = 0; i < g->ntensors; i++)
		nt += !g->tensors[i]->transient;
	msgpack_pack_map(&pk, nt);
	for (int i = 0; i < g->ntensors; i++) {
		const nash_tensor *t = g->tensors[i];
		if (t->transient)
			continue;
		int dt = t->datatype.kind != NASH_DT_NONE;
		pack_str(&pk, t->name);
		msgpack_pack_map(&pk, 2 + (size_t)dt + (t->data != NULL) + nextra(t->extra));
		pack_str(&pk, "dtype");
		pack_str(&pk, nash_dtype_name(t->dtype));
		pack_str(&pk, "shape");
		pack_shape(&pk, t->ndim, t->shape);
		if (dt) {
			pack_str(&pk, "datatype");
			pack_str(&pk, nash_datatype_name(t->datatype, dtn));
		}
		if (t->data) {
			size_t nb = nash_tensor_nbytes(t);
			pack_str(&pk, "data");
			msgpack_pack_bin(&pk, nb);
			msgpack_pack_bin_body(&pk, t->data, nb);
		}
		pack_extra(&pk, t->extra);
	}
	pack_str(&pk, "meta");
	pack_val(&pk, g->meta);
	pack_extra(&pk, g->extra);

	*buf = (unsigned char *)sb.data;
	*n = sb.size;
	return 0;
}

int nash_write_record(int fd, const nash_record *r, nash_err *e)
{
	if (r->kind == NASH_REC_GRAPH)
		return nash_write_graph(fd, r->graph, e);
	return nash_write_all(fd, r->raw, r->nraw, e);
}

int nash_write_graph(int fd, const nash_graph *g, nash_err *e)
{
	unsigned char *buf;
	size_t n;
	if (nash_encode_graph(g, &buf, &n, e) < 0)
		return -1;
	int rc = nash_write_all(fd, buf, n, e);
	free(buf);
	return rc;
}

int nash_read_graphs_file(const char *path, nash_graph ***out, nash_err *e)
{
	nash_reader *r = nash_reader_open(path, e);
	if (!r)
		return -1;
	nash_graph **gs = NULL;
	int n = 0, rc;
	nash_record *rec;
	while ((rc = nash_read(r, &rec, e)) > 0) {
		if (rec->kind == NASH_REC_GRAPH) {
			gs = nash_realloc(gs, (size_t)(n + 1) * sizeof *gs);
			gs[n++] = rec->graph;
			rec->graph = NULL;
		}
		nash_record_free(rec);
	}
	nash_reader_free(r);
	if (rc < 0) {
		for (int i = 0; i < n; i++)
			nash_graph_free(gs[i]);
		free(gs);
		return -1;
	}
	*out = gs;
	return n;
}
