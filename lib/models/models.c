/* models.c - ResNet, BNN-PYNQ and NASH builders. */
#include "models/models.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const nash_archs[] = {"resnet18", "resnet34", "cnv", "lfc", "sfc", "tfc", NULL};

static const char *const opnames[NASH_NOPS] = {
	"none", "max_pool_3x3", "skip_connect", "conv_1x1", "conv_3x3", "conv_5x5"
};

const char *nash_op_name(int op)
{
	return op >= 0 && op < NASH_NOPS ? opnames[op] : "?";
}

int nash_op_parse(const char *s)
{
	static const struct { const char *alias; int op; } al[] = {
		{"-", NASH_OP_NONE}, {"mp", NASH_OP_MAXPOOL}, {"pool", NASH_OP_MAXPOOL},
		{"sk", NASH_OP_SKIP}, {"skip", NASH_OP_SKIP}, {"c1", NASH_OP_CONV1},
		{"c3", NASH_OP_CONV3}, {"c5", NASH_OP_CONV5}, {NULL, 0}
	};
	for (int i = 0; i < NASH_NOPS; i++)
		if (strcmp(s, opnames[i]) == 0)
			return i;
	for (int i = 0; al[i].alias; i++)
		if (strcmp(s, al[i].alias) == 0)
			return al[i].op;
	return -1;
}

int nash_version_ops(int version, int *ops)
{
	if (version == 4) {
		ops[0] = NASH_OP_NONE;
		ops[1] = NASH_OP_CONV1;
		ops[2] = NASH_OP_CONV3;
		ops[3] = NASH_OP_CONV5;
		return 4;
	}
	for (int i = 0; i < NASH_NOPS; i++)
		ops[i] = i;
	return NASH_NOPS;
}

int nash_cellplan_get(const char *arch, nash_cellplan *p, nash_err *e)
{
	memset(p, 0, sizeof *p);
	if (strcmp(arch, "resnet18") == 0) {
		/* 4 stages of 2 blocks: one cell per stage, 4 nodes each */
		p->ncells = 4;
		for (int c = 0; c < 4; c++) {
			p->nodes[c] = 4;
			p->down[c] = c > 0;
			p->stage[c] = c;
		}
		return 0;
	}
	if (strcmp(arch, "resnet34") == 0) {
		/* 3/4/6/3 blocks split into runs of 3,2,2,3,3,3 blocks */
		static const int blocks[] = {3, 2, 2, 3, 3, 3}, stage[] = {0, 1, 1, 2, 2, 3};
		p->ncells = 6;
		for (int c = 0; c < 6; c++) {
			p->nodes[c] = 2 * blocks[c];
			p->stage[c] = stage[c];
			p->down[c] = c > 0 && stage[c] != stage[c - 1];
		}
		return 0;
	}
	return nash_fail(e, "%s has no NASH cells (only resnet18 and resnet34 do)", arch);
}

/* ------------------------------------------------------------ genotype */
int nash_genotype_parse(const char *s, const nash_cellplan *plan, int version,
                        nash_genotype *out, nash_err *e)
{
	memset(out, 0, sizeof *out);
	char *copy = nash_strdup(s), *save1 = NULL;
	int rc = 0;
	for (char *cell = strtok_r(copy, "/", &save1); cell && rc == 0; cell = strtok_r(NULL, "/", &save1)) {
		if (out->ncells >= NASH_MAXCELLS) {
			rc = nash_fail(e, "genotype: more than %d cells", NASH_MAXCELLS);
			break;
		}
		int c = out->ncells++;
		char *save2 = NULL;
		for (char *node = strtok_r(cell, ",", &save2); node && rc == 0; node = strtok_r(NULL, ",", &save2)) {
			while (*node == ' ')
				node++;
			if (out->nnodes[c] >= NASH_MAXNODES) {
				rc = nash_fail(e, "genotype: cell %d has more than %d nodes", c, NASH_MAXNODES);
				break;
			}
			int i = out->nnodes[c]++;
			char *at = strchr(node, '@');
			if (at)
				*at = 0;
			int op = nash_op_parse(node);
			if (op < 0) {
				rc = nash_fail(e, "genotype: cell %d node %d: unknown operation '%s' (known: none, max_pool_3x3, skip_connect, conv_1x1, conv_3x3, conv_5x5)",
				               c, i, node);
				break;
			}
			int from = -1;
			if (op != NASH_OP_NONE) {
				char *end;
				if (!at || !at[1] || (from = (int)strtol(at + 1, &end, 10), *end) || from < 0) {
					rc = nash_fail(e, "genotype: cell %d node %d: '%s' needs @STATE (the state it reads, 0..%d)",
					               c, i, node, i);
					break;
				}
				if (from > i) {
					rc = nash_fail(e, "genotype: cell %d node %d: state %d is not earlier than the node (0..%d)",
					               c, i, from, i);
					break;
				}
			} else if (at) {
				rc = nash_fail(e, "genotype: cell %d node %d: none takes no @STATE", c, i);
				break;
			}
			out->g[c][i].op = op;
			out->g[c][i].from = from;
		}
	}
	free(copy);
	if (rc < 0)
		return -1;
	if (out->ncells == 0)
		return nash_fail(e, "genotype: empty");
	if (plan) {
		if (out->ncells != plan->ncells)
			return nash_fail(e, "genotype has %d cells, the backbone has %d", out->ncells, plan->ncells);
		for (int c = 0; c < plan->ncells; c++)
			if (out->nnodes[c] != plan->nodes[c])
				return nash_fail(e, "genotype cell %d has %d nodes, the backbone's cell %d has %d",
				                 c, out->nnodes[c], c, plan->nodes[c]);
	}
	if (version > 0) {
		int ops[NASH_NOPS], n = nash_version_ops(version, ops);
		for (int c = 0; c < out->ncells; c++)
			for (int i = 0; i < out->nnodes[c]; i++) {
				int ok = 0;
				for (int k = 0; k < n; k++)
					ok |= ops[k] == out->g[c][i].op;
				if (!ok)
					return nash_fail(e, "genotype cell %d node %d: %s is not in v%d's operation space",
					                 c, i, nash_op_name(out->g[c][i].op), version);
				if (version == 2 && plan && plan->down[c] && out->g[c][i].from == 0 &&
				    (out->g[c][i].op == NASH_OP_MAXPOOL || out->g[c][i].op == NASH_OP_SKIP))
					return nash_fail(e, "genotype cell %d node %d: v2 allows only convs on the stride-2 edges from state 0",
					                 c, i);
			}
	}
	return 0;
}

char *nash_genotype_format(const nash_genotype *g)
{
	size_t cap = 64, n = 0;
	char *s = nash_realloc(NULL, cap);
	s[0] = 0;
	for (int c = 0; c < g->ncells; c++)
		for (int i = 0; i < g->nnodes[c]; i++) {
			char piece[48];
			const nash_gene *x = &g->g[c][i];
			int len = x->op == NASH_OP_NONE
			          ? snprintf(piece, sizeof piece, "%s%s", i == 0 && c ? "/" : i ? "," : "", "none")
			          : snprintf(piece, sizeof piece, "%s%s@%d", i == 0 && c ? "/" : i ? "," : "",
			                     nash_op_name(x->op), x->from);
			if (n + (size_t)len + 1 > cap) {
				cap = 2 * cap + (size_t)len;
				s = nash_realloc(s, cap);
			}
			memcpy(s + n, piece, (size_t)len + 1);
			n += (size_t)len;
		}
	return s;
}

/* ------------------------------------------------------------- builder */
typedef struct {
	nash_graph *g;
	uint64_t seed;
	int version;
	char **names;   /* arena of strings freed at the end */
	int nnames;
} B;

