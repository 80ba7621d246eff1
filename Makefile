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
ISA_avx2   := -mavx2 -mfma -mf16c
ISA_avx512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c
# Arm NEON kernels (*_neon.c) are empty except when building for AArch64;
# there NEON_MARCH picks the target, e.g. -march=armv8.2-a+dotprod for SDOT.
ISA_neon   := $(if $(filter aarch64%,$(shell $(CC) -dumpmachine)),$(NEON_MARCH))

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

# NEON kernel tests: the kernels, the quantizers and tests/unit/test_quant.c
# (no other library needed) built for AArch64 with and without the dotprod
# extension, run under qemu-user (natively on an AArch64 host).
ifeq ($(shell uname -m),aarch64)
  NEON_CC ?= $(CC)
  NEON_RUN ?=
else
  NEON_CC ?= aarch64-linux-gnu-gcc
  NEON_RUN ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
endif
NEON_MARCHES := armv8.2-a+dotprod armv8-a
NEON_TEST_SRC := tests/main.c tests/unit/test_quant.c \
                 $(filter-out %_avx2.c %_avx512.c,$(sort $(wildcard src/kernels/*.c))) \
                 src/quant/quant.c src/quant/quant_k.c src/quant/quant_legacy.c src/quant/search.c \
                 src/core/error.c src/core/half.c src/core/types.c
build/neon/kernel-tests-%: $(NEON_TEST_SRC) $(wildcard include/lqmf/*.h src/kernels/*.h src/quant/*.h tests/test.h)
	@mkdir -p $(dir $@)
	$(NEON_CC) -std=c17 -D_GNU_SOURCE -Iinclude -Isrc -O2 -g -pthread -march=$* $(WARN) \
	    -o $@ $(NEON_TEST_SRC) -lm -pthread
neon-test: $(NEON_MARCHES:%=build/neon/kernel-tests-%)
	@for m in $(NEON_MARCHES); do echo "== -march=$$m"; $(NEON_RUN) build/neon/kernel-tests-$$m || exit 1; done

check:
	./scripts/test.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
