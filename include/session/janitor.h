/*
 * janitor.h - periodic pool upkeep: min_pool_size, server_idle_timeout, server_lifetime.
 */
#ifndef PF_SESSION_JANITOR_H
#define PF_SESSION_JANITOR_H

struct pf_pool;

void pf_janitor_start(void);
void pf_janitor_stop(void);
/* Open a server if the pool is below min_pool_size and may open one now. */
void pf_janitor_fill_pool(struct pf_pool *pool);

#endif
