import { mkdtemp, rm, writeFile } from "node:fs/promises";
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
import { readStampIndex, stampIndexOf } from "../src/caches/stamp-index.js";
import {
  canonHome,
  changeMember,
  createIdentity,
  createSpace,
  ensureIdentity,
  listAgents,
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
});
