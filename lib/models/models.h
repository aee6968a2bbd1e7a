/*
 * models.h - backbone and NASH-cell builders behind nash-gen.
 *
 * Backbones: resnet18, resnet34 (torchvision layout, or the NASH reference
 * code's variant), cnv, lfc, sfc, tfc (the BNN-PYNQ topologies). NASH
 * augments each ResNet cell: every backbone 3x3 conv is a node; node i adds
 * one operation on one earlier state j <= i to its backbone sum. A supernet
 * puts a Choice over the version's candidate operations on every edge; a
 * genotype fixes one (operation, state) per node and builds the cascade
 * adders. Names are stable between supernet, derived network and baseline,
 * so weights can move between them by tensor name.
 */
#ifndef NASH_MODELS_H
#define NASH_MODELS_H

#include "core/nash.h"

/* Candidate operations, in the order every Choice lists them. */
enum { NASH_OP_NONE = 0, NASH_OP_MAXPOOL, NASH_OP_SKIP, NASH_OP_CONV1,
       NASH_OP_CONV3, NASH_OP_CONV5, NASH_NOPS };
const char *nash_op_name(int op);           /* "conv_3x3" */
int nash_op_parse(const char *s);           /* long name or alias; -1 if unknown */
/* The op indices a version searches over (v1-v3: all six; v4: none and the
 * three convs). Returns the count. version 1..4. */
int nash_version_ops(int version, int *ops);

#define NASH_MAXCELLS 8
#define NASH_MAXNODES 8

/* How a backbone splits into NASH cells. */
typedef struct nash_cellplan {
	int ncells;
	int nodes[NASH_MAXCELLS];   /* 3x3 convs (nodes) per cell */
	int down[NASH_MAXCELLS];    /* 1 if the cell starts with stride 2 */
	int stage[NASH_MAXCELLS];   /* backbone stage of the cell */
} nash_cellplan;
/* 0, or -1 if arch has no NASH cells (only resnet18 and resnet34 do). */
int nash_cellplan_get(const char *arch, nash_cellplan *p, nash_err *e);

/* A genotype: per cell and node, the operation and the state it reads.
 * Syntax (also what the search emits): cells separated by '/', nodes by
 * ',', a node is "none" or OP@STATE, e.g. for resnet18
 *   conv_3x3@0,skip_connect@1,none,max_pool_3x3@2/.../.../...
 * OP is a long name or an alias (mp, sk, c1, c3, c5; "-" for none). */
typedef struct nash_gene { int op, from; } nash_gene;
typedef struct nash_genotype {
	int ncells;
	int nnodes[NASH_MAXCELLS];
	nash_gene g[NASH_MAXCELLS][NASH_MAXNODES];
} nash_genotype;
/* Parse s; with a plan (may be NULL) also check it fits the backbone and,
 * with version > 0, the version's operation space. */
int nash_genotype_parse(const char *s, const nash_cellplan *plan, int version,
                        nash_genotype *out, nash_err *e);
char *nash_genotype_format(const nash_genotype *g);   /* malloc'd */

typedef enum { NASH_STEM_AUTO = 0, NASH_STEM_SMALL, NASH_STEM_IMAGENET } nash_stem;

typedef struct nash_model_opts {
	const char *arch;      /* resnet18, resnet34, cnv, lfc, sfc, tfc */
	int in_c, in_h, in_w;  /* 0: the arch's default */
	int classes;           /* 0: 1000 for ImageNet-size ResNets, else 10 */
	int width;             /* ResNet base channels; 0: 64 */
	nash_stem stem;        /* auto: small stem when the input is <= 64 px */
	int ref_style;         /* NASH reference code's ResNet variant */
	int version;           /* 0 baseline, 1..4 NASH version */
	int search;            /* build the supernet (Choice on every edge) */
	const char *genotype;  /* fixed NASH network (version defaults to 1) */
	uint64_t seed;         /* weight initialisation */
	const char *name;      /* graph name; NULL: derived from the options */
} nash_model_opts;

/* Known architecture names, NULL-terminated. */
extern const char *const nash_archs[];
/* Build the graph (validated, meta.gen filled with every option). */
nash_graph *nash_model_build(const nash_model_opts *o, nash_err *e);
/* The default graph name for o, e.g. "resnet18-nash-v2-w16" (malloc'd). */
char *nash_model_name(const nash_model_opts *o);
/* Initialise one parameter tensor the way the builders do (Kaiming normal
 * for convs, U(+-1/sqrt(fan_in)) for Gemm, BN scale 1 / others 0, alpha 0),
 * from a seed and the tensor's name, so equal names get equal values. The
 * role is taken from the name's suffix (.weight .bias .scale .mean .var
 * .alpha). */
void nash_model_init_tensor(nash_tensor *t, uint64_t seed);

#endif
