import { describe, expect, it, vi } from "vitest";
import {
  type ContextEntry,
  generateKeyPair,
  type KeyPair,
  type KnownStandard,
  type Release,
  type SignedRecord,
  type StampProblemCode,
  type StampSpace,
  signRecord,
  verifyStamp,
} from "../src/index.js";
import { makeSpace, tick } from "./space-fixture.js";

type Space = Awaited<ReturnType<typeof makeSpace>>;

const OUTPUT_SHA256 = "ab".repeat(32);
/** A release that was current when stamped and has not been superseded since, for a stamp that does not say what its replica held. */
const CURRENT_THEN_AND_NOW = {
  whenStamped: "current",
  staleReason: null,
  heldVersion: null,
  newerWhenStamped: [],
  supersededSince: false,
  newerSince: [],
} as const;

/** What a stamp's context entry for `v1` says once v2 came out after the stamp (it named v1, the latest then). */
function supersededByV2(v1: SignedRecord<Release>) {
  return {
    ...contextOf(v1),
    accepted: true,
    current: false,
    latestVersion: 2,
    ...CURRENT_THEN_AND_NOW,
    supersededSince: true,
    newerSince: [2],
  };
}

/** A space with one standard at v1 and an agent that is a contributor. */
async function spaceWithAgent() {
  const space = await makeSpace();
  const agent = await generateKeyPair();
  const joined = await space.member(space.creator, agent.did, "contributor");
  const v1 = await space.release(space.creator, "style", "# Style v1");
  return { space, agent, joined, v1 };
}

function contextOf(release: SignedRecord<Release>): ContextEntry {
  const { standard, version, contentCid } = release.record;
  return { standard, version, contentCid, releaseCid: release.cid };
}

/** A stamp as `canon stamp` signs it, not added to the space (stamps are not shared). */
function stampBy(
  author: KeyPair,
  space: Space,
  options: {
    context: ContextEntry[];
    membership: string[];
    corrections?: string[];
    sha256?: string;
    knew?: KnownStandard[];
  },
) {
  return signRecord(author, {
    type: "canon/provenance",
    v: 1,
    space: space.genesis.cid,
    subject: [{ name: "article.md", digest: { sha256: options.sha256 ?? OUTPUT_SHA256 } }],
    context: options.context,
    corrections: options.corrections ?? [],
    spaceHeads: [],
    previous: [],
    membership: options.membership,
    author: author.did,
    createdAt: tick(),
    ...(options.knew ? { knew: options.knew } : {}),
  });
}

/** The agent's stamp of the output using v1, as a member ({@link spaceWithAgent}'s setting). */
function stampOfV1(
  setting: Awaited<ReturnType<typeof spaceWithAgent>>,
  more: { knew?: KnownStandard[] } = {},
) {
  const { space, agent, joined, v1 } = setting;
  return stampBy(agent, space, { context: [contextOf(v1)], membership: [joined.cid], ...more });
}

/** The space as an auditor's replica folds it. */
async function foldedSpace(space: Space): Promise<StampSpace> {
  const { state, verified } = await space.fold();
  if (state === undefined) throw new Error("the fixture's genesis did not fold");
  return { state, verified };
}

/** Verifies `signed` as a stamp file holding it would claim it, against the space as folded now. */
async function verify(
  space: Space,
  signed: SignedRecord,
  claimed: { readable?: unknown; bytes?: Uint8Array; sha256?: string } = {},
) {
  const folded = await foldedSpace(space);
  const spaceOf = vi.fn(async () => folded);
  const verdict = await verifyStamp({
    stamp: {
      cid: signed.cid,
      bytes: claimed.bytes ?? signed.bytes,
      readable: "readable" in claimed ? claimed.readable : signed.record,
    },
    outputSha256: claimed.sha256 ?? OUTPUT_SHA256,
    spaceOf,
  });
  return { verdict, spaceOf };
}

const codes = (problems: readonly { code: StampProblemCode }[]) => problems.map((p) => p.code);

