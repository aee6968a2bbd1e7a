/* ckpt.c - checkpoint files: nash(5) streams whose last graph may carry
 * meta.checkpoint, written atomically. */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

int nash_ckpt_write(const char *path, nash_graph *const *graphs, int n, nash_err *e)
{
	unsigned char *all = NULL;
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		unsigned char *buf;
		size_t k;
		if (nash_encode_graph(graphs[i], &buf, &k, e) < 0) {
			free(all);
			return -1;
		}
		all = nash_realloc(all, len + k);
		memcpy(all + len, buf, k);
		len += k;
		free(buf);
	}
	int rc = nash_write_file_atomic(path, all, len, e);
	free(all);
	return rc;
}

int nash_ckpt_read(const char *path, nash_graph ***out, nash_err *e)
{
	nash_graph **g = NULL;
	int n = nash_read_graphs_file(path, &g, e);
	if (n < 0)
		return -1;
	int rc = 0;
	if (n == 0)
		rc = nash_fail(e, "%s: no graph in this file, so it is no checkpoint", path);
	for (int i = 0; i < n && rc == 0; i++) {
		if (nash_graph_validate(g[i], e) < 0) {
			nash_err_prefix(e, "%s: ", path);
			rc = -1;
		} else if (i < n - 1 && nash_val_get(g[i]->meta, "checkpoint"))
			rc = nash_fail(e, "%s: graph %d (%s) holds training state but is not the last one", path, i + 1,
			               g[i]->name);
		else if (!nash_val_get(g[i]->meta, "checkpoint") && !nash_val_get(g[i]->meta, "train"))
			rc = nash_fail(e, "%s: graph %s is neither trained nor in training: not a nash-train checkpoint",
			               path, g[i]->name);
	}
	if (rc < 0) {
		for (int i = 0; i < n; i++)
			nash_graph_free(g[i]);
		free(g);
		return -1;
	}
	*out = g;
	return n;
}

int nash_graph_fingerprint(const nash_graph *g, char out[17], nash_err *e)
{
	unsigned char *buf;
	size_t n;
	if (nash_encode_graph(g, &buf, &n, e) < 0)
		return -1;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= buf[i];
		h *= 0x100000001b3ull;
	}
	free(buf);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	return 0;
}

/* ------------------------------------------------------ a run's checkpoint */

struct nash_ckrun {
	char *path;
	nash_graph **done;    /* finished graphs, in stream order */
	int ndone;
	int *owned;           /* done[i] is ours to free */
	nash_graph **ck;      /* the checkpoint read for a resume */
	int nck, ck_done, next;
};

nash_ckrun *nash_ckrun_new(const char *path, int resume, nash_err *e)
{
	nash_ckrun *r = nash_alloc(sizeof *r);
	r->path = path ? nash_strdup(path) : NULL;
	if (path && resume) {
		FILE *f = fopen(path, "rb");
		if (!f) {
			nash_fail(e, "%s: no checkpoint to resume from", path);
			nash_ckrun_free(r);
			return NULL;
		}
		fclose(f);
		if ((r->nck = nash_ckpt_read(path, &r->ck, e)) < 0) {
			r->nck = 0;
			nash_ckrun_free(r);
			return NULL;
		}
		r->ck_done = nash_val_get(r->ck[r->nck - 1]->meta, "checkpoint") ? r->nck - 1 : r->nck;
	}
	return r;
}

void nash_ckrun_free(nash_ckrun *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->ndone; i++)
		if (r->owned[i])
			nash_graph_free(r->done[i]);
	for (int i = 0; i < r->nck; i++)
		nash_graph_free(r->ck[i]);   /* NULL once moved to done */
	free(r->done);
	free(r->owned);
	free(r->ck);
	free(r->path);
	free(r);
}

int nash_ckrun_next(nash_ckrun *r, nash_graph *g, nash_graph **use, nash_ckstate *st, nash_err *e)
{
	int k = r->next++;
	*use = g;
	*st = NASH_CK_FRESH;
	if (k >= r->nck)
		return 0;
	nash_graph *c = r->ck[k];
	if (strcmp(c->name, g->name))
		return nash_fail(e, "%s: graph %d of the checkpoint is %s but the input's is %s", r->path, k + 1, c->name,
		                 g->name);
	if (k >= r->ck_done) {
		char fp[17];
		const char *was = nash_val_as_str(nash_val_path(c->meta, "checkpoint.input"));
		if (nash_graph_fingerprint(g, fp, e) < 0)
			return -1;
		if (!was || strcmp(was, fp))
			return nash_fail(e, "%s: graph %s of the checkpoint was trained from another input graph", r->path,
			                 g->name);
		*st = NASH_CK_RESUME;
	} else
		*st = NASH_CK_DONE;
	*use = c;
	return 0;
}

int nash_ckrun_save(nash_ckrun *r, const nash_graph *cur, nash_err *e)
{
	if (!r->path)
		return 0;
	r->done = nash_realloc(r->done, sizeof *r->done * (size_t)(r->ndone + 1));
	r->done[r->ndone] = (nash_graph *)cur;
	return nash_ckpt_write(r->path, r->done, r->ndone + (cur != NULL), e);
}

int nash_ckrun_finish(nash_ckrun *r, nash_graph *g, nash_err *e)
{
	if (!r->path)
		return 0;
	int from_ck = 0, was_done = 0;
	for (int i = 0; i < r->nck; i++)
		if (r->ck[i] == g) {
			from_ck = 1;
			was_done = i < r->ck_done;
		}
	r->done = nash_realloc(r->done, sizeof *r->done * (size_t)(r->ndone + 1));
	r->owned = nash_realloc(r->owned, sizeof *r->owned * (size_t)(r->ndone + 1));
	r->done[r->ndone] = from_ck ? g : nash_graph_copy(g);
	r->owned[r->ndone] = 1;
	if (from_ck)
		for (int i = 0; i < r->nck; i++)
			if (r->ck[i] == g)
				r->ck[i] = NULL;
	r->ndone++;
	/* a graph the checkpoint holds as finished changes nothing in it (and
	 * rewriting now would drop the state of the graph in training) */
	return was_done ? 0 : nash_ckrun_save(r, NULL, e);
}

int nash_ckrun_unused(const nash_ckrun *r)
{
	return r->nck > r->next ? r->nck - r->next : 0;
}
