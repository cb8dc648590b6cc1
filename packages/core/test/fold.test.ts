import * as dagCbor from "@ipld/dag-cbor";
import { describe, expect, it } from "vitest";
import {
  contentMatches,
  fold,
  generateKeyPair,
  ownRecordHeads,
  recordCid,
  signingInput,
  signRecord,
} from "../src/index.js";
import { makeSpace, tick } from "./space-fixture.js";

describe("fold", () => {
  it("follows a chain of releases to the latest", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    const v2 = await space.release(space.creator, "style", "two", {
      parents: [v1.cid],
      version: 2,
    });
    const { state, rejected } = await space.fold();
    expect(rejected).toEqual([]);
    const style = state?.standards.get("style");
    expect(style?.latest.cid).toBe(v2.cid);
    expect(style?.forked).toBe(false);
    expect(style?.releases.size).toBe(2);
  });

  it("reports concurrent releases as a fork with both heads, and a release naming both resolves it", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    const a = await space.release(space.creator, "style", "a", { parents: [v1.cid], version: 2 });
    const b = await space.release(space.creator, "style", "b", { parents: [v1.cid], version: 2 });
    let style = (await space.fold()).state?.standards.get("style");
    expect(style?.forked).toBe(true);
    expect(style?.heads.map((h) => h.cid).sort()).toEqual([a.cid, b.cid].sort());
    const merged = await space.release(space.creator, "style", "ab", {
      parents: [a.cid, b.cid],
      version: 3,
    });
    style = (await space.fold()).state?.standards.get("style");
    expect(style?.forked).toBe(false);
    expect(style?.latest.cid).toBe(merged.cid);
  });

  it("leaves out a release by a non-member and says why", async () => {
    const space = await makeSpace();
    const stranger = await generateKeyPair();
    const bad = await space.release(stranger, "style", "evil");
    const { state, rejected } = await space.fold();
    expect(state?.standards.has("style")).toBe(false);
    expect(rejected).toEqual([expect.objectContaining({ cid: bad.cid, code: "author-role" })]);
  });

  it("rejects bytes that do not match their CID, a forged signature, and a garbage entry, keeping the good release", async () => {
    const space = await makeSpace();
    const good = await space.release(space.creator, "style", "good");
    const other = await space.release(space.creator, "other", "x");
    space.entries.delete(other.cid);
    space.entries.set("bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy", other.bytes);
    // Forged: the payload is changed and re-wrapped with the old signature.
    const envelope = dagCbor.decode(good.bytes) as { payload: Uint8Array; sig: Uint8Array };
    const record = dagCbor.decode(envelope.payload) as Record<string, unknown>;
    const forgedBytes = dagCbor.encode({
      payload: dagCbor.encode({ ...record, message: "forged" }),
      sig: envelope.sig,
    });
    const forgedCid = (await recordCid(forgedBytes)).toString();
    space.entries.set(forgedCid, forgedBytes);
    space.entries.set("garbage", "not bytes");
    const { state, rejected } = await space.fold();
    expect(state?.standards.get("style")?.latest.cid).toBe(good.cid);
    const codes = Object.fromEntries(rejected.map((r) => [r.cid, r.code]));
    expect(codes.bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy).toBe("cid-mismatch");
    expect(codes[forgedCid]).toBe("bad-signature");
    expect(codes.garbage).toBe("not-bytes");
  });

  it("refolds its verified records without the documents: same state, and bytes that changed under a CID are checked again", async () => {
    const space = await makeSpace();
    const good = await space.release(space.creator, "style", "good");
    const stranger = await generateKeyPair();
    const refused = await space.release(stranger, "style", "evil");
    space.entries.set("garbage", "not bytes");
    const first = await space.fold();
    expect(first.invalid.map((r) => r.cid)).toEqual(["garbage"]);
    // A stranger's release passes its own checks; the space's rules refuse it.
    expect([...first.verified.keys()].sort()).toEqual(
      [space.genesis.cid, good.cid, refused.cid].sort(),
    );

    // A snapshot: the verified records, the releases whose content matched, no documents.
    const again = await fold({
      spaceCid: space.genesis.cid,
      entries: [...first.verified.values()],
      content: () => [],
      cache: {
        verifiedRecord: (cid) => first.verified.get(cid),
        contentMatched: (cid) => cid === good.cid,
      },
    });
    expect(again.state?.standards.get("style")?.latest.cid).toBe(good.cid);
    expect([...again.rejected, ...first.invalid].map((r) => r.cid).sort()).toEqual(
      first.rejected.map((r) => r.cid).sort(),
    );

    // The cache is keyed by CID but trusted only for identical bytes.
    const misfiledCid = "bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy";
    const tampered = await fold({
      spaceCid: space.genesis.cid,
      entries: [
        { cid: space.genesis.cid, bytes: space.genesis.bytes },
        { cid: misfiledCid, bytes: good.bytes },
        { cid: good.cid, bytes: new Uint8Array([...good.bytes, 0]) },
      ],
      content: () => [],
      cache: {
        verifiedRecord: (cid) => first.verified.get(cid),
        contentMatched: (cid) => cid === good.cid,
      },
    });
    expect(tampered.state?.standards.size).toBe(0);
    expect(tampered.invalid.map((r) => [r.cid, r.code])).toEqual([
      [misfiledCid, "cid-mismatch"],
      [good.cid, "cid-mismatch"],
    ]);
  });

  it("checks the content of releases the cache has not matched before", async () => {
    const space = await makeSpace();
    const one = await space.release(space.creator, "style", "one");
    const other = await space.release(space.creator, "other", "two");
    const { rejected, state } = await fold({
      spaceCid: space.genesis.cid,
      entries: [...space.entries].map(([cid, bytes]) => ({ cid, bytes })),
      content: () => [],
      cache: { contentMatched: (cid) => cid === one.cid },
    });
    expect(state?.standards.get("style")?.latest.cid).toBe(one.cid);
    expect(rejected).toEqual([
      expect.objectContaining({ cid: other.cid, code: "content-missing" }),
    ]);
  });

  it("reads content candidates one at a time, stopping at the first that matches, through the cache's matcher when given", async () => {
    const space = await makeSpace();
    const good = await space.release(space.creator, "style", "good");
    const bad = await space.release(space.creator, "other", "real");
    const entries = [...space.entries].map(([cid, bytes]) => ({ cid, bytes }));
    const asked: string[] = [];
    const matched: string[] = [];
    const { rejected, state } = await fold({
      spaceCid: space.genesis.cid,
      entries,
      content: function* (cid) {
        asked.push(cid);
        if (cid === bad.record.contentCid) {
          // Every candidate is tried before the release is refused.
          yield new TextEncoder().encode("fake");
          yield new TextEncoder().encode("also fake");
          return;
        }
        yield space.contents.get(cid) as Uint8Array;
        throw new Error("read past the candidate that matched");
      },
      cache: {
        contentMatches: async (bytes, expected) => {
          matched.push(new TextDecoder().decode(bytes));
          return contentMatches(bytes, expected);
        },
      },
    });
    expect(state?.standards.get("style")?.latest.cid).toBe(good.cid);
    expect(rejected).toEqual([expect.objectContaining({ cid: bad.cid, code: "content-mismatch" })]);
    expect(asked.sort()).toEqual([good.record.contentCid, bad.record.contentCid].sort());
    expect(matched.sort()).toEqual(["also fake", "fake", "good"]);
  });

  it("rejects a release whose content does not match its content CID", async () => {
    const space = await makeSpace();
    const release = await space.release(space.creator, "style", "real");
    space.contents.set(release.record.contentCid, new TextEncoder().encode("fake"));
    const { rejected } = await space.fold();
    expect(rejected[0]?.code).toBe("content-mismatch");
  });

  it("rejects a rollback: a version that does not follow its parents, or parents outside the history", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    const v2 = await space.release(space.creator, "style", "two", {
      parents: [v1.cid],
      version: 2,
    });
    const jump = await space.release(space.creator, "style", "one", {
      parents: [v2.cid],
      version: 9,
    });
    const orphan = await space.release(space.creator, "style", "x", {
      parents: ["bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy"],
      version: 3,
    });
    const { state, rejected } = await space.fold();
    expect(state?.standards.get("style")?.latest.cid).toBe(v2.cid);
    const codes = Object.fromEntries(rejected.map((r) => [r.cid, r.code]));
    expect(codes[jump.cid]).toBe("version-not-following");
    expect(codes[orphan.cid]).toBe("parent-not-accepted");
  });

  it("accepts what a member published before removal and rejects what they publish after it", async () => {
    const space = await makeSpace();
    const bob = await generateKeyPair();
    const add = await space.member(space.creator, bob.did, "maintainer");
    const before = await space.release(bob, "style", "bob's", { membership: [add.cid] });
    const remove = await space.member(space.creator, bob.did, "removed", [add.cid], [before.cid]);
    const after = await space.release(bob, "style", "late", {
      parents: [before.cid],
      version: 2,
      membership: [remove.cid],
    });
    const { state, rejected } = await space.fold();
    expect(state?.standards.get("style")?.latest.cid).toBe(before.cid);
    expect(state?.members.has(bob.did)).toBe(false);
    expect(rejected.map((r) => r.cid)).toEqual([after.cid]);
  });

  it("rejects a release a removed member backdates by citing membership heads from before the removal", async () => {
    const space = await makeSpace();
    const bob = await generateKeyPair();
    const add = await space.member(space.creator, bob.did, "maintainer");
    const seen = await space.release(bob, "style", "seen", { membership: [add.cid] });
    const removal = await space.add(
      await signRecord(space.creator, {
        type: "canon/membership",
        v: 1,
        space: space.genesis.cid,
        member: bob.did,
        role: "removed",
        membership: [add.cid],
        releaseHeads: [seen.cid],
        author: space.creator.did,
        createdAt: tick(),
      }),
    );
    // Bob cites [add] (before his removal) and follows his own release: the remover never saw it.
    const backdated = await space.release(bob, "style", "late", {
      parents: [seen.cid],
      version: 2,
      membership: [add.cid],
    });
    const { state, rejected } = await space.fold();
    expect(state?.standards.get("style")?.latest.cid).toBe(seen.cid);
    expect(rejected).toEqual([
      expect.objectContaining({
        cid: backdated.cid,
        code: "backdated",
        reason: expect.stringContaining(`removed by ${removal.cid}`),
      }),
    ]);
  });

  it("a removed maintainer cannot take the space back, or add a helper, by citing the chain from before the removal", async () => {
    const space = await makeSpace();
    const bob = await generateKeyPair();
    const helper = await generateKeyPair();
    const add = await space.member(space.creator, bob.did, "maintainer");
    const removal = await space.member(space.creator, bob.did, "removed", [add.cid], []);
    // Bob cites [add], before his removal, whatever CID order he manages to grind.
    const takeBack = await space.member(bob, space.creator.did, "removed", [add.cid]);
    const addHelper = await space.member(bob, helper.did, "maintainer", [add.cid]);
    const helperRelease = await space.release(helper, "style", "helper's", {
      membership: [addHelper.cid],
    });
    const { state, rejected } = await space.fold();
    expect([...(state?.members.keys() ?? [])]).toEqual([space.creator.did]);
    const codes = Object.fromEntries(rejected.map((r) => [r.cid, r.code]));
    expect(codes[takeBack.cid]).toBe("backdated");
    expect(codes[addHelper.cid]).toBe("backdated");
    expect(codes[helperRelease.cid]).toBe("unknown-membership-point");
    expect(state?.standards.has("style")).toBe(false);
    void removal;
  });

  it("resolves two maintainers removing each other the same way regardless of input order: the more senior one wins", async () => {
    const space = await makeSpace();
    const bob = await generateKeyPair();
    const add = await space.member(space.creator, bob.did, "maintainer");
    const bobRemovesCreator = await space.member(bob, space.creator.did, "removed", [add.cid]);
    const creatorRemovesBob = await space.member(space.creator, bob.did, "removed", [add.cid]);
    const { state, rejected } = await space.fold();
    const reversed = new Map([...space.entries].reverse());
    space.entries.clear();
    for (const [k, v] of reversed) space.entries.set(k, v);
    const again = await space.fold();
    expect([...(state?.members.keys() ?? [])]).toEqual([...(again.state?.members.keys() ?? [])]);
    // Seniority, not CID order: the creator's removal applies whichever CID is smaller.
    expect([...(state?.members ?? [])]).toEqual([[space.creator.did, "maintainer"]]);
    expect(state?.membershipChanges.map((c) => c.cid)).toContain(creatorRemovesBob.cid);
    expect(rejected.map((r) => r.cid)).toEqual([bobRemovesCreator.cid]);
    expect(again.rejected.map((r) => r.cid)).toEqual([bobRemovesCreator.cid]);
  });

  it("accepts corrections and provenance by contributors and maintainers, not by readers", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const dave = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    const addDave = await space.member(space.creator, dave.did, "reader", [addCarol.cid]);
    const ok = await space.correction(carol, "style", "Prefer the active voice.", {
      membership: [addCarol.cid],
    });
    const stamped = await space.provenance(space.creator, "out.md");
    const refused = await space.correction(dave, "style", "No.", { membership: [addDave.cid] });
    const { state, rejected } = await space.fold();
    expect([...(state?.corrections.keys() ?? [])]).toEqual([ok.cid]);
    expect([...(state?.provenance.keys() ?? [])]).toEqual([stamped.cid]);
    expect(rejected).toEqual([expect.objectContaining({ cid: refused.cid, code: "author-role" })]);
  });

  it("rejects corrections and provenance a removed contributor backdates; what the remover had seen stays valid", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const add = await space.member(space.creator, carol.did, "contributor");
    const first = await space.correction(carol, "style", "Short sentences.", {
      membership: [add.cid],
    });
    const stamp = await space.provenance(carol, "essay.md", {
      membership: [add.cid],
      previous: [first.cid],
    });
    const before = await space.fold();
    const heads = ownRecordHeads(before.state as NonNullable<typeof before.state>, carol.did, 64);
    expect(heads).toEqual([stamp.cid]);
    const removal = await space.member(space.creator, carol.did, "removed", [add.cid], [], heads);
    // Carol cites [add], from before her removal, and even follows her own last record.
    const lateCorrection = await space.correction(carol, "style", "Long sentences.", {
      membership: [add.cid],
      previous: [stamp.cid],
    });
    const lateStamp = await space.provenance(carol, "forged.md", { membership: [add.cid] });
    const { state, rejected } = await space.fold();
    expect([...(state?.corrections.keys() ?? [])]).toEqual([first.cid]);
    expect([...(state?.provenance.keys() ?? [])]).toEqual([stamp.cid]);
    const codes = Object.fromEntries(rejected.map((r) => [r.cid, r.code]));
    expect(codes[lateCorrection.cid]).toBe("backdated");
    expect(codes[lateStamp.cid]).toBe("backdated");
    const reasons = Object.fromEntries(rejected.map((r) => [r.cid, r.reason]));
    expect(reasons[lateCorrection.cid]).toContain(`removed by ${removal.cid}`);
    expect(rejected).toHaveLength(2);
  });

  it("counts a correction only if the records its previous names are its author's accepted ones: withheld links do not pass a remover's pin", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const dave = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    const addDave = await space.member(space.creator, dave.did, "contributor", [addCarol.cid]);
    // Carol signs H but holds it back, and publishes V naming it.
    const held = await signRecord(carol, {
      type: "canon/correction",
      v: 1,
      space: space.genesis.cid,
      standard: "style",
      text: "Held back.",
      previous: [],
      membership: [addCarol.cid],
      author: carol.did,
      createdAt: tick(),
    });
    const visible = await space.correction(carol, "style", "Visible.", {
      membership: [addCarol.cid],
      previous: [held.cid],
    });
    const davesOwn = await space.correction(dave, "style", "Dave's.", {
      membership: [addDave.cid],
    });
    const borrowed = await space.correction(carol, "style", "Links to Dave.", {
      membership: [addCarol.cid],
      previous: [davesOwn.cid],
    });
    const before = await space.fold();
    const state = before.state as NonNullable<typeof before.state>;
    expect([...state.corrections.keys()]).toEqual([davesOwn.cid]);
    const codes = Object.fromEntries(before.rejected.map((r) => [r.cid, r.code]));
    expect(codes[visible.cid]).toBe("previous-not-accepted");
    expect(codes[borrowed.cid]).toBe("previous-not-accepted");

    // The remover pins nothing of Carol's; after the removal she releases H: neither counts.
    const heads = ownRecordHeads(state, carol.did, 1024);
    expect(heads).toEqual([]);
    await space.member(space.creator, carol.did, "removed", [addDave.cid], [], heads);
    space.add(held);
    const after = await space.fold();
    expect([...(after.state?.corrections.keys() ?? [])]).toEqual([davesOwn.cid]);
    const later = Object.fromEntries(after.rejected.map((r) => [r.cid, r.code]));
    expect(later[held.cid]).toBe("backdated");
    expect(later[visible.cid]).toBe("backdated");
  });

  it("names at most `limit` of an author's heads, the newest first", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const add = await space.member(space.creator, carol.did, "contributor");
    const written = [];
    for (const text of ["one", "two", "three"])
      written.push(await space.correction(carol, "style", text, { membership: [add.cid] }));
    const { state } = await space.fold();
    const all = ownRecordHeads(state as NonNullable<typeof state>, carol.did, 64);
    expect(all).toEqual(written.map((c) => c.cid).sort());
    const newest = ownRecordHeads(state as NonNullable<typeof state>, carol.did, 2);
    expect(newest).toEqual([written[1]?.cid, written[2]?.cid].sort());
  });

  it("treats a demotion like a removal for what the demoted member could no longer write", async () => {
    const space = await makeSpace();
    const bob = await generateKeyPair();
    const add = await space.member(space.creator, bob.did, "maintainer");
    const seen = await space.release(bob, "style", "seen", { membership: [add.cid] });
    const note = await space.correction(bob, "style", "Seen note.", { membership: [add.cid] });
    // Bob is made a contributor: he keeps corrections, loses releases.
    const demote = await space.member(
      space.creator,
      bob.did,
      "contributor",
      [add.cid],
      [seen.cid],
      [note.cid],
    );
    const lateRelease = await space.release(bob, "style", "late", {
      parents: [seen.cid],
      version: 2,
      membership: [add.cid],
    });
    const laterNote = await space.correction(bob, "style", "After.", {
      membership: [demote.cid],
      previous: [note.cid],
    });
    // Then a reader: an unpinned correction citing the contributor point is backdated too.
    const toReader = await space.member(
      space.creator,
      bob.did,
      "reader",
      [demote.cid],
      [],
      [laterNote.cid],
    );
    const backdatedNote = await space.correction(bob, "style", "Backdated.", {
      membership: [demote.cid],
      previous: [laterNote.cid],
    });
    const { state, rejected } = await space.fold();
    expect(state?.standards.get("style")?.latest.cid).toBe(seen.cid);
    expect([...(state?.corrections.keys() ?? [])].sort()).toEqual([note.cid, laterNote.cid].sort());
    expect(Object.fromEntries(rejected.map((r) => [r.cid, r.code]))).toEqual({
      [lateRelease.cid]: "backdated",
      [backdatedNote.cid]: "backdated",
    });
    const reasons = Object.fromEntries(rejected.map((r) => [r.cid, r.reason]));
    expect(reasons[lateRelease.cid]).toContain(`made contributor by ${demote.cid}`);
    expect(reasons[backdatedNote.cid]).toContain(`made reader by ${toReader.cid}`);
    expect(rejected).toHaveLength(2);
  });

  it("rejects a membership change by a contributor, and a release by a reader", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const add = await space.member(space.creator, carol.did, "reader");
    const release = await space.release(carol, "style", "x", { membership: [add.cid] });
    const promote = await space.member(carol, carol.did, "maintainer", [add.cid]);
    const { rejected } = await space.fold();
    const codes = Object.fromEntries(rejected.map((r) => [r.cid, r.code]));
    expect(codes[release.cid]).toBe("author-role");
    expect(codes[promote.cid]).toBe("author-role");
  });

  it("rejects oversized and malformed records with a reason and keeps the rest", async () => {
    const space = await makeSpace();
    const good = await space.release(space.creator, "style", "ok");
    const huge = new Uint8Array(70 * 1024);
    space.entries.set((await recordCid(huge)).toString(), huge);
    const payload = dagCbor.encode({
      type: "canon/release",
      v: 1,
      version: "two",
      createdAt: tick(),
    });
    const sig = new Uint8Array(
      await crypto.subtle.sign(
        "Ed25519",
        space.creator.privateKey,
        signingInput(payload) as Uint8Array<ArrayBuffer>,
      ),
    );
    const wrongTypes = dagCbor.encode({ payload, sig });
    space.entries.set((await recordCid(wrongTypes)).toString(), wrongTypes);
    let nested: unknown = 1;
    for (let i = 0; i < 2000; i++) nested = [nested];
    const deep = dagCbor.encode({
      payload: dagCbor.encode({ type: "canon/release", nested }),
      sig,
    });
    space.entries.set((await recordCid(deep)).toString(), deep);
    const { state, rejected } = await space.fold();
    expect(state?.standards.get("style")?.latest.cid).toBe(good.cid);
    expect(rejected).toHaveLength(3);
    expect(rejected.map((r) => r.code).sort()).toEqual(["schema", "schema", "too-large"]);
  });
});
