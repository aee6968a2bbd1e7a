build-asan/obj/lib/core/dtype.o: lib/core/dtype.c lib/core/nash.h
lib/core/nash.h:
