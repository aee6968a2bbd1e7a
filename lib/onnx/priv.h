/* priv.h - shared by the files of lib/onnx only (not a public header):
 * a bump allocator for protobuf messages, a string set, base64, and the
 * mapping between ONNX element types and nash storage types. */
#ifndef NASH_ONNX_PRIV_H
#define NASH_ONNX_PRIV_H

#include "onnx/qonnx.h"
#include "onnx.pb-c.h"

/* Everything a message tree under construction needs, freed at once. */
typedef struct ox_blk ox_blk;
typedef struct ox_arena { ox_blk *head; } ox_arena;
void *ox_alloc(ox_arena *a, size_t n);          /* zeroed, 16-byte aligned */
char *ox_strdup(ox_arena *a, const char *s);
void ox_arena_free(ox_arena *a);

/* A growable array of pointers (malloc'd storage). */
typedef struct ox_vec { void **v; size_t n, cap; } ox_vec;
void ox_push(ox_vec *v, void *p);
void ox_vec_free(ox_vec *v);

/* A set of borrowed strings. */
typedef struct ox_set { const char **k; size_t cap, n; } ox_set;
int ox_set_add(ox_set *s, const char *k);       /* 1 if added, 0 if there */
int ox_set_has(const ox_set *s, const char *k);
void ox_set_free(ox_set *s);

/* Base64 (RFC 4648, with padding). decode returns NULL on a bad text. */
char *ox_b64_encode(const unsigned char *p, size_t n);
unsigned char *ox_b64_decode(const char *s, size_t len, size_t *n);

/* ONNX TensorProto data types. */
int ox_onnx_type(nash_dtype d);
int ox_nash_dtype(int onnx_type, nash_dtype *out);  /* 0 or -1 */
const char *ox_type_name(int onnx_type);             /* "FLOAT", ... */

/* Domains whose Quant, BipolarQuant, Trunc and MultiThreshold are QONNX's. */
int ox_qonnx_domain(const char *domain);

/* A constant tensor during import: initializers, Constant nodes and what
 * folding computes from them. Float kinds are kept as float (doubles
 * narrowed), integer kinds and BOOL as int64. */
typedef struct ox_const {
	int et;                   /* ONNX element type it came with */
	int ndim;
	int64_t d[NASH_MAXDIM];
	float *f;                 /* float kinds; NULL otherwise */
	int64_t *i;               /* integer kinds; NULL otherwise */
} ox_const;
int64_t ox_const_numel(const ox_const *c);
double ox_const_at(const ox_const *c, int64_t k);
void ox_const_free(ox_const *c);
/* A tensor's data; -1 with the reason in why (external data, unknown
 * type, sizes that disagree, too many dimensions). */
int ox_const_read(const Onnx__TensorProto *t, ox_const *c, char *why, size_t nwhy);
/* Make an empty constant of a kind and shape (zeroed data). */
void ox_const_make(ox_const *c, int et, int ndim, const int64_t *d);

/* Evaluate node n on constant inputs (in[k] NULL for an absent input).
 * Returns 0 with out filled, 1 when the op is not one folding knows,
 * -1 with the reason in why. */
int ox_fold(const Onnx__NodeProto *n, int opset, const ox_const *const *in, int nin,
            ox_const *out, char *why, size_t nwhy);
/* Read attribute name of n, or NULL. */
const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name);
int64_t ox_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def);
float ox_attr_float(const Onnx__NodeProto *n, const char *name, float def);
/* Copy of a string attribute (malloc'd) or NULL. */
char *ox_attr_str(const Onnx__NodeProto *n, const char *name);
int ox_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int max);

#endif
