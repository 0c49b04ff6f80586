/*
 * console.c - the admin console's command loop: simple-query commands in, result sets or
 * errors out, with PgBouncer's texts. SHOW lives in show.c; this file parses, checks rights
 * (stats_users may only SHOW) and runs the control commands.
 */
#include "admin/admin.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/resultset.h"
#include "config/options.h"
#include "proto/build.h"
#include "proto/parse.h"
#include "proto/proto.h"
#include "session/client.h"
#include "session/control.h"
#include "session/server.h"
#include "util/log.h"

/* Commands that answer only once something has happened (PAUSE, WAIT_CLOSE). */
#define MAX_PENDING 64
#define PENDING_CHECK_USEC 100000

enum pending_kind { PENDING_PAUSE, PENDING_WAIT_CLOSE };

struct pending {
	uint64_t client_id;
	enum pending_kind kind;
	struct pf_database *db;
};

static struct pending pending[MAX_PENDING];
static int n_pending;
static struct event *pending_timer;

static void send_out(struct pf_client *client, struct pf_buf *out)
{
	if (out->len && !pf_stream_write(&client->stream, out->data, out->len))
		pf_client_close(client, "client unexpected eof");
	pf_buf_free(out);
}

static void command_ok(struct pf_buf *out, const char *tag)
{
	pf_buf_put_u8(out, 'C');
	pf_buf_put_u32(out, (uint32_t)(4 + strlen(tag) + 1));
	pf_buf_put_str(out, tag);
}

static void command_error(struct pf_buf *out, const char *sqlstate, const char *msg)
{
	pf_build_error(out, "ERROR", sqlstate, msg, NULL, NULL);
}

/* Answer the pending commands whose condition now holds. */
static void check_pending(evutil_socket_t fd, short what, void *arg)
{
	for (int i = 0; i < n_pending;) {
		struct pending *p = &pending[i];
		struct pf_client *client = pf_control_find_client(p->client_id);
		/* A console that went away waits for nothing: its slot is freed at once. */
		int left = !client || client->state == CL_DEAD ? 0
			   : p->kind == PENDING_PAUSE      ? pf_control_busy_servers(p->db)
							   : pf_control_close_needed(p->db);
		if (left > 0) {
			i++;
			continue;
		}
		if (client && client->state != CL_DEAD) {
			struct pf_buf out;
			pf_buf_init(&out);
			command_ok(&out, p->kind == PENDING_PAUSE ? "PAUSE" : "WAIT_CLOSE");
			pf_build_rfq(&out, 'I');
			send_out(client, &out);
			if (client->state != CL_DEAD)
				pf_stream_resume_later(&client->stream);
		}
		pending[i] = pending[--n_pending];
	}
	if (n_pending == 0 && pending_timer)
		event_del(pending_timer);
}

static bool add_pending(struct pf_client *client, enum pending_kind kind, struct pf_database *db)
{
	if (n_pending == MAX_PENDING)
		return false;
	pending[n_pending++] = (struct pending){ client->id, kind, db };
	struct timeval tv = { 0, PENDING_CHECK_USEC };
	event_add(pending_timer, &tv);
	return true;
}

/* Split "CMD arg ..." (a trailing ';' and white space dropped). Returns the word count. */
static int split_words(char *line, char **words, int max)
{
	size_t n = strlen(line);
	while (n && (isspace((unsigned char)line[n - 1]) || line[n - 1] == ';'))
		line[--n] = 0;
	int count = 0;
	char *save = NULL;
	for (char *w = strtok_r(line, " \t\r\n", &save); w && count < max; w = strtok_r(NULL, " \t\r\n", &save))
		words[count++] = w;
	return count;
}

/* A database named in a command must exist (the console itself cannot be paused or killed). */
static struct pf_database *named_db(const char *name, struct pf_buf *out)
{
	struct pf_database *db = pf_database_find(name);
	if (!db || db->is_admin) {
		char msg[300];
		snprintf(msg, sizeof(msg), "no such database: %s", name);
		command_error(out, "08P01", msg);
		return NULL;
	}
	return db;
}

static void cmd_set(char *args, struct pf_buf *out)
{
	/* SET key = value, SET key TO value; quotes around the value are optional. */
	char *eq = strchr(args, '=');
	char *key = args, *value;
	if (eq) {
		*eq = 0;
		value = eq + 1;
	} else {
		char *sp = strpbrk(args, " \t");
		if (!sp) {
			command_error(out, "08P01", "SET failed: expected SET key = value");
			return;
		}
		*sp = 0;
		value = sp + 1;
		while (isspace((unsigned char)*value))
			value++;
		if (strncasecmp(value, "to", 2) == 0 && isspace((unsigned char)value[2]))
			value += 3;
	}
	while (isspace((unsigned char)*key))
		key++;
	for (char *e = key + strlen(key); e > key && isspace((unsigned char)e[-1]);)
		*--e = 0;
	while (isspace((unsigned char)*value))
		value++;
	for (char *e = value + strlen(value); e > value && isspace((unsigned char)e[-1]);)
		*--e = 0;
	size_t vl = strlen(value);
	if (vl >= 2 && value[0] == '\'' && value[vl - 1] == '\'') {
		value[vl - 1] = 0;
		value++;
	}
	const struct pf_option *opt = pf_option_find(key);
	char err[256] = "";
	if (!opt) {
		snprintf(err, sizeof(err), "unknown parameter %s", key);
	} else if (!(opt->flags & OPT_RELOAD)) {
		snprintf(err, sizeof(err), "parameter %s cannot be changed at run time: edit the config file and restart", key);
	} else {
		/* Keys that shape the TLS contexts rebuild them; one that breaks them is undone. */
		bool tls = strncasecmp(key, "client_tls", 10) == 0 || strncasecmp(key, "server_tls", 10) == 0 ||
			   strcasecmp(key, "auth_type") == 0;
		char *was = pf_option_value_text(pf_state.set, opt);
		if (pf_option_set(pf_state.set, key, value, err, sizeof(err)) == 0) {
			if (!pf_state.settings_hook || pf_state.settings_hook(tls, err, sizeof(err)) == 0) {
				log_info("SET %s = %s", key, value);
				free(was);
				command_ok(out, "SET");
				return;
			}
			char ignored[256];
			pf_option_set(pf_state.set, key, was ? was : "", ignored, sizeof(ignored));
			if (pf_state.settings_hook)
				pf_state.settings_hook(false, ignored, sizeof(ignored));
		}
		free(was);
	}
	char msg[512];
	snprintf(msg, sizeof(msg), "SET failed: %s", err);
	command_error(out, "F0000", msg);
}

/* What a control command did: answered (ReadyForQuery still to add), answered later, or unknown. */
enum control_result { CTL_DONE, CTL_DEFERRED, CTL_SENT, CTL_UNKNOWN };

