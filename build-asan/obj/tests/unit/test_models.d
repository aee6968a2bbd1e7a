build-asan/obj/tests/unit/test_models.o: tests/unit/test_models.c \
 lib/models/models.h lib/core/nash.h tests/unit/unit.h
lib/models/models.h:
lib/core/nash.h:
tests/unit/unit.h:
