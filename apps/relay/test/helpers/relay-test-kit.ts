import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DocHandle, type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { afterAll, afterEach, beforeAll } from "vitest";
import {
  type RelayServer,
  type RelayServerOptions,
  startRelayServer,
} from "../../src/relay-server.js";
import { startTestPostgres, type TestPostgres } from "./postgres-server.js";

/** Where a test relay stores documents: a fresh directory, or the file's PostgreSQL. */
export type TestStorage = "directory" | "database";

/** Relays and automerge-repo clients for one test file, on one real PostgreSQL, stopped after each test. */
export interface RelayTestKit {
  /** A relay on 127.0.0.1 (any free port) storing in `storage`, with `options` on top. */
  relay(storage: TestStorage, options?: Partial<RelayServerOptions>): Promise<RelayServer>;
  /** A client of `relay` with no storage, retrying every 100 ms. */
  client(relay: RelayServer, name?: string): Repo;
  /** Shuts a client down now (the cleanup then skips it). */
  close(client: Repo): Promise<void>;
  /** A temporary directory, removed after the test. */
  directory(): Promise<string>;
}

/**
 * Registers the file's hooks (a PostgreSQL server started once, relays,
 * clients and directories cleaned up after every test) and returns the kit.
 * Call it once at the top of a test file.
 */
export function relayTestKit(prefix: string): RelayTestKit {
  let postgres: TestPostgres | undefined;
  const directories: string[] = [];
  const relays: RelayServer[] = [];
  const clients: Repo[] = [];
  beforeAll(async () => {
    postgres = await startTestPostgres();
  }, 90_000);
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.shutdown().catch(() => undefined);
    for (const relay of relays.splice(0)) await relay.stop();
    for (const directory of directories.splice(0))
      await rm(directory, { recursive: true, force: true });
  });
  afterAll(async () => {
    await postgres?.stop();
  });
  const directory = async () => {
    const made = await mkdtemp(join(tmpdir(), `${prefix}-`));
    directories.push(made);
    return made;
  };
  return {
    directory,
    async relay(storage, options = {}) {
      if (storage === "database" && postgres === undefined)
        throw new Error("PostgreSQL has not started");
      const where =
        storage === "directory"
          ? { storageDirectory: await directory() }
          : { databaseUrl: (postgres as TestPostgres).url };
      const relay = await startRelayServer({ ...where, port: 0, ...options });
      relays.push(relay);
      return relay;
    },
    client(relay, name = "client") {
      const client = new Repo({
        network: [new WebSocketClientAdapter(relay.url, 100)],
        peerId: `${name}-${randomBytes(3).toString("hex")}` as PeerId,
      });
      clients.push(client);
      return client;
    },
    async close(client) {
      clients.splice(clients.indexOf(client), 1);
      await client.shutdown();
    },
  };
}

/** Waits until `check` holds, polling every 10 ms; throws after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** True when the relay told the client it holds exactly the client's heads of `handle` (so they are stored). */
export function acknowledged(client: Repo, handle: DocHandle<unknown>): boolean {
  const storageId = client.peers
    .map((peer) => client.getStorageIdOfPeer(peer))
    .find((id) => id !== undefined);
  const theirs = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
  const ours = handle.heads();
  return (
    theirs !== undefined && theirs.length === ours.length && theirs.every((h) => ours.includes(h))
  );
}
