# ember: build, test, install.
#
#   make deps       install missing Debian packages (apt-get; sudo when not root)
#   make            build ./ember and ./ember.so
#   make test       build, run every Check suite and Lua test; last line "N passed, N failed"
#   make sanitize   the same tests built with ASan + UBSan (in build-san/)
#   make demo       the main job: train a model on Fashion-MNIST
#   make bench      ember vs PyTorch benchmarks
#   make install PREFIX=/usr/local, make clean
#
# Sources are found by wildcard, so a new file in tensor/ nn/ vm/ needs no
# Makefile change.  BUILD selects the object folder (parallel builds by
# several people in one tree use different BUILD folders).

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
PKGS    := lua5.4 openblas libcjson zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
           -Wno-unused-parameter -Werror=implicit-function-declaration
OPT     ?= -O2 -march=x86-64-v3 -mtune=native
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) -fPIC -pthread -MMD -MP -I. $(PKG_CFLAGS)
# GCC 12's -O2 cost model ("very-cheap") vectorises no loop of unknown
# length, and sqrtf keeps a branch for errno: without these two flags not one
# elementwise loop of tensor/ (nor an optimizer update) is vectorised.
# -fno-trapping-math lets it if-convert float selects (max, relu, clamp,
# the branch-free exp); ember never enables floating-point traps.
ALL_CFLAGS += -fvect-cost-model=dynamic -fno-math-errno -fno-trapping-math
LDLIBS  := $(PKG_LIBS) -lreadline -lm -pthread

CORE_SRC := $(wildcard tensor/*.c) $(wildcard nn/*.c)
VM_SRC   := $(wildcard vm/*.c)
REPL_SRC := $(wildcard repl/*.c)
LUA_SRC  := $(sort $(wildcard lua/*.lua) $(wildcard lua/*/*.lua) $(wildcard lua/*/*/*.lua))

CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
VM_OBJ   := $(VM_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/lua_modules.o
REPL_OBJ := $(REPL_SRC:%.c=$(BUILD)/%.o)

CTEST_SRC := $(wildcard tests/c/test_*.c)
CTEST_BIN := $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all deps test sanitize demo bench install clean check-deps
all: ember ember.so

# ---------- Debian packages ----------
DEB_PACKAGES := liblua5.4-dev lua5.4 libreadline-dev libopenblas-dev gnuplot-nox check \
                pkg-config zlib1g-dev libcjson-dev dataset-fashion-mnist fortunes parallel
deps:
	@sh tests/install-deps.sh $(DEB_PACKAGES)

$(DEPS_STAMP):
	@sh tests/install-deps.sh $(DEB_PACKAGES)
	@mkdir -p $(BUILD) && touch $@

# ---------- build ----------
# Lua-side modules are compiled into the binary (gen/lua_modules.c), so
# ember.so and ember work from any directory and start without file lookups.
$(BUILD)/gen/lua_modules.c: $(LUA_SRC) vm/embed.lua | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	lua5.4 vm/embed.lua $@ $(LUA_SRC)

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/gen/lua_modules.o: $(BUILD)/gen/lua_modules.c
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c $< -o $@

$(BUILD)/libember.a: $(CORE_OBJ) $(VM_OBJ)
	@rm -f $@
	ar rcs $@ $^

ember: $(REPL_OBJ) $(BUILD)/libember.a
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $(REPL_OBJ) $(BUILD)/libember.a $(LDLIBS)

# ember.so for stock lua5.4: `require "ember"` (liblua symbols come from the host)
ember.so: $(CORE_OBJ) $(VM_OBJ)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $^ $(shell pkg-config --libs openblas libcjson zlib) -lm -pthread

# ---------- tests ----------
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
$(BUILD)/tests/%: tests/c/%.c tests/c/helpers.h $(BUILD)/libember.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libember.a $(CHECK_LIBS) $(LDLIBS)

test: all $(CTEST_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

sanitize:
	$(MAKE) BUILD=build-san OPT="-O1 -march=x86-64-v3 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    EMBER_BIN=ember-san test-san

# ember checks every allocation: under ASan a refused one must return NULL
# (not abort) so that the out-of-memory errors are tested too
test-san: export ASAN_OPTIONS = allocator_may_return_null=1
# the sanitizer build writes ember-san / ember-san.so, leaving ./ember alone
test-san: $(CTEST_BIN) ember-san
	@BUILD=$(BUILD) EMBER=./ember-san SANITIZE=1 sh tests/run.sh

ember-san: $(REPL_OBJ) $(BUILD)/libember.a
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $(REPL_OBJ) $(BUILD)/libember.a $(LDLIBS)

demo: all
	./ember examples/fashion_cnn.lua

bench: all
	sh tests/bench/run.sh

# libFuzzer targets of the safetensors, .npy and IDX readers (tests/fuzz/),
# each run for FUZZ_SECONDS; clang is installed when missing.  Not in CI.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@sh tests/install-deps.sh clang
	$(MAKE) -f tests/fuzz/fuzz.mk FUZZ_SECONDS=$(FUZZ_SECONDS) run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4
	install -m 755 ember $(DESTDIR)$(PREFIX)/bin/ember
	install -m 644 ember.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/ember.so

clean:
	rm -rf build build-san build-* ember ember.so ember-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
