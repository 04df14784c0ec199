/*
 * test_log.c - log lines and field values (src/log.c): what client
 * bytes may become in a log line, and that a quoted value stays one field.
 * Lines go to stderr through write(), which this file replaces to keep
 * them: one call per line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "smtpaddr.h"
#include "unit.h"

/* ---- helpers ---- */

/* log.c's write(): what goes to stderr is kept, one entry per call. */
static char	captured[16384];
static size_t	captured_len;
static int	stderr_writes;

ssize_t
write(int fd, const void *buf, size_t n)
{
	if (fd != STDERR_FILENO)
		return (ssize_t)syscall(SYS_write, fd, buf, n);
	stderr_writes++;
	if (n > sizeof captured - captured_len - 1)
		n = sizeof captured - captured_len - 1;
	memcpy(captured + captured_len, buf, n);
	captured_len += n;
	captured[captured_len] = '\0';
	return (ssize_t)n;
}

/*
 * logged - log_info("%s", text) and return what the line says after
 * "smtpd: ", without its '\n' (NULL unless it was one write of one
 * whole line).
 */
static const char *
logged(const char *text)
{
	char	*p;

	captured_len = 0;
	captured[0] = '\0';
	stderr_writes = 0;
	log_info("%s", text);
	if (stderr_writes != 1 || captured_len == 0 ||
	    captured[captured_len - 1] != '\n' ||
	    memchr(captured, '\n', captured_len) != captured + captured_len - 1 ||
	    (p = strstr(captured, " smtpd: ")) == NULL)
		return NULL;
	captured[--captured_len] = '\0';
	return p + 8;
}

/* terminal_safe - s is valid UTF-8 with no C0, DEL or C1 character:
 * nothing a terminal takes for a control sequence. */
static int
terminal_safe(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t	n = strlen(s);

	if (!smtpaddr_valid_utf8(s, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
		if (u[i] == 0xc2 && i + 1 < n && u[i + 1] < 0xa0)
			return 0;
	}
	return 1;
}

#define LOGGED(in, out) do {					\
	const char *got_ = logged(in);				\
	CHECK(got_ != NULL);					\
	CHECK_STR(got_ ? got_ : "", (out));			\
} while (0)

/* ---- log lines ---- */

static void
test_line_plain(void)
{
	LOGGED("session=1 connect client=127.0.0.1",
	    "session=1 connect client=127.0.0.1");
	LOGGED("", "");
	/* Valid UTF-8 text passes unchanged. */
	LOGGED("helo=gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87 "
	    "\xf0\x9f\x98\x80 nbsp=\xc2\xa0 max=\xf4\x8f\xbf\xbf",
	    "helo=gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87 "
	    "\xf0\x9f\x98\x80 nbsp=\xc2\xa0 max=\xf4\x8f\xbf\xbf");
}

/* C0 controls and DEL never reach the line (no forged lines). */
static void
test_line_c0(void)
{
	LOGGED("a\r\nsession=2 forged\x1b[31m\x7f\t",
	    "a\\x0d\\x0asession=2 forged\\x1b[31m\\x7f\\x09");
}

/* 8-bit bytes: a lone 0x9b (CSI to an 8-bit terminal), the C1 controls
 * in UTF-8, and every byte of an ill-formed sequence become \xHH. */
static void
test_line_8bit(void)
{
	LOGGED("x\x9b" "31my", "x\\x9b31my");
	LOGGED("\xc2\x9b" "31m \xc2\x85 \xc2\x80 \xc2\x9f",
	    "\\xc2\\x9b31m \\xc2\\x85 \\xc2\\x80 \\xc2\\x9f");
	/* overlong forms */
	LOGGED("\xc0\x80 \xc1\xbf \xe0\x80\xaf \xf0\x80\x80\xaf",
	    "\\xc0\\x80 \\xc1\\xbf \\xe0\\x80\\xaf \\xf0\\x80\\x80\\xaf");
	/* surrogates, past U+10FFFF */
	LOGGED("\xed\xa0\x80 \xed\xbf\xbf \xf4\x90\x80\x80",
	    "\\xed\\xa0\\x80 \\xed\\xbf\\xbf \\xf4\\x90\\x80\\x80");
	/* truncated sequences, stray continuation bytes */
	LOGGED("\xe4\xb8 \xe4\xb8" "A \xf0\x9f\x98 \x80\xbf z\xe4",
	    "\\xe4\\xb8 \\xe4\\xb8" "A \\xf0\\x9f\\x98 \\x80\\xbf z\\xe4");
	/* bytes that never occur in UTF-8 */
	LOGGED("\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff",
	    "\\xf5\\xf6\\xf7\\xf8\\xf9\\xfa\\xfb\\xfc\\xfd\\xfe\\xff");
	/* a bad byte does not swallow the valid character after it */
	LOGGED("\xe4\xc3\xbc", "\\xe4\xc3\xbc");
}

