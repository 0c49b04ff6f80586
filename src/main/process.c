/*
 * process.c - start-up and shutdown of the pgfjord process.
 *
 * Order matters and follows PgBouncer: load the config (a broken file stops here), refuse
 * root without -u, switch user, daemonize, write the pidfile, open the listeners, run the
 * loop. SIGINT waits for servers in use, SIGTERM for clients; a second signal is immediate.
 */
#include "main/process.h"

#include <ares.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "auth/digest.h"
#include "config.h"
#include "config/config.h"
#include "config/userlist.h"
#include "net/dns.h"
#include "net/iobuf.h"
#include "net/listener.h"
#include "net/sock.h"
#include "net/tls.h"
#include "pool/params.h"
#include "pool/pool.h"
#include "session/cancel.h"
#include "session/client.h"
#include "session/control.h"
#include "session/dns_watch.h"
#include "session/janitor.h"
#include "session/prepared_path.h"
#include "session/link.h"
#include "session/server.h"
#include "session/tenant.h"
#include "util/log.h"
#include "util/random.h"

#define SHUTDOWN_CHECK_USEC 100000

static struct event *shutdown_timer;
static const char *pidfile_written;

void pf_print_version(void)
{
	printf("pgfjord %s\n", PACKAGE_VERSION);
	printf("libevent %s\n", event_get_version());
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("c-ares %s\n", ares_version(NULL));
}

/* Refuse to start over a running instance; a stale pidfile is replaced. */
static int check_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		fprintf(stderr, "pidfile %s exists and process %ld is running: is another pgfjord up?\n", path, pid);
		return -1;
	}
	unlink(path);
	return 0;
}

static int write_pidfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("could not write pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	pidfile_written = path;
	return 0;
}

static int change_user(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		fprintf(stderr, "pgfjord: no such user: %s\n", user);
		return -1;
	}
	if (geteuid() == pw->pw_uid)
		return 0;
	if (setgid(pw->pw_gid) < 0 || initgroups(user, pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "pgfjord: could not switch to user %s: %s\n", user, strerror(errno));
		return -1;
	}
	return 0;
}

