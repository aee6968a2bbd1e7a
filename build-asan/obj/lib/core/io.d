build-asan/obj/lib/core/io.o: lib/core/io.c lib/core/nash.h
lib/core/nash.h:
