/*
 * search.h - the NASH search: the supernet's edges and their alpha
 * logits, derivation of a discrete network per NASH version, the expected
 * hardware cost of a supernet (per candidate operation, from lib/hw), the
 * statistics that expose search collapse, and the search loop
 * (alternating first-order bilevel optimisation on the float engine).
 *
 * A supernet is a graph from nash-gen --nash vN --search: one Choice node
 * per edge (attributes ops, cell, node, from, stride; inputs: the
 * candidate branches, then the alpha logits), nash-ops(7) "The search
 * operator". Probabilities are p = softmax(alpha) per edge.
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) and fill
 * a nash_err naming the graph, node and reason.
 */
#ifndef NASH_SEARCH_H
#define NASH_SEARCH_H

#include "core/nash.h"
#include "models/models.h"
#include "nn/nn.h"
#include "data/data.h"

/* ------------------------------------------------------------ supernet */

typedef struct nash_sedge {
	int node;                  /* index of the Choice node in the graph */
	const char *name;          /* the Choice node's name (owned by the graph) */
	const char *alpha;         /* the alpha tensor's name (owned by the graph) */
	int cell, to, from;        /* the edge: state `from` -> node `to` of `cell` */
	int stride;
	int nops;                  /* candidates, in input order */
	int ops[NASH_NOPS];        /* op index (NASH_OP_*) of each input */
	int slot[NASH_NOPS];       /* input index of each op, -1 if not searched */
	const char *state;         /* the tensor the edge reads (state `from`) */
	int64_t cin, cout, ih, iw, oh, ow;   /* its shapes (batch omitted) */
} nash_sedge;

typedef struct nash_supernet {
	const nash_graph *g;
	int version;               /* 1..4 from meta.gen.nash (0 if absent) */
	char arch[16];             /* meta.gen.arch ("" if absent) */
	nash_cellplan plan;        /* from the Choice nodes' attributes */
	int nedges;
	nash_sedge *e;
	int edge[NASH_MAXCELLS][NASH_MAXNODES][NASH_MAXNODES]; /* [cell][to][from] -> edge, -1 */
} nash_supernet;

/* Read the edges of a validated supernet (shapes inferred). Fails with
 * "graph G has no Choice nodes: ..." when there is nothing to search, and
 * names the node for a Choice whose attributes or alpha do not fit the
 * contract, or for cells whose edges are incomplete. Keeps a pointer to g. */
int nash_supernet_init(nash_supernet *s, const nash_graph *g, nash_err *e);
void nash_supernet_free(nash_supernet *s);

/* p[edge * NASH_NOPS + op] = softmax(alpha) of the edge at op (0 for ops
 * the edge does not search), read from the graph's alpha tensors. */
void nash_supernet_probs(const nash_supernet *s, double *p);

/* "v1".."v4" (also "1".."4") -> 1..4; -1 for anything else. */
int nash_version_parse(const char *s);

/* ---------------------------------------------------------- derivation */

typedef struct nash_derive_opts {
	int version;    /* derivation rules 1..4; 0: the supernet's version */
	int max_skip;   /* most skip_connect winners per backbone stage; < 0: no limit */
} nash_derive_opts;

/* Derive a genotype from edge probabilities p (as nash_supernet_probs
 * gives them). Rules (nash-train(1), SEARCH, lists how they differ from the
 * reference code):
 *   v1, v4  per node the single (edge, op) pair with the highest
 *           probability among non-none ops (v4: among none and the convs'
 *           space, i.e. the convs); ties go to the lower state, then the
 *           lower op index;
 *   v2      the edge whose best non-none op is highest, then its best
 *           non-none op, where on a stride-2 edge (state 0 of a
 *           down-sampling cell) only convs may win;
 *   v3      the best (edge, op) pair after dropping skip_connect and
 *           max_pool_3x3 on the stride-2 edge (re-ranking);
 * `none` never wins. With max_skip >= 0, a stage with more skip winners
 * keeps the most probable ones and re-derives the others without skip. */
int nash_derive(const nash_supernet *s, const double *p, const nash_derive_opts *o,
                nash_genotype *gt, nash_err *e);

/* Build the discrete network of genotype gt for supernet g with lib/models
 * (the architecture options come from g's meta.gen; cascade adders as
 * nash-gen --genotype builds them), freshly initialised from seed; with
 * inherit, every tensor whose name, dtype and shape match one of the
 * supernet's is copied from it (*ninherited counts them; may be NULL).
 * version: the rules' version (its op space checks gt). Meta sections of g
 * other than gen and unknown top-level keys are carried over. name NULL:
 * the supernet's name with "-super" dropped, plus "-g<hash>". */
nash_graph *nash_derive_network(const nash_graph *g, const nash_genotype *gt, int version,
                                uint64_t seed, int inherit, const char *name,
                                int *ninherited, nash_err *e);

/* ---------------------------------------------------------- statistics */

