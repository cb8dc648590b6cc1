import { randomBytes } from "node:crypto";
import { type DocHandle, type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RelayServer, startRelayServer } from "../src/relay-server.js";
import { startTestPostgres, type TestPostgres } from "./helpers/postgres-server.js";

type Doc = { blobs: Record<string, string> };

let postgres: TestPostgres;
const relays: RelayServer[] = [];
const clients: Repo[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
}, 90_000);

afterEach(async () => {
  for (const client of clients.splice(0)) await client.shutdown().catch(() => undefined);
  for (const relay of relays.splice(0)) await relay.stop();
});

afterAll(async () => {
  await postgres?.stop();
});

const LIMIT = 40_000;

async function relay(): Promise<RelayServer> {
  const started = await startRelayServer({
    databaseUrl: postgres.url,
    port: 0,
    limits: { maxDocumentBytes: LIMIT },
    logLevel: "silent",
  });
  relays.push(started);
  return started;
}

function clientOf(server: RelayServer): Repo {
  const client = new Repo({
    network: [new WebSocketClientAdapter(server.url, 100)],
    peerId: `client-${randomBytes(3).toString("hex")}` as PeerId,
  });
  clients.push(client);
  return client;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function acknowledged(client: Repo, handle: DocHandle<unknown>): boolean {
  const storageId = client.peers
    .map((peer) => client.getStorageIdOfPeer(peer))
    .find((id) => id !== undefined);
  const theirs = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
  const ours = handle.heads();
  return theirs?.length === ours.length && theirs.every((h) => ours.includes(h));
}

async function quotaRefusals(server: RelayServer): Promise<number> {
  const text = await server.metrics();
  return Number(
    /^canon_relay_refused_connections_total\{reason="quota-exceeded"\} (\S+)$/m.exec(text)?.[1] ??
      0,
  );
}

/** Random text (does not compress) of about `bytes` bytes. */
function incompressible(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString("base64");
}

describe("the per-document size limit on a shared database", () => {
  it("counts what every relay stored: a write through relay 2 is refused once relay 1's writes filled the document", async () => {
    const one = await relay();
    const two = await relay();
    // Created through relay 2, which then knows the document's size (small).
    const creator = clientOf(two);
    const handle = creator.create<Doc>({ blobs: {} });
    await waitFor(() => acknowledged(creator, handle));

    // 24 KB through relay 1: within the limit.
    const first = clientOf(one);
    const viaOne = await first.find<Doc>(handle.url);
    viaOne.change((doc) => {
      doc.blobs.first = incompressible(24_000);
    });
    await waitFor(() => acknowledged(first, viaOne));
    expect(await quotaRefusals(one)).toBe(0);

    // Another 24 KB through relay 2, which accepted only a few bytes itself.
    await waitFor(() => handle.doc().blobs.first !== undefined);
    handle.change((doc) => {
      doc.blobs.second = incompressible(24_000);
    });
    await waitFor(async () => (await quotaRefusals(two)) === 1, 10_000);
    expect(acknowledged(creator, handle)).toBe(false);
  });
});
