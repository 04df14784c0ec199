/*
 * data.h - the DATA body decoder: end-of-data, dot-unstuffing, CRLF to LF,
 * bare CR/LF detection and size accounting. Push-style, pure, any chunking.
 */
#ifndef DATA_H
#define DATA_H

#include <stddef.h>
#include <stdint.h>

enum data_state {
	DS_BOL,		/* at the start of a line, after CRLF */
	DS_MID,		/* inside a line */
	DS_CR,		/* a CR seen, waiting to see if LF follows */
	DS_DOT,		/* "." at the start of a line */
	DS_DOTCR,	/* ".\r" at the start of a line */
	DS_END		/* CRLF . CRLF seen */
};

struct data_decoder {
	enum data_state	state;
	uint64_t	size;		/* message octets, CRLF counted as 2 */
	int		bare_lf;	/* a LF without CR was seen */
	int		bare_cr;	/* a CR without LF was seen */
};

enum data_result { DATA_MORE, DATA_END };

void	data_init(struct data_decoder *d);
/*
 * data_feed - decode in[0..inlen). Decoded bytes go to out (which must
 * hold inlen + 2 bytes); *outlen receives their count and
 * *used the number of input bytes consumed, which is less than inlen
 * only when the end of data was found. Returns DATA_END or DATA_MORE.
 */
enum data_result data_feed(struct data_decoder *d, const char *in,
	    size_t inlen, char *out, size_t *outlen, size_t *used);


/*
 * data_feed_raw - BDAT (RFC 3030) bytes: no dot-stuffing, no end marker;
 * only CRLF -> LF, with a CR at a chunk's edge held over. out must hold
 * inlen + 1 bytes. Returns the number of bytes written.
 */
size_t	data_feed_raw(struct data_decoder *d, const char *in, size_t inlen, char *out);
/* data_finish_raw - flush a held-over CR; returns 0 or 1 bytes in out. */
size_t	data_finish_raw(struct data_decoder *d, char *out);

#endif
