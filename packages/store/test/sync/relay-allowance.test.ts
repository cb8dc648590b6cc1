import { randomBytes } from "node:crypto";
import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { openReplica } from "../../src/index.js";
import { RelayAllowance, relayAllowanceOf } from "../../src/sync/relay-allowance.js";
import { RelayClient } from "../../src/sync/relay-client.js";
import { openRelaySession } from "../../src/sync/relay-session.js";
import {
  carryingWhole,
  cleanupAfterEach,
  firstClientError,
  freshReplica,
  hostileRelay,
  newDocumentId,
} from "../helpers/hostile-relay.js";
import { hostileServer } from "../helpers/hostile-server.js";

// A relay is unsigned transport. One that is broken or hostile sent a client
// as many changes as it liked to a document the client asked for (each sync
// message up to 100 MiB, any number of them): the client took them all in, in
// memory and in its home. And changes that create objects are tried on a copy
// of the document the client holds, a copy costing in proportion to the
// document: a relay sending a few bytes at a time kept the client (the home's
// owner, a watch) copying for ever.

const cleanup = cleanupAfterEach();

/** `count` changes to `doc`, each putting `bytes` random bytes under a new key. */
function bulkyChanges(doc: A.Doc<unknown>, count: number, bytes: number): Uint8Array[] {
  const backend = A.getBackend(A.clone(doc));
  const changes: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    backend.put("_root", `bulk-${i}`, new Uint8Array(randomBytes(bytes)), "bytes");
    backend.commit(`bulk ${i}`);
    changes.push(backend.getLastLocalChange() as Uint8Array);
  }
  return changes;
}

const carrying = (changes: Uint8Array[]) =>
  A.encodeSyncMessage({ heads: [], need: [], have: [], changes });

describe("what a client takes from one connection to a relay", () => {
  it("refuses more changes to one document than it allows, closes, and keeps what came before", async () => {
    const { home, replica, close } = await freshReplica(cleanup);
    const asked = newDocumentId();
    const base = A.from({ wanted: "yes" }) as A.Doc<unknown>;
    const bulky = bulkyChanges(base, 5, 1024 * 1024);
    const url = await hostileRelay(cleanup, (message, reply) => {
      if (message.type === "join")
        reply({
          type: "peer",
          selectedProtocolVersion: "1",
          peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
        });
      else if (message.type === "request" && message.documentId === asked) {
        reply({ type: "sync", documentId: asked, data: carryingWhole(base) });
        for (const change of bulky)
          reply({ type: "sync", documentId: asked, data: carrying([change]) });
      }
    });
    const session = await openRelaySession(replica, { url }, 5_000);
    cleanup.push(async () => session.close());
    // 3 MiB instead of 64 (a sync message of 25 MB costs seconds to decode).
    session.client.allowance = new RelayAllowance({ documentBytes: 3 * 1024 * 1024 });
    const handle = await replica.find<Record<string, unknown>>(asked);
    expect(handle?.doc().wanted).toBe("yes");
    const error = await firstClientError(session.client);
    expect(error?.message).toMatch(`more than 3 MiB of changes to ${asked}`);
    expect(session.client.droppedMessage).toMatch("more than 3 MiB");
    while (session.client.lostConnection === undefined)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(() => session.assertConnected()).toThrow(url);
    const keys = Object.keys(handle?.doc() ?? {}).sort();
    expect(keys).toEqual(["bulk-0", "bulk-1", "wanted"]);
    session.close();
    await close();
    // What was taken before is in the home, whole.
    const again = await openReplica(home);
    cleanup.push(async () => {
      await again.close();
      await again.writesSettled();
    });
    expect((await again.find<Record<string, unknown>>(asked))?.doc().wanted).toBe("yes");
  }, 60_000);

  it("stops trying changes on a copy of a held document once the checks took their time", async () => {
    const { replica } = await freshReplica(cleanup);
    const asked = newDocumentId();
    // 4,000 records of 1 KB: copying the document takes milliseconds.
    const backend = A.getBackend(A.init());
    const records = backend.putObject("_root", "records", {});
    for (let i = 0; i < 4000; i++)
      backend.put(records, `r${i}`, new Uint8Array(randomBytes(1000)), "bytes");
    backend.commit("records");
    const base = A.load(backend.save()) as A.Doc<unknown>;
    // Tiny changes, each creating an object (so each is tried on a copy).
    const tiny: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      backend.putObject("_root", `object-${i}`, {});
      backend.commit(`object ${i}`);
      tiny.push(backend.getLastLocalChange() as Uint8Array);
    }
    let sendTiny = () => {};
    const url = await hostileRelay(cleanup, (message, reply) => {
      if (message.type === "join")
        reply({
          type: "peer",
          selectedProtocolVersion: "1",
          peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
        });
      else if (message.type === "request" && message.documentId === asked) {
        reply({ type: "sync", documentId: asked, data: carryingWhole(base) });
        sendTiny = () => {
          for (const change of tiny)
            reply({ type: "sync", documentId: asked, data: carrying([change]) });
        };
      }
    });
    const session = await openRelaySession(replica, { url }, 5_000);
    cleanup.push(async () => session.close());
    const handle = await replica.find<Record<string, unknown>>(asked);
    expect(Object.keys(handle?.doc().records ?? {})).toHaveLength(4000);
    // A budget of 1 ms a minute: the first copy spends it.
    session.client.allowance = new RelayAllowance({ checkMsPerMinute: 1 });
    sendTiny();
    const error = await firstClientError(session.client);
    expect(error?.message).toMatch(
      "changes that took more than 0.001 s a minute to try on copies of documents",
    );
    const objects = Object.keys(handle?.doc() ?? {}).filter((key) => key.startsWith("object-"));
    expect(objects.length).toBeLessThan(3);
  }, 60_000);
});

describe("what a client takes from one relay across connections", () => {
  // Sixth pass: the allowance was made anew at every connection, so a relay
  // that got itself closed (or a watch, the owner, the MCP server reconnecting)
  // fed another 64 MiB a document each time, without end.
  it("does not refill the allowance when the client reconnects", async () => {
    const { replica } = await freshReplica(cleanup);
    const asked = newDocumentId();
    const base = A.from({ wanted: "yes" }) as A.Doc<unknown>;
    // 1 MiB each, five a connection, each connection going on from the first
    // change the last one refused (a change needs the ones before it).
    const bulky = bulkyChanges(base, 10, 1024 * 1024);
    let fed = true;
    let connection = 0;
    const server = await hostileServer(cleanup, "hostile", (message, reply) => {
      if (message.type === "join") {
        fed = false;
        reply({
          type: "peer",
          selectedProtocolVersion: "1",
          peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
        });
      } else if (
        (message.type === "request" || message.type === "sync") &&
        message.documentId === asked &&
        !fed
      ) {
        fed = true;
        reply({ type: "sync", documentId: asked, data: carryingWhole(base) });
        for (const change of bulky.slice(connection * 2, connection * 2 + 5))
          reply({ type: "sync", documentId: asked, data: carrying([change]) });
        connection += 1;
      }
    });
    // Retried 100 ms after each close, as a client kept running reconnects.
    const client = new RelayClient(server.url, 100);
    client.allowanceLimits = { documentBytes: 3 * 1024 * 1024 };
    client.knownDocument = (documentId) => documentId in replica.repo.handles;
    replica.connect(client);
    cleanup.push(async () => replica.disconnect(client));
    const handle = await replica.find<Record<string, unknown>>(asked);
    expect(handle?.doc().wanted).toBe("yes");
    const deadline = Date.now() + 30_000;
    while (server.connections() < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.connections()).toBeGreaterThanOrEqual(2);
    // The second connection's feed is refused at its first change.
    while (client.droppedMessage === undefined && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(client.droppedMessage).toMatch(`more than 3 MiB of changes to ${asked} from this relay`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const keys = Object.keys(handle?.doc() ?? {}).sort();
    expect(keys).toEqual(["bulk-0", "bulk-1", "wanted"]);
  }, 60_000);

  it("is one allowance for every client of a relay in a process, whatever its token", () => {
    const first = new RelayClient("ws://127.0.0.1:1/sync?token=a", 1000);
    const second = new RelayClient("ws://127.0.0.1:1/sync?token=b", 1000);
    const other = new RelayClient("ws://127.0.0.1:2/sync", 1000);
    expect(first.allowance).toBe(second.allowance);
    expect(first.allowance).toBe(relayAllowanceOf("ws://127.0.0.1:1/sync"));
    expect(other.allowance).not.toBe(first.allowance);
    // A client asking for limits of its own (a peering relay) has its own.
    expect(relayAllowanceOf("ws://127.0.0.1:1/sync", { documentBytes: 5 })).not.toBe(
      first.allowance,
    );
    const spent = first.allowance.takeChanges("a", 64 * 1024 * 1024);
    expect(spent).toBeUndefined();
    expect(second.allowance.takeChanges("a", 1)).toMatch("more than 64 MiB of changes to a");
  });
});

describe("messages without changes", () => {
  it("refuses a message larger than it takes, even one carrying no change, and closes", async () => {
    const { replica } = await freshReplica(cleanup);
    const asked = newDocumentId();
    const base = A.from({ wanted: "yes" }) as A.Doc<unknown>;
    // 200 heads (6.4 KB) and no change: what a relay could inflate to 100 MiB from a small frame.
    const heads = Array.from({ length: 200 }, () => randomBytes(32).toString("hex"));
    let sendLarge = () => {};
    const url = await hostileRelay(cleanup, (message, reply) => {
      if (message.type === "join")
        reply({
          type: "peer",
          selectedProtocolVersion: "1",
          peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
        });
      else if (message.type === "request" && message.documentId === asked) {
        reply({ type: "sync", documentId: asked, data: carryingWhole(base) });
        sendLarge = () =>
          reply({
            type: "sync",
            documentId: asked,
            data: A.encodeSyncMessage({ heads, need: heads, have: [], changes: [] }),
          });
      }
    });
    const session = await openRelaySession(replica, { url }, 5_000);
    cleanup.push(async () => session.close());
    const handle = await replica.find<Record<string, unknown>>(asked);
    expect(handle?.doc().wanted).toBe("yes");
    session.client.allowance = new RelayAllowance({ messageBytes: 4096 });
    sendLarge();
    const error = await firstClientError(session.client);
    expect(error?.message).toMatch(/a message of \d+ bytes \(at most 4096 bytes are taken\)/);
    expect(handle?.doc().wanted).toBe("yes");
  }, 60_000);
});

describe("RelayAllowance", () => {
  it("counts changes per document and in all, and refuses what would pass either limit", () => {
    const allowance = new RelayAllowance({ documentBytes: 100, connectionBytes: 150 });
    expect(allowance.takeChanges("a", 60)).toBeUndefined();
    expect(allowance.takeChanges("a", 41)).toBe(
      "more than 100 bytes of changes to a from this relay in a day",
    );
    expect(allowance.takeChanges("a", 40)).toBeUndefined();
    expect(allowance.takeChanges("b", 60)).toBe(
      "more than 150 bytes of changes from this relay in a day",
    );
    expect(allowance.takeChanges("b", 50)).toBeUndefined();
    expect(allowance.takeChanges("c", 0)).toBeUndefined();
  });

  it("counts messages, one by one and in all", () => {
    const allowance = new RelayAllowance({ messageBytes: 100, connectionMessageBytes: 150 });
    expect(allowance.takeMessage(101)).toBe("a message of 101 bytes (at most 100 bytes are taken)");
    expect(allowance.takeMessage(100)).toBeUndefined();
    expect(allowance.takeMessage(51)).toBe(
      "more than 150 bytes of messages from this relay in a day",
    );
    expect(allowance.takeMessage(50)).toBeUndefined();
  });

  it("gives spent bytes back over the refill time, never more than the limit", () => {
    let now = 0;
    const allowance = new RelayAllowance(
      { documentBytes: 100, connectionBytes: 1_000, refillMs: 1_000 },
      () => now,
    );
    expect(allowance.takeChanges("a", 100)).toBeUndefined();
    expect(allowance.takeChanges("a", 1)).toBe(
      "more than 100 bytes of changes to a from this relay in 1 s",
    );
    now = 500;
    expect(allowance.takeChanges("a", 51)).toMatch("more than 100 bytes");
    expect(allowance.takeChanges("a", 50)).toBeUndefined();
    // A long quiet time refills it whole, not past its limit.
    now = 100_000;
    expect(allowance.takeChanges("a", 101)).toMatch("more than 100 bytes");
    expect(allowance.takeChanges("a", 100)).toBeUndefined();
  });

  it("lets copies be tried until their time is spent", () => {
    const allowance = new RelayAllowance({ checkMsPerMinute: 1_000 });
    expect(allowance.mayCheck()).toBeUndefined();
    allowance.spendCheck(2_000);
    expect(allowance.mayCheck()).toMatch("more than 1 s a minute");
  });
});
