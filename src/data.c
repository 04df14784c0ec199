/*
 * data.c - the DATA body decoder. Pure, push-style, any chunking.
 * Owns: end-of-data recognition, dot-unstuffing (RFC 5321 4.5.2),
 * CRLF -> LF for maildir, bare CR/LF detection, size accounting.
 * Not here: reading the socket (linebuf.c), writing files (delivery.c).
 *
 * RFC 5321 4.1.1.4: the body ends with CRLF "." CRLF and nothing else.
 * A LF or CR not part of a CRLF pair never ends the message (SMTP
 * smuggling): the decoder notes it and the session applies the
 * bare_newline policy. After a bare LF the next byte does not begin a
 * line, so neither "\n.\r\n" nor "\r\n.\n" can end the data.
 * XXX with bare_newline keep, a dot after a bare LF is kept, not
 * unstuffed: a client that ends lines in LF alone stores ".." lines.
 */
#include <stdint.h>
#include <string.h>

#include "data.h"

void
data_init(struct data_decoder *d)
{
	d->state = DS_BOL;	/* the CRLF that ended "DATA" starts line 1 */
	d->size = 0;
	d->bare_lf = 0;
	d->bare_cr = 0;
}

/* next_at - the index of the first c in in[i..inlen), or inlen. */
static size_t
next_at(const char *in, size_t i, size_t inlen, char c)
{
	const char *p = memchr(in + i, c, inlen - i);

	return p != NULL ? (size_t)(p - in) : inlen;
}

enum data_result
data_feed(struct data_decoder *d, const char *in, size_t inlen, char *out,
    size_t *outlen, size_t *used)
{
	/* The next LF and CR at or after i, once looked for: each byte is
	 * searched at most once per call, however the two interleave. */
	size_t	i, n, o = 0, lf = SIZE_MAX, cr = SIZE_MAX;

	for (i = 0; i < inlen; i++) {
		/* Inside a line: copy up to its CR or LF in one go. */
		if (d->state == DS_MID) {
			if (lf == SIZE_MAX || lf < i)
				lf = next_at(in, i, inlen, '\n');
			if (cr == SIZE_MAX || cr < i)
				cr = next_at(in, i, inlen, '\r');
			n = (lf < cr ? lf : cr) - i;
			memcpy(out + o, in + i, n);
			o += n;
			d->size += n;
			i += n;
			if (i == inlen)
				break;
		}
		char c = in[i];

		switch (d->state) {
		case DS_BOL:
			if (c == '.') {
				d->state = DS_DOT;
				continue;
			}
			break;
		case DS_DOT:
			if (c == '\r') {
				d->state = DS_DOTCR;
				continue;
			}
			if (c == '\n') {
				/* ".\n": a bare LF, not an end; keep the dot. */
				out[o++] = '.';
				d->size++;
			}
			/* Otherwise the dot was stuffing: drop it. */
			d->state = DS_MID;
			break;
		case DS_DOTCR:
			if (c == '\n') {
				d->state = DS_END;
				*outlen = o;
				*used = i + 1;
				return DATA_END;
			}
			/* ".\r" then not LF: bare CR, keep both bytes. */
			d->bare_cr = 1;
			out[o++] = '.';
			out[o++] = '\r';
			d->size += 2;
			d->state = DS_MID;
			break;
		case DS_CR:
			if (c == '\n') {
				out[o++] = '\n';
				d->size += 2;
				d->state = DS_BOL;
				continue;
			}
			d->bare_cr = 1;
			out[o++] = '\r';
			d->size++;
			d->state = DS_MID;
			break;
		case DS_MID:
			break;
		case DS_END:
			*outlen = o;
			*used = i;
			return DATA_END;
		}
		/* A byte in the middle of a line. */
		if (c == '\r') {
			d->state = DS_CR;
			continue;
		}
		if (c == '\n') {
			d->bare_lf = 1;
			d->state = DS_MID;
		} else
			d->state = DS_MID;
		out[o++] = c;
		d->size++;
	}
	*outlen = o;
	*used = inlen;
	return d->state == DS_END ? DATA_END : DATA_MORE;
}

size_t
data_feed_raw(struct data_decoder *d, const char *in, size_t inlen, char *out)
{
	size_t	i, o = 0;

	d->size += inlen;
	for (i = 0; i < inlen; i++) {
		if (d->state != DS_CR) {
			/* Up to the next CR, bytes pass as they are. */
			size_t	n = next_at(in, i, inlen, '\r') - i;

			memcpy(out + o, in + i, n);
			o += n;
			i += n;
			if (i == inlen)
				break;
		}
		if (d->state == DS_CR) {
			d->state = DS_MID;
			if (in[i] == '\n') {
				out[o++] = '\n';
				continue;
			}
			out[o++] = '\r';
		}
		if (in[i] == '\r')
			d->state = DS_CR;
		else
			out[o++] = in[i];
	}
	return o;
}

size_t
data_finish_raw(struct data_decoder *d, char *out)
{
	if (d->state != DS_CR)
		return 0;
	d->state = DS_MID;
	out[0] = '\r';
	return 1;
}
