/* nash-train - train every graph of a stream on a dataset, with
 * checkpoints that survive signals and kills. The loop lives in lib/train;
 * this file parses options, prints progress and handles signals. */
#include "tool.h"
#include "data/data.h"
#include "train/train.h"
#include "quant/quant.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
"Usage: nash-train [OPTION]... [FILE]...\n"
"Train every graph of nash streams (stdin when no FILE is given) on a dataset\n"
"and write the trained graphs, with meta.train, to stdout.\n"
"\n"
"Data:\n"
"  -d, --data SPEC        fashion-mnist (default), mnist:DIR, idx:DIR or DIR (IDX\n"
"                         files, gzip or raw), cifar10:FILE.tar.gz, cifar10:DIR\n"
"      --limit N          only the first N training and N test images\n"
"      --val-split F      move a fraction F of the training images (seeded\n"
"                         shuffle) into a validation split, evaluated each epoch\n"
"      --crop N           random crop after zero padding of N pixels\n"
"                         (default 2, CIFAR-10 4; 0: none)\n"
"      --flip, --no-flip  random horizontal flips (default: CIFAR-10 and\n"
"                         Fashion-MNIST, not digits)\n"
"Optimisation:\n"
"  -e, --epochs N         epochs (default 15)\n"
"  -b, --batch N          batch size (default 128)\n"
"  -o, --optimizer NAME   sgd (default), adam or adamw\n"
"      --lr X             peak learning rate (default 0.1; Adam 0.001)\n"
"      --momentum X       SGD momentum (default 0.9)\n"
"      --nesterov, --no-nesterov  Nesterov momentum (default on)\n"
"      --wd X             weight decay (default 5e-4; adam 0, adamw 0.01);\n"
"                         learned quantizer scales are never decayed\n"
"      --schedule S       cosine (default), const, or step:EPOCHS[:GAMMA]\n"
"      --min-lr X         the rate cosine ends at (default 0)\n"
"      --warmup EPOCHS    linear warm-up (default 0; fractions allowed)\n"
"      --clip NORM        clip the gradients' global L2 norm (default: off)\n"
"      --label-smoothing E  label smoothing in [0, 1) (default 0)\n"
"      --eval-every N     evaluate the test split every N epochs (default 1;\n"
"                         0: after the last epoch only)\n"
"Run:\n"
"  -j, --threads N        threads (default 0: every core)\n"
"  -s, --seed N           seed of the data order and augmentation (default 1);\n"
"                         one thread and one seed give a bit-identical output\n"
"  -c, --checkpoint FILE  write the training state to FILE (atomically) at\n"
"                         the start, after every epoch and on SIGTERM/SIGINT\n"
"  -r, --resume           continue from --checkpoint FILE\n"
"      --progress         a progress bar even when stderr is not a terminal\n"
"  -q, --quiet            no progress, no per-epoch lines, no warnings\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"Search (--search; see SEARCH in nash-train(1)):\n"
"      --search           search NASH supernets (nash-gen --nash vN --search) and\n"
"                         write the derived networks; defaults become the\n"
"                         reference's: 200 epochs (ResNet34: 100), batch 64,\n"
"                         SGD lr 0.025 cosine to 0, momentum 0.9 (plain), wd\n"
"                         3e-4, clip 5; --epochs, --batch, --lr, --min-lr,\n"
"                         --momentum, --wd, --clip change them\n"
"      --relax R          sample (default: one sampled path forward, every\n"
"                         candidate in the alpha gradient) or softmax (DARTS)\n"
"      --split F          training images for the weights (0.5), the rest\n"
"                         trains alpha\n"
"      --steps N          at most N steps per epoch\n"
"      --arch-lr X        Adam on alpha: rate (3e-4)\n"
"      --arch-betas B1,B2 Adam's betas (0,0.999)\n"
"      --arch-wd X        alpha's weight decay (1e-3)\n"
"      --arch-every K     an alpha step every K steps (default 1)\n"
"      --arch-precision P the alpha step's gate evaluation and backward-data\n"
"                         convolutions: auto (default: bf16 where the CPU has\n"
"                         bfloat16 dot products, else f32), bf16 or f32\n"
"      --temperature T    p = softmax(alpha / T) (default 1)\n"
"      --hw-weight L      add L x the expected hardware cost (over the largest\n"
"                         candidate's) to the alpha loss (default 0)\n"
"      --hw-cost C        lut (default), bram, dsp, cycles or macs\n"
"      --hw-part P        FPGA part or board of the cost (default xczu7ev)\n"
"      --hw-clock MHZ     (default 200)   --hw-fps N  folding target (3000)\n"
"      --hw-bits W,A[,S]  weight, activation and adder bits costed (2,2,8)\n"
"      --eval-images N    images of each epoch's evaluation (2000; 0: all)\n"
"      --derive V         derivation rules v1, v2, v3 or v4 (default: the\n"
"                         supernet's version)\n"
"      --max-skip N       at most N skip_connect winners per stage\n"
"      --genotype G       write the network of genotype G instead (checked\n"
"                         against the supernet)\n"
"      --derive-only      no search: derive from the alphas as they are\n"
"      --inherit-weights  the derived network keeps the supernet's weights\n"
"                         (default: fresh initialisation from --seed)\n"
"      --keep-supernet    write the searched supernet instead\n"
"\n"
"Exit status: 0 when every graph is trained, 1 on bad data, I/O errors, a\n"
"non-finite loss, or when SIGTERM/SIGINT interrupted the run (after writing\n"
"the checkpoint), 2 on usage errors. See nash-train(1).\n";

