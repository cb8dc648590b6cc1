import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  MAX_PREVIOUS,
  ownRecordHeads,
  type Provenance,
  type SignedRecord,
  signRecord,
} from "@canon/core";
import { afterEach, describe, expect, it } from "vitest";
import { readHeadsCache } from "../src/caches/heads-cache.js";
import { readStampIndex, stampIndexOf } from "../src/caches/stamp-index.js";
import {
  canonHome,
  changeMember,
  createIdentity,
  createSpace,
  ensureIdentity,
  holdReplica,
  listAgents,
  openReplica,
  publish,
  stamp,
  verifyFromFeeds,
} from "../src/index.js";
import { withFeedSession } from "../src/operations/feed-session.js";
import { chooseSpace, withSpace } from "../src/operations/space-session.js";
import { currentSnapshot } from "../src/operations/space-view.js";
import { chunkFingerprint } from "../src/storage/chunk-layout.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

/** A space with one standard and three agents, each of which has stamped twice. */
async function spaceWithStamps() {
  const root = await mkdtemp(join(tmpdir(), "canon-home-"));
  cleanup.push(root);
  const home = canonHome(root);
  const owner = await ensureIdentity(home);
  await createSpace(home, owner, "test");
  const input = join(root, "style.md");
  await writeFile(input, "style one\n");
  await publish(home, owner, { standard: "style", file: input });
  const agents = [];
  for (const name of ["a", "b", "c"]) {
    const agent = await createIdentity(home, name);
    await changeMember(home, owner, { did: agent.keyPair.did, role: "contributor" });
    agents.push(agent);
  }
  let n = 0;
  const output = async () => {
    const path = join(root, `out-${++n}.md`);
    await writeFile(path, `output ${n}\n`);
    return path;
  };
  for (const agent of agents)
    for (let i = 0; i < 2; i++) await stamp(home, agent, { output: await output() });
  return { home, owner, agents, output };
}

describe("a stamp's session on its author's feed", () => {
  it("reads only the author's stamps and opens only the space document and the author's segment", async () => {
    const { home, agents } = await spaceWithStamps();
    const [a] = agents as [(typeof agents)[number]];
    const chosen = await chooseSpace(home, {});
    const segmentOf = await withSpace(home, {}, async ({ folded, state }) => {
      const byAuthor = new Map<string, string>();
      for (const [id, handle] of folded.standards)
        for (const cid of Object.keys(handle.doc().records ?? {})) {
          const author = state.provenance.get(cid)?.record.author;
          if (author !== undefined) byAuthor.set(author, id);
        }
      return byAuthor;
    });
    expect(segmentOf.size).toBe(3);
    const session = await withFeedSession(
      home,
      chosen,
      a.keyPair.did,
      async ({ state, append }) => {
        const authors = new Set([...state.provenance.values()].map((s) => s.record.author));
        expect([...authors]).toEqual([a.keyPair.did]);
        expect(state.provenance.size).toBe(2);
        const release = state.standards.get("style")?.latest;
        if (release === undefined) throw new Error("no style");
        const signed = await signRecord(a.keyPair, {
          type: "canon/provenance",
          v: 1,
          space: chosen.address.genesis,
          subject: [{ name: "x.md", digest: { sha256: "ab".repeat(32) } }],
          context: [
            {
              standard: "style",
              version: release.record.version,
              contentCid: release.record.contentCid,
              releaseCid: release.cid,
            },
          ],
          corrections: [],
          spaceHeads: [],
          previous: ownRecordHeads(state, a.keyPair.did, MAX_PREVIOUS),
          membership: [...state.membershipHeads],
          author: a.keyPair.did,
          createdAt: new Date().toISOString(),
        });
        await append([signed as SignedRecord<Provenance>]);
        return signed.cid;
      },
    );
    expect([...(session?.opened ?? [])].sort()).toEqual(
      [chosen.address.documentId, segmentOf.get(a.keyPair.did)].sort(),
    );
    // The caches hold it, current without a refold, and it went into a's segment.
    const current = await currentSnapshot(home, chosen);
    expect(current?.fold.state.provenance.has(session?.value as string)).toBe(true);
    const inSegment = await withSpace(home, {}, async ({ folded }) =>
      Object.keys(
        folded.standards.get(segmentOf.get(a.keyPair.did) as string)?.doc().records ?? {},
      ),
    );
    expect(inSegment).toContain(session?.value);
  });

  it("leaves every cache current and equal to a fold of every document", async () => {
    const { home, agents, output } = await spaceWithStamps();
    const [a] = agents as [(typeof agents)[number]];
    const path = await output();
    const chosen = await chooseSpace(home, {});
    // The caches are current, so `stamp` takes the author's feed session.
    expect(await withFeedSession(home, chosen, a.keyPair.did, async () => 0)).toBeDefined();
    const stamped = await stamp(home, a, { output: path });
    // The snapshot is current with the stamp in it (no refold needed by the next reader).
    const current = await currentSnapshot(home, chosen);
    expect(current?.fold.state.provenance.has(stamped.cid)).toBe(true);
    expect(current?.fold.state.provenance.size).toBe(7);
    // The stamp index is current and equal to one built from a fold of every document.
    const audited = await withSpace(home, {}, async ({ folded }) => folded.fold, {
      trustSnapshot: false,
    });
    const sha256s = Object.keys(stampIndexOf(chosen.address.genesis, {}, audited).bySha256);
    const index = await readStampIndex(home, chosen.address, { sha256s });
    expect(index).toBeDefined();
    const fingerprint = await chunkFingerprint(home.replica, Object.keys(index?.fingerprint ?? {}));
    const rebuilt = stampIndexOf(chosen.address.genesis, fingerprint, audited);
    expect(index?.bySha256).toEqual(rebuilt.bySha256);
    expect(index?.agents).toEqual(rebuilt.agents);
    // Readers find it from the output alone, and the matrix counts it.
    const found = await verifyFromFeeds(home, { output: path });
    expect(found.verified).toBe(true);
    expect(found.stamps.map((s) => s.stamp.cid)).toEqual([stamped.cid]);
    const matrix = await listAgents(home, {});
    expect(matrix.agents.find((row) => row.did === a.keyPair.did)?.stamps).toBe(3);
  });

  it("a new agent's first stamp starts its segment, and the heads cache names it with the rest", async () => {
    const { home, owner, output } = await spaceWithStamps();
    const newcomer = await createIdentity(home, "d");
    await changeMember(home, owner, { did: newcomer.keyPair.did, role: "contributor" });
    const chosen = await chooseSpace(home, {});
    expect(await withFeedSession(home, chosen, newcomer.keyPair.did, async () => 0)).toBeDefined();
    const stamped = await stamp(home, newcomer, { output: await output() });
    const current = await currentSnapshot(home, chosen);
    expect(current?.fold.state.provenance.get(stamped.cid)?.record.author).toBe(
      newcomer.keyPair.did,
    );
    const heads = await readHeadsCache(home, chosen.address.documentId);
    expect(heads?.fingerprint).toEqual(current?.snapshot.fingerprint);
    for (const [id, chunks] of Object.entries(current?.snapshot.fingerprint ?? {}))
      if (chunks.length > 0) expect(heads?.heads[id], id).toBeDefined();
    // Four agents' segments and the standard's document.
    expect(Object.keys(current?.snapshot.fingerprint ?? {})).toHaveLength(1 + 1 + 4);
  });

  it("in the home's owner (a replica held open with every document loaded), stamp after stamp keeps every cache current", async () => {
    const { home, agents, output } = await spaceWithStamps();
    const [a, b] = agents as [(typeof agents)[number], (typeof agents)[number]];
    // b's segment in more chunks than a close leaves uncompacted.
    for (let i = 0; i < 4; i++) await stamp(home, b, { output: await output() });
    const chosen = await chooseSpace(home, {});
    const replica = await openReplica(home);
    holdReplica(replica);
    try {
      await withSpace(home, {}, async () => {});
      // The owner and commands run without it (CANON_NO_OWNER=1) take turns: a command's
      // close compacts chunks the owner still remembers, which must not leave the caches stale.
      for (let i = 0; i < 6; i++) {
        const owned = i % 2 === 0;
        holdReplica(owned ? replica : undefined);
        expect(
          await withFeedSession(home, chosen, a.keyPair.did, async () => 0),
          `stamp ${i}`,
        ).toBeDefined();
        await stamp(home, a, { output: await output() });
      }
      holdReplica(replica);
      const current = await currentSnapshot(home, chosen);
      expect(current?.fold.state.provenance.size).toBe(6 + 4 + 6);
    } finally {
      holdReplica(undefined);
      await replica.shutdown();
    }
  });

  it("falls back to the whole space when the caches are stale, and still appends to the author's segment", async () => {
    const { home, agents, output } = await spaceWithStamps();
    const [a] = agents as [(typeof agents)[number]];
    const chosen = await chooseSpace(home, {});
    await rm(join(home.indexes, `${chosen.address.documentId}.verified`));
    expect(await withFeedSession(home, chosen, a.keyPair.did, async () => "ran")).toBeUndefined();
    const stamped = await stamp(home, a, { output: await output() });
    const found = await verifyFromFeeds(home, { stampCid: stamped.cid });
    expect(found.verified).toBe(true);
  });

  it("a damaged shard of the stamp index or stamps file of the snapshot is ignored, removed and rewritten, never served", async () => {
    const { home, agents } = await spaceWithStamps();
    const chosen = await chooseSpace(home, {});
    const id = chosen.address.documentId;
    const damage = async (path: string) => {
      const bytes = await readFile(path);
      bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0xff;
      await writeFile(path, bytes);
      return bytes;
    };
    const shards = join(home.indexes, `${id}.stamps.d`);
    const feeds = join(home.indexes, `${id}.feeds`);
    expect((await readdir(shards)).length).toBeGreaterThan(0);
    expect((await readdir(feeds)).length).toBe(3);
    // Every shard and every author's stamps file damaged at once.
    const damaged = new Map<string, Buffer>();
    for (const dir of [shards, feeds])
      for (const name of await readdir(dir))
        damaged.set(join(dir, name), await damage(join(dir, name)));
    // Every output still verifies, by its own author, from the feeds alone: twice, the
    // second time from the caches the first rewrote.
    const outputs = [1, 2, 3, 4, 5, 6].map((n) => join(home.root, `out-${n}.md`));
    for (let round = 0; round < 2; round++)
      for (const [i, path] of outputs.entries()) {
        const found = await verifyFromFeeds(home, { output: path });
        expect(found.verified).toBe(true);
        expect(found.stamps.map((s) => s.stamp.author)).toEqual([
          agents[Math.floor(i / 2)]?.keyPair.did,
        ]);
      }
    expect((await listAgents(home, {})).agents).toHaveLength(3);
    // What was read damaged was removed and written again: the caches are whole and current.
    expect(await currentSnapshot(home, chosen)).toBeDefined();
    const sha256s = await Promise.all(
      outputs.map(async (path) =>
        createHash("sha256")
          .update(await readFile(path))
          .digest("hex"),
      ),
    );
    const index = await readStampIndex(home, chosen.address, { sha256s });
    expect(Object.keys(index?.bySha256 ?? {}).sort()).toEqual([...sha256s].sort());
    for (const [file, bytes] of damaged) {
      const now = await readFile(file).catch(() => undefined);
      if (now !== undefined && sha256s.some((sha) => file.endsWith(`.d/${sha[0]}`)))
        expect(now.equals(bytes)).toBe(false);
    }
  });
});
