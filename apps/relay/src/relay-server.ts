import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type PeerId, Repo } from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import { type RelayEndpoint, SYNC_DEBOUNCE_MS, WritesInFlight } from "@canon/store";
import { WebSocketServer } from "ws";
import { RelayTokens } from "./access/relay-tokens.js";
import { SpaceAccess } from "./access/space-access.js";
import { grantOf } from "./auth.js";
import { AddressConnections } from "./guard/address-connections.js";
import { requestAddresses, type TrustedProxies } from "./guard/client-address.js";
import { DocumentSizes } from "./guard/document-sizes.js";
import { GuardedServerAdapter, peerBudgets } from "./guard/guarded-server-adapter.js";
import { HeadsRequests } from "./guard/heads-requests.js";
import { HeadsCache, reportingWrites } from "./heads-cache.js";
import { headsSummary } from "./heads-summary.js";
import { answerHttp, type HealthCheck, healthOf, type ServerHealth } from "./health.js";
import { type LimitOverrides, limitsWith } from "./limits.js";
import { DEFAULT_IDLE_EVICTION_MS, IdleEviction } from "./memory/idle-eviction.js";
import { RelayMetrics } from "./metrics.js";
import { PeerRelayClient } from "./peering/peer-relay-client.js";
import { createRelayLog, DEFAULT_LOG_LEVEL, type LogLevel, type RelayLog } from "./relay-log.js";
import { requestTarget } from "./request-target.js";
import { sendSpaceDocuments } from "./space-documents.js";
import { openDirectoryStorage } from "./storage/directory-storage.js";
import { DocumentFlushes } from "./storage/document-flushes.js";
import type { PostgresFanout } from "./storage/postgres-fanout.js";
import type { PostgresPoolOptions, StorageTimeout } from "./storage/postgres-storage.js";
import type { RelayStorage } from "./storage/relay-storage.js";
import { storageTimeoutReporter } from "./storage/storage-timeouts.js";

/** How to run a relay (or serve a replica). */
export interface RelayServerOptions {
  /**
   * How often each peer is pinged, in ms; one that neither answered the last
   * ping nor sent anything since is dropped (30 s by default, see
   * `guard/guarded-server-adapter.ts`). Shorter only in tests.
   */
  readonly keepAliveMs?: number | undefined;
  /**
   * Where documents are stored (a relay's data dir, or a home's replica/);
   * required unless `databaseUrl` is given.
   */
  readonly storageDirectory?: string | undefined;
  /**
   * A PostgreSQL URL: store documents in that database instead of a
   * directory, shared with every other relay given the same URL (changes
   * reach each other's clients through LISTEN/NOTIFY). Never logged with its password.
   */
  readonly databaseUrl?: string | undefined;
  /**
   * With `databaseUrl`: the connections for reads and for writes, and how
   * long a request waits for one and a statement runs before it is logged
   * (`storage-timeout`), counted (`canon_relay_storage_timeouts_total`) and
   * tried again; `DEFAULT_POOL_OPTIONS` (6 and 4, 10 s and 30 s) unless given.
   */
  readonly databasePool?: Omit<PostgresPoolOptions, "onTimeout"> | undefined;
  /** TCP port for WebSocket sync and `/healthz`; 0 picks a free one. */
  readonly port: number;
  /** Address to listen on; 127.0.0.1 (this machine only) when absent. */
  readonly host?: string;
  /** When set, connections without this token are refused before any document is exchanged. */
  readonly token?: string | undefined;
  /**
   * Tokens per space (read from a tokens file by `readTokensFile`); `token`
   * is then the admin token, which opens every space. The `token` given
   * here must be the one the tokens were parsed with.
   */
  readonly spaceTokens?: RelayTokens | undefined;
  /** Other relays to sync with, so an organisation can run several. */
  readonly peers?: readonly RelayEndpoint[];
  /** A prefix for this server's peer id, for logs. */
  readonly name?: string;
  /** Limits on what one connection may send and how large a document may grow; defaults in `limits.ts`. */
  readonly limits?: LimitOverrides;
  /**
   * A document with no message about it for this long leaves the relay's
   * memory (it stays stored, and is loaded again when asked for); 60 s when
   * absent, never when 0. See `memory/idle-eviction.ts`.
   */
  readonly idleEvictionMs?: number | undefined;
  /** How much to log (JSON lines on stderr); `warn` when absent. Ignored when `log` is given. */
  readonly logLevel?: LogLevel | undefined;
  /** Where to log instead (tests capture the events). */
  readonly log?: RelayLog;
  /**
   * The relay is the process's only job (`canon-relay`, `canon relay`): a
   * promise rejected with no handler is logged (`unhandled-rejection`) and
   * the relay keeps serving, until {@link RelayServer.stop}. automerge-repo
   * leaves some unhandled (a 60 s `whenReady` for a document a peer
   * announced and never sent, seen under load), and Node's default would
   * end the process: every client of the relay cut off by one peer.
   */
  readonly ownsProcess?: boolean;
  /**
   * Reverse proxies whose `X-Forwarded-For` names the client every
   * per-address limit is kept for (see `guard/client-address.ts`); none
   * when absent, so the header is never believed by default.
   */
  readonly trustedProxies?: TrustedProxies | undefined;
}

