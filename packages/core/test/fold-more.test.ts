import * as fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type FoldResult,
  fold,
  foldMore,
  type RecordEntry,
  type SignedRecord,
  type SpaceState,
  signRecord,
} from "../src/index.js";
import { addTeam, correctedFork, makeSpace, releasesAfterRemoval, tick } from "./space-fixture.js";

/**
 * Everything a state says, in a form `toEqual` compares: per standard its
 * releases, heads, latest, corrections and where each stands, retirement.
 */
function projection(state: SpaceState | undefined) {
  if (state === undefined) return undefined;
  const cids = (records: Iterable<SignedRecord>) => [...records].map((signed) => signed.cid);
  return {
    members: [...state.members].sort(([a], [b]) => (a < b ? -1 : 1)),
    membershipHeads: [...state.membershipHeads].sort(),
    membershipChanges: cids(state.membershipChanges),
    standards: [...state.standards.values()].map((standard) => ({
      name: standard.name,
      latest: standard.latest.cid,
      heads: cids(standard.heads),
      forked: standard.forked,
      releases: [...standard.releases.keys()].sort(),
      openCorrections: cids(standard.openCorrections),
      corrections: [...standard.corrections.values()].map((status) => ({
        cid: status.correction.cid,
        state: status.state,
        incorporatedBy: status.incorporatedBy,
        withdrawnBy: cids(status.withdrawnBy),
      })),
      retired: standard.retired?.cid,
      retirements: cids(standard.retirements),
    })),
    corrections: [...state.corrections.keys()].sort(),
    withdrawals: [...state.withdrawals.keys()].sort(),
    provenance: [...state.provenance.keys()].sort(),
    checkpoints: cids(state.checkpoints),
  };
}

/** The rest of a result, as sets. */
function outcome(result: FoldResult) {
  return {
    state: projection(result.state),
    rejected: result.rejected.map((r) => `${r.cid} ${r.code} ${r.reason}`).sort(),
    verified: [...result.verified.keys()].sort(),
    invalid: result.invalid.map((r) => `${r.cid} ${r.code}`).sort(),
  };
}

/**
 * A pool of one space's records, good and bad, over two standards that name
 * each other: members added, one maintainer removed with what the removal
 * had seen pinned, forks and a merge, a release after a gap (its parent
 * arrives later or never), corrections incorporated and withdrawn,
 * retirements, a stranger's release, releases whose content is missing,
 * and damaged copies of good records (bad signatures) under their CIDs.
 */
async function pool() {
  const space = await makeSpace();
  const { creator } = space;
  const team = await addTeam(space);
  const { bob, carol, dave, stranger, addBob, addCarol, addDave } = team;
  const daveSeen = await space.release(dave, "style", "dave v1", { membership: [addDave.cid] });
  // Seen by the removal only through a release of the other standard that names it.
  const daveGuide = await space.release(dave, "guide", "dave's guide", {
    membership: [addDave.cid],
  });
  const daveOverGuide = await space.release(dave, "style", "over guide", {
    parents: [daveGuide.cid],
    version: 2,
    membership: [addDave.cid],
  });
  const removeDave = await space.member(
    creator,
    dave.did,
    "removed",
    [addDave.cid],
    [daveSeen.cid, daveOverGuide.cid],
  );
  const s1 = await space.release(creator, "style", "s1");
  const { fix2, v2bob: s2a, v2creator: s2b } = await correctedFork(space, team, "style", s1);
  const s3 = await space.release(creator, "style", "s3", {
    parents: [s2a.cid, s2b.cid],
    version: 3,
    incorporates: [fix2.cid],
  });
  const s4 = await space.release(creator, "style", "s4", { parents: [s3.cid], version: 4 });
  const s5 = await space.release(creator, "style", "s5", { parents: [s4.cid], version: 5 });
  const { late: daveLate, backdated: daveBackdated } = await releasesAfterRemoval(
    space,
    dave,
    "style",
    { added: addDave, removed: removeDave },
    { late: daveSeen, backdated: s1 },
  );
  const jump = await space.release(creator, "style", "jump", { parents: [s1.cid], version: 7 });
  const missing = await space.release(creator, "style", "never stored", {
    parents: [s2b.cid],
    version: 3,
  });
  space.contents.delete(missing.record.contentCid);
  const strangers = await space.release(stranger, "style", "evil");
  const withdraw = await space.withdrawal(carol, fix2, {
    membership: [addCarol.cid],
    previous: [fix2.cid],
  });
  const g1 = await space.release(creator, "guide", "g1");
  const g2 = await space.release(bob, "guide", "g2", {
    parents: [g1.cid],
    version: 2,
    membership: [addBob.cid],
  });
  const g3 = await space.release(creator, "guide", "g3", { parents: [g2.cid], version: 3 });
  // Releases that name the other standard's releases as parents.
  const crossToStyle = await space.release(creator, "guide", "cross", {
    parents: [s1.cid],
    version: 2,
  });
  const crossToGuide = await space.release(creator, "style", "cross", {
    parents: [g1.cid],
    version: 2,
  });
  // A release of the other standard naming s3: its refusal's reason follows s3's verdict.
  const crossLate = await space.release(creator, "guide", "cross late", {
    parents: [s3.cid],
    version: 5,
  });
  const retire = (retired: boolean, standard: string) =>
    signRecord(creator, {
      type: "canon/retirement",
      v: 1,
      space: space.genesis.cid,
      standard,
      retired,
      message: "",
      membership: [space.genesis.cid],
      author: creator.did,
      createdAt: tick(),
    }).then((signed) => space.add(signed));
  await retire(true, "guide");
  await retire(false, "guide");
  await retire(true, "notes");
  await space.release(creator, "notes", "n1");

  const damaged = (signed: SignedRecord): RecordEntry => {
    const bytes = new Uint8Array(signed.bytes);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 1;
    return { cid: signed.cid, bytes };
  };
  const entries: RecordEntry[] = [
    ...[...space.entries]
      .filter(([cid]) => cid !== space.genesis.cid)
      .map(([cid, bytes]) => ({ cid, bytes })),
    damaged(s4),
    damaged(g2),
    { cid: "garbage", bytes: "not bytes" },
  ];
  const standardOf = (entry: RecordEntry) => {
    const found = [s1, s2a, s2b, s3, s4, s5, daveSeen, daveLate, daveBackdated, jump, missing]
      .concat([
        strangers,
        crossToGuide,
        g1,
        g2,
        g3,
        crossToStyle,
        daveGuide,
        daveOverGuide,
        crossLate,
      ])
      .find((signed) => signed.cid === entry.cid);
    return found?.record.standard;
  };
  return { space, entries, standardOf, withdraw, named: { s2a, daveOverGuide } };
}

type Pool = Awaited<ReturnType<typeof pool>>;

function foldOf(p: Pool, entries: readonly RecordEntry[]): Promise<FoldResult> {
  return fold({
    spaceCid: p.space.genesis.cid,
    entries: [{ cid: p.space.genesis.cid, bytes: p.space.genesis.bytes }, ...entries],
    content: (cid) => {
      const bytes = p.space.contents.get(cid);
      return bytes ? [bytes] : [];
    },
  });
}

describe("foldMore", () => {
  let p: Pool;
  beforeAll(async () => {
    p = await pool();
  }, 60_000);

  it("equals the full fold for random histories, whenever it answers, and answers for appends of one standard's releases", async () => {
    let answered = 0;
    let runs = 0;
    const count = p.entries.length;
    const standards = ["style", "guide", "notes"];
    await fc.assert(
      fc.asyncProperty(
        // Each entry held before with probability 3/4, so the membership chain is often whole.
        fc.array(fc.nat(3), { minLength: count, maxLength: count }),
        fc.array(
          fc.record({
            standard: fc.constantFrom(...standards),
            onlyThat: fc.boolean(),
            picks: fc.array(fc.integer({ min: 0, max: count - 1 }), { maxLength: 4 }),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        async (held, batches) => {
          runs++;
          let have = p.entries.filter((_, i) => (held[i] as number) > 0);
          let previous = await foldOf(p, have);
          for (const batch of batches) {
            // Entries not held yet: with `onlyThat`, releases of one standard (the append `publish` makes).
            const added = [...new Set(batch.picks)]
              .map((i) => p.entries[i] as RecordEntry)
              .filter((entry) => !have.includes(entry))
              .filter((entry) => !batch.onlyThat || p.standardOf(entry) === batch.standard);
            const full = await foldOf(p, [...have, ...added]);
            const more = await foldMore(previous, {
              spaceCid: p.space.genesis.cid,
              entries: added,
              content: (cid) => {
                const bytes = p.space.contents.get(cid);
                return bytes ? [bytes] : [];
              },
            });
            if (more !== undefined) {
              answered++;
              expect(outcome(more)).toEqual(outcome(full));
            }
            have = [...have, ...added];
            previous = more ?? full;
          }
        },
      ),
      { numRuns: 300 },
    );
    // The incremental way is taken often enough for the property to mean something.
    expect(answered).toBeGreaterThan(runs / 2);
  }, 120_000);

  it("re-decides only the appended standard: the next version of one standard is answered, and equals the full fold", async () => {
    const have = p.entries;
    const previous = await foldOf(p, have);
    const next = await p.space.release(p.space.creator, "guide", "g4", {
      parents: [
        [...(previous.state?.standards.get("guide")?.heads ?? [])].map((h) => h.cid)[0] as string,
      ],
      version: 4,
    });
    const entry = { cid: next.cid, bytes: next.bytes };
    const more = await foldMore(previous, {
      spaceCid: p.space.genesis.cid,
      entries: [entry],
      content: (cid) => {
        const bytes = p.space.contents.get(cid);
        return bytes ? [bytes] : [];
      },
    });
    expect(more).toBeDefined();
    expect(more?.state?.standards.get("guide")?.latest.cid).toBe(next.cid);
    expect(outcome(more as FoldResult)).toEqual(outcome(await foldOf(p, [...have, entry])));
  });

  it("equals the full fold when the append changes another standard's verdicts: through a removal's pins, or a refused release naming one whose verdict moves", async () => {
    for (const late of [p.named.daveOverGuide, p.named.s2a]) {
      const entry = p.entries.find(
        (e) => e.cid === late.cid && e.bytes === late.bytes,
      ) as RecordEntry;
      const have = p.entries.filter((e) => e !== entry);
      const more = await foldMore(await foldOf(p, have), {
        spaceCid: p.space.genesis.cid,
        entries: [entry],
        content: (cid) => {
          const bytes = p.space.contents.get(cid);
          return bytes ? [bytes] : [];
        },
      });
      const full = await foldOf(p, [...have, entry]);
      if (more !== undefined) expect(outcome(more)).toEqual(outcome(full));
    }
  });

  it("gives up on anything but releases (a withdrawal here), and on a state no fold of this process returned", async () => {
    const withdrawal = { cid: p.withdraw.cid, bytes: p.withdraw.bytes };
    const have = p.entries.filter((entry) => entry.cid !== withdrawal.cid);
    const previous = await foldOf(p, have);
    const input = { spaceCid: p.space.genesis.cid, entries: [withdrawal], content: () => [] };
    expect(await foldMore(previous, input)).toBeUndefined();
    const copied = { ...previous, state: { ...(previous.state as SpaceState) } };
    expect(await foldMore(copied, { ...input, entries: [] })).toBeUndefined();
  });
});
