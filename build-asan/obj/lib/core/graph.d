build-asan/obj/lib/core/graph.o: lib/core/graph.c lib/core/nash.h
lib/core/nash.h:
