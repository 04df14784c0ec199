/*
 * test_log.c - log lines (src/log.c): what client bytes may become in
 * a log line.
 * Lines go to stderr through write(), which this file replaces to keep
 * them: one call per line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int
main(void)
{
	log_init(1, 0);
	RUN(test_line_plain);
	RUN(test_line_c0);
	RUN(test_line_8bit);
	RUN(test_line_every_byte);
	RUN(test_line_cut);
	RUN(test_line_errno);
	return unit_done();
}
