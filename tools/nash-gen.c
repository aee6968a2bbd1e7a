/* nash-gen - make model graphs: ResNet backbones, BNN-PYNQ topologies,
 * NASH supernets and fixed NASH networks, and sweeps of them. */
#include "models/models.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
"Usage: nash-gen [OPTION]... ARCH\n"
"Write model graphs to stdout as a nash(5) stream.\n"
"\n"
"ARCH is resnet18, resnet34, cnv, lfc, sfc or tfc.\n"
"  -i, --input CxHxW      input shape (resnet: 3x224x224; cnv: 3x32x32;\n"
"                         lfc/sfc/tfc: 1x28x28); ResNets use the small-input\n"
"                         stem (3x3/1 conv, no pool) up to 64 pixels\n"
"  -c, --classes N        output classes (default 1000 for ImageNet-size\n"
"                         ResNets, else 10)\n"
"  -w, --width N          ResNet base channels (default 64)\n"
"      --stem small|imagenet   force the stem\n"
"      --style torchvision|ref  ResNet layout: torchvision's (default) or the\n"
"                         NASH reference code's (pool before BN in the stem,\n"
"                         a 1x1 downsample in stage 0, no FC bias)\n"
"      --nash v1|v2|v3|v4 add NASH cells (needs --search or --genotype)\n"
"      --search           the supernet: a Choice over the version's\n"
"                         candidate operations on every edge\n"
"  -g, --genotype STRING  a fixed NASH network, e.g. for resnet18\n"
"                         'conv_3x3@0,skip_connect@1,none,max_pool_3x3@2/...'\n"
"                         (cells split by '/', nodes by ',', OP@STATE or none)\n"
"      --sweep KEY=V1,V2  emit the cartesian product over these values (repeat\n"
"                         for more keys); KEY: arch, input, classes, width,\n"
"                         stem, style, nash (none, v1..v4), search (0, 1),\n"
"                         genotype, seed\n"
"  -s, --seed N           weight initialisation seed (default 0)\n"
"  -n, --name NAME        graph name (default: from the settings)\n"
"      --list             list architectures, versions and operations\n"
"  -q, --quiet            no warnings\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"\n"
"Example: nash-gen resnet18 --input 1x28x28 --width 16 --nash v2 --search | nash-dump\n"
"See nash-gen(1).\n";

enum { K_ARCH, K_INPUT, K_CLASSES, K_WIDTH, K_STEM, K_STYLE, K_NASH, K_SEARCH, K_GENOTYPE,
       K_SEED, K_NAME, NKEYS };
static const char *const keys[NKEYS] = {"arch", "input", "classes", "width", "stem", "style",
                                        "nash", "search", "genotype", "seed", "name"};

typedef struct { const char *v[NKEYS]; } settings;

static int key_index(const char *k)
{
	for (int i = 0; i < NKEYS - 1; i++)
		if (strcmp(k, keys[i]) == 0)
			return i;
	return -1;
}

static int nsvals[NKEYS];

/* Turn string settings into builder options; usage errors exit 2. */
static void to_opts(const settings *s, nash_model_opts *o)
{
	memset(o, 0, sizeof *o);
	o->arch = s->v[K_ARCH];
	if (!o->arch)
		die_usage("no architecture given (resnet18, resnet34, cnv, lfc, sfc, tfc)");
	if (s->v[K_INPUT]) {
		int64_t sh[4];
		int n = nash_shape_parse(s->v[K_INPUT], sh, 4);
		if (n != 3 || sh[0] > 64 || sh[1] > 4096 || sh[2] > 4096)
			die_usage("--input: '%s' is not CxHxW (e.g. 1x28x28, 3x224x224)", s->v[K_INPUT]);
		o->in_c = (int)sh[0];
		o->in_h = (int)sh[1];
		o->in_w = (int)sh[2];
	}
	if (s->v[K_CLASSES])
		o->classes = (int)tool_int("classes", s->v[K_CLASSES], 2, 100000);
	if (s->v[K_WIDTH])
		o->width = (int)tool_int("width", s->v[K_WIDTH], 2, 4096);
	if (s->v[K_STEM]) {
		if (strcmp(s->v[K_STEM], "small") == 0)
			o->stem = NASH_STEM_SMALL;
		else if (strcmp(s->v[K_STEM], "imagenet") == 0)
			o->stem = NASH_STEM_IMAGENET;
		else
			die_usage("--stem: '%s' is not small or imagenet", s->v[K_STEM]);
	}
	if (s->v[K_STYLE]) {
		if (strcmp(s->v[K_STYLE], "ref") == 0)
			o->ref_style = 1;
		else if (strcmp(s->v[K_STYLE], "torchvision") != 0)
			die_usage("--style: '%s' is not torchvision or ref", s->v[K_STYLE]);
	}
	if (s->v[K_NASH] && strcmp(s->v[K_NASH], "none") != 0) {
		const char *v = s->v[K_NASH];
		if ((v[0] != 'v' && v[0] != 'V') || v[1] < '1' || v[1] > '4' || v[2])
			die_usage("--nash: unknown version '%s' (known: v1, v2, v3, v4, none)", v);
		o->version = v[1] - '0';
	}
	if (s->v[K_SEARCH])
		o->search = strcmp(s->v[K_SEARCH], "0") != 0 && strcmp(s->v[K_SEARCH], "no") != 0;
	o->genotype = s->v[K_GENOTYPE] && s->v[K_GENOTYPE][0] ? s->v[K_GENOTYPE] : NULL;
	if (s->v[K_SEED]) {
		char *end;
		unsigned long long v = strtoull(s->v[K_SEED], &end, 10);
		if (*end || end == s->v[K_SEED])
			die_usage("--seed: '%s' is not a non-negative integer", s->v[K_SEED]);
		o->seed = v;
	}
	o->name = s->v[K_NAME];
	if (!o->version && nsvals[K_NASH]) {
		/* a sweep over nash=none,v1,... makes the baseline plain */
		o->search = 0;
		o->genotype = NULL;
	}
	if (o->version && !o->search && !o->genotype)
		die_usage("--nash %s needs --search (the supernet) or --genotype (a fixed network)", s->v[K_NASH]);
}

static int sweeps[NKEYS], nsweep;        /* swept keys in order */
static char **svals[NKEYS];

static void emit(settings *s, int level, int *count)
{
	if (level == nsweep) {
		nash_model_opts o;
		to_opts(s, &o);
		nash_err e = {{0}};
		char *name = NULL;
		if (!o.name) {
			/* the default name plus every swept setting it does not show */
			nash_model_opts tmp = o;
			if (tmp.genotype && !tmp.version)
				tmp.version = 1;
			name = nash_model_name(&tmp);
			for (int i = 0; i < nsweep; i++) {
				int k = sweeps[i];
				if (k == K_ARCH || k == K_NASH || k == K_SEARCH || k == K_GENOTYPE ||
				    (k == K_WIDTH && strncmp(o.arch, "resnet", 6) == 0))
					continue;
				char *nn = nash_strfmt("%s-%s%s", name, keys[k], s->v[k]);
				free(name);
				name = nn;
			}
			o.name = name;
		}
		nash_graph *g = nash_model_build(&o, &e);
		if (!g)
			die("%s", e.msg);
		tool_write_graph(g);
		nash_graph_free(g);
		free(name);
		(*count)++;
		return;
	}
	int k = sweeps[level];
	for (int i = 0; i < nsvals[k]; i++) {
		s->v[k] = svals[k][i];
		emit(s, level + 1, count);
	}
}

static void list(void) __attribute__((noreturn));
static void list(void)
{
	printf("architectures: resnet18 resnet34 cnv lfc sfc tfc\n");
	printf("NASH versions (resnet18, resnet34):\n");
	for (int v = 1; v <= 4; v++) {
		int ops[NASH_NOPS], n = nash_version_ops(v, ops);
		printf("  v%d:", v);
		for (int i = 0; i < n; i++)
			printf(" %s", nash_op_name(ops[i]));
		printf("\n");
	}
	for (int a = 0; a < 2; a++) {
		nash_cellplan p;
		const char *arch = a ? "resnet34" : "resnet18";
		nash_cellplan_get(arch, &p, NULL);
		printf("%s cells:", arch);
		int edges = 0;
		for (int c = 0; c < p.ncells; c++) {
			printf(" %d%s", p.nodes[c], p.down[c] ? "(stride 2)" : "");
			edges += p.nodes[c] * (p.nodes[c] + 1) / 2;
		}
		printf(" nodes; %d edges\n", edges);
	}
	exit(0);
}

int main(int argc, char **argv)
{
	enum { O_STEM = OPT_TOOL_BASE, O_STYLE, O_NASH, O_SEARCH, O_SWEEP, O_LIST };
	static const struct option lo[] = {
		{"input", required_argument, 0, 'i'}, {"classes", required_argument, 0, 'c'},
		{"width", required_argument, 0, 'w'}, {"stem", required_argument, 0, O_STEM},
		{"style", required_argument, 0, O_STYLE}, {"nash", required_argument, 0, O_NASH},
		{"search", no_argument, 0, O_SEARCH}, {"genotype", required_argument, 0, 'g'},
		{"sweep", required_argument, 0, O_SWEEP}, {"seed", required_argument, 0, 's'},
		{"name", required_argument, 0, 'n'}, {"list", no_argument, 0, O_LIST},
		TOOL_STD_OPTIONS, {0, 0, 0, 0}
	};
	settings s = {{0}};
	int c;
	tool_init("nash-gen", argc, argv);
	while ((c = getopt_long(argc, argv, "i:c:w:g:s:n:qh", lo, NULL)) != -1) {
		if (tool_std_option(c, help))
			continue;
		switch (c) {
		case 'i': s.v[K_INPUT] = optarg; break;
		case 'c': s.v[K_CLASSES] = optarg; break;
		case 'w': s.v[K_WIDTH] = optarg; break;
		case O_STEM: s.v[K_STEM] = optarg; break;
		case O_STYLE: s.v[K_STYLE] = optarg; break;
		case O_NASH: s.v[K_NASH] = optarg; break;
		case O_SEARCH: s.v[K_SEARCH] = "1"; break;
		case 'g': s.v[K_GENOTYPE] = optarg; break;
		case 's': s.v[K_SEED] = optarg; break;
		case 'n': s.v[K_NAME] = optarg; break;
		case 'q': tool_quiet = 1; break;
		case O_LIST: list();
		case O_SWEEP: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1])
				die_usage("--sweep: '%s' is not KEY=V1,V2,...", optarg);
			*eq = 0;
			int k = key_index(optarg);
			if (k < 0)
				die_usage("--sweep: unknown key '%s' (arch, input, classes, width, stem, style, nash, search, genotype, seed)",
				          optarg);
			if (nsvals[k])
				die_usage("--sweep: key '%s' given twice", optarg);
			sweeps[nsweep++] = k;
			/* genotypes contain commas: they are separated by ';' */
			const char *sep = k == K_GENOTYPE ? ";" : ",";
			char *save = NULL;
			for (char *v = strtok_r(eq + 1, sep, &save); v; v = strtok_r(NULL, sep, &save)) {
				svals[k] = nash_realloc(svals[k], (size_t)(nsvals[k] + 1) * sizeof *svals[k]);
				svals[k][nsvals[k]++] = v;
			}
			if (!nsvals[k])
				die_usage("--sweep: no values for '%s'", optarg);
			break;
		}
		default: die_usage("unknown option");
		}
	}
	if (optind < argc)
		s.v[K_ARCH] = argv[optind++];
	if (optind < argc)
		die_usage("one architecture at a time (use --sweep arch=A,B for several)");
	if (s.v[K_NAME] && nsweep)
		die_usage("--name gives one graph a name; a sweep names its graphs itself");
	tool_stdout_binary();
	int count = 0;
	emit(&s, 0, &count);
	return 0;
}
