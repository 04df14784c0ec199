# smtpd - a small SMTP receiver that delivers into maildirs.
# make            build ./smtpd
# make run        build and run in the foreground (PORT=2525 for a user run)
# make check      build and run every test
# make SANITIZE=address|undefined|thread check   the same under a sanitizer

CC	?= cc
CFLAGS	?= -O2 -g
WARN	 = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	   -Wpointer-arith -Wcast-qual -Wsign-compare -Wformat=2
WERROR	?= -Werror
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
SYSCONFDIR ?= $(PREFIX)/etc
MANDIR	?= $(PREFIX)/share/man
DESTDIR	?=
PYTHON	?= python3

CPPFLAGS += -Iinclude -D_GNU_SOURCE
# ns_initparse/ns_parserr live in libresolv, part of glibc (libc6).
LDLIBS	+= -lresolv
ALL_CFLAGS = -std=c11 $(WARN) $(WERROR) $(CFLAGS) -pthread -MMD -MP

SANITIZE ?=
ifeq ($(SANITIZE),)
else ifeq ($(SANITIZE),address)
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),undefined)
ALL_CFLAGS += -fsanitize=undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=undefined
else ifeq ($(SANITIZE),thread)
ALL_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
else
$(error SANITIZE must be address, undefined or thread)
endif