static const char *S(B *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *S(B *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = nash_strdup("?");
	va_end(ap);
	b->names = nash_realloc(b->names, (size_t)(b->nnames + 1) * sizeof *b->names);
	b->names[b->nnames++] = s;
	return s;
}

void nash_model_init_tensor(nash_tensor *t, uint64_t seed)
{
	nash_rng r;
	nash_rng_seed(&r, seed ^ nash_hash(t->name));
	int64_t n = nash_tensor_numel(t);
	float *p = t->data;
	const char *dot = strrchr(t->name, '.');
	const char *suf = dot ? dot + 1 : t->name;
	if (t->dtype != NASH_F32)
		return;
	if (strcmp(suf, "weight") == 0 && t->ndim == 4) {
		/* Kaiming normal, fan_out, gain sqrt(2) (torchvision's ResNet init) */
		double std = sqrt(2.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
		for (int64_t i = 0; i < n; i++)
			p[i] = (float)(std * nash_rng_normal(&r));
	} else if (strcmp(suf, "weight") == 0 && t->ndim == 2) {
		double a = 1.0 / sqrt((double)t->shape[1]);
		for (int64_t i = 0; i < n; i++)
			p[i] = (float)(a * (2.0 * nash_rng_uniform(&r) - 1.0));
	} else if (strcmp(suf, "scale") == 0 || strcmp(suf, "var") == 0) {
		for (int64_t i = 0; i < n; i++)
			p[i] = 1.0f;
	} else
		memset(p, 0, (size_t)n * sizeof *p);
}

static void param(B *b, const char *name, int ndim, const int64_t *shape)
{
	nash_tensor *t = nash_tensor_add(b->g, name, NASH_F32, ndim, shape);
	nash_model_init_tensor(t, b->seed);
}

static void tag(nash_node *n, const char *role, int cell)
{
	nash_attr_set_str(n, "role", role);
	if (cell >= 0)
		nash_attr_set_int(n, "cell", cell);
}

static const char *conv(B *b, const char *name, const char *x, int cin, int cout, int k,
                        int stride, const int64_t *pads, const char *role, int cell)
{
	const char *w = S(b, "%s.weight", name);
	int64_t ws[] = {cout, cin, k, k};
	param(b, w, 4, ws);
	nash_node *n = nash_node_add(b->g, "Conv", name, (const char *[]){x, w, NULL},
	                             (const char *[]){name, NULL});
	int64_t p = k / 2, defp[] = {p, p, p, p};
	nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){stride, stride});
	nash_attr_set_ints(n, "pads", 4, pads ? pads : defp);
	nash_attr_set_ints(n, "dilations", 2, (int64_t[]){1, 1});
	nash_attr_set_int(n, "group", 1);
	tag(n, role, cell);
	return name;
}

static const char *bnorm(B *b, const char *name, const char *x, int c, const char *role, int cell)
{
	static const char *const suf[] = {"scale", "bias", "mean", "var"};
	const char *in[6] = {x};
	int64_t s[] = {c};
	for (int i = 0; i < 4; i++) {
		in[i + 1] = S(b, "%s.%s", name, suf[i]);
		param(b, in[i + 1], 1, s);
	}
	in[5] = NULL;
	nash_node *n = nash_node_add(b->g, "BatchNormalization", name, in, (const char *[]){name, NULL});
	nash_attr_set_float(n, "epsilon", 1e-5);
	nash_attr_set_float(n, "momentum", 0.9);
	tag(n, role, cell);
	return name;
}

static const char *unary(B *b, const char *op, const char *name, const char *x, const char *role, int cell)
{
	nash_node *n = nash_node_add(b->g, op, name, (const char *[]){x, NULL}, (const char *[]){name, NULL});
	if (strcmp(op, "HardTanh") == 0) {
		nash_attr_set_float(n, "min_val", -1.0);
		nash_attr_set_float(n, "max_val", 1.0);
	}
	tag(n, role, cell);
	return name;
}

static const char *add(B *b, const char *name, const char *x, const char *y, int cell)
{
	nash_node *n = nash_node_add(b->g, "Add", name, (const char *[]){x, y, NULL},
	                             (const char *[]){name, NULL});
	tag(n, "adder", cell);
	return name;
}

static const char *maxpool(B *b, const char *name, const char *x, int k, int s, int p,
                           const char *role, int cell)
{
	nash_node *n = nash_node_add(b->g, "MaxPool", name, (const char *[]){x, NULL},
	                             (const char *[]){name, NULL});
	nash_attr_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){s, s});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){p, p, p, p});
	tag(n, role, cell);
	return name;
}

static const char *gemm(B *b, const char *name, const char *out, const char *x, int k, int m,
                        int bias, const char *role)
{
	const char *w = S(b, "%s.weight", name), *bs = S(b, "%s.bias", name);
	int64_t ws[] = {m, k}, bsh[] = {m};
	param(b, w, 2, ws);
	if (bias)
		param(b, bs, 1, bsh);
	nash_node *n = nash_node_add(b->g, "Gemm", name, (const char *[]){x, w, bias ? bs : NULL, NULL},
	                             (const char *[]){out, NULL});
	nash_attr_set_int(n, "transB", 1);
	tag(n, role, -1);
	return out;
}

/* One candidate operation on an edge; returns its output tensor, "" for none. */
static const char *edge_op(B *b, int op, const char *pre, const char *x, int cin, int cout,
                           int stride, int cell, nash_err *e)
{
	const char *on = nash_op_name(op);
	switch (op) {
	case NASH_OP_NONE:
		return "";
	case NASH_OP_MAXPOOL: {
		const char *y = maxpool(b, S(b, "%s.%s.pool", pre, on), x, 3, stride, 1, "nas", cell);
		if (cin != cout) {
			nash_node *n;
			if (b->version == 2) {
				/* v2: the stride-2 pool does not duplicate channels: zero channels */
				const char *nm = S(b, "%s.%s.pad", pre, on);
				n = nash_node_add(b->g, "Pad", nm, (const char *[]){y, NULL}, (const char *[]){nm, NULL});
				nash_attr_set_ints(n, "pads", 8, (int64_t[]){0, 0, 0, 0, 0, cout - cin, 0, 0});
				nash_attr_set_float(n, "value", 0.0);
				y = nm;
			} else {
				if (cout != 2 * cin) {
					nash_fail(e, "%s: max_pool_3x3 cannot map %d to %d channels", pre, cin, cout);
					return NULL;
				}
				const char *nm = S(b, "%s.%s.dup", pre, on);
				n = nash_node_add(b->g, "Concat", nm, (const char *[]){y, y, NULL}, (const char *[]){nm, NULL});
				nash_attr_set_int(n, "axis", 1);
				y = nm;
			}
			tag(n, "nas", cell);
		}
		return bnorm(b, S(b, "%s.%s.bn", pre, on), y, cout, "nas", cell);
	}
	case NASH_OP_SKIP: {
		if (stride == 1 && cin == cout)
			return x;
		/* factorised reduce: two 1x1/2 convs, on x and on x shifted by one
		 * pixel, concatenated on channels, then BN */
		int ca = cout / 2, cb = cout - ca;
		const char *a = conv(b, S(b, "%s.%s.conv_a", pre, on), x, cin, ca, 1, stride, NULL, "nas", cell);
		const char *sn = S(b, "%s.%s.shift", pre, on);
		nash_node *n = nash_node_add(b->g, "Slice", sn, (const char *[]){x, NULL}, (const char *[]){sn, NULL});
		nash_attr_set_ints(n, "starts", 2, (int64_t[]){1, 1});
		nash_attr_set_ints(n, "ends", 2, (int64_t[]){INT32_MAX, INT32_MAX});
		nash_attr_set_ints(n, "axes", 2, (int64_t[]){2, 3});
		tag(n, "nas", cell);
		int64_t pads[] = {0, 0, 1, 1};
		const char *c2 = conv(b, S(b, "%s.%s.conv_b", pre, on), sn, cin, cb, 1, stride, pads, "nas", cell);
		const char *cn = S(b, "%s.%s.cat", pre, on);
		n = nash_node_add(b->g, "Concat", cn, (const char *[]){a, c2, NULL}, (const char *[]){cn, NULL});
		nash_attr_set_int(n, "axis", 1);
		tag(n, "nas", cell);
		return bnorm(b, S(b, "%s.%s.bn", pre, on), cn, cout, "nas", cell);
	}
	default: {
		int k = op == NASH_OP_CONV1 ? 1 : op == NASH_OP_CONV3 ? 3 : 5;
		const char *y = conv(b, S(b, "%s.%s.conv", pre, on), x, cin, cout, k, stride, NULL, "nas", cell);
		return bnorm(b, S(b, "%s.%s.bn", pre, on), y, cout, "nas", cell);
	}
	}
}

static const char *choice(B *b, const char *pre, const char *x, int cin, int cout, int stride,
                          int cell, int node, int from, nash_err *e)
{
	int ops[NASH_NOPS], k = nash_version_ops(b->version, ops);
	const char *in[NASH_NOPS + 2];
	for (int i = 0; i < k; i++) {
		in[i] = edge_op(b, ops[i], pre, x, cin, cout, stride, cell, e);
		if (!in[i])
			return NULL;
	}
	const char *alpha = S(b, "%s.alpha", pre);
	int64_t as[] = {k};
	param(b, alpha, 1, as);
	in[k] = alpha;
	in[k + 1] = NULL;
	nash_node *n = nash_node_add(b->g, "Choice", pre, in, (const char *[]){pre, NULL});
	nash_val *names = nash_val_arr();
	for (int i = 0; i < k; i++)
		nash_val_push(names, nash_val_str(nash_op_name(ops[i])));
	nash_val_set(n->attr, "ops", names);
	tag(n, "nas", cell);
	nash_attr_set_int(n, "node", node);
	nash_attr_set_int(n, "from", from);
	nash_attr_set_int(n, "stride", stride);
	return pre;
}

static int resnet(B *b, const nash_model_opts *o, int in_c, int in_h, int classes, int small,
                  const nash_genotype *gt, nash_err *e)
{
	nash_cellplan plan;
	nash_cellplan_get(o->arch, &plan, e);
	int w = o->width;
	const char *x = "input";
	/* stem */
	if (small) {
		x = conv(b, "stem.conv", x, in_c, w, 3, 1, NULL, "stem", -1);
		x = bnorm(b, "stem.bn", x, w, "stem", -1);
		x = unary(b, "Relu", "stem.relu", x, "stem", -1);
	} else {
		x = conv(b, "stem.conv", x, in_c, w, 7, 2, NULL, "stem", -1);
		if (o->ref_style) {
			/* reference code: the pool comes before BN and activation */
			x = maxpool(b, "stem.pool", x, 3, 2, 1, "stem", -1);
			x = bnorm(b, "stem.bn", x, w, "stem", -1);
			x = unary(b, "Relu", "stem.relu", x, "stem", -1);
		} else {
			x = bnorm(b, "stem.bn", x, w, "stem", -1);
			x = unary(b, "Relu", "stem.relu", x, "stem", -1);
			x = maxpool(b, "stem.pool", x, 3, 2, 1, "stem", -1);
		}
	}
	(void)in_h;
	int cin = w, block_in_stage = 0, prev_stage = -1;
	for (int c = 0; c < plan.ncells; c++) {
		int st = plan.stage[c], cout = w << st, n = plan.nodes[c];
		if (st != prev_stage) {
			block_in_stage = 0;
			prev_stage = st;
		}
		const char *states[NASH_MAXNODES + 1];
		int ch[NASH_MAXNODES + 1];
		states[0] = x;
		ch[0] = cin;
		for (int i = 0; i < n; i++) {
			int blk = block_in_stage + i / 2, second = i % 2;
			int stride = plan.down[c] && i == 0 ? 2 : 1;
			const char *lp = S(b, "layer%d.%d", st + 1, blk);
			const char *terms[NASH_MAXNODES + 3];
			int nt = 0;
			const char *y = conv(b, S(b, "%s.conv%d", lp, second + 1), states[i], ch[i], cout, 3,
			                     stride, NULL, "backbone", c);
			terms[nt++] = bnorm(b, S(b, "%s.bn%d", lp, second + 1), y, cout, "backbone", c);
			if (second) {
				const char *bin = states[i - 1];
				int need_ds = (st > 0 && blk == 0) || (o->ref_style && st == 0 && blk == 0);
				if (need_ds) {
					int s = st > 0 ? 2 : 1;
					const char *d = conv(b, S(b, "%s.downsample.conv", lp), bin, ch[i - 1], cout, 1, s,
					                     NULL, "downsample", c);
					bin = bnorm(b, S(b, "%s.downsample.bn", lp), d, cout, "downsample", c);
				}
				terms[nt++] = bin;
			}
			if (o->search) {
				for (int j = 0; j <= i; j++) {
					int es = plan.down[c] && j == 0 ? 2 : 1;
					const char *t = choice(b, S(b, "cell%d.n%d.e%d", c, i, j), states[j], ch[j], cout,
					                       es, c, i, j, e);
					if (!t)
						return -1;
					terms[nt++] = t;
				}
			} else if (gt) {
				const nash_gene *gn = &gt->g[c][i];
				if (gn->op != NASH_OP_NONE) {
					int j = gn->from, es = plan.down[c] && j == 0 ? 2 : 1;
					const char *t = edge_op(b, gn->op, S(b, "cell%d.n%d.e%d", c, i, j), states[j], ch[j],
					                        cout, es, c, e);
					if (!t)
						return -1;
					terms[nt++] = t;
				}
			}
			/* the sum as a cascade of two-input adds */
			const char *acc = terms[0];
			for (int k = 1; k < nt; k++) {
				const char *an = second && k == 1 ? S(b, "%s.add", lp) : S(b, "cell%d.n%d.add%d", c, i, k);
				acc = add(b, an, acc, terms[k], c);
			}
			states[i + 1] = unary(b, "Relu", S(b, "%s.relu%d", lp, second + 1), acc, "backbone", c);
			ch[i + 1] = cout;
		}
		x = states[n];
		cin = cout;
		block_in_stage += n / 2;
	}
	x = unary(b, "GlobalAveragePool", "head.pool", x, "head", -1);
	nash_node *f = nash_node_add(b->g, "Flatten", "head.flatten", (const char *[]){x, NULL},
	                             (const char *[]){"head.flatten", NULL});
	nash_attr_set_int(f, "axis", 1);
	tag(f, "head", -1);
	gemm(b, "head.fc", "logits", "head.flatten", cin, classes, !o->ref_style, "head");
	return 0;
}

