/*
 * train.h - optimisers, learning-rate schedules, batch iteration over a
 * dataset split, evaluation, checkpoints, progress text, and the training
 * loop of nash-train(1); the pieces are public so that other loops (the
 * NASH search, nash-eval) are built from the same parts.
 *
 * Contract: no printing, no exiting; failures return -1 (or NULL) with a
 * nash_err naming the graph, node, file and reason. Text meant for a
 * terminal (progress) is formatted into caller buffers; the tools print.
 */
#ifndef NASH_TRAIN_H
#define NASH_TRAIN_H

#include "core/nash.h"
#include "data/data.h"
#include "nn/nn.h"

/* ----------------------------------------------------------- optimisers */

typedef enum { NASH_OPT_SGD = 0, NASH_OPT_ADAM, NASH_OPT_ADAMW } nash_optkind;
const char *nash_optkind_name(nash_optkind k);             /* "sgd", ... */
int nash_optkind_parse(const char *s, nash_optkind *out);  /* 0 / -1 */

typedef struct nash_optim_opts {
	nash_optkind kind;
	double momentum;        /* SGD: heavy-ball momentum (0: plain SGD) */
	int nesterov;           /* SGD: Nesterov momentum */
	double beta1, beta2, eps;  /* Adam */
	double wd;              /* weight decay: SGD and Adam add wd * w to the
	                           gradient (L2, as torch.optim); AdamW decays
	                           w by lr * wd directly (decoupled) */
	unsigned no_decay;      /* mask of (1u << nash_pkind): kinds never
	                           decayed */
	int threads;            /* threads of the updates (0: OpenMP's default) */
} nash_optim_opts;

/* Defaults: momentum 0.9, no Nesterov, betas 0.9/0.999, eps 1e-8, wd 0,
 * learned quantizer scales (NASH_P_QSCALE) exempt from decay. */
void nash_optim_defaults(nash_optim_opts *o, nash_optkind kind);

typedef struct nash_optim nash_optim;
/* An optimiser over the n parameters p[] (the pointers are kept: the
 * parameters must outlive it). Parameters without a gradient (state
 * buffers) are ignored. Update rules, per element, with g the gradient
 * (after clipping) and t the 1-based step:
 *   SGD:   g += wd*w; b = m*b + g (b = g at t = 1); d = nesterov ? g + m*b
 *          : b; w -= lr*d
 *   Adam:  g += wd*w; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *          w -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
 *   AdamW: the same without the L2 term, then w -= lr*wd*w first. */
nash_optim *nash_optim_new(const nash_optim_opts *o, nash_param *const *p, int n);
void nash_optim_free(nash_optim *o);
/* Global L2 norm of the gradients of the optimiser's parameters. */
double nash_optim_grad_norm(const nash_optim *o);
/* Gradient-norm clipping: when the global norm exceeds max_norm > 0,
 * scale every gradient by max_norm / norm. Returns the norm before
 * clipping (non-finite norms are returned and nothing is scaled). */
double nash_optim_clip(nash_optim *o, double max_norm);
/* One update of every parameter with learning rate lr. */
void nash_optim_step(nash_optim *o, double lr);
int64_t nash_optim_steps(const nash_optim *o);   /* updates done */
/* Checkpoint state: {kind, steps, slots: {param name: [bin, ...]}}; the
 * restore checks kind, names and sizes. */
nash_val *nash_optim_state(const nash_optim *o);
int nash_optim_restore(nash_optim *o, const nash_val *state, nash_err *e);

/* Parameters of a net with a gradient whose kind is in mask
 * ((1u << nash_pkind) bits), in the net's order. Returns the count and a
 * malloc'd array in *out. */
int nash_net_params(nash_net *net, unsigned mask, nash_param ***out);

/* ------------------------------------------------------------ schedules */

typedef enum { NASH_SCHED_CONST = 0, NASH_SCHED_COSINE, NASH_SCHED_STEP } nash_schedkind;

