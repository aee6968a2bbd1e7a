/* fuzz_onnx.c - libFuzzer target over the ONNX/QONNX importer (protobuf
 * decoding, shape-subgraph folding, quantizer inference, validation): an
 * input is either refused with a message or imported into a graph that
 * validates and survives the stream round trip. Build and run with
 * `make fuzz FUZZ_TARGET=onnx`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/nash.h"
#include "onnx/qonnx.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	nash_err e;
	nash_onnx_import_opts o = {0};
	nash_graph *g = nash_onnx_import(data, size, "fuzz", &o, &e);
	if (!g) {
		if (!e.msg[0])
			abort();   /* a refusal must say why */
		return 0;
	}
	if (nash_graph_validate(g, &e) != 0)
		abort();       /* the importer promises a validated graph */
	nash_graph_free(g);
	return 0;
}
