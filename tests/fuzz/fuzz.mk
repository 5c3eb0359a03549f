# tests/fuzz/fuzz.mk - libFuzzer harnesses (included by the Makefile).
#
#   make fuzz         build every harness and fuzz each for FUZZ_TIME
#                     seconds (default 60), one after the other; new
#                     inputs go to build/fuzz/corpus/, crashes to
#                     build/fuzz/artifacts/; fails if any harness crashed
#   make fuzz-check   build and replay the committed corpora and
#                     regression inputs once (seconds; no fuzzing)
#   make fuzz-seeds   re-record the TLS/DTLS seed conversations into
#                     tests/fuzz/corpus/ (only needed after a change to
#                     the server variants in fuzz_tls.c)
#
# FUZZ=name,name limits fuzz and fuzz-check to some harnesses; FUZZ_ARGS
# adds libFuzzer flags (e.g. -max_len=8192).  Needs clang (libFuzzer).

FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_ARGS  ?=
FUZZ_O      = build/fuzz
FUZZ_DIR    = tests/fuzz
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=all \
	      -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 $(WARN) -g -O1 $(FUZZ_SAN) -MMD -MP
FUZZ_NAMES  = endpoint opts server_args client_args bench_args ping_reply proxy \
	      tls_config tls_server dtls_conn dtls_listen tls_rec report \
	      metrics_http
FUZZ_TLS    = tls_config tls_server dtls_conn dtls_listen
FUZZ_SEL    = $(if $(FUZZ),$(subst $(comma), ,$(FUZZ)),$(FUZZ_NAMES))
comma      := ,

FUZZ_LIBOBJ = $(LIBSRC:src/%.c=$(FUZZ_O)/lib/%.o)
FUZZ_LIB    = $(FUZZ_O)/libsecho.a
FUZZ_BINS   = $(FUZZ_NAMES:%=$(FUZZ_O)/bin/fuzz_%)
FUZZ_ENV    = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-build fuzz-check fuzz-seeds

# The library with coverage hooks but without libFuzzer's main().
$(FUZZ_O)/lib/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALLCPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIBOBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_O)/%.o: $(FUZZ_DIR)/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALLCPPFLAGS) -Isrc -I$(FUZZ_DIR) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_O)/bin/fuzz_%: $(FUZZ_O)/fuzz_%.o $(FUZZ_O)/fuzz_util.o $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LDFLAGS) -fsanitize=fuzzer $(filter %.o,$^) \
	    $(FUZZ_LIB) -o $@ $(LIBS)

$(FUZZ_TLS:%=$(FUZZ_O)/bin/fuzz_%): $(FUZZ_O)/fuzz_tls.o

$(FUZZ_O)/bin/mkseeds: $(FUZZ_O)/mkseeds.o $(FUZZ_O)/fuzz_tls.o \
    $(FUZZ_O)/fuzz_util.o $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LDFLAGS) $(filter %.o,$^) $(FUZZ_LIB) -o $@ $(LIBS)

fuzz-build: $(FUZZ_BINS)

# Each harness alone (the machine is shared: -jobs=1), writing what it
# finds to a scratch corpus; the committed corpus is read, not written.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_O)/logs; failed=; \
	for h in $(FUZZ_SEL); do \
	    mkdir -p $(FUZZ_O)/corpus/$$h $(FUZZ_O)/artifacts/$$h; \
	    dict=; test -f $(FUZZ_DIR)/dict/$$h.dict && \
		dict=-dict=$(FUZZ_DIR)/dict/$$h.dict; \
	    echo "fuzz: $$h for $(FUZZ_TIME)s (log $(FUZZ_O)/logs/$$h.log)"; \
	    $(FUZZ_ENV) $(FUZZ_O)/bin/fuzz_$$h -max_total_time=$(FUZZ_TIME) \
		-close_fd_mask=3 -print_final_stats=1 $$dict \
		-artifact_prefix=$(FUZZ_O)/artifacts/$$h/ $(FUZZ_ARGS) \
		$(FUZZ_O)/corpus/$$h $$(ls -d $(FUZZ_DIR)/corpus/$$h \
		$(FUZZ_DIR)/regress/$$h 2>/dev/null) \
		>$(FUZZ_O)/logs/$$h.log 2>&1 || failed="$$failed $$h"; \
	    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::average_exec' \
		$(FUZZ_O)/logs/$$h.log | tr -s '\t\n ' ' '; echo; \
	done; \
	if [ -n "$$failed" ]; then \
	    echo "fuzz: FAILED:$$failed (see $(FUZZ_O)/logs," \
		"$(FUZZ_O)/artifacts)" >&2; exit 1; \
	fi; echo "fuzz: no crashes"

# Every committed input once: corpus seeds and crash regressions.
fuzz-check: fuzz-build
	@failed=; for h in $(FUZZ_SEL); do \
	    dirs=$$(ls -d $(FUZZ_DIR)/corpus/$$h $(FUZZ_DIR)/regress/$$h \
		2>/dev/null); \
	    test -n "$$dirs" || continue; \
	    $(FUZZ_ENV) $(FUZZ_O)/bin/fuzz_$$h -runs=0 -close_fd_mask=3 \
		$$dirs >$(FUZZ_O)/check_$$h.log 2>&1 || failed="$$failed $$h"; \
	    printf 'fuzz-check: %-12s %s\n' $$h "$$(grep -o 'INITED.*' \
		$(FUZZ_O)/check_$$h.log | head -1)"; \
	done; \
	if [ -n "$$failed" ]; then \
	    echo "fuzz-check: FAILED:$$failed (logs in $(FUZZ_O)/)" >&2; \
	    exit 1; \
	fi

fuzz-seeds: $(FUZZ_O)/bin/mkseeds
	ASAN_OPTIONS=detect_leaks=0 $(FUZZ_O)/bin/mkseeds $(FUZZ_DIR)/corpus

-include $(FUZZ_LIBOBJ:.o=.d) $(wildcard $(FUZZ_O)/*.d)
