import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { writeAsAttacker } from "./helpers/attacker.js";
import { CANON_BIN, type Sandbox } from "./helpers/cli.js";
import {
  createSpace,
  documentIdOf,
  joinSpace,
  useFreshnessScene,
  withholdFromStandards,
} from "./helpers/freshness-scene.js";
import { startRelay } from "./helpers/processes.js";

// Checkpoints of version 2 (docs/decisions/2026-11-30-checkpoint-pages.md):
// they name correction-log heads, and any number of standards in pages.

const scene = useFreshnessScene();

interface Freshness {
  status: string;
  missing: string[];
  checkpoint: { cid: string } | null;
}
interface Listing {
  standards: { standard: string; version: number }[];
  freshness: Freshness;
}

/** The owner's state, read in this process through the built store. */
async function ownerState(home: string) {
  const store = await import("../packages/store/dist/index.js");
  return store.withSpace(store.canonHome(home), {}, async ({ state }) => state);
}

const PROBE = resolve(import.meta.dirname, "helpers/automerge-probe.cjs");

/** `canon show <standard>` with the probe that says whether Automerge was loaded (the agent's fast path does not). */
function probedShow(box: Sandbox, standard: string) {
  const result = spawnSync(process.execPath, ["--require", PROBE, CANON_BIN, "show", standard], {
    env: { CANON_NO_OWNER: "1", ...process.env, CANON_HOME: box.home },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("checkpoints prove corrections and spaces of any size (a real relay on 127.0.0.1)", () => {
  it("a relay withholding a correction leaves the reader incomplete with the correction named; --require-fresh exits 8", async () => {
    const { owner, newcomer } = scene;
    const relay = await startRelay(scene.relayData);
    const url = createSpace(owner, "shared");
    owner.ok("publish", "style", await owner.file("v1.md", "v1\n"));
    const lesson = owner
      .ok("correct", "style", "No inline code in non-technical articles.", "--json")
      .json<{ cid: string }>();
    owner.ok("sync", "--relay", relay.url);
    expect(owner.ok("ls", "--json").json<Listing>().freshness).toMatchObject({
      status: "fresh",
      missing: [],
    });

    // The relay (or anyone who writes to the documents) withholds the correction from newcomers.
    await withholdFromStandards(relay.url, url, [lesson.cid]);
    joinSpace(newcomer, url, relay.url);
    const view = newcomer.ok("ls", "--json").json<Listing>();
    expect(view.freshness).toMatchObject({ status: "incomplete", missing: [lesson.cid] });
    const strict = newcomer.canon("ls", "--require-fresh");
    expect(strict.status).toBe(8);
    expect(strict.stderr).toContain(lesson.cid);
    // The agent's read, from the read index without Automerge: the release's bytes, and
    // the warning naming the withheld lesson on stderr.
    const shown = probedShow(newcomer, "style");
    expect(shown.status).toBe(0);
    expect(shown.stdout).toBe("v1\n");
    expect(shown.stderr).toMatch(/warning: INCOMPLETE/);
    expect(shown.stderr).toContain(lesson.cid);
    expect(shown.stderr).toContain("automerge:not loaded");
    expect(newcomer.canon("show", "style", "--rendered", "--require-fresh").status).toBe(8);

    // The owner's next sync writes the correction back: the lesson reaches the newcomer, proven.
    owner.ok("sync");
    newcomer.ok("sync");
    expect(newcomer.ok("ls", "--json").json<Listing>().freshness.status).toBe("fresh");
    const rendered = newcomer.canon("show", "style", "--rendered", "--require-fresh");
    expect(rendered.status).toBe(0);
    expect(rendered.stdout).toContain("No inline code in non-technical articles.");
  });

  it("a 600-standard space gets a checkpoint in pages; a withheld release in it is reported; a page whose bytes do not match its CID is refused", async () => {
    const { owner, newcomer } = scene;
    const relay = await startRelay(scene.relayData);
    const url = createSpace(owner, "big");
    // 600 standards, built in this process (600 `canon publish` runs would take minutes),
    // one signed release each, in one standard document as a replica may hold them.
    const core = await import("../packages/core/dist/index.js");
    const store = await import("../packages/store/dist/index.js");
    const home = store.canonHome(owner.home);
    const signer = await store.loadIdentity(home, store.DEFAULT_IDENTITY);
    const releases = new Map<string, string>();
    const standardDocument = await store.withSpace(home, {}, async (session) => {
      const records: Record<string, Uint8Array> = {};
      const contents: Record<string, Uint8Array> = {};
      for (let i = 0; i < 600; i++) {
        const bytes = new TextEncoder().encode(`rule ${i}\n`);
        const contentCid = (await core.contentCid(bytes)).toString();
        const signed = await core.signRecord(signer.keyPair, {
          type: "canon/release",
          v: 1,
          space: session.state.genesis.cid,
          standard: `rules/r${i}`,
          version: 1,
          contentCid,
          size: bytes.length,
          parents: [],
          incorporates: [],
          message: "",
          membership: [...session.state.membershipHeads],
          author: signer.keyPair.did,
          createdAt: new Date().toISOString(),
        });
        records[signed.cid] = signed.bytes;
        contents[contentCid] = bytes;
        releases.set(`rules/r${i}`, signed.cid);
      }
      const handle = session.replica.create({
        canon: "standard",
        v: 1,
        name: "rules/r0",
        records,
        contents,
      });
      session.folded.space.change((doc) => {
        doc.standards[handle.documentId] = "rules/r0";
      });
      return handle.documentId;
    });
    owner.ok("sync", "--relay", relay.url);
    const own = owner.ok("ls", "--json").json<Listing>();
    expect(own.standards).toHaveLength(600);
    expect(own.freshness).toMatchObject({ status: "fresh", missing: [] });
    // Signed again with nothing changed: every page is named again, none signed.
    const again = owner.ok("checkpoint", "--json").json<{ pages: number; pagesSigned: number }>();
    expect(again.pages).toBeGreaterThan(1);
    expect(again.pagesSigned).toBe(0);
    owner.ok("sync");
    const state = await ownerState(owner.home);
    const newest = state.checkpoints.at(-1)?.record;
    if (newest?.v !== 2) throw new Error("expected a version-2 checkpoint");
    // Withheld: one release of the 600; mismatched: another page's bytes under the CID of a page
    // of another bucket than the withheld release's (a refused page's standards are not believed).
    const withheld = releases.get("rules/r300") as string;
    const buckets = newest.pages.length;
    const bucketOfWithheld = core.checkpointBucketOf("rules/r300", buckets);
    const firstPage = newest.pages[(bucketOfWithheld + 1) % buckets] as string;
    const secondPage = newest.pages[(bucketOfWithheld + 2) % buckets] as string;
    await writeAsAttacker(relay.url, standardDocument, (raw) =>
      raw.space.change((doc) => {
        delete doc.records[withheld];
      }),
    );
    await writeAsAttacker(relay.url, documentIdOf(url), (raw) =>
      raw.space.change((doc) => {
        doc.records[firstPage] = doc.records[secondPage] as Uint8Array;
      }),
    );
    joinSpace(newcomer, url, relay.url);
    const view = newcomer.ok("ls", "--json").json<Listing>();
    expect(view.standards).toHaveLength(599);
    expect(view.freshness.status).toBe("incomplete");
    expect([...view.freshness.missing].sort()).toEqual([firstPage, withheld].sort());
    const doctor = JSON.stringify(newcomer.ok("doctor", "--json").json());
    expect(doctor).toContain(firstPage);
    expect(doctor).toContain("cid-mismatch");
    expect(newcomer.canon("ls", "--require-fresh").status).toBe(8);
  });
});