static struct {
	const char *data, *ckpt;
	int resume, crop, flip, threads;
	double val_frac;
	int64_t limit;
	int lr_set, wd_set;
	nash_train_opts t;
} opt = {.data = "fashion-mnist", .crop = -1, .flip = -1};

static nash_dataset *data;
static nash_graph **done;    /* finished graphs, for the checkpoint file */
static int ndone;
static nash_graph **ck;      /* the checkpoint read for --resume */
static int nck, ck_done, ck_used;
static long ngraph;
static volatile sig_atomic_t stop_sig;

static void on_signal(int s)
{
	stop_sig = s;
}

static void catch_signals(void)
{
	/* The handler runs on its own stack: oneDNN's JIT kernels may use the
	 * stack pointer as a working register for a moment, and a signal frame
	 * pushed there corrupted the heap (an abort a few percent of the time
	 * when SIGINT/SIGTERM came in the middle of a training step). */
	static char alt[64 * 1024];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND | SA_RESTART | SA_ONSTACK;  /* a second signal ends us at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* A run that failed: the message, and which epoch the checkpoint keeps. */
static void die_stopped(const char *msg, int epoch)
{
	if (opt.ckpt)
		die("%s (checkpoint %s keeps epoch %d)", msg, opt.ckpt, epoch);
	die("%s", msg);
}

/* A run stopped by SIGTERM/SIGINT (its checkpoint already written, if any). */
static void die_interrupted(const nash_graph *g, const char *what, int epoch, int64_t step, int64_t steps)
{
	const char *sn = stop_sig == SIGINT ? "SIGINT" : "SIGTERM";
	if (!opt.ckpt)
		die("graph %s: %s by %s at epoch %d step %lld/%lld; no checkpoint kept (see --checkpoint)", g->name, what,
		    sn, epoch, (long long)step, (long long)steps);
	die("graph %s: %s by %s at epoch %d step %lld/%lld; checkpoint written to %s (continue with --resume)", g->name,
	    what, sn, epoch, (long long)step, (long long)steps, opt.ckpt);
}

/* Write the checkpoint: the finished graphs, then cur (may be NULL). */
static void write_ckpt(nash_graph *cur)
{
	if (!opt.ckpt)
		return;
	nash_err e = {{0}};
	done = realloc(done, sizeof *done * (size_t)(ndone + 1));
	done[ndone] = cur;
	if (nash_ckpt_write(opt.ckpt, done, ndone + (cur != NULL), &e) < 0)
		die("checkpoint %s", e.msg);
}

/* ------------------------------------------------------------- progress */

typedef struct run_ctx {
	nash_progress p;
	nash_graph *g;
	int drawn;
} run_ctx;

static int on_step(void *ctx, nash_trainer *t, int epoch, int64_t step, int n, double loss, double acc)
{
	run_ctx *c = ctx;
	(void)t;
	char buf[256];
	if (nash_progress_step(&c->p, epoch, step, n, loss, acc, buf, sizeof buf) && c->p.bar) {
		fprintf(stderr, "\r%s\033[K", buf);
		c->drawn = 1;
	}
	return stop_sig != 0;
}

static void clear_bar(run_ctx *c)
{
	if (c->drawn) {
		fprintf(stderr, "\r\033[K");
		c->drawn = 0;
	}
}

static int on_epoch(void *ctx, nash_trainer *t, const nash_epoch_stats *s, nash_err *e)
{
	run_ctx *c = ctx;
	(void)e;
	clear_bar(c);
	nash_progress_epoch_start(&c->p);   /* the next epoch's rate starts now */
	if (!tool_quiet) {
		char test[96] = "", val[32] = "", dur[16];
		if (s->test_top1 == s->test_top1)
			snprintf(test, sizeof test, " test %.2f%% top5 %.2f%% test-loss %.4f", s->test_top1, s->test_top5,
			         s->test_loss);
		if (s->val_top1 == s->val_top1)
			snprintf(val, sizeof val, " val %.2f%%", s->val_top1);
		note("graph %s epoch %d/%d loss %.4f train %.2f%%%s%s lr %.4g %.0f img/s %s", c->g->name, s->epoch,
		     opt.t.epochs, s->loss, s->top1, test, val, s->lr, s->images_per_s,
		     nash_fmt_duration(s->seconds, dur));
	}
	if (opt.ckpt) {
		nash_err ce = {{0}};
		if (nash_trainer_checkpoint(t, &ce) < 0)
			die("%s", ce.msg);
		write_ckpt(c->g);
	}
	return 0;
}

/* ------------------------------------------------------------ the graphs */

static void train_one(nash_graph *g, int resumed)
{
	nash_err e = {{0}};
	nash_trainer *t = nash_trainer_new(g, data, &opt.t, &e);
	if (!t)
		die("%s", e.msg);
	if (resumed && nash_trainer_restore(t, &e) < 0)
		die("%s: %s", opt.ckpt, e.msg);
	int64_t steps = nash_trainer_steps(t);
	int64_t left = (int64_t)(opt.t.epochs - nash_trainer_epoch(t)) * steps - nash_trainer_step(t);
	run_ctx c = {.g = g};
	nash_progress_init(&c.p, tool_progress && !tool_quiet, opt.t.epochs, steps, left);
	if (resumed)
		note("graph %s: resuming from %s at epoch %d step %lld/%lld", g->name, opt.ckpt,
		     nash_trainer_epoch(t) + 1, (long long)nash_trainer_step(t), (long long)steps);
	else if (opt.ckpt) {
		if (nash_trainer_checkpoint(t, &e) < 0)
			die("%s", e.msg);
		write_ckpt(g);
	}
	nash_train_hooks h = {&c, on_step, on_epoch};
	int rc = nash_trainer_run(t, &h, &e);
	clear_bar(&c);
	if (rc < 0)
		die_stopped(e.msg, nash_trainer_epoch(t));
	if (rc == 1) {
		if (opt.ckpt) {
			if (nash_trainer_checkpoint(t, &e) < 0)
				die("%s", e.msg);
			write_ckpt(g);
		}
		die_interrupted(g, "interrupted", nash_trainer_epoch(t) + 1, nash_trainer_step(t), steps);
	}
	if (nash_trainer_finish(t, &e) < 0)
		die("%s", e.msg);
	nash_trainer_free(t);
	/* a quantization-aware graph: refresh the integer export (integer
	 * weights, scales, datatypes) from the trained weights */
	if (nash_quant_present(g, NULL) && nash_quant_export(g, &e) < 0)
		die("graph %s: integer export: %s", g->name, e.msg);
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	long k = ngraph++;
	nash_graph *use = g;
	int resumed = 0;
	if (opt.resume && k < nck) {
		nash_graph *c = ck[k];
		if (strcmp(c->name, g->name))
			return nash_fail(e, "%s: graph %ld of the checkpoint is %s but the input's is %s", opt.ckpt, k + 1,
			                 c->name, g->name);
		if (k >= ck_done) {
			char fp[17];
			const char *was = nash_val_as_str(nash_val_path(c->meta, "checkpoint.input"));
			if (nash_graph_fingerprint(g, fp, e) < 0)
				return -1;
			if (!was || strcmp(was, fp))
				return nash_fail(e, "%s: graph %s of the checkpoint was trained from another input graph", opt.ckpt,
				                 g->name);
			resumed = 1;
		}
		use = c;
		ck_used++;
	}
	if (!opt.resume || k >= ck_done)
		train_one(use, resumed);
	else if (nash_train_check_done(use, data, &opt.t, e) < 0) {
		nash_err_prefix(e, "%s: ", opt.ckpt);
		return -1;
	} else
		note("graph %s: trained already (%s)", use->name, opt.ckpt);
	tool_write_graph(use);
	if (opt.ckpt) {
		done = realloc(done, sizeof *done * (size_t)(ndone + 1));
		done[ndone++] = use == g ? nash_graph_copy(g) : use;
		/* a graph the checkpoint holds as finished changes nothing in it;
		 * rewriting now would drop the state of the graph in training */
		if (!(opt.resume && k < ck_done))
			write_ckpt(NULL);
	}
	return 1;   /* written above */
}

/* ======================================================================
 * nash-train --search: the NASH search (lib/search). This block, the
 * "Search" part of the help, the SEARCH_LONG_OPTIONS entry and the three
 * search_* calls in main belong to the search; the rest of the file is
 * the trainer's.
 * ====================================================================== */
#include "search/search.h"

enum { S_SEARCH = OPT_TOOL_BASE + 0x80, S_RELAX, S_SPLIT, S_STEPS, S_ALR, S_ABETAS, S_AWD, S_TEMP, S_HWW,
       S_HWC, S_HWPART, S_HWCLOCK, S_HWFPS, S_HWBITS, S_EVALN, S_DERIVE, S_MAXSKIP, S_GENO, S_DONLY,
       S_INHERIT, S_KEEP, S_AEVERY, S_APREC };
#define SEARCH_LONG_OPTIONS \
	{"search", no_argument, 0, S_SEARCH}, {"relax", required_argument, 0, S_RELAX}, \
	{"split", required_argument, 0, S_SPLIT}, {"steps", required_argument, 0, S_STEPS}, \
	{"arch-lr", required_argument, 0, S_ALR}, {"arch-betas", required_argument, 0, S_ABETAS}, \
	{"arch-wd", required_argument, 0, S_AWD}, {"temperature", required_argument, 0, S_TEMP}, \
	{"hw-weight", required_argument, 0, S_HWW}, {"hw-cost", required_argument, 0, S_HWC}, \
	{"hw-part", required_argument, 0, S_HWPART}, {"hw-clock", required_argument, 0, S_HWCLOCK}, \
	{"hw-fps", required_argument, 0, S_HWFPS}, {"hw-bits", required_argument, 0, S_HWBITS}, \
	{"eval-images", required_argument, 0, S_EVALN}, {"derive", required_argument, 0, S_DERIVE}, \
	{"max-skip", required_argument, 0, S_MAXSKIP}, {"genotype", required_argument, 0, S_GENO}, \
	{"derive-only", no_argument, 0, S_DONLY}, {"inherit-weights", no_argument, 0, S_INHERIT}, \
	{"keep-supernet", no_argument, 0, S_KEEP}, {"arch-every", required_argument, 0, S_AEVERY}, \
	{"arch-precision", required_argument, 0, S_APREC}

static struct {
	int on, derive_only, inherit, keep;
	int given;              /* any search option given */
	nash_search_opts so;    /* hyper-parameters the search options set */
	const char *genotype;
	nash_train_opts saved;  /* the trainer's defaults, to tell given options */
} sopt;

/* Before option parsing: the search starts from its reference defaults;
 * epochs, batch and clip get markers so that given values can be told
 * from the trainer's defaults. */
static void search_mark(nash_train_opts *t)
{
	nash_search_defaults(&sopt.so);
	sopt.so.derive.max_skip = -1;
	sopt.saved = *t;
	t->epochs = t->batch = -1;
	t->clip = -1;
}

/* After option parsing, without --search: the trainer's defaults back. */
static void search_unmark(nash_train_opts *t)
{
	if (sopt.given)
		die_usage("the search options (--relax, --hw-weight, --derive, ...) need --search");
	if (t->epochs < 0)
		t->epochs = sopt.saved.epochs;
	if (t->batch < 0)
		t->batch = sopt.saved.batch;
	if (t->clip < 0)
		t->clip = sopt.saved.clip;
}

static void parse_pair(const char *opt, const char *s, double *a, double *b, double lo, double hi)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", s);
	char *comma = strchr(buf, ',');
	if (!comma)
		die_usage("--%s: '%s' is not two numbers separated by a comma", opt, s);
	*comma = 0;
	*a = tool_float(opt, buf, lo, hi);
	*b = tool_float(opt, comma + 1, lo, hi);
}