/* Every byte value, alone and after each lead byte: the line is always
 * terminal-safe. */
static void
test_line_every_byte(void)
{
	char	in[4];
	const char *got;

	for (int a = 1; a < 256; a++) {
		for (int b = 0; b < 256; b += 1) {
			in[0] = (char)a;
			in[1] = (char)b;
			in[2] = (char)0x80;
			in[3] = '\0';
			got = logged(in);
			if (!CHECK(got != NULL && terminal_safe(got))) {
				printf("#   input %02x %02x 80\n", a, b);
				return;
			}
		}
	}
}

/* A line too long is cut between characters, never inside an escape
 * or a UTF-8 character, and is still one write. */
static void
test_line_cut(void)
{
	char	*in = malloc(6001);
	const char *got;
	size_t	 n;

	REQUIRE(in != NULL);
	/* 3-byte characters: the formatting buffer (2048) ends mid-character. */
	for (n = 0; n + 3 <= 6000; n += 3)
		memcpy(in + n, "\xe4\xb8\xad", 3);
	in[n] = '\0';
	got = logged(in);
	CHECK(got != NULL && terminal_safe(got) && strchr(got, '\\') == NULL);
	CHECK(got != NULL && strlen(got) % 3 == 0 && strlen(got) > 1500);
	/* Escapes: whole ones only. */
	memset(in, 0x9b, 3000);
	in[3000] = '\0';
	got = logged(in);
	REQUIRE(got != NULL);
	n = strlen(got);
	CHECK(n % 4 == 0 && n > 1500);
	for (size_t i = 0; i + 4 <= n; i += 4)
		if (!CHECK(memcmp(got + i, "\\x9b", 4) == 0))
			break;
	/* Two-byte C1 controls: both escapes or neither. */
	for (n = 0; n + 2 <= 6000; n += 2)
		memcpy(in + n, "\xc2\x9b", 2);
	in[n] = '\0';
	got = logged(in);
	REQUIRE(got != NULL);
	n = strlen(got);
	CHECK(n % 8 == 0 && n > 1500);
	free(in);
}

/* log_warn appends strerror(errno), escaped like the rest; errno kept. */
static void
test_line_errno(void)
{
	captured_len = 0;
	stderr_writes = 0;
	errno = ENOENT;
	log_warn("open \x9b%s", "x");
	CHECK_EQ_INT(errno, ENOENT);
	CHECK_EQ_INT(stderr_writes, 1);
	CHECK(strstr(captured, "smtpd: open \\x9bx: No such file or directory\n") != NULL);
}

/* ---- field values: log_quote ---- */

/*
 * A key=value parser as a log reader would write one: fields separated
 * by spaces; a value is either a bare word or double-quoted with \" \\
 * and \xHH inside. Values are decoded into the caller's fields.
 */
#define KV_MAX		16
#define KV_VALUE_MAX	1024

struct kv {
	char	key[32];
	char	value[KV_VALUE_MAX];
	size_t	len;		/* value bytes (it may hold a NUL) */
	int	quoted;
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* unquote - decode the quoted value at *sp (after its opening '"') up
 * to its closing '"'; *sp moves past it. -1 if malformed. */
static int
unquote(const char **sp, char *out, size_t outsz, size_t *len)
{
	const char *s = *sp;
	size_t	 o = 0;
	int	 hi, lo;

	for (;;) {
		char c = *s++;
		if (c == '\0')
			return -1;		/* never closed */
		if (c == '"')
			break;
		if (c == '\\') {
			c = *s++;
			if (c == 'x') {
				if ((hi = hexval(s[0])) < 0 || (lo = hexval(s[1])) < 0)
					return -1;
				c = (char)(hi << 4 | lo);
				s += 2;
			} else if (c != '"' && c != '\\')
				return -1;
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	*len = o;
	*sp = s;
	return 0;
}

/* kv_parse - the fields of line; their number, or -1 if malformed. */
static int
kv_parse(const char *line, struct kv *f, int max)
{
	const char *s = line, *eq, *end;
	int	 n = 0;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		if (n == max)
			return -1;
		memset(&f[n], 0, sizeof f[n]);
		end = s + strcspn(s, " =\"");
		if (*end != '=' || end == s || (size_t)(end - s) >= sizeof f[n].key) {
			/* a bare word ("connect"): a key without a value */
			end = s + strcspn(s, " ");
			if ((size_t)(end - s) >= sizeof f[n].key)
				return -1;
			memcpy(f[n].key, s, (size_t)(end - s));
			s = end;
			n++;
			continue;
		}
		eq = end;
		memcpy(f[n].key, s, (size_t)(eq - s));
		s = eq + 1;
		if (*s == '"') {
			s++;
			f[n].quoted = 1;
			if (unquote(&s, f[n].value, sizeof f[n].value, &f[n].len) == -1)
				return -1;
			if (*s != ' ' && *s != '\0')
				return -1;	/* text glued to a closing quote */
		} else {
			end = s + strcspn(s, " ");
			if ((size_t)(end - s) >= sizeof f[n].value)
				return -1;
			memcpy(f[n].value, s, (size_t)(end - s));
			f[n].len = (size_t)(end - s);
			s = end;
		}
		n++;
	}
	return n;
}

/* field - the value of the only field named key, or NULL (none, or more
 * than one). */
static const struct kv *
field(const struct kv *f, int n, const char *key)
{
	const struct kv *found = NULL;

	for (int i = 0; i < n; i++) {
		if (strcmp(f[i].key, key) != 0)
			continue;
		if (found != NULL)
			return NULL;
		found = &f[i];
	}
	return found;
}

#define QUOTED(in, out) do {					\
	char buf_[LOG_QUOTE_SIZE(64)];				\
	CHECK_STR(log_quote(buf_, sizeof buf_, (in)), (out));	\
} while (0)

static void
test_quote_plain(void)
{
	QUOTED("", "\"\"");
	QUOTED(NULL, "\"\"");
	QUOTED("client.example", "\"client.example\"");
	QUOTED("a b=c <d@e>", "\"a b=c <d@e>\"");
	QUOTED("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"");
	/* valid UTF-8 unchanged */
	QUOTED("gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xc2\xa0",
	    "\"gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xc2\xa0\"");
}

static void
test_quote_escapes(void)
{
	QUOTED("\r\n\t\x1b\x7f", "\"\\x0d\\x0a\\x09\\x1b\\x7f\"");
	QUOTED("\x9b", "\"\\x9b\"");
	QUOTED("\xc2\x9b\xc2\x80\xc2\x9f", "\"\\xc2\\x9b\\xc2\\x80\\xc2\\x9f\"");
	QUOTED("\xc0\x80", "\"\\xc0\\x80\"");			/* overlong NUL */
	QUOTED("\xe0\x80\xaf", "\"\\xe0\\x80\\xaf\"");		/* overlong '/' */
	QUOTED("\xed\xa0\x80", "\"\\xed\\xa0\\x80\"");		/* surrogate */
	QUOTED("\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\"");	/* > U+10FFFF */
	QUOTED("\xe4\xb8", "\"\\xe4\\xb8\"");			/* truncated */
	QUOTED("\xe4\xb8\"", "\"\\xe4\\xb8\\\"\"");
	QUOTED("\xf0\x9f\x98", "\"\\xf0\\x9f\\x98\"");
	QUOTED("\x80\xbf", "\"\\x80\\xbf\"");			/* stray */
	QUOTED("\xf5\xf8\xfc\xfe\xff", "\"\\xf5\\xf8\\xfc\\xfe\\xff\"");
	QUOTED("\\x41", "\"\\\\x41\"");		/* a literal \x41 stays text */
}

/* A value crafted to end its field and forge others stays one value,
 * after log_quote and after log_emit too. */
static void
test_quote_forgery(void)
{
	static const char *evil[] = {
		"\"x> to=<ceo@example.org> result=delivered\"@evil.test",
		"x\\\" to=<ceo@example.org> result=delivered \\",
		"x\" result=delivered",
		"\\",
		"x\r\n2024-01-01T00:00:00.000Z smtpd: id=1 result=delivered",
		("x\xc2\x9b" "2K result=delivered"),
	};
	char	 from[LOG_QUOTE_SIZE(80)], line[1024];
	struct kv f[KV_MAX];
	const struct kv *v;
	const char *got;
	int	 n;

	for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
		snprintf(line, sizeof line, "id=ab12 from=%s to=<u@example.org> "
		    "result=rejected", log_quote(from, sizeof from, evil[i]));
		n = kv_parse(line, f, KV_MAX);
		CHECK_EQ_INT(n, 4);
		CHECK((v = field(f, n, "from")) != NULL && v->quoted &&
		    v->len == strlen(evil[i]) && memcmp(v->value, evil[i], v->len) == 0);
		CHECK((v = field(f, n, "to")) != NULL && strcmp(v->value, "<u@example.org>") == 0);
		CHECK((v = field(f, n, "result")) != NULL && strcmp(v->value, "rejected") == 0);
		/* The line as logged: log_emit leaves a quoted value alone. */
		got = logged(line);
		CHECK(got != NULL && strcmp(got, line) == 0);
		if (unit_cur_failures) {
			printf("#   value %zu: %s\n", i, line);
			break;
		}
	}
}

/* unit_len - the length of the unit of quoted output at s: an escape,
 * a pair of escapes for a C1 control, or one UTF-8 character. */
static size_t
unit_len(const char *s)
{
	if (s[0] == '\\' && s[1] == 'x') {
		if (strncmp(s, "\\xc2\\x8", 7) == 0 || strncmp(s, "\\xc2\\x9", 7) == 0)
			return 8;
		return 4;
	}
	if (s[0] == '\\')
		return 2;
	if ((unsigned char)s[0] < 0x80)
		return 1;
	if ((unsigned char)s[0] < 0xe0)
		return 2;
	return (unsigned char)s[0] < 0xf0 ? 3 : 4;
}

/* Cut at every size: always NUL-terminated within size, closed, and the
 * longest prefix of whole units that fits before ...". */
static void
test_quote_cut(void)
{
	const char *src = "a\"b\\c\x9b gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87 "
	    "\xc2\x9b \xf0\x9f\x98\x80 \xed\xa0\x80 \xc2\x85" "end\x01";
	char	 full[LOG_QUOTE_SIZE(64)], buf[LOG_QUOTE_SIZE(64) + 8], inner[300];
	size_t	 flen, size, len, ilen;
	struct kv f[1];

	log_quote(full, sizeof full, src);
	flen = strlen(full);
	CHECK_EQ_INT(LOG_QUOTE_SIZE(strlen(src)) <= sizeof full, 1);
	for (size = 0; size <= flen + 2; size++) {
		memset(buf, 'Z', sizeof buf);
		CHECK(log_quote(buf, size, src) == buf);
		if (size == 0) {
			CHECK(buf[0] == 'Z');
			continue;
		}
		len = strnlen(buf, size);
		if (!CHECK(len < size))
			break;
		CHECK(buf[size] == 'Z' || size >= sizeof buf);
		if (size > flen) {
			CHECK_STR(buf, full);
			continue;
		}
		if (size < 6) {
			CHECK_STR(buf, "");
			continue;
		}
		/* `"` + a prefix of full's units + `..."` */
		if (!CHECK(len >= 5 && strcmp(buf + len - 4, "...\"") == 0 &&
		    buf[0] == '"'))
			break;
		ilen = len - 4 - 1;
		CHECK(memcmp(buf + 1, full + 1, ilen) == 0);
		/* at a unit boundary of full, and the next unit would not fit */
		{
			size_t u = 1;
			while (u < 1 + ilen)
				u += unit_len(full + u);
			CHECK_EQ_INT(u, 1 + ilen);
			CHECK(1 + ilen + unit_len(full + u) + 5 > size);
		}
		CHECK(terminal_safe(buf));
		/* and it still parses as one value */
		snprintf(inner, sizeof inner, "v=%s", buf);
		CHECK_EQ_INT(kv_parse(inner, f, 1), 1);
		if (unit_cur_failures) {
			printf("#   size %zu: %s\n", size, buf);
			break;
		}
	}
}

/* LOG_QUOTE_SIZE holds the worst case whole: every byte an escape. */
static void
test_quote_size(void)
{
	char	 src[256], dst[LOG_QUOTE_SIZE(255)];

	memset(src, 0xff, 255);
	src[255] = '\0';
	log_quote(dst, sizeof dst, src);
	CHECK_EQ_INT(strlen(dst), sizeof dst - 1);
	CHECK(dst[sizeof dst - 2] == '"' && strstr(dst, "...") == NULL);
	log_quote(dst, sizeof dst - 1, src);
	CHECK(strcmp(dst + strlen(dst) - 4, "...\"") == 0);
}

/* Under systemd, JOURNAL_STREAM names stderr: the line is the text
 * after the journal's <N> priority; any other stream: as always. */
static void
test_journal_stream(void)
{
	struct stat st;
	char	v[64];

	REQUIRE(fstat(STDERR_FILENO, &st) == 0);
	snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	log_init(1, 0);
	captured_len = 0;
	log_info("session=1 connect");
	CHECK_STR(captured, "<6>session=1 connect\n");
	captured_len = 0;
	log_warnx("a\x1b");
	CHECK_STR(captured, "<4>a\\x1b\n");
	snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	log_init(1, 0);
	CHECK_STR(logged("x"), "x");
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init(1, 0);
	CHECK_STR(logged("x"), "x");
	unsetenv("JOURNAL_STREAM");
	log_init(1, 0);
	CHECK_STR(logged("x"), "x");
}

int
main(void)
{
	/* The lines below are checked in their stderr form. */
	unsetenv("JOURNAL_STREAM");
	log_init(1, 0);
	RUN(test_line_plain);
	RUN(test_line_c0);
	RUN(test_line_8bit);
	RUN(test_line_every_byte);
	RUN(test_line_cut);
	RUN(test_line_errno);
	RUN(test_quote_plain);
	RUN(test_quote_escapes);
	RUN(test_quote_forgery);
	RUN(test_quote_cut);
	RUN(test_quote_size);
	RUN(test_journal_stream);
	return unit_done();
}
