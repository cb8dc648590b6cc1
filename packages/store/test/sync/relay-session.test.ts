import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel } from "node:worker_threads";
import * as A from "@automerge/automerge";
import { type DocHandle, encodeHeads, type PeerId, Repo } from "@automerge/automerge-repo";
import { MessageChannelNetworkAdapter } from "@automerge/automerge-repo-network-messagechannel";
import { CanonError } from "@canon/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  canonHome,
  FileStorage,
  openReplica,
  type Replica,
  WritesInFlight,
} from "../../src/index.js";
import { inSync, openRelaySession } from "../../src/sync/relay-session.js";
import { ReportedHeads } from "../../src/sync/reported-heads.js";
import { startHoldingProxy } from "../holding-proxy.js";
import { closedPort, startTestRelay, type TestRelay } from "../relay-fixture.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "canon-session-"));
  cleanup.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

async function relay(): Promise<TestRelay> {
  const started = await startTestRelay();
  cleanup.push(() => started.stop());
  return started;
}

async function replica(): Promise<Replica> {
  const opened = await openReplica(canonHome(await temporaryDirectory()));
  cleanup.push(async () => {
    await opened.close();
    // Saves automerge-repo throttled before the close land before the directory goes.
    await opened.writesSettled();
  });
  return opened;
}

/** Two Repos over a MessageChannel; the second stores documents, so it has a storage id. */
async function clientAndStoringPeer() {
  const { port1, port2 } = new MessageChannel();
  const asPort = (port: typeof port1) =>
    port as unknown as ConstructorParameters<typeof MessageChannelNetworkAdapter>[0];
  const client = new Repo({
    network: [new MessageChannelNetworkAdapter(asPort(port1))],
    peerId: "client" as PeerId,
    syncDebounceRate: 2,
  });
  const writes = new WritesInFlight();
  const peer = new Repo({
    network: [new MessageChannelNetworkAdapter(asPort(port2))],
    storage: writes.wrap(new FileStorage(await temporaryDirectory())),
    peerId: "peer" as PeerId,
    syncDebounceRate: 2,
  });
  cleanup.push(async () => {
    await Promise.all([client.shutdown(), peer.shutdown()]);
    port1.close();
    port2.close();
    await writes.settled();
  });
  // The id the peer announced. (Not `peer.storageId()`: on a fresh store a second call
  // races the first and can mint another id, automerge-repo 2.5.6's StorageSubsystem.id().)
  const storageId = await vi.waitFor(
    () => {
      const announced = client.getStorageIdOfPeer(peer.peerId);
      if (announced === undefined) throw new Error("the peer has not introduced itself yet");
      return announced;
    },
    { timeout: 10_000 },
  );
  return { client, peer, storageId };
}

describe("inSync", () => {
  /** A ready handle holding `doc`. */
  const handleOf = (doc: A.Doc<unknown>) =>
    ({
      heads: () => encodeHeads(A.getHeads(doc)),
      isReady: () => true,
      doc: () => doc,
    }) as unknown as DocHandle<unknown>;
  /** A handle whose own heads are given. */
  const handleWith = (ours: string[]) => ({ heads: () => ours }) as unknown as DocHandle<unknown>;

  it("compares heads as sets, and is false when the relay has reported nothing", () => {
    expect(inSync(handleWith(["a", "b"]), ["b", "a"])).toBe(true);
    expect(inSync(handleWith(["a"]), ["a", "b"])).toBe(false);
    expect(inSync(handleWith(["a", "b"]), ["a"])).toBe(false);
    expect(inSync(handleWith(["a", "b"]), ["a", "c"])).toBe(false);
    expect(inSync(handleWith(["a"]), undefined)).toBe(false);
    expect(inSync(handleWith([]), [])).toBe(true);
  });

  it("with a floor, is true only once this replica holds every change the floor names", () => {
    const first = A.from<{ n: number }>({ n: 1 });
    const later = A.change(A.clone(first), (doc) => {
      doc.n = 2;
    });
    const ours = (doc: A.Doc<unknown>) => encodeHeads(A.getHeads(doc));
    const floor = ours(later);
    // The relay said it holds our heads, but its summary names a change we lack.
    expect(inSync(handleOf(first), ours(first), floor)).toBe(false);
    expect(inSync(handleOf(later), ours(later), floor)).toBe(true);
    // Holding more than the floor is fine; an older floor is met.
    const further = A.change(A.clone(later), (doc) => {
      doc.n = 3;
    });
    expect(inSync(handleOf(further), ours(further), floor)).toBe(true);
    expect(inSync(handleOf(further), ours(further), ours(first))).toBe(true);
    // A floor that is not a head encoding (an unsigned summary) is never met.
    expect(inSync(handleOf(later), ours(later), ["not-a-head"])).toBe(false);
  });

  it("turns true once the storing peer reports our heads, false on a local change, and true again once that change reached it", async () => {
    const { client, peer } = await clientAndStoringPeer();
    const reported = new ReportedHeads(client);
    cleanup.push(async () => reported.stop());
    const handle = client.create<{ records: Record<string, string> }>({ records: {} });
    const theirs = () => reported.latest(peer.peerId, handle.documentId);
    expect(inSync(handle, theirs())).toBe(false);
    await vi.waitFor(() => expect(inSync(handle, theirs())).toBe(true), { timeout: 10_000 });

    handle.change((doc) => {
      doc.records.cid = "record";
    });
    expect(inSync(handle, theirs())).toBe(false);
    await vi.waitFor(() => expect(inSync(handle, theirs())).toBe(true), { timeout: 10_000 });
    expect(theirs()).toEqual(handle.heads());
    expect(reported.latest("another-peer" as PeerId, handle.documentId)).toBeUndefined();
  });
});

