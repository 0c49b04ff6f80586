/*
 * userlist.h - the auth_file (PgBouncer's userlist.txt): one `"user" "secret"` per line.
 *
 * Inside the quotes, "" stands for one '"'. Fields after the secret are ignored. Blank
 * lines and lines starting with ';' or '#' (after optional spaces) are comments. When a
 * user appears twice, the later line wins.
 */
#ifndef PF_CONFIG_USERLIST_H
#define PF_CONFIG_USERLIST_H

#include <stddef.h>

struct pf_auth_entry {
	char *name;
	char *secret;
};

struct pf_userlist {
	struct pf_auth_entry *entries; /* sorted by name, names unique */
	size_t n;
};

/* Load `path`. NULL on error, with err = "file:line: reason" (or "file: reason"). */
struct pf_userlist *pf_userlist_load(const char *path, char *err, size_t errlen);
void pf_userlist_free(struct pf_userlist *list);

/* The secret of `name`, or NULL. Binary search: cheap with many thousands of users. */
const char *pf_userlist_find(const struct pf_userlist *list, const char *name);

enum pf_secret_type { SECRET_PLAIN, SECRET_MD5, SECRET_SCRAM };

/* "md5" + 32 hex digits = MD5; "SCRAM-SHA-256$..." = SCRAM; anything else is plain. */
enum pf_secret_type pf_secret_type(const char *secret);

#endif
