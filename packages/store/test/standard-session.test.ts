import { describe, expect, it } from "vitest";
import {
  type CanonHome,
  doctor,
  list,
  openReplica,
  parseSpaceUrl,
  publish,
  resolve,
} from "../src/index.js";
import { chooseSpace, withSpace } from "../src/operations/space-session.js";
import { currentSnapshot } from "../src/operations/space-view.js";
import { withStandard } from "../src/operations/standard-session.js";
import { publishedHome } from "./helpers/published-home.js";

/** A home with `alpha`, `beta` and `gamma` published. */
const homeWithStandards = () => publishedHome();

/** The document ids of a space's standards, by the standard whose records each holds. */
async function documentsOf(home: CanonHome): Promise<Map<string, string>> {
  return withSpace(home, {}, async ({ folded }) => {
    const byStandard = new Map<string, string>();
    for (const [id, handle] of folded.standards) byStandard.set(handle.doc().name, id);
    return byStandard;
  });
}

describe("a session on one standard", () => {
  it("loads only the space document and that standard's document when the snapshot is current", async () => {
    const { home } = await homeWithStandards();
    const documents = await documentsOf(home);
    const chosen = await chooseSpace(home, {});
    expect(await currentSnapshot(home, chosen)).toBeDefined();
    const touched = await withStandard(home, {}, "beta", async ({ replica, state }) => {
      expect([...state.standards.keys()].sort()).toEqual(["alpha", "beta", "gamma"]);
      return replica.touched();
    });
    expect(touched.sort()).toEqual([chosen.address.documentId, documents.get("beta")].sort());
  });

  it("publishes there, and leaves caches that are current and equal to a fold of every document", async () => {
    const { home, signer, file } = await homeWithStandards();
    const published = await publish(home, signer, { standard: "beta", file: await file("two\n") });
    expect(published.version).toBe(2);
    const chosen = await chooseSpace(home, {});
    const current = await currentSnapshot(home, chosen);
    expect(current).toBeDefined();
    // A fold of every document, checking every record again, gives the same state.
    const audited = await withSpace(home, {}, async ({ state }) => state, { trustSnapshot: false });
    expect(current?.fold.state.standards.get("beta")?.latest.cid).toBe(published.release);
    for (const [name, standard] of audited.standards)
      expect(current?.fold.state.standards.get(name)?.latest.cid).toBe(standard.latest.cid);
    const diagnosis = await doctor(home, {});
    expect(diagnosis.rejected).toEqual([]);
    expect(diagnosis.damagedFiles).toEqual([]);
    // Readers see it: the read index (show) and the snapshot (ls).
    expect(new TextDecoder().decode((await resolve(home, { standard: "beta" })).content)).toBe(
      "two\n",
    );
    const listed = await list(home, {});
    expect(listed.standards.find((entry) => entry.standard === "beta")?.version).toBe(2);
    // A new standard gets a document of its own, routed from the space.
    await publish(home, signer, { standard: "delta", file: await file("delta\n") });
    expect((await documentsOf(home)).get("delta")).toBeDefined();
    expect(await currentSnapshot(home, chosen)).toBeDefined();
  });

  it("loads every document when the routing table no longer names the standard's document", async () => {
    const { home, signer, space, file } = await homeWithStandards();
    const documents = await documentsOf(home);
    const beta = documents.get("beta") as string;
    // A peer renames beta's routing entry: the hint no longer leads to its records.
    const replica = await openReplica(home);
    try {
      const handle = await replica.find<{ standards: Record<string, string> }>(
        parseSpaceUrl(space.url).documentId,
      );
      handle?.change((doc) => {
        doc.standards[beta] = "gamma";
      });
    } finally {
      await replica.close();
    }
    await list(home, {}); // the caches are current again
    const touched = await withStandard(home, {}, "beta", async ({ replica }) => replica.touched());
    expect(touched).toEqual(expect.arrayContaining([...documents.values()]));
    const published = await publish(home, signer, { standard: "beta", file: await file("two\n") });
    expect(published.version).toBe(2);
    expect((await documentsOf(home)).get("beta")).toBe(beta);
  });
});
