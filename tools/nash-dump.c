/* nash-dump - look inside a nash stream: a summary line per graph, a node
 * table, or JSON. */
#include "tool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
"Usage: nash-dump [OPTION]... [FILE]...\n"
"Describe the graphs of nash streams (stdin when no FILE is given).\n"
"\n"
"  -n, --nodes      print a table of every node (op, name, inputs, output\n"
"                   shape, MACs, attributes)\n"
"  -t, --tensors    print a table of every tensor (parameters and annotations)\n"
"  -j, --json       print the stream as one JSON array, tensor data summarised\n"
"  -d, --data       with --json, include tensor data in full\n"
"  -m, --meta PATH  print one meta value per graph, e.g. train.top1\n"
"  -q, --quiet      no warnings\n"
"  -h, --help       show this help\n"
"      --version    show the version\n"
"\n"
"The summary line holds: name, nodes, parameters (exact), MACs per image,\n"
"and, when the graph's meta has them, top-1 accuracy and estimated LUT,\n"
"BRAM18, DSP and fps. See nash-dump(1).\n";

enum { MODE_SUMMARY, MODE_NODES, MODE_TENSORS, MODE_JSON, MODE_META };
static struct { int mode, data; const char *meta; long n; } opt;

static void human(char *buf, double v)
{
	const char *u[] = {"", "k", "M", "G", "T"};
	int i = 0;
	while (fabs(v) >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	sprintf(buf, i ? "%.3g%s" : "%.0f%s", v, u[i]);
}

static void summary(nash_graph *g, nash_err *e)
{
	nash_counts c;
	char m[32];
	if (nash_graph_count(g, &c, e) < 0)
		die("%s", e->msg);
	human(m, (double)c.macs);
	printf("%s\tnodes=%d\tparams=%lld\tmacs=%lld (%s)", g->name, g->nnodes,
	       (long long)c.params, (long long)c.macs, m);
	if (c.arch_params)
		printf("\tarch=%lld", (long long)c.arch_params);
	nash_val *v;
	if ((v = nash_val_path(g->meta, "eval.top1")) || (v = nash_val_path(g->meta, "train.top1")))
		printf("\ttop1=%.2f", nash_val_as_f64(v, NAN));
	static const char *const est[] = {"lut", "bram18", "dsp", "fps", NULL};
	for (int i = 0; est[i]; i++) {
		char path[64];
		snprintf(path, sizeof path, "est.total.%s", est[i]);
		if (strcmp(est[i], "fps") == 0)
			snprintf(path, sizeof path, "est.fps");
		if ((v = nash_val_path(g->meta, path)))
			printf("\t%s=%.6g", est[i], nash_val_as_f64(v, NAN));
	}
	printf("\n");
}

static void attrs_line(const nash_node *n, char *buf, size_t cap)
{
	char *j = nash_val_json(n->attr, -1, 0);
	size_t len = strlen(j);
	if (len >= 2 && j[0] == '{')
		snprintf(buf, cap, "%.*s", (int)(len - 2), j + 1);
	else
		snprintf(buf, cap, "%s", j);
	free(j);
	if (strlen(buf) > 120)
		strcpy(buf + 117, "...");
}

static void nodes(nash_graph *g)
{
	char sh[128], at[256];
	printf("# graph %s\n", g->name);
	printf("%-4s %-26s %-34s %-16s %12s  %s\n", "#", "op", "name", "out shape", "MACs", "attributes");
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		const nash_tensor *y = n->nout ? nash_tensor_find(g, n->out[0]) : NULL;
		int64_t macs = nash_node_macs(g, n);
		attrs_line(n, at, sizeof at);
		printf("%-4d %-26s %-34s %-16s %12lld  %s\n", i, n->op, n->name,
		       y ? nash_shape_str(y->ndim, y->shape, sh) : "-", (long long)macs, at);
	}
}

static void tensors(nash_graph *g)
{
	char sh[128], dt[16];
	printf("# graph %s\n", g->name);
	printf("%-40s %-8s %-16s %-9s %12s %s\n", "name", "dtype", "shape", "datatype", "elements", "kind");
	for (int i = 0; i < g->ntensors; i++) {
		const nash_tensor *t = g->tensors[i];
		printf("%-40s %-8s %-16s %-9s %12lld %s\n", t->name, nash_dtype_name(t->dtype),
		       nash_shape_str(t->ndim, t->shape, sh), t->datatype.kind ? nash_datatype_name(t->datatype, dt) : "-",
		       (long long)nash_tensor_numel(t), t->data ? "parameter" : "activation");
	}
}

static double elem(const nash_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case NASH_F32: return ((const float *)t->data)[i];
	case NASH_I8: return ((const int8_t *)t->data)[i];
	case NASH_U8: return ((const uint8_t *)t->data)[i];
	case NASH_I16: return ((const int16_t *)t->data)[i];
	case NASH_I32: return ((const int32_t *)t->data)[i];
	case NASH_I64: return (double)((const int64_t *)t->data)[i];
	default: return 0;
	}
}

static nash_val *io_json(const nash_io *io, int n)
{
	char dt[16];
	nash_val *a = nash_val_arr();
	for (int i = 0; i < n; i++) {
		nash_val *m = nash_val_map();
		nash_val_set(m, "name", nash_val_str(io[i].name));
		nash_val_set(m, "shape", nash_val_ints(io[i].shape, (size_t)io[i].ndim));
		nash_val_set(m, "dtype", nash_val_str(nash_dtype_name(io[i].dtype)));
		if (io[i].datatype.kind)
			nash_val_set(m, "datatype", nash_val_str(nash_datatype_name(io[i].datatype, dt)));
		for (size_t k = 0; io[i].extra && k < io[i].extra->u.m.n; k++)
			if (io[i].extra->u.m.k[k]->t == NASH_V_STR)
				nash_val_set(m, io[i].extra->u.m.k[k]->u.s.p, nash_val_copy(io[i].extra->u.m.v[k]));
		nash_val_push(a, m);
	}
	return a;
}

static void json(nash_graph *g, nash_err *e)
{
	char dt[16];
	nash_counts c;
	if (nash_graph_count(g, &c, e) < 0)
		die("%s", e->msg);
	nash_val *r = nash_val_map();
	nash_val_set(r, "nash", nash_val_int(g->version));
	nash_val_set(r, "kind", nash_val_str("graph"));
	nash_val_set(r, "name", nash_val_str(g->name));
	nash_val_set(r, "inputs", io_json(g->inputs, g->nin));
	nash_val_set(r, "outputs", io_json(g->outputs, g->nout));
	nash_val *nodes = nash_val_arr();
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		nash_val *m = nash_val_map();
		nash_val_set(m, "op", nash_val_str(n->op));
		nash_val_set(m, "name", nash_val_str(n->name));
		nash_val *in = nash_val_arr(), *out = nash_val_arr();
		for (int k = 0; k < n->nin; k++)
			nash_val_push(in, nash_val_str(n->in[k]));
		for (int k = 0; k < n->nout; k++)
			nash_val_push(out, nash_val_str(n->out[k]));
		nash_val_set(m, "in", in);
		nash_val_set(m, "out", out);
		nash_val_set(m, "attr", nash_val_copy(n->attr));
		nash_val_push(nodes, m);
	}
	nash_val_set(r, "nodes", nodes);
	nash_val *ts = nash_val_map();
	for (int i = 0; i < g->ntensors; i++) {
		const nash_tensor *t = g->tensors[i];
		if (t->transient && !opt.data)
			continue;
		nash_val *m = nash_val_map();
		nash_val_set(m, "dtype", nash_val_str(nash_dtype_name(t->dtype)));
		nash_val_set(m, "shape", nash_val_ints(t->shape, (size_t)t->ndim));
		if (t->datatype.kind)
			nash_val_set(m, "datatype", nash_val_str(nash_datatype_name(t->datatype, dt)));
		if (t->data) {
			int64_t n = nash_tensor_numel(t);
			if (opt.data) {
				nash_val *d = nash_val_arr();
				for (int64_t k = 0; k < n; k++)
					nash_val_push(d, t->dtype == NASH_F32 ? nash_val_f32((float)elem(t, k))
					                                       : nash_val_int((int64_t)elem(t, k)));
				nash_val_set(m, "data", d);
			} else {
				double lo = INFINITY, hi = -INFINITY, sum = 0;
				for (int64_t k = 0; k < n; k++) {
					double x = elem(t, k);
					lo = x < lo ? x : lo;
					hi = x > hi ? x : hi;
					sum += x;
				}
				nash_val *s = nash_val_map();
				nash_val_set(s, "numel", nash_val_int(n));
				if (n) {
					nash_val_set(s, "min", nash_val_f64(lo));
					nash_val_set(s, "max", nash_val_f64(hi));
					nash_val_set(s, "mean", nash_val_f64(sum / (double)n));
				}
				nash_val_set(m, "data", s);
			}
		}
		nash_val_set(ts, t->name, m);
	}
	nash_val_set(r, "tensors", ts);
	nash_val_set(r, "meta", nash_val_copy(g->meta));
	nash_val *s = nash_val_map();
	nash_val_set(s, "nodes", nash_val_int(g->nnodes));
	nash_val_set(s, "params", nash_val_int(c.params));
	nash_val_set(s, "arch_params", nash_val_int(c.arch_params));
	nash_val_set(s, "macs", nash_val_int(c.macs));
	nash_val_set(r, "summary", s);
	char *txt = nash_val_json(r, 2, 0);
	printf("%s%s", opt.n ? ",\n" : "[\n", txt);
	free(txt);
	nash_val_free(r);
}

static int each(nash_graph *g, void *ctx, nash_err *e)
{
	(void)ctx;
	switch (opt.mode) {
	case MODE_SUMMARY: summary(g, e); break;
	case MODE_NODES: nodes(g); break;
	case MODE_TENSORS: tensors(g); break;
	case MODE_JSON: json(g, e); break;
	case MODE_META: {
		nash_val *v = nash_val_path(g->meta, opt.meta);
		char *j = v ? nash_val_json(v, -1, 0) : nash_strdup("null");
		printf("%s\t%s\n", g->name, j);
		free(j);
		break;
	}
	}
	opt.n++;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"nodes", no_argument, 0, 'n'}, {"tensors", no_argument, 0, 't'},
		{"json", no_argument, 0, 'j'}, {"data", no_argument, 0, 'd'},
		{"meta", required_argument, 0, 'm'}, TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	int c;
	tool_init("nash-dump", argc, argv);
	while ((c = getopt_long(argc, argv, "ntjdm:qh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'n': opt.mode = MODE_NODES; break;
		case 't': opt.mode = MODE_TENSORS; break;
		case 'j': opt.mode = MODE_JSON; break;
		case 'd': opt.data = 1; break;
		case 'm': opt.mode = MODE_META; opt.meta = optarg; break;
		case 'q': tool_quiet = 1; break;
		default: die_usage("unknown option");
		}
	}
	if (opt.data && opt.mode != MODE_JSON)
		die_usage("--data goes with --json");
	tool_each_graph(argv + optind, argc - optind, each, NULL, 0);
	if (opt.mode == MODE_JSON)
		printf(opt.n ? "\n]\n" : "[]\n");
	if (fflush(stdout) != 0 || ferror(stdout))
		die("stdout: write error");
	return 0;
}
