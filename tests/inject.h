/*
 * Failure injection for the C unit tests: make the Nth call of the
 * functions a test wraps fail, to walk a module's error paths one by
 * one.  A test wraps a function with the linker (-Wl,--wrap=NAME in its
 * LDFLAGS): the module's calls to NAME reach __wrap_NAME, which asks
 * inject_fail() and calls __real_NAME when it says no.  Calls made by
 * shared libraries (libc itself, libcurl) are not wrapped.
 *
 * With INJECT_ALLOCATORS defined before inclusion, this also defines the
 * wrappers of malloc, calloc, realloc and strdup (link with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup); with
 * INJECT_CURL too, inject_curl_init() makes libcurl allocate through them.
 *
 * Header-only, like tap.h.  Thread-safe: a module's threads may call.
 */
#ifndef OCTOFS_INJECT_H
#define OCTOFS_INJECT_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

static atomic_int inject_countdown;	/* > 0: calls until one fails */
static atomic_int inject_calls;		/* wrapped calls since armed */
static atomic_int inject_fired;		/* the failure happened */

/* From now on the @nth wrapped call (1: the next) fails, once. */
static inline void inject_arm(int nth)
{
	atomic_store(&inject_calls, 0);
	atomic_store(&inject_fired, 0);
	atomic_store(&inject_countdown, nth);
}

/* Stop failing and counting; true when the armed failure happened. */
static inline bool inject_disarm(void)
{
	atomic_store(&inject_countdown, 0);
	return atomic_load(&inject_fired);
}

/* Wrapped calls since inject_arm(). */
static inline int inject_count(void)
{
	return atomic_load(&inject_calls);
}

/* Should this wrapped call fail? */
static inline bool inject_fail(void)
{
	int left = atomic_load(&inject_countdown);

	while (left > 0) {
		if (atomic_compare_exchange_weak(&inject_countdown, &left,
						 left - 1)) {
			atomic_fetch_add(&inject_calls, 1);
			if (left > 1)
				return false;
			atomic_store(&inject_fired, 1);
			return true;
		}
	}
	return false;
}

#ifdef INJECT_ALLOCATORS
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);

void *__wrap_malloc(size_t size)
{
	if (inject_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (inject_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	if (inject_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
	if (inject_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

#ifdef INJECT_CURL
#include <curl/curl.h>

/*
 * libcurl allocates through its own hooks, which call the allocators by
 * name from here, so they are wrapped like the module's own calls.
 */
static void *inject_curl_malloc(size_t size)
{
	return malloc(size);
}

static void inject_curl_free(void *p)
{
	free(p);
}

static void *inject_curl_realloc(void *p, size_t size)
{
	return realloc(p, size);
}

static char *inject_curl_strdup(const char *s)
{
	return strdup(s);
}

static void *inject_curl_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

/* curl_global_init() with libcurl's allocations failing on demand. */
static inline CURLcode inject_curl_init(void)
{
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, inject_curl_malloc,
				    inject_curl_free, inject_curl_realloc,
				    inject_curl_strdup, inject_curl_calloc);
}
#endif
#endif

#endif
