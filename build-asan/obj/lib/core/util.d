build-asan/obj/lib/core/util.o: lib/core/util.c lib/core/nash.h
lib/core/nash.h:
