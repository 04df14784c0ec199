/*
 * test_milter.c - the milter protocol's pure parts (src/milter.c): reply
 * and negotiation parsing, header names and values, the header/body
 * stream; and the header edits on a stored copy (src/hdredit.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdredit.h"
#include "milter.h"
#include "unit.h"

/* ---- replies ---- */

static void
test_parse_simple_replies(void)
{
	struct milter_reply r;
	const char *why;
	const char cmds[] = "acdrtsp";

	for (const char *c = cmds; *c; c++) {
		CHECK_EQ_INT(milter_parse_reply(*c, "", 0, &r, &why), 0);
		CHECK_EQ_INT(r.cmd, *c);
	}
	CHECK_EQ_INT(milter_parse_reply('Z', "", 0, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply(0, "", 0, &r, &why), -1);
}

static void
test_parse_replycode(void)
{
	struct milter_reply r;
	const char *why;
	const char ok[] = "554 5.7.0 Go away now";

	CHECK_EQ_INT(milter_parse_reply('y', ok, sizeof ok, &r, &why), 0);
	CHECK_EQ_INT(r.code, 554);
	CHECK_STR(r.esc, "5.7.0");
	CHECK_STR(r.text, "Go away now");
	/* multi-line: the first line */
	const char ml[] = "451-4.7.1 first\r\n451 4.7.1 second";
	CHECK_EQ_INT(milter_parse_reply('y', ml, sizeof ml, &r, &why), 0);
	CHECK_EQ_INT(r.code, 451);
	CHECK_STR(r.esc, "4.7.1");
	CHECK_STR(r.text, "first");
	/* no enhanced code; one of the wrong class is text */
	const char noesc[] = "550 no way";
	CHECK_EQ_INT(milter_parse_reply('y', noesc, sizeof noesc, &r, &why), 0);
	CHECK_STR(r.esc, "");
	CHECK_STR(r.text, "no way");
	const char wrong[] = "450 5.7.1 mixed";
	CHECK_EQ_INT(milter_parse_reply('y', wrong, sizeof wrong, &r, &why), 0);
	CHECK_STR(r.esc, "");
	/* refused: not 4xx/5xx, not terminated, control bytes */
	const char c250[] = "250 2.0.0 ok", c600[] = "600 x", short3[] = "55";
	CHECK_EQ_INT(milter_parse_reply('y', c250, sizeof c250, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('y', c600, sizeof c600, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('y', short3, sizeof short3, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('y', "550 abc", 7, &r, &why), -1);
	const char esc[] = "550 5.7.1 a\033[2Jb";
	CHECK_EQ_INT(milter_parse_reply('y', esc, sizeof esc, &r, &why), -1);
	/* the text is bounded */
	char big[2000];
	memset(big, 'x', sizeof big);
	memcpy(big, "550 ", 4);
	big[sizeof big - 1] = '\0';
	CHECK_EQ_INT(milter_parse_reply('y', big, sizeof big, &r, &why), 0);
	CHECK_EQ_INT((int)strlen(r.text), MILTER_TEXT_MAX);
}

static void
test_parse_header_replies(void)
{
	struct milter_reply r;
	const char *why;
	const char add[] = "X-A\0value";
	const char ins[] = "\0\0\0\2X-B\0v2";
	const char chg[] = "\0\0\0\1Subject\0";

	CHECK_EQ_INT(milter_parse_reply('h', add, sizeof add, &r, &why), 0);
	CHECK_STR(r.name, "X-A");
	CHECK_STR(r.value, "value");
	CHECK_EQ_INT(milter_parse_reply('i', ins, sizeof ins, &r, &why), 0);
	CHECK_EQ_INT((int)r.index, 2);
	CHECK_STR(r.name, "X-B");
	CHECK_EQ_INT(milter_parse_reply('m', chg, sizeof chg, &r, &why), 0);
	CHECK_EQ_INT((int)r.index, 1);
	CHECK_STR(r.value, "");
	/* strings must end inside the packet */
	CHECK_EQ_INT(milter_parse_reply('h', add, sizeof add - 1, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('h', "X-A", 3, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('i', "\0\0\0", 3, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('q', "why", 3, &r, &why), -1);
	CHECK_EQ_INT(milter_parse_reply('q', "why", 4, &r, &why), 0);
	CHECK_STR(r.value, "why");
}

static void
test_parse_optneg(void)
{
	uint32_t v, a, p;
	const char *why;
	const char six[12] = { 0, 0, 0, 6, 0, 0, 0, 0x21, 0, 0x10, 0, 0 };
	const char seven[12] = { 0, 0, 0, 7 };

	CHECK_EQ_INT(milter_parse_optneg(six, 12, &v, &a, &p, &why), 0);
	CHECK_EQ_INT((int)v, 6);
	CHECK_EQ_INT((int)a, 0x21);
	CHECK_EQ_INT((int)p, 0x100000);
	CHECK_EQ_INT(milter_parse_optneg(six, 11, &v, &a, &p, &why), -1);
	CHECK_EQ_INT(milter_parse_optneg(seven, 12, &v, &a, &p, &why), -1);
}

static void
test_names_and_values(void)
{
	char	out[64];

	CHECK(milter_valid_name("X-Spam-Status"));
	CHECK(!milter_valid_name(""));
	CHECK(!milter_valid_name("Bad Name"));
	CHECK(!milter_valid_name("Bad:Name"));
	CHECK(!milter_valid_name("Bad\nName"));
	CHECK_EQ_INT(milter_clean_value("a\r\n\tb", out, sizeof out), 0);
	CHECK_STR(out, "a\n\tb");
	CHECK_EQ_INT(milter_clean_value("a\nBcc: x", out, sizeof out), 0);
	CHECK_STR(out, "a\n\tBcc: x");
	CHECK_EQ_INT(milter_clean_value("a\n\n b\r\n", out, sizeof out), 0);
	CHECK_STR(out, "a\n b");
	CHECK_EQ_INT(milter_clean_value("x\001y", out, sizeof out), 0);
	CHECK_STR(out, "x y");
	CHECK_EQ_INT(milter_clean_value("0123456789", out, 8), -1);
}

/* ---- the stream ---- */

struct capture {
	char	 buf[1 << 20];
	size_t	 len;
	int	 npkt, nhdr, neoh, nbody, maxbody;
	int	 stop_at;	/* emit -1 at this packet (0 = never) */
};

static int
capture(void *arg, int cmd, const char *data, size_t len)
{
	struct capture *c = arg;

	c->npkt++;
	if (cmd == SMFIC_HEADER)
		c->nhdr++;
	if (cmd == SMFIC_EOH)
		c->neoh++;
	if (cmd == SMFIC_BODY) {
		c->nbody++;
		if ((int)len > c->maxbody)
			c->maxbody = (int)len;
	}
	if (c->len + len + 2 < sizeof c->buf) {
		c->buf[c->len++] = (char)cmd;
		if (len > 0)
			memcpy(c->buf + c->len, data, len);
		c->len += len;
		c->buf[c->len++] = '|';
	}
	return c->stop_at && c->npkt >= c->stop_at ? -1 : 0;
}

/* stream - feed msg in pieces of step (0: whole) into c. */
static void
stream(struct capture *c, const char *msg, size_t len, size_t step)
{
	struct milter_stream ms;
	size_t	 i, n;

	memset(c, 0, sizeof *c - sizeof c->stop_at);
	REQUIRE(milter_stream_init(&ms, capture, c) == 0);
	for (i = 0; i < len; i += n) {
		n = step == 0 || step > len - i ? len - i : step;
		milter_stream_feed(&ms, msg + i, n);
	}
	milter_stream_end(&ms);
	milter_stream_free(&ms);
}

static void
test_stream_fields_and_body(void)
{
	static struct capture c1, c2;
	const char msg[] = "From: a@x\nReturn-Path: <evil>\nSubject:  two\n\tlines\n"
	    "X-Empty:\n\nbody 1\n.dot\n";
	const char want[] = "LFrom\0 a@x\0|LSubject\0  two\n\tlines\0|LX-Empty\0\0|N|"
	    "Bbody 1\r\n.dot\r\n|";

	stream(&c1, msg, sizeof msg - 1, 0);
	CHECK_MEM(c1.buf, c1.len, want, sizeof want - 1);
	for (size_t step = 1; step < 9; step++) {
		stream(&c2, msg, sizeof msg - 1, step);
		CHECK_MEM(c2.buf, c2.len, want, sizeof want - 1);
	}
}

static void
test_stream_no_empty_line(void)
{
	static struct capture c;
	const char a[] = "Subject: x\nnot a field\nmore\n";
	const char wa[] = "LSubject\0 x\0|N|Bnot a field\r\nmore\r\n|";
	const char b[] = "Subject: x";	/* no line end at all */
	const char wb[] = "LSubject\0 x\0|N|";
	const char d[] = " starts folded\n";
	const char wd[] = "N|B starts folded\r\n|";

	stream(&c, a, sizeof a - 1, 3);
	CHECK_MEM(c.buf, c.len, wa, sizeof wa - 1);
	stream(&c, b, sizeof b - 1, 1);
	CHECK_MEM(c.buf, c.len, wb, sizeof wb - 1);
	stream(&c, d, sizeof d - 1, 0);
	CHECK_MEM(c.buf, c.len, wd, sizeof wd - 1);
	stream(&c, "", 0, 0);
	CHECK_MEM(c.buf, c.len, "N|", 2);
}

static void
test_stream_chunks_and_cut(void)
{
	static struct capture c;
	size_t	 n = 300000, i;
	char	*msg = malloc(n);

	REQUIRE(msg != NULL);
	memcpy(msg, "S: x\n\n", 6);
	for (i = 6; i < n; i++)
		msg[i] = i % 50 == 0 ? '\n' : 'a';
	stream(&c, msg, n, 7777);
	CHECK(c.nbody >= 5);
	CHECK(c.maxbody <= MILTER_CHUNK_MAX);
	/* a field longer than MILTER_HEADER_MAX is cut, not grown */
	memset(msg, 'h', n);
	memcpy(msg, "X-Big: ", 7);
	msg[n - 2] = '\n';
	msg[n - 1] = '\n';
	stream(&c, msg, n, 1000);
	CHECK_EQ_INT(c.nhdr, 1);
	CHECK_EQ_INT(c.neoh, 1);
	CHECK(c.len < MILTER_HEADER_MAX + 64);
	free(msg);
}

static void
test_stream_stops(void)
{
	static struct capture c;
	struct milter_stream ms;
	const char msg[] = "A: 1\nB: 2\nC: 3\n\nbody\n";

	memset(&c, 0, sizeof c);
	c.stop_at = 2;
	REQUIRE(milter_stream_init(&ms, capture, &c) == 0);
	milter_stream_feed(&ms, msg, sizeof msg - 1);
	milter_stream_end(&ms);
	milter_stream_free(&ms);
	CHECK_EQ_INT(c.npkt, 2);
}

/* ---- header edits on a file ---- */

static int
file_with(const char *text, size_t len)
{
	char	path[] = "/tmp/test_milter.XXXXXX";
	int	fd = mkstemp(path);

	if (fd == -1)
		return -1;
	unlink(path);
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *
contents(int fd, size_t *len)
{
	off_t	 end = lseek(fd, 0, SEEK_END);
	char	*p = malloc((size_t)end + 1);

	if (p == NULL || pread(fd, p, (size_t)end, 0) != end) {
		free(p);
		return NULL;
	}
	p[end] = '\0';
	*len = (size_t)end;
	return p;
}

static void
test_hdredit(void)
{
	const char trace[] = "Return-Path: <a>\nReceived: by us\n";
	const char msg[] = "Return-Path: <a>\nReceived: by us\n"
	    "From: a\nSubject: s\n\tfolded\nsubject: second\n\nbody\n";
	struct hdr_edit e4 = { HDR_CHANGE, 2, "Subject", "", NULL };
	struct hdr_edit e3 = { HDR_CHANGE, 1, "SUBJECT", "new\nline", &e4 };
	struct hdr_edit e2 = { HDR_ADD, 0, "X-Last", "z", &e3 };
	struct hdr_edit e1 = { HDR_INSERT, 0, "X-First", " a", &e2 };
	struct hdr_edit e0 = { HDR_INSERT, 99, "X-Far", "f", &e1 };
	const char want[] = "Return-Path: <a>\nReceived: by us\n"
	    "X-First: a\nFrom: a\nSubject: new\n\tline\nX-Far: f\nX-Last: z\n\nbody\n";
	size_t	 len;
	char	*got;
	int	 fd;

	REQUIRE((fd = file_with(msg, sizeof msg - 1)) != -1);
	CHECK_EQ_INT(hdredit_file(fd, (off_t)(sizeof trace - 1), &e0), 0);
	got = contents(fd, &len);
	CHECK_MEM(got, len, want, sizeof want - 1);
	free(got);
	close(fd);
	/* a missing field to change is added; deleting one is nothing */
	struct hdr_edit d2 = { HDR_CHANGE, 3, "X-None", "", NULL };
	struct hdr_edit d1 = { HDR_CHANGE, 1, "X-New", "v", &d2 };
	const char m2[] = "A: 1\n\nb\n", w2[] = "A: 1\nX-New: v\n\nb\n";
	REQUIRE((fd = file_with(m2, sizeof m2 - 1)) != -1);
	CHECK_EQ_INT(hdredit_file(fd, 0, &d1), 0);
	got = contents(fd, &len);
	CHECK_MEM(got, len, w2, sizeof w2 - 1);
	free(got);
	close(fd);
}

static void
test_hdredit_moves_big_body(void)
{
	size_t	 n = 500000, len, i;
	char	*msg = malloc(n), *got;
	char	 big[3000];
	struct hdr_edit del = { HDR_CHANGE, 1, "A", "", NULL };
	struct hdr_edit add = { HDR_INSERT, 0, "X-Big", big, NULL };
	int	 fd;

	REQUIRE(msg != NULL);
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(msg, "A: 1\n\n", 6);
	for (i = 6; i < n; i++)
		msg[i] = (char)('a' + i % 26);
	REQUIRE((fd = file_with(msg, n)) != -1);
	CHECK_EQ_INT(hdredit_file(fd, 0, &add), 0);
	got = contents(fd, &len);
	REQUIRE(got != NULL);
	CHECK_EQ_INT((int)len, (int)(n + 7 + sizeof big));
	CHECK(memcmp(got + 7 + sizeof big, msg, n) == 0);
	free(got);
	/* and back: both inserted and original fields gone */
	struct hdr_edit del2 = { HDR_CHANGE, 1, "X-Big", "", &del };
	CHECK_EQ_INT(hdredit_file(fd, 0, &del2), 0);
	got = contents(fd, &len);
	REQUIRE(got != NULL);
	CHECK_EQ_INT((int)len, (int)(n - 5));
	CHECK(memcmp(got, msg + 5, n - 5) == 0);
	free(got);
	close(fd);
	free(msg);
}

int
main(void)
{
	RUN(test_parse_simple_replies);
	RUN(test_parse_replycode);
	RUN(test_parse_header_replies);
	RUN(test_parse_optneg);
	RUN(test_names_and_values);
	RUN(test_stream_fields_and_body);
	RUN(test_stream_no_empty_line);
	RUN(test_stream_chunks_and_cut);
	RUN(test_stream_stops);
	RUN(test_hdredit);
	RUN(test_hdredit_moves_big_body);
	return unit_done();
}
