/* preset.c - bit-width presets: the generic wNaM settings and the NASH
 * reference code's per-version settings (nash-quant(1) cites the sources). */
#include "quant/quant.h"

#include <stdlib.h>
#include <string.h>

const char *const nash_quant_presets[] = {
	"w1a1", "w1a2", "w2a2", "w4a4", "w8a8", "nash-v1", "nash-v2", "nash-v3", "nash-v4", NULL
};

typedef struct {
	const char *name, *about;
	nash_qbits b;
} preset;

/* Fields: w, a, first, last, down, nas_w, skip_w, nas_a, adder, pool.
 * Generic presets keep the ResNet conventions of the reference code
 * (8-bit first, last and 1x1 downsample layers, 8-bit adders) and leave
 * the rest derived; on the BNN-PYNQ topologies first and last follow w. */
static const preset table[] = {
	{"w1a1", "binary weights, 1-bit activations", {1, 1, 0, 0, 8, 0, 0, 0, 8, 0}},
	{"w1a2", "binary weights, 2-bit activations", {1, 2, 0, 0, 8, 0, 0, 0, 8, 0}},
	{"w2a2", "2-bit weights and activations", {2, 2, 0, 0, 8, 0, 0, 0, 8, 0}},
	{"w4a4", "4-bit weights and activations", {4, 4, 0, 0, 8, 0, 0, 0, 8, 0}},
	{"w8a8", "8-bit weights and activations", {8, 8, 0, 0, 8, 0, 0, 0, 8, 0}},
	/* NASH reference code, ResNet18, per version: stem, downsample and FC
	 * 8 bit; backbone 3x3 convs and their activations; NAS convs binary
	 * (v4: 8 bit); factorized reduce 4 bit; NAS-op inputs 8 bit; adders
	 * 8 bit; pool output 4 bit */
	{"nash-v1", "NASH reference code v1: 8-bit backbone, binary NAS convs", {8, 8, 8, 8, 8, 1, 4, 8, 8, 4}},
	{"nash-v2", "NASH reference code v2: as v1", {8, 8, 8, 8, 8, 1, 4, 8, 8, 4}},
	{"nash-v3", "NASH reference code v3: 4-bit backbone, binary NAS convs", {4, 4, 8, 8, 8, 1, 4, 8, 8, 4}},
	{"nash-v4", "NASH reference code v4: binary backbone, 8-bit NAS convs", {1, 8, 8, 8, 8, 8, 4, 8, 8, 4}},
	{NULL, NULL, {0}}
};

/* The reference code's one ResNet34 setting (every version). */
static const nash_qbits resnet34_nash = {2, 2, 8, 8, 8, 1, 4, 8, 8, 4};

static int bnn_pynq(const char *arch)
{
	return arch && (!strcmp(arch, "cnv") || !strcmp(arch, "lfc") || !strcmp(arch, "sfc") ||
	                !strcmp(arch, "tfc"));
}

const char *nash_quant_preset_about(const char *name)
{
	for (int i = 0; table[i].name; i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].about;
	return NULL;
}

int nash_quant_preset(const char *name, const char *arch, nash_qbits *out, nash_err *e)
{
	for (int i = 0; table[i].name; i++) {
		if (strcmp(name, table[i].name) != 0)
			continue;
		*out = table[i].b;
		if (strncmp(name, "nash-", 5) == 0) {
			if (arch && strncmp(arch, "resnet", 6) != 0)
				return nash_fail(e, "preset %s is the NASH reference code's ResNet setting; %s has no NASH cells (use w1a1, w1a2, w2a2, w4a4 or w8a8)",
				                 name, arch);
			if (arch && strcmp(arch, "resnet34") == 0)
				*out = resnet34_nash;
		}
		return 0;
	}
	char list[256] = "";
	for (int i = 0; nash_quant_presets[i]; i++) {
		strcat(list, i ? ", " : "");
		strcat(list, nash_quant_presets[i]);
	}
	return nash_fail(e, "unknown preset '%s' (known: %s)", name, list);
}

void nash_quant_resolve(nash_qbits *b, const char *arch)
{
	int bnn = bnn_pynq(arch);
	if (!b->first)
		b->first = bnn ? b->w : 8;
	if (!b->last)
		b->last = bnn ? b->w : 8;
	if (!b->down)
		b->down = b->w;
	if (!b->nas_w)
		b->nas_w = b->w;
	if (!b->skip_w)
		b->skip_w = b->nas_w;
	if (!b->nas_a)
		b->nas_a = b->a;
	if (!b->adder)
		b->adder = 8;
}

static int bits_at(const char **p, int *out)
{
	const char *s = *p;
	int v = 0, n = 0;
	while (*s >= '0' && *s <= '9' && n < 3) {
		v = v * 10 + (*s - '0');
		s++;
		n++;
	}
	if (n == 0 || (*s >= '0' && *s <= '9'))
		return -1;
	*out = v;
	*p = s;
	return 0;
}

int nash_quant_spec_parse(const char *spec, int *w, int *a, nash_err *e)
{
	const char *s = spec;
	*w = *a = 0;
	if (*s == 'w' && (s++, bits_at(&s, w) < 0))
		goto bad;
	if (*s == 'a' && (s++, bits_at(&s, a) < 0))
		goto bad;
	if (*s || (!*w && !*a))
		goto bad;
	if ((*w && (*w < 1 || *w > NASH_QUANT_MAXBITS)) || (*a && (*a < 1 || *a > NASH_QUANT_MAXBITS)))
		return nash_fail(e, "'%s': bit widths must be in 1..%d", spec, NASH_QUANT_MAXBITS);
	return 0;
bad:
	return nash_fail(e, "'%s' is not wN, aM or wNaM (e.g. w4a4, w1, a2)", spec);
}

double nash_quant_act_range(int bits)
{
	/* The reference code's QuantReLU max_val: 1.5 at 2 bits, 4 at 4 bits,
	 * 10 at 8 bits; linear in between, 1 at 1 bit, 10 above 8 bits. */
	if (bits <= 1)
		return 1.0;
	if (bits <= 2)
		return 1.5;
	if (bits <= 4)
		return 1.5 + 1.25 * (bits - 2);
	if (bits <= 8)
		return 4.0 + 1.5 * (bits - 4);
	return 10.0;
}