/* One search option; 0 if c is none. */
static int search_option(int c)
{
	nash_search_opts *o = &sopt.so;
	switch (c) {
	case S_SEARCH: sopt.on = 1; return 1;
	case S_RELAX:
		o->relax = tool_choice("relax", optarg, (const char *[]){"sample", "softmax", NULL}) == 0
		                   ? NASH_RELAX_SAMPLE : NASH_RELAX_SOFTMAX;
		break;
	case S_SPLIT: o->split = tool_float("split", optarg, 0.01, 0.99); break;
	case S_STEPS: o->steps = tool_int("steps", optarg, 1, 1L << 40); break;
	case S_ALR: o->arch_lr = tool_float("arch-lr", optarg, 0, 1e3); break;
	case S_ABETAS: parse_pair("arch-betas", optarg, &o->arch_beta1, &o->arch_beta2, 0, 0.999999); break;
	case S_AWD: o->arch_wd = tool_float("arch-wd", optarg, 0, 10); break;
	case S_AEVERY: o->arch_every = (int)tool_int("arch-every", optarg, 1, 1000000); break;
	case S_APREC: {
		static const nash_arch_prec prec[] = {NASH_ARCH_AUTO, NASH_ARCH_BF16, NASH_ARCH_F32};
		o->arch_prec = prec[tool_choice("arch-precision", optarg, (const char *[]){"auto", "bf16", "f32", NULL})];
		break;
	}
	case S_TEMP: o->temperature = tool_float("temperature", optarg, 1e-3, 1e3); break;
	case S_HWW: o->hw_weight = tool_float("hw-weight", optarg, 0, 1e6); break;
	case S_HWC:
		if (nash_cost_parse(optarg, &o->cost.kind) < 0)
			die_usage("--hw-cost: '%s' is not lut, bram, dsp, cycles or macs", optarg);
		break;
	case S_HWPART: o->cost.part = optarg; break;
	case S_HWCLOCK: o->cost.clock_mhz = tool_float("hw-clock", optarg, 1, 2000); break;
	case S_HWFPS: o->cost.fps = tool_float("hw-fps", optarg, 1e-3, 1e9); break;
	case S_HWBITS: {
		int w, a, add = o->cost.addbits, n;
		char tail;
		n = sscanf(optarg, "%d,%d%c", &w, &a, &tail);
		if (n != 2 && !(n == 3 && tail == ',' && sscanf(optarg, "%d,%d,%d%c", &w, &a, &add, &tail) == 3))
			die_usage("--hw-bits: '%s' is not W,A or W,A,ADDER (bits of weights, activations, adders)", optarg);
		if (w < 1 || w > 16 || a < 1 || a > 16 || add < 2 || add > 16)
			die_usage("--hw-bits: '%s': weights and activations take 1..16 bits, adders 2..16", optarg);
		o->cost.wbits = w, o->cost.abits = a, o->cost.addbits = add;
		break;
	}
	case S_EVALN: o->eval_images = tool_int("eval-images", optarg, 0, 1L << 40); break;
	case S_DERIVE:
		o->derive.version = nash_version_parse(optarg);
		if (o->derive.version < 0)
			die_usage("--derive: unknown NASH version '%s' (known: v1, v2, v3, v4)", optarg);
		break;
	case S_MAXSKIP: o->derive.max_skip = (int)tool_int("max-skip", optarg, 0, 64); break;
	case S_GENO: sopt.genotype = optarg; break;
	case S_DONLY: sopt.derive_only = 1; break;
	case S_INHERIT: sopt.inherit = 1; break;
	case S_KEEP: sopt.keep = 1; break;
	default: return 0;
	}
	sopt.given = 1;
	return 1;
}

