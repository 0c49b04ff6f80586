/*
 * client_hba.h - auth_type = hba: which method a login gets from auth_hba_file, and the
 * identity checks of the cert and peer methods (with auth_ident_file maps).
 */
#ifndef PF_SESSION_CLIENT_HBA_H
#define PF_SESSION_CLIENT_HBA_H

#include <stdbool.h>

struct pf_client;

/* The method (an AUTH_TYPE_*) and map= of the first matching line; false when the
 * login was refused (no line matches), the client then being disconnected. */
bool pf_client_hba_method(struct pf_client *client, const char *user_name, int *auth_type, const char **map);
/* The OS user on the other end of a Unix socket (caller frees), or NULL. */
char *pf_client_peer_user(const struct pf_client *client);
/* May `identity` (certificate CN, OS user) log in as `user`? Without a map it must be equal. */
bool pf_client_identity_allowed(const char *map, const char *identity, const char *user);

#endif
