import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel } from "node:worker_threads";
import { type DocHandle, type PeerId, Repo, type StorageId } from "@automerge/automerge-repo";
import { MessageChannelNetworkAdapter } from "@automerge/automerge-repo-network-messagechannel";
import { CanonError } from "@canon/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { canonHome, FileStorage, openReplica, type Replica } from "../../src/index.js";
import { inSync, openRelaySession } from "../../src/sync/relay-session.js";
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
  cleanup.push(() => opened.close());
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
  const peer = new Repo({
    network: [new MessageChannelNetworkAdapter(asPort(port2))],
    storage: new FileStorage(await temporaryDirectory()),
    peerId: "peer" as PeerId,
    syncDebounceRate: 2,
  });
  cleanup.push(async () => {
    await Promise.all([client.shutdown(), peer.shutdown()]);
    port1.close();
    port2.close();
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
  /** A handle whose own heads and last-reported heads of a peer are given. */
  const handleWith = (ours: string[], theirs: string[] | undefined) =>
    ({
      heads: () => ours,
      getSyncInfo: () => (theirs === undefined ? undefined : { lastHeads: theirs }),
    }) as unknown as DocHandle<unknown>;
  const storageId = "relay" as StorageId;

  it("compares heads as sets, and is false when the peer has reported nothing", () => {
    expect(inSync(handleWith(["a", "b"], ["b", "a"]), storageId)).toBe(true);
    expect(inSync(handleWith(["a"], ["a", "b"]), storageId)).toBe(false);
    expect(inSync(handleWith(["a", "b"], ["a"]), storageId)).toBe(false);
    expect(inSync(handleWith(["a", "b"], ["a", "c"]), storageId)).toBe(false);
    expect(inSync(handleWith(["a"], undefined), storageId)).toBe(false);
    expect(inSync(handleWith([], []), storageId)).toBe(true);
  });

  it("turns true once the storing peer reports our heads, false on a local change, and true again once that change reached it", async () => {
    const { client, storageId } = await clientAndStoringPeer();
    const handle = client.create<{ records: Record<string, string> }>({ records: {} });
    expect(inSync(handle, storageId)).toBe(false);
    await vi.waitFor(() => expect(inSync(handle, storageId)).toBe(true), { timeout: 10_000 });

    handle.change((doc) => {
      doc.records.cid = "record";
    });
    expect(inSync(handle, storageId)).toBe(false);
    await vi.waitFor(() => expect(inSync(handle, storageId)).toBe(true), { timeout: 10_000 });
    expect(handle.getSyncInfo(storageId)?.lastHeads).toEqual(handle.heads());
  });

  it("is false for a storage id that is not the peer's", async () => {
    const { client, storageId } = await clientAndStoringPeer();
    const handle = client.create({ n: 1 });
    await vi.waitFor(() => expect(inSync(handle, storageId)).toBe(true), { timeout: 10_000 });
    expect(inSync(handle, "some-other-store" as StorageId)).toBe(false);
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
