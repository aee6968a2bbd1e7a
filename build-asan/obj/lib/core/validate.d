build-asan/obj/lib/core/validate.o: lib/core/validate.c lib/core/nash.h
lib/core/nash.h:
