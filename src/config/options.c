/* options.c - the [pgbouncer] key table, defaults, and parsing/formatting of values. */
#include "config/options.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

/*
 * The keys pgfjord acts on in this release. Every other key is accepted, stored and shown
 * by SHOW CONFIG, but the loader warns that it is ignored. When a feature lands, add its
 * keys here; this list is the only place that sets OPT_ACTED.
 */
static const char *const acted_keys[] = {
	"auth_file", "auth_type", "conffile", "default_pool_size", "ignore_startup_parameters",
	"job_name", "service_name", "listen_addr", "listen_backlog", "listen_port",
	"log_connections", "log_disconnections", "log_pooler_errors", "logfile",
	"max_client_conn", "max_packet_size", "pidfile", "pkt_buf", "pool_mode",
	"server_connect_timeout", "server_login_retry", "server_reset_query",
	"server_reset_query_always", "syslog", "syslog_facility", "syslog_ident",
	"track_extra_parameters", "unix_socket_dir", "unix_socket_group", "unix_socket_mode",
	"user", "verbose",
	"client_tls_sslmode", "client_tls_key_file", "client_tls_cert_file", "client_tls_ca_file",
	"client_tls_protocols", "client_tls_ciphers", "client_tls13_ciphers", "client_tls_ecdhcurve",
	"client_tls_dheparams",
	"server_tls_sslmode", "server_tls_ca_file", "server_tls_key_file", "server_tls_cert_file",
	"server_tls_protocols", "server_tls_ciphers", "server_tls13_ciphers", "auth_hba_file",
	"auth_ident_file",
	"tcp_keepalive", "dns_max_ttl", "dns_nxdomain_ttl", "dns_zone_check_period",
	"min_pool_size", "server_idle_timeout", "server_lifetime", "so_reuseport",
	"tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_user_timeout", "tcp_socket_buffer",
	"resolv_conf", "scram_iterations", "cancel_wait_timeout", "server_round_robin",
	"tcp_defer_accept", "admin_users", "stats_users", "stats_period", "log_stats",
	"client_login_timeout", "query_wait_timeout", "client_idle_timeout", "query_timeout",
	"idle_transaction_timeout", "reserve_pool_size", "reserve_pool_timeout",
	"max_db_connections", "max_user_connections", "max_db_client_connections",
	"max_user_client_connections", "server_check_query", "server_check_delay", "server_fast_close",
	"pool_idle_timeout", "autodb_idle_timeout", "query_wait_notify", "transaction_timeout",
	"auth_user", "auth_query", "auth_dbname", "tenant_key", "tenant_separator",
	"max_prepared_statements",
};

static const struct pf_opt_choice pool_modes[] = {
	{ "session", POOL_MODE_SESSION },
	{ "transaction", POOL_MODE_TRANSACTION },
	{ "statement", POOL_MODE_STATEMENT },
	{ NULL, 0 },
};

static const struct pf_opt_choice auth_types[] = {
	{ "any", AUTH_TYPE_ANY },
	{ "trust", AUTH_TYPE_TRUST },
	{ "plain", AUTH_TYPE_PLAIN },
	{ "md5", AUTH_TYPE_MD5 },
	{ "scram-sha-256", AUTH_TYPE_SCRAM },
	{ "cert", AUTH_TYPE_CERT },
	{ "hba", AUTH_TYPE_HBA },
	{ "ldap", AUTH_TYPE_LDAP },
	{ "pam", AUTH_TYPE_PAM },
	{ NULL, 0 },
};

static const struct pf_opt_choice tenant_keys[] = {
	{ "none", TENANT_KEY_NONE },
	{ "application_name", TENANT_KEY_APPLICATION_NAME },
	{ "user", TENANT_KEY_USER },
	{ "user_suffix", TENANT_KEY_USER_SUFFIX },
	{ NULL, 0 },
};

/* Allowed values of the string-typed sslmode keys (value unused). */
static const struct pf_opt_choice ssl_modes[] = {
	{ "disable", 0 }, { "allow", 0 }, { "prefer", 0 },
	{ "require", 0 }, { "verify-ca", 0 }, { "verify-full", 0 },
	{ NULL, 0 },
};

#define DEFAULT_AUTH_QUERY \
	"SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END " \
	"FROM pg_authid WHERE rolname=$1 AND rolcanlogin"

#ifdef __linux__
#define DEFAULT_TCP_DEFER_ACCEPT "1"
#else
#define DEFAULT_TCP_DEFER_ACCEPT "0"
#endif

/* Row builders, so that each key fits on one line. R = changeable at runtime, NR = restart. */
#define R OPT_RELOAD
#define NR 0
#define OFF(f) offsetof(struct pf_settings, f)
#define INT(n, def, fl, lo, hi) { #n, OPT_T_INT, def, OFF(n), fl, lo, hi, NULL, NULL }
#define COUNT(n, def, fl) INT(n, def, fl, 0, INT_MAX)
#define BOOL(n, def, fl) { #n, OPT_T_BOOL, def, OFF(n), fl, 0, 1, NULL, NULL }
#define TIME(n, def, fl) { #n, OPT_T_TIME, def, OFF(n), fl, 0, 0, NULL, NULL }
#define STR(n, def, fl) { #n, OPT_T_STRING, def, OFF(n), fl, 0, 0, NULL, NULL }
#define STR_NONEMPTY(n, def, fl) { #n, OPT_T_STRING, def, OFF(n), fl, 1, 0, NULL, NULL }
#define STR_OF(n, def, fl, ch) { #n, OPT_T_STRING, def, OFF(n), fl, 0, 0, ch, NULL }
#define ENUM(n, def, fl, ch) { #n, OPT_T_ENUM, def, OFF(n), fl, 0, 0, ch, NULL }
#define MODE(n, def, fl) { #n, OPT_T_MODE, def, OFF(n), fl, 0, 07777, NULL, NULL }
#define ALIAS(n, target, type, fl) { #n, type, NULL, OFF(target), (fl) | OPT_ALIAS, 0, 0, NULL, #target }

