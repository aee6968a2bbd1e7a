/* optim.c - SGD (momentum, Nesterov) and Adam/AdamW over arrays of
 * nash_param, global gradient-norm clipping, state for checkpoints. */
#include "train/train.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct nash_optim {
	nash_optim_opts o;
	int n;
	nash_param **p;
	float **m, **v;     /* SGD: m = momentum buffer; Adam: moments */
	int64_t t;
};

static const char *const kind_names[] = {"sgd", "adam", "adamw"};

const char *nash_optkind_name(nash_optkind k)
{
	return (unsigned)k < 3 ? kind_names[k] : "?";
}

int nash_optkind_parse(const char *s, nash_optkind *out)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, kind_names[i])) {
			*out = (nash_optkind)i;
			return 0;
		}
	return -1;
}

void nash_optim_defaults(nash_optim_opts *o, nash_optkind kind)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->momentum = 0.9;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->eps = 1e-8;
	o->no_decay = 1u << NASH_P_QSCALE;
}

static int nslots(const nash_optim *o)
{
	if (o->o.kind == NASH_OPT_SGD)
		return o->o.momentum != 0 ? 1 : 0;
	return 2;
}

nash_optim *nash_optim_new(const nash_optim_opts *oo, nash_param *const *p, int n)
{
	nash_optim *o = nash_alloc(sizeof *o);
	o->o = *oo;
	o->p = nash_alloc(sizeof *o->p * (size_t)(n > 0 ? n : 1));
	for (int i = 0; i < n; i++)
		if (p[i]->g && p[i]->kind != NASH_P_STATE)
			o->p[o->n++] = p[i];
	o->m = nash_alloc(sizeof *o->m * (size_t)(o->n + 1));
	o->v = nash_alloc(sizeof *o->v * (size_t)(o->n + 1));
	int ns = nslots(o);
	for (int i = 0; i < o->n; i++) {
		size_t b = sizeof(float) * (size_t)o->p[i]->n;
		if (ns >= 1)
			o->m[i] = nash_alloc(b);
		if (ns >= 2)
			o->v[i] = nash_alloc(b);
	}
	return o;
}

void nash_optim_free(nash_optim *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->n; i++) {
		free(o->m[i]);
		free(o->v[i]);
	}
	free(o->m);
	free(o->v);
	free(o->p);
	free(o);
}

/* Parameters are updated in parallel, one parameter per task (updates are
 * elementwise, so the result does not depend on the threads); small sets
 * stay on one thread. */
static int par_threads(const nash_optim *o)
{
	int64_t tot = 0;
	for (int i = 0; i < o->n; i++)
		tot += o->p[i]->n;
	return tot < (1 << 18) ? 1 : o->o.threads > 0 ? o->o.threads : omp_get_max_threads();
}

double nash_optim_grad_norm(const nash_optim *o)
{
	/* per-parameter sums added in a fixed order: the same for any threads */
	double *part = nash_alloc(sizeof *part * (size_t)(o->n + 1)), s = 0;
	#pragma omp parallel for schedule(dynamic) num_threads(par_threads(o))
	for (int i = 0; i < o->n; i++) {
		const float *g = o->p[i]->g;
		double a = 0;
		for (int64_t k = 0; k < o->p[i]->n; k++)
			a += (double)g[k] * g[k];
		part[i] = a;
	}
	for (int i = 0; i < o->n; i++)
		s += part[i];
	free(part);
	return sqrt(s);
}

double nash_optim_clip(nash_optim *o, double max_norm)
{
	double norm = nash_optim_grad_norm(o);
	if (max_norm > 0 && isfinite(norm) && norm > max_norm) {
		float f = (float)(max_norm / (norm + 1e-6));
		#pragma omp parallel for schedule(dynamic) num_threads(par_threads(o))
		for (int i = 0; i < o->n; i++) {
			float *g = o->p[i]->g;
			for (int64_t k = 0; k < o->p[i]->n; k++)
				g[k] *= f;
		}
	}
	return norm;
}