/* BNN-PYNQ CNV: 2x(64) pool 2x(128) pool 2x(256), FC 512, 512, classes. */
static int cnv(B *b, int in_c, int in_h, int classes, nash_err *e)
{
	static const int ch[] = {64, 64, 128, 128, 256, 256};
	if (in_h != 32 && in_h != 28)
		return nash_fail(e, "cnv takes 32x32 input (or 28x28, padded by 2 in the first conv), not %d", in_h);
	const char *x = "input";
	int c = in_c;
	for (int i = 0; i < 6; i++) {
		int64_t p = i == 0 && in_h == 28 ? 2 : 0, pads[] = {p, p, p, p};
		x = conv(b, S(b, "conv%d", i), x, c, ch[i], 3, 1, pads, i == 0 ? "stem" : "backbone", -1);
		x = bnorm(b, S(b, "bn%d", i), x, ch[i], i == 0 ? "stem" : "backbone", -1);
		x = unary(b, "HardTanh", S(b, "act%d", i), x, i == 0 ? "stem" : "backbone", -1);
		if (i == 1 || i == 3)
			x = maxpool(b, S(b, "pool%d", i / 2), x, 2, 2, 0, "backbone", -1);
		c = ch[i];
	}
	nash_node *f = nash_node_add(b->g, "Flatten", "flatten", (const char *[]){x, NULL},
	                             (const char *[]){"flatten", NULL});
	nash_attr_set_int(f, "axis", 1);
	tag(f, "backbone", -1);
	x = "flatten";
	int k = 256;
	for (int i = 0; i < 2; i++) {
		x = gemm(b, S(b, "fc%d", i), S(b, "fc%d", i), x, k, 512, 0, "backbone");
		x = bnorm(b, S(b, "fc%d.bn", i), x, 512, "backbone", -1);
		x = unary(b, "HardTanh", S(b, "fc%d.act", i), x, "backbone", -1);
		k = 512;
	}
	gemm(b, "fc2", "logits", x, k, classes, 0, "head");
	return 0;
}

