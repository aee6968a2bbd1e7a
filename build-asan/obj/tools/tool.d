build-asan/obj/tools/tool.o: tools/tool.c tools/tool.h lib/core/nash.h
tools/tool.h:
lib/core/nash.h:
