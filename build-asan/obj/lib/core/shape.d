build-asan/obj/lib/core/shape.o: lib/core/shape.c lib/core/nash.h
lib/core/nash.h:
