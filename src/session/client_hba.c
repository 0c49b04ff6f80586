/*
 * client_hba.c - auth_type = hba: the first line of auth_hba_file that matches the
 * connection (Unix socket or TCP, TLS or not, address, database, user) names the method;
 * cert and peer logins may go through a map of auth_ident_file.
 */
#include "session/client_hba.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/hba.h"
#include "config/ident.h"
#include "session/client.h"
#include "util/buf.h"
#include "util/log.h"

static int method_auth_type(enum pf_hba_method method)
{
	switch (method) {
	case PF_HBA_TRUST:
		return AUTH_TYPE_TRUST;
	case PF_HBA_REJECT:
		return AUTH_TYPE_REJECT;
	case PF_HBA_PASSWORD:
		return AUTH_TYPE_PLAIN;
	case PF_HBA_MD5:
		return AUTH_TYPE_MD5;
	case PF_HBA_SCRAM:
		return AUTH_TYPE_SCRAM;
	case PF_HBA_CERT:
		return AUTH_TYPE_CERT;
	case PF_HBA_PEER:
		return AUTH_TYPE_PEER;
	}
	return AUTH_TYPE_REJECT;
}

static void client_sockaddr(const struct pf_client *client, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	const struct pf_addr *a = &client->addr;
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->ip, 4);
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->ip, 16);
	} else {
		ss->ss_family = AF_UNIX;
	}
}

bool pf_client_hba_method(struct pf_client *client, const char *user_name, int *auth_type, const char **map)
{
	const char *dbname = pf_client_login_db(client);
	bool tls = client->stream.tls != NULL;
	struct sockaddr_storage ss;
	client_sockaddr(client, &ss);
	const struct pf_hba_rule *rule =
		pf_state.hba ? pf_hba_match(pf_state.hba, client->is_unix ? PF_CONN_UNIX : PF_CONN_TCP, tls,
					    (const struct sockaddr *)&ss, dbname, user_name, false)
			     : NULL;
	if (!rule) {
		char host[64] = "[local]";
		if (!client->is_unix)
			inet_ntop(client->addr.family, client->addr.ip, host, sizeof(host));
		/* The client gets PgBouncer's words; the log says why in PostgreSQL's. */
		pf_client_log(client, LOG_LVL_WARNING, "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", %s",
			      host, user_name, dbname ? dbname : "", tls ? "SSL encryption" : "no encryption");
		pf_client_disconnect(client, "28000", "login rejected");
		return false;
	}
	*auth_type = method_auth_type(rule->method);
	*map = rule->map;
	pf_client_log(client, LOG_LVL_DEBUG, "auth_hba_file line %d: %s", rule->line, pf_hba_method_name(rule->method));
	return true;
}

char *pf_client_peer_user(const struct pf_client *client)
{
	uid_t uid;
	if (!client->is_unix || !pf_sock_peer_uid(client->stream.fd, &uid))
		return NULL;
	char buf[1024];
	struct passwd pw, *found = NULL;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
		return NULL;
	return pf_xstrdup(found->pw_name);
}

bool pf_client_identity_allowed(const char *map, const char *identity, const char *user)
{
	if (!identity)
		return false;
	if (!map)
		return strcmp(identity, user) == 0;
	return pf_state.ident && pf_ident_map_allows(pf_state.ident, map, identity, user);
}
