/*
 * admin.h - the admin console: the virtual database "pgbouncer" (or "pgfjord") that answers
 * SHOW and control commands over the simple query protocol, as PgBouncer's does.
 */
#ifndef PF_ADMIN_ADMIN_H
#define PF_ADMIN_ADMIN_H

#include <stdbool.h>

#include "util/buf.h"

struct pf_client;

/* Register the console with the session layer; start its timers. */
void pf_admin_init(void);
void pf_admin_shutdown(void);

/* console.c: run one command line; results (or an error) go to out. */
void pf_admin_run(struct pf_client *client, const char *sql, struct pf_buf *out);

/* show.c: SHOW <what>; false when there is no such SHOW command. */
bool pf_admin_show(struct pf_client *client, const char *what, const char *arg, struct pf_buf *out);
/* show_tenants.c: SHOW TENANTS (pgfjord's own). */
void pf_admin_show_tenants(struct pf_buf *out);

/* stats.c: recompute the averages every stats_period and write the log_stats line. */
void pf_admin_stats_start(void);
void pf_admin_stats_stop(void);
/* stats_period changed. */
void pf_admin_stats_restart(void);

#endif
