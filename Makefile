# nash - hardware-aware NAS for quantized CNNs on FPGA dataflow accelerators.
#
#   make            build libnash and every tool into build/
#   make check      install missing dependencies, build, run every test suite
#   make demo       install missing dependencies, build, run the quick experiment
#   make bench      print speed figures as ratios measured in one run
#   make install    PREFIX=/usr/local DESTDIR=
#
# Sources are found by wildcard: lib/*/*.c form libnash, tools/nash-*.c are
# the tools (tools/*.c without the prefix are shared by all of them),
# tests/unit/*.c are C unit tests, tests/*.bats the bats suites.

VERSION  := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
B        ?= build
CC       ?= cc
CXX      ?= g++
OPT      ?= -O2 -g
SANITIZE ?=

WARN      = -Wall -Wextra -Werror -Wno-format-truncation
NASH_CPPFLAGS = -Ilib -Itools -I$(B)/gen -D_GNU_SOURCE \
	-DNASH_VERSION=\"$(VERSION)\" -DNASH_PREFIX=\"$(PREFIX)\"
NASH_CFLAGS   = -std=c11 $(WARN) $(OPT) -fopenmp -fPIC $(SANITIZE) -MMD -MP
NASH_LDFLAGS  = -fopenmp $(SANITIZE)
NASH_LDLIBS   = -lmsgpackc -larchive -ldnnl -lprotobuf-c -lm -lpthread

