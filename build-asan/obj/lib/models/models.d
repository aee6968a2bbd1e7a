build-asan/obj/lib/models/models.o: lib/models/models.c \
 lib/models/models.h lib/core/nash.h
lib/models/models.h:
lib/core/nash.h:
