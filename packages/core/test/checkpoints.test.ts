import { describe, expect, it } from "vitest";
import { DEFAULT_CHECKPOINT_EXPIRY_SECONDS, freshnessOf, generateKeyPair } from "../src/index.js";
import { makeSpace } from "./space-fixture.js";

const NOW = new Date("2026-12-01T00:00:00.000Z");

describe("checkpoints and freshness", () => {
  it("is unproven until a maintainer signs a checkpoint, then fresh while it names nothing missing and has not expired", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    let state = (await space.fold()).state as NonNullable<
      Awaited<ReturnType<typeof space.fold>>["state"]
    >;
    expect(freshnessOf(state, NOW)).toEqual({ status: "unproven", checkpoint: null, missing: [] });
    const checkpoint = await space.checkpoint(space.creator, {
      standards: [{ standard: "style", heads: [v1.cid] }],
    });
    state = (await space.fold()).state as typeof state;
    expect(freshnessOf(state, NOW)).toMatchObject({
      status: "fresh",
      checkpoint: { cid: checkpoint.cid, author: space.creator.did },
      missing: [],
    });
  });

  it("says incomplete when the newest checkpoint names a release this replica lacks (a withheld update)", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    const v2 = await space.release(space.creator, "style", "two", {
      parents: [v1.cid],
      version: 2,
    });
    await space.checkpoint(space.creator, { standards: [{ standard: "style", heads: [v2.cid] }] });
    // A relay withholds v2 from this reader.
    space.entries.delete(v2.cid);
    const state = (await space.fold()).state;
    expect(state && freshnessOf(state, NOW)).toMatchObject({
      status: "incomplete",
      missing: [v2.cid],
    });
  });

  it("says expired when the newest checkpoint's expiry has passed (a frozen relay)", async () => {
    const space = await makeSpace();
    await space.checkpoint(space.creator, { expires: "2026-11-30T00:00:00.000Z" });
    const state = (await space.fold()).state;
    expect(state && freshnessOf(state, NOW).status).toBe("expired");
  });

  it("accepts checkpoints and settings from maintainers only; a removed maintainer's stop counting", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const bob = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    const addBob = await space.member(space.creator, bob.did, "maintainer", [addCarol.cid]);
    const byContributor = await space.checkpoint(carol, { membership: [addCarol.cid] });
    const byBob = await space.checkpoint(bob, { membership: [addBob.cid] });
    const settings = await space.settings(bob, 3600, [addBob.cid]);
    let folded = await space.fold();
    expect(Object.fromEntries(folded.rejected.map((r) => [r.cid, r.code]))).toEqual({
      [byContributor.cid]: "author-role",
    });
    expect(folded.state?.checkpoints.map((c) => c.cid)).toEqual([byBob.cid]);
    expect(folded.state?.settings.checkpointExpirySeconds).toBe(3600);

    await space.member(space.creator, bob.did, "removed", [addBob.cid]);
    folded = await space.fold();
    expect(folded.state?.checkpoints).toEqual([]);
    expect(folded.state?.settings.checkpointExpirySeconds).toBe(DEFAULT_CHECKPOINT_EXPIRY_SECONDS);
    expect(Object.fromEntries(folded.rejected.map((r) => [r.cid, r.code]))).toMatchObject({
      [byBob.cid]: "backdated",
      [settings.cid]: "backdated",
    });
  });
});

describe("retirement", () => {
  it("the newest accepted retirement of a standard decides; only maintainers retire", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    await space.release(space.creator, "style", "one");
    const { signRecord } = await import("../src/index.js");
    const retire = async (author: typeof carol, retired: boolean, membership: string[]) =>
      space.add(
        await signRecord(author, {
          type: "canon/retirement",
          v: 1,
          space: space.genesis.cid,
          standard: "style",
          retired,
          message: "",
          membership,
          author: author.did,
          createdAt: new Date(
            Date.parse("2026-12-01T00:00:00.000Z") + space.entries.size * 1000,
          ).toISOString(),
        }),
      );
    const byContributor = await retire(carol, true, [addCarol.cid]);
    let folded = await space.fold();
    expect(folded.state?.standards.get("style")?.retired).toBeUndefined();
    expect(folded.rejected.map((r) => [r.cid, r.code])).toEqual([
      [byContributor.cid, "author-role"],
    ]);
    const retired = await retire(space.creator, true, [addCarol.cid]);
    folded = await space.fold();
    expect(folded.state?.standards.get("style")?.retired?.cid).toBe(retired.cid);
    await retire(space.creator, false, [addCarol.cid]);
    folded = await space.fold();
    expect(folded.state?.standards.get("style")?.retired).toBeUndefined();
  });
});

describe("checkpoint expiry", () => {
  it("never lasts past the space's signed window, whatever the checkpoint claims", async () => {
    const space = await makeSpace();
    await space.settings(space.creator, 3600);
    await space.checkpoint(space.creator, {
      createdAt: "2026-11-30T22:00:00.000Z",
      expires: "2099-01-01T00:00:00.000Z",
    });
    const state = (await space.fold()).state;
    const freshness = state && freshnessOf(state, NOW);
    expect(freshness?.status).toBe("expired");
    expect(freshness?.checkpoint?.expires).toBe("2026-11-30T23:00:00.000Z");
  });
});