void nash_optim_step(nash_optim *o, double lr)
{
	const nash_optim_opts *c = &o->o;
	o->t++;
	const float flr = (float)lr;
	if (c->kind == NASH_OPT_SGD) {
		const float mom = (float)c->momentum;
		#pragma omp parallel for schedule(dynamic) num_threads(par_threads(o))
		for (int i = 0; i < o->n; i++) {
			nash_param *p = o->p[i];
			float wd = (c->no_decay >> p->kind) & 1 ? 0.0f : (float)c->wd;
			float *w = p->w, *g = p->g, *b = o->m[i];
			const int64_t n = p->n;
			if (!b) {
				for (int64_t k = 0; k < n; k++)
					w[k] -= flr * (g[k] + wd * w[k]);
			} else if (o->t == 1) {
				for (int64_t k = 0; k < n; k++) {
					float d = g[k] + wd * w[k];
					b[k] = d;
					w[k] -= flr * (c->nesterov ? d + mom * d : d);
				}
			} else if (c->nesterov) {
				for (int64_t k = 0; k < n; k++) {
					float d = g[k] + wd * w[k];
					b[k] = mom * b[k] + d;
					w[k] -= flr * (d + mom * b[k]);
				}
			} else {
				for (int64_t k = 0; k < n; k++) {
					float d = g[k] + wd * w[k];
					b[k] = mom * b[k] + d;
					w[k] -= flr * b[k];
				}
			}
		}
		return;
	}
	/* Adam, AdamW */
	const double b1 = c->beta1, b2 = c->beta2;
	const float fb1 = (float)b1, fb2 = (float)b2, eps = (float)c->eps;
	const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
	const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
	#pragma omp parallel for schedule(dynamic) num_threads(par_threads(o))
	for (int i = 0; i < o->n; i++) {
		nash_param *p = o->p[i];
		float wd = (c->no_decay >> p->kind) & 1 ? 0.0f : (float)c->wd;
		float *w = p->w, *g = p->g, *m = o->m[i], *v = o->v[i];
		const int64_t n = p->n;
		const int decoupled = c->kind == NASH_OPT_ADAMW;
		for (int64_t k = 0; k < n; k++) {
			float d = g[k];
			if (decoupled)
				w[k] -= flr * wd * w[k];
			else
				d += wd * w[k];
			m[k] = fb1 * m[k] + (1.0f - fb1) * d;
			v[k] = fb2 * v[k] + (1.0f - fb2) * d * d;
			w[k] -= step * m[k] / (sqrtf(v[k]) * rbc2 + eps);
		}
	}
}

int64_t nash_optim_steps(const nash_optim *o)
{
	return o->t;
}

nash_val *nash_optim_state(const nash_optim *o)
{
	nash_val *st = nash_val_map(), *slots = nash_val_map();
	nash_val_set(st, "kind", nash_val_str(nash_optkind_name(o->o.kind)));
	nash_val_set(st, "steps", nash_val_int(o->t));
	int ns = nslots(o);
	for (int i = 0; i < o->n; i++) {
		nash_val *a = nash_val_arr();
		size_t b = sizeof(float) * (size_t)o->p[i]->n;
		if (ns >= 1)
			nash_val_push(a, nash_val_bin(o->m[i], b));
		if (ns >= 2)
			nash_val_push(a, nash_val_bin(o->v[i], b));
		nash_val_set(slots, o->p[i]->name, a);
	}
	nash_val_set(st, "slots", slots);
	return st;
}

int nash_optim_restore(nash_optim *o, const nash_val *st, nash_err *e)
{
	const char *k = nash_val_as_str(nash_val_get(st, "kind"));
	if (!k || strcmp(k, nash_optkind_name(o->o.kind)))
		return nash_fail(e, "optimiser state is for '%s', this run uses %s", k ? k : "?",
		                 nash_optkind_name(o->o.kind));
	const nash_val *slots = nash_val_get(st, "slots");
	if (!slots || slots->t != NASH_V_MAP)
		return nash_fail(e, "optimiser state without slots");
	int ns = nslots(o);
	if ((int)slots->u.m.n != o->n)
		return nash_fail(e, "optimiser state holds %zu parameters, the net trains %d", slots->u.m.n, o->n);
	for (int i = 0; i < o->n; i++) {
		const nash_val *a = nash_val_get(slots, o->p[i]->name);
		if (!a || a->t != NASH_V_ARR || (int)a->u.a.n != ns)
			return nash_fail(e, "optimiser state: no slots for parameter %s", o->p[i]->name);
		size_t b = sizeof(float) * (size_t)o->p[i]->n;
		for (int s = 0; s < ns; s++) {
			const nash_val *x = a->u.a.v[s];
			if (x->t != NASH_V_BIN || x->u.s.n != b)
				return nash_fail(e, "optimiser state of %s has the wrong size", o->p[i]->name);
			memcpy(s ? o->v[i] : o->m[i], x->u.s.p, b);
		}
	}
	o->t = nash_val_as_int(nash_val_get(st, "steps"), 0);
	return 0;
}
