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

int nash_ckpt_read(const char *path, const char *done_meta, nash_graph ***out, nash_err *e)
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
		else if (!nash_val_get(g[i]->meta, "checkpoint") && !nash_val_get(g[i]->meta, done_meta))
			rc = nash_fail(e, "%s: graph %s has neither meta.%s nor meta.checkpoint: not a checkpoint of this run",
			               path, g[i]->name, done_meta);
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
