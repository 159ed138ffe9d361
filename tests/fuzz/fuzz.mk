# fuzz.mk: builds and runs the libFuzzer targets of the file parsers
# (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer and UBSan.  The top
# Makefile's `make fuzz` calls it (it installs clang first when missing);
# not part of CI.
#   make -f tests/fuzz/fuzz.mk run [FUZZ_SECONDS=60] [FUZZ_TARGETS="npy idx"]
# Objects go to build-fuzz/ (the library is compiled again with clang and
# coverage instrumentation; gcc's objects cannot be reused).  Each target
# runs for FUZZ_SECONDS with the committed seeds (tests/fuzz/seeds/<name>,
# read only) and a growing corpus in build-fuzz/corpus/<name>, so a second
# run continues where the first stopped.  A crash, leak, UBSan report,
# timeout or broken round trip stops that target and leaves the input in
# build-fuzz/artifacts/; the run then fails.

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= safetensors npy idx
FB    := build-fuzz
FCC   ?= clang
PKGS  := lua5.4 openblas libcjson zlib
FCFLAGS := -std=gnu11 -O1 -g -march=x86-64-v3 -fno-omit-frame-pointer -pthread \
           -fsanitize=address,undefined -fno-sanitize-recover=undefined \
           -Wall -Wno-unused-parameter -I. $(shell pkg-config --cflags $(PKGS))
FLIBS := $(shell pkg-config --libs $(PKGS)) -lm -pthread

# nn/ uses GCC-only vector builtins (__builtin_shuffle) and is not what is
# fuzzed: it is compiled by gcc without instrumentation (ASan's allocator
# still covers it: malloc is intercepted process-wide)
LIB_SRC := $(wildcard tensor/*.c) $(wildcard vm/*.c)
NN_SRC  := $(wildcard nn/*.c)
GCCFLAGS := -std=gnu11 -O2 -g -march=x86-64-v3 -pthread -I. $(shell pkg-config --cflags $(PKGS)) \
            -fvect-cost-model=dynamic -fno-math-errno -fno-trapping-math
LUA_SRC := $(sort $(wildcard lua/*.lua) $(wildcard lua/*/*.lua) $(wildcard lua/*/*/*.lua))
LIB_OBJ := $(LIB_SRC:%.c=$(FB)/%.o) $(NN_SRC:%.c=$(FB)/gcc/%.o) $(FB)/gen/lua_modules.o
BINS    := $(FUZZ_TARGETS:%=$(FB)/fuzz_%)

.PHONY: run build
build: $(BINS)

$(FB)/gcc/%.o: %.c
	@mkdir -p $(dir $@)
	gcc $(GCCFLAGS) -MMD -MP -c $< -o $@

$(FB)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FCC) $(FCFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FB)/gen/lua_modules.c: $(LUA_SRC) vm/embed.lua
	@mkdir -p $(dir $@)
	lua5.4 vm/embed.lua $@ $(LUA_SRC)

$(FB)/gen/lua_modules.o: $(FB)/gen/lua_modules.c
	$(FCC) $(FCFLAGS) -c $< -o $@

$(FB)/libember.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_file.h $(FB)/libember.a
	$(FCC) $(FCFLAGS) -fsanitize=fuzzer -o $@ $< $(FB)/libember.a $(FLIBS)

# -rss_limit_mb: a parser that allocates what the file cannot back shows up
# as an out-of-memory finding; -timeout: a hang (seconds per input)
run: $(BINS)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FB)/corpus/$$t $(FB)/artifacts; \
	    dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	    echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    $(FB)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
	        -print_final_stats=1 $$dict -artifact_prefix=$(FB)/artifacts/$$t- \
	        $(FB)/corpus/$$t tests/fuzz/seeds/$$t > $(FB)/fuzz_$$t.log 2>&1; rc=$$?; \
	    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|fuzz_)' \
	        $(FB)/fuzz_$$t.log | head -8; \
	    if [ $$rc -ne 0 ]; then fail=1; echo "fuzz_$$t FAILED (rc $$rc): see $(FB)/fuzz_$$t.log and $(FB)/artifacts/"; \
	    else echo "fuzz_$$t: no finding"; fi; \
	done; exit $$fail

-include $(shell find $(FB) -name '*.d' 2>/dev/null)
