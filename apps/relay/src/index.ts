export type { ServerHealth } from "./health.js";
export { type RelayServer, type RelayServerOptions, startRelayServer } from "./relay-server.js";
