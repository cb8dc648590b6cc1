import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fold, REFUSAL_RULES_VERSION, type Rejection, recordCid, signRecord } from "@canon/core";
import * as dagCbor from "@ipld/dag-cbor";
import { afterEach, describe, expect, it } from "vitest";
import { readRefusedRecords, writeRefusedRecords } from "../src/caches/refused-records.js";
import {
  type CanonHome,
  canonHome,
  createSpace,
  ensureIdentity,
  publish,
  withSpace,
} from "../src/index.js";
import { checksummed, unchecksummed } from "../src/storage/checksummed.js";

// Junk a peer writes into a space's documents (valid CIDs, bad signatures) is
// checked once per home: the verdict is kept by CID in a checksummed index
// file, and the fold of a new process refuses it again from there.

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function spaceWithJunk(
  junk: number,
): Promise<{ home: CanonHome; spaceId: string; junk: string[] }> {
  const root = await mkdtemp(join(tmpdir(), "canon-home-"));
  cleanup.push(root);
  const home = canonHome(root);
  const signer = await ensureIdentity(home);
  await createSpace(home, signer, "junk");
  const file = join(root, "style.md");
  await writeFile(file, "# Style\n");
  await publish(home, signer, { standard: "style", file });
  return withSpace(home, {}, async ({ state, folded }) => {
    const [handle] = folded.standards.values();
    if (handle === undefined || state === undefined) throw new Error("no standard");
    const cids: string[] = [];
    for (let index = 0; index < junk; index++) {
      const signed = await signRecord(signer.keyPair, {
        type: "canon/correction",
        v: 1,
        space: state.genesis.cid,
        standard: "style",
        text: `junk ${index}`,
        membership: [...state.membershipHeads],
        author: signer.keyPair.did,
        createdAt: new Date(Date.UTC(2026, 10, 30, 0, 0, index)).toISOString(),
      });
      // One bit of the signature flipped: the bytes hash to their CID, the signature fails.
      const envelope = dagCbor.decode(signed.bytes) as { payload: Uint8Array; sig: Uint8Array };
      const sig = new Uint8Array(envelope.sig);
      sig[0] = (sig[0] as number) ^ 1;
      const bytes = dagCbor.encode({ payload: envelope.payload, sig });
      const cid = (await recordCid(bytes)).toString();
      cids.push(cid);
      handle.change((doc) => {
        (doc.records as Record<string, Uint8Array>)[cid] = bytes;
      });
    }
    // And valid bytes under another record's CID: refused, but not for good (not remembered).
    const genesis = state.genesis;
    handle.change((doc) => {
      (doc.records as Record<string, Uint8Array>)[cids[0] as string] = genesis.bytes;
    });
    return { home, spaceId: folded.address.documentId, junk: cids };
  });
}

const refusalsOf = (home: CanonHome) =>
  withSpace(home, {}, async ({ folded }) => folded.fold.invalid.map((r) => ({ ...r })));

describe("refusals for good", () => {
  it("are kept by CID after a fold, and a later process refuses the junk from them", async () => {
    const { home, spaceId, junk } = await spaceWithJunk(3);
    const first = await refusalsOf(home);
    expect(
      first
        .filter((r) => r.code === "bad-signature")
        .map((r) => r.cid)
        .sort(),
    ).toEqual(junk.slice(1).sort());
    const kept = await readRefusedRecords(home, spaceId);
    // Only verdicts on the bytes a CID names: the substituted bytes (cid-mismatch) are not kept.
    expect([...kept.keys()].sort()).toEqual(junk.slice(1).sort());
    expect([...kept.values()].every((r) => r.code === "bad-signature")).toBe(true);

    // A later fold takes the verdict from the file: marked, it comes back as written.
    const marked = new Map(
      [...kept].map(([cid, r]): [string, Rejection] => [cid, { ...r, reason: "remembered" }]),
    );
    await writeRefusedRecords(home, spaceId, marked.values());
    const again = await refusalsOf(home);
    expect(
      again
        .filter((r) => r.reason === "remembered")
        .map((r) => r.cid)
        .sort(),
    ).toEqual(junk.slice(1).sort());
    expect(again.filter((r) => r.code === "cid-mismatch")).toHaveLength(1);
  });

  it("are ignored when the file is damaged, and written anew", async () => {
    const { home, spaceId, junk } = await spaceWithJunk(2);
    await refusalsOf(home);
    const name = (await readdir(home.indexes)).find((file) => file.endsWith(".refused"));
    expect(name).toBe(`${spaceId}.refused`);
    const path = join(home.indexes, name as string);
    const bytes = await readFile(path);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0xff;
    await writeFile(path, bytes);
    expect((await readRefusedRecords(home, spaceId)).size).toBe(0);
    const refused = await refusalsOf(home);
    expect(refused.filter((r) => r.code === "bad-signature")).toHaveLength(1);
    expect([...(await readRefusedRecords(home, spaceId)).keys()]).toEqual([junk[1]]);
  });

  it("are not used when written under other refusal rules (an older Canon's schemas)", async () => {
    const { home, spaceId, junk } = await spaceWithJunk(2);
    await refusalsOf(home);
    expect([...(await readRefusedRecords(home, spaceId)).keys()]).toEqual([junk[1]]);
    // The same verdict, checksummed as Canon writes it, but given under rules numbered 0.
    const path = join(home.indexes, `${spaceId}.refused`);
    const opened = unchecksummed("CNR1", await readFile(path));
    if (!("data" in opened)) throw new Error("unreadable refusals");
    const file = JSON.parse(new TextDecoder().decode(opened.data)) as { rules: number };
    expect(file.rules).toBe(REFUSAL_RULES_VERSION);
    const older = { ...file, rules: REFUSAL_RULES_VERSION - 1 };
    await writeFile(path, checksummed("CNR1", new TextEncoder().encode(JSON.stringify(older))));
    expect((await readRefusedRecords(home, spaceId)).size).toBe(0);
  });

  it("keep a verdict whose reason quotes a peer's long key, its reason cut", async () => {
    const { home, spaceId, junk } = await spaceWithJunk(1);
    // A schema error naming an unknown key of 2,000 characters: before, such a refusal was
    // not kept at all, and the junk was checked again on every fold.
    const long: Rejection = {
      cid: junk[0] as string,
      code: "schema",
      reason: `schema: Unrecognized key: "${"k".repeat(2_000)}"`,
    };
    await writeRefusedRecords(home, spaceId, [long]);
    const kept = await readRefusedRecords(home, spaceId);
    expect(kept.get(junk[0] as string)?.reason).toBe(long.reason.slice(0, 500));
  });

  it("never refuse a record whose verdict is not one for good", async () => {
    const { home } = await spaceWithJunk(0);
    await withSpace(home, {}, async ({ folded }) => {
      const entries = [...folded.fold.verified.values()].map((signed) => ({
        cid: signed.cid,
        bytes: signed.bytes,
      }));
      // A lookup claiming every record was refused, with codes that are no verdict on the bytes.
      const claims: Rejection["code"][] = ["cid-mismatch", "author-role", "too-large"];
      for (const code of claims) {
        const result = await fold({
          spaceCid: folded.address.genesis,
          entries,
          content: () => [],
          cache: { refusedRecord: (cid) => ({ cid, code, reason: "claimed" }) },
        });
        expect(result.invalid).toEqual([]);
        expect(result.verified.size).toBe(entries.length);
      }
    });
  });
});
