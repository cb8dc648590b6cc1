/**
 * The WebSocket close code a relay sends when the connection's token may not
 * do what it just asked (a document of another space, or a write with a
 * read-only token). Codes 4000–4999 belong to the application, so a client
 * tells this refusal apart from a relay that stopped (1001) or a peer that
 * broke the protocol (1008), and reports `RELAY_REFUSED` instead of "lost the
 * connection". The close reason says what was refused.
 */
export const ACCESS_REFUSED_CLOSE_CODE = 4403;
