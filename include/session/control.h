/*
 * control.h - what the console's control commands do to connections: pause, resume, kill,
 * reconnect. db = NULL means every database (the console's own excepted).
 */
#ifndef PF_SESSION_CONTROL_H
#define PF_SESSION_CONTROL_H

#include <stdint.h>

struct pf_database;
struct pf_client;

/* PAUSE set the flags: close the idle servers now (busy ones close as they come free). */
void pf_control_pause(struct pf_database *db);
/* RESUME cleared the flags: give servers to the waiting clients. */
void pf_control_resume(struct pf_database *db);
/* Servers still busy (linked, cleaning up, logging in): PAUSE is done at 0. */
int pf_control_busy_servers(struct pf_database *db);
/* KILL: drop the clients and servers. */
void pf_control_kill(struct pf_database *db, const char *reason);
/* RECONNECT: close servers as they come free; idle ones now. */
void pf_control_reconnect(struct pf_database *db);
/* Servers marked by RECONNECT (or a config change) still open: WAIT_CLOSE is done at 0. */
int pf_control_close_needed(struct pf_database *db);
/* A client by its SHOW CLIENTS id, or NULL. */
struct pf_client *pf_control_find_client(uint64_t id);

#endif
