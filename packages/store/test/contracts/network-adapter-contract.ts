import { randomUUID } from "node:crypto";
import {
  type DocHandle,
  generateAutomergeUrl,
  type NetworkAdapterInterface,
  type PeerId,
  type PeerMetadata,
  parseAutomergeUrl,
  Repo,
  type StorageId,
} from "@automerge/automerge-repo";
import { eventPromise, eventPromises } from "@automerge/automerge-repo/helpers/eventPromise.js";
import { pause } from "@automerge/automerge-repo/helpers/pause.js";
import { describe, expect, it } from "vitest";

/**
 * Client adapters that reach each other through a hub: a server with its own
 * Repo (a Canon relay) that every client connects to.
 */
export interface HubSetup {
  /** Three client adapters, not yet connected. */
  readonly clients: readonly [
    NetworkAdapterInterface,
    NetworkAdapterInterface,
    NetworkAdapterInterface,
  ];
  readonly hub: {
    /** The hub's own Repo, which drives `adapter`. */
    readonly repo: Repo;
    /** The hub's server-side adapter: only observed here, never given a second Repo. */
    readonly adapter: NetworkAdapterInterface;
  };
  /** Disconnects the clients and stops the hub; resolves once both are closed. */
  teardown(): Promise<void>;
}

/** Per case: a broken adapter fails in seconds, not at the global timeout. */
const CASE_TIMEOUT_MS = 30_000;

/**
 * A port of automerge-repo 2.5.6's network adapter acceptance suite
 * (`src/helpers/tests/network-adapter-tests.ts`, shipped as
 * `@automerge/automerge-repo/helpers/tests/network-adapter-tests.js`) to
 * client adapters of a hub: the same seven cases, in the same order, with the
 * same assertions. The package's suite cannot be run on them as it is:
 * - it passes the server adapter as `adapters[1]`, the direct counterpart of
 *   `adapters[0]`, and gives it a Repo of its own. A Canon relay owns its
 *   server adapter and Repo, so the counterpart here is the hub (its adapter
 *   and Repo), and the other clients reach each other through it;
 * - it lets Bob `find` Alice's new document after `pause(50)` ("this
 *   shouldn't be necessary"), counting on Bob's request reaching Alice. A
 *   Canon relay never asks one client for another's document (it only stores
 *   and forwards), so Bob asks once the hub holds it: no timing guess;
 * - "should not send messages after disconnect" compares with `assert.equal`
 *   (`==`), which passes whether the message arrives (`null`) or not
 *   (`undefined`); here the two outcomes are told apart, after a control
 *   showing the same message does arrive while connected;
 * - every Repo a case creates is shut down and every teardown awaited, so no
 *   socket outlives its case (upstream calls `teardown()` without awaiting).
 */
export function runHubNetworkAdapterTests(
  setup: () => Promise<HubSetup>,
  title: string,
  options: {
    /**
     * False for a client adapter that drops every ephemeral message by design
     * (Canon's RelayClient: Canon never broadcasts, and a relay's ephemeral
     * data nested 200,000 deep made the Repo's decoder throw and print it):
     * the broadcast case then asserts that nothing arrives, and that the
     * connection still carries changes after it.
     */
    readonly deliversBroadcasts?: boolean;
  } = {},
): void {
  const deliversBroadcasts = options.deliversBroadcasts ?? true;
  /** Runs a case on a fresh hub, then shuts down its Repos and tears the hub down. */
  const withHub = async (body: (hub: HubSetup, repos: Repo[]) => Promise<void>) => {
    const hub = await setup();
    const repos: Repo[] = [];
    try {
      await body(hub, repos);
    } finally {
      await Promise.all(repos.map((repo) => repo.shutdown()));
      await hub.teardown();
    }
  };
  const repoOf = (repos: Repo[], network: NetworkAdapterInterface, peerId: PeerId) => {
    const repo = new Repo({ network: [network], peerId });
    repos.push(repo);
    return repo;
  };

  describe(`Network adapter acceptance tests, through a hub (${title})`, () => {
    it(
      "can sync 2 repos",
      async () => {
        const doTest = async (
          { hub }: HubSetup,
          repos: Repo[],
          a: NetworkAdapterInterface,
          b: NetworkAdapterInterface,
        ) => {
          const aliceRepo = repoOf(repos, a, alice);
          const bobRepo = repoOf(repos, b, bob);

          // Alice creates a document
          const aliceHandle = aliceRepo.create<TestDoc>();
          await untilHubHolds(hub.repo, aliceHandle);

          const bobHandle = await bobRepo.find<TestDoc>(aliceHandle.url);

          // Alice changes the document
          aliceHandle.change((d) => {
            d.foo = "bar";
          });

          // Bob receives the change
          await eventPromise(bobHandle, "change");
          expect(bobHandle.doc()?.foo).toBe("bar");

          // Bob changes the document
          bobHandle.change((d) => {
            d.foo = "baz";
          });

          // Alice receives the change
          await eventPromise(aliceHandle, "change");
          expect(aliceHandle.doc().foo).toBe("baz");
        };

        // Both directions, in case the adapters differ
        await withHub((hub, repos) => doTest(hub, repos, hub.clients[0], hub.clients[1]));
        await withHub((hub, repos) => doTest(hub, repos, hub.clients[1], hub.clients[0]));
      },
      CASE_TIMEOUT_MS,
    );

    it(
      "can sync 3 repos",
      () =>
        withHub(async ({ clients: [a, b, c], hub }, repos) => {
          const aliceRepo = repoOf(repos, a, alice);
          const bobRepo = repoOf(repos, b, bob);
          const charlieRepo = repoOf(repos, c, charlie);

          // Alice creates a document
          const aliceHandle = aliceRepo.create<TestDoc>();
          const docUrl = aliceHandle.url;

          // Bob and Charlie receive the document
          await untilHubHolds(hub.repo, aliceHandle);
          const bobHandle = await bobRepo.find<TestDoc>(docUrl);
          const charlieHandle = await charlieRepo.find<TestDoc>(docUrl);

          // Alice changes the document
          aliceHandle.change((d) => {
            d.foo = "bar";
          });

          // Bob and Charlie receive the change
          await eventPromises([bobHandle, charlieHandle], "change");
          expect(bobHandle.doc().foo).toBe("bar");
          expect(charlieHandle.doc().foo).toBe("bar");

          // Charlie changes the document
          charlieHandle.change((d) => {
            d.foo = "baz";
          });

          // Alice and Bob receive the change (upstream checks Bob and Charlie; Alice too here)
          await eventPromises([aliceHandle, bobHandle], "change");
          expect(aliceHandle.doc().foo).toBe("baz");
          expect(bobHandle.doc().foo).toBe("baz");
          expect(charlieHandle.doc().foo).toBe("baz");
        }),
      CASE_TIMEOUT_MS,
    );

    it(
      deliversBroadcasts ? "can broadcast a message" : "drops a broadcast message, and still syncs",
      () =>
        withHub(async ({ clients: [a, b, c], hub }, repos) => {
          const aliceRepo = repoOf(repos, a, alice);
          const bobRepo = repoOf(repos, b, bob);
          const charlieRepo = repoOf(repos, c, charlie);

          await eventPromises(
            [aliceRepo, bobRepo, charlieRepo].map((r) => r.networkSubsystem),
            "peer",
          );

          const aliceHandle = aliceRepo.create<TestDoc>();
          await untilHubHolds(hub.repo, aliceHandle);
          const charlieHandle = await charlieRepo.find<TestDoc>(aliceHandle.url);

          // pause to give charlie a chance to let alice know it wants the doc
          await pause(100);

          const alicePresenceData = { presence: "alice" };
          if (!deliversBroadcasts) {
            const heard: unknown[] = [];
            charlieHandle.on("ephemeral-message", ({ message }) => heard.push(message));
            aliceHandle.broadcast(alicePresenceData);
            await pause(1_000);
            expect(heard).toEqual([]);
            // Dropped quietly: the connection still carries a change.
            const changed = eventPromise(charlieHandle, "change");
            aliceHandle.change((d) => {
              d.foo = "after the broadcast";
            });
            await changed;
            expect(charlieHandle.doc().foo).toBe("after the broadcast");
            return;
          }
          aliceHandle.broadcast(alicePresenceData);

          const { message } = await eventPromise(charlieHandle, "ephemeral-message");

          expect(message).toStrictEqual(alicePresenceData);
        }),
      CASE_TIMEOUT_MS,
    );

    it(
      "emits a peer-candidate event with proper peer metadata when a peer connects",
      () =>
        withHub(async ({ clients: [a, b], hub }) => {
          const hubSawA = eventFor(hub.adapter, "peer-candidate", "a" as PeerId);
          const bSawHub = eventPromise(b, "peer-candidate");

          // Canon's relay accepts only UUID storage ids (they name files on its disk).
          const aPeerMetadata: PeerMetadata = { storageId: randomUUID() as StorageId };

          b.connect("b" as PeerId, { storageId: randomUUID() as StorageId });
          a.connect("a" as PeerId, aPeerMetadata);

          expect(await hubSawA).toMatchObject({ peerId: "a", peerMetadata: aPeerMetadata });
          // And the other way: a client learns the hub's peer id and storage id.
          expect(await bSawHub).toMatchObject({
            peerId: hub.repo.peerId,
            peerMetadata: { storageId: await hub.repo.storageId() },
          });
        }),
      CASE_TIMEOUT_MS,
    );

    it(
      "should emit disconnect events on disconnect",
      () =>
        withHub(async ({ clients: [left], hub }, repos) => {
          const hubSawLeft = eventFor(hub.repo.networkSubsystem, "peer", leftPeerId);
          const leftRepo = repoOf(repos, left, leftPeerId);

          await Promise.all([eventPromise(leftRepo.networkSubsystem, "peer"), hubSawLeft]);

          const disconnectionPromises = Promise.all([
            eventPromise(leftRepo.networkSubsystem, "peer-disconnected"),
            eventFor(hub.repo.networkSubsystem, "peer-disconnected", leftPeerId),
          ]);
          left.disconnect();

          await disconnectionPromises;
          expect(hub.repo.peers).not.toContain(leftPeerId);
        }),
      CASE_TIMEOUT_MS,
    );

    it(
      "should not send messages after disconnect",
      () =>
        withHub(async ({ clients: [left], hub }, repos) => {
          const hubSawLeft = eventFor(hub.repo.networkSubsystem, "peer", leftPeerId);
          repoOf(repos, left, leftPeerId);
          await hubSawLeft;

          const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
          // Upstream sends a made-up type; Canon's relay refuses any message that is not
          // one of the protocol's, so this sends an ephemeral message it accepts.
          const message = {
            type: "ephemeral",
            data: new Uint8Array([0x01]),
            count: 1,
            sessionId: "contract",
            documentId,
            senderId: leftPeerId,
            targetId: hub.repo.peerId,
          } as unknown as Parameters<NetworkAdapterInterface["send"]>[0];

          // Control: while connected, the same message reaches the hub.
          const delivered = messageFrom(hub.adapter, leftPeerId, "ephemeral");
          left.send(message);
          await delivered;

          const disconnected = eventFor(hub.adapter, "peer-disconnected", leftPeerId);
          left.disconnect();
          await disconnected;

          const hubReceived = Promise.race([
            messageFrom(hub.adapter, leftPeerId, "ephemeral").then(() => "received"),
            pause(50).then(() => "nothing"),
          ]);
          left.send(message);

          expect(await hubReceived).toBe("nothing");
        }),
      CASE_TIMEOUT_MS,
    );

    it(
      "should support reconnecting after disconnect",
      () =>
        withHub(async ({ clients: [left], hub }, repos) => {
          const hubSawLeft = eventFor(hub.repo.networkSubsystem, "peer", leftPeerId);
          repoOf(repos, left, leftPeerId);
          await hubSawLeft;

          left.disconnect();

          await pause(10);

          const hubSawLeftAgain = eventFor(hub.repo.networkSubsystem, "peer", leftPeerId);
          left.connect(leftPeerId);
          await eventPromise(left, "peer-candidate");
          await hubSawLeftAgain;
          expect(hub.repo.peers).toContain(leftPeerId);
        }),
      CASE_TIMEOUT_MS,
    );
  });
}

type TestDoc = {
  foo: string;
};

const alice = "alice" as PeerId;
const bob = "bob" as PeerId;
const charlie = "charlie" as PeerId;
const leftPeerId = "left" as PeerId;

/** Resolves once the hub has loaded the document with every change `handle` has. */
async function untilHubHolds(hub: Repo, handle: DocHandle<unknown>): Promise<void> {
  for (;;) {
    const held = hub.handles[handle.documentId];
    if (held?.isReady()) {
      const theirs = held.heads();
      const ours = handle.heads();
      if (theirs.length === ours.length && ours.every((head) => theirs.includes(head))) return;
    }
    await pause(5);
  }
}

/** The part of an event emitter these helpers use. */
interface Emitter {
  // biome-ignore lint/suspicious/noExplicitAny: listeners of any event payload
  on(event: string, listener: (...payload: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: listeners of any event payload
  off(event: string, listener: (...payload: any[]) => void): unknown;
}

/** Resolves with the first `event` whose payload names `peerId`. */
function eventFor(emitter: Emitter, event: string, peerId: PeerId): Promise<unknown> {
  return new Promise((resolve) => {
    const listener = (payload: { peerId?: PeerId }) => {
      if (payload.peerId !== peerId) return;
      emitter.off(event, listener);
      resolve(payload);
    };
    emitter.on(event, listener);
  });
}

/** Resolves when `adapter` emits a message of `type` sent by `senderId`. */
function messageFrom(adapter: Emitter, senderId: PeerId, type: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (message: { senderId?: PeerId; type?: string }) => {
      if (message.senderId !== senderId || message.type !== type) return;
      adapter.off("message", listener);
      resolve();
    };
    adapter.on("message", listener);
  });
}
