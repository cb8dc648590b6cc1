import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  type HostileServer,
  hostileServer,
  type PeerMessage,
} from "../../../packages/store/test/helpers/hostile-server.js";
import {
  createRelayLog,
  type RelayLimits,
  type RelayServer,
  startRelayServer,
} from "../src/index.js";
import {
  eventually,
  fetchThroughRelay,
  joinMessage,
  syncThroughRelay,
  twoSpacesTokens,
} from "./helpers/hostile-peer.js";

interface LoggedEvent {
  readonly level: string;
  readonly event: string;
  readonly reason?: string;
  readonly quota?: string;
  readonly peer?: string;
  readonly limit?: number;
}

/** A message the relay under test sent the hostile peer relay. */
type RelayMessage = PeerMessage;

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "canon-hostile-peer-relay-"));
  cleanup.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

/**
 * A WebSocket server on 127.0.0.1 playing a relay ours peers with, owned by
 * the attacker: `onMessage` gets each message our relay sends it, with
 * `reply` to answer (from the peer id `hostile-relay` unless a field says
 * otherwise). Counts the connections our relay opened.
 */
function hostilePeerRelay(
  onMessage: (message: RelayMessage, reply: (fields: Record<string, unknown>) => void) => void,
): Promise<HostileServer> {
  return hostileServer(cleanup, "hostile-relay", onMessage);
}

/** Our relay, peering with `peer`, its data in `directory`, its log lines kept in `events`. */
async function relayPeeringWith(
  peer: string,
  directory: string,
  limits: Partial<RelayLimits> = {},
  token?: string,
): Promise<{ server: RelayServer; events: LoggedEvent[] }> {
  const events: LoggedEvent[] = [];
  const server = await startRelayServer({
    storageDirectory: directory,
    port: 0,
    limits,
    peers: [{ url: peer, token }],
    log: createRelayLog("info", (line) => events.push(JSON.parse(line) as LoggedEvent)),
  });
  cleanup.push(() => server.stop());
  return { server, events };
}

/** The answer to our relay's join, as an honest relay gives it. */
const PEER_ANSWER = {
  type: "peer",
  peerMetadata: { storageId: "0b9d4c6e-6f0e-4a55-9b1a-0d7b6b4f5e21", isEphemeral: false },
  selectedProtocolVersion: "1",
};

/** A document of `levels` changes, each nesting one map in the last: no change nests more than one. */
function oneLevelChanges(levels: number): { heads: A.Heads; changes: Uint8Array[] } {
  const local = A.getBackend(A.init());
  const changes: Uint8Array[] = [];
  let obj = "_root";
  for (let i = 0; i < levels; i++) {
    obj = local.putObject(obj, "n", {});
    local.commit(`level ${i}`);
    changes.push(local.getLastLocalChange() as Uint8Array);
  }
  return { heads: local.getHeads(), changes };
}

/** The token ours presents to the peer relay: never logged. */
const PEER_TOKEN = "peer-token-never-logged-0123";

/** Our relay, its first client served, peering with a hostile relay that answered its join honestly. */
async function servedAndPeered(limits: Partial<RelayLimits> = {}) {
  const hostile = await hostilePeerRelay((message, reply) => {
    if (message.type === "join") reply(PEER_ANSWER);
  });
  const data = await temporaryDirectory();
  const relay = await relayPeeringWith(hostile.url, data, limits, PEER_TOKEN);
  // The Repo takes documents from the network only once a client came.
  await syncThroughRelay(relay.server.url);
  await eventually(() => hostile.connections() > 0);
  return { ...relay, hostile, data };
}

/** A sync message creating `doc` at a peer that holds nothing of it. */
function creatingSync(doc: A.Doc<unknown>): Uint8Array {
  const opening = A.generateSyncMessage(A.init(), A.initSyncState())[1] as Uint8Array;
  return A.encodeSyncMessage({
    ...A.decodeSyncMessage(opening),
    heads: A.getHeads(doc),
    changes: A.getAllChanges(doc),
  });
}

function refusals(events: readonly LoggedEvent[]): string[] {
  return events.filter((e) => e.event === "peer-relay-refused").map((e) => e.reason ?? "");
}

/** Every file under `directory`, as paths relative to it. */
async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1));
}

describe("a relay ours peers with, owned by an attacker", () => {
  it("cannot make ours write outside its data directory with the storage id it announces", async () => {
    const outer = await temporaryDirectory();
    const data = join(outer, "data");
    await mkdir(data);
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const doc = A.from({ note: "pushed by the peer relay" });
    const hostile = await hostilePeerRelay((message, reply) => {
      if (message.type !== "join") return;
      // <data>/<2>/<rest>/sync-state/<storage id>: four steps up is <outer>.
      reply({
        type: "peer",
        peerMetadata: { storageId: "../../../../escaped", isEphemeral: false },
        selectedProtocolVersion: "1",
      });
    });
    const { server, events } = await relayPeeringWith(hostile.url, data);
    // Ours serves its own clients (the Repo takes documents from the network only once a client came).
    await syncThroughRelay(server.url);
    await eventually(() => hostile.connections() > 0);
    hostile.send({ type: "sync", documentId, data: creatingSync(doc) });
    // Give the relay time to take the message and save its sync state (throttled).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await filesUnder(outer)).not.toContain("escaped");
    expect(refusals(events)).toContain("bad message: peerMetadata.storageId is not a UUID");
    await syncThroughRelay(server.url);
  });

  it("refuses changes one level deep each that would nest a document over 64 deep (Automerge traps at 20,000), and keeps serving", async () => {
    const { server, events, hostile } = await servedAndPeered();
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const { heads, changes } = oneLevelChanges(164);
    const opening = A.generateSyncMessage(A.init(), A.initSyncState())[1] as Uint8Array;
    hostile.send({
      type: "sync",
      documentId,
      data: A.encodeSyncMessage({ ...A.decodeSyncMessage(opening), heads, changes }),
    });
    await eventually(() => refusals(events).length > 0);
    expect(refusals(events)).toEqual(["sync message nests objects over 64 deep in the document"]);
    expect(await server.repo.storageSubsystem?.loadDoc(documentId as never)).toBeNull();
    await syncThroughRelay(server.url);
  }, 30_000);

  it("holds a peer relay to the document size limit, and connects to it again", async () => {
    const { server, events, hostile } = await servedAndPeered({ maxDocumentBytes: 64 * 1024 });
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const large = A.from({ text: randomBytes(150_000).toString("base64") });
    hostile.send({ type: "sync", documentId, data: creatingSync(large) });
    await eventually(() => refusals(events).length > 0);
    expect(refusals(events)).toEqual(["quota exceeded: maxDocumentBytes"]);
    expect(events.find((e) => e.event === "peer-relay-refused")).toMatchObject({
      peer: hostile.url.replace(/\/?$/, "/"),
      limit: 64 * 1024,
    });
    expect(JSON.stringify(events)).not.toContain(PEER_TOKEN);
    expect(await server.repo.storageSubsystem?.loadDoc(documentId as never)).toBeNull();
    // It is connected again, a second later, and still held to it.
    await eventually(() => hostile.connections() > 1);
    await syncThroughRelay(server.url);
  }, 30_000);

  it("refuses a peer relay answering our join under our relay's own peer id", async () => {
    const events: LoggedEvent[] = [];
    const hostile = await hostilePeerRelay((message, reply) => {
      if (message.type === "join") reply({ ...PEER_ANSWER, senderId: message.senderId });
    });
    const data = await temporaryDirectory();
    const relay = await relayPeeringWith(hostile.url, data);
    relay.events.length = 0;
    await eventually(() => refusals(relay.events).length > 0);
    events.push(...relay.events);
    expect(refusals(events)[0]).toBe("claims this relay's or a client's peer id");
    await syncThroughRelay(relay.server.url);
  }, 30_000);
});

describe("a client claiming the peer id of a relay ours peers with", () => {
  it("is refused unless it holds the admin token: leaving, it cut the peering for good", async () => {
    const admin = "admin-token-0123456789";
    const alpha = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const beta = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const other = await startRelayServer({
      storageDirectory: await temporaryDirectory(),
      port: 0,
      token: admin,
    });
    cleanup.push(() => other.stop());
    const events: LoggedEvent[] = [];
    const ours = await startRelayServer({
      storageDirectory: await temporaryDirectory(),
      port: 0,
      token: admin,
      spaceTokens: twoSpacesTokens(alpha, beta, admin),
      peers: [{ url: other.url, token: admin }],
      log: createRelayLog("info", (line) => events.push(JSON.parse(line) as LoggedEvent)),
    });
    cleanup.push(() => ours.stop());
    // Anyone who connects to the other relay hears its peer id.
    const otherId = other.repo.peerId;
    await eventually(async () => ((await ours.health()) as { peers: number }).peers > 0);
    const socket = new WebSocket(`${ours.url}?token=beta-token-0123456789`);
    socket.on("error", () => {});
    const heard: string[] = [];
    socket.on("message", (raw: Buffer) => {
      const message = cbor.decode(new Uint8Array(raw)) as RelayMessage;
      heard.push(message.type);
    });
    await new Promise((resolve) => socket.once("open", resolve));
    const closed = new Promise<number>((resolve) => socket.once("close", resolve));
    socket.send(joinMessage(otherId));
    // Refused at once; without the rule, it was answered and then left.
    const code = await Promise.race([
      closed,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000)),
    ]);
    socket.close();
    await closed;
    expect(heard).toEqual([]);
    expect(code).toBe(1008);
    expect(events.filter((e) => e.event === "peer-disconnected").map((e) => e.reason)).toEqual([
      "claims the peer id of a relay this one peers with",
    ]);
    // The peering still carries a client's write from ours to the other relay.
    const url = await syncThroughRelay(`${ours.url}?token=${admin}`, "peered");
    await eventually(async () => {
      try {
        return (
          (await fetchThroughRelay<{ text: string }>(`${other.url}?token=${admin}`, url)).text ===
          "peered"
        );
      } catch {
        return false;
      }
    }, 15_000);
  }, 30_000);
});

describe("a peer relay answering each reconnection under a new id", () => {
  // Sixth pass: every id a peer relay ever answered our join with was kept, for
  // as long as our relay ran, and a client could not join under any of them
  // without the admin token. A peer relay refused (a bad message) is
  // reconnected a second later: one id more a second, without end.
  it("is remembered under its last id only", async () => {
    const admin = "admin-token-0123456789";
    const alpha = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const beta = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    let answered = 0;
    const hostile = await hostilePeerRelay((message, reply) => {
      if (message.type !== "join") return;
      answered += 1;
      const senderId = `hostile-relay-${answered}`;
      reply({ ...PEER_ANSWER, senderId });
      // Refused at once, so ours reconnects a second later.
      reply({ type: "leave", senderId: "not a peer id!" });
    });
    const ours = await startRelayServer({
      storageDirectory: await temporaryDirectory(),
      port: 0,
      token: admin,
      spaceTokens: twoSpacesTokens(alpha, beta, admin),
      peers: [{ url: hostile.url, token: admin }],
      log: createRelayLog("silent"),
    });
    cleanup.push(() => ours.stop());
    await eventually(() => answered >= 3, 20_000);
    // An id the peer relay gave up on is an ordinary id again: a client may join under it.
    const socket = new WebSocket(`${ours.url}?token=beta-token-0123456789`);
    socket.on("error", () => {});
    const heard: string[] = [];
    socket.on("message", (raw: Buffer) => {
      heard.push((cbor.decode(new Uint8Array(raw)) as RelayMessage).type);
    });
    await new Promise((resolve) => socket.once("open", resolve));
    const closed = new Promise<number>((resolve) => socket.once("close", resolve));
    socket.send(joinMessage("hostile-relay-1"));
    await eventually(() => heard.length > 0, 10_000);
    socket.close();
    await closed;
    expect(heard[0]).toBe("peer");
  }, 40_000);
});
