/*
 * cancel.h - forwarding a client's CancelRequest to the server it is using now.
 */
#ifndef PF_SESSION_CANCEL_H
#define PF_SESSION_CANCEL_H

#include <stdint.h>

/* pid/key are the BackendKeyData pgfjord gave the client; unknown keys are ignored. */
void pf_cancel_forward(uint32_t pid, uint32_t key);
/* Ask PostgreSQL to cancel what this server connection is running (a new connection). */
struct pf_server;
void pf_cancel_server(struct pf_server *server);
void pf_cancel_shutdown(void);

#endif