/* BNN-PYNQ fully connected nets: 3 hidden layers of 64 (tfc), 256 (sfc),
 * 1024 (lfc). */
static int fcnet(B *b, int hidden, int in_numel, int classes)
{
	nash_node *f = nash_node_add(b->g, "Flatten", "flatten", (const char *[]){"input", NULL},
	                             (const char *[]){"flatten", NULL});
	nash_attr_set_int(f, "axis", 1);
	tag(f, "stem", -1);
	const char *x = "flatten";
	int k = in_numel;
	for (int i = 0; i < 3; i++) {
		const char *role = i == 0 ? "stem" : "backbone";
		x = gemm(b, S(b, "fc%d", i), S(b, "fc%d", i), x, k, hidden, 0, role);
		x = bnorm(b, S(b, "fc%d.bn", i), x, hidden, role, -1);
		x = unary(b, "HardTanh", S(b, "fc%d.act", i), x, role, -1);
		k = hidden;
	}
	gemm(b, "fc3", "logits", x, k, classes, 0, "head");
	return 0;
}

static int is_resnet(const char *a) { return strncmp(a, "resnet", 6) == 0; }

char *nash_model_name(const nash_model_opts *o)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%s", o->arch);
	int version = o->version ? o->version : (o->genotype ? 1 : 0);
	if (version)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "-nash-v%d", version);
	if (o->search)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "-super");
	if (is_resnet(o->arch))
		n += snprintf(buf + n, sizeof buf - (size_t)n, "-w%d", o->width ? o->width : 64);
	if (o->genotype && !o->search)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "-g%08llx",
		              (unsigned long long)(nash_hash(o->genotype) & 0xffffffffu));
	return nash_strdup(buf);
}

nash_graph *nash_model_build(const nash_model_opts *oin, nash_err *e)
{
	nash_model_opts o = *oin;
	int known = 0;
	for (int i = 0; nash_archs[i]; i++)
		known |= o.arch && strcmp(o.arch, nash_archs[i]) == 0;
	if (!known) {
		nash_fail(e, "unknown architecture '%s' (known: resnet18, resnet34, cnv, lfc, sfc, tfc)",
		          o.arch ? o.arch : "");
		return NULL;
	}
	int res = is_resnet(o.arch);
	if (!o.in_c) {
		o.in_c = res ? 3 : strcmp(o.arch, "cnv") == 0 ? 3 : 1;
		o.in_h = o.in_w = res ? 224 : strcmp(o.arch, "cnv") == 0 ? 32 : 28;
	}
	if (o.in_c < 1 || o.in_h < 1 || o.in_w < 1) {
		nash_fail(e, "input shape must be positive");
		return NULL;
	}
	if (o.genotype && !o.version)
		o.version = 1;
	if (!res && (o.version || o.search || o.genotype || o.width || o.stem || o.ref_style)) {
		nash_fail(e, "%s takes no --width, --stem, --style or NASH options (only resnet18 and resnet34 do)", o.arch);
		return NULL;
	}
	if (o.version < 0 || o.version > 4) {
		nash_fail(e, "unknown NASH version v%d (known: v1, v2, v3, v4)", o.version);
		return NULL;
	}
	if (o.search && !o.version) {
		nash_fail(e, "--search builds a NASH supernet: give --nash v1|v2|v3|v4");
		return NULL;
	}
	if (o.search && o.genotype) {
		nash_fail(e, "--search and --genotype exclude each other (a genotype is a searched network)");
		return NULL;
	}
	if (!o.width)
		o.width = 64;
	if (res && (o.width < 2 || o.width % 2 || o.width > 4096)) {
		nash_fail(e, "--width must be an even number of channels in [2, 4096], not %d", o.width);
		return NULL;
	}
	int small = o.stem == NASH_STEM_SMALL || (o.stem == NASH_STEM_AUTO && o.in_h <= 64 && o.in_w <= 64);
	if (!o.classes)
		o.classes = res && !small ? 1000 : 10;
	if (o.classes < 2 || o.classes > 100000) {
		nash_fail(e, "--classes must be in [2, 100000], not %d", o.classes);
		return NULL;
	}
	nash_genotype gt;
	nash_cellplan plan;
	if (o.genotype) {
		nash_cellplan_get(o.arch, &plan, e);
		if (nash_genotype_parse(o.genotype, &plan, o.version, &gt, e) < 0)
			return NULL;
	}
	char *name = o.name ? nash_strdup(o.name) : nash_model_name(&o);
	B b = {nash_graph_new(name), o.seed, o.version, NULL, 0};
	free(name);
	int64_t ish[] = {o.in_c, o.in_h, o.in_w};
	nash_graph_add_input(b.g, "input", NASH_F32, 3, ish);
	int rc;
	if (res)
		rc = resnet(&b, &o, o.in_c, o.in_h, o.classes, small, o.genotype ? &gt : NULL, e);
	else if (strcmp(o.arch, "cnv") == 0)
		rc = cnv(&b, o.in_c, o.in_h, o.classes, e);
	else
		rc = fcnet(&b, o.arch[0] == 't' ? 64 : o.arch[0] == 's' ? 256 : 1024, o.in_c * o.in_h * o.in_w,
		           o.classes);
	if (rc == 0) {
		nash_graph_add_output(b.g, "logits");
		rc = nash_graph_validate(b.g, e);
	}
	for (int i = 0; i < b.nnames; i++)
		free(b.names[i]);
	free(b.names);
	if (rc < 0) {
		nash_graph_free(b.g);
		return NULL;
	}
	/* meta.gen: every option */
	nash_val *m = nash_meta(b.g, "gen");
	nash_val_set(m, "tool", nash_val_str("nash-gen"));
	nash_val_set(m, "arch", nash_val_str(o.arch));
	int64_t in3[] = {o.in_c, o.in_h, o.in_w};
	nash_val_set(m, "input", nash_val_ints(in3, 3));
	nash_val_set(m, "classes", nash_val_int(o.classes));
	if (res) {
		nash_val_set(m, "width", nash_val_int(o.width));
		nash_val_set(m, "stem", nash_val_str(small ? "small" : "imagenet"));
		nash_val_set(m, "style", nash_val_str(o.ref_style ? "ref" : "torchvision"));
	}
	if (o.version) {
		char v[8];
		snprintf(v, sizeof v, "v%d", o.version);
		nash_val_set(m, "nash", nash_val_str(v));
		nash_val_set(m, "search", nash_val_bool(o.search));
		int ops[NASH_NOPS], k = nash_version_ops(o.version, ops);
		nash_val *names = nash_val_arr();
		for (int i = 0; i < k; i++)
			nash_val_push(names, nash_val_str(nash_op_name(ops[i])));
		nash_val_set(m, "ops", names);
		nash_cellplan_get(o.arch, &plan, e);
		nash_val *cells = nash_val_arr();
		for (int c = 0; c < plan.ncells; c++) {
			nash_val *cm = nash_val_map();
			nash_val_set(cm, "nodes", nash_val_int(plan.nodes[c]));
			nash_val_set(cm, "down", nash_val_bool(plan.down[c]));
			nash_val_set(cm, "stage", nash_val_int(plan.stage[c]));
			nash_val_push(cells, cm);
		}
		nash_val_set(m, "cells", cells);
	}
	if (o.genotype) {
		char *norm = nash_genotype_format(&gt);
		nash_val_set(m, "genotype", nash_val_str(norm));
		free(norm);
	}
	nash_val_set(m, "seed", nash_val_int((int64_t)o.seed));
	return b.g;
}
