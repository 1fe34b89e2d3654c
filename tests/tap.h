/*
 * Minimal TAP producer for the C unit tests (Automake's tap-driver.sh
 * reads it).  Header-only so that each test links just the module it
 * tests.
 */
#ifndef OCTOFS_TAP_H
#define OCTOFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int tap_count;
static int tap_failed;

__attribute__((format(printf, 2, 3)))
static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

/* Compare two strings, either of which may be NULL. */
#define is_str(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	int same_ = (!g_ && !w_) || (g_ && w_ && !strcmp(g_, w_));	\
	if (!tap_ok(same_, __VA_ARGS__))				\
		printf("#   got: '%s'\n#  want: '%s'\n",			\
		       g_ ? g_ : "(null)", w_ ? w_ : "(null)");	\
} while (0)

#define is_int(got, want, ...) do {					\
	long long g_ = (got), w_ = (want);				\
	if (!tap_ok(g_ == w_, __VA_ARGS__))				\
		printf("#   got: %lld\n#  want: %lld\n", g_, w_);	\
} while (0)

/*
 * Run @stmt in a child process: ok when it returns.  A crash (or a
 * sanitizer's abort) fails this one check instead of ending the test
 * program, e.g. for "foo_free(NULL) does nothing".
 */
#define lives_ok(stmt, ...) do {					\
	pid_t pid_;							\
	int status_ = -1;						\
									\
	fflush(stdout);							\
	pid_ = fork();							\
	if (pid_ == 0) {						\
		stmt;							\
		_exit(0);						\
	}								\
	if (pid_ > 0)							\
		waitpid(pid_, &status_, 0);				\
	if (!tap_ok(pid_ > 0 && WIFEXITED(status_) &&			\
		    !WEXITSTATUS(status_), __VA_ARGS__))		\
		printf("#   child status: %#x\n", status_);		\
} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
