/*
 * pgfjord-loadgen: "function invocation" load for connection poolers (pgfjord, PgBouncer).
 *
 *   herd  N invocations released at once; each connects, logs in, runs one short query,
 *         reads the result and disconnects. Reports latency from release to result.
 *   idle  N connections opened (bounded connects in flight), used once, then held idle.
 *
 * Single thread, one poll() loop over libpq's asynchronous API: PQconnectStartParams /
 * PQconnectPoll to log in, PQsendQuery / PQflush / PQconsumeInput / PQisBusy / PQgetResult
 * for the query. One JSON object on stdout; progress and errors on stderr. See LOADGEN.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* also set by the build (AM_CPPFLAGS) */
#endif
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_SAMPLES 32       /* distinct error messages kept; the rest go to "(other)" */
#define MAX_MSG 200          /* error sample length cap */
#define TICK_MS 250          /* poll cap, so signals and progress are noticed promptly */
#define PROGRESS_EVERY 2.0   /* seconds between progress lines on stderr */

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { stop_flag = 1; }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- error samples: first line of each message -> count ---- */

struct sample { char msg[MAX_MSG + 1]; long count; };
static struct sample samples[MAX_SAMPLES + 1];   /* [MAX_SAMPLES] is "(other)" */
static int nsamples;

static void note_error(const char *prefix, const char *msg)
{
	char line[MAX_MSG + 1];
	size_t len;
	int i;

	if (!msg || !*msg)
		msg = "(no error message)";
	snprintf(line, sizeof line, "%s%.*s", prefix, (int)strcspn(msg, "\n"), msg);
	len = strlen(line);
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
		line[--len] = '\0';
	for (i = 0; i < nsamples; i++) {
		if (strcmp(samples[i].msg, line) == 0) {
			samples[i].count++;
			return;
		}
	}
	if (nsamples < MAX_SAMPLES) {
		memcpy(samples[nsamples].msg, line, len + 1);
		samples[nsamples++].count = 1;
	} else {
		strcpy(samples[MAX_SAMPLES].msg, "(other)");
		samples[MAX_SAMPLES].count++;
	}
}

static long notices;

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_samples(FILE *f)
{
	int i, first = 1;

	fputs("\"error_samples\":{", f);
	for (i = 0; i <= MAX_SAMPLES; i++) {
		if (samples[i].count == 0)
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		json_str(f, samples[i].msg);
		fprintf(f, ":%ld", samples[i].count);
	}
	fputc('}', f);
}

/* ---- one invocation / connection and its state machine ---- */

enum { ST_PENDING, ST_CONNECT, ST_QUERY, ST_READY, ST_DONE };

struct inv {
	PGconn *conn;
	double start;            /* when it was released (scheduled), monotonic seconds */
	double end;              /* result or error; < 0 while unfinished */
	short events;            /* what libpq waits for on its socket */
	unsigned char st, ok, failed, flushing, interrupted;
	char *why;               /* idle mode: FATAL the server sent before dropping us */
};

/* Server notices would otherwise all go to stderr. An error arriving while idle (e.g. an idle
 * timeout) also comes here; keep it so the drop can be reported with the server's reason. */
static void quiet_notice(void *arg, const char *msg)
{
	struct inv *v = arg;

	if (v->st == ST_READY && !v->why)
		v->why = strdup(msg);
	if (++notices <= 5)
		fprintf(stderr, "loadgen: server notice: %s", msg);
}

struct ctx {
	const char *dsn, *query;
	int keep_open;           /* idle mode: keep the connection after its query */
	struct inv *inv;
	int n;
	int *active, nactive;    /* in-flight invocations, in start order */
	struct pollfd *pfd;
	long ok, errors;
};

static void finish(struct ctx *c, struct inv *v, int ok, double t)
{
	v->end = t;
	v->ok = (unsigned char)ok;
	if (ok)
		c->ok++;
	else
		c->errors++;
	if (ok && c->keep_open) {
		v->st = ST_READY;
		return;
	}
	if (v->conn)
		PQfinish(v->conn);
	v->conn = NULL;
	v->st = ST_DONE;
}

static void start_one(struct ctx *c, int i, double t)
{
	/* Later entries win, so the DSN can override these defaults. gssencmode=disable skips
	 * the Kerberos credential-cache probe libpq would otherwise make on every TCP connect. */
	static const char *const kw[] = {"fallback_application_name", "gssencmode", "dbname", NULL};
	const char *vals[] = {"pgfjord-loadgen", "disable", c->dsn, NULL};
	struct inv *v = &c->inv[i];

	v->conn = PQconnectStartParams(kw, vals, 1);
	if (!v->conn) {
		note_error("", "out of memory starting a connection");
		finish(c, v, 0, t);
		return;
	}
	if (PQstatus(v->conn) == CONNECTION_BAD) {   /* e.g. "Too many open files" */
		note_error("", PQerrorMessage(v->conn));
		finish(c, v, 0, t);
		return;
	}
	PQsetNoticeProcessor(v->conn, quiet_notice, v);
	v->st = ST_CONNECT;
	v->events = POLLOUT;   /* libpq: poll as if PQconnectPoll had returned WRITING */
	c->active[c->nactive++] = i;
}

/* Drive one invocation after its socket became ready. 0: still running, 1: done ok,
 * -1: done with an error (already noted). */
static int advance(struct ctx *c, struct inv *v, short revents)
{
	PGconn *conn = v->conn;

	if (revents & POLLNVAL) {
		note_error("", "socket closed under libpq (POLLNVAL)");
		return -1;
	}
	if (v->st == ST_CONNECT) {
		switch (PQconnectPoll(conn)) {
		case PGRES_POLLING_READING: v->events = POLLIN; return 0;
		case PGRES_POLLING_WRITING: v->events = POLLOUT; return 0;
		case PGRES_POLLING_OK: break;
		default:
			note_error("", PQerrorMessage(conn));
			return -1;
		}
		/* Logged in: send the query without ever blocking on the socket. */
		if (PQsetnonblocking(conn, 1) != 0 || !PQsendQuery(conn, c->query)) {
			note_error("", PQerrorMessage(conn));
			return -1;
		}
		v->st = ST_QUERY;
		v->flushing = 1;
		revents = 0;
	}
	if ((revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(conn)) {
		note_error("", PQerrorMessage(conn));
		return -1;
	}
	if (v->flushing) {
		int r = PQflush(conn);
		if (r < 0) {
			note_error("", PQerrorMessage(conn));
			return -1;
		}
		v->flushing = (r == 1);
	}
	while (!PQisBusy(conn)) {
		PGresult *res = PQgetResult(conn);
		ExecStatusType s;

		if (!res)
			return v->failed ? -1 : 1;
		s = PQresultStatus(res);
		if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
			PQclear(res);   /* would never end: libpq keeps returning the COPY result */
			note_error("", "COPY is not supported by the load generator");
			return -1;
		}
		if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK && s != PGRES_EMPTY_QUERY &&
		    !v->failed) {
			v->failed = 1;
			note_error("", PQresultErrorMessage(res));
		}
		PQclear(res);
	}
	v->events = (short)(POLLIN | (v->flushing ? POLLOUT : 0));
	return 0;
}

/* One poll() round over the in-flight invocations; finishes those that complete. */
static void pump(struct ctx *c, int timeout_ms)
{
	int k, keep = 0, r;

	for (k = 0; k < c->nactive; k++) {
		struct inv *v = &c->inv[c->active[k]];
		/* PQsocket may change while connecting (next address), so ask every round. */
		c->pfd[k].fd = PQsocket(v->conn);
		c->pfd[k].events = v->events;
		c->pfd[k].revents = 0;
	}
	r = poll(c->pfd, (nfds_t)c->nactive, timeout_ms);
	if (r < 0) {
		if (errno != EINTR) {
			perror("loadgen: poll");
			stop_flag = 1;
		}
		return;
	}
	if (r == 0)
		return;
	for (k = 0; k < c->nactive; k++) {
		struct inv *v = &c->inv[c->active[k]];
		if (c->pfd[k].revents) {
			int res = advance(c, v, c->pfd[k].revents);
			if (res != 0) {
				finish(c, v, res > 0, now());   /* per invocation: a round can be long */
				continue;
			}
		}
		c->active[keep++] = c->active[k];
	}
	c->nactive = keep;
}

/* Everything still running or not yet started becomes an error with this message. */
static void abandon(struct ctx *c, int next, const char *msg, int interrupted, double t)
{
	int k;

	for (k = 0; k < c->nactive; k++) {
		struct inv *v = &c->inv[c->active[k]];
		note_error("", msg);
		v->interrupted = (unsigned char)interrupted;
		finish(c, v, 0, t);
	}
	c->nactive = 0;
	for (; next < c->n; next++) {
		note_error("", msg);
		c->inv[next].interrupted = (unsigned char)interrupted;
		finish(c, &c->inv[next], 0, t);
	}
}

static int ctx_init(struct ctx *c, const char *dsn, const char *query, int n, int keep_open)
{
	memset(c, 0, sizeof *c);
	c->dsn = dsn;
	c->query = query;
	c->n = n;
	c->keep_open = keep_open;
	c->inv = calloc((size_t)n, sizeof *c->inv);
	c->active = calloc((size_t)n, sizeof *c->active);
	c->pfd = calloc((size_t)n, sizeof *c->pfd);
	if (!c->inv || !c->active || !c->pfd) {
		fprintf(stderr, "loadgen: out of memory for %d connections\n", n);
		return -1;
	}
	return 0;
}

static void ctx_free(struct ctx *c)
{
	int i;

	for (i = 0; c->inv && i < c->n; i++) {
		if (c->inv[i].conn)
			PQfinish(c->inv[i].conn);
		free(c->inv[i].why);
	}
	free(c->inv);
	free(c->active);
	free(c->pfd);
}

static void progress(const char *mode, struct ctx *c, int started, double t0, double *last)
{
	double t = now();

	if (t - *last < PROGRESS_EVERY)
		return;
	*last = t;
	fprintf(stderr, "loadgen: %s %.1fs started=%d ok=%ld errors=%ld in_flight=%d\n",
		mode, t - t0, started, c->ok, c->errors, c->nactive);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array; JSON null when empty. */
static void json_pct(FILE *f, const char *name, const double *v, int n, double p)
{
	long rank;

	if (n == 0) {
		fprintf(f, ",\"%s\":null", name);
		return;
	}
	rank = (long)ceil(p / 100.0 * n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	fprintf(f, ",\"%s\":%.3f", name, v[rank - 1] * 1000.0);
}

/* ---- herd ---- */

static int run_herd(const char *dsn, const char *query, int n, double timeout, double rate)
{
	struct ctx c;
	double t0, t, last = 0, wall, *all = NULL, *oks = NULL;
	int i, next = 0, nall = 0, nok = 0;

	if (ctx_init(&c, dsn, query, n, 0) < 0) {
		ctx_free(&c);
		return 1;
	}
	fprintf(stderr, "loadgen: herd of %d, timeout %gs, connect rate %s\n", n, timeout,
		rate > 0 ? "limited" : "unlimited (all at once)");
	t0 = now();
	last = t0;
	/* With --connect-rate, invocation i is released at t0 + i/R and timed from there. */
	for (i = 0; i < n; i++) {
		c.inv[i].start = rate > 0 ? t0 + i / rate : t0;
		c.inv[i].end = -1;
	}
	while (!stop_flag) {
		double wake;
		int k, keep = 0;

		t = now();
		for (; next < n && c.inv[next].start <= t; next++)
			start_one(&c, next, t);
		/* Per-invocation deadline: unfinished after --timeout counts as "timeout". */
		for (k = 0; k < c.nactive; k++) {
			struct inv *v = &c.inv[c.active[k]];
			if (t >= v->start + timeout) {
				note_error("", "timeout");
				finish(&c, v, 0, v->start + timeout);
			} else {
				c.active[keep++] = c.active[k];
			}
		}
		c.nactive = keep;
		if (next >= n && c.nactive == 0)
			break;
		/* Sleep until a socket is ready, the next release, or the earliest deadline. */
		wake = t + TICK_MS / 1000.0;
		if (next < n && c.inv[next].start < wake)
			wake = c.inv[next].start;
		if (c.nactive > 0 && c.inv[c.active[0]].start + timeout < wake)
			wake = c.inv[c.active[0]].start + timeout;
		pump(&c, wake > t ? (int)ceil((wake - t) * 1000.0) : 0);
		progress("herd", &c, next, t0, &last);
	}
	t = now();
	if (stop_flag) {
		fprintf(stderr, "loadgen: interrupted\n");
		abandon(&c, next, "interrupted", 1, t);
	}
	wall = t - t0;

	/* Latency per invocation: release -> result or error (timeouts at --timeout). */
	all = malloc((size_t)n * sizeof *all);
	oks = malloc((size_t)n * sizeof *oks);
	if (!all || !oks) {
		fprintf(stderr, "loadgen: out of memory\n");
		free(all);
		free(oks);
		ctx_free(&c);
		return 1;
	}
	for (i = 0; i < n; i++) {
		struct inv *v = &c.inv[i];
		if (v->interrupted || v->end < 0)
			continue;
		all[nall++] = v->end - v->start;
		if (v->ok)
			oks[nok++] = v->end - v->start;
	}
	qsort(all, (size_t)nall, sizeof *all, cmp_double);
	qsort(oks, (size_t)nok, sizeof *oks, cmp_double);

	printf("{\"mode\":\"herd\",\"n\":%d,\"ok\":%ld,\"errors\":%ld,", n, c.ok, c.errors);
	json_samples(stdout);
	json_pct(stdout, "p50_ms", all, nall, 50);
	json_pct(stdout, "p90_ms", all, nall, 90);
	json_pct(stdout, "p99_ms", all, nall, 99);
	json_pct(stdout, "max_ms", all, nall, 100);
	json_pct(stdout, "ok_p50_ms", oks, nok, 50);
	json_pct(stdout, "ok_p90_ms", oks, nok, 90);
	json_pct(stdout, "ok_p99_ms", oks, nok, 99);
	json_pct(stdout, "ok_max_ms", oks, nok, 100);
	printf(",\"wall_s\":%.3f,\"connect_rate\":%g,\"timeout_s\":%g,\"query\":", wall, rate, timeout);
	json_str(stdout, query);
	printf("}\n");
	fflush(stdout);

	free(all);
	free(oks);
	ctx_free(&c);
	return 0;
}

/* ---- idle ---- */

static void idle_json(FILE *f, struct ctx *c, double connect_wall, long dropped, double held,
		      int final)
{
	fprintf(f, "{\"mode\":\"idle\",\"n\":%d,\"connected\":%ld,\"errors\":%ld,", c->n, c->ok,
		c->errors);
	json_samples(f);
	fprintf(f, ",\"connect_wall_s\":%.3f", connect_wall);
	if (final)
		fprintf(f, ",\"dropped\":%ld,\"held_s\":%.3f", dropped, held);
	fputs("}\n", f);
}

/* Write tmp + rename, so a watcher never reads a half-written file. */
static void write_ready_file(const char *path, struct ctx *c, double connect_wall)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
		fprintf(stderr, "loadgen: --ready-file path too long\n");
		return;
	}
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "loadgen: cannot write %s: %s\n", tmp, strerror(errno));
		return;
	}
	idle_json(f, c, connect_wall, 0, 0, 0);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "loadgen: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
	}
}

static int run_idle(const char *dsn, int n, double hold, double timeout, int conc,
		    const char *ready_file)
{
	struct ctx c;
	double t0, t, last, deadline, connect_wall, hold_start, hold_end;
	int i, next = 0, nready = 0;
	long dropped = 0;

	if (ctx_init(&c, dsn, "SELECT 1", n, 1) < 0) {
		ctx_free(&c);
		return 1;
	}
	fprintf(stderr, "loadgen: idle: opening %d connections, at most %d connecting at once\n",
		n, conc);
	t0 = last = now();
	deadline = t0 + timeout;
	/* Connect phase: keep at most `conc` connects in flight, so the listen backlog holds. */
	while (!stop_flag) {
		t = now();
		for (; next < n && c.nactive < conc; next++) {
			c.inv[next].start = t;
			start_one(&c, next, t);
		}
		if (next >= n && c.nactive == 0)
			break;
		if (t >= deadline) {   /* --timeout bounds the whole connect phase */
			abandon(&c, next, "timeout", 0, t);
			next = n;
			break;
		}
		pump(&c, (int)fmin(TICK_MS, ceil((deadline - t) * 1000.0)));
		progress("idle", &c, next, t0, &last);
	}
	if (stop_flag)
		abandon(&c, next, "interrupted", 1, now());
	connect_wall = now() - t0;

	fprintf(stderr, "loadgen: ready: ");
	idle_json(stderr, &c, connect_wall, 0, 0, 0);
	if (ready_file)
		write_ready_file(ready_file, &c, connect_wall);

	/* Hold phase: the ready connections stay idle; we only watch for the server dropping them. */
	for (i = 0; i < n; i++)
		if (c.inv[i].st == ST_READY)
			c.active[nready++] = i;
	hold_start = now();
	hold_end = hold_start + hold;
	if (!stop_flag)
		fprintf(stderr, "loadgen: holding %d idle connections for %gs (SIGTERM/SIGINT ends early)\n",
			nready, hold);
	while (!stop_flag && nready > 0 && (t = now()) < hold_end) {
		int k, keep = 0, r;

		for (k = 0; k < nready; k++) {
			c.pfd[k].fd = PQsocket(c.inv[c.active[k]].conn);
			c.pfd[k].events = POLLIN;
			c.pfd[k].revents = 0;
		}
		r = poll(c.pfd, (nfds_t)nready, (int)fmin(TICK_MS, ceil((hold_end - t) * 1000.0)));
		if (r < 0 && errno != EINTR) {
			perror("loadgen: poll");
			break;
		}
		for (k = 0; r > 0 && k < nready; k++) {
			struct inv *v = &c.inv[c.active[k]];
			if (c.pfd[k].revents) {
				PGresult *res;
				int j;

				if (!PQconsumeInput(v->conn) || PQstatus(v->conn) == CONNECTION_BAD) {
					note_error("dropped while idle: ",
						   v->why ? v->why : PQerrorMessage(v->conn));
					dropped++;
					PQfinish(v->conn);
					v->conn = NULL;
					v->st = ST_DONE;
					continue;
				}
				/* Nothing is expected while idle; discard whatever libpq parsed (bounded). */
				for (j = 0; j < 16 && !PQisBusy(v->conn) && (res = PQgetResult(v->conn)); j++)
					PQclear(res);
			}
			c.active[keep++] = c.active[k];
		}
		if (r > 0)
			nready = keep;
	}
	t = now();
	fprintf(stderr, "loadgen: closing %d connections\n", nready);
	for (i = 0; i < n; i++) {
		if (c.inv[i].conn) {
			PQfinish(c.inv[i].conn);
			c.inv[i].conn = NULL;
		}
	}
	idle_json(stdout, &c, connect_wall, dropped, t - hold_start, 1);
	fflush(stdout);
	ctx_free(&c);
	return 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fputs("usage:\n"
	      "  pgfjord-loadgen herd --dsn DSN -n N [--query SQL] [--timeout SEC] [--connect-rate R]\n"
	      "  pgfjord-loadgen idle --dsn DSN -n N [--hold SEC] [--ready-file PATH] [--timeout SEC]\n"
	      "                       [--concurrency C]\n"
	      "  pgfjord-loadgen --help\n"
	      "\n"
	      "herd: N invocations released at once (or R per second with --connect-rate R); each\n"
	      "      connects, runs --query (default \"SELECT 1\"), reads the result and disconnects.\n"
	      "      Latency = release -> result or error; unfinished after --timeout (default 120)\n"
	      "      is an error \"timeout\".\n"
	      "idle: opens N connections (at most --concurrency, default 200, connecting at once),\n"
	      "      runs SELECT 1 on each, writes the summary to --ready-file (atomically) and\n"
	      "      stderr, holds them for --hold seconds (default 30) or until SIGTERM/SIGINT.\n"
	      "      --timeout (default 120) bounds the whole connect phase.\n"
	      "Output: one JSON object on stdout; progress and errors on stderr. Exit 0 when the\n"
	      "run completed (even with failed connections), 1 on a setup failure, 2 on usage.\n"
	      "Use an IP address or a Unix socket directory as host (a name blocks on DNS).\n", f);
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d < lo || d > hi) {
		fprintf(stderr, "loadgen: %s: expected a number in [%g, %g], got \"%s\"\n", opt, lo, hi, s);
		return -1;
	}
	*out = d;
	return 0;
}

