import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AutomergeUrl, cbor } from "@automerge/automerge-repo";
import { afterAll, expect, it } from "vitest";
import WebSocket from "ws";
import { createRelayLog, type RelayServer, startRelayServer } from "../src/index.js";
import {
  clientRepo,
  eventually,
  fetchThroughRelay,
  frame,
  rawUpgrade,
  syncThroughRelay,
} from "./helpers/hostile-peer.js";

// Fuzzes a real relay with frames derived from a real session: random bytes,
// truncated, bit-flipped and field-swapped recordings, wrong CBOR types,
// oversized messages, and raw frames that break the WebSocket protocol. The
// run is bounded in frames and in time, and seeded so a failure reproduces
// (the seed is printed with the figures).

const FRAME_BUDGET = 10_000;
const TIME_BUDGET_MS = 15_000;
const CONCURRENCY = 8;
/**
 * How long the honest reader after the fuzz may take: the relay has just
 * dropped a thousand fuzzed peers, and in CI on a loaded machine (load ~10)
 * 5 s was once not enough. That it is served at all is what is asserted.
 */
const AFTER_FUZZ_TIMEOUT_MS = 20_000;
const MAX_MESSAGE_BYTES = 256 * 1024;
const SEED = Number(process.env.CANON_FUZZ_SEED ?? Date.now() % 2 ** 31);

const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

/** mulberry32: small, fast, seedable. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const random = generator(SEED);
const below = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[below(items.length)] as T;
const bytes = (length: number) => Uint8Array.from({ length }, () => below(256));

/** A value of any CBOR type, sometimes large or deep. */
function anyValue(depth = 0): unknown {
  switch (below(depth > 3 ? 6 : 9)) {
    case 0:
      return null;
    case 1:
      return below(2) === 0 ? random() * 2 ** 60 - 2 ** 59 : -below(1000);
    case 2:
      return "x".repeat(below(4) === 0 ? 5000 : below(40));
    case 3:
      return bytes(below(64));
    case 4:
      return below(2) === 0;
    case 5:
      return undefined;
    case 6:
      return Array.from({ length: below(5) }, () => anyValue(depth + 1));
    case 7:
      return Object.fromEntries(
        Array.from({ length: below(4) }, (_, i) => [`k${i}`, anyValue(depth + 1)]),
      );
    default:
      return {
        type: pick(["join", "sync", "request", "ephemeral", "leave", "peer", "error"]),
        x: anyValue(depth + 1),
      };
  }
}

function flipBits(message: Uint8Array): Uint8Array {
  const copy = new Uint8Array(message);
  for (let i = 0, n = 1 + below(8); i < n && copy.length > 0; i++) {
    const at = below(copy.length);
    copy[at] = (copy[at] as number) ^ (1 << below(8));
  }
  return copy;
}

/** A recorded message decoded, one field replaced by another field's value or a value of another type, re-encoded. */
function swapFields(message: Uint8Array): Uint8Array {
  const decoded = cbor.decode(message) as Record<string, unknown>;
  const keys = Object.keys(decoded);
  const key = pick(keys);
  decoded[key] = below(2) === 0 ? decoded[pick(keys)] : anyValue();
  if (below(5) === 0) decoded[`extra${below(3)}`] = anyValue();
  return cbor.encode(decoded);
}

/** A recorded message re-addressed from `peerId` to the relay, so it passes the sender checks and reaches deeper ones. */
function readdress(message: Uint8Array, peerId: string, relayId: string): Uint8Array {
  const decoded = cbor.decode(message) as Record<string, unknown>;
  decoded.senderId = peerId;
  if ("targetId" in decoded) decoded.targetId = relayId;
  return cbor.encode(decoded);
}

type Mutation = (recorded: readonly Uint8Array[], peerId: string, relayId: string) => Uint8Array;

const MUTATIONS: readonly Mutation[] = [
  () => bytes(below(512)),
  (recorded) => {
    const message = pick(recorded);
    return message.slice(0, below(message.length));
  },
  (recorded, peerId, relayId) => flipBits(readdress(pick(recorded), peerId, relayId)),
  (recorded, peerId, relayId) => swapFields(readdress(pick(recorded), peerId, relayId)),
  (recorded, peerId, relayId) => readdress(pick(recorded), peerId, relayId),
  () => cbor.encode(anyValue()),
  (recorded, peerId, relayId) => {
    // A sync message whose data is another message's data, flipped.
    const decoded = cbor.decode(readdress(pick(recorded), peerId, relayId)) as Record<
      string,
      unknown
    >;
    if (decoded.data instanceof Uint8Array) decoded.data = flipBits(decoded.data);
    return cbor.encode(decoded);
  },
];

interface Figures {
  frames: number;
  connections: number;
  rawConnections: number;
  oversized: number;
}

/** One connection through `ws`: a join (usually valid), then mutated messages. */
async function fuzzConnection(
  url: string,
  relayId: string,
  recorded: readonly Uint8Array[],
  figures: Figures,
): Promise<void> {
  const peerId = `fuzz-${below(1e9)}`;
  const [join, ...rest] = recorded;
  const messages: Uint8Array[] = [];
  if (join !== undefined && below(4) !== 0) messages.push(readdress(join, peerId, relayId));
  for (let i = 0, n = 1 + below(20); i < n; i++) {
    if (below(60) === 0) {
      messages.push(bytes(MAX_MESSAGE_BYTES + 1 + below(1024)));
      figures.oversized += 1;
    } else messages.push(pick(MUTATIONS)(rest.length > 0 ? rest : recorded, peerId, relayId));
  }
  figures.connections += 1;
  figures.frames += messages.length;
  await new Promise<void>((resolve) => {
    const socket = new WebSocket(url);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      socket.terminate();
      done();
    }, 400);
    socket.on("error", () => {});
    socket.on("close", done);
    socket.on("open", () => {
      for (const message of messages) {
        if (socket.readyState !== WebSocket.OPEN) break;
        socket.send(message);
      }
    });
  });
}

/** One raw TCP connection after a valid upgrade: frames that break the protocol. */
async function fuzzRawConnection(
  port: number,
  recorded: readonly Uint8Array[],
  figures: Figures,
): Promise<void> {
  const socket = await rawUpgrade(port);
  socket.on("error", () => {});
  const frames: Buffer[] = [];
  for (let i = 0, n = 1 + below(6); i < n; i++) {
    const payload = below(2) === 0 ? pick(recorded) : bytes(below(200));
    switch (below(6)) {
      case 0:
        frames.push(frame(payload, { masked: false }));
        break;
      case 1:
        frames.push(frame(payload, { opcode: pick([0x3, 0x4, 0x7, 0xb, 0xf]) }));
        break;
      case 2:
        frames.push(frame(payload, { declaredLength: MAX_MESSAGE_BYTES + 1 + below(2 ** 20) }));
        break;
      case 3:
        frames.push(Buffer.from(bytes(1 + below(64))));
        break;
      case 4:
        // A ping longer than a control frame may be.
        frames.push(frame(bytes(126 + below(100)), { opcode: 0x9 }));
        break;
      default:
        frames.push(frame(payload));
    }
  }
  figures.rawConnections += 1;
  figures.connections += 1;
  figures.frames += frames.length;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, 400);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    for (const piece of frames) if (!socket.destroyed) socket.write(piece);
  });
}

it("stays up, keeps serving and loses nothing under thousands of hostile frames", async () => {
  const directory = await mkdtemp(join(tmpdir(), "canon-relay-fuzz-"));
  directories.push(directory);
  const events: { event: string }[] = [];
  const log = createRelayLog("warn", (line) => events.push(JSON.parse(line) as { event: string }));
  let server: RelayServer = await startRelayServer({
    storageDirectory: directory,
    port: 0,
    limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
    log,
  });

  // A real session: a client creates a document and syncs it through the relay.
  const recorder = clientRepo(server.url);
  const stored = recorder.repo.create({ title: "before the fuzz", items: ["a", "b", "c"] });
  stored.change((doc) => {
    doc.items.push("d");
  });
  await eventually(() => server.repo.handles[stored.documentId]?.isReady() ?? false);
  await eventually(() => recorder.client.sent.length >= 3);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await recorder.repo.shutdown();
  const recorded = [...recorder.client.sent];
  expect(recorded.length).toBeGreaterThanOrEqual(2);
  await server.repo.flush();

  const figures: Figures = { frames: 0, connections: 0, rawConnections: 0, oversized: 0 };
  const relayId = server.repo.peerId;
  const started = Date.now();
  const worker = async () => {
    while (figures.frames < FRAME_BUDGET && Date.now() - started < TIME_BUDGET_MS) {
      if (below(5) === 0) await fuzzRawConnection(server.port, recorded, figures);
      else await fuzzConnection(server.url, relayId, recorded, figures);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = Date.now() - started;
  const disconnected = events.filter((e) => e.event === "peer-disconnected").length;
  console.log(
    JSON.stringify({
      fuzz: { seed: SEED, ...figures, elapsedMs: elapsed, disconnected, logged: events.length },
    }),
  );
  expect(figures.frames).toBeGreaterThanOrEqual(Math.min(FRAME_BUDGET, 1000));
  expect(disconnected).toBeGreaterThan(0);

  // Still up, still serving a real client end to end, and the document stored before is intact.
  expect((await server.health()).ok).toBe(true);
  await syncThroughRelay(server.url, "after the fuzz");
  const before = stored.url as AutomergeUrl;
  expect(await fetchThroughRelay(server.url, before, AFTER_FUZZ_TIMEOUT_MS)).toEqual({
    title: "before the fuzz",
    items: ["a", "b", "c", "d"],
  });
  // And on disk: a new relay over the same directory serves it too.
  await server.stop();
  server = await startRelayServer({
    storageDirectory: directory,
    port: 0,
    log: createRelayLog("silent"),
  });
  try {
    expect(await fetchThroughRelay(server.url, before, AFTER_FUZZ_TIMEOUT_MS)).toEqual({
      title: "before the fuzz",
      items: ["a", "b", "c", "d"],
    });
  } finally {
    await server.stop();
  }
}, 90_000);