static int go_daemon(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pgfjord: fork failed: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* Everything that may still be on the wire when we stop. */
static void close_all_connections(void)
{
	struct list_head *pos, *tmp, *cpos, *ctmp;
	statlist_for_each_safe(cpos, ctmp, &pf_state.login_clients) {
		pf_client_close(container_of(cpos, struct pf_client, node), NULL);
	}
	statlist_for_each_safe(cpos, ctmp, &pf_state.cancel_clients) {
		pf_client_close(container_of(cpos, struct pf_client, node), NULL);
	}
	list_for_each_safe(pos, tmp, &pf_state.pools) {
		struct pf_pool *pool = container_of(pos, struct pf_pool, node);
		struct stat_list *client_lists[PF_CLIENT_LISTS];
		pf_pool_client_lists(pool, client_lists);
		for (size_t i = 0; i < PF_CLIENT_LISTS; i++) {
			statlist_for_each_safe(cpos, ctmp, client_lists[i]) {
				struct pf_client *client = container_of(cpos, struct pf_client, node);
				pf_client_disconnect(client, "57P01", "pooler is shutting down");
			}
		}
		struct stat_list *server_lists[PF_SERVER_LISTS];
		pf_pool_server_lists(pool, server_lists);
		for (size_t i = 0; i < PF_SERVER_LISTS; i++) {
			statlist_for_each_safe(cpos, ctmp, server_lists[i]) {
				pf_server_close(container_of(cpos, struct pf_server, node), "server shutting down");
			}
		}
	}
	pf_client_reap();
	pf_server_reap();
}

/* After SIGINT: waiting clients are told, idle servers closed; the in-flight ones finish. */
static void begin_wait_for_servers(void)
{
	struct list_head *pos, *tmp, *cpos, *ctmp;
	list_for_each_safe(pos, tmp, &pf_state.pools) {
		struct pf_pool *pool = container_of(pos, struct pf_pool, node);
		statlist_for_each_safe(cpos, ctmp, &pool->waiting_clients) {
			pf_client_disconnect(container_of(cpos, struct pf_client, node), "57P01", "pooler is shutting down");
		}
		statlist_for_each_safe(cpos, ctmp, &pool->welcome_clients) {
			pf_client_disconnect(container_of(cpos, struct pf_client, node), "57P01", "pooler is shutting down");
		}
		statlist_for_each_safe(cpos, ctmp, &pool->idle_servers) {
			pf_server_close(container_of(cpos, struct pf_server, node), "server shutting down");
		}
	}
}

static void on_shutdown_check(evutil_socket_t fd, short what, void *arg)
{
	bool done = pf_state.shutdown_mode == 1 ? pf_link_active_server_count() == 0 : pf_client_total() == 0;
	if (done) {
		log_info("shutdown complete");
		event_base_loopbreak(pf_state.base);
	}
}

static void start_shutdown(int mode)
{
	if (mode == 3) {
		log_info("SHUTDOWN from the admin console: shutting down now");
		pf_state.shutting_down = true;
		event_base_loopbreak(pf_state.base);
		return;
	}
	if (pf_state.shutting_down) {
		log_info("got a second shutdown signal: shutting down immediately");
		event_base_loopbreak(pf_state.base);
		return;
	}
	pf_state.shutting_down = true;
	pf_state.shutdown_mode = mode;
	log_info("shutting down: %s", mode == 1 ? "waiting for servers in use (SIGINT)" : "waiting for clients (SIGTERM)");
	pf_listen_close();
	if (mode == 1)
		begin_wait_for_servers();
	struct timeval tv = { 0, SHUTDOWN_CHECK_USEC };
	shutdown_timer = event_new(pf_state.base, -1, EV_PERSIST, on_shutdown_check, NULL);
	event_add(shutdown_timer, &tv);
	on_shutdown_check(-1, 0, NULL);
}

static const struct pf_args *run_args;

/* RELOAD or SET changed settings: apply those that were read once at start-up. */
static int apply_settings(bool tls, char *err, size_t errlen)
{
	const struct pf_settings *set = pf_state.set;
	int verbose = run_args->verbose > set->verbose ? run_args->verbose : set->verbose;
	pf_log_setup(verbose, run_args->quiet || run_args->daemon, set->logfile, set->syslog, set->syslog_ident,
		     set->syslog_facility);
	pf_dns_set_ttls(set->dns_max_ttl, set->dns_nxdomain_ttl);
	pf_dns_set_zone_check_period(set->dns_zone_check_period);
	pf_admin_stats_restart();
	/* Tenant quotas follow [tenants] and reserve_pool_timeout at once (tenant_key: new logins). */
	pf_tenant_apply_settings();
	/* New certificates apply to new connections; connected ones keep theirs. A failure
	 * keeps the running contexts. */
	return tls ? pf_tls_configure(set, err, errlen) : 0;
}

/* SIGHUP: RELOAD. A broken file keeps the running config (the reason is logged). */
static void reload_config(void)
{
	char err[1024];
	log_info("got SIGHUP: reloading %s", pf_state.set->conffile);
	if (pf_reload(err, sizeof(err)) < 0) {
		log_error("RELOAD failed, keeping the running config: %s", err);
		pf_log_reopen();
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGINT:
		start_shutdown(1);
		break;
	case SIGTERM:
		start_shutdown(2);
		break;
	case SIGHUP:
		reload_config();
		break;
	case SIGUSR1:
		log_info("got SIGUSR1: PAUSE");
		pf_state.paused = true;
		pf_control_pause(NULL);
		break;
	case SIGUSR2:
		log_info("got SIGUSR2: RESUME");
		pf_state.paused = false;
		pf_control_resume(NULL);
		break;
	default:
		break;
	}
}

/* Logins in flight tell a storm from calm: then drain the listen queue in bigger gulps. */
static int accept_budget(void)
{
	return statlist_count(&pf_state.login_clients) > 16 ? 32 : 1;
}

static void accept_client(int fd, const struct sockaddr *addr, socklen_t len, bool is_unix)
{
	if (!is_unix) {
		struct pf_sock_opts opts;
		pf_state_sock_opts(&opts);
		pf_sock_tune(fd, addr->sa_family, &opts);
	}
	/* With TCP_DEFER_ACCEPT the startup packet is already there: read it now. */
	pf_client_accept(fd, addr, len, is_unix, !is_unix && pf_state.set->tcp_defer_accept);
}

int pf_process_run(const struct pf_args *args)
{
	char err[1024];
	/* Warnings of the config load go to stderr until the log is set up. */
	pf_log_setup(args->verbose, args->quiet, NULL, 0, NULL, NULL);
	struct pf_conf *conf = pf_conf_load(args->config_path, err, sizeof(err));
	if (!conf) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct pf_settings *set = &conf->set;
	const char *run_as = args->user ? args->user : (set->user && *set->user ? set->user : NULL);
	if (geteuid() == 0 && !run_as) {
		fprintf(stderr, "pgfjord should not run as root: use -u USER\n");
		pf_conf_free(conf);
		return 1;
	}
	if (args->daemon && ((!set->logfile || !*set->logfile) && !set->syslog)) {
		fprintf(stderr, "pgfjord: -d needs logfile or syslog in the config\n");
		pf_conf_free(conf);
		return 1;
	}
	if (args->daemon && (!set->pidfile || !*set->pidfile)) {
		fprintf(stderr, "pgfjord: -d needs pidfile in the config\n");
		pf_conf_free(conf);
		return 1;
	}
	if (geteuid() == 0 && run_as && change_user(run_as) < 0) {
		pf_conf_free(conf);
		return 1;
	}
	struct pf_userlist *userlist = NULL;
	if (set->auth_file && *set->auth_file) {
		userlist = pf_userlist_load(set->auth_file, err, sizeof(err));
		if (!userlist) {
			fprintf(stderr, "%s\n", err);
			pf_conf_free(conf);
			return 1;
		}
	}
	struct pf_hba *hba;
	struct pf_ident *ident;
	if (pf_auth_files_load(set, &hba, &ident, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		pf_userlist_free(userlist);
		pf_conf_free(conf);
		return 1;
	}
	if (set->pidfile && *set->pidfile && check_pidfile(set->pidfile) < 0) {
		pf_auth_files_free(hba, ident);
		pf_userlist_free(userlist);
		pf_conf_free(conf);
		return 1;
	}
	int verbose = args->verbose > set->verbose ? args->verbose : set->verbose;
	pf_log_setup(verbose, args->quiet || args->daemon, set->logfile, set->syslog, set->syslog_ident, set->syslog_facility);
	/* Bad certificates stop the start, before a daemon's parent has said all is well. */
	bool ok = pf_tls_configure(set, err, sizeof(err)) == 0;
	if (!ok)
		log_fatal("TLS setup failed: %s", err);
	if (!ok || (args->daemon && go_daemon() < 0)) {
		pf_tls_shutdown();
		pf_auth_files_free(hba, ident);
		pf_userlist_free(userlist);
		pf_conf_free(conf);
		pf_log_close();
		return 1;
	}
	pf_random_reset();
	signal(SIGPIPE, SIG_IGN);

	struct event_base *base = event_base_new();
	pf_iobuf_setup((uint32_t)set->pkt_buf);
	pf_tracked_setup(set->track_extra_parameters);
	pf_pool_state_init(base, conf, userlist);
	pf_state.hba = hba;
	pf_state.ident = ident;
	if (pf_dns_init(base, set->resolv_conf, set->dns_max_ttl, set->dns_nxdomain_ttl) < 0)
		log_warning("DNS resolver setup failed: host names will not resolve");
	pf_dns_set_zone_check_period(set->dns_zone_check_period);
	int rc = 0;

	struct pf_listen_opts lo = {
		.listen_addr = set->listen_addr,
		.port = set->listen_port,
		.backlog = set->listen_backlog,
		.unix_dir = set->unix_socket_dir,
		.unix_mode = set->unix_socket_mode,
		.unix_group = set->unix_socket_group,
		.reuseport = set->so_reuseport,
		.defer_accept = set->tcp_defer_accept != 0,
	};
	/* The pidfile comes first: whoever sees the port open can rely on it. */
	if (set->pidfile && *set->pidfile && write_pidfile(set->pidfile) < 0) {
		rc = 1;
		goto out;
	}
	if (pf_listen_open(base, &lo, accept_client, accept_budget, err, sizeof(err)) < 0) {
		log_fatal("%s", err);
		rc = 1;
		goto out;
	}
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };
	struct event *sig_events[5];
	for (int i = 0; i < 5; i++) {
		sig_events[i] = evsignal_new(base, sigs[i], on_signal, NULL);
		event_add(sig_events[i], NULL);
	}
	pf_janitor_start();
	pf_dns_watch_start();
	pf_state.shutdown_hook = start_shutdown;
	run_args = args;
	pf_state.settings_hook = apply_settings;
	pf_admin_init();
	log_info("process up: %s, libevent %s (%s), %s", "pgfjord " PACKAGE_VERSION, event_get_version(),
		 event_base_get_method(base), OpenSSL_version(OPENSSL_VERSION));

	event_base_dispatch(base);

	for (int i = 0; i < 5; i++)
		event_free(sig_events[i]);
out:
	pf_janitor_stop();
	pf_dns_watch_stop();
	pf_admin_shutdown();
	pf_listen_close();
	close_all_connections();
	pf_cancel_shutdown();
	if (shutdown_timer)
		event_free(shutdown_timer);
	pf_pool_state_free();
	pf_dns_shutdown();
	pf_tls_shutdown();
	pf_pp_shutdown();
	pf_iobuf_free_all();
	pf_digest_cleanup();
	pf_tracked_free();
	if (pidfile_written)
		unlink(pidfile_written);
	pf_userlist_free(pf_state.userlist);
	pf_conf_free(pf_state.conf);
	event_base_free(base);
	pf_log_close();
	return rc;
}
