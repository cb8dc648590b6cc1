import { describe, expect, it } from "vitest";
import { CanonError, generateKeyPair, parseCid, parseDid, verify } from "../src/index.js";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof CanonError ? error.code : "not a CanonError";
  }
  return undefined;
}

describe("parsing untrusted strings", () => {
  it("parses a base32 CIDv1 and a CIDv0", () => {
    expect(parseCid("bafkreiajd6gvqkjobetqhazarzjzgakbpqcbeigt36ycje73ipdhfzt2fy").version).toBe(1);
    expect(parseCid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG").version).toBe(0);
  });

  it.each(["", "bafy", "hello", "bafkrei!!!", "x".repeat(300)])(
    "rejects %j as BAD_CID",
    (input) => {
      expect(codeOf(() => parseCid(input))).toBe("BAD_CID");
    },
  );

  it("names the bad input in the message", () => {
    expect(() => parseCid("not-a-cid")).toThrow(/"not-a-cid" is not a CID/);
  });

  it("accepts an ed25519 did:key", async () => {
    const { did } = await generateKeyPair();
    expect(parseDid(did)).toBe(did);
  });

  it.each([
    "did:web:example.com",
    "did:key:abc",
    "did:key:z111",
    "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", // secp256k1, not ed25519
    "did:key:z0OIl",
  ])("rejects %j as BAD_DID", (input) => {
    expect(codeOf(() => parseDid(input))).toBe("BAD_DID");
  });
});

describe("signatures", () => {
  it("verifies a signature by the signer and refuses a tampered message or another key", async () => {
    const alice = await generateKeyPair();
    const mallory = await generateKeyPair();
    const message = new TextEncoder().encode("hello");
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", alice.privateKey, message));
    expect(await verify(alice.did, message, sig)).toBe(true);
    expect(await verify(mallory.did, message, sig)).toBe(false);
    expect(await verify(alice.did, new TextEncoder().encode("hellO"), sig)).toBe(false);
    expect(await verify(alice.did, message, sig.subarray(0, 63))).toBe(false);
  });
});
