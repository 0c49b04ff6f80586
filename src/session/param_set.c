/* param_set.c - follow a client's SET of an unreported tracked parameter (param_set.h). */
#include "session/param_set.h"

#include <stdio.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/sqlcmd.h"
#include "session/client.h"
#include "session/server.h"

void pf_param_set_seen(struct pf_server *server, const struct pf_pkt *pkt)
{
	char name[PF_SQLCMD_NAME_MAX], value[PF_SQLCMD_VALUE_MAX];
	if (!pkt->full)
		return; /* such a command is a few bytes: not one */
	/* A Query's text is its body; an unnamed Parse's starts after the empty name. */
	const char *text = (const char *)pkt->body + (pkt->type == PF_FE_PARSE);
	size_t len = pkt->body_len - (pkt->type == PF_FE_PARSE);
	enum pf_sqlcmd_set cmd = pf_sqlcmd_parse_set(text, len, name, value);
	if (cmd == PF_SQLCMD_SET_OTHER)
		return;
	int idx = pf_tracked_index(name);
	if (idx < 0 || !pf_tracked_unreported(idx))
		return; /* reported ones come back as ParameterStatus */
	server->set_idx = (int8_t)idx;
	snprintf(server->set_value, sizeof(server->set_value), "%s", cmd == PF_SQLCMD_SET ? value : "");
	/* Its ReadyForQuery: the Query's own (counted already), or the next Sync's. */
	server->set_z = (uint8_t)(server->expect_rfq + (pkt->type == PF_FE_PARSE));
}

void pf_param_set_answered(struct pf_server *server, char before, char status, bool failed)
{
	struct pf_client *client = server->link;
	/* Outside a block and without an error, the SET was committed with the statement. */
	if (!client || failed || before != PF_TXN_IDLE || status != PF_TXN_IDLE)
		return;
	/* "" is the default: unknown, which link_pair turns into a RESET elsewhere. */
	const char *value = server->set_value[0] ? server->set_value : NULL;
	pf_tracked_set(&client->params, server->set_idx, value);
	pf_tracked_set(&server->params, server->set_idx, value);
}
