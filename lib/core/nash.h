/*
 * nash.h - the core of nash: errors, generic values, datatypes, the graph
 * IR, validation, shape inference, counting, and the nash(5) record I/O.
 *
 * Contract for the whole library: functions never print and never exit.
 * A function that can fail returns a negative status (or NULL) and fills
 * a nash_err with one line naming the graph, node and reason.
 * lib/core is the only code that touches msgpack.
 */
#ifndef NASH_CORE_H
#define NASH_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NASH_FORMAT_MAJOR 1 /* "nash" key written in every record */
#define NASH_MAXDIM 8       /* most dimensions a tensor may have */

/* ---------------------------------------------------------------- errors */

typedef struct nash_err {
	char msg[1024];
} nash_err;

/* Format a message into e (if e is not NULL); always returns -1. */
int nash_fail(nash_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prepend a formatted context ("graph g: ") to the message already in e. */
void nash_err_prefix(nash_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allocation that never returns NULL for n > 0: on failure the process
 * ends at once with one line, "PROGRAM: out of memory: ...", and status 1
 * (no exit handlers run: other threads may be mid-step; files are written
 * under temporary names, so none is left half-written). Aligned to 64
 * bytes. nash_set_program names PROGRAM (default "nash"). */
void nash_set_program(const char *name);
void *nash_alloc(size_t n);      /* zeroed */
void *nash_realloc(void *p, size_t n);
char *nash_strdup(const char *s);
char *nash_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------ generic values (trees) */
/* Attributes, meta sections and unknown keys are kept as ordered trees that
 * mirror msgpack: re-encoding a tree gives msgpack's shortest forms. */

typedef enum {
	NASH_V_NIL, NASH_V_BOOL, NASH_V_INT, NASH_V_UINT, NASH_V_F32, NASH_V_F64,
	NASH_V_STR, NASH_V_BIN, NASH_V_ARR, NASH_V_MAP, NASH_V_EXT
} nash_vtype;

typedef struct nash_val nash_val;
struct nash_val {
	nash_vtype t;
	int8_t ext_type;       /* NASH_V_EXT only */
	union {
		int b;
		int64_t i;         /* NASH_V_INT: any value representable in int64 */
		uint64_t u;        /* NASH_V_UINT: only values above INT64_MAX */
		double f;          /* F32 and F64 (F32 holds a float's value) */
		struct { char *p; size_t n; } s;            /* STR, BIN, EXT */
		struct { nash_val **v; size_t n, cap; } a;  /* ARR */
		struct { nash_val **k, **v; size_t n, cap; } m; /* MAP, ordered */
	} u;
};

nash_val *nash_val_nil(void);
nash_val *nash_val_bool(int b);
nash_val *nash_val_int(int64_t i);
nash_val *nash_val_f64(double f);
nash_val *nash_val_f32(float f);
nash_val *nash_val_str(const char *s);
nash_val *nash_val_strn(const char *s, size_t n);
nash_val *nash_val_bin(const void *p, size_t n);
nash_val *nash_val_arr(void);
nash_val *nash_val_map(void);
nash_val *nash_val_ints(const int64_t *v, size_t n);  /* array of ints */
nash_val *nash_val_f64s(const double *v, size_t n);   /* array of f64 */
nash_val *nash_val_copy(const nash_val *v);           /* deep copy */
void nash_val_free(nash_val *v);
int nash_val_equal(const nash_val *a, const nash_val *b);

/* Arrays: push takes ownership of x. */
void nash_val_push(nash_val *arr, nash_val *x);
/* Maps with string keys. set replaces an existing key in place (keeping
 * its position) or appends; it takes ownership of x. */
void nash_val_set(nash_val *map, const char *key, nash_val *x);
nash_val *nash_val_get(const nash_val *map, const char *key); /* or NULL */
int nash_val_del(nash_val *map, const char *key);       /* 1 if removed */
/* Get the map under key, creating an empty one (replacing a non-map). */
nash_val *nash_val_submap(nash_val *map, const char *key);

/* Scalars read leniently: ints, uints and floats convert; else def. */
int nash_val_is_num(const nash_val *v);
int64_t nash_val_as_int(const nash_val *v, int64_t def);
double nash_val_as_f64(const nash_val *v, double def);
const char *nash_val_as_str(const nash_val *v); /* NUL-terminated or NULL */
/* Path lookup "a.b.c" through nested maps; NULL if any step is missing. */
nash_val *nash_val_path(const nash_val *root, const char *path);

/* JSON text of v (bin summarised as {"bin": N} unless full_bin, where it
 * becomes base64). indent < 0: one line. Returns a malloc'd string. */
char *nash_val_json(const nash_val *v, int indent, int full_bin);
/* Write a JSON string literal (quoted, escaped) of s[0..n) to f. */
void nash_json_str(FILE *f, const char *s, size_t n);

/* ------------------------------------------------------------- datatypes */
/* Storage types (how tensor data is laid out in memory and on the wire). */
typedef enum {
	NASH_F32 = 0, NASH_I8, NASH_U8, NASH_I16, NASH_I32, NASH_I64, NASH_NDTYPE
} nash_dtype;

const char *nash_dtype_name(nash_dtype d);       /* "float32", ... */
int nash_dtype_parse(const char *s, nash_dtype *out); /* 0 ok, -1 unknown */
size_t nash_dtype_size(nash_dtype d);

/* Value ranges in FINN's words: INT<b>, UINT<b>, BIPOLAR, BINARY, FLOAT32.
 * bits is 1..64 for integers; BIPOLAR is {-1,+1}, BINARY is {0,1}. */
typedef enum { NASH_DT_NONE = 0, NASH_DT_INT, NASH_DT_UINT, NASH_DT_BIPOLAR,
	NASH_DT_BINARY, NASH_DT_FLOAT } nash_dtkind;
typedef struct nash_datatype {
	nash_dtkind kind;
	int bits;
} nash_datatype;

int nash_datatype_parse(const char *s, nash_datatype *out); /* 0 / -1 */
/* Writes "INT4" etc. into buf (>= 16 bytes); returns buf. "" for NONE. */
char *nash_datatype_name(nash_datatype d, char *buf);
int64_t nash_datatype_min(nash_datatype d);
int64_t nash_datatype_max(nash_datatype d);
int nash_datatype_is_int(nash_datatype d);       /* INT, UINT, BIPOLAR, BINARY */
int nash_datatype_signed(nash_datatype d);
/* The smallest datatype of kind INT/UINT holding [lo, hi]. */
nash_datatype nash_datatype_fit(int64_t lo, int64_t hi);
/* Smallest storage type able to hold every value of d. */
nash_dtype nash_datatype_storage(nash_datatype d);

/* ---------------------------------------------------------- the graph IR */

typedef struct nash_tensor {
	char *name;
	nash_dtype dtype;
	int ndim;
	int64_t shape[NASH_MAXDIM];
	void *data;              /* 64-byte aligned, little-endian; NULL for an
	                            annotation (an activation's shape/datatype) */
	nash_datatype datatype;  /* optional value range */
	nash_val *extra;         /* unknown keys, passed through; may be NULL */
	int transient;           /* made by shape inference: never written */
} nash_tensor;

typedef struct nash_io {
	char *name;
	nash_dtype dtype;
	int ndim;
	int64_t shape[NASH_MAXDIM];  /* no batch dimension */
	nash_datatype datatype;
	nash_val *extra;             /* unknown keys (e.g. "scale") */
} nash_io;

typedef struct nash_node {
	char *op;
	char *name;
	int nin, nout;
	char **in;     /* "" = absent optional input */
	char **out;
	nash_val *attr;   /* map, never NULL */
	nash_val *extra;  /* unknown keys; may be NULL */
} nash_node;

typedef struct nash_graph {
	char *name;
	int version;          /* "nash" major of the record it was read from */
	int nin, nout;
	nash_io *inputs, *outputs;
	int nnodes, capnodes;
	nash_node **nodes;    /* topological order once validated */
	int ntensors, captensors;
	nash_tensor **tensors;
	nash_val *meta;       /* map stage -> map; never NULL */
	nash_val *extra;      /* unknown top-level keys; may be NULL */
	/* private: name index of tensors */
	int *tidx; int tidx_cap;
} nash_graph;

nash_graph *nash_graph_new(const char *name);
void nash_graph_free(nash_graph *g);
nash_graph *nash_graph_copy(const nash_graph *g);
void nash_graph_rename(nash_graph *g, const char *name);

/* Number of elements of a shape (1 for ndim 0); -1 if it overflows or a
 * dimension is negative. */
int64_t nash_shape_numel(int ndim, const int64_t *shape);
int64_t nash_tensor_numel(const nash_tensor *t);
size_t nash_tensor_nbytes(const nash_tensor *t);
/* "3x224x224" style; writes into buf (>= 128 bytes). */
char *nash_shape_str(int ndim, const int64_t *shape, char *buf);
/* Parse "1x28x28" (also "1,28,28"); returns ndim or -1. */
int nash_shape_parse(const char *s, int64_t *shape, int maxdim);

/* Tensors: find by name (NULL if absent). add creates a parameter tensor
 * with zeroed data (or replaces an existing entry of that name). annotate
 * creates or updates an annotation without data. */
nash_tensor *nash_tensor_find(const nash_graph *g, const char *name);
nash_tensor *nash_tensor_add(nash_graph *g, const char *name, nash_dtype dt,
                             int ndim, const int64_t *shape);
nash_tensor *nash_tensor_annotate(nash_graph *g, const char *name,
                                  nash_dtype dt, int ndim, const int64_t *shape);
int nash_tensor_remove(nash_graph *g, const char *name);    /* 1 if removed */
/* Element i of a parameter as an integer: integer types exactly, float32
 * truncated toward zero. i must be below nash_tensor_numel(t). */
int64_t nash_tensor_int(const nash_tensor *t, int64_t i);
/* Float view of a float32 parameter (NULL if absent or not float32). */
float *nash_tensor_f32(const nash_graph *g, const char *name);

/* Inputs and outputs. */
nash_io *nash_graph_add_input(nash_graph *g, const char *name, nash_dtype dt,
                              int ndim, const int64_t *shape);
nash_io *nash_graph_add_output(nash_graph *g, const char *name);

/* Nodes. in/out are NULL-terminated name lists. The node is appended
 * (insert puts it at position pos). Names are copied. */
nash_node *nash_node_add(nash_graph *g, const char *op, const char *name,
                         const char *const *in, const char *const *out);
nash_node *nash_node_insert(nash_graph *g, int pos, const char *op,
                            const char *name, const char *const *in,
                            const char *const *out);
void nash_node_remove(nash_graph *g, int pos);  /* frees the node */
nash_node *nash_node_find(const nash_graph *g, const char *name);
int nash_node_index(const nash_graph *g, const nash_node *n);  /* or -1 */
void nash_node_set_in(nash_node *n, int i, const char *name);
void nash_node_set_out(nash_node *n, int i, const char *name);
/* Producer of a tensor (node index) or -1 if it is an input/parameter. */
int nash_graph_producer(const nash_graph *g, const char *tensor);
/* Count the uses of a tensor as node input or graph output. */
int nash_graph_uses(const nash_graph *g, const char *tensor);
/* Replace every use of tensor from as node input or graph output by to. */
void nash_graph_replace_uses(nash_graph *g, const char *from, const char *to);
/* A tensor name not yet used in g, built from base ("base", "base_1", ...).
 * Returned string is malloc'd. */
char *nash_graph_fresh_name(const nash_graph *g, const char *base);
/* Re-sort nodes topologically (stable); -1 with message on a cycle. */
int nash_graph_toposort(nash_graph *g, nash_err *e);
/* Remove nodes whose outputs are unused and parameters no node uses (a
 * tensor a quantizer names in its int_tensor attribute counts as used by
 * it, see nash-ops(7)). */
void nash_graph_prune(nash_graph *g);

/* Attributes (node->attr). Getters return def when absent or mistyped. */
int64_t nash_attr_int(const nash_node *n, const char *key, int64_t def);
double nash_attr_float(const nash_node *n, const char *key, double def);
const char *nash_attr_str(const nash_node *n, const char *key, const char *def);
/* Copy an int list into out (up to max); returns its length or -1 if
 * absent or not a list of ints. */
int nash_attr_ints(const nash_node *n, const char *key, int64_t *out, int max);
int nash_attr_floats(const nash_node *n, const char *key, double *out, int max);
int nash_attr_has(const nash_node *n, const char *key);
void nash_attr_set_int(nash_node *n, const char *key, int64_t v);
void nash_attr_set_float(nash_node *n, const char *key, double v);
void nash_attr_set_str(nash_node *n, const char *key, const char *v);
void nash_attr_set_ints(nash_node *n, const char *key, int cnt, const int64_t *v);
void nash_attr_set_floats(nash_node *n, const char *key, int cnt, const double *v);

/* Meta: the map for one stage ("gen", "train", ...), created if missing. */
nash_val *nash_meta(nash_graph *g, const char *stage);

/* -------------------------------------------- validation, shapes, counts */

/* Structural validation: names present, every node input defined exactly
 * once (graph input, parameter or an earlier node's output) before use,
 * outputs defined once, graph outputs defined, parameter shapes sane,
 * float parameters finite. Then shape inference (below). */
int nash_graph_validate(nash_graph *g, nash_err *e);

/* Shape inference in node order: for every node output, create or check a
 * tensor annotation (transient unless one was present). Needs the op to
 * have a shape rule (see nash_shape_rule_add). Shapes omit the batch. */
int nash_graph_infer(nash_graph *g, nash_err *e);

/* Shape rules per op. A rule reads the shapes of the node's inputs (ishape
 * [i] is NULL for an absent input "") and writes the shapes of its outputs.
 * Core registers the float-level ops, Quant, Choice, MultiThreshold and the
 * hardware operators of nash-ops(7);
 * other modules add theirs (at most one rule per op; later ones replace). */
typedef struct nash_shape {
	int ndim;
	int64_t d[NASH_MAXDIM];
	nash_dtype dtype;
} nash_shape;
typedef int (*nash_shape_fn)(const nash_graph *g, const nash_node *n,
                             const nash_shape *const *ishape,
                             nash_shape *oshape, nash_err *e);
void nash_shape_rule_add(const char *op, nash_shape_fn fn);
nash_shape_fn nash_shape_rule(const char *op);
/* Shape of a tensor after inference (input, parameter or annotation). */
const nash_tensor *nash_graph_shape(const nash_graph *g, const char *tensor);

/* Counting (after nash_graph_infer). params: elements of every parameter
 * tensor a node reads, except BatchNormalization running statistics (inputs 3, 4),
 * Choice alphas (counted in arch), and thresholds. macs: multiply-
 * accumulates per image of Conv, Gemm, MatMul and MVAU nodes (every Choice
 * branch counted). */
typedef struct nash_counts {
	int64_t params, arch_params, macs;
} nash_counts;
int nash_graph_count(const nash_graph *g, nash_counts *c, nash_err *e);
/* MACs per image of one node (0 for ops without multiply-accumulates);
 * -1 if the shapes it needs are unknown. */
int64_t nash_node_macs(const nash_graph *g, const nash_node *n);

/* --------------------------------------------------------- record I/O */

typedef enum { NASH_REC_GRAPH = 1, NASH_REC_OTHER = 2 } nash_reckind;

typedef struct nash_record {
	nash_reckind kind;
	nash_graph *graph;        /* NASH_REC_GRAPH */
	unsigned char *raw;       /* NASH_REC_OTHER: the record's exact bytes */
	size_t nraw;
	char kind_name[64];       /* value of "kind" */
} nash_record;
void nash_record_free(nash_record *r);

/* Limits a reader enforces before allocating. */
#define NASH_MAX_RECORD   ((size_t)4 << 30)  /* bytes in one record */
#define NASH_MAX_DEPTH    24                 /* nesting of arrays/maps */
#define NASH_MAX_NUMEL    ((int64_t)1 << 32) /* elements of one tensor */

typedef struct nash_reader nash_reader;
/* A reader over fd; label names the source in messages ("stdin",
 * a file name). The reader does not close fd. */
nash_reader *nash_reader_new(int fd, const char *label);
/* Open a file (or "-" for stdin); NULL with message on failure. */
nash_reader *nash_reader_open(const char *path, nash_err *e);
void nash_reader_free(nash_reader *r);  /* closes fd if it opened it */
/* Ask for a 1 MiB pipe buffer when fd is a pipe (fewer context switches
 * for large records); silently keeps the default when refused. Readers do
 * this for their input; tools for stdout. */
void nash_pipe_widen(int fd);
/* Read the next record: 1 and *out set, 0 at a clean end of stream,
 * -1 with a message naming source and record number. */
int nash_read(nash_reader *r, nash_record **out, nash_err *e);
/* Records read so far (the number of the last one). */
long nash_reader_count(const nash_reader *r);

/* Decode one record from memory (exactly one msgpack object). */
int nash_decode(const void *buf, size_t n, nash_record **out, nash_err *e);

/* Encode a graph record into a malloc'd buffer. Known keys come first in
 * canonical order, then unknown keys in the order they were read. */
int nash_encode_graph(const nash_graph *g, unsigned char **buf, size_t *n,
                      nash_err *e);
/* Write a whole buffer to fd (EINTR-safe); -1 with strerror on failure. */
int nash_write_all(int fd, const void *buf, size_t n, nash_err *e);
/* Encode and write one record (graph, or raw bytes of another kind). */
int nash_write_record(int fd, const nash_record *r, nash_err *e);
int nash_write_graph(int fd, const nash_graph *g, nash_err *e);

/* Read every graph of a stream file into an array (other kinds skipped).
 * Returns the number of graphs or -1. */
int nash_read_graphs_file(const char *path, nash_graph ***out, nash_err *e);

/* ----------------------------------------------------------- files, misc */

/* Write data to path atomically: an unnamed temporary file in the same
 * directory (O_TMPFILE; a named one where the file system cannot), fsync,
 * link, rename. Nothing is left behind on failure, nor (but in the instant
 * between link and rename) when the process is killed. A path naming a
 * device or FIFO (/dev/null, /dev/full) is written in place instead; a
 * symbolic link is followed, so the file it names is replaced. */
int nash_write_file_atomic(const char *path, const void *data, size_t n,
                           nash_err *e);
/* Temporary path next to path (path + ".tmp.<pid>.<n>"), malloc'd. */
char *nash_tmp_path(const char *path);
/* Directory holding nash's shared data (devices table, HLS headers,
 * templates): $NASH_SHARE, else <exe dir>/../share/nash, else the
 * compiled-in prefix; from the build tree, the source tree's share/nash. */
const char *nash_share_dir(void);
/* Monotonic seconds. */
double nash_now(void);
/* Deterministic RNG (xoshiro256**), seeded by splitmix64. */
typedef struct nash_rng { uint64_t s[4]; } nash_rng;
void nash_rng_seed(nash_rng *r, uint64_t seed);
uint64_t nash_rng_u64(nash_rng *r);
double nash_rng_uniform(nash_rng *r);     /* [0, 1) */
double nash_rng_normal(nash_rng *r);      /* standard normal */
uint64_t nash_rng_below(nash_rng *r, uint64_t n);  /* [0, n) */
/* Stable 64-bit hash of a string (FNV-1a), e.g. to derive per-tensor seeds. */
uint64_t nash_hash(const char *s);
/* Glob-style match with * and ? (for per-layer override patterns). */
int nash_glob(const char *pattern, const char *s);

#endif
