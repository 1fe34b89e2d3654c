/*
 * log: level filter and sink.  Set once before threads start.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

/* A line holds a whole URL (up to 8192 bytes) and the words around it. */
#define LOG_LINE_MAX 10240

static enum log_level log_level = LOG_LEVEL_INFO;
static int log_syslog;
/* E in the lock order (octofs.h): a line is written whole, alone. */
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *name, enum log_level *level)
{
	int i;

	for (i = LOG_LEVEL_ERROR; i <= LOG_LEVEL_DEBUG; i++) {
		if (!strcmp(name, level_names[i])) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_init(enum log_level level, int use_syslog)
{
	log_level = level;
	if (use_syslog && !log_syslog)
		openlog("octofs", LOG_PID, LOG_DAEMON);
	log_syslog = use_syslog;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return LOG_ERR;
	case LOG_LEVEL_WARN:
		return LOG_WARNING;
	case LOG_LEVEL_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

/*
 * Copy @src with control characters written as \xNN: file names and
 * server text go into log lines, and a newline in one must not forge a
 * line of its own (nor an escape sequence steer a terminal).
 */
static void escape_controls(char *dst, size_t dst_len, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 0;

	for (; *s && out + 5 < dst_len; s++) {
		if (*s >= 0x20 && *s != 0x7f) {
			dst[out++] = (char)*s;
			continue;
		}
		dst[out++] = '\\';
		dst[out++] = 'x';
		dst[out++] = hex[*s >> 4];
		dst[out++] = hex[*s & 0xf];
	}
	dst[out] = '\0';
}

/*
 * Write a whole line to standard error.  A line can be longer than a
 * pipe writes at once (PIPE_BUF), so lines from several threads are kept
 * apart by the lock, and a short write goes on with the rest.
 */
static void write_line(const char *line, size_t len)
{
	ssize_t n;

	pthread_mutex_lock(&stderr_lock);
	while (len) {
		n = write(STDERR_FILENO, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		line += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&stderr_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[LOG_LINE_MAX], out[LOG_LINE_MAX + 32];
	int saved_errno = errno;
	size_t len = 0;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (!log_syslog)
		len = (size_t)snprintf(out, sizeof(out), "octofs: %s%s",
				       level == LOG_LEVEL_INFO ? "" :
				       level_names[level],
				       level == LOG_LEVEL_INFO ? "" : ": ");
	/* Room is kept for the newline. */
	escape_controls(out + len, sizeof(out) - len - 1, raw);
	if (log_syslog) {
		syslog(syslog_priority(level), "%s", out);
	} else {
		len = strlen(out);
		out[len++] = '\n';
		write_line(out, len);
	}
	errno = saved_errno;
}
