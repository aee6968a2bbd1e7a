/* device.c - the FPGA device table: parts, boards, resource totals. */
#include "hw/hw.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Keep identical to share/nash/devices.tsv (test_hw checks it). */
static const char builtin_tsv[] =
"# nash device table: datasheet totals of the parts nash-est(1) knows.\n"
"# part\tboards\tfamily\tlut\tff\tbram36\turam\tdsp\n"
"# One BRAM36 is two BRAM18. Boards are matched case-insensitively.\n"
"# Sources: the vendors' product tables (Zynq-7000, Zynq UltraScale+ MPSoC,\n"
"# Kria K26, Alveo U250/U280 data sheets), as restated in REFERENCE.md.\n"
"xc7z020\tpynq-z1,pynq-z2\tzynq7\t53200\t106400\t140\t0\t220\n"
"xc7z045\tzc706\tzynq7\t218600\t437200\t545\t0\t900\n"
"xczu3eg\tultra96,ultra96-v2\tzynquplus\t70560\t141120\t216\t0\t360\n"
"xck26\tkv260,kria-kv260\tzynquplus\t117120\t234240\t144\t64\t1248\n"
"xczu7ev\tzcu104\tzynquplus\t230400\t460800\t312\t96\t1728\n"
"xczu9eg\tzcu102\tzynquplus\t274080\t548160\t912\t0\t2520\n"
"xcu250\tu250,alveo-u250\tvirtexuplus\t1728000\t3456000\t2688\t1280\t12288\n"
"xcu280\tu280,alveo-u280\tvirtexuplus\t1304000\t2607000\t2016\t960\t9024\n";

#define MAXDEV 64
static nash_hw_device table[MAXDEV];
static int ndev = -1;
static char load_error[1024];   /* a malformed installed table */

const char *nash_hw_devices_builtin(void)
{
	return builtin_tsv;
}

/* Parse TSV text into t; returns the count or -1. */
static int parse(const char *text, const char *label, nash_hw_device *t, nash_err *e)
{
	int n = 0, line = 0;
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char buf[512];
		line++;
		if (len >= sizeof buf)
			return nash_fail(e, "%s line %d: line too long", label, line);
		memcpy(buf, p, len);
		buf[len] = 0;
		p += len + (eol ? 1 : 0);
		if (len && buf[len - 1] == '\r')
			buf[--len] = 0;
		char *s = buf;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		char *f[9];
		int nf = 0;
		for (char *q = buf;; ) {
			if (nf < 9)
				f[nf] = q;
			nf++;
			char *tab = strchr(q, '\t');
			if (!tab)
				break;
			*tab = 0;
			q = tab + 1;
		}
		if (nf != 8)
			return nash_fail(e, "%s line %d: expected 8 tab-separated fields (part, boards, family, lut, ff, bram36, uram, dsp), found %d",
			                 label, line, nf);
		if (n >= MAXDEV)
			return nash_fail(e, "%s line %d: more than %d devices", label, line, MAXDEV);
		nash_hw_device *d = &t[n];
		memset(d, 0, sizeof *d);
		if (!f[0][0] || strlen(f[0]) >= sizeof d->part || strlen(f[1]) >= sizeof d->boards ||
		    strlen(f[2]) >= sizeof d->family)
			return nash_fail(e, "%s line %d: empty or overlong part, boards or family", label, line);
		snprintf(d->part, sizeof d->part, "%s", f[0]);
		snprintf(d->boards, sizeof d->boards, "%s", f[1]);
		snprintf(d->family, sizeof d->family, "%s", f[2]);
		int64_t v[5];
		for (int i = 0; i < 5; i++) {
			char *end;
			errno = 0;
			long long x = strtoll(f[3 + i], &end, 10);
			if (errno || end == f[3 + i] || *end || x < 0)
				return nash_fail(e, "%s line %d: field %d ('%s') is not a non-negative integer", label, line,
				                 4 + i, f[3 + i]);
			v[i] = x;
		}
		d->lut = v[0];
		d->ff = v[1];
		d->bram18 = 2 * v[2];
		d->uram = v[3];
		d->dsp = v[4];
		n++;
	}
	if (n == 0)
		return nash_fail(e, "%s: no devices", label);
	return n;
}

int nash_hw_devices_load(const char *path, nash_err *e)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return nash_fail(e, "%s: %s", path, strerror(errno));
	size_t cap = 4096, n = 0;
	char *buf = nash_alloc(cap);
	size_t k;
	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 >= cap) {
			cap *= 2;
			buf = nash_realloc(buf, cap);
		}
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		return nash_fail(e, "%s: read error", path);
	}
	buf[n] = 0;
	nash_hw_device t[MAXDEV];
	int c = parse(buf, path, t, e);
	free(buf);
	if (c < 0)
		return -1;
	memcpy(table, t, sizeof(nash_hw_device) * (size_t)c);
	ndev = c;
	return 0;
}

static void ensure(void)
{
	if (ndev >= 0)
		return;
	char path[4200];
	snprintf(path, sizeof path, "%s/devices.tsv", nash_share_dir());
	nash_err e;
	FILE *f = fopen(path, "r");
	if (f) {
		fclose(f);
		if (nash_hw_devices_load(path, &e) == 0)
			return;
		snprintf(load_error, sizeof load_error, "%s", e.msg);
	}
	ndev = parse(builtin_tsv, "built-in device table", table, &e);
	if (ndev < 0)
		ndev = 0;
}

int nash_hw_ndevices(void)
{
	ensure();
	return ndev;
}

const nash_hw_device *nash_hw_device_at(int i)
{
	ensure();
	return i >= 0 && i < ndev ? &table[i] : NULL;
}

static int board_match(const char *boards, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = boards; *p; ) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncasecmp(p, name, n) == 0)
			return 1;
		if (!c)
			break;
		p = c + 1;
	}
	return 0;
}

const nash_hw_device *nash_hw_device_find(const char *name, nash_err *e)
{
	ensure();
	if (load_error[0]) {
		nash_fail(e, "device table %s", load_error);
		return NULL;
	}
	const nash_hw_device *best = NULL;
	size_t bestlen = 0;
	for (int i = 0; i < ndev; i++) {
		const nash_hw_device *d = &table[i];
		size_t len = strlen(d->part);
		if (strcasecmp(name, d->part) == 0 || board_match(d->boards, name))
			return d;
		/* a full part name: xc7z020clg400-1 is an xc7z020 */
		if (strncasecmp(name, d->part, len) == 0 && name[len] && !isdigit((unsigned char)name[len]) && len > bestlen) {
			best = d;
			bestlen = len;
		}
	}
	if (best)
		return best;
	char list[1024] = "";
	size_t off = 0;
	for (int i = 0; i < ndev && off < sizeof list; i++) {
		char b[128];
		snprintf(b, sizeof b, "%s", table[i].boards);
		for (char *c = b; *c; c++)
			if (*c == ',')
				*c = '/';
		off += (size_t)snprintf(list + off, sizeof list - off, "%s%s (%s)", i ? ", " : "", table[i].part, b);
	}
	nash_fail(e, "unknown part '%s'; known parts: %s", name, list);
	return NULL;
}