describe("verifyStamp", () => {
  it("passes a valid stamp with no problems, the current release and nothing missed", async () => {
    const { space, agent, joined, v1 } = await spaceWithAgent();
    const stamp = await stampOfV1({ space, agent, joined, v1 });
    const { verdict, spaceOf } = await verify(space, stamp);
    expect(spaceOf).toHaveBeenCalledWith(space.genesis.cid);
    expect(verdict).toEqual({
      verified: true,
      problems: [],
      record: stamp.record,
      outputMatches: true,
      context: [
        {
          ...contextOf(v1),
          accepted: true,
          current: true,
          latestVersion: 1,
          ...CURRENT_THEN_AND_NOW,
        },
      ],
      missedCorrections: [],
      laterCorrections: [],
      warnings: [],
    });
  });

  describe("envelope", () => {
    it("invalid-record: bytes that do not match the CID, with no space looked up and no context", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampOfV1({ space, agent, joined, v1 });
      const bytes = new Uint8Array(stamp.bytes);
      bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 1;
      const { verdict, spaceOf } = await verify(space, stamp, { bytes });
      expect(verdict.problems).toEqual([
        {
          code: "invalid-record",
          rejection: "cid-mismatch",
          message: expect.stringMatching(/^the stamp is not a valid provenance record: /),
        },
      ]);
      expect(verdict).toMatchObject({ verified: false, record: undefined, context: [] });
      expect(spaceOf).not.toHaveBeenCalled();
    });
  });

  describe("provenance type", () => {
    it("not-provenance: another record of the space passed off as a stamp", async () => {
      const { space, v1 } = await spaceWithAgent();
      const { verdict, spaceOf } = await verify(space, v1);
      expect(verdict.problems).toEqual([
        {
          code: "not-provenance",
          message: "the stamp is not a valid provenance record: it is a canon/release record",
        },
      ]);
      expect(verdict.verified).toBe(false);
      expect(spaceOf).not.toHaveBeenCalled();
    });
  });

  describe("readable copy", () => {
    it("readable-mismatch: the JSON copy names another context, or is missing", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampOfV1({ space, agent, joined, v1 });
      for (const readable of [{ ...stamp.record, context: [] }, undefined]) {
        const { verdict } = await verify(space, stamp, { readable });
        expect(verdict.problems).toEqual([
          {
            code: "readable-mismatch",
            message: "the stamp's readable record differs from the signed one in its envelope",
          },
        ]);
      }
    });

    it("accepts a readable copy parsed from JSON with its keys in another order", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampOfV1({ space, agent, joined, v1 });
      const reordered = JSON.parse(
        JSON.stringify(Object.fromEntries(Object.entries(stamp.record).reverse())),
      );
      const { verdict } = await verify(space, stamp, { readable: reordered });
      expect(verdict.problems).toEqual([]);
    });
  });

  describe("subject", () => {
    it("output-mismatch: the output's sha256 is not the stamp's subject", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampOfV1({ space, agent, joined, v1 });
      const other = "cd".repeat(32);
      const { verdict } = await verify(space, stamp, { sha256: other });
      expect(verdict.problems).toEqual([
        {
          code: "output-mismatch",
          message: `the output's sha256 is ${other}; the stamp names ${OUTPUT_SHA256}`,
        },
      ]);
      expect(verdict.outputMatches).toBe(false);
    });
  });

  describe("author's role", () => {
    it("refused-by-space: a well-signed stamp by someone who is not a member", async () => {
      const { space, v1 } = await spaceWithAgent();
      const stranger = await generateKeyPair();
      const stamp = await stampBy(stranger, space, {
        context: [contextOf(v1)],
        membership: [space.genesis.cid],
      });
      const { verdict } = await verify(space, stamp);
      expect(verdict.problems).toEqual([
        {
          code: "refused-by-space",
          rejection: "author-role",
          message: expect.stringMatching(/^the space's rules refuse the stamp: /),
        },
      ]);
    });

    it("refused-by-space: a removed member's stamp citing the membership point before the removal", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampOfV1({ space, agent, joined, v1 });
      expect((await verify(space, stamp)).verdict.verified).toBe(true);
      await space.member(space.creator, agent.did, "removed", [joined.cid]);
      const { verdict } = await verify(space, stamp);
      expect(codes(verdict.problems)).toEqual(["refused-by-space"]);
      expect(verdict.problems[0]?.rejection).toBe("backdated");
    });

    it("refused-by-space: a reader may not stamp", async () => {
      const { space, v1 } = await spaceWithAgent();
      const reader = await generateKeyPair();
      const made = await space.member(space.creator, reader.did, "reader");
      const stamp = await stampBy(reader, space, {
        context: [contextOf(v1)],
        membership: [made.cid],
      });
      const { verdict } = await verify(space, stamp);
      expect(codes(verdict.problems)).toEqual(["refused-by-space"]);
      expect(verdict.problems[0]?.rejection).toBe("author-role");
    });
  });

  describe("context releases", () => {
    it("release-named-twice: the same release twice is reported once and listed once", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampBy(agent, space, {
        context: [contextOf(v1), contextOf(v1)],
        membership: [joined.cid],
      });
      const { verdict } = await verify(space, stamp);
      expect(verdict.problems).toEqual([
        { code: "release-named-twice", message: `the context names ${v1.cid} twice` },
      ]);
      expect(verdict.context).toHaveLength(1);
    });

    it("release-not-accepted: a version the release does not have, and a release the space lacks", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const elsewhere = await makeSpace();
      const unknown = await elsewhere.release(elsewhere.creator, "tone", "# Tone");
      const stamp = await stampBy(agent, space, {
        context: [{ ...contextOf(v1), version: 2 }, contextOf(unknown)],
        membership: [joined.cid],
      });
      const { verdict } = await verify(space, stamp);
      expect(verdict.problems).toEqual([
        {
          code: "release-not-accepted",
          message: `style@2 (${v1.cid}) is not an accepted release in this replica; sync, or it was never published`,
        },
        { code: "release-not-accepted", message: expect.stringMatching(/^tone@1 /) },
      ]);
      expect(verdict.context).toEqual([
        expect.objectContaining({ standard: "style", accepted: false, current: true }),
        expect.objectContaining({ standard: "tone", accepted: false, latestVersion: null }),
      ]);
    });
  });

  describe("drift", () => {
    it("a release no longer the latest is reported, and the stamp still verifies", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const stamp = await stampOfV1({ space, agent, joined, v1 });
      await space.release(space.creator, "style", "# Style v2", { parents: [v1.cid], version: 2 });
      const { verdict } = await verify(space, stamp);
      expect(verdict.verified).toBe(true);
      expect(verdict.context).toEqual([supersededByV2(v1)]);
    });

    it("stale when stamped: held-newer when the stamp says its replica held a newer version, newer-not-received when it did not", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      await space.release(space.creator, "style", "# Style v2", { parents: [v1.cid], version: 2 });
      const held = (version: number) => [
        { standard: "style", version, heads: [v1.cid], openCorrections: 0 },
      ];
      const pinned = await stampOfV1({ space, agent, joined, v1 }, { knew: held(2) });
      const behind = await stampOfV1({ space, agent, joined, v1 }, { knew: held(1) });
      const old = await stampOfV1({ space, agent, joined, v1 });
      const judged = async (stamp: typeof pinned) =>
        (await verify(space, stamp)).verdict.context[0];
      expect(await judged(pinned)).toMatchObject({
        whenStamped: "stale",
        staleReason: "held-newer",
        heldVersion: 2,
        newerWhenStamped: [2],
        supersededSince: false,
      });
      expect(await judged(behind)).toMatchObject({
        whenStamped: "stale",
        staleReason: "newer-not-received",
        heldVersion: 1,
      });
      expect(await judged(old)).toMatchObject({ whenStamped: "stale", staleReason: "unknown" });
    });

    it("misses corrections of the standards used that existed by the stamp's date, unless incorporated or named", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const incorporated = await space.correction(space.creator, "style", "in v2");
      const v2 = await space.release(space.creator, "style", "# Style v2", {
        parents: [v1.cid],
        version: 2,
        incorporates: [incorporated.cid],
      });
      const missed = await space.correction(space.creator, "style", "learned after v2");
      const seen = await space.correction(space.creator, "style", "seen by the agent");
      await space.correction(space.creator, "tone", "another standard");
      const stamp = await stampBy(agent, space, {
        context: [contextOf(v2)],
        corrections: [seen.cid],
        membership: [joined.cid],
      });
      await space.correction(space.creator, "style", "learned after the stamp");
      const { verdict } = await verify(space, stamp);
      expect(verdict.verified).toBe(true);
      expect(verdict.missedCorrections).toEqual([
        { cid: missed.cid, standard: "style", text: "learned after v2", staleReason: "unknown" },
      ]);
      expect(verdict.laterCorrections.map((c) => c.text)).toEqual(["learned after the stamp"]);
    });

    it("is reported alongside problems, not instead of them", async () => {
      const { space, agent, joined, v1 } = await spaceWithAgent();
      const missed = await space.correction(space.creator, "style", "learned before the stamp");
      const stamp = await stampBy(agent, space, {
        context: [contextOf(v1), contextOf(v1)],
        membership: [joined.cid],
      });
      await space.release(space.creator, "style", "# Style v2", { parents: [v1.cid], version: 2 });
      const { verdict } = await verify(space, stamp, {
        readable: { ...stamp.record, corrections: [missed.cid] },
        sha256: "cd".repeat(32),
      });
      // Problems come in the order the checks run.
      expect(codes(verdict.problems)).toEqual([
        "readable-mismatch",
        "output-mismatch",
        "release-named-twice",
      ]);
      expect(verdict.context).toEqual([supersededByV2(v1)]);
      expect(verdict.missedCorrections.map((c) => c.cid)).toEqual([missed.cid]);
    });
  });
});