typedef struct search_ctx {
	nash_progress p;
	nash_graph *g;
	int drawn, epochs;
} search_ctx;

static int search_step(void *ctx, nash_search *s, int epoch, int64_t step, int n, double loss, double acc)
{
	search_ctx *c = ctx;
	(void)s;
	if (step == 1)
		nash_progress_epoch_start(&c->p);
	char buf[256];
	if (nash_progress_step(&c->p, epoch, step - 1, n, loss, acc, buf, sizeof buf) && c->p.bar) {
		fprintf(stderr, "\r%s\033[K", buf);
		c->drawn = 1;
	}
	return stop_sig != 0;
}

static char search_fp[17];   /* fingerprint of the input graph in search */

static void search_checkpoint(nash_search *s, nash_graph *g)
{
	nash_err e = {{0}};
	if (nash_search_checkpoint(s, &e) < 0)
		die("%s", e.msg);
	nash_val_set(nash_meta(g, "checkpoint"), "input", nash_val_str(search_fp));
	write_ckpt(g);
}

static int search_epoch(void *ctx, nash_search *s, const nash_search_epoch *st, nash_err *e)
{
	search_ctx *c = ctx;
	(void)e;
	if (c->drawn) {
		fprintf(stderr, "\r\033[K");
		c->drawn = 0;
	}
	if (!tool_quiet) {
		char dur[16], der[48] = "";
		if (st->derived_top1 == st->derived_top1)
			snprintf(der, sizeof der, " derived %.2f%%", st->derived_top1);
		note("graph %s search epoch %d/%d loss %.4f train %.2f%% arch-loss %.4f val-loss %.4f val %.2f%%%s "
		     "entropy %.3f E[cost] %.4g lr %.4g %s", c->g->name, st->epoch, c->epochs, st->loss, st->top1,
		     st->arch_loss, st->val_loss, st->val_top1, der, st->entropy, st->expected_cost, st->lr,
		     nash_fmt_duration(st->seconds, dur));
	}
	if (opt.ckpt)
		search_checkpoint(s, c->g);
	return 0;
}

