/*
 * proto.h - constants of the PostgreSQL frontend/backend protocol v3.
 *
 * Every regular message is a type byte, an int32 length that counts itself but not the
 * type byte, and a body. Startup-phase packets (StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest) have no type byte: int32 length, int32 code, body.
 */
#ifndef PF_PROTO_PROTO_H
#define PF_PROTO_PROTO_H

/* Length of the header of a regular message (type byte + int32 length). */
#define PF_MSG_HEADER_LEN 5

/* Startup-phase codes (the int32 after the length). */
#define PF_PROTO_V3 196608 /* 3 << 16 | 0 */
#define PF_PROTO_MAJOR(code) ((int)((unsigned)(code) >> 16))
#define PF_PROTO_MINOR(code) ((int)((unsigned)(code) & 0xffff))
#define PF_CANCEL_REQUEST_CODE 80877102 /* 1234 << 16 | 5678 */
#define PF_SSL_REQUEST_CODE 80877103 /* 1234 << 16 | 5679 */
#define PF_GSSENC_REQUEST_CODE 80877104 /* 1234 << 16 | 5680 */
#define PF_CANCEL_REQUEST_LEN 16

/* A startup packet larger than this is refused (PostgreSQL's MAX_STARTUP_PACKET_LENGTH). */
#define PF_MAX_STARTUP_PACKET 10000

/* Messages sent by the backend (server -> client). */
#define PF_BE_AUTH 'R'
#define PF_BE_BACKEND_KEY 'K'
#define PF_BE_BIND_COMPLETE '2'
#define PF_BE_CLOSE_COMPLETE '3'
#define PF_BE_COMMAND_COMPLETE 'C'
#define PF_BE_COPY_BOTH 'W'
#define PF_BE_COPY_DATA 'd'
#define PF_BE_COPY_DONE 'c'
#define PF_BE_COPY_IN 'G'
#define PF_BE_COPY_OUT 'H'
#define PF_BE_DATA_ROW 'D'
#define PF_BE_EMPTY_QUERY 'I'
#define PF_BE_ERROR 'E'
#define PF_BE_FUNCTION_RESULT 'V'
#define PF_BE_NEGOTIATE_PROTOCOL 'v'
#define PF_BE_NO_DATA 'n'
#define PF_BE_NOTICE 'N'
#define PF_BE_NOTIFICATION 'A'
#define PF_BE_PARAM_DESCRIPTION 't'
#define PF_BE_PARAM_STATUS 'S'
#define PF_BE_PARSE_COMPLETE '1'
#define PF_BE_PORTAL_SUSPENDED 's'
#define PF_BE_READY_FOR_QUERY 'Z'
#define PF_BE_ROW_DESCRIPTION 'T'

/* Messages sent by the frontend (client -> server). */
#define PF_FE_BIND 'B'
#define PF_FE_CLOSE 'C'
#define PF_FE_COPY_DATA 'd'
#define PF_FE_COPY_DONE 'c'
#define PF_FE_COPY_FAIL 'f'
#define PF_FE_DESCRIBE 'D'
#define PF_FE_EXECUTE 'E'
#define PF_FE_FLUSH 'H'
#define PF_FE_FUNCTION_CALL 'F'
#define PF_FE_PARSE 'P'
#define PF_FE_PASSWORD 'p' /* also GSSResponse, SASLInitialResponse, SASLResponse */
#define PF_FE_QUERY 'Q'
#define PF_FE_SYNC 'S'
#define PF_FE_TERMINATE 'X'

/* Authentication request codes (first int32 of an 'R' message). */
#define PF_AUTH_OK 0
#define PF_AUTH_KERBEROS_V5 2
#define PF_AUTH_CLEARTEXT 3
#define PF_AUTH_MD5 5
#define PF_AUTH_GSS 7
#define PF_AUTH_GSS_CONTINUE 8
#define PF_AUTH_SSPI 9
#define PF_AUTH_SASL 10
#define PF_AUTH_SASL_CONTINUE 11
#define PF_AUTH_SASL_FINAL 12

/* ReadyForQuery transaction status bytes. */
#define PF_TXN_IDLE 'I'
#define PF_TXN_IN_BLOCK 'T'
#define PF_TXN_FAILED 'E'

#endif
