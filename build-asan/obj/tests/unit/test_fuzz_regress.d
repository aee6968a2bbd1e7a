build-asan/obj/tests/unit/test_fuzz_regress.o: \
 tests/unit/test_fuzz_regress.c tests/unit/unit.h \
 tests/unit/../fuzz/fuzz_record.c lib/core/nash.h
tests/unit/unit.h:
tests/unit/../fuzz/fuzz_record.c:
lib/core/nash.h:
