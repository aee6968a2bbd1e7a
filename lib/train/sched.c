/* sched.c - learning-rate schedules: constant, cosine, step; linear
 * warm-up. */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"const", "cosine", "step"};

const char *nash_schedkind_name(nash_schedkind k)
{
	return (unsigned)k < 3 ? names[k] : "?";
}

static int num(const char *s, double *v, char **end)
{
	errno = 0;
	*v = strtod(s, end);
	return errno || *end == s || !isfinite(*v) ? -1 : 0;
}

int nash_sched_parse(const char *spec, nash_schedkind *kind, double *period, double *gamma, nash_err *e)
{
	if (!strcmp(spec, "const") || !strcmp(spec, "constant")) {
		*kind = NASH_SCHED_CONST;
		return 0;
	}
	if (!strcmp(spec, "cosine") || !strcmp(spec, "cos")) {
		*kind = NASH_SCHED_COSINE;
		return 0;
	}
	if (!strncmp(spec, "step:", 5)) {
		char *end;
		double p, g = 0.1;
		if (num(spec + 5, &p, &end) < 0 || !(p > 0) || (*end && *end != ':'))
			return nash_fail(e, "schedule '%s': step:EPOCHS[:GAMMA] needs EPOCHS > 0", spec);
		if (*end == ':' && (num(end + 1, &g, &end) < 0 || *end || !(g > 0 && g <= 1)))
			return nash_fail(e, "schedule '%s': GAMMA must be in (0, 1]", spec);
		*kind = NASH_SCHED_STEP;
		*period = p;
		*gamma = g;
		return 0;
	}
	return nash_fail(e, "unknown schedule '%s' (const, cosine or step:EPOCHS[:GAMMA])", spec);
}

double nash_sched_lr(const nash_sched *s, int64_t t)
{
	if (t < s->warmup)
		return s->lr * (double)(t + 1) / (double)s->warmup;
	int64_t u = t - s->warmup, span = s->total - s->warmup;
	switch (s->kind) {
	case NASH_SCHED_COSINE:
		if (span <= 0 || u >= span)
			return s->min_lr;
		return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * (double)u / (double)span));
	case NASH_SCHED_STEP:
		return s->period > 0 ? s->lr * pow(s->gamma, (double)(u / s->period)) : s->lr;
	default:
		return s->lr;
	}
}
