/* test_core.c - record round trips, framing, limits, IR validation,
 * shape inference and counting. */
#include "core/nash.h"
#include "unit.h"

#include <msgpack.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* A small conv net built with the builder API. */
static nash_graph *small(void)
{
	nash_graph *g = nash_graph_new("small");
	int64_t in[] = {1, 8, 8}, w[] = {4, 1, 3, 3}, c4[] = {4}, fw[] = {10, 64}, c10[] = {10};
	nash_graph_add_input(g, "x", NASH_F32, 3, in);
	nash_tensor *t = nash_tensor_add(g, "conv.w", NASH_F32, 4, w);
	for (int i = 0; i < 36; i++)
		((float *)t->data)[i] = (float)i / 7.0f - 2.0f;
	for (int k = 0; k < 4; k++) {
		static const char *bn[] = {"bn.scale", "bn.bias", "bn.mean", "bn.var"};
		t = nash_tensor_add(g, bn[k], NASH_F32, 1, c4);
		for (int i = 0; i < 4; i++)
			((float *)t->data)[i] = k == 0 || k == 3 ? 1.0f : 0.0f;
	}
	nash_tensor_add(g, "fc.w", NASH_F32, 2, fw);
	nash_tensor_add(g, "fc.b", NASH_F32, 1, c10);
	nash_node *n = nash_node_add(g, "Conv", "conv", (const char *[]){"x", "conv.w", NULL},
	                             (const char *[]){"c", NULL});
	nash_attr_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
	nash_attr_set_ints(n, "strides", 2, (int64_t[]){2, 2});
	nash_node_add(g, "BatchNormalization", "bn",
	              (const char *[]){"c", "bn.scale", "bn.bias", "bn.mean", "bn.var", NULL},
	              (const char *[]){"b", NULL});
	nash_node_add(g, "Relu", "relu", (const char *[]){"b", NULL}, (const char *[]){"r", NULL});
	nash_node_add(g, "Flatten", "flat", (const char *[]){"r", NULL}, (const char *[]){"f", NULL});
	n = nash_node_add(g, "Gemm", "fc", (const char *[]){"f", "fc.w", "fc.b", NULL},
	                  (const char *[]){"y", NULL});
	nash_attr_set_int(n, "transB", 1);
	nash_graph_add_output(g, "y");
	nash_val *m = nash_meta(g, "gen");
	nash_val_set(m, "model", nash_val_str("small"));
	nash_val_set(m, "lr", nash_val_f64(0.025));
	nash_val_set(m, "f32", nash_val_f32(0.5f));
	nash_val_set(m, "neg", nash_val_int(-300));
	return g;
}

static int feed_bytes(const unsigned char *buf, size_t n, size_t chunk, nash_record ***recs,
                      int *nrec, nash_err *e)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		for (size_t i = 0; i < n; i += chunk) {
			size_t k = n - i < chunk ? n - i : chunk;
			if (write(p[1], buf + i, k) != (ssize_t)k)
				_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	nash_reader *r = nash_reader_new(p[0], "pipe");
	nash_record *rec;
	int rc;
	*nrec = 0;
	*recs = NULL;
	while ((rc = nash_read(r, &rec, e)) > 0) {
		*recs = realloc(*recs, (size_t)(*nrec + 1) * sizeof **recs);
		(*recs)[(*nrec)++] = rec;
	}
	nash_reader_free(r);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return rc;
}

static unsigned char *cat(const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
	unsigned char *c = malloc(na + nb + 1);
	memcpy(c, a, na);
	memcpy(c + na, b, nb);
	return c;
}

/* msgpack bytes of a map built with msgpack-c, for foreign records */
static unsigned char *foreign(int version, const char *kind, size_t *n)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str(&pk, 4); msgpack_pack_str_body(&pk, "nash", 4);
	msgpack_pack_int(&pk, version);
	msgpack_pack_str(&pk, 4); msgpack_pack_str_body(&pk, "kind", 4);
	msgpack_pack_str(&pk, strlen(kind)); msgpack_pack_str_body(&pk, kind, strlen(kind));
	msgpack_pack_str(&pk, 5); msgpack_pack_str_body(&pk, "stuff", 5);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_bin(&pk, 3); msgpack_pack_bin_body(&pk, "abc", 3);
	*n = sb.size;
	return (unsigned char *)sb.data;
}



int main(void)
{
	nash_err e = {{0}};
	nash_graph *g = small();
	CHECK(nash_graph_validate(g, &e) == 0, "builder graph validates (%s)", e.msg);
	const nash_tensor *y = nash_graph_shape(g, "c");
	CHECK(y && y->ndim == 3 && y->shape[0] == 4 && y->shape[1] == 4 && y->shape[2] == 4,
	      "conv shape inferred 4x4x4");
	nash_counts c;
	nash_graph_count(g, &c, &e);
	CHECK(c.params == 36 + 8 + 640 + 10, "params exclude BN statistics (%lld)", (long long)c.params);
	CHECK(c.macs == 64 * 9 + 640, "MACs of conv + gemm (%lld)", (long long)c.macs);

	/* round trip: encode, decode, encode gives the same bytes */
	unsigned char *b1, *b2;
	size_t n1, n2;
	nash_encode_graph(g, &b1, &n1, &e);
	nash_record *r = NULL;
	CHECK(nash_decode(b1, n1, &r, &e) == 0 && r->kind == NASH_REC_GRAPH, "decode own record (%s)", e.msg);
	nash_encode_graph(r->graph, &b2, &n2, &e);
	CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0, "re-encoding is byte-identical (%zu vs %zu bytes)", n1, n2);
	CHECK(nash_val_path(r->graph->meta, "gen.f32")->t == NASH_V_F32, "float32 meta stays float32");
	CHECK(nash_val_as_int(nash_val_path(r->graph->meta, "gen.neg"), 0) == -300, "negative int meta");
	nash_record_free(r);

	/* unknown keys at every level pass through */
	nash_graph *h = nash_graph_copy(g);
	h->extra = nash_val_map();
	nash_val_set(h->extra, "future", nash_val_str("x"));
	h->nodes[0]->extra = nash_val_map();
	nash_val_set(h->nodes[0]->extra, "hint", nash_val_int(7));
	nash_tensor_find(h, "conv.w")->extra = nash_val_map();
	nash_val_set(nash_tensor_find(h, "conv.w")->extra, "layout", nash_val_str("OIHW"));
	unsigned char *b3, *b4;
	size_t n3, n4;
	nash_encode_graph(h, &b3, &n3, &e);
	nash_decode(b3, n3, &r, &e);
	nash_encode_graph(r->graph, &b4, &n4, &e);
	CHECK(n3 == n4 && memcmp(b3, b4, n3) == 0, "unknown keys survive byte-identically");
	CHECK(strcmp(nash_val_as_str(nash_val_get(r->graph->extra, "future")), "x") == 0, "unknown top key kept");
	nash_record_free(r);
	nash_graph_free(h);

	/* tensor data is copied out (the decoded buffer can go) */
	unsigned char *tmp = malloc(n1);
	memcpy(tmp, b1, n1);
	nash_decode(tmp, n1, &r, &e);
	memset(tmp, 0xff, n1);
	free(tmp);
	CHECK(((float *)nash_tensor_find(r->graph, "conv.w")->data)[5] == 5.0f / 7.0f - 2.0f,
	      "tensor data copied out of the read buffer");
	CHECK(((uintptr_t)nash_tensor_find(r->graph, "conv.w")->data & 63) == 0, "tensor data aligned");
	nash_record_free(r);

	/* framing through a pipe, one byte at a time, three records */
	size_t nf;
	unsigned char *fr = foreign(1, "note", &nf);
	unsigned char *s1 = cat(b1, n1, fr, nf), *s = cat(s1, n1 + nf, b1, n1);
	size_t ns = 2 * n1 + nf;
	nash_record **recs;
	int nrec;
	for (size_t chunk = 1; chunk <= 4096; chunk *= 64) {
		int rc = feed_bytes(s, ns, chunk, &recs, &nrec, &e);
		CHECK(rc == 0 && nrec == 3, "pipe in %zu-byte writes: 3 records (%s)", chunk, rc ? e.msg : "");
		if (nrec == 3) {
			CHECK(recs[1]->kind == NASH_REC_OTHER && recs[1]->nraw == nf &&
			      memcmp(recs[1]->raw, fr, nf) == 0, "unknown kind kept verbatim");
			CHECK(strcmp(recs[2]->graph->name, "small") == 0, "graph after unknown kind");
		}
		for (int i = 0; i < nrec; i++)
			nash_record_free(recs[i]);
		free(recs);
	}

	/* truncation */
	for (size_t cut = 1; cut < n1; cut += n1 / 7 + 1) {
		e.msg[0] = 0;
		int rc = feed_bytes(b1, cut, 97, &recs, &nrec, &e);
		CHECK(rc < 0 && nrec == 0 && strstr(e.msg, "truncated"), "cut at %zu detected: %s", cut, e.msg);
		free(recs);
	}
	/* empty stream: clean end with no record */
	CHECK(feed_bytes(b1, 0, 1, &recs, &nrec, &e) == 0 && nrec == 0, "empty stream reads as end");
	free(recs);

	/* newer version */
	unsigned char *fv = foreign(99, "graph", &nf);
	CHECK(nash_decode(fv, nf, &r, &e) < 0 && strstr(e.msg, "version 99"), "newer version rejected: %s", e.msg);
	free(fv);
	free(fr);

	/* random bytes, invalid byte, non-map */
	unsigned char junk[] = {0xc1, 1, 2};
	CHECK(feed_bytes(junk, 3, 3, &recs, &nrec, &e) < 0 && strstr(e.msg, "not a nash stream"), "0xc1: %s", e.msg);
	free(recs);
	unsigned char fix[] = {0x05};
	CHECK(feed_bytes(fix, 1, 1, &recs, &nrec, &e) < 0 && strstr(e.msg, "not a map"), "integer record: %s", e.msg);
	free(recs);

	/* limits before allocation: an array claiming 2^32-1 items, deep nesting */
	unsigned char big[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
	CHECK(feed_bytes(big, sizeof big, 6, &recs, &nrec, &e) < 0, "huge count refused or truncated: %s", e.msg);
	free(recs);
	unsigned char deep[200];
	for (int i = 0; i < 200; i++)
		deep[i] = 0x91;
	CHECK(feed_bytes(deep, 200, 200, &recs, &nrec, &e) < 0 && strstr(e.msg, "nested"), "deep nesting: %s", e.msg);
	free(recs);

	/* a tensor claiming 10^15 elements is refused at decode */
	{
		nash_graph *q = small();
		nash_tensor *t = nash_tensor_find(q, "fc.b");
		free(t->data);
		t->data = NULL; /* annotation: shape only */
		t->shape[0] = 1000000000000000LL;
		unsigned char *bq;
		size_t nq;
		nash_encode_graph(q, &bq, &nq, &e);
		CHECK(nash_decode(bq, nq, &r, &e) < 0 && strstr(e.msg, "fc.b"), "10^15 elements refused: %s", e.msg);
		free(bq);
		nash_graph_free(q);
	}

	/* an inferred tensor over the limit (pads of 10^5 make the conv output
	 * 4x100003x100003) is refused by validation, before any executor
	 * allocates it */
	{
		nash_graph *q = small();
		nash_attr_set_ints(q->nodes[0], "pads", 4, (int64_t[]){100000, 100000, 100000, 100000});
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "node conv") && strstr(e.msg, "over the limit"),
		      "huge inferred shape refused: %s", e.msg);
		nash_graph_free(q);
	}

	/* validation errors */
	{
		nash_graph *q = small();
		nash_node_set_in(q->nodes[2], 0, "nope");
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "nope") && strstr(e.msg, "relu"),
		      "undefined tensor named: %s", e.msg);
		nash_graph_free(q);
		q = small();
		nash_node *tmpn = q->nodes[0];
		q->nodes[0] = q->nodes[1];
		q->nodes[1] = tmpn;
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "topological"), "order: %s", e.msg);
		CHECK(nash_graph_toposort(q, &e) == 0 && nash_graph_validate(q, &e) == 0, "toposort repairs order");
		nash_graph_free(q);
		q = small();
		nash_tensor *t = nash_tensor_find(q, "fc.w");
		t->shape[1] = 63;
		free(t->data);
		t->data = nash_alloc(630 * 4);
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "shape mismatch") && strstr(e.msg, "fc"),
		      "shape mismatch: %s", e.msg);
		nash_graph_free(q);
		q = small();
		((float *)nash_tensor_find(q, "conv.w")->data)[3] = NAN;
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "NaN"), "NaN weight: %s", e.msg);
		nash_graph_free(q);
		q = small();
		nash_node_add(q, "Relu", "relu2", (const char *[]){"b", NULL}, (const char *[]){"r", NULL});
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "more than once"), "double definition: %s", e.msg);
		nash_graph_free(q);
		q = small();
		nash_node_add(q, "Frobnicate", "fz", (const char *[]){"b", NULL}, (const char *[]){"z", NULL});
		CHECK(nash_graph_validate(q, &e) < 0 && strstr(e.msg, "unknown op Frobnicate"), "unknown op: %s", e.msg);
		nash_graph_free(q);
	}

	/* editing: prune removes dead nodes and unused parameters */
	{
		nash_graph *q = small();
		nash_node_add(q, "Relu", "dead", (const char *[]){"b", NULL}, (const char *[]){"d", NULL});
		int64_t s3[] = {3};
		nash_tensor_add(q, "unused", NASH_F32, 1, s3);
		nash_graph_prune(q);
		CHECK(!nash_node_find(q, "dead") && !nash_tensor_find(q, "unused") && q->nnodes == 5, "prune");
		char *fresh = nash_graph_fresh_name(q, "conv.w");
		CHECK(strcmp(fresh, "conv.w_1") == 0, "fresh name %s", fresh);
		free(fresh);
		nash_graph_free(q);
	}

	/* datatypes */
	{
		nash_datatype d;
		char buf[16];
		CHECK(nash_datatype_parse("INT2", &d) == 0 && nash_datatype_min(d) == -2 && nash_datatype_max(d) == 1,
		      "INT2 range");
		CHECK(nash_datatype_parse("UINT4", &d) == 0 && nash_datatype_max(d) == 15, "UINT4 range");
		CHECK(nash_datatype_parse("BIPOLAR", &d) == 0 && nash_datatype_min(d) == -1, "BIPOLAR");
		CHECK(nash_datatype_parse("INT1", &d) < 0 && nash_datatype_parse("FOO", &d) < 0, "bad names");
		d = nash_datatype_fit(-5, 100);
		CHECK(strcmp(nash_datatype_name(d, buf), "INT8") == 0, "fit -5..100 is %s", buf);
		d = nash_datatype_fit(0, 255);
		CHECK(strcmp(nash_datatype_name(d, buf), "UINT8") == 0, "fit 0..255 is %s", buf);
	}

	/* values and JSON */
	{
		nash_val *m = nash_val_map();
		nash_val_set(m, "a", nash_val_int(1));
		nash_val_set(m, "b", nash_val_str("q\"x\n"));
		nash_val_set(m, "a", nash_val_f64(0.1));
		char *j = nash_val_json(m, -1, 0);
		CHECK(strcmp(j, "{\"a\":0.1,\"b\":\"q\\\"x\\n\"}") == 0, "json %s", j);
		free(j);
		nash_val_free(m);
		/* numbers: shortest round trip, integer digits never as an exponent */
		const double nums[] = {10, 100, 123456, -20, 0.5, 1e20, 1e-7, 93.94};
		const char *want[] = {"10", "100", "123456", "-20", "0.5", "1e+20", "1e-07", "93.94"};
		for (int i = 0; i < 8; i++) {
			nash_val *v = nash_val_f64(nums[i]);
			j = nash_val_json(v, -1, 0);
			CHECK(strcmp(j, want[i]) == 0, "json of %g is %s, want %s", nums[i], j, want[i]);
			free(j);
			nash_val_free(v);
		}
		CHECK(nash_glob("stage*.conv?", "stage1.conv2") && !nash_glob("stage*.fc", "stage1.conv"), "glob");
	}

	/* atomic files: devices are written in place, links followed */
	{
		struct stat st;
		CHECK(nash_write_file_atomic("/dev/null", "x", 1, &e) == 0, "write to /dev/null (%s)", e.msg);
		if (access("/dev/full", W_OK) == 0) {
			CHECK(nash_write_file_atomic("/dev/full", "x", 1, &e) < 0 && strstr(e.msg, "/dev/full"),
			      "/dev/full fails: %s", e.msg);
			CHECK(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode), "/dev/full is still a device");
		}
		char dir[] = "/tmp/nash-core-XXXXXX", f[64], l[64];
		CHECK(mkdtemp(dir) != NULL, "temporary directory");
		snprintf(f, sizeof f, "%s/file", dir);
		snprintf(l, sizeof l, "%s/link", dir);
		CHECK(nash_write_file_atomic(f, "one", 3, &e) == 0 && symlink("file", l) == 0, "file and link");
		CHECK(nash_write_file_atomic(l, "two!", 4, &e) == 0, "write through the link (%s)", e.msg);
		CHECK(lstat(l, &st) == 0 && S_ISLNK(st.st_mode) && stat(f, &st) == 0 && st.st_size == 4,
		      "the link stays a link, its file is replaced");
		CHECK(nash_write_file_atomic(dir, "x", 1, &e) < 0 && strstr(e.msg, "directory"), "a directory: %s", e.msg);
		unlink(l);
		unlink(f);
		rmdir(dir);
	}

	free(b1);
	free(b2);
	free(b3);
	free(b4);
	free(s1);
	free(s);
	nash_graph_free(g);
	UNIT_DONE();
}