/* Search one supernet (or only derive) and return what to emit. */
static nash_graph *search_one(nash_graph *g, int resumed)
{
	nash_err e = {{0}};
	nash_search_opts o = sopt.so;
	nash_genotype gt, given;
	if (sopt.genotype && nash_search_genotype(g, sopt.genotype, o.derive.version, &given, &e) < 0)
		die("%s", e.msg);
	nash_supernet sn;
	if (nash_supernet_init(&sn, g, &e) < 0)
		die("%s", e.msg);
	int version = o.derive.version ? o.derive.version : sn.version ? sn.version : 1;
	int deep = strcmp(sn.arch, "resnet34") == 0;
	nash_supernet_free(&sn);
	if (sopt.derive_only) {
		if (nash_search_derive_only(g, &o.derive, &gt, &e) < 0)
			die("%s", e.msg);
	} else {
		if (o.epochs < 0)
			o.epochs = deep ? 100 : 200;   /* the reference's search lengths */
		nash_search *s = nash_search_new(g, data, &o, &e);
		if (!s)
			die("%s", e.msg);
		if (resumed && nash_search_restore(s, &e) < 0)
			die("%s: %s", opt.ckpt, e.msg);
		int64_t steps = nash_search_steps_per_epoch(s);
		int64_t left = (int64_t)(o.epochs - nash_search_epochs_done(s)) * steps - nash_search_step_in_epoch(s);
		search_ctx c = {.g = g, .epochs = o.epochs};
		nash_progress_init(&c.p, tool_progress && !tool_quiet, o.epochs, steps, left);
		if (resumed)
			note("graph %s: resuming the search from %s at epoch %d step %lld/%lld", g->name, opt.ckpt,
			     nash_search_epochs_done(s) + 1, (long long)nash_search_step_in_epoch(s), (long long)steps);
		else if (opt.ckpt)
			search_checkpoint(s, g);
		nash_search_hooks h = {&c, search_step, search_epoch};
		int rc = nash_search_run(s, &h, &e);
		if (c.drawn)
			fprintf(stderr, "\r\033[K");
		if (rc < 0)
			die_stopped(e.msg, nash_search_epochs_done(s));
		if (rc == 1) {
			if (opt.ckpt)
				search_checkpoint(s, g);
			die_interrupted(g, "search interrupted", nash_search_epochs_done(s) + 1, nash_search_step_in_epoch(s),
			                steps);
		}
		if (nash_search_finish(s, &gt, &e) < 0)
			die("%s", e.msg);
		nash_val *m = nash_meta(g, "search");
		if (opt.data)
			nash_val_set(m, "dataset", nash_val_str(opt.data));
		if (opt.limit)
			nash_val_set(m, "limit", nash_val_int(opt.limit));
		nash_search_free(s);
	}
	if (sopt.genotype) {
		char *gs = nash_genotype_format(&given);
		nash_val *m = nash_meta(g, "search");
		nash_val_set(m, "derived_genotype", nash_val_copy(nash_val_get(m, "genotype")));
		nash_val_set(m, "genotype", nash_val_str(gs));
		nash_val_set(m, "genotype_given", nash_val_bool(1));
		free(gs);
		gt = given;
	}
	char *gs = nash_genotype_format(&gt);
	note("graph %s: genotype %s", g->name, gs);
	free(gs);
	nash_graph *out = nash_search_output(g, &gt, version, opt.t.seed, sopt.inherit, sopt.keep, &e);
	if (!out)
		die("%s", e.msg);
	return out;
}

