/*
 * list.h - intrusive doubly linked lists (circular, with a head node).
 * A connection's state is the list it is on, so counts are list lengths.
 */
#ifndef PF_UTIL_LIST_H
#define PF_UTIL_LIST_H

#include <stddef.h>
#include <stdbool.h>

struct list_head {
	struct list_head *next, *prev;
};

struct stat_list {
	struct list_head head;
	int count;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list_head *h) { h->next = h->prev = h; }
static inline bool list_empty(const struct list_head *h) { return h->next == h; }
static inline void list_add_tail(struct list_head *h, struct list_head *n)
{
	n->prev = h->prev; n->next = h; h->prev->next = n; h->prev = n;
}
static inline void list_add_head(struct list_head *h, struct list_head *n)
{
	n->next = h->next; n->prev = h; h->next->prev = n; h->next = n;
}
static inline void list_del(struct list_head *n)
{
	n->prev->next = n->next; n->next->prev = n->prev; list_init(n);
}
static inline struct list_head *list_first(struct list_head *h) { return list_empty(h) ? NULL : h->next; }
static inline struct list_head *list_last(struct list_head *h) { return list_empty(h) ? NULL : h->prev; }

static inline void statlist_init(struct stat_list *l) { list_init(&l->head); l->count = 0; }
static inline void statlist_append(struct stat_list *l, struct list_head *n) { list_add_tail(&l->head, n); l->count++; }
static inline void statlist_prepend(struct stat_list *l, struct list_head *n) { list_add_head(&l->head, n); l->count++; }
static inline void statlist_remove(struct stat_list *l, struct list_head *n) { list_del(n); l->count--; }
static inline struct list_head *statlist_first(struct stat_list *l) { return list_first(&l->head); }
static inline struct list_head *statlist_last(struct stat_list *l) { return list_last(&l->head); }
static inline int statlist_count(const struct stat_list *l) { return l->count; }

#define list_for_each_safe(pos, tmp, h) for (pos = (h)->next, tmp = pos->next; pos != (h); pos = tmp, tmp = pos->next)
#define list_for_each(pos, h) for (pos = (h)->next; pos != (h); pos = pos->next)
#define statlist_for_each_safe(pos, tmp, l) list_for_each_safe(pos, tmp, &(l)->head)

#endif
