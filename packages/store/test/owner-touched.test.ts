import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  canonHome,
  createSpace,
  ensureIdentity,
  holdReplica,
  openReplica,
  publish,
  resolve,
} from "../src/index.js";
import { chooseSpace, withSpace } from "../src/operations/space-session.js";
import { currentSnapshot } from "../src/operations/space-view.js";
import { unchecksummed } from "../src/storage/checksummed.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

/** The documents the space's disk proof says its command listed (all of them for a proof that lists every one). */
async function listedByProof(home: ReturnType<typeof canonHome>, spaceId: string) {
  const opened = unchecksummed("CNP1", await readFile(join(home.indexes, `${spaceId}.proof`)));
  if (!("data" in opened)) throw new Error("the proof is damaged");
  const proof = JSON.parse(new TextDecoder().decode(opened.data)) as {
    fingerprint: Record<string, string[]>;
    deferred?: { listed: string[] };
  };
  return proof.deferred?.listed ?? Object.keys(proof.fingerprint);
}

describe("the home's owner (a replica held open) after loading every document", () => {
  it("counts as touched by a command only what that command loads or writes", async () => {
    const root = await mkdtemp(join(tmpdir(), "canon-owner-touched-"));
    cleanup.push(root);
    const home = canonHome(root);
    const signer = await ensureIdentity(home);
    await createSpace(home, signer, "test");
    const file = join(root, "input.md");
    for (const standard of ["alpha", "beta", "gamma", "delta"]) {
      await writeFile(file, `${standard} one\n`);
      await publish(home, signer, { standard, file });
    }
    const chosen = await chooseSpace(home, {});
    const spaceId = chosen.address.documentId;
    const replica = await openReplica(home);
    holdReplica(replica);
    try {
      // A sync of every document, in the owner: every document is loaded, and touched.
      await withSpace(home, {}, async () => {});
      expect(replica.touched().length).toBe(5);
      // The owner starts the next command: only what it loads counts.
      replica.forgetTouched();
      expect(replica.touched()).toEqual([]);
      await writeFile(file, "beta two\n");
      const published = await publish(home, signer, { standard: "beta", file });
      expect(published.version).toBe(2);
      // The publish touched the space's document and beta's: its proof listed those two,
      // and left the three others to the next command's check.
      const listed = await listedByProof(home, spaceId);
      expect(listed).toHaveLength(2);
      expect(listed).toContain(spaceId);
      const current = await currentSnapshot(home, chosen);
      expect(current?.kept).toBe(true);
      expect(Object.keys(current?.snapshot.fingerprint ?? {})).toHaveLength(5);
      expect(current?.fold.state.standards.get("beta")?.latest.record.version).toBe(2);
      expect((await resolve(home, { standard: "beta" })).version).toBe(2);
    } finally {
      holdReplica(undefined);
      await replica.shutdown();
    }
    // A replica not held open (a command run alone) keeps everything it touched: it flushes it all on close.
    const plain = await openReplica(home);
    plain.create({ canon: "standard", v: 1, name: "x", records: {}, contents: {} });
    plain.forgetTouched();
    expect(plain.touched()).toHaveLength(1);
    await plain.close();
  });
});