/* Control commands. */
static enum control_result run_control(struct pf_client *client, int argc, char **argv, char *rest, struct pf_buf *out)
{
	const char *cmd = argv[0];
	struct pf_database *db = NULL;
	if (argc > 1 && (strcasecmp(cmd, "PAUSE") == 0 || strcasecmp(cmd, "RESUME") == 0 ||
			 strcasecmp(cmd, "KILL") == 0 || strcasecmp(cmd, "RECONNECT") == 0 ||
			 strcasecmp(cmd, "WAIT_CLOSE") == 0 || strcasecmp(cmd, "DISABLE") == 0 ||
			 strcasecmp(cmd, "ENABLE") == 0)) {
		if (!(db = named_db(argv[1], out)))
			return CTL_DONE;
	}
	if (strcasecmp(cmd, "RELOAD") == 0) {
		char err[1024];
		if (pf_reload(err, sizeof(err)) < 0) {
			log_error("RELOAD failed, keeping the running config: %s", err);
			command_error(out, "F0000", "RELOAD failed, see logs for additional details");
		} else {
			command_ok(out, "RELOAD");
		}
	} else if (strcasecmp(cmd, "PAUSE") == 0) {
		if (db)
			db->paused = true;
		else
			pf_state.paused = true;
		log_info("PAUSE %s", db ? db->name : "(all databases)");
		pf_control_pause(db);
		if (pf_control_busy_servers(db) == 0)
			command_ok(out, "PAUSE");
		else if (!add_pending(client, PENDING_PAUSE, db))
			command_error(out, "53400", "too many PAUSE/WAIT_CLOSE commands waiting; try again later");
		else
			return CTL_DEFERRED; /* answered by check_pending() */
	} else if (strcasecmp(cmd, "RESUME") == 0) {
		if (db)
			db->paused = false;
		else
			pf_state.paused = false;
		log_info("RESUME %s", db ? db->name : "(all databases)");
		pf_control_resume(db);
		command_ok(out, "RESUME");
	} else if (strcasecmp(cmd, "DISABLE") == 0 || strcasecmp(cmd, "ENABLE") == 0) {
		if (!db) {
			command_error(out, "08P01", "a database name is required");
			return CTL_DONE;
		}
		db->disabled = strcasecmp(cmd, "DISABLE") == 0;
		command_ok(out, db->disabled ? "DISABLE" : "ENABLE");
	} else if (strcasecmp(cmd, "KILL") == 0) {
		/* As PgBouncer: new clients of a killed database wait until RESUME. */
		if (db)
			db->paused = true;
		else
			pf_state.paused = true;
		pf_control_kill(db, "database removed");
		command_ok(out, "KILL");
	} else if (strcasecmp(cmd, "KILL_CLIENT") == 0) {
		struct pf_client *victim = argc > 1 ? pf_control_find_client(strtoull(argv[1], NULL, 10)) : NULL;
		if (!victim || victim == client) {
			command_error(out, "08P01", "client not found");
			return CTL_DONE;
		}
		pf_client_disconnect(victim, "08P01", "client killed by the admin console (KILL_CLIENT)");
		command_ok(out, "KILL_CLIENT");
	} else if (strcasecmp(cmd, "RECONNECT") == 0) {
		pf_control_reconnect(db);
		command_ok(out, "RECONNECT");
	} else if (strcasecmp(cmd, "WAIT_CLOSE") == 0) {
		if (pf_control_close_needed(db) == 0)
			command_ok(out, "WAIT_CLOSE");
		else if (!add_pending(client, PENDING_WAIT_CLOSE, db))
			command_error(out, "53400", "too many PAUSE/WAIT_CLOSE commands waiting; try again later");
		else
			return CTL_DEFERRED;
	} else if (strcasecmp(cmd, "SUSPEND") == 0) {
		command_error(out, "0A000", "SUSPEND is not supported: pgfjord follows PgBouncer 1.26, which removed it with online restart");
	} else if (strcasecmp(cmd, "SHUTDOWN") == 0) {
		int mode = 3; /* immediate */
		if (argc > 1 && strcasecmp(argv[1], "WAIT_FOR_SERVERS") == 0)
			mode = 1;
		else if (argc > 1 && strcasecmp(argv[1], "WAIT_FOR_CLIENTS") == 0)
			mode = 2;
		else if (argc > 1) {
			command_error(out, "08P01", "SHUTDOWN takes WAIT_FOR_SERVERS or WAIT_FOR_CLIENTS");
			return CTL_DONE;
		}
		command_ok(out, "SHUTDOWN");
		pf_build_rfq(out, 'I');
		send_out(client, out);
		pf_buf_init(out);
		if (pf_state.shutdown_hook)
			pf_state.shutdown_hook(mode);
		return CTL_SENT;
	} else if (strcasecmp(cmd, "SET") == 0) {
		cmd_set(rest, out);
	} else {
		return CTL_UNKNOWN;
	}
	return CTL_DONE;
}

void pf_admin_run(struct pf_client *client, const char *sql, struct pf_buf *out)
{
	char *line = pf_xstrdup(sql);
	char *copy = pf_xstrdup(sql);
	char *words[8];
	int argc = split_words(line, words, 8);
	if (argc == 0) {
		pf_buf_put_u8(out, 'I'); /* EmptyQueryResponse */
		pf_buf_put_u32(out, 4);
		pf_build_rfq(out, 'I');
		goto done;
	}
	if (strcasecmp(words[0], "SHOW") == 0) {
		if (argc < 2 || !pf_admin_show(client, words[1], argc > 2 ? words[2] : NULL, out)) {
			char msg[300];
			snprintf(msg, sizeof(msg), "invalid command '%.200s', use SHOW HELP;", sql);
			command_error(out, "08P01", msg);
		}
		pf_build_rfq(out, 'I');
		goto done;
	}
	if (client->admin_level < 2) {
		command_error(out, "42501", "permission denied: only admin_users may run this command; stats_users may use SHOW");
		pf_build_rfq(out, 'I');
		goto done;
	}
	/* "SET ..." keeps its text after the keyword. */
	char *rest = copy + strspn(copy, " \t\r\n");
	rest += strcspn(rest, " \t\r\n");
	size_t rl = strlen(rest);
	while (rl && (isspace((unsigned char)rest[rl - 1]) || rest[rl - 1] == ';'))
		rest[--rl] = 0;
	switch (run_control(client, argc, words, rest, out)) {
	case CTL_UNKNOWN: {
		char msg[300];
		snprintf(msg, sizeof(msg), "invalid command '%.200s', use SHOW HELP;", sql);
		command_error(out, "08P01", msg);
	}
		/* fall through */
	case CTL_DONE:
		pf_build_rfq(out, 'I');
		break;
	case CTL_DEFERRED:
	case CTL_SENT:
		break;
	}
done:
	free(line);
	free(copy);
}

/* A console client's message: simple queries only. */
static int admin_packet(void *client_arg, const void *pkt_arg)
{
	struct pf_client *client = client_arg;
	const struct pf_pkt *pkt = pkt_arg;
	if (pkt->len > 65536) {
		pf_client_disconnect(client, "08P01", "admin command too long");
		return PKT_CLOSED;
	}
	if (!pkt->full)
		return PKT_NEED_FULL;
	struct pf_buf out;
	pf_buf_init(&out);
	switch (pkt->type) {
	case PF_FE_QUERY: {
		const char *sql;
		if (pf_parse_cstring(pkt->body, pkt->body_len, &sql) < 0) {
			pf_client_disconnect(client, "08P01", "invalid query message");
			return PKT_CLOSED;
		}
		log_debug("admin command: %s", sql);
		/* Console commands count in the console database's totals, as COMPAT.md asks. */
		client->db->stats.query_count++;
		client->db->stats.xact_count++;
		pf_admin_run(client, sql, &out);
		if (!out.len) {
			/* Answered later (PAUSE, WAIT_CLOSE): hold the client's next messages. */
			pf_buf_free(&out);
			return client->state == CL_DEAD ? PKT_CLOSED : PKT_CONSUMED;
		}
		break;
	}
	case PF_FE_TERMINATE:
		pf_client_close(client, "client close request");
		return PKT_CLOSED;
	case PF_FE_SYNC:
		if (!client->admin_skip_to_sync)
			return PKT_CONSUMED;
		client->admin_skip_to_sync = false;
		pf_build_rfq(&out, 'I');
		break;
	case PF_FE_PARSE:
	case PF_FE_BIND:
	case PF_FE_DESCRIBE:
	case PF_FE_EXECUTE:
	case PF_FE_CLOSE:
	case PF_FE_FLUSH:
	case PF_FE_FUNCTION_CALL:
		if (client->admin_skip_to_sync)
			return PKT_CONSUMED;
		client->admin_skip_to_sync = pkt->type != PF_FE_FUNCTION_CALL;
		command_error(&out, "08P01",
			      "the admin console speaks only the simple query protocol (e.g. psql, or a client-side cursor)");
		if (pkt->type == PF_FE_FUNCTION_CALL)
			pf_build_rfq(&out, 'I');
		break;
	default:
		pf_client_disconnect(client, "08P01", "unexpected message type on the admin console");
		return PKT_CLOSED;
	}
	send_out(client, &out);
	return client->state == CL_DEAD ? PKT_CLOSED : PKT_CONSUMED;
}

void pf_admin_init(void)
{
	pf_state.admin_packet = admin_packet;
	pending_timer = event_new(pf_state.base, -1, EV_PERSIST, check_pending, NULL);
	pf_admin_stats_start();
}

void pf_admin_shutdown(void)
{
	pf_admin_stats_stop();
	if (pending_timer)
		event_free(pending_timer);
	pending_timer = NULL;
	n_pending = 0;
}
