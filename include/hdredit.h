/*
 * hdredit.h - header edits (struct hdr_edit, delivery.h) applied to one
 * stored copy in place.
 */
#ifndef HDREDIT_H
#define HDREDIT_H

#include <sys/types.h>
#include "delivery.h"

/*
 * hdredit_file - rewrite the file fd (open for reading and writing,
 * LF line ends) whose client header section starts at offset start:
 * the edits applied in order (delivery.h says what each does), the
 * body after it moved as needed. 0, or -1 with errno set.
 */
int	hdredit_file(int fd, off_t start, const struct hdr_edit *edits);

#endif
