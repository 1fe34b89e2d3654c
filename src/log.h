/*
 * log: one-line messages to stderr (foreground) or syslog (daemon).
 *
 * The level and sink are process-wide, set once at start-up before any
 * thread exists; that is the one piece of global state octofs keeps, as
 * libfuse's own fuse_log does.  Messages never contain the API key.
 */
#ifndef OCTOFS_LOG_H
#define OCTOFS_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Parse "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *level);

/* Set the level and the sink (use_syslog != 0: syslog as "octofs"). */
void log_init(enum log_level level, int use_syslog);

enum log_level log_get_level(void);

/* One line; a trailing newline is added. Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
