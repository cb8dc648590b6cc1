/**
 * Canon's MCP server: a project's pinned context (or a whole space) as
 * resources and prompts, stamping, corrections and verification as tools,
 * and live updates from the relay as MCP notifications. `canon mcp` runs it
 * as its home's owner (docs/decisions/2026-11-29-mcp.md).
 */
export { CLIENT_NAMES, type ClientName, clientConfig, type ServerLaunch } from "./client-config.js";
export { type ServeMcpOptions, serveMcp } from "./serve-mcp.js";
export type { ServedScope } from "./served-context.js";
