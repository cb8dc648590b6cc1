import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { canonHome, openReplica } from "../../src/index.js";
import { openRelaySession } from "../../src/sync/relay-session.js";
import {
  carryingWhole,
  cleanupAfterEach,
  hostileRelay,
  newDocumentId,
} from "../helpers/hostile-relay.js";

// automerge-repo takes in every document a peer pushes: a hostile relay could
// fill a long-lived replica (the home's owner holds its connection for as long
// as it runs) and its home with documents without end. The client drops sync
// messages about documents it never asked for.

const cleanup = cleanupAfterEach();

/**
 * A relay that, as soon as a client joins, pushes `pushed` documents it never
 * asked for, then answers a request for `asked` with that document.
 */
async function pushingRelay(pushed: number, asked: { id: string; doc: A.Doc<unknown> }) {
  const pushedIds: string[] = [];
  const url = await hostileRelay(cleanup, (message, reply) => {
    if (message.type === "join") {
      reply({
        type: "peer",
        selectedProtocolVersion: "1",
        peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
      });
      for (let index = 0; index < pushed; index++) {
        const documentId = newDocumentId();
        pushedIds.push(documentId);
        reply({
          type: "sync",
          documentId,
          data: carryingWhole(A.from({ junk: `pushed ${index}` })),
        });
      }
    } else if (message.type === "request" && message.documentId === asked.id) {
      reply({ type: "sync", documentId: asked.id, data: carryingWhole(asked.doc) });
    }
  });
  return { url, pushedIds };
}

describe("a relay pushing documents a client never asked for", () => {
  it("takes in none of them (nothing in memory, nothing on disk), and still receives what it asked for", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-unsolicited-"));
    cleanup.push(() => rm(directory, { recursive: true, force: true }));
    const home = canonHome(directory);
    const replica = await openReplica(home);
    cleanup.push(async () => {
      await replica.close();
      await replica.writesSettled();
    });
    const asked = { id: newDocumentId(), doc: A.from({ wanted: "yes" }) as A.Doc<unknown> };
    const relay = await pushingRelay(200, asked);
    const session = await openRelaySession(replica, { url: relay.url }, 5_000);
    cleanup.push(async () => session.close());
    // Asked after the pushes went out on the same socket: once it is here, they were all received.
    const handle = await replica.find<{ wanted: string }>(asked.id);
    expect(handle?.doc().wanted).toBe("yes");
    expect(relay.pushedIds).toHaveLength(200);
    for (const id of relay.pushedIds) {
      expect(id in replica.repo.handles).toBe(false);
      expect(await replica.holds(id)).toBe(false);
    }
  });
});