/* Each connection needs a descriptor; raise the soft limit to the hard one. */
static void raise_nofile(int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("loadgen: getrlimit");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			perror("loadgen: setrlimit(RLIMIT_NOFILE)");
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n + 64)
		fprintf(stderr, "loadgen: WARNING: open-file limit %llu is below N+64 = %d; "
			"connections beyond it will fail (raise the hard limit: ulimit -Hn)\n",
			(unsigned long long)rl.rlim_cur, n + 64);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dsn", required_argument, NULL, 'd'},   {"query", required_argument, NULL, 'q'},
		{"timeout", required_argument, NULL, 't'}, {"connect-rate", required_argument, NULL, 'r'},
		{"hold", required_argument, NULL, 'H'},  {"ready-file", required_argument, NULL, 'f'},
		{"concurrency", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *mode, *dsn = NULL, *query = "SELECT 1", *ready_file = NULL;
	double n = 0, timeout = 120, rate = 0, hold = 30, conc = 200;
	int herd, opt, rc;
	char *err = NULL;
	PQconninfoOption *ci;
	struct sigaction sa;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	mode = argv[1];
	herd = strcmp(mode, "herd") == 0;
	if (!herd && strcmp(mode, "idle") != 0) {
		fprintf(stderr, "loadgen: unknown mode \"%s\" (herd or idle)\n", mode);
		usage(stderr);
		return 2;
	}
	while ((opt = getopt_long(argc - 1, argv + 1, "n:h", opts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case 'd': dsn = optarg; break;
		case 'q': query = optarg; bad = !herd; break;
		case 'n': bad = parse_num("-n", optarg, 1, 1000000, &n) || n != floor(n); break;
		case 't': bad = parse_num("--timeout", optarg, 0.001, 86400, &timeout); break;
		case 'r': bad = !herd || parse_num("--connect-rate", optarg, 0, 1e7, &rate); break;
		case 'H': bad = herd || parse_num("--hold", optarg, 0, 864000, &hold); break;
		case 'f': ready_file = optarg; bad = herd; break;
		case 'c': bad = herd || parse_num("--concurrency", optarg, 1, 100000, &conc) ||
				conc != floor(conc); break;
		case 'h': usage(stdout); return 0;
		default: bad = 1;
		}
		if (bad) {
			fprintf(stderr, "loadgen: bad or unsupported option for %s mode (see --help)\n", mode);
			return 2;
		}
	}
	if (optind != argc - 1 || !dsn || n < 1) {
		fprintf(stderr, "loadgen: %s needs --dsn and -n (see --help)\n", mode);
		return 2;
	}
	/* Reject a malformed DSN up front, rather than as N identical connection errors. */
	ci = PQconninfoParse(dsn, &err);
	if (!ci) {
		fprintf(stderr, "loadgen: bad --dsn: %s", err ? err : "out of memory\n");
		PQfreemem(err);
		return 2;
	}
	PQconninfoFree(ci);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;   /* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile((int)n);

	if (herd)
		rc = run_herd(dsn, query, (int)n, timeout, rate);
	else
		rc = run_idle(dsn, (int)n, hold, timeout, (int)conc, ready_file);
	if (notices > 5)
		fprintf(stderr, "loadgen: %ld server notices in total (first 5 shown)\n", notices);
	return rc;
}
