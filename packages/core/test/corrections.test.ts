import { describe, expect, it } from "vitest";
import {
  contentCid,
  correctionsInForce,
  generateKeyPair,
  MAX_RENDERED_CORRECTIONS,
  renderContext,
  signRecord,
  verifyStamp,
} from "../src/index.js";
import { makeSpace } from "./space-fixture.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("correction logs in the fold", () => {
  it("keeps a correction open until a release incorporates it, then closes it", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one\n");
    const lesson = await space.correction(space.creator, "style", "No inline code.");
    let style = (await space.fold()).state?.standards.get("style");
    expect(style?.openCorrections.map((c) => c.cid)).toEqual([lesson.cid]);
    expect(style?.corrections.get(lesson.cid)?.state).toBe("open");

    const v2 = await space.release(space.creator, "style", "two\n", {
      parents: [v1.cid],
      version: 2,
      incorporates: [lesson.cid],
    });
    style = (await space.fold()).state?.standards.get("style");
    expect(style?.openCorrections).toEqual([]);
    expect(style?.corrections.get(lesson.cid)).toMatchObject({
      state: "incorporated",
      incorporatedBy: [v2.cid],
    });
    // v1 did not incorporate it: its rendered context still lists it; v2's does not.
    expect(correctionsInForce(style as never, v1.cid).map((c) => c.cid)).toEqual([lesson.cid]);
    expect(correctionsInForce(style as never, v2.cid)).toEqual([]);
  });

  it("leaves a correction open while one head of a fork does not incorporate it", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    const lesson = await space.correction(space.creator, "style", "Short titles.");
    const a = await space.release(space.creator, "style", "a", {
      parents: [v1.cid],
      version: 2,
      incorporates: [lesson.cid],
    });
    const b = await space.release(space.creator, "style", "b", { parents: [v1.cid], version: 2 });
    let style = (await space.fold()).state?.standards.get("style");
    expect(style?.forked).toBe(true);
    expect(style?.corrections.get(lesson.cid)?.state).toBe("open");
    expect(correctionsInForce(style as never, a.cid)).toEqual([]);
    expect(correctionsInForce(style as never, b.cid).map((c) => c.cid)).toEqual([lesson.cid]);
    // Resolving the fork follows both heads: a's incorporation is in its history now.
    await space.release(space.creator, "style", "ab", { parents: [a.cid, b.cid], version: 3 });
    style = (await space.fold()).state?.standards.get("style");
    expect(style?.corrections.get(lesson.cid)?.state).toBe("incorporated");
  });

  it("lets the author or a maintainer withdraw a correction, not another contributor", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const dave = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    const addDave = await space.member(space.creator, dave.did, "contributor", [addCarol.cid]);
    await space.release(space.creator, "style", "one");
    const carols = await space.correction(carol, "style", "Carol's.", {
      membership: [addCarol.cid],
    });
    const davesOwn = await space.correction(dave, "style", "Dave's.", {
      membership: [addDave.cid],
    });
    const third = await space.correction(dave, "style", "Third.", {
      membership: [addDave.cid],
      previous: [davesOwn.cid],
    });
    const byDave = await space.withdrawal(dave, carols, {
      membership: [addDave.cid],
      previous: [third.cid],
    });
    const ownWithdrawal = await space.withdrawal(dave, davesOwn, {
      membership: [addDave.cid],
      previous: [third.cid],
    });
    const byMaintainer = await space.withdrawal(space.creator, third, {
      membership: [addDave.cid],
    });
    const unknown = await space.withdrawal(space.creator, carols, { standard: "other" });
    const { state, rejected } = await space.fold();
    const style = state?.standards.get("style");
    expect(Object.fromEntries(rejected.map((r) => [r.cid, r.code]))).toEqual({
      [byDave.cid]: "withdraw-not-allowed",
      [unknown.cid]: "withdraws-unknown",
    });
    expect(style?.corrections.get(carols.cid)?.state).toBe("open");
    expect(style?.corrections.get(davesOwn.cid)).toMatchObject({ state: "withdrawn" });
    expect(style?.corrections.get(davesOwn.cid)?.withdrawnBy.map((w) => w.cid)).toEqual([
      ownWithdrawal.cid,
    ]);
    expect(style?.corrections.get(third.cid)?.state).toBe("withdrawn");
    expect(style?.openCorrections.map((c) => c.cid)).toEqual([carols.cid]);
    void byMaintainer;
  });

  it("keeps concurrent corrections from several authors, in the same order whatever the input order", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const add = await space.member(space.creator, carol.did, "contributor");
    await space.release(space.creator, "style", "one");
    const same = "2026-11-26T00:00:00.000Z";
    const a = await space.correction(carol, "style", "A.", {
      membership: [add.cid],
      createdAt: same,
    });
    const b = await space.correction(space.creator, "style", "B.", { createdAt: same });
    const forward = (await space.fold()).state?.standards.get("style");
    const entries = [...space.entries].reverse();
    space.entries.clear();
    for (const [cid, bytes] of entries) space.entries.set(cid, bytes);
    const backward = (await space.fold()).state?.standards.get("style");
    const expected = [a.cid, b.cid].sort();
    expect(forward?.openCorrections.map((c) => c.cid)).toEqual(expected);
    expect(backward?.openCorrections.map((c) => c.cid)).toEqual(expected);
  });
});

