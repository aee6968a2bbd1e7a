build-asan/obj/tests/unit/test_core.o: tests/unit/test_core.c \
 lib/core/nash.h tests/unit/unit.h
lib/core/nash.h:
tests/unit/unit.h:
