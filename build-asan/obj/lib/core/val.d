build-asan/obj/lib/core/val.o: lib/core/val.c lib/core/nash.h
lib/core/nash.h:
