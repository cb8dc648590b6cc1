import { randomBytes } from "node:crypto";
import { type CanonError, contentCid, parseCid, recordCid, sha256Hex } from "@canon/core";
import { base32 } from "multiformats/bases/base32";
import { base58btc } from "multiformats/bases/base58";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { describe, expect, it } from "vitest";
import { contentDigestHex } from "../src/caches/content-digest.js";

/** What the parser says of `cid`: its digest, or the error code it throws. */
function parsed(cid: string): string {
  try {
    return sha256Hex(parseCid(cid));
  } catch (error) {
    return `throws ${(error as CanonError).code}`;
  }
}

/** What {@link contentDigestHex} says of `cid`, in the same terms. */
function decoded(cid: string): string {
  try {
    return contentDigestHex(cid);
  } catch (error) {
    return `throws ${(error as CanonError).code}`;
  }
}

describe("a content CID's digest, decoded by table (the read index's sha256 of every release)", () => {
  it("is the parser's for Canon's content and record CIDs, 500 of each", async () => {
    for (let i = 0; i < 500; i++) {
      const bytes = randomBytes(1 + (i % 97));
      for (const cid of [(await contentCid(bytes)).toString(), (await recordCid(bytes)).toString()])
        expect(decoded(cid)).toBe(parsed(cid));
    }
  });

  it("is the parser's, digest or refusal, for every other shape, base, hash or damage", async () => {
    const cid = (await contentCid(new TextEncoder().encode("one\n"))).toString();
    const digest = (await contentCid(new TextEncoder().encode("one\n"))).multihash.digest;
    const sha256 = Digest.create(0x12, digest);
    const others = [
      cid.toUpperCase(), // base32 upper case: multibase `B`
      ` ${cid}`, // the parser trims
      `${cid.slice(0, -1)}b`, // the two bits left over are not zero
      `${cid.slice(0, -1)}8`, // a character outside the alphabet
      `${cid.slice(0, 20)}é${cid.slice(21)}`,
      cid.slice(0, -1),
      `${cid}a`,
      CID.createV1(0x55, sha256).toString(base58btc), // base58btc `z…`
      CID.createV0(sha256).toString(), // CIDv0 `Qm…`
      CID.createV1(0x55, Digest.create(0x13, new Uint8Array(32))).toString(base32), // not sha2-256
      CID.createV1(0x0129, sha256).toString(base32), // a codec of two bytes
      CID.createV1(0x55, Digest.create(0x12, digest.subarray(0, 31))).toString(base32),
      `b${"a".repeat(58)}`, // the right length, version 0
      "",
      "not a cid",
    ];
    for (const other of others) expect(decoded(other)).toBe(parsed(other));
    expect(decoded(cid)).toBe(Buffer.from(digest).toString("hex"));
  });
});
