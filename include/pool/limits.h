/*
 * limits.h - the effective settings of a pool, and the limits that decide whether it may
 * open a server or take a client.
 *
 * Most settings exist at three levels: [users] wins over [databases], which wins over
 * [pgbouncer]. Which levels a key has follows PgBouncer (COMPAT.md).
 */
#ifndef PF_POOL_LIMITS_H
#define PF_POOL_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

struct pf_pool;
struct pf_database;
struct pf_user;

/* Sizes and mode ([users], else [databases], else global; pool_size 0 = unlimited). */
int pf_pool_mode(const struct pf_pool *pool);
int pf_pool_size(const struct pf_pool *pool);
int pf_pool_min_size(const struct pf_pool *pool);
int pf_pool_reserve_size(const struct pf_pool *pool);

/* Timeouts, in microseconds; 0 = off. */
usec_t pf_pool_server_lifetime(const struct pf_pool *pool);    /* [databases], else global */
usec_t pf_pool_query_wait_timeout(const struct pf_pool *pool); /* [users], [databases], global */
usec_t pf_pool_query_timeout(const struct pf_pool *pool);      /* [users], else global */
usec_t pf_pool_idle_transaction_timeout(const struct pf_pool *pool);
usec_t pf_pool_transaction_timeout(const struct pf_pool *pool);
usec_t pf_pool_client_idle_timeout(const struct pf_pool *pool);

/* Connection limits (0 = none) and what counts against them. */
int pf_db_max_connections(const struct pf_database *db);
int pf_db_max_client_connections(const struct pf_database *db);
int pf_user_max_connections(const struct pf_user *user);
int pf_user_max_client_connections(const struct pf_user *user);
int pf_db_server_count(const struct pf_database *db);
int pf_db_client_count(const struct pf_database *db);
int pf_user_server_count(const struct pf_user *user);

int pf_pool_server_count(const struct pf_pool *pool);
int pf_pool_client_count(const struct pf_pool *pool);

/* Why a pool may not open a server now. */
enum pf_launch_block {
	LAUNCH_OK,
	LAUNCH_BUSY,          /* shutting down, a login in progress, or waiting server_login_retry */
	LAUNCH_POOL_FULL,     /* pool_size reached */
	LAUNCH_DB_FULL,       /* max_db_connections reached */
	LAUNCH_USER_FULL,     /* max_user_connections reached */
};
/* May this pool open one more server connection now (reserve = past pool_size)? */
enum pf_launch_block pf_pool_launch_check(const struct pf_pool *pool, bool reserve);
bool pf_pool_may_launch(const struct pf_pool *pool);
/* May the pool open a reserve server, its oldest client having waited this long? */
bool pf_pool_may_use_reserve(const struct pf_pool *pool, uint64_t oldest_wait_usec);
/* The same once a client waited long enough: the reserve's size and ceiling, and the
 * database and user limits (a tenant's own reserve_pool_timeout was checked by the caller). */
bool pf_pool_reserve_room(const struct pf_pool *pool);

#endif