typedef struct nash_sched {
	nash_schedkind kind;
	double lr;          /* the peak rate */
	double min_lr;      /* cosine: the rate it ends at */
	int64_t total;      /* steps of the whole run */
	int64_t warmup;     /* linear warm-up steps: lr * (t + 1) / warmup */
	int64_t period;     /* step: multiply by gamma every period steps */
	double gamma;       /*   counted after the warm-up */
} nash_sched;

/* Parse "const", "cosine" or "step:EPOCHS[:GAMMA]" (gamma default 0.1)
 * into kind (and *period_epochs, *gamma for step). */
int nash_sched_parse(const char *spec, nash_schedkind *kind, double *period_epochs,
                     double *gamma, nash_err *e);
const char *nash_schedkind_name(nash_schedkind k);
/* The rate of step t (0-based). After the warm-up, cosine is
 * min_lr + (lr - min_lr) * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2. */
double nash_sched_lr(const nash_sched *s, int64_t t);

/* ------------------------------------------------------------- batches */

/* Batches over one split. Shuffled iteration draws a new order at each
 * epoch from its own rng, which also draws the augmentation: restoring
 * its state (nash_batcher_restore) replays the same batches. */
typedef struct nash_batcher {
	const nash_dataset *d;
	const nash_split *s;
	int batch;
	int shuffle;
	nash_augment aug;   /* zeros: none */
	nash_rng rng;
	int64_t *order;     /* this epoch's order of image indices */
	int64_t pos;        /* next position in order */
	int64_t epoch;      /* epochs begun */
} nash_batcher;

void nash_batcher_init(nash_batcher *b, const nash_dataset *d, const nash_split *s, int batch,
                       int shuffle, const nash_augment *aug, uint64_t seed);
void nash_batcher_free(nash_batcher *b);
/* Batches per epoch: ceil(n / batch), less one when the last batch would
 * hold a single image (batch normalisation needs two). */
int64_t nash_batcher_steps(const nash_batcher *b);
/* Begin the next epoch (a new order when shuffling). */
void nash_batcher_epoch(nash_batcher *b);
/* The next batch of this epoch into x (batch x C x H x W floats) and y;
 * returns its size, 0 when the epoch is over. */
int nash_batcher_next(nash_batcher *b, float *x, int *y);
/* Checkpoint state {rng, order, pos, epoch, n}; restore checks n. */
nash_val *nash_batcher_state(const nash_batcher *b);
int nash_batcher_restore(nash_batcher *b, const nash_val *state, nash_err *e);

/* RNG state as a 32-byte bin and back. */
nash_val *nash_rng_state(const nash_rng *r);
int nash_rng_restore(nash_rng *r, const nash_val *v, nash_err *e);

/* ----------------------------------------------------------- evaluation */

typedef struct nash_evalres {
	int64_t n;           /* images evaluated */
	int classes;
	int64_t top1, top5;  /* correct predictions */
	double loss;         /* mean cross-entropy; NAN when not defined */
	int64_t *confusion;  /* classes x classes counts, row = true label,
	                        column = prediction; NULL unless detail */
	int64_t *class_n, *class_top1, *class_top5;  /* per true class;
	                        NULL unless detail */
	int32_t *pred;       /* n predicted classes in split order; NULL
	                        unless detail */
} nash_evalres;
void nash_evalres_free(nash_evalres *r);

/* Rank of class y among k scores: how many classes score higher, plus
 * equal scores of lower index (so the prediction is the lowest index of
 * the maximum). Correct within top-k when rank < k. */
int nash_score_rank(const float *scores, int k, int y);

/* The first node of g that is a hardware operator of nash-ops(7) (MVAU,
 * ConvolutionInputGenerator, Thresholding, ...), or NULL when there is
 * none: hardware graphs run on the integer executor, not the engine. */
const nash_node *nash_graph_hw_node(const nash_graph *g);

/* Run a net in eval mode over the first limit images of split s (all
 * when limit <= 0), at most batch at a time (batch <= the net's batch).
 * Leaves the net in eval mode. detail: also confusion and pred. */
