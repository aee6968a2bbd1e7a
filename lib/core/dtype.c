/* dtype.c - storage types and FINN-style value ranges. */
#include "core/nash.h"

#include <stdlib.h>
#include <string.h>

static const char *const dtnames[NASH_NDTYPE] = {
	"float32", "int8", "uint8", "int16", "int32", "int64"
};
static const size_t dtsizes[NASH_NDTYPE] = { 4, 1, 1, 2, 4, 8 };

const char *nash_dtype_name(nash_dtype d)
{
	return (unsigned)d < NASH_NDTYPE ? dtnames[d] : "?";
}

int nash_dtype_parse(const char *s, nash_dtype *out)
{
	for (int i = 0; i < NASH_NDTYPE; i++)
		if (strcmp(s, dtnames[i]) == 0) {
			*out = (nash_dtype)i;
			return 0;
		}
	return -1;
}

size_t nash_dtype_size(nash_dtype d)
{
	return (unsigned)d < NASH_NDTYPE ? dtsizes[d] : 0;
}

int nash_datatype_parse(const char *s, nash_datatype *out)
{
	char *end;
	long b;
	nash_datatype d = {NASH_DT_NONE, 0};
	if (!s || !*s) {
		*out = d;
		return 0;
	}
	if (strcmp(s, "BIPOLAR") == 0)
		d = (nash_datatype){NASH_DT_BIPOLAR, 1};
	else if (strcmp(s, "BINARY") == 0)
		d = (nash_datatype){NASH_DT_BINARY, 1};
	else if (strcmp(s, "FLOAT32") == 0)
		d = (nash_datatype){NASH_DT_FLOAT, 32};
	else if (strncmp(s, "UINT", 4) == 0 || strncmp(s, "INT", 3) == 0) {
		int u = s[0] == 'U';
		const char *num = s + (u ? 4 : 3);
		if (*num < '1' || *num > '9')
			return -1;
		b = strtol(num, &end, 10);
		if (*end || b < 1 || b > 64 || (!u && b < 2))
			return -1;
		d = (nash_datatype){u ? NASH_DT_UINT : NASH_DT_INT, (int)b};
	} else
		return -1;
	*out = d;
	return 0;
}

char *nash_datatype_name(nash_datatype d, char *buf)
{
	switch (d.kind) {
	case NASH_DT_INT: sprintf(buf, "INT%d", d.bits); break;
	case NASH_DT_UINT: sprintf(buf, "UINT%d", d.bits); break;
	case NASH_DT_BIPOLAR: strcpy(buf, "BIPOLAR"); break;
	case NASH_DT_BINARY: strcpy(buf, "BINARY"); break;
	case NASH_DT_FLOAT: strcpy(buf, "FLOAT32"); break;
	default: buf[0] = 0;
	}
	return buf;
}

int64_t nash_datatype_min(nash_datatype d)
{
	switch (d.kind) {
	case NASH_DT_INT: return d.bits >= 64 ? INT64_MIN : -((int64_t)1 << (d.bits - 1));
	case NASH_DT_BIPOLAR: return -1;
	default: return 0;
	}
}

int64_t nash_datatype_max(nash_datatype d)
{
	switch (d.kind) {
	case NASH_DT_INT: return d.bits >= 64 ? INT64_MAX : ((int64_t)1 << (d.bits - 1)) - 1;
	case NASH_DT_UINT: return d.bits >= 63 ? INT64_MAX : ((int64_t)1 << d.bits) - 1;
	case NASH_DT_BIPOLAR: case NASH_DT_BINARY: return 1;
	default: return 0;
	}
}

int nash_datatype_is_int(nash_datatype d)
{
	return d.kind == NASH_DT_INT || d.kind == NASH_DT_UINT ||
	       d.kind == NASH_DT_BIPOLAR || d.kind == NASH_DT_BINARY;
}

int nash_datatype_signed(nash_datatype d)
{
	return d.kind == NASH_DT_INT || d.kind == NASH_DT_BIPOLAR || d.kind == NASH_DT_FLOAT;
}

nash_datatype nash_datatype_fit(int64_t lo, int64_t hi)
{
	nash_datatype d;
	if (lo >= 0) {
		d.kind = NASH_DT_UINT;
		for (d.bits = 1; d.bits < 63 && hi > nash_datatype_max(d); d.bits++)
			;
		return d;
	}
	d.kind = NASH_DT_INT;
	for (d.bits = 2; d.bits < 64 && (lo < nash_datatype_min(d) || hi > nash_datatype_max(d)); d.bits++)
		;
	return d;
}

nash_dtype nash_datatype_storage(nash_datatype d)
{
	if (d.kind == NASH_DT_FLOAT || d.kind == NASH_DT_NONE)
		return NASH_F32;
	if (d.kind == NASH_DT_BIPOLAR || d.kind == NASH_DT_BINARY)
		return NASH_I8;
	if (d.kind == NASH_DT_UINT)
		return d.bits <= 7 ? NASH_I8 : d.bits <= 8 ? NASH_U8 : d.bits <= 15 ? NASH_I16 :
		       d.bits <= 31 ? NASH_I32 : NASH_I64;
	return d.bits <= 8 ? NASH_I8 : d.bits <= 16 ? NASH_I16 : d.bits <= 32 ? NASH_I32 : NASH_I64;
}