/** How long a client may take to send a request's headers (a WebSocket upgrade's too) before it is answered 408 and closed. */
const HEADERS_TIMEOUT_MS = 10_000;

/** How long a client may take to send a whole request (every route's is headers only). */
const REQUEST_TIMEOUT_MS = 30_000;

/** A running relay. */
export interface RelayServer {
  /** `ws://host:port` to give clients. */
  readonly url: string;
  /** The port it listens on (the free one picked, when asked for 0). */
  readonly port: number;
  /** The automerge-repo peer that stores and forwards the documents. */
  readonly repo: Repo;
  /** Where the documents are: the data directory, or the database URL without its password. */
  readonly storage: string;
  /** What `/healthz` would report now. */
  health(): Promise<ServerHealth>;
  /** What `/metrics` would report now (Prometheus text format). */
  metrics(): Promise<string>;
  /** Stops accepting peers, writes every document to disk, and closes. */
  stop(): Promise<void>;
}

/**
 * Starts a relay: an automerge-repo peer with WebSocket networking and durable
 * storage that only stores and forwards documents (it verifies nothing and is
 * trusted for nothing; readers verify). It serves `GET /healthz` on the same
 * port. With a token, the HTTP upgrade is refused (401) unless the token comes
 * as `?token=`, `Authorization: Bearer`, or `X-Canon-Token`, so an
 * unauthenticated peer never exchanges a message (see `auth.ts`). `canon
 * serve` runs the same server over a home's replica: a relay is just a
 * replica that serves. Every byte a peer sends is checked before the Repo
 * sees it, against the limits in `limits.ts` (see `guard/`); a peer that
 * breaks a rule is logged and disconnected, and the server stays up.
 *
 * With `databaseUrl`, documents live in PostgreSQL and any number of relays
 * may share the database (see `storage/`). Either way, a sync message for a
 * document leaves the relay only once the document's changes are stored, so
 * a client is never told it is in step before its data is durable.
 * @throws CanonError `STORAGE_UNWRITABLE` when the data dir cannot be written
 * or the database cannot be used, `PORT_UNAVAILABLE` when the port is taken
 * or not allowed, `BAD_ARGUMENT` with neither a directory nor a database.
 */
export async function startRelayServer(options: RelayServerOptions): Promise<RelayServer> {
  const limits = limitsWith(options.limits);
  const trustedProxies = options.trustedProxies ?? [];
  // Once per request: the upgrade counts the connection and the guard keeps its budgets on it.
  const addressOf = requestAddresses(trustedProxies);
  const log = options.log ?? createRelayLog(options.logLevel ?? DEFAULT_LOG_LEVEL);
  const unhandled = (reason: unknown) =>
    log.write("error", "unhandled-rejection", {
      error: (reason instanceof Error ? reason.message : String(reason)).slice(0, 200),
    });
  if (options.ownsProcess === true) process.on("unhandledRejection", unhandled);
  const origin = `${options.name ?? "relay"}-${randomBytes(4).toString("hex")}`;
  // Loaded only for a database, so `canon relay` and `canon serve` never load `pg`.
  const database =
    options.databaseUrl === undefined
      ? undefined
      : {
          ...(await import("./storage/postgres-storage.js")),
          ...(await import("./storage/postgres-fanout.js")),
        };
  // Set once the metrics exist (no request reaches the database before).
  let reportStorageTimeout: (timeout: StorageTimeout) => void = () => undefined;
  const postgres =
    options.databaseUrl === undefined || database === undefined
      ? undefined
      : await database.openPostgresStorage(options.databaseUrl, origin, {
          ...options.databasePool,
          onTimeout: (timeout) => reportStorageTimeout(timeout),
        });
  let relayStorage: RelayStorage;
  if (postgres !== undefined) relayStorage = postgres;
  else if (options.storageDirectory !== undefined)
    relayStorage = await openDirectoryStorage(options.storageDirectory);
  else throw new CanonError("BAD_ARGUMENT", "a relay needs a data directory or a database URL");
  const headsCache = new HeadsCache();
  const headsRequests = new HeadsRequests(limits.headsRequestsPerMinute);
  // A bulk answer streams a whole space: fewer at once, one per address (a home joins
  // one space at a time), from a budget of its own.
  const documentRequests = new HeadsRequests(limits.headsRequestsPerMinute, {
    running: 2,
    waiting: 32,
    perAddress: 1,
  });
  // Every write of a document's content forgets its cached heads; stopping waits for writes still to come.
  const writes = new WritesInFlight();
  const storage = writes.wrap(
    reportingWrites(relayStorage.adapter, (documentId) => {
      headsCache.invalidate(documentId);
      access?.invalidate(documentId);
    }),
  );
  // `ws` refuses a larger message itself (close 1009), before buffering it whole.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  const tokens = options.spaceTokens ?? new RelayTokens(options.token);
  const sizes = new DocumentSizes(relayStorage);
  // The access check reads the Repo's documents; the Repo needs the adapter first.
  let started: Repo | undefined;
  const flushes = new DocumentFlushes(() => started);
  const metrics = new RelayMetrics(
    () => started,
    () => wss.clients.size,
  );
  reportStorageTimeout = storageTimeoutReporter(log, metrics);
  const access =
    tokens.spaces.size > 0
      ? new SpaceAccess(tokens.spaces, { storage, sizes, repo: () => started })
      : undefined;
  // Created with the Repo below; the guard only calls it once messages flow.
  let eviction: IdleEviction | undefined;
  const idleMs = options.idleEvictionMs ?? DEFAULT_IDLE_EVICTION_MS;
  const activity = {
    touch: (documentId: string) => eviction?.touch(documentId),
    begin: (documentId: string) => eviction?.begin(documentId),
    end: (documentId: string) => eviction?.end(documentId),
    settled: (documentId: string) => eviction?.settled(documentId),
  };
  // The id each peer relay answered our join with last: a client may not join under one (see
  // the guard). Only the last: a peer relay answering each reconnection under a new id made
  // this grow by one id a second, for as long as the relay ran (each refusal reconnects).
  const peerRelayIds: (string | undefined)[] = [];
  const serverAdapter = new GuardedServerAdapter(wss, {
    limits,
    log,
    sizes,
    storage,
    metrics,
    stored: (documentId) => flushes.stored(documentId),
    grantOf: (request) => grantOf(request, tokens),
    addressOf,
    access,
    keepAliveMs: options.keepAliveMs,
    activity: idleMs > 0 ? activity : undefined,
    peerRelay: (peerId) => peerRelayIds.includes(peerId),
  });
  // A peer relay is guarded like a client (see `peering/peer-relay-client.ts`), with budgets of its own.
  const outgoing = (options.peers ?? []).map(
    (peer, index) =>
      new PeerRelayClient(peer, 1000, {
        limits,
        log,
        metrics,
        budgets: peerBudgets(limits),
        check: (message, changes, peerId, budgets) =>
          serverAdapter.checkFromPeerRelay(message, changes, peerId, budgets),
        claimed: (peerId) => peerId === origin || serverAdapter.holdsPeer(peerId),
        joined: (peerId) => {
          peerRelayIds[index] = peerId;
        },
      }),
  );
  const repo = new Repo({
    storage,
    network: [serverAdapter],
    peerId: origin as PeerId,
    // Push documents only to peered relays; clients get what they ask for.
    sharePolicy: async (peerId) => outgoing.some((client) => client.remotePeerId === peerId),
    syncDebounceRate: SYNC_DEBOUNCE_MS,
  });
  if (idleMs > 0) {
    eviction = new IdleEviction(repo, flushes, {
      idleMs,
      log,
      onEvicted: (count) => metrics.evicted.inc(count),
      forget: (documentId) => sizes.forget(documentId),
    });
    eviction.start();
  }
  serverAdapter.guardRepo(repo);
  started = repo;
  for (const client of outgoing) repo.networkSubsystem.addNetworkAdapter(client);

  const fanout: PostgresFanout | undefined =
    postgres !== undefined && database !== undefined && options.databaseUrl !== undefined
      ? new database.PostgresFanout(options.databaseUrl, postgres, repo, log, flushes)
      : undefined;
  if (fanout !== undefined) {
    fanout.onMerged = (seconds) => metrics.mergeSeconds.observe(seconds);
    fanout.eviction = eviction;
    fanout.onNotice = (documentId) => {
      headsCache.invalidate(documentId);
      access?.invalidate(documentId);
      // The size limit holds across relays: the next write re-reads the stored size.
      sizes.forget(documentId);
    };
    fanout.onMissedNotices = () => {
      headsCache.clear();
      access?.invalidate();
      sizes.forgetAll();
    };
    try {
      await fanout.start();
    } catch (error) {
      await relayStorage.close();
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot listen for notifications on the database ${relayStorage.location}: ${(error as Error).message}`,
      );
    }
  }
  const checks: HealthCheck[] =
    fanout === undefined
      ? []
      : [() => (fanout.listening ? undefined : "database notifications: not listening")];
  const health = () => healthOf(repo, relayStorage, checks);
  const metricsText = async () => ({
    text: await metrics.registry.metrics(),
    contentType: metrics.registry.contentType,
  });

  // A client that sends its request's headers a byte at a time holds a socket (slowloris):
  // Node's own defaults wait 60 s for the headers and 300 s for the request, checked every 30 s.
  const timeouts = {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: 1_000,
  };
  const http = createServer(timeouts, (request, response) => {
    answerHttp(request, response, tokens, {
      addressOf,
      health,
      metrics: metricsText,
      heads: (space, grant, address) =>
        headsRequests.run(address, () =>
          headsSummary(space, grant, { repo, storage, sizes, access, cache: headsCache }),
        ),
      documents: (space, grant, address, response) =>
        documentRequests.run(address, () =>
          sendSpaceDocuments(
            space,
            grant,
            {
              repo,
              storage,
              sizes,
              access,
              cache: headsCache,
              maxDocumentBytes: limits.maxDocumentBytes,
            },
            response,
          ),
        ),
    }).catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  const connections = new AddressConnections();
  http.on("upgrade", (request, socket, head) => {
    // Node leaves an upgrade's socket without an error listener: a peer resetting it
    // before `ws` takes over would otherwise end the process.
    socket.on("error", () => socket.destroy());
    try {
      if (requestTarget(request) === undefined) {
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      if (grantOf(request, tokens) === undefined) {
        metrics.refused.inc({ reason: "unauthorized" });
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      const close = connections.open(addressOf(request));
      if (close === undefined) {
        metrics.refused.inc({ reason: "connections" });
        socket.end(
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
        return;
      }
      socket.once("close", close);
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
    } catch {
      // Nothing a request holds may end the relay for every tenant.
      socket.destroy();
    }
  });
  // The Repo connects its adapters only once it has read (or written) its
  // storage id; until then a WebSocket that connects is dropped without a
  // word, and its client waits for a retry. Listen only after that.
  try {
    await adapterConnected(serverAdapter);
    await listen(http, options.port, options.host ?? "127.0.0.1");
  } catch (error) {
    await eviction?.stop();
    await fanout?.stop();
    await relayStorage.close();
    throw error;
  }
  const port = (http.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";

  let stopped: Promise<void> | undefined;
  return {
    url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    repo,
    storage: relayStorage.location,
    health,
    metrics: async () => (await metricsText()).text,
    stop: () => {
      stopped ??= (async () => {
        // Stop listening first: a client retrying while the relay stops is then
        // refused (which clients retry quietly), not answered 503 by the closed
        // WebSocket server (which automerge-repo's client throws on, uncaught).
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        for (const client of outgoing) {
          repo.networkSubsystem.removeNetworkAdapter(client);
        }
        for (const socket of wss.clients) socket.terminate();
        wss.close();
        await eviction?.stop();
        const ready = Object.values(repo.handles)
          .filter((handle) => handle.isReady())
          .map((handle) => handle.documentId);
        await repo.flush(ready);
        // Sync states the Repo saves on its own, throttled, after the last message.
        await writes.settled();
        await fanout?.stop();
        http.closeAllConnections();
        await closed;
        await relayStorage.close();
        process.off("unhandledRejection", unhandled);
      })();
      return stopped;
    },
  };
}

/** Resolves once the Repo has connected `adapter` (it then has a peer id): a few milliseconds at start-up. */
async function adapterConnected(adapter: GuardedServerAdapter): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (adapter.peerId === undefined) {
    if (Date.now() > deadline)
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        "the relay's storage did not answer within 30 s (reading its storage id)",
      );
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new CanonError(
              "PORT_UNAVAILABLE",
              `port ${port} on ${host} is already in use; stop what holds it, or pick another port (0: any free one)`,
            )
          : error.code === "EACCES"
            ? new CanonError("PORT_UNAVAILABLE", `not allowed to listen on ${host}:${port}`)
            : new CanonError(
                "PORT_UNAVAILABLE",
                `cannot listen on ${host}:${port} (${error.code ?? error.message})`,
              ),
      );
    });
    server.listen(port, host, () => resolve());
  });
}