/* Per backbone stage (0..3), how many nodes of gt won each kind of op. */
typedef struct nash_winners {
	int nstages;
	int none[4], skip[4], pool[4], conv[4];
} nash_winners;
void nash_genotype_winners(const nash_supernet *s, const nash_genotype *gt, nash_winners *w);

/* Mean entropy (nats) of the edges' op distributions, overall and per
 * stage (per_stage may be NULL; 4 entries). */
double nash_alpha_entropy(const nash_supernet *s, const double *p, double *per_stage);

/* ------------------------------------------------------ hardware costs */

typedef enum {
	NASH_COST_LUT = 0, NASH_COST_BRAM, NASH_COST_DSP, NASH_COST_CYCLES, NASH_COST_MACS
} nash_cost_kind;
const char *nash_cost_name(nash_cost_kind k);            /* "lut", ... */
int nash_cost_parse(const char *s, nash_cost_kind *k);   /* 0 / -1 */

typedef struct nash_cost_opts {
	nash_cost_kind kind;
	const char *part;      /* FPGA part or board for lib/hw (default xczu7ev) */
	double clock_mhz;      /* default 200 */
	double fps;            /* each candidate folded for this rate (default 1000) */
	int wbits, abits;      /* expected weight and activation bits (default 2, 2) */
	int addbits;           /* the adders' shared quantizer bits (default 8) */
} nash_cost_opts;
void nash_cost_defaults(nash_cost_opts *o);

/* Cost of every candidate of every edge: cost[edge * NASH_NOPS + op] (0 for
 * none and for ops the edge does not search). LUT, BRAM18, DSP and
 * cycles come from lib/hw by costing the hardware layers each candidate
 * becomes (mapping in nash-train(1), SEARCH); MACs count the branch's
 * Conv MACs per image. */
int nash_search_costs(const nash_supernet *s, const nash_cost_opts *o, double *cost, nash_err *e);

/* Expected cost sum over edges of p(op) * cost(op). With grad (may be
 * NULL; nedges * NASH_NOPS entries) also its derivative with respect to
 * each edge's alpha logits, indexed like p: p_i * (c_i - E_edge[c]). */
double nash_expected_cost(const nash_supernet *s, const double *p, const double *cost, double *grad);

/* Cost of one genotype: sum of the chosen candidates' costs. */
double nash_genotype_cost(const nash_supernet *s, const nash_genotype *gt, const double *cost);

/* ------------------------------------------------------ the search loop */

/* The alpha step's arithmetic: AUTO is bfloat16 for the candidates'
 * gate evaluation and the backward-data convolutions (inputs and weights
 * rounded to bf16, f32 accumulation, nash_net_bf16) on CPUs with bf16 dot
 * products, f32 elsewhere. On the ResNet18 supernet it moves the alpha
 * gradient by 0.3 % (relative L2), while another batch moves it by 73-78 %;
 * the forward pass and the weight step are always f32. */
typedef enum { NASH_ARCH_AUTO = 0, NASH_ARCH_F32, NASH_ARCH_BF16 } nash_arch_prec;

typedef struct nash_search_opts {
	int epochs;             /* passes over the weight half */
	int batch;
	double split;           /* fraction of the training split for weights; the
	                           rest trains alpha (the "architecture half") */
	int64_t steps;          /* steps per epoch; 0: the whole weight half */
	nash_relax relax;       /* sampled path or softmax mixture */
	double temperature;     /* p = softmax(alpha / T); T > 0 */
	double lr, min_lr;      /* weights: SGD, cosine from lr to min_lr (per step) */
	double momentum, wd, clip;
	double arch_lr, arch_beta1, arch_beta2, arch_wd;   /* alpha: Adam */
	int arch_every;         /* an alpha step every K steps (1: every step, the
	                           reference; ProxylessNAS updates less often) */
	nash_arch_prec arch_prec;  /* arithmetic of the alpha step's convolutions */
	double hw_weight;       /* L: the architecture loss is CE + L * E[cost] / max cost */
	nash_cost_opts cost;
	nash_derive_opts derive;   /* the rules for per-epoch genotypes and the end */
	nash_augment aug;       /* training batches of both halves */
	int64_t eval_images;    /* images of each evaluation; <= 0: all */
	int threads;
	uint64_t seed;
	const char *dataset;    /* recorded in meta.search */
} nash_search_opts;

/* The reference hyper-parameters (REFERENCE.md section 1): batch 64, split
 * 0.5, SGD lr 0.025 cosine to 0, momentum 0.9, wd 3e-4, clip 5; Adam
 * lr 3e-4, betas (0, 0.999), wd 1e-3; sampled path, T = 1, no hardware
 * term; an alpha step at every step; 1 epoch; 2000 evaluation images;
 * LUT cost defaults. */
void nash_search_defaults(nash_search_opts *o);

/* Statistics of one epoch (kept in meta.search.history). */
typedef struct nash_search_epoch {
	int epoch;                 /* 1-based */
	double lr;                 /* weights' rate at the epoch's last step */
	double loss, top1;         /* weight steps: mean loss, accuracy (percent) */
	double arch_loss;          /* architecture steps: mean cross-entropy */
	double val_loss, val_top1; /* the supernet, sampled paths (or the mixture) */
	double derived_loss, derived_top1;  /* the derived architecture inside it */
	double entropy;            /* mean over edges, nats */
	double expected_cost, genotype_cost;
	double seconds;
} nash_search_epoch;

