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

describe("odd CBOR (sixth pass)", () => {
  // Frames that are valid CBOR, or nearly, but nothing automerge-repo sends:
  // each is refused or parsed to a plain message, and none changes how the
  // next, honest message decodes (cbor-x's decoder is shared by every
  // connection in the process: a tag 259 turning maps into Map objects, a
  // packed-values table or bundled strings left behind, would reach every
  // other peer's messages).
  const honest = join({ peerMetadata: { isEphemeral: false } });
  const expected = parseWireMessage(honest);
  const text = (value: string) => cbor.encode(value);
  const bytes = (...parts: (number[] | Uint8Array)[]) =>
    new Uint8Array(parts.flatMap((part) => [...part]));
  const odd: Record<string, Uint8Array> = {
    "an array declaring 2^32 - 2 items": bytes([0x9a, 0xff, 0xff, 0xff, 0xfe, 0x00]),
    "a map declaring 2^32 - 2 entries": bytes([0xba, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00]),
    "a byte string declaring 2^64 - 1 bytes": bytes([0x5b, ...new Array(8).fill(0xff)]),
    "arrays nested 100,000 deep": bytes(new Array(100_000).fill(0x81), [0x00]),
    "maps nested 50,000 deep": bytes(
      ...Array.from({ length: 50_000 }, () => [0xa1, 0x61, 0x78]),
      [0x00],
    ),
    "an indefinite-length join": bytes(
      [0xbf],
      text("type"),
      text("join"),
      text("senderId"),
      [0x7f],
      text("cli"),
      text("ent-9"),
      [0xff, 0xff],
    ),
    "an indefinite map never closed": bytes([0xbf], text("type"), text("join")),
    "duplicate keys, the last a join": bytes(
      [0xa3],
      text("type"),
      text("sync"),
      text("senderId"),
      text("client-2"),
      text("type"),
      text("join"),
    ),
    "a map whose key is an array": bytes([0xa1, 0x81, 0x00, 0x00]),
    "a map whose keys are numbers and null": bytes(
      [0xa4, 0x01, 0x00, 0xf6, 0x00],
      text("type"),
      text("join"),
      text("senderId"),
      text("client-3"),
    ),
    "a __proto__ key": bytes(
      [0xa3],
      text("__proto__"),
      [0xa1],
      text("type"),
      text("join"),
      text("senderId"),
      text("client-4"),
      text("type"),
      text("leave"),
    ),
    "tag 259 (a Map) around the message": bytes(
      [0xd9, 0x01, 0x03, 0xa2],
      text("type"),
      text("join"),
      text("senderId"),
      text("client-5"),
    ),
    "tag 259 around an array, cut short": bytes([0xd9, 0x01, 0x03, 0x82, 0xa1]),
    "tag 27 making a RegExp": bytes([0xd8, 0x1b, 0x82], text("RegExp"), text("(a+)+$")),
    "tag 27 naming eval": bytes([0xd8, 0x1b, 0x82], text("eval"), text("process.exit(9)")),
    "tags 28/29: a map holding itself": bytes(
      [0xd8, 0x1c, 0xa3],
      text("type"),
      text("join"),
      text("senderId"),
      text("client-6"),
      text("peerMetadata"),
      [0xd8, 0x1d, 0x00],
    ),
    "tag 51, a packed-values table, cut short": bytes([0xd8, 0x33, 0x84, 0x81], text("join")),
    "tag 6, a packed reference": bytes([0xd8, 0x06, 0x00]),
    "bundled strings, cut short": bytes([0xd9, 0xdf, 0xf9, 0x83, 0x00]),
    "a record definition (tag 105)": bytes([0xd8, 0x69, 0x83, 0x81], text("type"), text("join")),
    "a bignum sender": bytes(
      [0xa2],
      text("type"),
      text("join"),
      text("senderId"),
      [0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    "a Float16 NaN timestamp": bytes([0xa1], text("timestamp"), [0xf9, 0x7e, 0x00]),
    "trailing bytes after a join": bytes(honest, [0x00]),
  };

  for (const [name, frame] of Object.entries(odd)) {
    it(`${name}: refused or a plain message, and the next join decodes as before`, () => {
      const parsed = parseWireMessage(frame);
      if (parsed.ok) {
        // Only a plain join or leave survives (the last `type` wins; `__proto__` is just a key).
        expect(["join", "leave"]).toContain(parsed.message.type);
        expect(typeof parsed.message.senderId).toBe("string");
        expect(Object.getPrototypeOf(parsed.message)).toBe(Object.prototype);
      } else expect(parsed.reason.length).toBeLessThan(300);
      expect(parseWireMessage(honest)).toEqual(expected);
      expect(({} as { type?: unknown }).type).toBeUndefined();
    });
  }

  it("3,000 random mutations of real messages never throw, and leave the decoder as it was", () => {
    const seeds = [
      honest,
      cbor.encode({ type: "leave", senderId: "client-1" }),
      cbor.encode({
        type: "remote-subscription-change",
        senderId: "client-1",
        targetId: "relay-1",
        add: ["7f2c4c1e-9d0a-4b8e-8f4e-2b6f3c1d0e9a"],
      }),
    ];
    let state = 0x2545f491;
    const random = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 0x1_0000_0000;
    };
    for (let i = 0; i < 3000; i++) {
      const seed = seeds[i % seeds.length] ?? honest;
      const frame = new Uint8Array(seed);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++)
        frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
      expect(() => parseWireMessage(frame)).not.toThrow();
      expect(parseWireMessage(honest)).toEqual(expected);
    }
  });
});