/* A --search checkpoint: the emitted graphs (with meta.search), then the
 * supernet in search (meta.checkpoint, loop "search"). */
static void search_ckpt_read(void)
{
	nash_err e = {{0}};
	struct stat st;
	if (stat(opt.ckpt, &st) < 0)
		die("%s: no checkpoint to resume from", opt.ckpt);
	if ((nck = nash_ckpt_read(opt.ckpt, "search", &ck, &e)) < 0)
		die("%s", e.msg);
	const nash_val *c = nash_val_get(ck[nck - 1]->meta, "checkpoint");
	const char *loop = c ? nash_val_as_str(nash_val_get(c, "loop")) : NULL;
	if (c && (!loop || strcmp(loop, "search")))
		die("%s: graph %s holds the state of another loop than the search: not a nash-train --search checkpoint",
		    opt.ckpt, ck[nck - 1]->name);
	ck_done = c ? nck - 1 : nck;
}

static int search_each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	long k = ngraph++;
	nash_graph *use = g, *out;
	if (opt.resume && k < nck) {
		nash_graph *c = ck[k];
		const char *from = k < ck_done ? nash_val_as_str(nash_val_path(c->meta, "search.supernet")) : c->name;
		if (!from || strcmp(from, g->name))
			return nash_fail(e, "%s: graph %ld of the checkpoint comes from %s but the input's is %s", opt.ckpt,
			                 k + 1, from ? from : "?", g->name);
		ck_used++;
		if (k < ck_done) {
			note("graph %s: searched already (%s)", g->name, opt.ckpt);
			out = c;
			goto emit;
		}
		char fp[17];
		const char *was = nash_val_as_str(nash_val_path(c->meta, "checkpoint.input"));
		if (nash_graph_fingerprint(g, fp, e) < 0)
			return -1;
		if (!was || strcmp(was, fp))
			return nash_fail(e, "%s: graph %s of the checkpoint was searched from another input graph", opt.ckpt,
			                 g->name);
		memcpy(search_fp, fp, sizeof fp);
		use = c;
		out = search_one(use, 1);
	} else {
		if (opt.ckpt && nash_graph_fingerprint(g, search_fp, e) < 0)
			return -1;
		out = search_one(g, 0);
	}
