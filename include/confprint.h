/*
 * confprint.h - a loaded configuration written back as smtpd.conf text
 * (smtpd -n -v).
 */
#ifndef CONFPRINT_H
#define CONFPRINT_H

#include <stdio.h>
#include "config.h"

/*
 * config_print - every directive of cf with its value, defaults
 * included, one per line in the order of smtpd.conf(5), as the parser
 * reads it: the text, written to a file, loads into the same config.
 * A setting that is off by being absent (no listen, proxy_from or
 * mailbox line, no hostname, user or recipient_delimiter) is printed
 * as a comment naming it and saying what applies.
 */
void	config_print(const struct config *cf, FILE *fp);

#endif