int nash_evaluate(nash_net *net, int batch, const nash_dataset *d, const nash_split *s,
                  int64_t limit, int detail, nash_evalres *r, nash_err *e);

/* The same for an integer hardware graph on the integer executor
 * (lib/hwexec): the images go in as uint8 pixels. With a logits output
 * the prediction is the largest integer score (lowest index on ties); with
 * a LabelSelect output (k class indices, best first) it is the first index
 * and an image counts for top-5 when its label is among the first five
 * (so top5 = top-k when k < 5). loss is NAN. */
struct nash_hwnet;
int nash_evaluate_hw(struct nash_hwnet *h, int batch, const nash_dataset *d, const nash_split *s,
                     int64_t limit, int detail, nash_evalres *r, nash_err *e);

/* ---------------------------------------------------- checkpoint pieces */

/* Exact values of every parameter and state buffer of a net (QSCALE in
 * its log2 form): {tensor name: bin of float32}; restore checks names and
 * sizes. Restoring these after nash_net_new on the checkpoint's graph
 * gives back the net bit for bit. */
nash_val *nash_params_state(nash_net *net);
int nash_params_restore(nash_net *net, const nash_val *state, nash_err *e);

/* A checkpoint file is a nash(5) stream: the graphs a run has finished
 * (each with its loop's meta section: train, search, ...), then the graph
 * in training, whose meta.checkpoint holds whatever state its loop needs
 * to continue (nash_trainer_checkpoint's keys; another loop writes its
 * own). Written atomically (temporary file, fsync, rename). */
int nash_ckpt_write(const char *path, nash_graph *const *graphs, int n, nash_err *e);
/* Read one: every graph, validated, in *out (count returned). Only the
 * last may hold meta.checkpoint; the others must hold meta.<done_meta>
 * ("train" for nash-train's checkpoints). Anything else is an error naming
 * the file. */
int nash_ckpt_read(const char *path, const char *done_meta, nash_graph ***out, nash_err *e);
/* A fingerprint of a graph's encoded form (hex, 16 digits) so that a
 * resumed run can check it got the same input. */
int nash_graph_fingerprint(const nash_graph *g, char out[17], nash_err *e);

/* ------------------------------------------------------------- progress */

typedef struct nash_progress {
	int bar;            /* 1: a bar redrawn in place (a terminal) */
	int epochs;
	int64_t steps;      /* per epoch */
	int64_t todo;       /* steps left when this session began */
	int64_t done;       /* steps done in this session */
	double t0, tlast;   /* session start, last redraw */
	double tepoch;      /* start of this epoch */
	int64_t images;     /* images this epoch */
} nash_progress;

void nash_progress_init(nash_progress *p, int bar, int epochs, int64_t steps_per_epoch,
                        int64_t steps_left);
/* Note the start of an epoch (init notes the first one). */
void nash_progress_epoch_start(nash_progress *p);
/* After a step of n images: when a redraw is due (at most every 0.2 s, and
 * at the last step of an epoch) write the bar text, without newline, into
 * buf and return 1; else 0. The bar: "epoch 3/15 [####....] 120/469
 * loss 0.4123 acc 85.2% 1450 img/s ETA 12:34". */
int nash_progress_step(nash_progress *p, int epoch, int64_t step, int n, double loss,
                       double acc, char *buf, size_t len);
/* Images per second of the current epoch so far. */
double nash_progress_rate(const nash_progress *p);
/* "h:mm:ss" or "m:ss" of seconds into buf (>= 16 bytes). */
char *nash_fmt_duration(double seconds, char *buf);

/* ------------------------------------------------------- training loop */