/* Sorted by name (test_ini checks it). Not const: OPT_ACTED is filled in from acted_keys. */
static struct pf_option options[] = {
	STR(admin_users, "", R),
	BOOL(application_name_add_host, "0", R),
	STR(auth_dbname, NULL, R),
	STR(auth_file, NULL, R),
	STR(auth_hba_file, "", R),
	STR(auth_ident_file, NULL, R),
	STR(auth_ldap_options, NULL, R),
	STR(auth_query, DEFAULT_AUTH_QUERY, R),
	ENUM(auth_type, "md5", R, auth_types),
	STR(auth_user, NULL, R),
	TIME(autodb_idle_timeout, "3600", R),
	TIME(cancel_wait_timeout, "10", R),
	TIME(client_idle_timeout, "0", R),
	TIME(client_login_timeout, "60", R),
	STR(client_tls13_ciphers, NULL, R),
	STR(client_tls_ca_file, "", R),
	STR(client_tls_cert_file, "", R),
	STR(client_tls_ciphers, "default", R),
	STR(client_tls_dheparams, "auto", R),
	STR(client_tls_ecdhcurve, "auto", R),
	STR(client_tls_key_file, "", R),
	STR(client_tls_protocols, "secure", R),
	STR_OF(client_tls_sslmode, "disable", R, ssl_modes),
	STR(conffile, NULL, R), /* the loader sets it to the file it reads */
	COUNT(default_pool_size, "20", R),
	BOOL(disable_pqexec, "0", NR),
	TIME(dns_max_ttl, "15", R),
	TIME(dns_nxdomain_ttl, "15", R),
	TIME(dns_zone_check_period, "0", R),
	TIME(idle_transaction_timeout, "0", R),
	STR(ignore_startup_parameters, "", R),
	STR(job_name, "pgbouncer", NR),
	STR(listen_addr, "", NR),
	COUNT(listen_backlog, "128", NR),
	INT(listen_port, "6432", NR, 1, 65535),
	BOOL(log_connections, "1", R),
	BOOL(log_disconnections, "1", R),
	BOOL(log_pooler_errors, "1", R),
	BOOL(log_stats, "1", R),
	STR(logfile, "", R),
	COUNT(max_client_conn, "100", R),
	COUNT(max_db_client_connections, "0", R),
	COUNT(max_db_connections, "0", R),
	COUNT(max_packet_size, "2147483647", R),
	COUNT(max_prepared_statements, "200", R),
	COUNT(max_user_client_connections, "0", R),
	COUNT(max_user_connections, "0", R),
	COUNT(min_pool_size, "0", R),
	INT(peer_id, "0", R, 0, 16383),
	STR(pidfile, "", NR),
	INT(pkt_buf, "4096", NR, 256, INT_MAX), /* below 256 a startup packet does not fit */
	TIME(pool_idle_timeout, "0", R),        /* PgBouncer 1.26; 0 = pools are never freed */
	ENUM(pool_mode, "session", R, pool_modes),
	TIME(query_timeout, "0", R),
	TIME(query_wait_notify, "5", R),
	TIME(query_wait_timeout, "120", R),
	COUNT(reserve_pool_size, "0", R),
	TIME(reserve_pool_timeout, "5", R),
	STR(resolv_conf, "", NR),
	COUNT(sbuf_loopcnt, "5", R),
	INT(scram_iterations, "4096", R, 1, INT_MAX),
	TIME(server_check_delay, "30", R),
	STR(server_check_query, PF_CHECK_QUERY_EMPTY, R),
	TIME(server_connect_timeout, "15", R),
	BOOL(server_fast_close, "0", R),
	TIME(server_idle_timeout, "600", R),
	TIME(server_lifetime, "3600", R),
	TIME(server_login_retry, "15", R),
	STR(server_reset_query, "DISCARD ALL", R),
	BOOL(server_reset_query_always, "0", R),
	BOOL(server_round_robin, "0", R),
	STR(server_tls13_ciphers, NULL, R),
	STR(server_tls_ca_file, "", R),
	STR(server_tls_cert_file, "", R),
	STR(server_tls_ciphers, "default", R),
	STR(server_tls_key_file, "", R),
	STR(server_tls_protocols, "secure", R),
	STR_OF(server_tls_sslmode, "prefer", R, ssl_modes),
	ALIAS(service_name, job_name, OPT_T_STRING, NR),
	BOOL(so_reuseport, "0", NR),
	TIME(stats_period, "60", R),
	STR(stats_users, "", R),
	TIME(suspend_timeout, "10", R),
	BOOL(syslog, "0", R),
	STR(syslog_facility, "daemon", R),
	STR(syslog_ident, "pgbouncer", R),
	COUNT(tcp_defer_accept, DEFAULT_TCP_DEFER_ACCEPT, R),
	BOOL(tcp_keepalive, "1", R),
	COUNT(tcp_keepcnt, "0", R),
	COUNT(tcp_keepidle, "0", R),
	COUNT(tcp_keepintvl, "0", R),
	COUNT(tcp_socket_buffer, "0", R),
	COUNT(tcp_user_timeout, "0", R), /* milliseconds */
	ENUM(tenant_key, "none", R, tenant_keys),
	STR_NONEMPTY(tenant_separator, ".", R), /* "" would split nothing */
	STR(track_extra_parameters, "IntervalStyle", NR),
	TIME(transaction_timeout, "0", R),
	STR(unix_socket_dir, "/tmp", NR),
	STR(unix_socket_group, "", NR),
	MODE(unix_socket_mode, "0777", NR),
	STR(user, NULL, NR),
	COUNT(verbose, "0", R),
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/*
 * Mark the acted-on keys before main() runs, so the table is complete before anyone can
 * read it and no lazy initialisation (with its threading questions) is needed.
 */
__attribute__((constructor)) static void mark_acted_options(void)
{
	for (size_t i = 0; i < sizeof(acted_keys) / sizeof(acted_keys[0]); i++)
		for (size_t j = 0; j < N_OPTIONS; j++)
			if (strcmp(options[j].name, acted_keys[i]) == 0)
				options[j].flags |= OPT_ACTED;
}

const struct pf_option *pf_options_table(size_t *count)
{
	*count = N_OPTIONS;
	return options;
}

const struct pf_option *pf_option_find(const char *name)
{
	/* PgBouncer matches key names case-insensitively. ~100 keys: a scan is plenty. */
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcasecmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/* ---- value parsers ---- */

int pf_parse_int(const char *text, long long min, long long max, int *out)
{
	const char *p = text;
	bool neg = false;
	long long v = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > (long long)INT_MAX + 1) /* stop before overflowing; out of range anyway */
			return -1;
	}
	if (*p)
		return -1;
	if (neg)
		v = -v;
	if (v < min || v > max || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int pf_parse_bool(const char *text, int *out)
{
	static const char *const yes[] = { "1", "yes", "on", "true" };
	static const char *const no[] = { "0", "no", "off", "false" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Seconds as "N" or "N.F" (or ".F"), parsed by hand rather than with strtod so that
 * "1e3", "inf", hex floats and the locale's decimal point are all rejected. Digits
 * past the microsecond are accepted and dropped, like PgBouncer's conversion does.
 */
int pf_parse_time(const char *text, usec_t *out)
{
	const char *p = text;
	int64_t secs = 0, frac = 0;
	int digits = 0, frac_digits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (secs > (INT64_MAX / USEC_PER_SEC - 9) / 10) /* keep secs * USEC + frac in range */
			return -1;
		secs = secs * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (frac_digits < 6) {
				frac = frac * 10 + (*p - '0');
				frac_digits++;
			}
		}
	}
	if (*p || digits == 0)
		return -1;
	for (; frac_digits < 6; frac_digits++)
		frac *= 10;
	*out = secs * USEC_PER_SEC + frac;
	return 0;
}

void pf_format_time(usec_t t, char *out, size_t outlen)
{
	if (t < 0) { /* "unset" (-1) in [databases]/[users]; not a valid setting */
		snprintf(out, outlen, "%lld", (long long)t);
		return;
	}
	if (t % USEC_PER_SEC == 0) {
		snprintf(out, outlen, "%lld", (long long)(t / USEC_PER_SEC));
		return;
	}
	char frac[8];
	snprintf(frac, sizeof(frac), "%06lld", (long long)(t % USEC_PER_SEC));
	for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = 0;
	snprintf(out, outlen, "%lld.%s", (long long)(t / USEC_PER_SEC), frac);
}

static int parse_mode(const char *text, int *out)
{
	long v = 0;
	const char *p = text;

	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= '7'; p++) {
		v = v * 8 + (*p - '0');
		if (v > 07777)
			return -1;
	}
	if (*p)
		return -1;
	*out = (int)v;
	return 0;
}

static const struct pf_opt_choice *find_choice(const struct pf_opt_choice *choices, const char *name)
{
	for (; choices->name; choices++)
		if (strcasecmp(choices->name, name) == 0)
			return choices;
	return NULL;
}

/* What a bad value should have looked like, for the error message. */
static void describe_expected(const struct pf_option *opt, char *out, size_t outlen)
{
	struct pf_buf b;

	switch (opt->type) {
	case OPT_T_INT:
		snprintf(out, outlen, "a whole number from %lld to %lld", opt->min, opt->max);
		return;
	case OPT_T_BOOL:
		snprintf(out, outlen, "a boolean (0/1, yes/no, on/off, true/false)");
		return;
	case OPT_T_TIME:
		snprintf(out, outlen, "a number of seconds, e.g. 5 or 0.2");
		return;
	case OPT_T_MODE:
		snprintf(out, outlen, "an octal file mode, e.g. 0777");
		return;
	case OPT_T_ENUM:
	case OPT_T_STRING:
		if (!opt->choices) {
			snprintf(out, outlen, "a non-empty string");
			return;
		}
		pf_buf_init(&b);
		pf_buf_printf(&b, "one of");
		for (const struct pf_opt_choice *c = opt->choices; c && c->name; c++)
			pf_buf_printf(&b, "%s %s", c == opt->choices ? "" : ",", c->name);
		pf_buf_put_u8(&b, 0);
		snprintf(out, outlen, "%s", (char *)b.data);
		pf_buf_free(&b);
		return;
	}
	snprintf(out, outlen, "a valid value");
}

/* Parse `value` per the option's type and store it into `s`. */
static int store_value(struct pf_settings *s, const struct pf_option *opt, const char *value)
{
	void *field = (char *)s + opt->offset;
	const struct pf_opt_choice *c;

	switch (opt->type) {
	case OPT_T_INT:
		return pf_parse_int(value, opt->min, opt->max, field);
	case OPT_T_BOOL:
		return pf_parse_bool(value, field);
	case OPT_T_TIME:
		return pf_parse_time(value, field);
	case OPT_T_MODE:
		return parse_mode(value, field);
	case OPT_T_ENUM:
		c = find_choice(opt->choices, value);
		if (!c)
			return -1;
		*(int *)field = c->value;
		return 0;
	case OPT_T_STRING:
		if (opt->min > 0 && (!value || strlen(value) < (size_t)opt->min))
			return -1;
		if (opt->choices) {
			c = find_choice(opt->choices, value);
			if (!c)
				return -1;
			value = c->name; /* store the canonical spelling */
		}
		free(*(char **)field);
		*(char **)field = value ? pf_xstrdup(value) : NULL;
		return 0;
	}
	return -1;
}

int pf_option_set(struct pf_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
	const struct pf_option *opt = pf_option_find(name);

	if (!opt) {
		snprintf(err, errlen, "unknown parameter %s", name);
		return -1;
	}
	if (store_value(s, opt, value) < 0) {
		char expected[256];
		describe_expected(opt, expected, sizeof(expected));
		snprintf(err, errlen, "invalid value \"%s\" for parameter %s: expected %s", value, opt->name, expected);
		return -2;
	}
	return 0;
}

void pf_settings_defaults(struct pf_settings *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct pf_option *opt = &options[i];
		if (opt->flags & OPT_ALIAS)
			continue; /* its target sets the default */
		if (!opt->def)
			continue; /* unset: memset left NULL (strings) */
		if (store_value(s, opt, opt->def) < 0) {
			/* A broken default is a bug in the table above, not a user error. */
			fprintf(stderr, "pgfjord: bad built-in default \"%s\" for %s\n", opt->def, opt->name);
			abort();
		}
	}
}

