import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import * as store from "../packages/store/dist/index.js";
import { ownerHomesPerFile } from "./helpers/owner-homes-per-file.js";
import { startRelay } from "./helpers/processes.js";

// An owner keeps every document of its space live, and refreshes the read
// index when something arrives, only for a space of at most
// MAX_LIVE_STANDARDS (256) standards (packages/store/src/owner/,
// docs/decisions/2026-11-30-round-trip.md). Above, a reader's `show` prints
// what its home held before, until `canon sync`. This pins that behaviour:
// when the cap is lifted, this test changes with it. Real processes: a
// relay, two homes with their owners, thin clients.

const STANDARDS = store.MAX_LIVE_STANDARDS + 1;

const { dir, homes } = ownerHomesPerFile("canon-owner-large-");
const alone = { CANON_NO_OWNER: "1" };

/** Adds standards `s1`… to the home's space through the library (a release each), as a large space holds them. */
async function addStandards(root: string, count: number): Promise<void> {
  const home = store.canonHome(root);
  const owner = await store.loadIdentity(home);
  await store.withSpace(home, {}, async (session) => {
    const genesis = session.state.genesis.cid;
    const membership = [...session.state.membershipHeads];
    const routes: Record<string, string> = {};
    for (let index = 1; index < count; index++) {
      const name = `s${index}`;
      const bytes = new TextEncoder().encode(`${name} version 1\n`);
      const contentCid = (await core.contentCid(bytes)).toString();
      const signed = await core.signRecord(owner.keyPair, {
        type: "canon/release",
        v: 1,
        space: genesis,
        standard: name,
        version: 1,
        contentCid,
        size: bytes.length,
        parents: [],
        incorporates: [],
        message: "",
        membership,
        author: owner.keyPair.did,
        createdAt: new Date(Date.UTC(2026, 10, 1)).toISOString(),
      });
      const handle = session.replica.create({
        canon: "standard",
        v: 1,
        name,
        records: { [signed.cid]: signed.bytes },
        contents: { [contentCid]: bytes },
      });
      routes[handle.documentId] = name;
    }
    session.folded.space.change((doc: { standards: Record<string, string> }) => {
      for (const [id, name] of Object.entries(routes)) doc.standards[id] = name;
    });
  });
}

describe(`an owner of a space of more than ${store.MAX_LIVE_STANDARDS} standards`, () => {
  it("does not refresh its reader's read index on arrival: show prints the version before until `canon sync`", async () => {
    const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
    const { home: a, file, space } = await homes.homeWithSpace("large-a");
    await addStandards(a, STANDARDS);
    await homes.ok(a, ["sync", "--relay", relay.url], alone);
    const b = join(dir, "large-b");
    const did = JSON.parse((await homes.ok(b, ["init", "--json"], alone)).stdout).did as string;
    await homes.ok(a, ["member", "add", did, "--role", "contributor"], alone);
    await homes.ok(a, ["sync"], alone);
    await homes.ok(b, ["space", "join", space, "--relay", relay.url], alone);
    expect((await homes.ok(b, ["ls"], alone)).stdout).toContain(`s${STANDARDS - 1}`);

    await homes.startOwner(a);
    await homes.startOwner(b);
    // Each owner's first sync through it opens the connection it then holds.
    await homes.ok(a, ["sync"]);
    await homes.ok(b, ["sync"]);
    await writeFile(file, "version 2\n");
    // Returns once the relay holds the release.
    await homes.ok(a, ["publish", "s", file]);
    // In a space of at most 256 standards B's owner writes it to the read index
    // within milliseconds (test/owner-sync.test.ts); here it never does.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await homes.ok(b, ["show", "s"])).stdout).toBe("version 1\n");
    await homes.ok(b, ["sync"]);
    expect((await homes.ok(b, ["show", "s"])).stdout).toBe("version 2\n");
  });
});