# Each build flavour gets its own object directory.
BUILD	 = build$(if $(SANITIZE),-$(SANITIZE))
SRCS	 = $(wildcard src/*.c)
OBJS	 = $(SRCS:src/%.c=$(BUILD)/%.o)
LIBOBJS	 = $(filter-out $(BUILD)/main.o,$(OBJS))
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# A sanitized daemon lives in its own directory, never as ./smtpd.
PROG	 = $(if $(SANITIZE),$(BUILD)/smtpd,smtpd)

.PHONY: all run check unit components memcheck clean install uninstall fuzz bench soak FORCE
all: $(PROG)

$(PROG): $(OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJS) $(LDFLAGS) $(LDLIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(BUILD)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# The default config path is compiled into main.o: rebuild it whenever
# SYSCONFDIR (or PREFIX) changes, not only when main.c does.
$(BUILD)/main.o: CPPFLAGS += -DSMTPD_CONF='"$(SYSCONFDIR)/smtpd.conf"'
$(BUILD)/main.o: $(BUILD)/sysconfdir
$(BUILD)/sysconfdir: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SYSCONFDIR)' | cmp -s - $@ || echo '$(SYSCONFDIR)' > $@
FORCE:

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIBOBJS)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -o $@ $< $(LIBOBJS) $(LDFLAGS) $(LDLIBS)

unit: $(UNIT_BINS)

# The test runner finds the unit binaries under $(BUILD)/tests.
check: $(PROG) unit
	SMTPD_BIN=./$(PROG) SMTPD_BUILD=$(BUILD) $(PYTHON) tests/run.py

# The tests that start real third-party daemons from Debian (policy
# servers, milters, nginx, HAProxy, promtool): .ci/run installs them.
components: $(PROG)
	SMTPD_BIN=./$(PROG) $(PYTHON) tests/run.py --integration-only --dir components

# The delivery, client, smuggling, PROXY and XCLIENT tests with the daemon
# under valgrind's memcheck (slow; timing tests are left to the sanitizer runs).
memcheck: smtpd
	SMTPD_BIN=tests/valgrind-smtpd.sh $(PYTHON) tests/run.py --integration-only \
	    -k test_delivery -k test_clients -k test_smuggling -k test_proxy \
	    -k test_xclient

# Mixed good, hostile and slow traffic against one daemon for
# SOAK_SECONDS, then every accepted message checked in the spool;
# SOAK_CRASH=S also kills it (-9) every S seconds and starts it again.
SOAK_SECONDS ?= 300
SOAK_CRASH ?= 0
soak: $(PROG)
	SMTPD_BIN=./$(PROG) $(PYTHON) tests/soak/soak.py --seconds $(SOAK_SECONDS) \
	    --crash-every $(SOAK_CRASH)

# libFuzzer (clang) on every parser and on whole SMTP sessions
# (tests/fuzz/run.sh), FUZZ_SECONDS each; fails on a crash.
FUZZ_SECONDS ?= 60
fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# Throughput, latency, CPU and memory figures (prints; never fails on timing).
bench: smtpd
	sh tests/bench/bench.sh

# make run: as root, the shipped config on port 25; otherwise (or with
# PORT=n) a copy that listens on 127.0.0.1:PORT with a spool in ./run.
PORT ?=
run: smtpd
	@if [ -z "$(PORT)" ] && [ "$$(id -u)" = 0 ]; then \
	    id smtpd >/dev/null 2>&1 || useradd --system --no-create-home \
	        --home-dir /nonexistent --shell /usr/sbin/nologin smtpd; \
	    exec ./smtpd -d -f etc/smtpd.conf; \
	else \
	    mkdir -p run && \
	    sed -e 's|^listen .*|listen 127.0.0.1:$(or $(PORT),2525)|' \
	        -e 's|^maildir .*|maildir $(CURDIR)/run/spool/%d/%u|' \
	        -e 's|^user .*||' etc/smtpd.conf > run/smtpd.conf && \
	    exec ./smtpd -d -f run/smtpd.conf; \
	fi

# make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR=/tmp/pkg; an existing
# smtpd.conf is kept.
SPOOLDIR ?= /var/spool/smtpd
# The files name the default paths (/usr/local/..., /var/spool/smtpd);
# installed, they name the ones of this install.
INSTALL_PATHS = sed -e 's|/usr/local/sbin|$(SBINDIR)|g' \
	    -e 's|/usr/local/etc|$(SYSCONFDIR)|g' \
	    -e 's|/usr/local/lib/systemd|$(PREFIX)/lib/systemd|g' \
	    -e 's|/usr/local/share/man|$(MANDIR)|g' \
	    -e 's|/var/spool/smtpd|$(SPOOLDIR)|g'
install: smtpd
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(SYSCONFDIR)/init.d
	install -m 755 smtpd $(DESTDIR)$(SBINDIR)/smtpd
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/smtpd.conf ]; then \
	    echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/smtpd.conf"; \
	else \
	    echo "install -m 644 etc/smtpd.conf $(DESTDIR)$(SYSCONFDIR)/smtpd.conf"; \
	    $(INSTALL_PATHS) etc/smtpd.conf > $(DESTDIR)$(SYSCONFDIR)/smtpd.conf; \
	    chmod 644 $(DESTDIR)$(SYSCONFDIR)/smtpd.conf; \
	fi
	$(INSTALL_PATHS) man/smtpd.8 > $(DESTDIR)$(MANDIR)/man8/smtpd.8
	$(INSTALL_PATHS) man/smtpd.conf.5 > $(DESTDIR)$(MANDIR)/man5/smtpd.conf.5
	$(INSTALL_PATHS) etc/smtpd.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/smtpd.service
	$(INSTALL_PATHS) etc/smtpd.socket > $(DESTDIR)$(PREFIX)/lib/systemd/system/smtpd.socket
	$(INSTALL_PATHS) etc/smtpd.init > $(DESTDIR)$(SYSCONFDIR)/init.d/smtpd
	chmod 644 $(DESTDIR)$(MANDIR)/man8/smtpd.8 $(DESTDIR)$(MANDIR)/man5/smtpd.conf.5 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/smtpd.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/smtpd.socket
	chmod 755 $(DESTDIR)$(SYSCONFDIR)/init.d/smtpd
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    id smtpd >/dev/null 2>&1 || useradd --system --no-create-home \
	        --home-dir /nonexistent --shell /usr/sbin/nologin smtpd; \
	    owner=$$(stat -c %U $(SPOOLDIR) 2>/dev/null || echo smtpd); \
	    if [ "$$owner" != smtpd ]; then \
	        echo "$(SPOOLDIR) belongs to $$owner (OpenSMTPD's queue?): left" \
	            "alone; choose another SPOOLDIR=" >&2; exit 1; \
	    fi; \
	    install -d -m 700 -o smtpd -g smtpd $(SPOOLDIR); \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/smtpd $(DESTDIR)$(MANDIR)/man8/smtpd.8 \
	    $(DESTDIR)$(MANDIR)/man5/smtpd.conf.5 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/smtpd.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/smtpd.socket \
	    $(DESTDIR)$(SYSCONFDIR)/init.d/smtpd
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/smtpd.conf and the spool"

clean:
	rm -rf build build-* smtpd run fuzz-out

-include $(OBJS:.o=.d)
