/*
 * dns_watch.h - server connections follow the addresses of their host names.
 */
#ifndef PF_SESSION_DNS_WATCH_H
#define PF_SESSION_DNS_WATCH_H

/* Hook into the resolver and start the once-a-second refresh of names in use. */
void pf_dns_watch_start(void);
void pf_dns_watch_stop(void);

#endif