void pf_settings_free(struct pf_settings *s)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].type != OPT_T_STRING || (options[i].flags & OPT_ALIAS))
			continue;
		char **field = (char **)((char *)s + options[i].offset);
		free(*field);
		*field = NULL;
	}
}

char *pf_option_value_text(const struct pf_settings *s, const struct pf_option *opt)
{
	const void *field = (const char *)s + opt->offset;
	char text[64];
	const char *str;

	switch (opt->type) {
	case OPT_T_INT:
	case OPT_T_BOOL:
		snprintf(text, sizeof(text), "%d", *(const int *)field);
		break;
	case OPT_T_TIME:
		pf_format_time(*(const usec_t *)field, text, sizeof(text));
		break;
	case OPT_T_MODE:
		snprintf(text, sizeof(text), "0%03o", (unsigned)*(const int *)field);
		break;
	case OPT_T_ENUM:
		snprintf(text, sizeof(text), "%d", *(const int *)field);
		for (const struct pf_opt_choice *c = opt->choices; c->name; c++)
			if (c->value == *(const int *)field)
				snprintf(text, sizeof(text), "%s", c->name);
		break;
	case OPT_T_STRING:
		str = *(char *const *)field;
		return pf_xstrdup(str ? str : "");
	default:
		text[0] = 0;
	}
	return pf_xstrdup(text);
}
