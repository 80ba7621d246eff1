# LQMF build. `make` builds the library, the `lqmf` command and the test
# runner into build/release; `make asan` the same with ASan+UBSan into
# build/asan; `make fuzz` the libFuzzer targets (clang) into build/fuzz.
# `make check` runs everything the README's test command runs.

PKGS    := jansson libpcre2-8 libutf8proc libcurl sqlite3 libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Wno-format-truncation -Werror
BASE    := -std=c17 -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS) -MMD -MP -pthread
LDLIBS  := $(PKG_LIBS) -lm -pthread
# line editing for the REPL (the lqmf command only)
CLI_LIBS := $(shell pkg-config --libs readline 2>/dev/null || echo -lreadline)

MODE    ?= release
ifeq ($(MODE),asan)
  OPT   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  OPT   := -O2 -g
endif
B       := build/$(MODE)

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_SRC  := $(filter-out src/cli/%,$(LIB_SRC))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := tests/main.c $(sort $(wildcard tests/unit/*.c)) $(sort $(wildcard tests/fakes/*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

# Per-ISA kernel files get their own target flags; everything else is generic.
# Each *_avx2.c / *_avx512.c / *_neon.c file is empty except when building
# for its architecture, and gets its flags only then.
TARGET     := $(shell $(CC) -dumpmachine)
X86        := $(filter x86_64% i386% i486% i586% i686%,$(TARGET))
ISA_avx2   := $(if $(X86),-mavx2 -mfma -mf16c)
ISA_avx512 := $(if $(X86),-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c)
# On AArch64 NEON_MARCH picks the target, e.g. -march=armv8.2-a+dotprod for SDOT.
ISA_neon   := $(if $(filter aarch64%,$(TARGET)),$(NEON_MARCH))

.PHONY: all asan fuzz check clean bench neon-test
all: $(B)/liblqmf.a $(B)/lqmf $(B)/lqmf-tests $(BENCH_SRC:bench/%.c=$(B)/bench/%)

$(B)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) $(WARN) $(ISA_avx2) $(CFLAGS) -c $< -o $@
$(B)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) $(WARN) $(ISA_avx512) $(CFLAGS) -c $< -o $@
$(B)/%_neon.o: %_neon.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) $(WARN) $(ISA_neon) $(CFLAGS) -c $< -o $@
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) $(WARN) $(CFLAGS) -c $< -o $@

$(B)/liblqmf.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/lqmf: $(CLI_OBJ) $(B)/liblqmf.a
	$(CC) $(OPT) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/liblqmf.a $(LDLIBS) $(CLI_LIBS)

$(B)/lqmf-tests: $(TEST_OBJ) $(B)/liblqmf.a
	$(CC) $(OPT) $(LDFLAGS) -o $@ $(TEST_OBJ) $(B)/liblqmf.a $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(B)/liblqmf.a
	$(CC) $(OPT) $(LDFLAGS) -o $@ $< $(B)/liblqmf.a $(LDLIBS)

asan:
	$(MAKE) MODE=asan all

# libFuzzer targets: tests/fuzz/fuzz_*.c, each linked with the library
# sources built by clang with the fuzzer instrumentation.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FZ       := build/fuzz
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS) -O1 -g -pthread \
               -fsanitize=fuzzer-no-link,address,undefined -MMD -MP
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FZ)/%.o)
$(FZ)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(ISA_avx2) -c $< -o $@
$(FZ)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(ISA_avx512) -c $< -o $@
$(FZ)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FZ)/bin/%: $(FZ)/tests/fuzz/%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
fuzz: $(FUZZ_SRC:tests/fuzz/%.c=$(FZ)/bin/%)

# AArch64 test build: the modules that need no outside library (core, io,
# kernels, quant, model: the engine) less the files that need jansson (the
# Hugging Face loader and its parsers, replaced by tests/neon/no_hf.c) or
# the tokenizer and plan modules (imatrix, mix), with the tests of those
# modules that need nothing else (test_convert needs the HF loader,
# test_quantize the imatrix; test_rope_factors makes GCC 12 for AArch64
# fail on its fmax reductions); built with and without the dotprod
# extension and run under qemu-user (natively on an AArch64 host), with
# the ISA each binary picks by default (neon). NEON_TESTS: test-name
# patterns to run only those.
ifeq ($(shell uname -m),aarch64)
  NEON_CC ?= $(CC)
  NEON_RUN ?=
else
  NEON_CC ?= aarch64-linux-gnu-gcc
  NEON_RUN ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
endif
NEON_MARCHES := armv8.2-a+dotprod armv8-a
NEON_LEFT_OUT := src/io/hf_config.c src/io/safetensors.c src/io/model_hf.c src/quant/imatrix.c src/quant/imatrix_estimate.c src/quant/mix.c \
                 $(wildcard src/quant/hfq*.c)
NEON_TEST_SRC := tests/main.c tests/neon/no_hf.c \
                 $(foreach t,core gguf model_desc quant engine,tests/unit/test_$(t).c) \
                 $(filter-out $(NEON_LEFT_OUT),$(sort $(wildcard $(foreach m,core io kernels quant model,src/$(m)/*.c))))
build/neon/lqmf-tests-%: $(NEON_TEST_SRC) $(wildcard include/lqmf/*.h src/*/*.h tests/test.h)
	@mkdir -p $(dir $@)
	$(NEON_CC) -std=c17 -D_GNU_SOURCE -Iinclude -Isrc -O2 -g -pthread -march=$* $(WARN) \
	    -o $@ $(NEON_TEST_SRC) -lm -pthread
neon-test: $(NEON_MARCHES:%=build/neon/lqmf-tests-%)
	@for m in $(NEON_MARCHES); do echo "== -march=$$m"; $(NEON_RUN) build/neon/lqmf-tests-$$m $(NEON_TESTS) || exit 1; done

check:
	./scripts/test.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
