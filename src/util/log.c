/* log.c - log lines to stderr, a log file and syslog, in PgBouncer's format. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_verbose;
static int log_quiet;
static int log_use_syslog;
static FILE *log_file;
static char log_file_path[4096];

static const char *const level_names[] = { "FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE" };
static const int syslog_levels[] = { LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };

static int facility_from_name(const char *name)
{
	static const struct { const char *name; int value; } facilities[] = {
		{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON },
		{ "user", LOG_USER }, { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
		{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	for (size_t i = 0; name && i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].value;
	return LOG_DAEMON;
}

void pf_log_setup(int verbose, int quiet, const char *logfile, int use_syslog, const char *ident, const char *facility)
{
	log_verbose = verbose;
	log_quiet = quiet;
	pf_log_close();
	log_file_path[0] = 0;
	if (logfile && *logfile) {
		snprintf(log_file_path, sizeof(log_file_path), "%s", logfile);
		pf_log_reopen();
	}
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog(ident && *ident ? ident : "pgfjord", LOG_PID, facility_from_name(facility));
}

void pf_log_reopen(void)
{
	if (log_file) {
		fclose(log_file);
		log_file = NULL;
	}
	if (!log_file_path[0])
		return;
	log_file = fopen(log_file_path, "a");
	if (!log_file)
		fprintf(stderr, "pgfjord: cannot open logfile %s: %s\n", log_file_path, strerror(errno));
	else
		setvbuf(log_file, NULL, _IOLBF, 0);
}

void pf_log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	if (log_use_syslog)
		closelog();
	log_use_syslog = 0;
}

int pf_log_enabled(enum pf_log_level level)
{
	return level <= LOG_LVL_LOG || (int)level - LOG_LVL_LOG <= log_verbose;
}

void pf_vlog(enum pf_log_level level, const char *fmt, va_list ap)
{
	if (!pf_log_enabled(level))
		return;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char stamp[64];
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03d UTC", (int)(tv.tv_usec / 1000));

	if (!log_quiet)
		fprintf(stderr, "%s [%d] %s %s\n", stamp, (int)getpid(), level_names[level], msg);
	if (log_file)
		fprintf(log_file, "%s [%d] %s %s\n", stamp, (int)getpid(), level_names[level], msg);
	if (log_use_syslog)
		syslog(syslog_levels[level], "%s %s", level_names[level], msg);
}

void pf_vlog_prefixed(enum pf_log_level level, const char *prefix, const char *fmt, va_list ap)
{
	char msg[1536];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pf_log(level, "%s %s", prefix, msg);
}

void pf_log(enum pf_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pf_vlog(level, fmt, ap);
	va_end(ap);
}
