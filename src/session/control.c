/* control.c - the effects of PAUSE, RESUME, KILL, RECONNECT on connections. */
#include "session/control.h"

#include "session/client.h"
#include "session/link.h"
#include "session/server.h"

static bool pool_matches(const struct pf_pool *pool, const struct pf_database *db)
{
	return db ? pool->db == db : !pool->db->is_admin;
}

static void close_servers(struct stat_list *list, const char *reason)
{
	struct list_head *pos, *tmp;
	statlist_for_each_safe(pos, tmp, list) {
		pf_server_close(container_of(pos, struct pf_server, node), reason);
	}
}

void pf_control_pause(struct pf_database *db)
{
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (pool_matches(pool, db))
			close_servers(&pool->idle_servers, "pause mode");
	}
}

void pf_control_resume(struct pf_database *db)
{
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (!pool_matches(pool, db))
			continue;
		/* Waiting clients get idle servers first, then new ones are opened. A pool with
		 * tenants does both in maybe_launch: its waiters may be held back by their tenant's
		 * cap, and an idle server nobody may take would come straight back here. */
		struct list_head *item;
		while (!pool->tenants && statlist_count(&pool->waiting_clients) &&
		       (item = statlist_last(&pool->idle_servers)))
			pf_link_server_ready(container_of(item, struct pf_server, node));
		pf_link_maybe_launch(pool);
	}
}

int pf_control_busy_servers(struct pf_database *db)
{
	int n = 0;
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (pool_matches(pool, db))
			n += pf_pool_server_count(pool) - statlist_count(&pool->idle_servers);
	}
	return n;
}

/* Servers still in use (not idle): mark them for closing when `mark`; count the marked ones. */
static int walk_busy_servers(struct pf_database *db, bool mark)
{
	int marked = 0;
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (!pool_matches(pool, db))
			continue;
		struct stat_list *servers[PF_SERVER_LISTS];
		pf_pool_server_lists(pool, servers);
		for (int i = 0; i < PF_SERVER_LISTS; i++) {
			if (i == PF_IDLE_LIST)
				continue;
			struct list_head *pos, *tmp;
			statlist_for_each_safe(pos, tmp, servers[i]) {
				struct pf_server *server = container_of(pos, struct pf_server, node);
				if (mark)
					server->close_needed = true;
				marked += server->close_needed;
			}
		}
	}
	return marked;
}

void pf_control_kill(struct pf_database *db, const char *reason)
{
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (!pool_matches(pool, db))
			continue;
		struct stat_list *clients[PF_CLIENT_LISTS];
		pf_pool_client_lists(pool, clients);
		for (int i = 0; i < PF_CLIENT_LISTS; i++) {
			struct list_head *pos, *tmp;
			statlist_for_each_safe(pos, tmp, clients[i]) {
				pf_client_disconnect(container_of(pos, struct pf_client, node), "08P01", "%s", reason);
			}
		}
		struct stat_list *servers[PF_SERVER_LISTS];
		pf_pool_server_lists(pool, servers);
		for (int i = 0; i < PF_SERVER_LISTS; i++)
			close_servers(servers[i], reason);
	}
}

void pf_control_reconnect(struct pf_database *db)
{
	walk_busy_servers(db, true);
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		if (pool_matches(pool, db))
			close_servers(&pool->idle_servers, "database configuration changed");
	}
}

int pf_control_close_needed(struct pf_database *db)
{
	return walk_busy_servers(db, false);
}

struct pf_client *pf_control_find_client(uint64_t id)
{
	struct pf_pool *pool;
	pf_for_each_pool(pool) {
		struct stat_list *clients[PF_CLIENT_LISTS];
		pf_pool_client_lists(pool, clients);
		for (int i = 0; i < PF_CLIENT_LISTS; i++) {
			struct list_head *pos, *tmp;
			statlist_for_each_safe(pos, tmp, clients[i]) {
				struct pf_client *client = container_of(pos, struct pf_client, node);
				if (client->id == id)
					return client;
			}
		}
	}
	return NULL;
}
