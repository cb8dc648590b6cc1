import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
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

// automerge-repo saves (and loads) the sync state of each peer under the
// storage key [documentId, "sync-state", storageId], the storage id being
// what the peer announced in its answer to our join, unchecked; FileStorage
// makes a path of the key. A hostile relay announcing `../../../../../x`
// makes a client write a file outside its home, wherever the user can write.

const cleanup = cleanupAfterEach();

describe("a relay announcing a storage id that is a path", () => {
  // The client drops the relay's answer and closes (relay-client.ts,
  // peer-identity.ts); FileStorage refuses the key as well (chunk-layout.ts).
  it("makes the client write nothing outside its home, and the session names the relay's answer", async () => {
    const outer = await mkdtemp(join(tmpdir(), "canon-storage-id-"));
    cleanup.push(() => rm(outer, { recursive: true, force: true }));
    const directory = join(outer, "home");
    await mkdir(directory);
    const replica = await openReplica(canonHome(directory));
    cleanup.push(async () => {
      await replica.close();
      await replica.writesSettled();
    });
    const asked = { id: newDocumentId(), doc: A.from({ wanted: "yes" }) as A.Doc<unknown> };
    const url = await hostileRelay(cleanup, (message, reply) => {
      if (message.type === "join")
        reply({
          type: "peer",
          selectedProtocolVersion: "1",
          // <home>/replica/<2>/<rest>/sync-state/<id>: five steps up is <outer>.
          peerMetadata: { storageId: "../../../../../escaped", isEphemeral: false },
        });
      else if (message.type === "request" && message.documentId === asked.id)
        reply({ type: "sync", documentId: asked.id, data: carryingWhole(asked.doc) });
    });
    const refused = await openRelaySession(replica, { url }, 5_000).then(
      (session) => {
        cleanup.push(async () => session.close());
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: "RELAY_UNREACHABLE" });
    expect(String(refused)).toContain(
      'the storage id "../../../../../escaped", which is not a UUID',
    );
    // Had the Repo taken the answer, it would have saved a sync state there, throttled.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await replica.writesSettled();
    expect(await readdir(outer)).toEqual(["home"]);
  });

  it("refuses a relay that answers under the peer id __proto__", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-peer-id-"));
    cleanup.push(() => rm(directory, { recursive: true, force: true }));
    const replica = await openReplica(canonHome(directory));
    cleanup.push(async () => {
      await replica.close();
      await replica.writesSettled();
    });
    const url = await hostileRelay(cleanup, (message, reply) => {
      if (message.type === "join")
        reply({
          type: "peer",
          senderId: "__proto__",
          selectedProtocolVersion: "1",
          peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
        });
    });
    const refused = await openRelaySession(replica, { url }, 5_000).then(
      (session) => session.close(),
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: "RELAY_UNREACHABLE" });
    expect(String(refused)).toContain('a message from the peer id "__proto__"');
  });
});
