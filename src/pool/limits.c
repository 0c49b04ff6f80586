/* limits.c - effective per-pool settings and the connection limits (see limits.h). */
#include "pool/limits.h"

#include "pool/pool.h"

/* A [users] value if set (>= 0), else a [databases] one if set, else the global one. */
#define PICK3(uc_field, db_field, global)                                        \
	(uc && (uc)->uc_field >= 0 ? (uc)->uc_field                                \
	 : pool->db->db_field >= 0 ? pool->db->db_field                            \
				    : (global))

int pf_pool_mode(const struct pf_pool *pool)
{
	const struct pf_user_conf *uc = pool->user->conf;
	if (uc && uc->pool_mode != POOL_MODE_UNSET)
		return uc->pool_mode;
	if (pool->db->pool_mode != POOL_MODE_UNSET)
		return pool->db->pool_mode;
	return pf_state.set->pool_mode;
}

int pf_pool_size(const struct pf_pool *pool)
{
	const struct pf_user_conf *uc = pool->user->conf;
	return PICK3(pool_size, pool_size, pf_state.set->default_pool_size);
}

int pf_pool_min_size(const struct pf_pool *pool)
{
	return pool->db->min_pool_size >= 0 ? pool->db->min_pool_size : pf_state.set->min_pool_size;
}

int pf_pool_reserve_size(const struct pf_pool *pool)
{
	const struct pf_user_conf *uc = pool->user->conf;
	return PICK3(reserve_pool_size, reserve_pool_size, pf_state.set->reserve_pool_size);
}

usec_t pf_pool_server_lifetime(const struct pf_pool *pool)
{
	return pool->db->server_lifetime >= 0 ? pool->db->server_lifetime : pf_state.set->server_lifetime;
}

usec_t pf_pool_query_wait_timeout(const struct pf_pool *pool)
{
	const struct pf_user_conf *uc = pool->user->conf;
	return PICK3(query_wait_timeout, query_wait_timeout, pf_state.set->query_wait_timeout);
}

/* Keys that exist in [users] and [pgbouncer] only. */
#define USER_OR_GLOBAL(field)                                      \
	const struct pf_user_conf *uc = pool->user->conf;          \
	return uc && uc->field >= 0 ? uc->field : pf_state.set->field

usec_t pf_pool_query_timeout(const struct pf_pool *pool)
{
	USER_OR_GLOBAL(query_timeout);
}

usec_t pf_pool_idle_transaction_timeout(const struct pf_pool *pool)
{
	USER_OR_GLOBAL(idle_transaction_timeout);
}

usec_t pf_pool_transaction_timeout(const struct pf_pool *pool)
{
	USER_OR_GLOBAL(transaction_timeout);
}

usec_t pf_pool_client_idle_timeout(const struct pf_pool *pool)
{
	USER_OR_GLOBAL(client_idle_timeout);
}

int pf_db_max_connections(const struct pf_database *db)
{
	return db->max_db_connections >= 0 ? db->max_db_connections : pf_state.set->max_db_connections;
}

int pf_db_max_client_connections(const struct pf_database *db)
{
	return db->max_db_client_connections >= 0 ? db->max_db_client_connections
						   : pf_state.set->max_db_client_connections;
}

int pf_user_max_connections(const struct pf_user *user)
{
	const struct pf_user_conf *uc = user->conf;
	return uc && uc->max_user_connections >= 0 ? uc->max_user_connections : pf_state.set->max_user_connections;
}

int pf_user_max_client_connections(const struct pf_user *user)
{
	const struct pf_user_conf *uc = user->conf;
	return uc && uc->max_user_client_connections >= 0 ? uc->max_user_client_connections
							   : pf_state.set->max_user_client_connections;
}

int pf_pool_server_count(const struct pf_pool *pool)
{
	return statlist_count(&pool->active_servers) + statlist_count(&pool->idle_servers) +
	       statlist_count(&pool->used_servers) + statlist_count(&pool->tested_servers) +
	       statlist_count(&pool->login_servers);
}

int pf_pool_client_count(const struct pf_pool *pool)
{
	return statlist_count(&pool->active_clients) + statlist_count(&pool->waiting_clients) +
	       statlist_count(&pool->welcome_clients);
}

/* The counts walk the pools: there are few, and they are only needed when a limit is set. */
int pf_db_server_count(const struct pf_database *db)
{
	int n = 0;
	struct list_head *pos;
	list_for_each(pos, &db->pools) {
		n += pf_pool_server_count(container_of(pos, struct pf_pool, db_node));
	}
	return n;
}

int pf_db_client_count(const struct pf_database *db)
{
	int n = 0;
	struct list_head *pos;
	list_for_each(pos, &db->pools) {
		n += pf_pool_client_count(container_of(pos, struct pf_pool, db_node));
	}
	return n;
}

int pf_user_server_count(const struct pf_user *user)
{
	int n = 0;
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (pool->user == user)
			n += pf_pool_server_count(pool);
	}
	return n;
}

enum pf_launch_block pf_pool_launch_check(const struct pf_pool *pool, bool reserve)
{
	if (pf_state.shutting_down)
		return LAUNCH_BUSY;
	/* One login at a time per pool, as PgBouncer does. */
	if (statlist_count(&pool->login_servers) > 0)
		return LAUNCH_BUSY;
	if (pool->last_login_failed &&
	    pf_usec_now() - pool->last_login_fail_usec < (uint64_t)pf_state.set->server_login_retry)
		return LAUNCH_BUSY;
	int size = pf_pool_size(pool);
	if (size > 0 && pf_pool_server_count(pool) >= size + (reserve ? pf_pool_reserve_size(pool) : 0))
		return LAUNCH_POOL_FULL;
	int max_db = pf_db_max_connections(pool->db);
	if (max_db > 0 && pf_db_server_count(pool->db) >= max_db)
		return LAUNCH_DB_FULL;
	int max_user = pf_user_max_connections(pool->user);
	if (max_user > 0 && pf_user_server_count(pool->user) >= max_user)
		return LAUNCH_USER_FULL;
	return LAUNCH_OK;
}

bool pf_pool_may_launch(const struct pf_pool *pool)
{
	return pf_pool_launch_check(pool, false) == LAUNCH_OK;
}

/*
 * COMPAT.md's reserve-pool rule: past pool_size, one more server may open when
 * reserve_pool_timeout > 0, the reserve size > 0 and the oldest waiting client has waited
 * reserve_pool_timeout; never beyond pool_size + reserve_pool_size, and the database and
 * user limits still bind.
 */
bool pf_pool_may_use_reserve(const struct pf_pool *pool, uint64_t oldest_wait_usec)
{
	usec_t timeout = pf_state.set->reserve_pool_timeout;
	if (timeout <= 0 || oldest_wait_usec < (uint64_t)timeout)
		return false;
	return pf_pool_reserve_room(pool);
}

bool pf_pool_reserve_room(const struct pf_pool *pool)
{
	if (pf_pool_size(pool) == 0 || pf_pool_reserve_size(pool) <= 0)
		return false;
	return pf_pool_launch_check(pool, true) == LAUNCH_OK;
}
