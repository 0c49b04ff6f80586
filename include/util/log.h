/*
 * log.h - PgBouncer-style logging to stderr, a logfile and/or syslog.
 *
 * Lines look like "2026-11-26 15:44:42.123 UTC [1234] LOG message". Connection-scoped
 * lines are prefixed by the session layer ("C-0x...: db/user@addr:port ").
 */
#ifndef PF_UTIL_LOG_H
#define PF_UTIL_LOG_H

#include <stdarg.h>

enum pf_log_level { LOG_LVL_FATAL = 0, LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_LOG, LOG_LVL_DEBUG, LOG_LVL_NOISE };

/* verbose: 0 = LOG, 1 = DEBUG, 2 = NOISE; quiet suppresses stderr. */
void pf_log_setup(int verbose, int quiet, const char *logfile, int use_syslog, const char *ident, const char *facility);
/* Reopen the log file (after rotation / on reload). */
void pf_log_reopen(void);
void pf_log_close(void);
int pf_log_enabled(enum pf_log_level level);

/* A line that starts with a connection's prefix ("C-0x...: db/user@addr:port"). */
void pf_vlog_prefixed(enum pf_log_level level, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
void pf_log(enum pf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pf_vlog(enum pf_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_fatal(...) pf_log(LOG_LVL_FATAL, __VA_ARGS__)
#define log_error(...) pf_log(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) pf_log(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) pf_log(LOG_LVL_LOG, __VA_ARGS__)
#define log_debug(...) do { if (pf_log_enabled(LOG_LVL_DEBUG)) pf_log(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_noise(...) do { if (pf_log_enabled(LOG_LVL_NOISE)) pf_log(LOG_LVL_NOISE, __VA_ARGS__); } while (0)

#endif
