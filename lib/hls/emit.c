/* emit.c - the HLS project of a folded hardware graph (see hls.h). */
#include "hls/hls.h"
#include "hwexec/hwexec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>

/* ------------------------------------------------------ string builder */

typedef struct sb {
	char *p;
	size_t n, cap;
} sb;

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = b->cap - b->n;
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (k >= 0 && b->p && (size_t)k < room) {
			b->n += (size_t)k;
			return;
		}
		b->cap = (b->cap + (size_t)(k > 0 ? k : 0) + 1) * 2;
		b->p = nash_realloc(b->p, b->cap);
	}
}

/* ---------------------------------------------------------- the model */

#define MAXS 8

typedef struct strm {
	char name[48];
	char type[48];   /* element C++ type */
	nash_datatype dt;
	int64_t n;       /* elements a word */
	int64_t total;   /* elements a frame */
	int64_t depth;   /* FIFO depth (2 default) */
	int arr;         /* element of a stream array (declared as a whole), else -1 */
} strm;

typedef struct em {
	const nash_graph *g;
	strm *s;
	int ns;
	/* tensor -> stream index (after identities) */
	char **tname;
	int *tstream;
	int nt;
	sb top, decl, body;
	/* stream arrays (DuplicateStreams outputs): name, first stream, count */
	char (*aname)[48];
	int *afirst, *acount, na;
	int layers, converters;
	nash_hls_info *info;
	const char *dir;
} em;

static const char *ctype(nash_datatype d, char *buf)
{
	switch (d.kind) {
	case NASH_DT_INT: sprintf(buf, "ap_int<%d>", d.bits); break;
	case NASH_DT_UINT: sprintf(buf, "ap_uint<%d>", d.bits); break;
	case NASH_DT_BINARY: strcpy(buf, "ap_uint<1>"); break;
	case NASH_DT_BIPOLAR: strcpy(buf, "nash::bipolar"); break;
	default: strcpy(buf, "void"); break;
	}
	return buf;
}

/* the C++ type of an integer range */
static const char *rtype(int64_t lo, int64_t hi, char *buf)
{
	nash_datatype d = nash_datatype_fit(lo, hi);
	if (d.bits > 64)
		d.bits = 64;
	return ctype(d, buf);
}

/* the plain C type holding [lo, hi]: weight and threshold tables use it in C
 * simulation (fast to compile), the exact ap type under Vitis */
static const char *plain(int64_t lo, int64_t hi)
{
	if (lo >= -128 && hi <= 127)
		return "signed char";
	if (lo >= 0 && hi <= 255)
		return "unsigned char";
	if (lo >= -32768 && hi <= 32767)
		return "short";
	if (lo >= INT32_MIN && hi <= INT32_MAX)
		return "int";
	return "long long";
}

static void table_type(sb *b, const char *name, const char *exact, int64_t lo, int64_t hi)
{
	sb_printf(b, "#ifdef NASH_HLS_REAL\n\ttypedef %s %s;\n#else\n\ttypedef %s %s; // C simulation: plain storage, same values\n#endif\n",
	          exact, name, plain(lo, hi), name);
}

static void ident(const char *s, char *out, size_t n)
{
	size_t j = 0;
	for (; *s && j + 1 < n; s++)
		out[j++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ? *s : '_');
	out[j] = 0;
}

static int is_identity(const char *op)
{
	return !strcmp(op, "StreamingFIFO") || !strcmp(op, "StreamingDataWidthConverter") || !strcmp(op, "Identity");
}

static const char *const templated[] = {
	"ConvolutionInputGenerator", "MVAU", "Thresholding", "StreamingMaxPool", "QuantAvgPool", "AddStreams",
	"DuplicateStreams", "StreamingConcat", "LabelSelect", "StreamingFIFO", "StreamingDataWidthConverter", NULL};

int nash_hls_check(const nash_graph *g, nash_err *e)
{
	const nash_val *est = nash_val_get(g->meta, "est");
	if (!est || est->t != NASH_V_MAP)
		return nash_fail(e, "graph %s has no folding (no meta.est): run nash-est first, e.g. nash-est --fps 1000",
		                 g->name);
	if (g->nin != 1 || g->nout != 1)
		return nash_fail(e, "graph %s: an HLS project needs one input and one output stream (has %d and %d)",
		                 g->name, g->nin, g->nout);
	for (int i = 0; i < g->nnodes; i++) {
		const nash_node *n = g->nodes[i];
		int ok = 0;
		for (int k = 0; templated[k]; k++)
			ok |= !strcmp(n->op, templated[k]);
		if (!ok)
			return nash_fail(e, "graph %s: node %s: op %s has no HLS template (nash-hls implements the hardware operators of nash-ops(7); run nash-stream first)",
			                 g->name, n->name, n->op);
		if (!strcmp(n->op, "DuplicateStreams") && (n->nout < 1 || n->nout > 64))
			return nash_fail(e, "graph %s: node %s: DuplicateStreams with %d outputs has no HLS template (1 to 64)",
			                 g->name, n->name, n->nout);
		if (!strcmp(n->op, "StreamingConcat") && (n->nin < 2 || n->nin > 4))
			return nash_fail(e, "graph %s: node %s: StreamingConcat of %d inputs has no HLS template (2 to 4)",
			                 g->name, n->name, n->nin);
	}
	return 0;
}

static int stream_new(em *m, const char *base, nash_datatype dt, int64_t n, int64_t total)
{
	m->s = nash_realloc(m->s, (size_t)(m->ns + 1) * sizeof *m->s);
	strm *s = &m->s[m->ns];
	memset(s, 0, sizeof *s);
	char id[40];
	ident(base, id, sizeof id);
	snprintf(s->name, sizeof s->name, "s%d_%s", m->ns, id);
	s->dt = dt;
	ctype(dt, s->type);
	s->n = n;
	s->total = total;
	s->depth = 2;
	s->arr = -1;
	return m->ns++;
}

static void tmap(em *m, const char *t, int s)
{
	m->tname = nash_realloc(m->tname, (size_t)(m->nt + 1) * sizeof *m->tname);
	m->tstream = nash_realloc(m->tstream, (size_t)(m->nt + 1) * sizeof *m->tstream);
	m->tname[m->nt] = nash_strdup(t);
	m->tstream[m->nt++] = s;
}

static int tfind(const em *m, const char *t)
{
	for (int i = m->nt - 1; i >= 0; i--)
		if (!strcmp(m->tname[i], t))
			return m->tstream[i];
	return -1;
}

static char *vtype(const strm *s, char *buf)
{
	sprintf(buf, "nash::vec<%s, %lld>", s->type, (long long)s->n);
	return buf;
}

/* The stream a consumer reads tensor t from with n elements a word: the
 * producer's, or a width converter's added for it. */
static int use_stream(em *m, const nash_node *n, const char *t, int64_t want, nash_err *e)
{
	int s = tfind(m, t);
	if (s < 0)
		return nash_fail(e, "graph %s: node %s: input %s is not a stream", m->g->name, n->name, t);
	if (m->s[s].total % want)
		return nash_fail(e, "graph %s: node %s: folding %lld does not divide the %lld elements of %s", m->g->name,
		                 n->name, (long long)want, (long long)m->s[s].total, t);
	if (m->s[s].n == want)
		return s;
	char a[96], b[96];
	int c = stream_new(m, "dwc", m->s[s].dt, want, m->s[s].total);
	sb_printf(&m->body, "\tnash::dwc<%lld, %lld, %lld, %s>(%s, %s);\n", (long long)m->s[s].total,
	          (long long)m->s[s].n, (long long)want, m->s[s].type, m->s[s].name, m->s[c].name);
	(void)a, (void)b;
	m->converters++;
	return c;
}

static int64_t attr_fold(const nash_node *n, const char *k)
{
	int64_t v = nash_attr_int(n, k, 1);
	return v < 1 ? 1 : v;
}

static const char *impl_of(const char *ram)
{
	if (!ram || !strcmp(ram, "auto"))
		return "auto";
	if (!strcmp(ram, "distributed"))
		return "lutram";
	if (!strcmp(ram, "block"))
		return "bram";
	if (!strcmp(ram, "ultra"))
		return "uram";
	return "auto";
}

static nash_datatype attr_dt(const nash_node *n, const char *k, nash_datatype def)
{
	nash_datatype d;
	const char *s = nash_attr_str(n, k, NULL);
	if (s && nash_datatype_parse(s, &d) == 0 && nash_datatype_is_int(d))
		return d;
	return def;
}

static int write_text(em *m, const char *rel, const char *text, size_t n, nash_err *e)
{
	char *path = nash_strfmt("%s/%s", m->dir, rel);
	char *slash = strrchr(path, '/');
	if (slash && slash > path + strlen(m->dir)) {
		*slash = 0;
		mkdir(path, 0755);
		*slash = '/';
	}
	FILE *f = fopen(path, "wb");
	int rc = 0;
	if (!f)
		rc = nash_fail(e, "%s: cannot create: %s", path, strerror(errno));
	else {
		if (n && fwrite(text, 1, n, f) != n)
			rc = nash_fail(e, "%s: write error: %s", path, strerror(errno));
		if (fflush(f) != 0 && rc == 0)
			rc = nash_fail(e, "%s: write error: %s", path, strerror(errno));
		if (fclose(f) != 0 && rc == 0)
			rc = nash_fail(e, "%s: write error: %s", path, strerror(errno));
	}
	free(path);
	if (rc == 0) {
		nash_hls_info *in = m->info;
		in->files = nash_realloc(in->files, (size_t)(in->nfiles + 1) * sizeof *in->files);
		in->files[in->nfiles++] = nash_strdup(rel);
	}
	return rc;
}

/* Thresholds of node n (tensor index ti) for ch channels folded by pe,
 * clamped into [lo, hi + 1] (the input range); written as
 * t[pe][ch/pe][steps]. Returns the C++ type in tt. */
static void emit_thresholds(sb *b, const char *var, const nash_tensor *t, int64_t ch, int64_t pe, int64_t lo,
                            int64_t hi, char *tt)
{
	int64_t rows = t->shape[0], steps = t->shape[1], nf = ch / pe;
	char ex[64];
	rtype(lo, hi + 1, ex);
	sprintf(tt, "%s_t", var);
	table_type(b, tt, ex, lo, hi + 1);
	sb_printf(b, "\tstatic const %s %s[%lld][%lld][%lld] = {", tt, var, (long long)pe, (long long)nf, (long long)steps);
	for (int64_t p = 0; p < pe; p++) {
		sb_printf(b, "%s{", p ? "," : "");
		for (int64_t f = 0; f < nf; f++) {
			sb_printf(b, "%s{", f ? "," : "");
			int64_t c = f * pe + p, r = rows == 1 ? 0 : c;
			for (int64_t s = 0; s < steps; s++) {
				int64_t v = nash_tensor_int(t, r * steps + s);
				v = v < lo ? lo : v > hi + 1 ? hi + 1 : v;
				sb_printf(b, "%s%lld", s ? "," : "", (long long)v);
			}
			sb_printf(b, "}");
		}
		sb_printf(b, "}");
	}
	sb_printf(b, "};\n");
}

/* one layer's wrapper function and its call */
static int emit_node(em *m, const nash_node *n, nash_err *e)
{
	const nash_graph *g = m->g;
	char id[140], fn[160], a[96], b2[96], c[96], tt[64], ta[64];
	ident(n->name, id, sizeof id);
	snprintf(fn, sizeof fn, "layer_%s", id);
	const char *op = n->op;
	if (is_identity(op)) {
		int s = tfind(m, n->in[0]);
		if (s < 0)
			return nash_fail(e, "graph %s: node %s: input %s is not a stream", g->name, n->name, n->in[0]);
		int64_t d = nash_attr_int(n, "depth", 0);
		if (!strcmp(op, "StreamingFIFO") && d > m->s[s].depth)
			m->s[s].depth = d;
		tmap(m, n->out[0], s);
		return 0;
	}
	const nash_tensor *xs = nash_graph_shape(g, n->in[0]);
	int sin = tfind(m, n->in[0]);
	if (sin < 0)
		return nash_fail(e, "graph %s: node %s: input %s is not a stream", g->name, n->name, n->in[0]);
	nash_datatype idt = m->s[sin].dt;
	sb *B = &m->decl;
	m->layers++;
	if (!strcmp(op, "ConvolutionInputGenerator")) {
		int64_t simd = attr_fold(n, "SIMD"), k[2] = {1, 1}, st[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0};
		if (nash_attr_ints(n, "ConvKernelDim", k, 2) == 1) k[1] = k[0];
		if (nash_attr_ints(n, "Stride", st, 2) < 2) st[0] = st[1] = nash_attr_ints(n, "Stride", st, 2) == 1 ? st[0] : nash_attr_int(n, "Stride", 1);
		if (nash_attr_ints(n, "Dilation", d, 2) < 2) d[0] = d[1] = nash_attr_ints(n, "Dilation", d, 2) == 1 ? d[0] : nash_attr_int(n, "Dilation", 1);
		int np = nash_attr_ints(n, "Padding", p, 4);
		if (np == 2) p[2] = p[0], p[3] = p[1];
		else if (np != 4) p[0] = p[1] = p[2] = p[3] = np == 1 ? p[0] : nash_attr_int(n, "Padding", 0);
		int64_t H = xs->shape[0], W = xs->shape[1], C = xs->shape[2];
		int64_t oh = (H + p[0] + p[2] - d[0] * (k[0] - 1) - 1) / st[0] + 1;
		int64_t ow = (W + p[1] + p[3] - d[1] * (k[1] - 1) - 1) / st[1] + 1;
		if (C % simd)
			return nash_fail(e, "graph %s: node %s: SIMD %lld does not divide IFMChannels %lld", g->name, n->name,
			                 (long long)simd, (long long)C);
		int x = use_stream(m, n, n->in[0], simd, e);
		if (x < 0)
			return -1;
		int o = stream_new(m, n->out[0], idt, simd, oh * ow * k[0] * k[1] * C);
		tmap(m, n->out[0], o);
		int64_t rows = d[0] * (k[0] - 1) + 1;
		sb_printf(B, "static void %s(hls::stream<%s> &in, hls::stream<%s> &out)\n{\n#pragma HLS INLINE off\n", fn,
		          vtype(&m->s[x], a), vtype(&m->s[o], b2));
		sb_printf(B, "\tstatic %s buf[%lld][%lld];\n", vtype(&m->s[x], a), (long long)rows, (long long)(W * C / simd));
		sb_printf(B, "#pragma HLS BIND_STORAGE variable=buf type=ram_2p impl=%s\n", impl_of(nash_attr_str(n, "ram_style", "auto")));
		sb_printf(B, "#pragma HLS ARRAY_PARTITION variable=buf complete dim=1\n");
		sb_printf(B, "\tnash::swg<%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %s>(in, out, buf, %s(%d));\n}\n\n",
		          (long long)H, (long long)W, (long long)C, (long long)k[0], (long long)k[1], (long long)st[0],
		          (long long)st[1], (long long)d[0], (long long)d[1], (long long)p[0], (long long)p[1], (long long)p[2],
		          (long long)p[3], (long long)simd, m->s[x].type, m->s[x].type, idt.kind == NASH_DT_BIPOLAR ? -1 : 0);
		sb_printf(&m->body, "\t%s(%s, %s);\n", fn, m->s[x].name, m->s[o].name);
		return 0;
	}
	if (!strcmp(op, "MVAU")) {
		const nash_tensor *w = nash_tensor_find(g, n->in[1]);
		if (!w || !w->data)
			return nash_fail(e, "graph %s: node %s: weights %s have no data", g->name, n->name, n->in[1]);
		int64_t mw = w->shape[0], mh = w->shape[1], pe = attr_fold(n, "PE"), simd = attr_fold(n, "SIMD");
		if (mw % simd || mh % pe)
			return nash_fail(e, "graph %s: node %s: SIMD %lld must divide MW %lld and PE %lld MH %lld", g->name,
			                 n->name, (long long)simd, (long long)mw, (long long)pe, (long long)mh);
		nash_datatype wdt = attr_dt(n, "weightDataType", w->datatype);
		nash_datatype odt = attr_dt(n, "outputDataType", (nash_datatype){NASH_DT_INT, 32});
		int xnor = (int)nash_attr_int(n, "binaryXnorMode", 0);
		int thr = n->nin > 2 && n->in[2][0] && !nash_attr_int(n, "noActivation", 0);
		int64_t pix = nash_tensor_numel(xs) / mw;
		/* accumulator range from the datatypes */
		int64_t xl = nash_datatype_min(idt), xh = nash_datatype_max(idt), wl = nash_datatype_min(wdt),
		        wh = nash_datatype_max(wdt);
		int64_t pr[4] = {xl * wl, xl * wh, xh * wl, xh * wh}, pl = pr[0], ph = pr[0];
		for (int i = 1; i < 4; i++)
			pl = pr[i] < pl ? pr[i] : pl, ph = pr[i] > ph ? pr[i] : ph;
		int64_t al = xnor ? 0 : mw * (pl < 0 ? pl : 0), ah = xnor ? mw : mw * (ph > 0 ? ph : 0);
		rtype(al < 0 ? al : -1, ah, ta); /* signed: sums of mixed terms */
		int x = use_stream(m, n, n->in[0], simd, e);
		if (x < 0)
			return -1;
		int o = stream_new(m, n->out[0], odt, pe, pix * mh);
		tmap(m, n->out[0], o);
		int64_t sf = mw / simd, nf = mh / pe, steps = 0;
		sb_printf(B, "static void %s(hls::stream<%s> &in, hls::stream<%s> &out)\n{\n#pragma HLS INLINE off\n", fn,
		          vtype(&m->s[x], a), vtype(&m->s[o], b2));
		ctype(wdt, a);
		table_type(B, "w_t", a, nash_datatype_min(wdt), nash_datatype_max(wdt));
		strcpy(c, "w_t");
		sb_printf(B, "\tstatic const %s w[%lld][%lld][%lld] = {", c, (long long)pe, (long long)(sf * nf), (long long)simd);
		for (int64_t p = 0; p < pe; p++) {
			sb_printf(B, "%s{", p ? "," : "");
			for (int64_t f = 0; f < nf; f++)
				for (int64_t s = 0; s < sf; s++) {
					sb_printf(B, "%s{", f || s ? "," : "");
					for (int64_t q = 0; q < simd; q++)
						sb_printf(B, "%s%lld", q ? "," : "", (long long)nash_tensor_int(w, (s * simd + q) * mh + f * pe + p));
					sb_printf(B, "}");
				}
			sb_printf(B, "}");
		}
		sb_printf(B, "};\n");
		const char *mode = nash_attr_str(n, "mem_mode", "const");
		sb_printf(B, "#pragma HLS ARRAY_RESHAPE variable=w complete dim=1\n#pragma HLS ARRAY_RESHAPE variable=w complete dim=3\n");
		sb_printf(B, "#pragma HLS BIND_STORAGE variable=w type=rom_1p impl=%s\n", impl_of(nash_attr_str(n, "ram_style", "auto")));
		if (!strcmp(mode, "decoupled"))
			sb_printf(B, "\t// mem_mode decoupled: nash-est costed the weights as a separate streamer memory\n");
		if (thr) {
			const nash_tensor *t = nash_tensor_find(g, n->in[2]);
			if (!t || !t->data || t->ndim != 2 || (t->shape[0] != 1 && t->shape[0] != mh))
				return nash_fail(e, "graph %s: node %s: thresholds %s must be MH x steps with data", g->name,
				                 n->name, n->in[2]);
			steps = t->shape[1];
			emit_thresholds(B, "t", t, mh, pe, al, ah, tt);
			sb_printf(B, "#pragma HLS ARRAY_PARTITION variable=t complete dim=1\n#pragma HLS ARRAY_PARTITION variable=t complete dim=3\n");
			sb_printf(B, "#pragma HLS BIND_STORAGE variable=t type=rom_1p impl=%s\n",
			          impl_of(nash_attr_str(n, "ram_style_thresholds", "auto")));
		} else {
			strcpy(tt, ta);
			sb_printf(B, "\tstatic const %s t[%lld][%lld][1] = {};\n", tt, (long long)pe, (long long)nf);
		}
		sb_printf(B, "\tnash::mvau<%lld, %lld, %lld, %lld, %lld, %lld, %d, %d, %s, %s, %s, %s, %s>(in, out, w, t, %lld);\n}\n\n",
		          (long long)mw, (long long)mh, (long long)simd, (long long)pe, (long long)pix, (long long)steps,
		          xnor, thr && odt.kind == NASH_DT_BIPOLAR, m->s[x].type, c, ta, tt, m->s[o].type,
		          (long long)nash_attr_int(n, "ActVal", 0));
		sb_printf(&m->body, "\t%s(%s, %s);\n", fn, m->s[x].name, m->s[o].name);
		return 0;
	}
	if (!strcmp(op, "Thresholding")) {
		const nash_tensor *t = nash_tensor_find(g, n->in[1]);
		int64_t C = xs->shape[xs->ndim - 1], pe = attr_fold(n, "PE"), pix = nash_tensor_numel(xs) / C;
		if (!t || !t->data || t->ndim != 2 || C % pe)
			return nash_fail(e, "graph %s: node %s: thresholds or PE do not fit %lld channels", g->name, n->name,
			                 (long long)C);
		nash_datatype odt = attr_dt(n, "outputDataType", idt);
		int x = use_stream(m, n, n->in[0], pe, e);
		if (x < 0)
			return -1;
		int o = stream_new(m, n->out[0], odt, pe, pix * C);
		tmap(m, n->out[0], o);
		sb_printf(B, "static void %s(hls::stream<%s> &in, hls::stream<%s> &out)\n{\n#pragma HLS INLINE off\n", fn,
		          vtype(&m->s[x], a), vtype(&m->s[o], b2));
		emit_thresholds(B, "t", t, C, pe, nash_datatype_min(idt), nash_datatype_max(idt), tt);
		sb_printf(B, "#pragma HLS ARRAY_PARTITION variable=t complete dim=1\n#pragma HLS ARRAY_PARTITION variable=t complete dim=3\n");
		sb_printf(B, "#pragma HLS BIND_STORAGE variable=t type=rom_1p impl=%s\n",
		          impl_of(nash_attr_str(n, "ram_style_thresholds", nash_attr_str(n, "ram_style", "auto"))));
		sb_printf(B, "\tnash::thresholding<%lld, %lld, %lld, %lld, %d, %s, %s, %s>(in, out, t, %lld);\n}\n\n",
		          (long long)C, (long long)pe, (long long)pix, (long long)t->shape[1], odt.kind == NASH_DT_BIPOLAR,
		          m->s[x].type, tt, m->s[o].type, (long long)nash_attr_int(n, "ActVal", 0));
		sb_printf(&m->body, "\t%s(%s, %s);\n", fn, m->s[x].name, m->s[o].name);
		return 0;
	}
	if (!strcmp(op, "StreamingMaxPool") || !strcmp(op, "QuantAvgPool")) {
		int avg = op[0] == 'Q';
		const char *kn = avg ? "Kernel" : "PoolDim";
		int64_t k[2], st[2], p[4] = {0, 0, 0, 0}, pe = attr_fold(n, "PE");
		if (nash_attr_ints(n, kn, k, 2) < 2) k[0] = k[1] = nash_attr_ints(n, kn, k, 2) == 1 ? k[0] : nash_attr_int(n, kn, 1);
		if (nash_attr_ints(n, "Stride", st, 2) < 2) st[0] = st[1] = nash_attr_ints(n, "Stride", st, 2) == 1 ? st[0] : nash_attr_int(n, "Stride", 0);
		if (st[0] == 0) st[0] = k[0];
		if (st[1] == 0) st[1] = k[1];
		int np = nash_attr_ints(n, "Padding", p, 4);
		if (np == 2) p[2] = p[0], p[3] = p[1];
		else if (np != 4) p[0] = p[1] = p[2] = p[3] = np == 1 ? p[0] : nash_attr_int(n, "Padding", 0);
		int64_t H = xs->shape[0], W = xs->shape[1], C = xs->shape[2];
		int64_t oh = (H + p[0] + p[2] - k[0]) / st[0] + 1, ow = (W + p[1] + p[3] - k[1]) / st[1] + 1;
		if (C % pe)
			return nash_fail(e, "graph %s: node %s: PE %lld does not divide %lld channels", g->name, n->name,
			                 (long long)pe, (long long)C);
		nash_datatype odt = avg ? attr_dt(n, "outputDataType", idt) : idt;
		int64_t lo = nash_datatype_min(idt), hi = nash_datatype_max(idt), padv;
		int shift = 0;
		if (avg) {
			padv = idt.kind == NASH_DT_BIPOLAR ? -1 : 0;
			int64_t l = lo < 0 ? lo : 0, h = hi > 0 ? hi : 0;
			rtype(l * k[0] * k[1] < 0 ? l * k[0] * k[1] : -1, h * k[0] * k[1], ta);
			shift = (int)nash_attr_int(n, "Shift", 0);
		} else {
			padv = lo;
			rtype(lo < 0 ? lo : -1, hi, ta);
		}
		int x = use_stream(m, n, n->in[0], pe, e);
		if (x < 0)
			return -1;
		int o = stream_new(m, n->out[0], odt, pe, oh * ow * C);
		tmap(m, n->out[0], o);
		sb_printf(B, "static void %s(hls::stream<%s> &in, hls::stream<%s> &out)\n{\n#pragma HLS INLINE off\n", fn,
		          vtype(&m->s[x], a), vtype(&m->s[o], b2));
		sb_printf(B, "\tstatic %s buf[%lld][%lld];\n", vtype(&m->s[x], a), (long long)k[0], (long long)(W * C / pe));
		sb_printf(B, "#pragma HLS BIND_STORAGE variable=buf type=ram_2p impl=%s\n", impl_of(nash_attr_str(n, "ram_style", "auto")));
		sb_printf(B, "\tnash::pool<%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %d, %d, %s, %s, %s>(in, out, buf, %s(%lld));\n}\n\n",
		          (long long)H, (long long)W, (long long)C, (long long)k[0], (long long)k[1], (long long)st[0],
		          (long long)st[1], (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3], (long long)pe,
		          avg, shift, m->s[x].type, ta, m->s[o].type, m->s[x].type, (long long)padv);
		sb_printf(&m->body, "\t%s(%s, %s);\n", fn, m->s[x].name, m->s[o].name);
		return 0;
	}
	if (!strcmp(op, "AddStreams")) {
		int64_t C = xs->shape[xs->ndim - 1], pe = attr_fold(n, "PE"), tot = nash_tensor_numel(xs);
		int sy = tfind(m, n->in[1]);
		if (sy < 0 || C % pe)
			return nash_fail(e, "graph %s: node %s: needs two streams and a PE dividing %lld", g->name, n->name, (long long)C);
		nash_datatype odt = attr_dt(n, "outputDataType", idt);
		int x = use_stream(m, n, n->in[0], pe, e);
		int y = x < 0 ? -1 : use_stream(m, n, n->in[1], pe, e);
		if (y < 0)
			return -1;
		int o = stream_new(m, n->out[0], odt, pe, tot);
		tmap(m, n->out[0], o);
		sb_printf(&m->body, "\tnash::add_streams<%lld, %lld, %s, %s, %s>(%s, %s, %s);\n", (long long)(tot / pe),
		          (long long)pe, m->s[x].type, m->s[y].type, m->s[o].type, m->s[x].name, m->s[y].name, m->s[o].name);
		return 0;
	}
	if (!strcmp(op, "DuplicateStreams")) {
		int64_t C = xs->shape[xs->ndim - 1], pe = attr_fold(n, "PE"), tot = nash_tensor_numel(xs);
		if (C % pe)
			return nash_fail(e, "graph %s: node %s: PE %lld does not divide %lld channels", g->name, n->name,
			                 (long long)pe, (long long)C);
		int x = use_stream(m, n, n->in[0], pe, e);
		if (x < 0)
			return -1;
		/* the outputs form one array of streams */
		m->aname = nash_realloc(m->aname, (size_t)(m->na + 1) * sizeof *m->aname);
		m->afirst = nash_realloc(m->afirst, (size_t)(m->na + 1) * sizeof *m->afirst);
		m->acount = nash_realloc(m->acount, (size_t)(m->na + 1) * sizeof *m->acount);
		snprintf(m->aname[m->na], sizeof m->aname[m->na], "a%d_%.36s", m->na, id);
		m->afirst[m->na] = m->ns;
		m->acount[m->na] = n->nout;
		for (int j = 0; j < n->nout; j++) {
			int o = stream_new(m, n->out[j], idt, pe, tot);
			snprintf(m->s[o].name, sizeof m->s[o].name, "%s[%d]", m->aname[m->na], j);
			m->s[o].arr = m->na;
			tmap(m, n->out[j], o);
		}
		sb_printf(&m->body, "\tnash::duplicate<%lld, %d>(%s, %s);\n", (long long)(tot / pe), n->nout, m->s[x].name,
		          m->aname[m->na]);
		m->na++;
		return 0;
	}
	if (!strcmp(op, "StreamingConcat")) {
		int64_t simd = attr_fold(n, "SIMD"), pix = nash_tensor_numel(xs) / xs->shape[xs->ndim - 1], ch = 0;
		int ins[MAXS];
		int64_t words[MAXS];
		for (int j = 0; j < n->nin; j++) {
			const nash_tensor *ys = nash_graph_shape(g, n->in[j]);
			int64_t cj = ys->shape[ys->ndim - 1];
			if (cj % simd)
				return nash_fail(e, "graph %s: node %s: SIMD %lld does not divide the %lld channels of input %d",
				                 g->name, n->name, (long long)simd, (long long)cj, j);
			ins[j] = use_stream(m, n, n->in[j], simd, e);
			if (ins[j] < 0)
				return -1;
			words[j] = cj / simd;
			ch += cj;
		}
		int o = stream_new(m, n->out[0], idt, simd, pix * ch);
		tmap(m, n->out[0], o);
		sb_printf(&m->body, "\tnash::concat<%lld", (long long)pix);
		for (int j = 0; j < n->nin; j++)
			sb_printf(&m->body, ", %lld", (long long)words[j]);
		sb_printf(&m->body, ">(");
		for (int j = 0; j < n->nin; j++)
			sb_printf(&m->body, "%s, ", m->s[ins[j]].name);
		sb_printf(&m->body, "%s);\n", m->s[o].name);
		return 0;
	}
	if (!strcmp(op, "LabelSelect")) {
		int64_t L = xs->shape[xs->ndim - 1], pe = attr_fold(n, "PE"), k = nash_attr_int(n, "K", 1);
		if (L % pe)
			return nash_fail(e, "graph %s: node %s: PE %lld does not divide Labels %lld", g->name, n->name,
			                 (long long)pe, (long long)L);
		nash_datatype odt = attr_dt(n, "outputDataType", nash_datatype_fit(0, L - 1));
		int x = use_stream(m, n, n->in[0], pe, e);
		if (x < 0)
			return -1;
		int o = stream_new(m, n->out[0], odt, 1, k);
		tmap(m, n->out[0], o);
		sb_printf(&m->body, "\tnash::label_select<%lld, %lld, %lld, %s, %s>(%s, %s);\n", (long long)L, (long long)pe,
		          (long long)k, m->s[x].type, m->s[o].type, m->s[x].name, m->s[o].name);
		return 0;
	}
	return nash_fail(e, "graph %s: node %s: op %s has no HLS template", g->name, n->name, op);
}

/* ------------------------------------------------------- files */

static int bits_word(nash_datatype d)
{
	int b = d.kind == NASH_DT_BIPOLAR || d.kind == NASH_DT_BINARY ? 1 : d.bits;
	return (b + 7) / 8 * 8;
}

static int copy_file(em *m, const char *src, const char *rel, nash_err *e)
{
	FILE *f = fopen(src, "rb");
	if (!f)
		return nash_fail(e, "%s: cannot read the HLS header library: %s", src, strerror(errno));
	sb b = {0};
	char buf[8192];
	size_t k;
	while ((k = fread(buf, 1, sizeof buf, f)) > 0)
		sb_printf(&b, "%.*s", (int)k, buf);
	fclose(f);
	int rc = write_text(m, rel, b.p ? b.p : "", b.n, e);
	free(b.p);
	return rc;
}

void nash_hls_info_free(nash_hls_info *info)
{
	for (int i = 0; i < info->nfiles; i++)
		free(info->files[i]);
	free(info->files);
	memset(info, 0, sizeof *info);
}

int nash_hls_write(const nash_graph *g, const int32_t *x, int n, int threads, const char *share_hls,
                   const char *dir, nash_hls_info *info, nash_err *e)
{
	if (nash_hls_check(g, e) < 0)
		return -1;
	memset(info, 0, sizeof *info);
	snprintf(info->top, sizeof info->top, "nash_top");
	em m;
	memset(&m, 0, sizeof m);
	m.g = g;
	m.info = info;
	m.dir = dir;
	int rc = -1;
	char a[96], b[96];
	int64_t *want = NULL;
	/* expected outputs: the integer executor */
	nash_hwnet *h = nash_hwnet_new(g, n > 0 ? n : 1, threads, e);
	if (!h)
		return -1;
	if (n > 0 && nash_hwnet_run_hwc(h, x, n, e) < 0) {
		nash_hwnet_free(h);
		return -1;
	}
	int k;
	nash_hwout kind;
	const int64_t *out = nash_hwnet_output(h, &k, &kind);
	want = nash_alloc((size_t)((int64_t)(n > 0 ? n : 1) * k) * sizeof *want);
	memcpy(want, out, (size_t)((int64_t)n * k) * sizeof *want);
	nash_hwnet_free(h);

	const nash_io *in = &g->inputs[0];
	int64_t isz = in->shape[0] * in->shape[1] * in->shape[2];
	int si = stream_new(&m, "in", in->datatype, 1, isz);
	tmap(&m, in->name, si);
	for (int i = 0; i < g->nnodes; i++)
		if (emit_node(&m, g->nodes[i], e) < 0)
			goto done;
	int so = tfind(&m, g->outputs[0].name);
	if (so < 0) {
		nash_fail(e, "graph %s: output %s is not a stream", g->name, g->outputs[0].name);
		goto done;
	}
	int ib = bits_word(in->datatype), ob = bits_word(m.s[so].dt);
	const nash_val *est = nash_val_get(g->meta, "est");
	const char *part = nash_val_as_str(nash_val_get(est, "part"));
	double clock = nash_val_as_f64(nash_val_get(est, "clock_mhz"), 200);
	/* top.h */
	sb hd = {0};
	sb_printf(&hd, "// %s: the top function of graph %s (generated by nash-hls)\n#ifndef NASH_TOP_H\n#define NASH_TOP_H\n"
	               "#include \"nash/nash_hls.h\"\n\n"
	               "// one input element per AXI-stream word (H x W x C order), one output element per word\n"
	               "typedef ap_uint<%d> in_word;\ntypedef ap_uint<%d> out_word;\n"
	               "typedef %s in_elem;\ntypedef %s out_elem;\n"
	               "#define NASH_IN_ELEMS %lld\n#define NASH_OUT_ELEMS %lld\n\n"
	               "void %s(hls::stream<in_word> &in, hls::stream<out_word> &out);\n\n#endif\n",
	          "top.h", g->name, ib, ob, m.s[si].type, m.s[so].type, (long long)isz, (long long)m.s[so].total,
	          info->top);
	/* top.cpp: wrappers, then the dataflow region */
	sb tp = {0};
	sb_printf(&tp, "// top.cpp: graph %s as a dataflow design, one call per layer (generated by nash-hls).\n"
	               "// Folding (PE/SIMD), memory styles and FIFO depths come from nash-est.\n#include \"top.h\"\n\n",
	          g->name);
	sb_printf(&tp, "%s", m.decl.p ? m.decl.p : "");
	sb_printf(&tp, "void %s(hls::stream<in_word> &in, hls::stream<out_word> &out)\n{\n"
	               "#pragma HLS INTERFACE axis port=in\n#pragma HLS INTERFACE axis port=out\n"
	               "#pragma HLS INTERFACE ap_ctrl_none port=return\n#pragma HLS DATAFLOW\n",
	          info->top);
	for (int i = 0; i < m.ns; i++) {
		if (m.s[i].arr >= 0)
			continue;
		sb_printf(&tp, "\tstatic hls::stream<%s> %s(\"%s\");\n", vtype(&m.s[i], a), m.s[i].name, m.s[i].name);
		sb_printf(&tp, "#pragma HLS STREAM variable=%s depth=%lld\n", m.s[i].name, (long long)m.s[i].depth);
	}
	for (int i = 0; i < m.na; i++) { /* one depth for the array: its deepest FIFO */
		int64_t d = 2;
		for (int j = 0; j < m.acount[i]; j++)
			d = m.s[m.afirst[i] + j].depth > d ? m.s[m.afirst[i] + j].depth : d;
		sb_printf(&tp, "\tstatic hls::stream<%s> %s[%d];\n", vtype(&m.s[m.afirst[i]], a), m.aname[i], m.acount[i]);
		sb_printf(&tp, "#pragma HLS STREAM variable=%s depth=%lld\n", m.aname[i], (long long)d);
	}
	sb_printf(&tp, "\tnash::stream_in<%lld, 1, %s, in_word>(in, %s);\n", (long long)isz, m.s[si].type, m.s[si].name);
	sb_printf(&tp, "%s", m.body.p ? m.body.p : "");
	sb_printf(&tp, "\tnash::stream_out<%lld, %lld, %s, out_word>(%s, out);\n}\n", (long long)m.s[so].total,
	          (long long)m.s[so].n, m.s[so].type, m.s[so].name);
	/* testbench data */
	sb td = {0};
	sb_printf(&td, "// tb_data.h: %d input frames and the integer executor's outputs (generated by nash-hls)\n"
	               "#define TB_IMAGES %d\n#define TB_OUTS %d\n#define TB_KIND \"%s\"\n",
	          n, n > 0 ? n : 1, k, kind == NASH_HWOUT_TOPK ? "top-k class indices" : "integer scores");
	sb_printf(&td, "static const int tb_in[%d][%lld] = {", n > 0 ? n : 1, (long long)isz);
	for (int i = 0; i < (n > 0 ? n : 1); i++) {
		sb_printf(&td, "%s\n{", i ? "," : "");
		for (int64_t j = 0; j < isz; j++)
			sb_printf(&td, "%s%d", j ? "," : "", n > 0 ? x[(int64_t)i * isz + j] : 0);
		sb_printf(&td, "}");
	}
	sb_printf(&td, "};\nstatic const long long tb_out[%d][%d] = {", n > 0 ? n : 1, k);
	for (int i = 0; i < (n > 0 ? n : 1); i++) {
		sb_printf(&td, "%s\n{", i ? "," : "");
		for (int j = 0; j < k; j++)
			sb_printf(&td, "%s%lld", j ? "," : "", n > 0 ? (long long)want[(int64_t)i * k + j] : 0LL);
		sb_printf(&td, "}");
	}
	sb_printf(&td, "};\n");
	static const char tb[] =
		"// tb.cpp: C simulation testbench (generated by nash-hls). Feeds every frame of\n"
		"// tb_data.h through the top function and compares each output with the integer\n"
		"// executor's (nash's lib/hwexec), bit for bit. Exit status 0 only if all match.\n"
		"#include \"top.h\"\n#include \"tb_data.h\"\n#include <chrono>\n#include <cstdio>\n\n"
		"int main()\n{\n\tint bad = 0;\n\tauto t0 = std::chrono::steady_clock::now();\n"
		"\tfor (int i = 0; i < TB_IMAGES; i++) {\n"
		"\t\thls::stream<in_word> in(\"in\");\n\t\thls::stream<out_word> out(\"out\");\n"
		"\t\tfor (int j = 0; j < NASH_IN_ELEMS; j++)\n"
		"\t\t\tin.write(nash::to_bits<in_word>(in_elem(tb_in[i][j])));\n"
		"\t\tnash_top(in, out);\n"
		"\t\tint wrong = (int)out.size() != TB_OUTS;\n"
		"\t\tfor (int j = 0; j < TB_OUTS && !out.empty(); j++) {\n"
		"\t\t\tlong long got = (long long)nash::from_bits<out_elem>(out.read());\n"
		"\t\t\tif (got != tb_out[i][j]) {\n"
		"\t\t\t\tif (!wrong && bad < 10)\n"
		"\t\t\t\t\tstd::printf(\"image %d output %d: csim %lld, expected %lld\\n\", i, j, got, tb_out[i][j]);\n"
		"\t\t\t\twrong = 1;\n\t\t\t}\n\t\t}\n"
		"\t\tif (!in.empty())\n\t\t\twrong = 1;\n"
		"\t\tbad += wrong;\n\t}\n"
		"\tdouble s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();\n"
		"\tstd::printf(\"csim: %d images, %d match, %d mismatch (%s), %.3f s, %.3f s per image\\n\", TB_IMAGES,\n"
		"\t            TB_IMAGES - bad, bad, TB_KIND, s, s / TB_IMAGES);\n"
		"\tstd::printf(\"csim: %s\\n\", bad ? \"FAIL\" : \"PASS\");\n\treturn bad ? 1 : 0;\n}\n";
	sb mk = {0};
	sb_printf(&mk, "# Makefile (generated by nash-hls): C simulation with g++ alone.\n"
	               "#   make csim     build and run the testbench (exit 0: every frame matches)\n"
	               "#   make hls      Vitis HLS: csim, synthesis and IP export (run_hls.tcl)\n"
	               "CXX ?= g++\nCXXFLAGS ?= -O2\n"
	               "CSIM_FLAGS = -std=c++14 -Wall -Wno-unknown-pragmas -Wno-unused-label -I.\n\n"
	               "csim: csim_bin\n\t./csim_bin\n\n"
	               "csim_bin: tb.cpp top.cpp top.h tb_data.h nash/nash_hls.h nash/nash_shim.h\n"
	               "\t$(CXX) $(CSIM_FLAGS) $(CXXFLAGS) -DNASH_HLS_SHIM -o $@ tb.cpp top.cpp\n\n"
	               "hls:\n\tvitis_hls -f run_hls.tcl\n\nclean:\n\trm -rf csim_bin %s_hls\n\n.PHONY: csim hls clean\n",
	          "nash");
	sb tcl = {0};
	sb_printf(&tcl, "# run_hls.tcl (generated by nash-hls): vitis_hls -f run_hls.tcl\n"
	                "open_project -reset nash_hls\nset_top %s\n"
	                "add_files top.cpp -cflags \"-std=c++14 -I.\"\n"
	                "add_files -tb tb.cpp -cflags \"-std=c++14 -I.\"\nadd_files -tb tb_data.h\n"
	                "open_solution -reset sol1 -flow_target vivado\nset_part {%s}\n"
	                "create_clock -period %.4g -name default\n"
	                "csim_design\ncsynth_design\nexport_design -format ip_catalog\nexit\n",
	          info->top, part ? part : "xczu7ev-ffvc1156-2-e", 1000.0 / clock);
	sb rd = {0};
	sb_printf(&rd, "# %s: Vitis HLS project\n\nGenerated by nash-hls from graph `%s` (folded by nash-est for %s at %g MHz).\n\n"
	               "- `top.cpp`, `top.h`: the top function `%s`, a DATAFLOW region with one call per\n"
	               "  layer (%d layers, %d width converters); weights and thresholds are packed per\n"
	               "  PE/SIMD inside each layer's wrapper, memories bound as nash-est chose.\n"
	               "  AXI-stream in: one %s element per %d-bit word (H x W x C order);\n"
	               "  out: one %s element per %d-bit word.\n"
	               "- `nash/`: nash's HLS template library and the ap_int/hls::stream shim used\n"
	               "  when the Vitis headers are absent.\n"
	               "- `tb.cpp`, `tb_data.h`: testbench with %d input frames (%s) and the outputs of\n"
	               "  nash's integer executor; C simulation must match them bit for bit.\n"
	               "- `Makefile`: `make csim` (g++ only); `make hls` runs `run_hls.tcl` (csim, csynth,\n"
	               "  IP export) with Vitis HLS.\n",
	          g->name, g->name, part ? part : "?", clock, info->top, m.layers, m.converters, m.s[si].type, ib,
	          m.s[so].type, ob, n, kind == NASH_HWOUT_TOPK ? "outputs are top-k class indices" : "outputs are integer scores");
	info->layers = m.layers;
	info->converters = m.converters;
	char src[4096];
	rc = 0;
	snprintf(src, sizeof src, "%s/nash_hls.h", share_hls);
	if (copy_file(&m, src, "nash/nash_hls.h", e) < 0)
		rc = -1;
	snprintf(src, sizeof src, "%s/nash_shim.h", share_hls);
	if (rc == 0 && copy_file(&m, src, "nash/nash_shim.h", e) < 0)
		rc = -1;
	if (rc == 0)
		rc = write_text(&m, "top.h", hd.p, hd.n, e);
	if (rc == 0)
		rc = write_text(&m, "top.cpp", tp.p, tp.n, e);
	if (rc == 0)
		rc = write_text(&m, "tb.cpp", tb, strlen(tb), e);
	if (rc == 0)
		rc = write_text(&m, "tb_data.h", td.p, td.n, e);
	if (rc == 0)
		rc = write_text(&m, "Makefile", mk.p, mk.n, e);
	if (rc == 0)
		rc = write_text(&m, "run_hls.tcl", tcl.p, tcl.n, e);
	if (rc == 0)
		rc = write_text(&m, "README.md", rd.p, rd.n, e);
	free(hd.p), free(tp.p), free(td.p), free(mk.p), free(tcl.p), free(rd.p);
	(void)b;
done:
	free(want);
	free(m.s);
	for (int i = 0; i < m.nt; i++)
		free(m.tname[i]);
	free(m.tname);
	free(m.tstream);
	free(m.aname), free(m.afirst), free(m.acount);
	free(m.top.p), free(m.decl.p), free(m.body.p);
	if (rc < 0)
		nash_err_prefix(e, "%s", "");
	return rc;
}
