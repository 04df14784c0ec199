#!/bin/sh
# valgrind-smtpd.sh - run ./smtpd under valgrind's memcheck; used as
# SMTPD_BIN by "make memcheck". Any error or definite leak makes smtpd
# exit 99, which the test harness reports as a failed stop.
here=$(dirname "$0")
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --error-exitcode=99 "$here/../smtpd" "$@"
