/*
 * fuzz.h - shared bits of the libFuzzer harnesses (see run.sh).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where FUZZ_ASSERT reports: stderr, unless the harness names its own
 * stream (fuzz_session.c keeps a copy of stderr, as run.sh closes fd 2
 * to silence the session's log lines). */
#ifndef FUZZ_REPORT
#define FUZZ_REPORT	stderr
#endif

/* FUZZ_ASSERT - an invariant of the code under test: report and abort,
 * which libFuzzer records as a crash with its input. */
#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(FUZZ_REPORT, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		fflush(FUZZ_REPORT);					\
		abort();						\
	}								\
} while (0)

#endif