emit:
	tool_write_graph(out);
	if (opt.ckpt) {
		done = realloc(done, sizeof *done * (size_t)(ndone + 1));
		done[ndone++] = out == g ? nash_graph_copy(g) : out;
		write_ckpt(NULL);
	} else if (out != g && out != use)
		nash_graph_free(out);
	return 1;
}

/* nash-train --search: checks, data, the record loop. */
static int search_main(int argc, char **argv, nash_train_opts *t, int lr_set, double lr, double momentum,
                       int wd_set, double wd, nash_optkind kind)
{
	nash_err e = {{0}};
	nash_search_opts *o = &sopt.so;
	if (opt.resume && !opt.ckpt)
		die_usage("--resume needs --checkpoint FILE");
	if (sopt.keep && (sopt.inherit || sopt.genotype))
		die_usage("--keep-supernet emits the supernet: --inherit-weights and --genotype shape a derived network");
	if (sopt.derive_only && opt.resume)
		die_usage("--derive-only runs no search to resume");
	if (kind != NASH_OPT_SGD)
		warn("--optimizer is ignored with --search (weights: SGD, alpha: Adam)");
	if (o->arch_prec == NASH_ARCH_BF16 && !nash_bf16_native())
		warn("--arch-precision bf16: this CPU has no bfloat16 dot products; oneDNN emulates them, slower than f32");
	o->epochs = t->epochs;          /* -1: per architecture, see search_one */
	if (t->batch > 0)
		o->batch = t->batch;
	if (t->clip >= 0)
		o->clip = t->clip;
	if (lr_set)
		o->lr = lr;
	if (wd_set)
		o->wd = wd;
	o->momentum = momentum;
	o->min_lr = t->min_lr;
	if (o->min_lr > o->lr)
		die_usage("--min-lr %g is above the search's --lr %g", o->min_lr, o->lr);
	o->threads = t->threads;
	o->seed = t->seed;
	tool_stdout_binary();
	if (opt.resume)
		search_ckpt_read();
	if (!sopt.derive_only) {
		data = nash_dataset_load(opt.data, opt.limit, opt.val_frac, t->seed, &e);
		if (!data)
			die("%s", e.msg);
		o->aug.crop_pad = opt.crop >= 0 ? opt.crop : data->h >= 32 ? 4 : 2;
		o->aug.flip = opt.flip >= 0 ? opt.flip : data->flip;
		o->dataset = opt.data;
	}
	catch_signals();
	tool_each_graph(argv + optind, argc - optind, search_each, NULL, 1);
	if (opt.resume && ck_used < nck)
		warn("%s holds %d graphs, the input only %d", opt.ckpt, nck, ck_used);
	nash_dataset_free(data);
	return 0;
}
/* ========================================== end of the search's block */

