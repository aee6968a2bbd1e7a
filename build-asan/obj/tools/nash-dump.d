build-asan/obj/tools/nash-dump.o: tools/nash-dump.c tools/tool.h \
 lib/core/nash.h
tools/tool.h:
lib/core/nash.h:
