import * as fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type FoldResult,
  fold,
  generateKeyPair,
  type RecordEntry,
  type SignedRecord,
  type SpaceState,
} from "../src/index.js";
import { addTeam, correctedFork, makeSpace, releasesAfterRemoval } from "./space-fixture.js";

/** Bounded so the suite stays fast: each fold verifies ~30 signatures. */
const RUNS = { numRuns: 50 } as const;

/**
 * What two states must agree on, in a form `toEqual` compares: sets as
 * sorted arrays, and in the fold's own order what the fold orders (a
 * standard's heads, by version then CID; its open corrections, oldest first;
 * the membership changes, in replay order).
 */
function projection(state: SpaceState | undefined) {
  if (state === undefined) return undefined;
  const cids = (records: Iterable<SignedRecord>) => [...records].map((signed) => signed.cid);
  return {
    genesis: state.genesis.cid,
    members: [...state.members].sort(([a], [b]) => (a < b ? -1 : 1)),
    membershipHeads: [...state.membershipHeads].sort(),
    membershipChanges: cids(state.membershipChanges),
    standards: [...state.standards.values()]
      .map((standard) => ({
        name: standard.name,
        latest: standard.latest.cid,
        heads: cids(standard.heads),
        forked: standard.forked,
        releases: [...standard.releases.keys()].sort(),
        openCorrections: cids(standard.openCorrections),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    corrections: [...state.corrections.keys()].sort(),
    provenance: [...state.provenance.keys()].sort(),
  };
}

function rejectedCids(result: FoldResult): string[] {
  return [...new Set(result.rejected.map((rejection) => rejection.cid))].sort();
}

/** Every record the fold accepted, as entries. */
function acceptedEntries(state: SpaceState): RecordEntry[] {
  const records: SignedRecord[] = [
    state.genesis,
    ...state.membershipChanges,
    ...[...state.standards.values()].flatMap((standard) => [...standard.releases.values()]),
    ...state.corrections.values(),
    ...state.provenance.values(),
  ];
  return records.map((signed) => ({ cid: signed.cid, bytes: signed.bytes }));
}

/**
 * One space's worth of records, valid and not: a genesis; members added at
 * each role and one removed (with the records the remover had seen pinned);
 * releases that follow, fork, merge, jump, dangle, or come from a stranger, a
 * removed member, or another space; corrections incorporated or open, and one
 * by a reader; provenance; and junk (not bytes, bytes under the wrong CID, a
 * damaged copy of a good record under its CID, a release whose content is
 * missing or wrong, one whose content has a bad candidate beside the good).
 */
async function mixedSpace() {
  const space = await makeSpace();
  const { creator } = space;
  const team = await addTeam(space);
  const { bob, carol, dave, stranger, addBob, addCarol, addDave } = team;
  const reader = await generateKeyPair();
  const addReader = await space.member(creator, reader.did, "reader", [addDave.cid]);

  // Dave publishes, then is removed by a change that had seen exactly these two records.
  const daveRelease = await space.release(dave, "other", "dave's", { membership: [addDave.cid] });
  const daveNote = await space.correction(dave, "other", "Dave's note.", {
    membership: [addDave.cid],
  });
  const removeDave = await space.member(
    creator,
    dave.did,
    "removed",
    [addReader.cid],
    [daveRelease.cid],
    [daveNote.cid],
  );
  const { late: daveLate, backdated: daveBackdated } = await releasesAfterRemoval(
    space,
    dave,
    "other",
    { added: addDave, removed: removeDave },
    { late: daveRelease, backdated: daveRelease },
  );

  // "style": carol's corrections, one incorporated; two concurrent v2s (a fork).
  const v1 = await space.release(creator, "style", "v1");
  const { fix1, fix2, v2bob, v2creator } = await correctedFork(space, team, "style", v1);
  const readerFix = await space.correction(reader, "style", "No.", {
    membership: [addReader.cid],
  });

  // "guide": a fork merged again.
  const g1 = await space.release(creator, "guide", "g1");
  const g2a = await space.release(creator, "guide", "g2a", { parents: [g1.cid], version: 2 });
  const g2b = await space.release(bob, "guide", "g2b", {
    parents: [g1.cid],
    version: 2,
    membership: [addBob.cid],
  });
  const g3 = await space.release(creator, "guide", "g3", {
    parents: [g2a.cid, g2b.cid],
    version: 3,
  });

  const stamp = await space.provenance(creator, "out.md");
  const carolStamp = await space.provenance(carol, "essay.md", {
    membership: [addCarol.cid],
    previous: [fix2.cid],
  });

  // Releases the rules refuse.
  const strangers = await space.release(stranger, "style", "evil");
  const jump = await space.release(creator, "style", "jump", {
    parents: [v2creator.cid],
    version: 9,
  });
  const orphan = await space.release(creator, "style", "orphan", {
    parents: ["bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy"],
    version: 2,
  });
  const wrongContent = await space.release(creator, "notes", "the real text");
  space.contents.set(wrongContent.record.contentCid, new TextEncoder().encode("other text"));
  const missingContent = await space.release(creator, "drafts", "never stored");
  space.contents.delete(missingContent.record.contentCid);
  // A second, bad candidate for this content: the good one must still be found.
  const contested = await space.release(creator, "faq", "the answer");
  const contestedCandidates = [
    new TextEncoder().encode("a peer's overwrite"),
    space.contents.get(contested.record.contentCid) as Uint8Array,
  ];

  const elsewhere = await makeSpace();
  const foreign = await elsewhere.release(elsewhere.creator, "style", "foreign");

  const junk: RecordEntry[] = [
    { cid: "garbage", bytes: "not bytes" },
    { cid: "bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy", bytes: v1.bytes },
    { cid: g3.cid, bytes: new Uint8Array([...g3.bytes, 0]) },
    { cid: elsewhere.genesis.cid, bytes: elsewhere.genesis.bytes },
    { cid: foreign.cid, bytes: foreign.bytes },
  ];
  const entries: RecordEntry[] = [
    ...[...space.entries].map(([cid, bytes]) => ({ cid, bytes })),
    ...junk,
  ];

  return {
    space,
    entries,
    contestedCid: contested.record.contentCid,
    contestedCandidates,
    /** Records the baseline test expects, by role in the fixture. */
    named: {
      creator,
      bob,
      carol,
      dave,
      reader,
      addBob,
      addCarol,
      addDave,
      addReader,
      removeDave,
      daveRelease,
      daveNote,
      daveLate,
      daveBackdated,
      v1,
      fix1,
      fix2,
      v2bob,
      v2creator,
      readerFix,
      g3,
      stamp,
      carolStamp,
      strangers,
      jump,
      orphan,
      wrongContent,
      missingContent,
      contested,
      foreign,
      elsewhere,
    },
  };
}

type Fixture = Awaited<ReturnType<typeof mixedSpace>>;

/**
 * Folds `entries` as a replica would. A release's content travels in the
 * same document as the release, so every stored content is offered; the
 * contested one with its candidates in `candidateOrder` (0: good first).
 */
function foldOf(
  fixture: Fixture,
  entries: readonly RecordEntry[],
  candidateOrder: 0 | 1 = 0,
): Promise<FoldResult> {
  const [bad, good] = fixture.contestedCandidates as [Uint8Array, Uint8Array];
  return fold({
    spaceCid: fixture.space.genesis.cid,
    entries,
    content: (contentCid) => {
      if (contentCid === fixture.contestedCid)
        return candidateOrder === 0 ? [good, bad] : [bad, good];
      const bytes = fixture.space.contents.get(contentCid);
      return bytes ? [bytes] : [];
    },
  });
}

/**
 * Positions into a list of `count` entries: each at least once, some several
 * times, in any order. (Positions, not entries, so a counterexample reads.)
 */
function anyOrderWithDuplicates(count: number) {
  const every = Array.from({ length: count }, (_, i) => i);
  return fc.array(fc.integer({ min: 0, max: count - 1 }), { maxLength: count }).chain((extra) => {
    const all = [...every, ...extra];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
  });
}

function at(entries: readonly RecordEntry[], order: readonly number[]): RecordEntry[] {
  return order.map((i) => entries[i] as RecordEntry);
}

describe("fold properties", () => {
  let fixture: Fixture;
  let baseline: FoldResult;
  beforeAll(async () => {
    fixture = await mixedSpace();
    baseline = await foldOf(fixture, fixture.entries);
  }, 60_000);

  it("the fixture exercises every rule: members, a removal, a fork, a merge, open and incorporated corrections, and every kind of rejection", () => {
    const n = fixture.named;
    const state = projection(baseline.state);
    expect(state?.members).toEqual(
      [
        [n.creator.did, "maintainer"],
        [n.bob.did, "maintainer"],
        [n.carol.did, "contributor"],
        [n.reader.did, "reader"],
      ].sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
    );
    expect(state?.membershipHeads).toEqual([n.removeDave.cid]);
    const standards = Object.fromEntries((state?.standards ?? []).map((s) => [s.name, s]));
    expect(Object.keys(standards).sort()).toEqual(["faq", "guide", "other", "style"]);
    expect(standards.style).toMatchObject({
      forked: true,
      heads: expect.arrayContaining([n.v2bob.cid, n.v2creator.cid]),
      // fix1 is incorporated on one branch of the fork only: it stays open until every head has it.
      openCorrections: [n.fix1.cid, n.fix2.cid],
    });
    expect(standards.guide).toMatchObject({ forked: false, latest: n.g3.cid });
    expect(standards.other).toMatchObject({
      latest: n.daveRelease.cid,
      releases: [n.daveRelease.cid],
    });
    expect(standards.faq).toMatchObject({ latest: n.contested.cid });
    expect(state?.corrections).toEqual([n.fix1.cid, n.fix2.cid, n.daveNote.cid].sort());
    expect(state?.provenance).toEqual([n.stamp.cid, n.carolStamp.cid].sort());
    expect(rejectedCids(baseline)).toEqual(
      [
        "garbage",
        "bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy",
        n.g3.cid, // its damaged copy; the good copy is accepted
        n.elsewhere.genesis.cid,
        n.foreign.cid,
        n.daveLate.cid,
        n.daveBackdated.cid,
        n.readerFix.cid,
        n.strangers.cid,
        n.jump.cid,
        n.orphan.cid,
        n.wrongContent.cid,
        n.missingContent.cid,
      ].sort(),
    );
  });

  it("reaches the same state, and rejects the same records, for any order and duplication of the entries", async () => {
    const expected = projection(baseline.state);
    const expectedRejected = rejectedCids(baseline);
    await fc.assert(
      fc.asyncProperty(
        anyOrderWithDuplicates(fixture.entries.length),
        fc.constantFrom<0 | 1>(0, 1),
        async (order, candidateOrder) => {
          const result = await foldOf(fixture, at(fixture.entries, order), candidateOrder);
          expect(projection(result.state)).toEqual(expected);
          expect(rejectedCids(result)).toEqual(expectedRejected);
        },
      ),
      RUNS,
    );
  });

  it("is idempotent: folding the accepted records again, in any order, gives the same state and rejects nothing", async () => {
    const expected = projection(baseline.state);
    const accepted = acceptedEntries(baseline.state as SpaceState);
    await fc.assert(
      fc.asyncProperty(anyOrderWithDuplicates(accepted.length), async (order) => {
        const again = await foldOf(fixture, at(accepted, order));
        expect(projection(again.state)).toEqual(expected);
        expect(again.rejected).toEqual([]);
        // And once more from that result: a fixed point.
        const thrice = await foldOf(fixture, acceptedEntries(again.state as SpaceState));
        expect(projection(thrice.state)).toEqual(expected);
      }),
      RUNS,
    );
  });

  it("two replicas that receive different interleavings and subsets, and merge, agree whenever they hold the same records, and converge once both hold all", async () => {
    const { entries } = fixture;
    const expected = projection(baseline.state);
    const count = entries.length;
    /** Deliver an entry to a replica, or merge one replica's records into the other's. */
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("deliver" as const),
        to: fc.integer({ min: 0, max: 1 }),
        entry: fc.integer({ min: 0, max: count - 1 }),
      }),
      fc.record({ kind: fc.constant("merge" as const), to: fc.integer({ min: 0, max: 1 }) }),
    );
    const finalOrder = fc.shuffledSubarray(
      entries.map((_, i) => i),
      { minLength: count, maxLength: count },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 2 * count }),
        finalOrder,
        finalOrder,
        async (steps, lastA, lastB) => {
          // Each replica's entries in arrival order (a merge appends the other's, duplicates and all).
          const replicas: number[][] = [[], []];
          const sameSet = () =>
            new Set(replicas[0]).size === new Set(replicas[1]).size &&
            (replicas[0] as number[]).every((i) => (replicas[1] as number[]).includes(i));
          const foldReplica = (held: number[]) => foldOf(fixture, at(entries, held));
          for (const next of steps) {
            const target = replicas[next.to] as number[];
            if (next.kind === "deliver") target.push(next.entry);
            else target.push(...(replicas[1 - next.to] as number[]));
            if (sameSet() && (replicas[0] as number[]).length > 0) {
              const [a, b] = await Promise.all(replicas.map(foldReplica));
              expect(projection(a?.state)).toEqual(projection(b?.state));
            }
          }
          (replicas[0] as number[]).push(...lastA);
          (replicas[1] as number[]).push(...lastB);
          const [a, b] = await Promise.all(replicas.map(foldReplica));
          expect(projection(a?.state)).toEqual(expected);
          expect(projection(b?.state)).toEqual(expected);
        },
      ),
      { numRuns: 30 },
    );
  });
});