int main(int argc, char **argv)
{
	enum { O_LIMIT = OPT_TOOL_BASE, O_VAL, O_CROP, O_FLIP, O_NOFLIP, O_LR, O_MOM, O_NEST, O_NONEST, O_WD,
	       O_SCHED, O_MINLR, O_WARM, O_CLIP, O_SMOOTH, O_EVERY };
	static const struct option lo[] = {
		{"data", required_argument, 0, 'd'}, {"limit", required_argument, 0, O_LIMIT},
		{"val-split", required_argument, 0, O_VAL}, {"crop", required_argument, 0, O_CROP},
		{"flip", no_argument, 0, O_FLIP}, {"no-flip", no_argument, 0, O_NOFLIP},
		{"epochs", required_argument, 0, 'e'}, {"batch", required_argument, 0, 'b'},
		{"optimizer", required_argument, 0, 'o'}, {"optimiser", required_argument, 0, 'o'},
		{"lr", required_argument, 0, O_LR}, {"momentum", required_argument, 0, O_MOM},
		{"nesterov", no_argument, 0, O_NEST}, {"no-nesterov", no_argument, 0, O_NONEST},
		{"wd", required_argument, 0, O_WD}, {"weight-decay", required_argument, 0, O_WD},
		{"schedule", required_argument, 0, O_SCHED}, {"min-lr", required_argument, 0, O_MINLR},
		{"warmup", required_argument, 0, O_WARM}, {"clip", required_argument, 0, O_CLIP},
		{"label-smoothing", required_argument, 0, O_SMOOTH}, {"eval-every", required_argument, 0, O_EVERY},
		{"threads", required_argument, 0, 'j'}, {"seed", required_argument, 0, 's'},
		{"checkpoint", required_argument, 0, 'c'}, {"resume", no_argument, 0, 'r'},
		SEARCH_LONG_OPTIONS,
		TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	nash_train_opts *t = &opt.t;
	nash_train_defaults(t);
	search_mark(t);
	nash_optkind kind = NASH_OPT_SGD;
	int nesterov = 1;
	double momentum = 0.9, lr = 0, wd = 0;
	nash_err e = {{0}};
	int c;
	tool_init("nash-train", argc, argv);
	while ((c = getopt_long(argc, argv, "d:e:b:o:j:s:c:rqh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'd': opt.data = optarg; break;
		case O_LIMIT: opt.limit = tool_int("limit", optarg, 1, 1L << 40); break;
		case O_VAL: opt.val_frac = tool_float("val-split", optarg, 0, 0.99); break;
		case O_CROP: opt.crop = (int)tool_int("crop", optarg, 0, 64); break;
		case O_FLIP: opt.flip = 1; break;
		case O_NOFLIP: opt.flip = 0; break;
		case 'e': t->epochs = (int)tool_int("epochs", optarg, 1, 100000); break;
		case 'b': t->batch = (int)tool_int("batch", optarg, 1, 65536); break;
		case 'o':
			if (nash_optkind_parse(optarg, &kind) < 0)
				die_usage("--optimizer: unknown optimiser '%s' (sgd, adam or adamw)", optarg);
			break;
		case O_LR: lr = tool_float("lr", optarg, 1e-12, 1e12); opt.lr_set = 1; break;
		case O_MOM: momentum = tool_float("momentum", optarg, 0, 0.999999); break;
		case O_NEST: nesterov = 1; break;
		case O_NONEST: nesterov = 0; break;
		case O_WD: wd = tool_float("wd", optarg, 0, 10); opt.wd_set = 1; break;
		case O_SCHED:
			if (nash_sched_parse(optarg, &t->sched, &t->step_epochs, &t->gamma, &e) < 0)
				die_usage("--schedule: %s", e.msg);
			break;
		case O_MINLR: t->min_lr = tool_float("min-lr", optarg, 0, 100); break;
		case O_WARM: t->warmup = tool_float("warmup", optarg, 0, 100000); break;
		case O_CLIP: t->clip = tool_float("clip", optarg, 0, 1e12); break;
		case O_SMOOTH: t->smoothing = tool_float("label-smoothing", optarg, 0, 0.999); break;
		case O_EVERY: t->eval_every = (int)tool_int("eval-every", optarg, 0, 100000); break;
		case 'j': t->threads = (int)tool_int("threads", optarg, 0, 1024); break;
		case 's': t->seed = (uint64_t)tool_int("seed", optarg, 0, 1L << 62); break;
		case 'c': opt.ckpt = optarg; break;
		case 'r': opt.resume = 1; break;
		case 'q': tool_quiet = 1; tool_progress = 0; break;
		default:
			if (!search_option(c))
				die_usage("unknown option");
		}
	}
	if (sopt.on)
		return search_main(argc, argv, t, opt.lr_set, lr, momentum, opt.wd_set, wd, kind);
	search_unmark(t);
	if (opt.resume && !opt.ckpt)
		die_usage("--resume needs --checkpoint FILE");
	if (t->warmup > t->epochs)
		die_usage("--warmup %g is longer than the %d epochs", t->warmup, t->epochs);
	nash_optim_defaults(&t->optim, kind);
	t->optim.nesterov = nesterov;
	t->optim.momentum = momentum;
	t->optim.wd = opt.wd_set ? wd : kind == NASH_OPT_SGD ? 5e-4 : kind == NASH_OPT_ADAMW ? 0.01 : 0;
	t->lr = opt.lr_set ? lr : kind == NASH_OPT_SGD ? 0.1 : 1e-3;
	if (t->min_lr > t->lr)
		die_usage("--min-lr %g is above --lr %g", t->min_lr, t->lr);
	tool_stdout_binary();

	if (opt.resume) {
		struct stat st;
		if (stat(opt.ckpt, &st) < 0)
			die("%s: no checkpoint to resume from", opt.ckpt);
		if ((nck = nash_ckpt_read(opt.ckpt, "train", &ck, &e)) < 0)
			die("%s", e.msg);
		ck_done = nash_val_get(ck[nck - 1]->meta, "checkpoint") ? nck - 1 : nck;
	}
	data = nash_dataset_load(opt.data, opt.limit, opt.val_frac, t->seed, &e);
	if (!data)
		die("%s", e.msg);
	t->aug.crop_pad = opt.crop >= 0 ? opt.crop : data->h >= 32 ? 4 : 2;
	t->aug.flip = opt.flip >= 0 ? opt.flip : data->flip;
	t->dataset = opt.data;
	t->limit = opt.limit;
	t->val_frac = opt.val_frac;
	catch_signals();
	tool_each_graph(argv + optind, argc - optind, each, NULL, 1);
	if (opt.resume && ck_used < nck)
		warn("%s holds %d graphs, the input only %d", opt.ckpt, nck, ck_used);
	nash_dataset_free(data);
	return 0;
}