typedef struct nash_search nash_search;

/* Prepare a search of supernet g (validated) on d's training split: the
 * halves (a seeded shuffle), the net, the optimisers, the candidate costs.
 * Fails for a graph without Choice nodes, a graph that does not fit the
 * data, options out of range, or halves smaller than a batch. g must
 * outlive the search; it receives the weights (sync) on checkpoint and
 * finish. */
nash_search *nash_search_new(nash_graph *g, const nash_dataset *d, const nash_search_opts *o, nash_err *e);
void nash_search_free(nash_search *s);
/* Continue from g's meta.checkpoint (g read back from a checkpoint that
 * nash_search_checkpoint wrote): checks the options that shape the run
 * and names the first that differs. */
int nash_search_restore(nash_search *s, nash_err *e);

/* One step: an Adam step on alpha with a batch of the architecture half
 * (when the step's number is a multiple of arch_every), then an SGD step
 * on the weights with a batch of the weight half. Ends
 * the epoch (evaluation, statistics) after its last step. Returns 1 when
 * the search is over, else 0; -1 on error (a non-finite loss names the
 * epoch and step). */
int nash_search_step(nash_search *s, nash_err *e);

/* Hooks of nash_search_run; any may be NULL. step returns nonzero to stop
 * at once (the state is consistent for nash_search_checkpoint); epoch runs
 * after each epoch's evaluation, -1 stops with its error. */
typedef struct nash_search_hooks {
	void *ctx;
	int (*step)(void *ctx, nash_search *s, int epoch, int64_t step, int n, double loss, double acc);
	int (*epoch)(void *ctx, nash_search *s, const nash_search_epoch *st, nash_err *e);
} nash_search_hooks;
/* Run to the last epoch: 0 when done, 1 when the step hook stopped it. */
int nash_search_run(nash_search *s, const nash_search_hooks *h, nash_err *e);

/* The architecture gradient of one batch (train mode), what the Adam
 * step uses: with the sampled path and draw set, a path is drawn first
 * (draw 0 keeps the net's current choices, see nash_net_choose); the
 * gradient with respect to the logits a (p = softmax(a / T)) is the
 * engine's alpha gradient over T plus L * dE[cost]/da / max cost. *loss
 * (may be NULL): the batch's cross-entropy. grad (may be NULL) receives
 * the gradient per edge and op, nedges x NASH_NOPS. */
int nash_search_arch_grad(nash_search *s, const float *x, const int *y, int n, int draw, double *loss,
                          double *grad, nash_err *e);

/* Put the current state into the graph: weights synced, meta.checkpoint
 * with the optimisers, alpha logits, batch orders, generator and history. */
int nash_search_checkpoint(nash_search *s, nash_err *e);
/* The end: weights synced, meta.checkpoint removed, the genotype derived
 * with o->derive into *gt, meta.search written (options, hardware cost
 * model and per-op costs, per-edge probabilities, per-epoch history with
 * winners per stage, entropy and expected cost, the genotype). */
int nash_search_finish(nash_search *s, nash_genotype *gt, nash_err *e);

nash_net *nash_search_net(nash_search *s);
const nash_supernet *nash_search_supernet(const nash_search *s);
int nash_search_epochs_done(const nash_search *s);
int64_t nash_search_step_in_epoch(const nash_search *s);
/* Whether the alpha steps run in bfloat16 (nash_search_opts.arch_prec). */
int nash_search_arch_bf16(const nash_search *s);
int64_t nash_search_steps_per_epoch(const nash_search *s);
/* Current edge probabilities (nedges x NASH_NOPS) and candidate costs. */
const double *nash_search_probs(nash_search *s);
const double *nash_search_costs_of(const nash_search *s);

/* What the search emits for a finished supernet g (with meta.search): the
 * network of genotype gt (fresh from seed, or inheriting g's weights), or
 * g itself with keep_supernet. Records network, inherit_weights and the
 * count inherited in meta.search. Returns g or a new graph (the caller
 * frees both). */
nash_graph *nash_search_output(nash_graph *g, const nash_genotype *gt, int version, uint64_t seed,
                               int inherit, int keep_supernet, nash_err *e);

/* Without a search: derive a genotype from the alphas g holds (rules o)
 * into *gt and record it in meta.search (rules, genotype, per-edge
 * probabilities, winners, entropy), keeping the keys an earlier search
 * wrote there (its history). */
int nash_search_derive_only(nash_graph *g, const nash_derive_opts *o, nash_genotype *gt, nash_err *e);

/* A genotype given by hand for supernet g: parsed and checked against the
 * supernet's cells and the version's operation space (version 0: the
 * supernet's). Errors say what does not fit. */
int nash_search_genotype(const nash_graph *g, const char *s, int version, nash_genotype *gt, nash_err *e);

#endif
