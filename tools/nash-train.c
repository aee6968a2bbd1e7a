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
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND | SA_RESTART;  /* a second signal ends us at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
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
	if (rc < 0) {
		if (opt.ckpt)
			die("%s (checkpoint %s keeps epoch %d)", e.msg, opt.ckpt, nash_trainer_epoch(t));
		die("%s", e.msg);
	}
	if (rc == 1) {
		const char *sn = stop_sig == SIGINT ? "SIGINT" : "SIGTERM";
		int ep = nash_trainer_epoch(t) + 1;
		long long st = (long long)nash_trainer_step(t);
		if (!opt.ckpt)
			die("graph %s: interrupted by %s at epoch %d step %lld/%lld; no checkpoint kept (see --checkpoint)",
			    g->name, sn, ep, st, (long long)steps);
		if (nash_trainer_checkpoint(t, &e) < 0)
			die("%s", e.msg);
		write_ckpt(g);
		die("graph %s: interrupted by %s at epoch %d step %lld/%lld; checkpoint written to %s (continue with --resume)",
		    g->name, sn, ep, st, (long long)steps, opt.ckpt);
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
		TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	nash_train_opts *t = &opt.t;
	nash_train_defaults(t);
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
		default: die_usage("unknown option");
		}
	}
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