describe("a relay's heads, connection by connection", () => {
  it("a new connection knows nothing of what the relay said over an earlier one, and is in step only once it received what another peer pushed meanwhile", async () => {
    const { server } = await relay();
    const mine = await replica();
    // The replica stays open across connections, as the home's owner keeps it.
    const handle = mine.create<{ n: number }>({ n: 1 });
    const first = await openRelaySession(mine, { url: server.url }, 10_000);
    await vi.waitFor(() => expect(inSync(handle, first.relayHeads(handle.documentId))).toBe(true), {
      timeout: 10_000,
    });
    const storageId = first.storageId;
    first.close();

    // Another peer changes the document through the relay while this one is away.
    const other = await replica();
    const theirs = await openRelaySession(other, { url: server.url }, 10_000);
    const found = await other.find<{ n: number }>(handle.documentId);
    if (found === undefined) throw new Error("the other peer did not receive the document");
    found.change((doc) => {
      doc.n = 2;
    });
    await vi.waitFor(() => expect(inSync(found, theirs.relayHeads(found.documentId))).toBe(true), {
      timeout: 10_000,
    });
    theirs.close();

    // automerge-repo's sync info still says the relay holds our old heads.
    expect(handle.getSyncInfo(storageId)?.lastHeads).toEqual(handle.heads());
    // The second connection goes through a proxy that lets the relay introduce itself and
    // holds back the rest: without it, the relay's first sync message (which carries the
    // change: it remembers what it shared with this peer) may be applied before
    // openRelaySession returns, and the moment to check would be gone.
    const proxy = await startHoldingProxy(server.url);
    cleanup.push(() => proxy.close());
    const second = await openRelaySession(mine, { url: proxy.url }, 10_000);
    cleanup.push(async () => second.close());
    // What the relay reported over the first connection does not count on the second.
    expect(second.relayHeads(handle.documentId)).toBeUndefined();
    expect(second.atStart.get(handle.documentId)).toBeUndefined();
    expect(inSync(handle, second.relayHeads(handle.documentId))).toBe(false);
    proxy.release();
    await vi.waitFor(
      () => expect(inSync(handle, second.relayHeads(handle.documentId))).toBe(true),
      { timeout: 10_000 },
    );
    expect(handle.doc().n).toBe(2);
    expect(second.atStart.get(handle.documentId)).toEqual(found.heads());
  });
});

describe("openRelaySession", () => {
  it("resolves once the relay has introduced itself, with its peer id and storage id, and close disconnects", async () => {
    const { server } = await relay();
    const local = await replica();
    const session = await openRelaySession(local, { url: server.url }, 10_000);
    expect(session.peerId).toBe(server.repo.peerId);
    expect(session.storageId).toBe(await server.repo.storageId());
    expect(local.repo.peers).toContain(server.repo.peerId);

    session.close();
    expect(local.repo.peers).not.toContain(server.repo.peerId);
    expect(local.repo.networkSubsystem.adapters).not.toContain(session.client);
  });

  it("gives up with RELAY_UNREACHABLE, naming the relay, the timeout and the socket error, when nothing listens", async () => {
    const local = await replica();
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const failure = await openRelaySession(local, { url }, 1_000).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CanonError);
    expect(failure).toMatchObject({ code: "RELAY_UNREACHABLE" });
    expect((failure as Error).message).toMatch(
      new RegExp(`^relay ${url} did not answer as a sync peer within 1 s: .*ECONNREFUSED`),
    );
    // The failed client is no longer attached to the replica.
    expect(local.repo.networkSubsystem.adapters).toEqual([]);
  });

  it("says the user's whole timeout, not what was left of it", async () => {
    const local = await replica();
    const url = `ws://127.0.0.1:${await closedPort()}`;
    await expect(openRelaySession(local, { url }, 100, 30_000)).rejects.toThrow(/within 30 s/);
  });

  it("stops connecting as soon as its signal aborts", async () => {
    const local = await replica();
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const controller = new AbortController();
    const connecting = openRelaySession(local, { url }, 600_000, 600_000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(connecting).rejects.toMatchObject({
      code: "RELAY_UNREACHABLE",
      message: `stopped connecting to ${url}`,
    });
    expect(local.repo.networkSubsystem.adapters).toEqual([]);
  }, 20_000);
});
