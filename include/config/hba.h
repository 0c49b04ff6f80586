/*
 * hba.h - auth_hba_file: pg_hba.conf rules as PgBouncer reads them, and the first-match lookup.
 *
 * Line:  local      DATABASE USER                  METHOD [map=NAME]
 *        host       DATABASE USER ADDRESS          METHOD [map=NAME]   (also hostssl, hostnossl)
 *        host       DATABASE USER IP-ADDRESS MASK  METHOD [map=NAME]
 *
 * DATABASE: comma list of names, all, sameuser, replication, @file.
 * USER:     comma list of names, all, @file.
 * ADDRESS:  all, a.b.c.d/len, ipv6/len, samehost, samenet (the last two are a pgfjord
 *           extension: PgBouncer rejects them).
 * METHOD:   trust, reject, password, md5, scram-sha-256, cert, peer.
 * Lexical rules (quotes, comments, backslash continuation): pgconf_lex.h. doc/config.md lists
 * what is rejected and why. Any bad line fails the whole file (PgBouncer skips bad lines,
 * which can silently drop a reject rule).
 */
#ifndef PF_CONFIG_HBA_H
#define PF_CONFIG_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum pf_hba_type { PF_HBA_LOCAL, PF_HBA_HOST, PF_HBA_HOSTSSL, PF_HBA_HOSTNOSSL };

enum pf_hba_method {
	PF_HBA_TRUST,
	PF_HBA_REJECT,
	PF_HBA_PASSWORD, /* cleartext password (auth_type plain) */
	PF_HBA_MD5,      /* md5, or SCRAM when the stored secret is SCRAM (PostgreSQL's rule) */
	PF_HBA_SCRAM,
	PF_HBA_CERT,
	PF_HBA_PEER,
};

/* The part of a rule the login needs. It lives as long as the struct pf_hba it came from. */
struct pf_hba_rule {
	enum pf_hba_type type;
	enum pf_hba_method method;
	const char *map; /* map= option (a map of auth_ident_file), or NULL */
	int line;        /* line in the file, for log messages */
};

struct pf_hba;

/* How the client reached us: a Unix socket matches only local lines, TCP only host* lines. */
enum pf_conn_kind { PF_CONN_UNIX, PF_CONN_TCP };

/*
 * Load `path`. NULL on error, with err = "file:line: reason" (or "file: reason"); a bad @file
 * names its own file:line and the hba line that refers to it. When a rule uses samehost or
 * samenet, the local interface addresses are read here (getifaddrs), not at each login: an
 * interface that appears later counts after the next load (RELOAD).
 */
struct pf_hba *pf_hba_load(const char *path, char *err, size_t errlen);
void pf_hba_free(struct pf_hba *hba);

/*
 * The first rule that matches, or NULL: no rule matches and the login must be refused.
 * addr is the client's address for TCP (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
 * matches IPv4 rules); NULL or any address for Unix sockets. is_replication = a physical
 * replication connection (replication=true), which matches only the `replication` keyword;
 * logical replication (replication=database) passes false and matches by database name.
 * The rule's method may still not fit the connection (cert without TLS, peer over TCP):
 * the caller refuses the login then.
 */
const struct pf_hba_rule *pf_hba_match(const struct pf_hba *hba, enum pf_conn_kind kind, bool tls,
				       const struct sockaddr *addr, const char *dbname, const char *username,
				       bool is_replication);

size_t pf_hba_rule_count(const struct pf_hba *hba);

/* The keyword of a method, as written in the file ("scram-sha-256"). */
const char *pf_hba_method_name(enum pf_hba_method method);

/*
 * Replace the local addresses samehost/samenet compare against (normally read by
 * pf_hba_load). For tests, and for a caller that wants to refresh them without a reload.
 * Each entry is an AF_INET or AF_INET6 address and its netmask (same family).
 */
struct pf_hba_ifaddr {
	struct sockaddr_storage addr, mask;
};
void pf_hba_set_local_addrs(struct pf_hba *hba, const struct pf_hba_ifaddr *addrs, size_t n);

#endif