describe("rendered context", () => {
  it("is the release's bytes exactly when no correction is in force", async () => {
    const content = new TextEncoder().encode("# Style\n");
    const rendered = await renderContext({
      standard: "style",
      version: 1,
      content,
      corrections: [],
    });
    expect(rendered.bytes).toEqual(content);
    expect(rendered.cid).toBe((await contentCid(content)).toString());
  });

  it("appends the corrections in force after the exact release text, deterministically, with its own CID", async () => {
    const space = await makeSpace();
    const first = await space.correction(space.creator, "style", "No inline code.");
    const second = await space.correction(space.creator, "style", "Two lines:\nsecond line.");
    const content = new TextEncoder().encode("# Style\nno trailing newline");
    const input = { standard: "style", version: 3, content, corrections: [first, second] };
    const rendered = await renderContext(input);
    expect(rendered.bytes.subarray(0, content.length)).toEqual(content);
    expect(text(rendered.bytes)).toBe(
      [
        "# Style",
        "no trailing newline",
        "",
        "## Corrections in force for style@3",
        "",
        "These were recorded after this version was written; each applies until a new version incorporates it.",
        "",
        "1. No inline code.",
        `   (correction ${first.cid}, ${first.record.createdAt.slice(0, 10)})`,
        "",
        "2. Two lines:",
        "   second line.",
        `   (correction ${second.cid}, ${second.record.createdAt.slice(0, 10)})`,
        "",
      ].join("\n"),
    );
    expect(rendered.shown).toEqual([first.cid, second.cid]);
    expect(rendered.cid).toBe((await contentCid(rendered.bytes)).toString());
    expect((await renderContext(input)).cid).toBe(rendered.cid);
  });

  it("never splices corrections into bytes that are not UTF-8 text", async () => {
    const space = await makeSpace();
    const lesson = await space.correction(space.creator, "logo", "Use the blue one.");
    const content = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);
    const rendered = await renderContext({
      standard: "logo",
      version: 1,
      content,
      corrections: [lesson],
    });
    expect(rendered.spliced).toBe(false);
    expect(text(rendered.bytes)).toMatch(/^## Corrections in force for logo@1\n/);
    expect(text(rendered.bytes)).toContain("Use the blue one.");
  });

  it("lists the newest corrections within the limit and counts the rest", async () => {
    const space = await makeSpace();
    const corrections = [];
    for (let i = 0; i < MAX_RENDERED_CORRECTIONS + 5; i++)
      corrections.push(await space.correction(space.creator, "style", `Lesson ${i}.`));
    const rendered = await renderContext({
      standard: "style",
      version: 1,
      content: new TextEncoder().encode("x\n"),
      corrections,
    });
    expect(rendered.shown).toHaveLength(MAX_RENDERED_CORRECTIONS);
    expect(rendered.shown[0]).toBe(corrections[5]?.cid);
    expect(rendered.omitted).toBe(5);
    expect(text(rendered.bytes)).not.toContain("Lesson 4.");
    expect(text(rendered.bytes)).toContain(
      "(5 older corrections in force not shown: `canon corrections style --open` lists them all.)",
    );
  });
});

describe("missed corrections", () => {
  it("counts only corrections in force when the stamp was made: not later ones, not incorporated, not withdrawn by then", async () => {
    const space = await makeSpace();
    const agent = await generateKeyPair();
    const joined = await space.member(space.creator, agent.did, "contributor");
    const v1 = await space.release(space.creator, "style", "one");
    const seen = await space.correction(space.creator, "style", "Seen.");
    const withdrawnEarly = await space.correction(space.creator, "style", "Withdrawn.");
    await space.withdrawal(space.creator, withdrawnEarly);
    const missed = await space.correction(space.creator, "style", "Missed.");
    // A stamp that used v1 and saw `seen`, made just after `missed` was written.
    const used = await signRecord(agent, {
      type: "canon/provenance",
      v: 1,
      space: space.genesis.cid,
      subject: [{ name: "out.md", digest: { sha256: "1".repeat(64) } }],
      context: [
        {
          standard: "style",
          version: 1,
          contentCid: v1.record.contentCid,
          releaseCid: v1.cid,
        },
      ],
      corrections: [seen.cid],
      spaceHeads: [],
      previous: [],
      membership: [joined.cid],
      author: agent.did,
      createdAt: new Date(Date.parse(missed.record.createdAt) + 500).toISOString(),
    });
    await space.correction(space.creator, "style", "Later.");
    const folded = await space.fold();
    const verdict = await verifyStamp({
      stamp: { cid: used.cid, bytes: used.bytes, readable: used.record },
      outputSha256: "1".repeat(64),
      spaceOf: async () => ({
        state: folded.state as NonNullable<typeof folded.state>,
        verified: folded.verified,
      }),
    });
    expect(verdict.verified).toBe(true);
    expect(verdict.missedCorrections.map((c) => c.cid)).toEqual([missed.cid]);
  });
});
