/* netstate.c - a net's parameters: selection by kind, exact state for
 * checkpoints. */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

int nash_net_params(nash_net *net, unsigned mask, nash_param ***out)
{
	int n = nash_net_nparams(net), k = 0;
	nash_param **p = nash_alloc(sizeof *p * (size_t)(n > 0 ? n : 1));
	for (int i = 0; i < n; i++) {
		nash_param *q = nash_net_param(net, i);
		if (q->g && (mask >> q->kind) & 1)
			p[k++] = q;
	}
	*out = p;
	return k;
}

nash_val *nash_params_state(nash_net *net)
{
	nash_val *m = nash_val_map();
	int n = nash_net_nparams(net);
	for (int i = 0; i < n; i++) {
		nash_param *q = nash_net_param(net, i);
		nash_val_set(m, q->name, nash_val_bin(q->w, sizeof(float) * (size_t)q->n));
	}
	return m;
}

int nash_params_restore(nash_net *net, const nash_val *st, nash_err *e)
{
	if (!st || st->t != NASH_V_MAP)
		return nash_fail(e, "checkpoint without parameter values");
	int n = nash_net_nparams(net);
	if ((int)st->u.m.n != n)
		return nash_fail(e, "checkpoint holds %zu parameters, the net has %d", st->u.m.n, n);
	for (int i = 0; i < n; i++) {
		nash_param *q = nash_net_param(net, i);
		const nash_val *v = nash_val_get(st, q->name);
		if (!v || v->t != NASH_V_BIN || v->u.s.n != sizeof(float) * (size_t)q->n)
			return nash_fail(e, "checkpoint: parameter %s is missing or has the wrong size", q->name);
		memcpy(q->w, v->u.s.p, v->u.s.n);
	}
	return 0;
}
