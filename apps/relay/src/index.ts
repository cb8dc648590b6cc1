export type { AccessGrant } from "./access/access-grant.js";
export { RelayTokens } from "./access/relay-tokens.js";
export { MIN_TOKEN_LENGTH, parseTokensFile, readTokensFile } from "./access/tokens-file.js";
export type { ServerHealth } from "./health.js";
export {
  DEFAULT_LIMITS,
  LIMIT_SETTINGS,
  type LimitOverrides,
  parseLimit,
  type RelayLimits,
} from "./limits.js";
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
export { redactedDatabaseUrl } from "./storage/database-url.js";