LIB_SRC   := $(wildcard lib/*/*.c)
GEN_SRC   := $(B)/gen/onnx.pb-c.c
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/onnx.pb-c.o
TOOL_SRC  := $(wildcard tools/nash-*.c)
TOOL_COM  := $(filter-out tools/nash-%.c,$(wildcard tools/*.c))
TOOL_COBJ := $(TOOL_COM:%.c=$(B)/obj/%.o)
TOOLS     := $(TOOL_SRC:tools/%.c=$(B)/bin/%)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCHES   := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
LIBNASH   := $(B)/libnash.a
MAN1      := $(wildcard man/man1/*.1)
MAN5      := $(wildcard man/man5/*.5)
MAN7      := $(wildcard man/man7/*.7)
DEPS_OK   := $(B)/.deps-ok

.PHONY: all deps check check-unit check-bats demo bench install uninstall clean stage lint-man
all: $(TOOLS)

# Dependencies: one script, run once per build tree (and again when it changes).
deps: ; @sh tools/install-deps.sh
$(DEPS_OK): tools/install-deps.sh
	@sh tools/install-deps.sh
	@mkdir -p $(B) && touch $@

# ONNX protobuf bindings generated at build time from Debian's onnx.proto.
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
$(B)/gen/onnx.pb-c.c: $(ONNX_PROTO) | $(DEPS_OK)
	@mkdir -p $(B)/gen/onnx-proto
	cp $(ONNX_PROTO) $(B)/gen/onnx-proto/onnx.proto
	cd $(B)/gen/onnx-proto && protoc-c --c_out=.. onnx.proto
$(B)/gen/onnx.pb-c.h: $(B)/gen/onnx.pb-c.c
$(B)/obj/gen/onnx.pb-c.o: $(B)/gen/onnx.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(NASH_CPPFLAGS) -std=c11 $(OPT) -fPIC $(SANITIZE) -w -c -o $@ $<

$(B)/obj/%.o: %.c | $(DEPS_OK) $(B)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(NASH_CPPFLAGS) $(CPPFLAGS) $(NASH_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBNASH): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

LINK_LIB = -Wl,--whole-archive $(LIBNASH) -Wl,--no-whole-archive

$(B)/bin/%: $(B)/obj/tools/%.o $(TOOL_COBJ) $(LIBNASH)
	@mkdir -p $(dir $@)
	$(CXX) $(NASH_LDFLAGS) $(LDFLAGS) -o $@ $< $(TOOL_COBJ) $(LINK_LIB) $(NASH_LDLIBS) $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIBNASH)
	@mkdir -p $(dir $@)
	$(CXX) $(NASH_LDFLAGS) $(LDFLAGS) -o $@ $< $(LINK_LIB) $(NASH_LDLIBS) $(LDLIBS)

$(B)/bench/%: $(B)/obj/tests/bench/%.o $(LIBNASH)
	@mkdir -p $(dir $@)
	$(CXX) $(NASH_LDFLAGS) $(LDFLAGS) -o $@ $< $(LINK_LIB) $(NASH_LDLIBS) $(LDLIBS)

# A staged install that the test suites drive, as a user would.
STAGE := $(abspath $(B)/stage)
stage: $(TOOLS)
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) PREFIX=/usr >/dev/null

install: $(TOOLS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/nash \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	cp -R share/nash/. $(DESTDIR)$(PREFIX)/share/nash/
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7/)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(TOOLS)))
	rm -rf $(DESTDIR)$(PREFIX)/share/nash

# make check: every unit test and bats suite; the last line is "N passed, N failed".
# BATS=tests/15-dump.bats limits the bats part; UNIT="test_core test_models" the unit part.
BATS ?= $(sort $(wildcard tests/*.bats))
check: $(DEPS_OK) $(TOOLS) $(UNITS) stage
	@NASH_STAGE=$(STAGE) NASH_BUILD=$(abspath $(B)) bash tests/run $(if $(UNIT),$(addprefix $(B)/tests/,$(UNIT)),$(UNITS)) -- $(BATS)

bench: $(DEPS_OK) $(TOOLS) $(BENCHES) stage
	@NASH_STAGE=$(STAGE) NASH_BUILD=$(abspath $(B)) bash tests/bench/run $(BENCHES)

demo: $(DEPS_OK) $(TOOLS) stage
	@PATH=$(STAGE)/usr/bin:$$PATH $(MAKE) --no-print-directory -C examples/fashion-mnist quick

lint-man:
	@for m in $(MAN1) $(MAN5) $(MAN7); do LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $$m >/dev/null || exit 1; done

clean:
	rm -rf $(B)

.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# Fuzzing with libFuzzer (clang): FUZZ_TARGET=record (default) drives the
# record reader and graph validation, FUZZ_TARGET=onnx the QONNX importer
# (seeds: small models nash-onnx exports). FUZZ_SECONDS=600 make fuzz;
# crashes land in tests/fuzz/crashes/.
FUZZ_SECONDS ?= 60
FUZZ_TARGET ?= record
FUZZ_B := build-fuzz
FUZZ_SRC_record := lib/core/*.c
FUZZ_SRC_onnx := lib/core/*.c lib/onnx/*.c lib/quant/*.c lib/nn/qmath.c $(B)/gen/onnx.pb-c.c
FUZZ_LIBS_onnx := -lprotobuf-c
fuzz: $(DEPS_OK) $(B)/gen/onnx.pb-c.c $(TOOLS)
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang)"; exit 1; }
	@[ -n "$(FUZZ_SRC_$(FUZZ_TARGET))" ] || { echo "FUZZ_TARGET is record or onnx"; exit 2; }
	@mkdir -p $(FUZZ_B) tests/fuzz/crashes $(FUZZ_B)/corpus-$(FUZZ_TARGET)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -I$(B)/gen -D_GNU_SOURCE -DNASH_VERSION=\"fuzz\" -std=c11 \
		-o $(FUZZ_B)/fuzz_$(FUZZ_TARGET) tests/fuzz/fuzz_$(FUZZ_TARGET).c $(FUZZ_SRC_$(FUZZ_TARGET)) \
		$(FUZZ_LIBS_$(FUZZ_TARGET)) -lmsgpackc -lm
	@if [ $(FUZZ_TARGET) = onnx ]; then PATH=$(abspath $(B))/bin:$$PATH sh tests/fuzz/make-onnx-seeds.sh $(FUZZ_B)/corpus-onnx; \
	else cp tests/fuzz/corpus/* $(FUZZ_B)/corpus-record/ 2>/dev/null || true; fi
	$(FUZZ_B)/fuzz_$(FUZZ_TARGET) -max_total_time=$(FUZZ_SECONDS) -max_len=262144 -timeout=10 -rss_limit_mb=4096 \
		-artifact_prefix=tests/fuzz/crashes/$(FUZZ_TARGET)- $(FUZZ_B)/corpus-$(FUZZ_TARGET)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
check-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MAKE) --no-print-directory B=build-asan OPT="-O1 -g" \
		SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" check

# The whole pipeline (gen | quant | train one step | stream | est | hls |
# pareto), every tool under valgrind memcheck with full leak checking.
check-valgrind: $(DEPS_OK) $(TOOLS) stage
	@command -v valgrind >/dev/null || { echo "make check-valgrind needs valgrind (apt-get install valgrind)"; exit 1; }
	@PATH=$(STAGE)/usr/bin:$$PATH NASH_SHARE=$(STAGE)/usr/share/nash nice sh tests/valgrind-pipeline.sh
.PHONY: fuzz check-asan check-valgrind
