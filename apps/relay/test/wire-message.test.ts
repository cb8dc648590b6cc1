import { cbor, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { describe, expect, it } from "vitest";
import { parseWireMessage } from "../src/guard/wire-message.js";

const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;

function join(fields: Record<string, unknown>): Uint8Array {
  return cbor.encode({
    type: "join",
    senderId: "client-1",
    supportedProtocolVersions: ["1"],
    ...fields,
  });
}

describe("parseWireMessage", () => {
  it("names a peer's map key in a refusal by its length only, never its text", () => {
    const key = `\n\u001b[31m${"k".repeat(10_000)}`;
    const parsed = parseWireMessage(
      cbor.encode({
        type: "remote-heads-changed",
        senderId: "client-1",
        targetId: "relay-1",
        documentId,
        newHeads: { [key]: { heads: [], timestamp: 1 } },
      }),
    );
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.reason).toBe("bad message: newHeads.(a key of 10006 characters) is not a UUID");
  });

  it("accepts a join as automerge-repo's client sends it, without unknown fields", () => {
    const parsed = parseWireMessage(join({ peerMetadata: { isEphemeral: true }, smuggled: "x" }));
    expect(parsed).toEqual({
      ok: true,
      changes: [],
      message: {
        type: "join",
        senderId: "client-1",
        peerMetadata: { isEphemeral: true },
        supportedProtocolVersions: ["1"],
      },
    });
  });

  it.each([
    ["CBOR null", Uint8Array.of(0xf6)],
    ["bytes that are not CBOR", Uint8Array.of(0xff, 0xff)],
    ["versions that are not an array", join({ supportedProtocolVersions: 1 })],
    ["a peer id naming Object.prototype", join({ senderId: "__proto__" })],
    ["a peer id `constructor`", join({ senderId: "constructor" })],
    // The Repo saves sync state under the peer's storage id: a path would escape the data directory.
    ["a storage id that is a path", join({ peerMetadata: { storageId: "../../../etc/x" } })],
    ["an unknown message type", cbor.encode({ type: "shutdown", senderId: "client-1" })],
    [
      "a malformed document id",
      cbor.encode({ type: "doc-unavailable", senderId: "a", targetId: "b", documentId: "../x" }),
    ],
    [
      "sync data that is not a sync message",
      cbor.encode({
        type: "sync",
        senderId: "a",
        targetId: "b",
        documentId,
        data: Uint8Array.of(7),
      }),
    ],
    [
      "sync data that is a string",
      cbor.encode({ type: "sync", senderId: "a", targetId: "b", documentId, data: "text" }),
    ],
    [
      "ephemeral data over 64 KiB",
      cbor.encode({
        type: "ephemeral",
        senderId: "a",
        targetId: "b",
        documentId,
        count: 1,
        sessionId: "s",
        data: new Uint8Array(64 * 1024 + 1),
      }),
    ],
  ])("refuses %s", (_, bytes) => {
    expect(parseWireMessage(bytes).ok).toBe(false);
  });
});
