/* hba.c - parse auth_hba_file into rules and find the first rule a connection matches. */
#include "config/hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/pgconf_lex.h"
#include "util/buf.h"

/* PostgreSQL's limit for nested @files; deeper is almost surely a file including itself. */
#define MAX_AT_DEPTH 10

enum { NAME_ALL = 1, NAME_SAMEUSER = 2, NAME_REPLICATION = 4 };

struct name_set {
	unsigned flags;
	char **names; /* sorted, for bsearch: @files may hold thousands of users */
	size_t n;
};

enum addr_kind { ADDR_NONE, ADDR_ALL, ADDR_CIDR, ADDR_SAMEHOST, ADDR_SAMENET };

/* An address and mask in network order; IPv4 uses the first 4 bytes. */
struct net {
	int family;
	uint8_t addr[16], mask[16];
};

struct rule {
	struct pf_hba_rule pub; /* first, so &rule->pub is what callers hold */
	struct name_set db, user;
	enum addr_kind addr_kind;
	struct net net; /* ADDR_CIDR */
};

struct pf_hba {
	struct rule *rules;
	size_t n;
	struct net *local; /* interfaces, for samehost/samenet */
	size_t n_local;
};

/* Where a message points: a line of the hba file, or of an @file and the line that named it. */
struct where {
	const char *path;
	int line;
	const struct where *parent;
};

struct parse {
	char *err;
	size_t errlen;
	bool uses_ifaddrs;
};

static bool fail(struct parse *ps, const struct where *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "file:line: reason" into the error buffer, plus the hba line for an @file; always false. */
static bool fail(struct parse *ps, const struct where *w, const char *fmt, ...)
{
	const struct where *top;
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	top = w;
	while (top->parent)
		top = top->parent;
	if (top == w)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", w->path, w->line, reason);
	else
		snprintf(ps->err, ps->errlen, "%s:%d: %s (in an @file of %s:%d)", w->path, w->line, reason,
			 top->path, top->line);
	return false;
}

static void names_free(struct name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
}

static void rule_free(struct rule *r)
{
	names_free(&r->db);
	names_free(&r->user);
	free((char *)r->pub.map);
}

enum field_kind { FIELD_DB, FIELD_USER };

static bool add_name_token(struct parse *ps, struct name_set *set, const struct pf_conf_token *t,
			   enum field_kind kind, const struct where *w, int depth);

/* @file: an @file path is relative to the directory of the file that names it. */
static char *resolve_path(const char *from, const char *ref)
{
	const char *slash = strrchr(from, '/');
	struct pf_buf b;
	char *s;

	if (ref[0] == '/' || !slash)
		return pf_xstrdup(ref);
	pf_buf_init(&b);
	pf_buf_printf(&b, "%.*s/%s", (int)(slash - from), from, ref);
	pf_buf_put_u8(&b, 0);
	s = pf_xstrdup((char *)b.data);
	pf_buf_free(&b);
	return s;
}

/* Every token of every line of an @file joins the list, keywords and nested @files included. */
static bool include_names(struct parse *ps, struct name_set *set, const char *ref, enum field_kind kind,
			  const struct where *w, int depth)
{
	struct pf_conf_reader r;
	struct pf_conf_line line;
	char reason[256];
	char *path;
	bool ok = true;
	int rc;

	if (!*ref)
		return fail(ps, w, "@ needs a file name");
	if (depth >= MAX_AT_DEPTH)
		return fail(ps, w, "@file nesting deeper than %d levels (does an @file name itself?)",
			    MAX_AT_DEPTH);
	path = resolve_path(w->path, ref);
	if (pf_conf_open(&r, path) < 0) {
		fail(ps, w, "could not open @file \"%s\": %s", path, strerror(errno));
		free(path);
		return false;
	}

	struct where inner = { path, 0, w };
	while (ok && (rc = pf_conf_next(&r, &line, reason, sizeof(reason))) != 0) {
		inner.line = line.lineno;
		if (rc < 0) {
			ok = fail(ps, &inner, "%s", reason);
			break;
		}
		for (size_t i = 0; ok && i < line.n; i++)
			for (size_t j = 0; ok && j < line.fields[i].n; j++)
				ok = add_name_token(ps, set, &line.fields[i].tok[j], kind, &inner, depth + 1);
		pf_conf_line_free(&line);
	}
	pf_conf_close(&r);
	free(path);
	return ok;
}

static bool add_name_token(struct parse *ps, struct name_set *set, const struct pf_conf_token *t,
			   enum field_kind kind, const struct where *w, int depth)
{
	if (pf_conf_is_kw(t, "all")) {
		set->flags |= NAME_ALL;
		return true;
	}
	if (kind == FIELD_DB) {
		if (pf_conf_is_kw(t, "sameuser")) {
			set->flags |= NAME_SAMEUSER;
			return true;
		}
		if (pf_conf_is_kw(t, "replication")) {
			set->flags |= NAME_REPLICATION;
			return true;
		}
		if (pf_conf_is_kw(t, "samerole") || pf_conf_is_kw(t, "samegroup"))
			return fail(ps, w, "\"%s\" is not supported (PgBouncer does not know role membership)",
				    t->text);
	} else if (!t->quoted && t->text[0] == '+') {
		return fail(ps, w,
			    "group membership (\"%s\") is not supported (PgBouncer does not know role "
			    "membership): list the users, or name them in an @file",
			    t->text);
	}
	if (!t->lead_quote && t->text[0] == '@')
		return include_names(ps, set, t->text + 1, kind, w, depth);
	set->names = pf_xrealloc(set->names, (set->n + 1) * sizeof(*set->names));
	set->names[set->n++] = pf_xstrdup(t->text);
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool parse_names(struct parse *ps, struct name_set *set, const struct pf_conf_field *f,
			enum field_kind kind, const struct where *w)
{
	for (size_t i = 0; i < f->n; i++)
		if (!add_name_token(ps, set, &f->tok[i], kind, w, 0))
			return false;
	if (set->n > 1)
		qsort(set->names, set->n, sizeof(*set->names), cmp_str);
	return true;
}

/* The single token of field i, or NULL (with the error written) when it is missing or a list. */
static const struct pf_conf_token *single(struct parse *ps, const struct pf_conf_line *l, size_t i,
					  const char *what, const struct where *w)
{
	if (i >= l->n) {
		fail(ps, w, "missing %s", what);
		return NULL;
	}
	if (l->fields[i].n != 1) {
		fail(ps, w, "the %s must be a single value, not a comma list", what);
		return NULL;
	}
	return &l->fields[i].tok[0];
}

static bool parse_ip(const char *s, struct net *n)
{
	memset(n->addr, 0, sizeof(n->addr));
	if (inet_pton(AF_INET, s, n->addr) == 1) {
		n->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, n->addr) == 1) {
		n->family = AF_INET6;
		return true;
	}
	return false;
}

static int family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static void prefix_to_mask(int bits, uint8_t mask[16])
{
	memset(mask, 0, 16);
	for (int i = 0; i < bits; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

/* A prefix length: decimal digits only (no sign, no spaces), at most the family's bits. */
static int parse_prefix(const char *s, int family)
{
	int v = 0;

	if (!*s || strlen(s) > 3)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= family_bits(family) ? v : -1;
}

/* ADDRESS [MASK]; *next = the field after it. */
static bool parse_address(struct parse *ps, struct rule *r, const struct pf_conf_line *l, size_t *next,
			  const struct where *w)
{
	const struct pf_conf_token *t = single(ps, l, 3, "address", w);
	const char *slash;

	if (!t)
		return false;
	*next = 4;
	if (pf_conf_is_kw(t, "all")) {
		r->addr_kind = ADDR_ALL;
		return true;
	}
	if (pf_conf_is_kw(t, "samehost") || pf_conf_is_kw(t, "samenet")) {
		r->addr_kind = pf_conf_is_kw(t, "samehost") ? ADDR_SAMEHOST : ADDR_SAMENET;
		ps->uses_ifaddrs = true;
		return true;
	}
	r->addr_kind = ADDR_CIDR;
	slash = strchr(t->text, '/');
	if (slash) {
		char *ip = pf_xstrndup(t->text, (size_t)(slash - t->text));
		bool ok = parse_ip(ip, &r->net);
		int bits;

		free(ip);
		if (!ok)
			return fail(ps, w, "invalid IP address in \"%s\"", t->text);
		bits = parse_prefix(slash + 1, r->net.family);
		if (bits < 0)
			return fail(ps, w, "invalid prefix length in \"%s\" (0 to %d for IPv%d)", t->text,
				    family_bits(r->net.family), r->net.family == AF_INET ? 4 : 6);
		prefix_to_mask(bits, r->net.mask);
		return true;
	}
	if (!parse_ip(t->text, &r->net))
		return fail(ps, w,
			    "\"%s\" is not an IP address: host names are not supported (PgBouncer does not "
			    "resolve them); write an address with /prefix length",
			    t->text);

	/* An address without /len takes its mask from the next column. */
	struct net mask;
	const struct pf_conf_token *m = l->n > 4 && l->fields[4].n == 1 ? &l->fields[4].tok[0] : NULL;

	if (!m || !parse_ip(m->text, &mask))
		return fail(ps, w, "IP address \"%s\" needs a /prefix length or a netmask column", t->text);
	if (mask.family != r->net.family)
		return fail(ps, w, "netmask \"%s\" is not of the same IP version as address \"%s\"", m->text,
			    t->text);
	memcpy(r->net.mask, mask.addr, sizeof(r->net.mask));
	*next = 5;
	return true;
}

static const struct {
	const char *name;
	enum pf_hba_method method;
} methods[] = {
	{ "trust", PF_HBA_TRUST }, { "reject", PF_HBA_REJECT },       { "password", PF_HBA_PASSWORD },
	{ "md5", PF_HBA_MD5 },     { "scram-sha-256", PF_HBA_SCRAM }, { "cert", PF_HBA_CERT },
	{ "peer", PF_HBA_PEER },
};

/* PostgreSQL methods PgBouncer has no hba equivalent for. */
static const char *const foreign_methods[] = { "gss", "sspi", "pam", "ldap", "radius", "bsd", "oauth" };

const char *pf_hba_method_name(enum pf_hba_method method)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].method == method)
			return methods[i].name;
	return "?";
}

/* Method and options use plain string compares, as PostgreSQL does (quotes do not matter). */
static bool parse_method(struct parse *ps, struct rule *r, const struct pf_conf_line *l, size_t i,
			 const struct where *w)
{
	const struct pf_conf_token *t = single(ps, l, i, "authentication method", w);
	size_t k;

	if (!t)
		return false;
	for (k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (strcmp(t->text, methods[k].name) == 0)
			break;
	if (k == sizeof(methods) / sizeof(methods[0])) {
		if (strcmp(t->text, "ident") == 0)
			return fail(ps, w,
				    "authentication method \"ident\" is not supported (PgBouncer has none; "
				    "on local lines use peer)");
		for (size_t j = 0; j < sizeof(foreign_methods) / sizeof(foreign_methods[0]); j++)
			if (strcmp(t->text, foreign_methods[j]) == 0)
				return fail(ps, w,
					    "authentication method \"%s\" is not supported in auth_hba_file",
					    t->text);
		return fail(ps, w,
			    "unknown authentication method \"%s\" (expected trust, reject, password, md5, "
			    "scram-sha-256, cert or peer)",
			    t->text);
	}
	r->pub.method = methods[k].method;

	for (i++; i < l->n; i++) {
		const char *eq;

		if (l->fields[i].n != 1)
			return fail(ps, w,
				    "an authentication option must be a single name=value, not a comma list");
		t = &l->fields[i].tok[0];
		eq = strchr(t->text, '=');
		if (!eq)
			return fail(ps, w, "authentication option \"%s\" is not in name=value form", t->text);
		if ((size_t)(eq - t->text) != 3 || strncmp(t->text, "map", 3) != 0)
			return fail(ps, w, "unknown authentication option \"%.*s\" (only map= is supported)",
				    (int)(eq - t->text), t->text);
		if (r->pub.method != PF_HBA_CERT && r->pub.method != PF_HBA_PEER)
			return fail(ps, w, "map= is only valid with the cert and peer methods");
		if (r->pub.map)
			return fail(ps, w, "map= is given twice");
		if (!eq[1])
			return fail(ps, w, "map= needs a map name from auth_ident_file");
		r->pub.map = pf_xstrdup(eq + 1);
	}
	return true;
}

static bool parse_type(struct parse *ps, struct rule *r, const struct pf_conf_token *t, const struct where *w)
{
	static const struct {
		const char *name;
		enum pf_hba_type type;
	} types[] = {
		{ "local", PF_HBA_LOCAL },
		{ "host", PF_HBA_HOST },
		{ "hostssl", PF_HBA_HOSTSSL },
		{ "hostnossl", PF_HBA_HOSTNOSSL },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(t->text, types[i].name) == 0) {
			r->pub.type = types[i].type;
			return true;
		}
	}
	if (strcmp(t->text, "include") == 0 || strcmp(t->text, "include_if_exists") == 0 ||
	    strcmp(t->text, "include_dir") == 0)
		return fail(ps, w,
			    "\"%s\" is not supported (PgBouncer has no include directives): put the rules in "
			    "this file, or names in an @file",
			    t->text);
	if (strcmp(t->text, "hostgssenc") == 0 || strcmp(t->text, "hostnogssenc") == 0)
		return fail(ps, w, "connection type \"%s\" is not supported (PgBouncer has no GSSAPI encryption)",
			    t->text);
	return fail(ps, w, "unknown connection type \"%s\" (expected local, host, hostssl or hostnossl)", t->text);
}

static bool parse_rule(struct parse *ps, struct rule *r, const struct pf_conf_line *l, const struct where *w)
{
	const struct pf_conf_token *t = single(ps, l, 0, "connection type", w);
	size_t method_field = 3;

	r->pub.line = w->line;
	if (!t || !parse_type(ps, r, t, w))
		return false;
	if (l->n < 2)
		return fail(ps, w, "missing database field");
	if (!parse_names(ps, &r->db, &l->fields[1], FIELD_DB, w))
		return false;
	if (l->n < 3)
		return fail(ps, w, "missing user field");
	if (!parse_names(ps, &r->user, &l->fields[2], FIELD_USER, w))
		return false;
	if (r->pub.type != PF_HBA_LOCAL) {
		if (l->n < 4)
			return fail(ps, w, "missing address field");
		if (!parse_address(ps, r, l, &method_field, w))
			return false;
	}
	return parse_method(ps, r, l, method_field, w);
}

void pf_hba_free(struct pf_hba *hba)
{
	if (!hba)
		return;
	for (size_t i = 0; i < hba->n; i++)
		rule_free(&hba->rules[i]);
	free(hba->rules);
	free(hba->local);
	free(hba);
}

/* Copy the bytes of an AF_INET/AF_INET6 sockaddr; false for any other family. */
static bool sockaddr_bytes(const struct sockaddr *sa, int family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

void pf_hba_set_local_addrs(struct pf_hba *hba, const struct pf_hba_ifaddr *addrs, size_t n)
{
	free(hba->local);
	hba->local = pf_xcalloc(n ? n : 1, sizeof(*hba->local));
	hba->n_local = 0;
	for (size_t i = 0; i < n; i++) {
		struct net *e = &hba->local[hba->n_local];

		e->family = addrs[i].addr.ss_family;
		if (!sockaddr_bytes((const struct sockaddr *)&addrs[i].addr, e->family, e->addr))
			continue;
		/* A missing mask (family 0) means the address alone, as getifaddrs can leave it unset. */
		if (addrs[i].mask.ss_family == e->family)
			sockaddr_bytes((const struct sockaddr *)&addrs[i].mask, e->family, e->mask);
		else
			prefix_to_mask(family_bits(e->family), e->mask);
		hba->n_local++;
	}
}

static bool read_local_addrs(struct pf_hba *hba)
{
	struct ifaddrs *list, *ifa;
	struct pf_hba_ifaddr *addrs = NULL;
	size_t n = 0;

	if (getifaddrs(&list) < 0)
		return false;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr ||
		    (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
			continue;
		addrs = pf_xrealloc(addrs, (n + 1) * sizeof(*addrs));
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n].addr, ifa->ifa_addr,
		       ifa->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
							   : sizeof(struct sockaddr_in6));
		if (ifa->ifa_netmask && ifa->ifa_netmask->sa_family == ifa->ifa_addr->sa_family)
			memcpy(&addrs[n].mask, ifa->ifa_netmask,
			       ifa->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
								   : sizeof(struct sockaddr_in6));
		n++;
	}
	freeifaddrs(list);
	pf_hba_set_local_addrs(hba, addrs, n);
	free(addrs);
	return true;
}

struct pf_hba *pf_hba_load(const char *path, char *err, size_t errlen)
{
	struct parse ps = { err, errlen, false };
	struct pf_conf_reader r;
	struct pf_conf_line line;
	struct pf_hba *hba;
	char reason[256];
	int rc, first_ifaddr_line = 0;

	if (pf_conf_open(&r, path) < 0) {
		snprintf(err, errlen, "%s: could not open auth_hba_file: %s", path, strerror(errno));
		return NULL;
	}
	hba = pf_xcalloc(1, sizeof(*hba));
	while ((rc = pf_conf_next(&r, &line, reason, sizeof(reason))) != 0) {
		struct where w = { path, line.lineno, NULL };
		struct rule rule = { 0 };
		bool ok;

		if (rc < 0) {
			fail(&ps, &w, "%s", reason);
			goto bad;
		}
		ok = parse_rule(&ps, &rule, &line, &w);
		pf_conf_line_free(&line);
		if (!ok) {
			rule_free(&rule);
			goto bad;
		}
		if (ps.uses_ifaddrs && !first_ifaddr_line)
			first_ifaddr_line = rule.pub.line;
		hba->rules = pf_xrealloc(hba->rules, (hba->n + 1) * sizeof(*hba->rules));
		hba->rules[hba->n++] = rule;
	}
	pf_conf_close(&r);
	if (ps.uses_ifaddrs && !read_local_addrs(hba)) {
		snprintf(err, errlen, "%s:%d: could not list the local addresses for samehost/samenet: %s", path,
			 first_ifaddr_line, strerror(errno));
		pf_hba_free(hba);
		return NULL;
	}
	return hba;

bad:
	pf_conf_close(&r);
	pf_hba_free(hba);
	return NULL;
}

size_t pf_hba_rule_count(const struct pf_hba *hba)
{
	return hba ? hba->n : 0;
}

/* The client's address in both forms an IPv4 client can take: a.b.c.d and ::ffff:a.b.c.d. */
struct client_addr {
	bool v4, v6;
	uint8_t a4[4], a6[16];
};

static void client_addr_from(const struct sockaddr *sa, struct client_addr *c)
{
	memset(c, 0, sizeof(*c));
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		c->v4 = true;
		memcpy(c->a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		c->v6 = true;
		memcpy(c->a6, a6, 16);
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			c->v4 = true;
			memcpy(c->a4, c->a6 + 12, 4);
		}
	}
}

static bool in_net(const struct client_addr *c, const struct net *n, bool exact)
{
	const uint8_t *a;
	size_t len;

	if (n->family == AF_INET && c->v4) {
		a = c->a4;
		len = 4;
	} else if (n->family == AF_INET6 && c->v6) {
		a = c->a6;
		len = 16;
	} else {
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if ((a[i] ^ n->addr[i]) & (exact ? 0xff : n->mask[i]))
			return false;
	return true;
}

static bool addr_matches(const struct pf_hba *hba, const struct rule *r, const struct client_addr *c)
{
	switch (r->addr_kind) {
	case ADDR_ALL:
		return true;
	case ADDR_CIDR:
		return in_net(c, &r->net, false);
	case ADDR_SAMEHOST:
	case ADDR_SAMENET:
		for (size_t i = 0; i < hba->n_local; i++)
			if (in_net(c, &hba->local[i], r->addr_kind == ADDR_SAMEHOST))
				return true;
		return false;
	case ADDR_NONE:
		break;
	}
	return false;
}

static bool name_in(const struct name_set *s, const char *name)
{
	return s->n && bsearch(&name, s->names, s->n, sizeof(*s->names), cmp_str);
}

/* PostgreSQL's rule: physical replication matches only `replication`, which nothing else matches. */
static bool db_matches(const struct name_set *s, const char *db, const char *user, bool replication)
{
	if (replication)
		return s->flags & NAME_REPLICATION;
	if (s->flags & NAME_ALL)
		return true;
	if ((s->flags & NAME_SAMEUSER) && strcmp(db, user) == 0)
		return true;
	return name_in(s, db);
}

static bool type_matches(enum pf_hba_type type, enum pf_conn_kind kind, bool tls)
{
	switch (type) {
	case PF_HBA_LOCAL:
		return kind == PF_CONN_UNIX;
	case PF_HBA_HOST:
		return kind == PF_CONN_TCP;
	case PF_HBA_HOSTSSL:
		return kind == PF_CONN_TCP && tls;
	case PF_HBA_HOSTNOSSL:
		return kind == PF_CONN_TCP && !tls;
	}
	return false;
}

const struct pf_hba_rule *pf_hba_match(const struct pf_hba *hba, enum pf_conn_kind kind, bool tls,
				       const struct sockaddr *addr, const char *dbname, const char *username,
				       bool is_replication)
{
	struct client_addr c;

	if (!hba)
		return NULL;
	client_addr_from(kind == PF_CONN_TCP ? addr : NULL, &c);
	for (size_t i = 0; i < hba->n; i++) {
		const struct rule *r = &hba->rules[i];

		if (!type_matches(r->pub.type, kind, tls))
			continue;
		if (kind == PF_CONN_TCP && !addr_matches(hba, r, &c))
			continue;
		if (!db_matches(&r->db, dbname, username, is_replication))
			continue;
		if (!(r->user.flags & NAME_ALL) && !name_in(&r->user, username))
			continue;
		return &r->pub;
	}
	return NULL;
}
