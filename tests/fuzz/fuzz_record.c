/* fuzz_record.c - libFuzzer target over the record reader (framing through
 * a file descriptor), decoding, graph validation, counting and the
 * encode/decode round trip. Build and run with `make fuzz`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/nash.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = memfd_create("fuzz", 0);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	nash_reader *r = nash_reader_new(fd, "fuzz");
	nash_record *rec;
	nash_err e;
	while (nash_read(r, &rec, &e) > 0) {
		if (rec->kind == NASH_REC_GRAPH) {
			nash_graph *g = rec->graph;
			if (nash_graph_validate(g, &e) == 0) {
				nash_counts c;
				nash_graph_count(g, &c, &e);
				/* a valid graph survives encode -> decode -> encode unchanged */
				unsigned char *b1, *b2;
				size_t n1, n2;
				nash_encode_graph(g, &b1, &n1, &e);
				nash_record *again = NULL;
				if (nash_decode(b1, n1, &again, &e) != 0)
					abort();
				nash_encode_graph(again->graph, &b2, &n2, &e);
				if (n1 != n2 || memcmp(b1, b2, n1) != 0)
					abort();
				nash_graph *cp = nash_graph_copy(g);
				nash_graph_toposort(cp, &e);
				nash_graph_prune(cp);
				nash_graph_free(cp);
				char *j = nash_val_json(g->meta, 2, 0);
				free(j);
				free(b1);
				free(b2);
				nash_record_free(again);
			}
		}
		nash_record_free(rec);
	}
	nash_reader_free(r);
	return 0;
}
