import { createHash, createPrivateKey, createPublicKey, verify as nodeVerify } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type CanonRecord,
  contentCid,
  keyPairFromSeed,
  publicKeyFromDid,
  sha256Hex,
  signRecord,
  verifyRecord,
} from "../src/index.js";
import vectors from "./vectors.json" with { type: "json" };

const seed = Buffer.from(vectors.seedHex, "hex");

describe("committed test vectors", () => {
  it("derives the same did:key from the fixed seed", async () => {
    const keyPair = await keyPairFromSeed(seed);
    expect(keyPair.did).toBe(vectors.did);
    // Cross-check the public key against node:crypto's own ed25519 derivation.
    const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
    const spki = createPublicKey(
      createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }),
    ).export({ format: "der", type: "spki" });
    expect(Buffer.from(publicKeyFromDid(vectors.did))).toEqual(spki.subarray(-32));
  });

  it("gives the content the CID whose digest is its sha256sum", async () => {
    const bytes = new TextEncoder().encode(vectors.content.utf8);
    const cid = await contentCid(bytes);
    expect(cid.toString()).toBe(vectors.content.contentCid);
    expect(sha256Hex(cid)).toBe(createHash("sha256").update(bytes).digest("hex"));
  });

  for (const vector of vectors.records) {
    it(`encodes and signs the ${vector.name} record to the committed bytes and CID`, async () => {
      const keyPair = await keyPairFromSeed(seed);
      const signed = await signRecord(keyPair, vector.record as CanonRecord);
      expect(signed.cid).toBe(vector.cid);
      expect(Buffer.from(signed.bytes).toString("hex")).toBe(vector.envelopeHex);
    });

    it(`verifies the committed ${vector.name} envelope, and node:crypto agrees on its signature`, async () => {
      const bytes = Buffer.from(vector.envelopeHex, "hex");
      const check = await verifyRecord({ cid: vector.cid, bytes: new Uint8Array(bytes) });
      expect(check.ok).toBe(true);
      const { decode } = await import("@ipld/dag-cbor");
      const envelope = decode(bytes) as { payload: Uint8Array; sig: Uint8Array };
      const message = Buffer.concat([Buffer.from("canon-record-v1\0"), envelope.payload]);
      const spki = Buffer.concat([
        Buffer.from("302a300506032b6570032100", "hex"),
        publicKeyFromDid(vectors.did),
      ]);
      const key = createPublicKey({ key: spki, format: "der", type: "spki" });
      expect(nodeVerify(null, message, key, envelope.sig)).toBe(true);
    });
  }
});
