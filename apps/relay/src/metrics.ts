import type { Repo } from "@automerge/automerge-repo";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Why a relay refused or ended a connection, as the `reason` label of `canon_relay_refused_connections_total`. */
export type RefusalReason =
  | "unauthorized"
  | "access-refused"
  | "quota-exceeded"
  | "bad-message"
  | "protocol-error";

/**
 * A relay's Prometheus metrics (`GET /metrics`), on a registry of its own so
 * several relays in one process (tests, `canon serve`) do not collide. Beside
 * the process's default metrics (`process_resident_memory_bytes`, event-loop
 * lag…): connections, documents in memory, bytes in and out, the sync
 * latency histogram, refused connections by reason, and merges of other
 * relays' writes.
 */
export class RelayMetrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  /** Bytes of WebSocket messages received from peers. */
  readonly bytesIn: Counter;
  /** Bytes of WebSocket messages sent to peers. */
  readonly bytesOut: Counter;
  /** Seconds from a peer's changes arriving to the relay's answer leaving, after they are stored. */
  readonly syncSeconds: Histogram;
  /** Connections refused or ended by the relay, by reason. */
  readonly refused: Counter<"reason">;
  /** Seconds to load and merge a chunk another relay wrote. */
  readonly mergeSeconds: Histogram;
  /** Documents dropped from memory after being idle. */
  readonly evicted: Counter;
  /** Database requests that waited too long for a connection or ran too long, by pool and stage (`storage/storage-timeouts.ts`). */
  readonly storageTimeouts: Counter<"pool" | "stage">;

  /** Metrics of a relay running `repo` with `connections()` WebSockets open. */
  constructor(repo: () => Repo | undefined, connections: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "canon_relay_connections",
      help: "WebSocket connections open now",
      registers,
      collect() {
        this.set(connections());
      },
    });
    new Gauge({
      name: "canon_relay_documents_in_memory",
      help: "Documents the relay's Repo holds in memory",
      registers,
      collect() {
        this.set(Object.keys(repo()?.handles ?? {}).length);
      },
    });
    this.bytesIn = new Counter({
      name: "canon_relay_received_bytes_total",
      help: "Bytes of messages received from peers",
      registers,
    });
    this.bytesOut = new Counter({
      name: "canon_relay_sent_bytes_total",
      help: "Bytes of messages sent to peers",
      registers,
    });
    this.syncSeconds = new Histogram({
      name: "canon_relay_sync_seconds",
      help: "From a peer's changes arriving to the relay's answer for that document leaving, once stored",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.refused = new Counter({
      name: "canon_relay_refused_connections_total",
      help: "Connections refused or ended by the relay, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.mergeSeconds = new Histogram({
      name: "canon_relay_merge_seconds",
      help: "Loading and merging a chunk another relay on the same database wrote",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.evicted = new Counter({
      name: "canon_relay_evicted_documents_total",
      help: "Documents dropped from memory after being idle (they stay stored)",
      registers,
    });
    this.storageTimeouts = new Counter({
      name: "canon_relay_storage_timeouts_total",
      help: "Database requests that waited too long for a connection (stage wait) or ran too long (stage statement), then tried again, by pool (reads, writes)",
      labelNames: ["pool", "stage"],
      registers,
    });
  }
}