typedef struct nash_train_opts {
	int epochs;
	int batch;
	nash_optim_opts optim;
	nash_schedkind sched;
	double lr, min_lr;
	double warmup;          /* epochs of linear warm-up (fractions allowed) */
	double step_epochs, gamma;  /* step schedule */
	double clip;            /* gradient-norm clip, 0: none */
	double smoothing;       /* label smoothing */
	nash_augment aug;
	int threads;
	uint64_t seed;
	int eval_every;         /* evaluate the test split every N epochs (the
	                           last epoch always); 0: only at the end */
	const char *dataset;    /* the spec, recorded in meta.train */
	int64_t limit;          /* recorded */
	double val_frac;        /* recorded */
} nash_train_opts;
/* nash-train's defaults: 15 epochs, batch 128, SGD momentum 0.9 Nesterov,
 * lr 0.1 cosine to 0, wd 5e-4, no warm-up, no clip, no smoothing, crop
 * padding 0 and no flip (the tool picks them per dataset), seed 1,
 * threads 0, eval_every 1. */
void nash_train_defaults(nash_train_opts *o);

/* Statistics of one epoch; NAN where not measured. */
typedef struct nash_epoch_stats {
	int epoch;              /* 1-based */
	double lr;              /* rate of the epoch's last step */
	double loss, top1;      /* training: mean loss, accuracy (percent) */
	double test_loss, test_top1, test_top5;
	double val_top1;
	double seconds;         /* wall time of the epoch (with evaluation) */
	double images_per_s;    /* training images per second */
} nash_epoch_stats;

typedef struct nash_trainer nash_trainer;

/* Compile g (validated) for training on d. Fails for a graph that does not
 * fit the data, holds Choice nodes (derive it, or run the search), or has
 * an op the engine cannot train (the engine names the node). The graph
 * must outlive the trainer; it receives the weights (sync) on checkpoint
 * and finish. */
nash_trainer *nash_trainer_new(nash_graph *g, const nash_dataset *d, const nash_train_opts *o,
                               nash_err *e);
void nash_trainer_free(nash_trainer *t);
/* Continue from the state in g's meta.checkpoint (g being the graph the
 * trainer was made from, read back from a checkpoint): checks that the
 * options that shape the run (epochs, batch, optimiser, schedule, seed,
 * dataset, sizes) are the same, names the first that differs. */
int nash_trainer_restore(nash_trainer *t, nash_err *e);

/* Check that a graph a checkpoint holds as finished was trained with
 * these options on this data; -1 naming the first difference. */
int nash_train_check_done(const nash_graph *g, const nash_dataset *d, const nash_train_opts *o,
                          nash_err *e);

/* Hooks of the loop; any may be NULL. step runs after every step and
 * returns nonzero to stop the loop at once (a signal arrived): the state
 * is then consistent for nash_trainer_checkpoint. epoch runs after each
 * epoch (after evaluation); -1 stops with its error. */
typedef struct nash_train_hooks {
	void *ctx;
	int (*step)(void *ctx, nash_trainer *t, int epoch, int64_t step, int n, double loss, double acc);
	int (*epoch)(void *ctx, nash_trainer *t, const nash_epoch_stats *s, nash_err *e);
} nash_train_hooks;

/* Train to the last epoch: 0 when done, 1 when the step hook stopped it,
 * -1 on error (a non-finite loss names the epoch and step). */
int nash_trainer_run(nash_trainer *t, const nash_train_hooks *h, nash_err *e);
/* Put the current state in the graph: weights synced, meta.checkpoint. */
int nash_trainer_checkpoint(nash_trainer *t, nash_err *e);
/* The end: weights synced, meta.checkpoint removed, meta.train written
 * (dataset, options, top1/top5 final and best, history, seconds,
 * images_per_s). */
int nash_trainer_finish(nash_trainer *t, nash_err *e);

/* Where the run is. */
int nash_trainer_epoch(const nash_trainer *t);        /* epochs completed */
int64_t nash_trainer_step(const nash_trainer *t);     /* steps into the epoch */
int64_t nash_trainer_steps(const nash_trainer *t);    /* steps per epoch */
const nash_epoch_stats *nash_trainer_history(const nash_trainer *t, int *n);
nash_net *nash_trainer_net(nash_trainer *t);
nash_graph *nash_trainer_graph(nash_trainer *t);

#endif
