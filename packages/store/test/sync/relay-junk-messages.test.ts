import * as A from "@automerge/automerge";
import { describe, expect, it, vi } from "vitest";
import { openRelaySession } from "../../src/sync/relay-session.js";
import {
  carryingWhole,
  cleanupAfterEach,
  firstClientError,
  freshReplica,
  hostileRelay,
  newDocumentId,
} from "../helpers/hostile-relay.js";

// automerge-repo prints what it throws while handling a message to standard
// output, with the message ("error receiving message", `console.log`): a relay
// sending an ephemeral message whose data nests 200,000 deep, a sync message
// whose data is not one, or doc-unavailable for a malformed id wrote its own
// text into `canon sync --json`'s output and a thin client's (through the
// owner). The client drops such messages first.

const cleanup = cleanupAfterEach();

/** CBOR nesting `depth` arrays of one item each. */
function nested(depth: number): Uint8Array {
  const bytes = new Uint8Array(depth + 1).fill(0x81);
  bytes[depth] = 0;
  return bytes;
}

/** A replica syncing with a relay that answers a request for a document with it, then with `junk`. */
async function junkAfterAnswer(junk: (asked: string) => Record<string, unknown>[]) {
  const { replica } = await freshReplica(cleanup);
  const asked = newDocumentId();
  const url = await hostileRelay(cleanup, (message, reply) => {
    if (message.type === "join")
      reply({
        type: "peer",
        selectedProtocolVersion: "1",
        peerMetadata: { storageId: crypto.randomUUID(), isEphemeral: false },
      });
    else if (message.type === "request" && message.documentId === asked) {
      reply({ type: "sync", documentId: asked, data: carryingWhole(A.from({ kept: "yes" })) });
      for (const fields of junk(asked)) reply(fields);
    }
  });
  const printed = vi.spyOn(console, "log");
  cleanup.push(async () => printed.mockRestore());
  const session = await openRelaySession(replica, { url }, 5_000);
  cleanup.push(async () => session.close());
  const handle = await replica.find<{ kept: string }>(asked);
  return { session, handle, printed, asked };
}

describe("messages the Repo would throw for", () => {
  it("drops ephemeral messages and messages about malformed ids quietly, and prints nothing", async () => {
    const { session, handle, printed } = await junkAfterAnswer((asked) => [
      { type: "ephemeral", documentId: asked, sessionId: "s", count: 1, data: nested(200_000) },
      { type: "doc-unavailable", documentId: "not an id" },
      { type: "ephemeral", documentId: "not an id", sessionId: "s", count: 2, data: nested(10) },
    ]);
    expect(handle?.doc().kept).toBe("yes");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(session.client.unsolicited).toBe(3);
    expect(session.client.lastError).toBeUndefined();
    expect(printed).not.toHaveBeenCalled();
    expect(() => session.assertConnected()).not.toThrow();
  });

  it("drops a sync message whose data is not one, closes, and prints nothing", async () => {
    const { session, printed } = await junkAfterAnswer((id) => [
      { type: "sync", documentId: id, data: new Uint8Array([0x42, 1, 2, 3]) },
    ]);
    const error = await firstClientError(session.client);
    expect(error?.message).toMatch("a sync message that does not decode");
    while (session.client.lostConnection === undefined)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(() => session.assertConnected()).toThrow("a sync message that does not decode");
    expect(printed).not.toHaveBeenCalled();
  });
});
