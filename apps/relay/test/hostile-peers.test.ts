import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  cbor,
  generateAutomergeUrl,
  parseAutomergeUrl,
} from "@automerge/automerge-repo";
import { depthOf } from "@canon/store";
import { afterEach, describe, expect, it } from "vitest";
import { bombTargetOf, insertBomb } from "../../../test/helpers/op-bomb.js";
import {
  createRelayLog,
  type RelayLimits,
  type RelayServer,
  startRelayServer,
} from "../src/index.js";
import {
  clientRepo,
  eventually,
  fetchThroughRelay,
  frame,
  joinMessage,
  rawUpgrade,
  sendMessages,
  syncThroughRelay,
  twoSpacesTokens,
  withTimeout,
  writeAndWaitForClose,
} from "./helpers/hostile-peer.js";

interface LoggedEvent {
  readonly level: string;
  readonly event: string;
  readonly reason?: string;
  readonly quota?: string;
  readonly peerId?: string;
}

const servers: RelayServer[] = [];
const directories: string[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  for (const directory of directories.splice(0))
    await rm(directory, { recursive: true, force: true });
});

/** An in-process relay on 127.0.0.1 whose log lines are kept in `events`. */
async function relay(
  limits: Partial<RelayLimits> = {},
): Promise<{ server: RelayServer; events: LoggedEvent[] }> {
  const directory = await mkdtemp(join(tmpdir(), "canon-relay-hostile-"));
  directories.push(directory);
  const events: LoggedEvent[] = [];
  const server = await startRelayServer({
    storageDirectory: directory,
    port: 0,
    limits,
    log: createRelayLog("info", (line) => events.push(JSON.parse(line) as LoggedEvent)),
  });
  servers.push(server);
  return { server, events };
}

/** A peer's first sync message: it holds nothing yet. */
const OPENING = A.generateSyncMessage(A.init(), A.initSyncState())[1] as Uint8Array;

/** A sync message carrying `changes`, as from a peer that holds nothing. */
function syncCarrying(changes: Uint8Array[]): Uint8Array {
  return A.encodeSyncMessage({ ...A.decodeSyncMessage(OPENING), changes });
}

/** A sync message creating `created` (one change) at a relay that does not hold it. */
function creatingSync(created: A.Doc<unknown>): Uint8Array {
  return A.encodeSyncMessage({
    ...A.decodeSyncMessage(OPENING),
    heads: A.getHeads(created),
    changes: [A.getLastLocalChange(created) as Uint8Array],
  });
}

/** The wire frame of a sync message from `peerId` to the relay about `documentId`. */
function syncFrame(
  server: RelayServer,
  peerId: string,
  documentId: string,
  data: Uint8Array,
): Uint8Array {
  return cbor.encode({
    type: "sync",
    senderId: peerId,
    targetId: server.repo.peerId,
    documentId,
    data,
  });
}

/** `levels` changes made on `local` (a low-level copy of a document), each nesting one map in the last. */
function oneLevelChanges(local: ReturnType<typeof A.getBackend>, levels: number): Uint8Array[] {
  const changes: Uint8Array[] = [];
  let obj = "_root";
  for (let i = 0; i < levels; i++) {
    obj = local.putObject(obj, "n", {});
    local.commit(`level ${i}`);
    changes.push(local.getLastLocalChange() as Uint8Array);
  }
  return changes;
}

/** A relay holding one document (`{ text: "kept" }`, synced by a client): its URL and id. */
async function relayKeeping() {
  const { server, events } = await relay();
  const url = await syncThroughRelay(server.url, "kept");
  return { server, events, url, documentId: parseAutomergeUrl(url).documentId };
}

/** {@link oneLevelChanges} made on a copy of the document the relay stores at `url`. */
async function oneLevelChangesOf(
  server: RelayServer,
  url: AutomergeUrl,
  levels: number,
): Promise<Uint8Array[]> {
  const stored = (await server.repo.find<unknown>(url)).doc();
  return oneLevelChanges(A.getBackend(A.clone(stored)), levels);
}

/**
 * Joins as `peerId` and sends, about `documentId`, a sync message opening
 * the sync and then each of `messages` (apart, so each arrives once the
 * relay holds the sync state); the close code, if the relay closed.
 */
function afterOpening(
  server: RelayServer,
  peerId: string,
  documentId: string,
  messages: readonly Uint8Array[],
): Promise<number | undefined> {
  return sendMessagesAfter(
    server.url,
    peerId,
    [OPENING, ...messages].map((data) => syncFrame(server, peerId, documentId, data)),
  );
}

/** How deep the document the relay stores at `url` nests, measured up to `limit`. */
async function storedDepth(server: RelayServer, url: AutomergeUrl, limit: number): Promise<number> {
  const stored = (await server.repo.find<unknown>(url)).doc();
  return depthOf(A.getBackend(A.clone(stored)), limit);
}

/** The relay closed the peer (1008) for a sync message nesting the stored document over 64 deep, and no other. */
function expectClosedTooDeep(closed: number | undefined, events: readonly LoggedEvent[]): void {
  expect(closed).toBe(1008);
  expect(disconnects(events)).toEqual(["sync message nests objects over 64 deep in the document"]);
}

function disconnects(events: readonly LoggedEvent[]): string[] {
  return events.filter((e) => e.event === "peer-disconnected").map((e) => e.reason ?? "");
}

function randomDocumentId(): string {
  return parseAutomergeUrl(generateAutomergeUrl()).documentId;
}

describe("the relay stays up whatever a connection sends", () => {
  it("disconnects a peer whose message is CBOR null (one byte), and keeps serving", async () => {
    const { server, events } = await relay();
    expect(await sendMessages(server.url, [Uint8Array.of(0xf6)])).toBe(1008);
    expect(disconnects(events)).toEqual([expect.stringContaining("bad message")]);
    await syncThroughRelay(server.url);
  });

  it("disconnects a peer whose join has supportedProtocolVersions that is not an array", async () => {
    const { server, events } = await relay();
    const join = joinMessage("hostile-1", { supportedProtocolVersions: 1 });
    expect(await sendMessages(server.url, [join])).toBe(1008);
    expect(disconnects(events)).toEqual([expect.stringContaining("supportedProtocolVersions")]);
    await syncThroughRelay(server.url);
  });

  it("survives an unmasked frame written on a raw socket after a valid upgrade", async () => {
    const { server, events } = await relay();
    const socket = await rawUpgrade(server.port);
    expect(await writeAndWaitForClose(socket, frame(joinMessage("raw-1"), { masked: false }))).toBe(
      true,
    );
    await eventually(() => disconnects(events).length === 1);
    expect(disconnects(events)[0]).toContain("protocol error");
    await syncThroughRelay(server.url);
  });

  it("refuses a frame over the message limit from its header, and keeps serving", async () => {
    const { server, events } = await relay({ maxMessageBytes: 1024 * 1024 });
    const socket = await rawUpgrade(server.port);
    const header = frame(new Uint8Array(0), { declaredLength: 1024 * 1024 + 1 });
    expect(await writeAndWaitForClose(socket, header)).toBe(true);
    await eventually(() => disconnects(events).length === 1);
    expect(disconnects(events)[0]).toContain(`message over ${1024 * 1024} bytes`);
    await syncThroughRelay(server.url);
  });

  it("disconnects a peer whose sync data is not an Automerge sync message", async () => {
    const { server, events } = await relay();
    const peerId = "hostile-sync";
    const sync = cbor.encode({
      type: "sync",
      senderId: peerId,
      targetId: server.repo.peerId,
      documentId: randomDocumentId(),
      data: Uint8Array.of(1, 2, 3),
    });
    expect(await sendMessages(server.url, [joinMessage(peerId), sync])).toBe(1008);
    expect(disconnects(events)).toEqual(["data is not an Automerge sync message"]);
    await syncThroughRelay(server.url);
  });

  it("disconnects a peer sending a change that decodes but does not apply, and keeps the document intact", async () => {
    const { server, events, url, documentId } = await relayKeeping();
    // A change on the stored document whose one op names an object that does not exist.
    const local = A.change(
      A.clone((await server.repo.find<{ text: string }>(url)).doc()),
      (doc) => {
        doc.text = "replaced";
      },
    );
    const decoded = A.decodeChange(A.getLastLocalChange(local) as Uint8Array);
    const op = decoded.ops[0] as { obj: string };
    op.obj = `99@${decoded.actor}`;
    const hostile = syncCarrying([A.encodeChange(decoded)]);
    // The first message opens the sync; the second arrives once its state exists.
    const closed = await afterOpening(server, "hostile-change", documentId, [hostile]);
    expect(closed).toBe(1008);
    expect(disconnects(events)).toEqual(["sync message does not apply to the document"]);
    expect((await fetchThroughRelay<{ text: string }>(server.url, url)).text).toBe("kept");
  });

  it("disconnects a peer whose change writes the key __proto__ (Automerge cannot apply it), and keeps the document intact", async () => {
    const { server, events, url, documentId } = await relayKeeping();
    const local = A.change(
      A.clone((await server.repo.find<Record<string, unknown>>(url)).doc()),
      (doc) => {
        doc.PROTO_KEY = "polluted";
      },
    );
    // Automerge's own API refuses the key; a hostile peer writes the change itself.
    const decoded = A.decodeChange(A.getLastLocalChange(local) as Uint8Array);
    for (const op of decoded.ops as { key?: string }[])
      if (op.key === "PROTO_KEY") op.key = "__proto__";
    const hostile = syncCarrying([A.encodeChange(decoded)]);
    const closed = await afterOpening(server, "hostile-proto", documentId, [hostile]);
    expect(closed).toBe(1008);
    expect(disconnects(events)).toEqual(["sync message does not apply to the document"]);
    expect((await fetchThroughRelay<{ text: string }>(server.url, url)).text).toBe("kept");
    await syncThroughRelay(server.url);
  });

  it("disconnects a peer whose one change nests 10,000 maps (it would kill the relay's Automerge), and keeps serving", async () => {
    const { server, events, url, documentId } = await relayKeeping();
    const local = A.change(
      A.clone((await server.repo.find<Record<string, unknown>>(url)).doc()),
      (doc) => {
        doc.n = {};
      },
    );
    // 20 KB: one change whose every new map is made inside the one before.
    const decoded = A.decodeChange(A.getLastLocalChange(local) as Uint8Array);
    const [first] = decoded.ops;
    decoded.ops = [
      first as (typeof decoded.ops)[number],
      ...Array.from({ length: 9_999 }, (_, i) => ({
        action: "makeMap",
        obj: `${decoded.startOp + i}@${decoded.actor}`,
        key: "n",
        pred: [],
      })),
    ] as typeof decoded.ops;
    const hostile = syncCarrying([A.encodeChange(decoded)]);
    const closed = await afterOpening(server, "hostile-nesting", documentId, [hostile]);
    expect(closed).toBe(1008);
    expect(disconnects(events)).toEqual([
      "sync message carries a change nesting objects over 64 deep",
    ]);
    // Before, the check itself (applying the change on a copy) trapped Automerge's WebAssembly:
    // every later sync of every client failed ("Module terminated").
    expect((await fetchThroughRelay<{ text: string }>(server.url, url)).text).toBe("kept");
    await syncThroughRelay(server.url);
  });

  it("disconnects a peer whose 119-byte change declares a million list inserts (decoding it took seconds and gigabytes of the relay's one thread), and keeps serving", async () => {
    const { server, events } = await relay();
    const base = A.from<{ l: boolean[] }>({ l: [] });
    const documentId = randomDocumentId();
    const bomb = insertBomb(
      1_000_000,
      bombTargetOf(A.decodeChange(A.getLastLocalChange(base) as Uint8Array)),
    );
    expect(bomb.length).toBeLessThan(140);
    const hostile = syncCarrying([A.getLastLocalChange(base) as Uint8Array, bomb]);
    const peerId = "hostile-op-bomb";
    const closed = await sendMessages(server.url, [
      joinMessage(peerId),
      syncFrame(server, peerId, documentId, hostile),
    ]);
    expect(closed).toBe(1008);
    expect(disconnects(events)).toEqual([
      "sync message carries a chunk declaring more ops than its size allows",
    ]);
    await syncThroughRelay(server.url);
  });

  it("disconnects a peer whose one sync message carries a whole document nesting 20,000 maps (85 KB, one level per change), and keeps serving", async () => {
    const { server, events } = await relay();
    const url = await syncThroughRelay(server.url, "kept");
    const deep = A.getBackend(A.init());
    let obj = "_root";
    for (let i = 0; i < 20_000; i++) {
      obj = deep.putObject(obj, "a", {});
      deep.commit(`level ${i}`);
    }
    const bytes = deep.save();
    // Every change nests one level: the per-change check alone passed them all, and the
    // guard's own loadIncremental of the chunk trapped Automerge's WebAssembly.
    const hostile = A.encodeSyncMessage({
      heads: deep.getHeads(),
      need: [],
      have: [],
      changes: [bytes],
    });
    const peerId = "hostile-deep-document";
    const closed = await sendMessagesAfter(server.url, peerId, [
      cbor.encode({
        type: "sync",
        senderId: peerId,
        targetId: server.repo.peerId,
        documentId: randomDocumentId(),
        data: hostile,
      }),
    ]);
    expect(closed).toBe(1008);
    expect(disconnects(events)).toEqual([
      "sync message carries a document nesting objects over 64 deep",
    ]);
    expect((await fetchThroughRelay<{ text: string }>(server.url, url)).text).toBe("kept");
    await syncThroughRelay(server.url);
  }, 60_000);

  it("refuses changes of one level each that would nest the stored document over 64 deep, and keeps serving", async () => {
    const { server, events, url, documentId } = await relayKeeping();
    const changes = await oneLevelChangesOf(server, url, 164);
    // 60 levels are taken; the next 104, each one level deep, would reach 164.
    const closed = await afterOpening(server, "hostile-cumulative", documentId, [
      syncCarrying(changes.slice(0, 60)),
      syncCarrying(changes.slice(60)),
    ]);
    expectClosedTooDeep(closed, events);
    expect(await storedDepth(server, url, 200)).toBe(60);
    expect((await fetchThroughRelay<{ text: string }>(server.url, url)).text).toBe("kept");
    await syncThroughRelay(server.url);
  }, 60_000);

  it("measures changes waiting for their dependencies when those arrive: sending the first change last cannot nest the document deep", async () => {
    const { server, events, url, documentId } = await relayKeeping();
    const changes = await oneLevelChangesOf(server, url, 200);
    // Levels 2 to 200 wait for level 1 (nothing of them is in the document to measure);
    // level 1 alone is one level deep, and releases them all on the copy, which measures them.
    const closed = await afterOpening(server, "hostile-out-of-order", documentId, [
      syncCarrying(changes.slice(1)),
      syncCarrying(changes.slice(0, 1)),
    ]);
    expectClosedTooDeep(closed, events);
    // The text object `text` is the one level the document had.
    expect(await storedDepth(server, url, 500)).toBe(1);
    expect((await fetchThroughRelay<{ text: string }>(server.url, url)).text).toBe("kept");
    await syncThroughRelay(server.url);
  }, 60_000);

  it("checks a message against the changes of the one before even when they arrive together", async () => {
    const { server, events, url, documentId } = await relayKeeping();
    const changes = await oneLevelChangesOf(server, url, 164);
    const peerId = "hostile-back-to-back";
    const message = (data: Uint8Array) => syncFrame(server, peerId, documentId, data);
    const closed = await sendMessages(server.url, [
      joinMessage(peerId),
      message(OPENING),
      message(syncCarrying(changes.slice(0, 60))),
      message(syncCarrying(changes.slice(60))),
    ]);
    expectClosedTooDeep(closed, events);
    await eventually(async () => (await storedDepth(server, url, 500)) === 60);
    await syncThroughRelay(server.url);
  }, 60_000);

  it("checks back-to-back messages against each other when the document is only on disk (a restarted relay)", async () => {
    const first = await relay();
    const url = await syncThroughRelay(first.server.url, "kept");
    const { documentId } = parseAutomergeUrl(url);
    const local = A.getBackend(A.clone((await first.server.repo.find<unknown>(url)).doc()));
    const directory = directories[directories.length - 1] as string;
    await first.server.stop();
    servers.splice(servers.indexOf(first.server), 1);
    const events: LoggedEvent[] = [];
    const server = await startRelayServer({
      storageDirectory: directory,
      port: 0,
      log: createRelayLog("info", (line) => events.push(JSON.parse(line) as LoggedEvent)),
    });
    servers.push(server);
    const changes = oneLevelChanges(local, 164);
    const peerId = "hostile-restarted";
    const message = (data: Uint8Array) => syncFrame(server, peerId, documentId, data);
    const closed = await sendMessages(server.url, [
      joinMessage(peerId),
      message(syncCarrying(changes.slice(0, 60))),
      message(syncCarrying(changes.slice(60))),
    ]);
    expectClosedTooDeep(closed, events);
    await eventually(async () => (await storedDepth(server, url, 500)) === 60);
  }, 60_000);

  it("limits the documents an address may create per minute; past it, a request is answered doc-unavailable", async () => {
    const { server, events } = await relay({ newDocumentsPerMinute: 3 });
    const peerId = "hostile-creator";
    const asked = Array.from({ length: 5 }, () => randomDocumentId());
    const requests = asked.map((documentId) =>
      cbor.encode({
        type: "request",
        senderId: peerId,
        targetId: server.repo.peerId,
        documentId,
        data: OPENING,
      }),
    );
    // Only asking: the two past the budget are answered at once, and the connection stays.
    const { code, received } = await exchange(server.url, [joinMessage(peerId), ...requests]);
    expect(code).toBeUndefined();
    const unavailable = received
      .filter((message) => message.type === "doc-unavailable")
      .map((message) => message.documentId);
    expect(unavailable).toEqual(expect.arrayContaining(asked.slice(3)));
    // Three reached the Repo; the others never did.
    expect(Object.keys(server.repo.handles).sort()).toEqual(asked.slice(0, 3).sort());
    expect(events.filter((e) => e.event === "quota-exceeded")).toEqual([]);

    // Creating one more (a sync carrying changes) from the same address closes the connection.
    const created = A.change(A.init<{ text: string }>(), (doc) => {
      doc.text = "new";
    });
    const creating = syncFrame(
      server,
      "hostile-creator-2",
      randomDocumentId(),
      creatingSync(created),
    );
    expect(await sendMessages(server.url, [joinMessage("hostile-creator-2"), creating])).toBe(1008);
    expect(events.filter((e) => e.event === "quota-exceeded").map((e) => e.quota)).toEqual([
      "newDocumentsPerMinute",
    ]);
    expect(Object.keys(server.repo.handles)).toHaveLength(3);
  });

  it("counts the documents created per address, so reconnecting does not refill the budget", async () => {
    const { server, events } = await relay({ newDocumentsPerMinute: 3 });
    const creating = (peerId: string) => {
      const created = A.change(A.init<{ text: string }>(), (doc) => {
        doc.text = peerId;
      });
      return syncFrame(server, peerId, randomDocumentId(), creatingSync(created));
    };
    const session = (peerId: string, count: number, localAddress?: string) =>
      exchange(
        server.url,
        [joinMessage(peerId), ...Array.from({ length: count }, () => creating(peerId))],
        1000,
        localAddress,
      );
    // Three documents on a first connection: within the budget, the socket stays open.
    expect((await session("reconnecting-1", 3)).code).toBeUndefined();
    // A new connection from the same address, with a new peer id, gets no fresh budget.
    expect((await session("reconnecting-2", 1)).code).toBe(1008);
    expect(events.filter((e) => e.event === "quota-exceeded").map((e) => e.quota)).toEqual([
      "newDocumentsPerMinute",
    ]);
    // Another address has a budget of its own.
    expect((await session("elsewhere", 1, "127.0.0.2")).code).toBeUndefined();
    await eventually(() => Object.keys(server.repo.handles).length === 4);
  });

  it("counts the bytes written per address, so reconnecting does not refill the budget", async () => {
    const { server, events } = await relay({ writeBytesPerMinute: 48 * 1024 });
    const first = clientRepo(server.url).repo;
    const kept = first.create({ text: randomBytes(30_000).toString("base64") });
    try {
      await eventually(() => server.repo.handles[kept.documentId]?.isReady() === true);
    } finally {
      await first.shutdown();
    }
    const second = clientRepo(server.url).repo;
    second.create({ text: randomBytes(30_000).toString("base64") });
    try {
      await eventually(() => events.some((e) => e.quota === "writeBytesPerMinute"));
    } finally {
      await second.shutdown();
    }
  });

  it("refuses to let a document grow past the size limit; smaller documents still sync", async () => {
    const { server, events } = await relay({ maxDocumentBytes: 64 * 1024 });
    const { repo } = clientRepo(server.url);
    const bloated = repo.create({ text: randomBytes(150_000).toString("base64") });
    try {
      await eventually(() => events.some((e) => e.quota === "maxDocumentBytes"));
    } finally {
      await repo.shutdown();
    }
    expect(server.repo.handles[bloated.documentId]?.isReady() ?? false).toBe(false);
    await syncThroughRelay(server.url, "small");
  });

  it("limits the bytes of changes one connection may write per minute", async () => {
    const { server, events } = await relay({ writeBytesPerMinute: 32 * 1024 });
    const { repo } = clientRepo(server.url);
    repo.create({ text: randomBytes(75_000).toString("base64") });
    try {
      await eventually(() => events.some((e) => e.quota === "writeBytesPerMinute"));
    } finally {
      await repo.shutdown();
    }
    await syncThroughRelay(server.url, "small");
  });

  it("limits the bytes one connection may send per minute", async () => {
    const { server, events } = await relay({ receiveBytesPerMinute: 200 * 1024 });
    const peerId = "hostile-flood";
    const documentId = randomDocumentId();
    const ephemeral = (count: number) =>
      cbor.encode({
        type: "ephemeral",
        senderId: peerId,
        targetId: server.repo.peerId,
        documentId,
        count,
        sessionId: "s",
        data: cbor.encode("z".repeat(60_000)),
      });
    const flood = [joinMessage(peerId), ...Array.from({ length: 5 }, (_, i) => ephemeral(i))];
    expect(await sendMessages(server.url, flood)).toBe(1008);
    expect(events.filter((e) => e.event === "quota-exceeded").map((e) => e.quota)).toEqual([
      "receiveBytesPerMinute",
    ]);
    await syncThroughRelay(server.url);
  });

  it("keeps a peer that sends while its answers to pings are late, and drops one that neither sends nor answers", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-hostile-"));
    directories.push(directory);
    const server = await startRelayServer({
      storageDirectory: directory,
      port: 0,
      keepAliveMs: 200,
    });
    servers.push(server);
    const { default: WebSocket } = await import("ws");
    // Neither answers pings: a client busy pushing, whose pong waits behind its messages, looks like this.
    const connect = (peerId: string) =>
      new Promise<InstanceType<typeof WebSocket>>((resolve, reject) => {
        const socket = new WebSocket(server.url, { autoPong: false });
        socket.once("open", () => {
          socket.send(joinMessage(peerId));
          resolve(socket);
        });
        socket.once("error", reject);
      });
    const busy = await connect("busy-peer");
    const silent = await connect("silent-peer");
    const closed = new Set<string>();
    busy.once("close", () => closed.add("busy"));
    silent.once("close", () => closed.add("silent"));
    const documentId = randomDocumentId();
    for (let count = 0; count < 20; count++) {
      busy.send(
        cbor.encode({
          type: "ephemeral",
          senderId: "busy-peer",
          targetId: server.repo.peerId,
          documentId,
          count,
          sessionId: "s",
          data: cbor.encode("still here"),
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    // 1.2 s is six pings: the silent peer is gone, the busy one is not.
    expect([...closed]).toEqual(["silent"]);
    busy.close();
  });

  it("logs connections opened and closed with the peer id and remote address", async () => {
    const { server, events } = await relay();
    await syncThroughRelay(server.url);
    await eventually(() => events.some((e) => e.event === "connection-closed"));
    const kinds = new Set(events.map((e) => e.event));
    expect(kinds).toEqual(new Set(["connection-opened", "peer-joined", "connection-closed"]));
    const joined = events.find((e) => e.event === "peer-joined") as LoggedEvent & {
      remoteAddress: string;
    };
    expect(joined.peerId).toMatch(/^test-/);
    expect(joined.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

/**
 * Opens a WebSocket to `url`, sends each message, and collects what the relay
 * answers for `ms`; resolves with the close code (undefined when it stayed
 * open) and the decoded messages.
 */
async function exchange(
  url: string,
  messages: readonly Uint8Array[],
  ms = 1500,
  /** The client's own address (any of 127.0.0.0/8 reaches a relay on 127.0.0.1). */
  localAddress?: string,
): Promise<{ code: number | undefined; received: { type: string; documentId?: string }[] }> {
  const { default: WebSocket } = await import("ws");
  return new Promise((resolve) => {
    const received: { type: string; documentId?: string }[] = [];
    const socket = new WebSocket(url, localAddress === undefined ? {} : { localAddress });
    const timer = setTimeout(() => {
      socket.terminate();
      resolve({ code: undefined, received });
    }, ms);
    socket.on("error", () => {});
    socket.on("message", (data: Buffer) => {
      received.push(cbor.decode(new Uint8Array(data)) as { type: string; documentId?: string });
    });
    socket.on("open", () => {
      for (const message of messages) socket.send(message);
    });
    socket.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, received });
    });
  });
}

/** Joins as `peerId` and sends `messages` spaced 200 ms apart; resolves with the close code. */
async function sendMessagesAfter(
  url: string,
  peerId: string,
  messages: readonly Uint8Array[],
): Promise<number | undefined> {
  const { default: WebSocket } = await import("ws");
  return withTimeout(
    new Promise<number | undefined>((resolve) => {
      const socket = new WebSocket(url);
      socket.on("error", () => {});
      socket.on("open", async () => {
        socket.send(joinMessage(peerId));
        for (const message of messages) {
          await new Promise((r) => setTimeout(r, 200));
          if (socket.readyState === socket.OPEN) socket.send(message);
        }
      });
      socket.on("close", (code) => resolve(code));
    }),
    5000,
  );
}

describe("peer ids are not authenticated: one token cannot take over another's connection", () => {
  it("refuses a join under a peer id held by a connection of another space's token; the same token may take it over", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-hostile-"));
    directories.push(directory);
    const events: LoggedEvent[] = [];
    const alpha = randomDocumentId();
    const beta = randomDocumentId();
    const server = await startRelayServer({
      storageDirectory: directory,
      port: 0,
      token: "admin-token-0123456789",
      spaceTokens: twoSpacesTokens(alpha, beta, "admin-token-0123456789"),
      log: createRelayLog("info", (line) => events.push(JSON.parse(line) as LoggedEvent)),
    });
    servers.push(server);
    const { default: WebSocket } = await import("ws");
    const open = async (token: string) => {
      const socket = new WebSocket(`${server.url}?token=${token}`);
      socket.on("error", () => {});
      await new Promise((resolve) => socket.once("open", resolve));
      const closed = new Promise<number>((resolve) => socket.once("close", resolve));
      socket.send(joinMessage("victim-peer"));
      return { socket, closed };
    };
    const victim = await open("alpha-token-0123456789");
    await eventually(() => events.some((e) => e.event === "peer-joined"));

    const attacker = await open("beta-token-0123456789");
    expect(await withTimeout(attacker.closed, 3000)).toBe(1008);
    expect(disconnects(events)).toEqual(["claims the peer id of another token's connection"]);
    expect(victim.socket.readyState).toBe(WebSocket.OPEN);

    // The victim itself reconnecting (same token, same peer id) replaces its old socket.
    const again = await open("alpha-token-0123456789");
    await withTimeout(victim.closed, 3000);
    expect(again.socket.readyState).toBe(WebSocket.OPEN);
    again.socket.close();
  });
});
