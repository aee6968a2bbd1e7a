build-asan/obj/tools/nash-gen.o: tools/nash-gen.c lib/models/models.h \
 lib/core/nash.h tools/tool.h
lib/models/models.h:
lib/core/nash.h:
tools/tool.h:
