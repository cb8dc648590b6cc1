export type { AccessGrant } from "./access/access-grant.js";
export { RelayTokens } from "./access/relay-tokens.js";
export { MIN_TOKEN_LENGTH, parseTokensFile, readTokensFile } from "./access/tokens-file.js";
export { databasePoolOf, parseEvictAfterSeconds } from "./config.js";
export { parseTrustedProxies, type TrustedProxies } from "./guard/client-address.js";
export type { ServerHealth } from "./health.js";
export {
  DEFAULT_LIMITS,
  LIMIT_SETTINGS,
  type LimitOverrides,
  parseLimit,
  type RelayLimits,
} from "./limits.js";
export { DEFAULT_IDLE_EVICTION_MS } from "./memory/idle-eviction.js";
export type { RefusalReason } from "./metrics.js";
export {
  createRelayLog,
  DEFAULT_LOG_LEVEL,
  isLogLevel,
  LOG_LEVELS,
  type LogLevel,
  parseLogLevel,
  type RelayEvent,
  type RelayLog,
} from "./relay-log.js";
export { type RelayServer, type RelayServerOptions, startRelayServer } from "./relay-server.js";
export { parseDatabaseUrl, redactedDatabaseUrl } from "./storage/database-url.js";
