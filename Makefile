# secho - a TLS-capable secure echo service.
#
#   make            libsecho.a, bin/secho-server, bin/secho-client
#   make run        deps + build + certs, then start a tcp/tls/udp server
#   make test       deps + build + the Check suite, then again under SAN=1,
#                   then the integration suites under valgrind, then
#                   replays the fuzz corpora and regressions (fuzz-check)
#   make SAN=1      the same build with ASan+UBSan into build/san/
#   make capture    capture tcp/tls/udp echoes into captures/ and compare
#   make readme-capture  the same, and its table into README.md
#   make certs      mint the local CA and certificates into certs/
#   make deps       install missing Debian packages (as root)
#   make fuzz       libFuzzer harnesses, FUZZ_TIME s each (tests/fuzz/)
#   make install    programs, man pages, systemd units, secho-mkcerts
#                   (PREFIX=/usr/local, DESTDIR, BINDIR, MANDIR,
#                   SYSCONFDIR, UNITDIR, INSTALL_PYTHON); make
#                   uninstall removes them

CC      ?= cc
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
# The programs look for certificates here when none are given and there
# is no ./certs (see secho-server(1)): compiled in, so give it to make
# as well as to make install.
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install
# The interpreter of the installed secho-mkcerts: the system's python3,
# which python3-cryptography is for, not the first one on a user's PATH.
INSTALL_PYTHON ?= /usr/bin/python3
PYTHON  ?= $(shell for p in python3 /usr/bin/python3; do \
	     $$p -c 'import cryptography' 2>/dev/null && echo $$p && break; \
	   done)
WARN     = -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter
CFLAGS  ?= -O2 -g
# A user's CPPFLAGS and LDFLAGS (a packager's hardening flags, say) are
# added after the project's own, never replaced by them.
ALLCPPFLAGS = -Iinclude -D_GNU_SOURCE $(CPPFLAGS)
# libsystemd: socket activation and sd_notify for the server (README,
# "Dependencies", says why a library rather than the protocol by hand).
LIBS     = $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto) \
	   $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd) \
	   -pthread
CHECKLIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

ifeq ($(SAN),1)
O        = build/san
BIN      = build/san/bin
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
else
O        = build/obj
BIN      = bin
SANFLAGS =
endif
ALLCFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP

LIBSRC  = $(wildcard src/core/*.c src/server/*.c src/client/*.c src/bench/*.c)
LIBOBJ  = $(LIBSRC:src/%.c=$(O)/%.o)
LIB     = $(O)/libsecho.a
PROGS   = $(BIN)/secho-server $(BIN)/secho-client $(BIN)/secho-bench
TESTSRC = $(wildcard tests/*.c)
TESTOBJ = $(TESTSRC:tests/%.c=$(O)/tests/%.o)
TESTBIN = $(O)/tests/check_secho

.PHONY: all clean certs deps run test test-unit test-san test-valgrind \
	valgrind-suites check capture readme-capture install uninstall
# Keep the objects of the programs: they are not throwaway intermediates.
.SECONDARY:
all: $(LIB) $(PROGS) $(O)/headers.ok

# Every public header compiles on its own (includes what it uses), so a
# user's first #include of one never fails.
HEADERS = $(wildcard include/secho/*.h)
$(O)/headers.ok: $(HEADERS)
	@mkdir -p $(@D)
	@for h in $(HEADERS); do \
	    $(CC) $(ALLCPPFLAGS) -std=c11 $(WARN) -fsyntax-only -x c $$h || \
		{ echo "$$h does not compile on its own" >&2; exit 1; }; \
	done; touch $@

$(O)/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALLCPPFLAGS) $(ALLCFLAGS) -c $< -o $@

# certs.c (and --help, in tls_opts.c) have SYSCONFDIR compiled in: rebuilt whenever that changes (the
# stamp is rewritten, at parse time, only when its value differs).
$(shell mkdir -p $(O) && { echo '$(SYSCONFDIR)' | cmp -s - $(O)/sysconfdir || \
    echo '$(SYSCONFDIR)' > $(O)/sysconfdir; })
$(O)/core/certs.o $(O)/core/tls_opts.o: \
    ALLCPPFLAGS += -DSECHO_SYSCONFDIR='"$(SYSCONFDIR)"'
$(O)/core/certs.o $(O)/core/tls_opts.o: $(O)/sysconfdir

$(O)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(ALLCPPFLAGS) -Itests $(ALLCFLAGS) -c $< -o $@

$(LIB): $(LIBOBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/secho-%: $(O)/cmd/secho-%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(TESTBIN): $(TESTOBJ) $(LIB)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $^ -o $@ $(CHECKLIBS) $(LIBS)

deps:
	@bash scripts/deps.sh

certs:
	@test -n "$(PYTHON)" || { echo "make: no python3 with the" \
	    "'cryptography' module; run 'make deps'" >&2; exit 1; }
	@$(PYTHON) scripts/mkcerts.py --out certs

# The quick start: everything needed, then a server on every transport
# (as root, it gives root up for nobody once its ports are bound).
run: deps
	@$(MAKE) --no-print-directory all certs
	exec $(BIN)/secho-server --tcp --tls --udp -v \
	    $$(test "$$(id -u)" = 0 && echo --user nobody)

# The same message over tcp, tls and udp into captures/*.pcapng, compared.
capture: deps
	@$(MAKE) --no-print-directory all certs
	bash scripts/capture.sh --embed-secrets --out captures

# The same capture, its table written into README.md between the
# <!-- capture:begin/end --> lines (tests/check_capture.c checks it),
# its ladder picture into docs/ladder.png (the README shows it).
readme-capture: deps
	@$(MAKE) --no-print-directory all certs
	bash scripts/capture.sh --out captures --readme README.md
	test ! -f captures/ladder.png || cp captures/ladder.png docs/ladder.png

# The Check suite against this build's binaries.  CK_DEFAULT_TIMEOUT is
# a backstop; cases set their own limits.
test-unit: all $(TESTBIN)
	SECHO_BIN=$(CURDIR)/$(BIN) SECHO_ROOT=$(CURDIR) \
	SECHO_PYTHON="$(PYTHON)" SECHO_SAN=$(SAN) CK_DEFAULT_TIMEOUT=120 \
	$(TESTBIN)

test-san:
	@$(MAKE) --no-print-directory SAN=1 test-unit

# The suites that start the real programs, again with SECHO_VALGRIND=1:
# tests/testutil.c then runs secho-server, secho-client and secho-bench
# under memcheck, and a memcheck error or a definite/indirect leak fails
# the test that started the program, with the valgrind log on stderr
# (tests/valgrind.supp holds the justified third-party suppressions).
# The plain build (ASan and memcheck do not mix), two suites at a time
# (memcheck runs a program's threads one at a time, so two runners use
# both cores), the longest first.  Memcheck makes TLS 20-50x slower;
# bounds on the programs scale by TU_VG_SLOW (tu_slow() in the tests) and
# CK_TIMEOUT_MULTIPLIER gives the Check timeouts room for them.
# Skipped: bench (its cases are throughput and rate runs of hundreds of
# connections, the slowest suite by far under memcheck, and secho-bench's
# memory is checked by ASan+LSan in test-san); hostile (thousands of
# attacking connections against RSS and timing bounds that memcheck's
# heap and speed make meaningless: 3 of 14 fail on those alone, while
# memcheck itself found nothing; ASan covers it in test-san); net, loop,
# opts, tls (in-process, no program to wrap; test-san covers them).
# Either can be run by hand: make test-valgrind VG_SUITES=bench.
VG_SUITES = client mtls dtls server limits gnutls capture interop reload rec \
	    metrics report trace
VG_JOBS  ?= 2
test-valgrind:
	@$(MAKE) --no-print-directory SAN=0 valgrind-suites

valgrind-suites: all $(TESTBIN)
	@$(MAKE) --no-print-directory -k -j$(VG_JOBS) -Otarget \
	    $(VG_SUITES:%=valgrind-suite-%)

valgrind-suite-%:
	@echo "valgrind: suite $*"
	@SECHO_BIN=$(CURDIR)/$(BIN) SECHO_ROOT=$(CURDIR) \
	SECHO_PYTHON="$(PYTHON)" SECHO_VALGRIND=1 CK_RUN_SUITE=$* \
	CK_DEFAULT_TIMEOUT=120 CK_TIMEOUT_MULTIPLIER=5 $(TESTBIN)

test: deps
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-san
	@$(MAKE) --no-print-directory test-valgrind
	@$(MAKE) --no-print-directory fuzz-check

check: test

clean:
	rm -rf build bin

# Nothing outside $(DESTDIR) is touched; the certificates themselves are
# the administrator's: secho-mkcerts --out $(SYSCONFDIR)/secho mints them.
MANPAGES = secho-server.1 secho-client.1 secho-bench.1
UNITS    = secho.service secho.socket
SUBST    = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/secho
	$(INSTALL) -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)
	sed -e '1s|^#!.*|#!$(INSTALL_PYTHON)|' scripts/mkcerts.py \
	    > $(DESTDIR)$(BINDIR)/secho-mkcerts && \
	    chmod 0755 $(DESTDIR)$(BINDIR)/secho-mkcerts
	for m in $(MANPAGES); do \
	    $(INSTALL) -m 0644 docs/man/$$m $(DESTDIR)$(MANDIR)/man1/$$m || \
		exit 1; \
	done
	for u in $(UNITS); do \
	    $(SUBST) scripts/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

uninstall:
	rm -f $(PROGS:$(BIN)/%=$(DESTDIR)$(BINDIR)/%) \
	    $(DESTDIR)$(BINDIR)/secho-mkcerts \
	    $(MANPAGES:%=$(DESTDIR)$(MANDIR)/man1/%) \
	    $(UNITS:%=$(DESTDIR)$(UNITDIR)/%)
	-rmdir $(DESTDIR)$(SYSCONFDIR)/secho 2>/dev/null

# The floors scripts/bench.sh measures secho against (bench/echo_floor.c),
# and the side-by-side benchmark against them and the installed peers.
# The Go and Node.js peers need their toolchains, for make bench only (not
# in deps.sh's list: make test does not need them); bench.sh builds
# bench/go-echo itself, offline, into build/bench/.
.PHONY: bench bench-floor
bench-floor: $(O)/echo-floor

$(O)/echo-floor: bench/echo_floor.c
	@mkdir -p $(@D)
	$(CC) $(ALLCPPFLAGS) $(ALLCFLAGS) $< -o $@

bench:
	@DEPS_EXTRA="golang-go nodejs $(DEPS_EXTRA)" bash scripts/deps.sh
	@$(MAKE) --no-print-directory all certs bench-floor
	ECHO_FLOOR=$(CURDIR)/$(O)/echo-floor SECHO_BIN=$(CURDIR)/$(BIN) \
	bash scripts/bench.sh

include tests/fuzz/fuzz.mk

-include $(LIBOBJ:.o=.d) $(TESTOBJ:.o=.d) \
	$(PROGS:$(BIN)/%=$(O)/cmd/%.d)
