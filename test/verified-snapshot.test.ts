import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import {
  readVerifiedSnapshot,
  writeVerifiedSnapshot,
} from "../packages/store/dist/caches/verified-snapshot.js";
import * as store from "../packages/store/dist/index.js";
import { CANON_BIN, type Sandbox, sandbox } from "./helpers/cli.js";
import { writeCorrection } from "./helpers/library-writer.js";

let box: Sandbox;
beforeEach(async () => {
  box = await sandbox();
});
afterEach(async () => {
  await box.dispose();
});

const PROBE = resolve(import.meta.dirname, "helpers/automerge-probe.cjs");

/** Runs the CLI with the probe: its JSON output and whether it loaded Automerge. */
function probed(...args: string[]): { output: unknown; automerge: boolean } {
  const result = spawnSync(process.execPath, ["--require", PROBE, CANON_BIN, ...args, "--json"], {
    env: { ...process.env, CANON_HOME: box.home },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.status !== 0)
    throw new Error(`canon ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  const seen = /automerge:(loaded|not loaded)/.exec(result.stderr)?.[1];
  if (seen === undefined) throw new Error(`the probe did not report: ${result.stderr}`);
  return { output: JSON.parse(result.stdout), automerge: seen === "loaded" };
}

const READS = [["ls"], ["log", "style"], ["member", "ls"]];

/** Blanks the listing cache, which answers `ls` before the snapshot does while the disk proof holds. */
async function dropListing(): Promise<void> {
  await writeFile((await snapshotFile()).replace(/\.verified$/, ".listing"), "");
}

async function snapshotFile(): Promise<string> {
  const index = join(box.home, "index");
  const name = (await readdir(index)).find((file) => file.endsWith(".verified"));
  if (name === undefined) throw new Error("no verified snapshot was written");
  return join(index, name);
}

async function spaceWithHistory() {
  box.ok("init");
  box.ok("space", "create", "team");
  box.ok("publish", "style", await box.file("a.md", "one\n"), "-m", "first");
  box.ok("publish", "style", await box.file("a.md", "two\n"));
  box.ok("publish", "tone", await box.file("t.md", "calm\n"));
  const other = (await core.generateKeyPair()).did;
  box.ok("member", "add", other, "--role", "contributor");
}

describe("the verified snapshot", () => {
  it("answers ls, log and member ls without loading Automerge, exactly as the documents do", async () => {
    await spaceWithHistory();
    const fast = READS.map((args) => probed(...args));
    expect(fast.map((run) => run.automerge)).toEqual([false, false, false]);

    const file = await snapshotFile();
    await writeFile(file, "");
    await dropListing();
    const slow = READS.map((args) => probed(...args));
    expect(slow[0]?.automerge).toBe(true);
    expect(slow.map((run) => run.output)).toEqual(fast.map((run) => run.output));
    // The slow path wrote it again: the next read is fast.
    expect(probed("ls").automerge).toBe(false);
  });

  it("is not used once the documents hold something it does not describe", async () => {
    await spaceWithHistory();
    const file = await snapshotFile();
    const old = await readFile(file);
    box.ok("publish", "style", await box.file("a.md", "three\n"));
    // An earlier, intact snapshot names chunk files that are gone: ignored.
    await writeFile(file, old);
    const after = probed("log", "style");
    expect(after.automerge).toBe(true);
    expect((after.output as { releases: { version: number }[] }).releases[0]?.version).toBe(3);

    // A writer that never refreshes the snapshot (a library user, a crash): its chunk is new on disk.
    await writeCorrection(box.home, { standard: "style", text: "Prefer the active voice." });
    const listed = probed("ls");
    expect(listed.automerge).toBe(true);
    const style = (listed.output as { standards: { standard: string; openCorrections: number }[] })
      .standards[0];
    expect(style).toMatchObject({ standard: "style", openCorrections: 1 });
  });

  it("is ignored when damaged, and rewritten", async () => {
    await spaceWithHistory();
    const fast = probed("ls");
    const file = await snapshotFile();
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 3) ^ 0x01, bytes.length - 3);
    await writeFile(file, bytes);
    // The listing cache too, damaged the same way: refused, like every checksummed cache.
    const listing = file.replace(/\.verified$/, ".listing");
    const listed = await readFile(listing);
    listed.writeUInt8(listed.readUInt8(listed.length - 3) ^ 0x01, listed.length - 3);
    await writeFile(listing, listed);
    const slow = probed("ls");
    expect(slow).toEqual({ output: fast.output, automerge: true });
    expect(probed("ls")).toEqual({ output: fast.output, automerge: false });
  });

  it("is trusted as the replica is, and canon doctor checks everything from scratch and repairs it", async () => {
    await spaceWithHistory();
    // A correction with a forged signature, written into the documents.
    const { signed: forged } = await writeCorrection(
      box.home,
      { standard: "style", text: "Forged." },
      async (genuine) => {
        const { payload } = dagCbor.decode(genuine.bytes) as { payload: Uint8Array };
        const bytes = dagCbor.encode({ payload, sig: new Uint8Array(64) });
        return { cid: (await core.recordCid(bytes)).toString(), bytes, record: genuine.record };
      },
    );
    const home = store.canonHome(box.home);
    const chosen = await store.chooseSpace(home, {});
    const codeOf = (doctor: { rejected: { cid: string; code: string }[] }) =>
      doctor.rejected.find((r) => r.cid === forged.cid)?.code;
    expect(codeOf(box.ok("doctor", "--json").json())).toBe("bad-signature");

    // Someone who can write $CANON_HOME lists it as verified: readers trust their own cache...
    const documentId = chosen.address.documentId;
    const snapshot = await readVerifiedSnapshot(home, documentId);
    if (snapshot === undefined) throw new Error("no snapshot");
    await writeVerifiedSnapshot(home, documentId, {
      ...snapshot,
      records: [...snapshot.records, forged],
      invalid: snapshot.invalid.filter((r) => r.cid !== forged.cid),
    });
    await dropListing();
    const openCorrections = () =>
      (
        probed("ls").output as { standards: { standard: string; openCorrections: number }[] }
      ).standards.find((standard) => standard.standard === "style")?.openCorrections;
    expect(openCorrections()).toBe(1);
    // ...but doctor trusts no cache, refuses it again, and rewrites the snapshot.
    expect(codeOf(box.ok("doctor", "--json").json())).toBe("bad-signature");
    expect(openCorrections()).toBe(0);
  });

  it("is not written while a document is damaged, so moving the damaged file away never hides a standard", async () => {
    box.ok("init");
    box.ok("space", "create", "team");
    box.ok("publish", "style", await box.file("a.md", "one\n"));
    // Large enough that a small change is saved as a chunk of its own, not a new snapshot.
    box.ok("publish", "tone", await box.file("t.md", "calm\n".repeat(40_000)));
    // A second chunk for tone's document: a correction written through the library.
    const { documentId: toneId } = await writeCorrection(box.home, {
      standard: "tone",
      text: "Warmer.",
    });
    const incremental = join(
      box.home,
      "replica",
      toneId.slice(0, 2),
      toneId.slice(2),
      "incremental",
    );
    const [chunk] = await readdir(incremental);
    if (chunk === undefined) throw new Error("tone's document has no incremental chunk");
    const damaged = join(incremental, chunk);
    const bytes = await readFile(damaged);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 2) ^ 0xff, bytes.length - 2);
    await writeFile(damaged, bytes);

    const snapshot = await snapshotFile();
    const cachesBefore = await Promise.all(
      [snapshot, snapshot.replace(/\.verified$/, ".index")].map((file) => readFile(file)),
    );
    const broken = box.canon("ls", "--json");
    expect(broken.status).toBe(4);
    expect(broken.json<{ damaged: { standard: string }[] }>().damaged).toEqual([
      expect.objectContaining({ standard: "tone" }),
    ]);
    // A fold without tone was not cached as if it described the files on disk.
    const cachesAfter = await Promise.all(
      [snapshot, snapshot.replace(/\.verified$/, ".index")].map((file) => readFile(file)),
    );
    expect(cachesAfter).toEqual(cachesBefore);

    // The user follows the advice and moves the damaged file away: whatever the
    // documents now hold, the caches and the documents agree.
    await mkdir(join(box.dir, "moved"));
    await rename(damaged, join(box.dir, "moved", chunk));
    const listed = box.canon("ls", "--json");
    // Every cache file blanked (a folder of shards or stamps files goes with the file naming it).
    for (const entry of await readdir(join(box.home, "index"), { withFileTypes: true }))
      if (entry.isFile()) await writeFile(join(box.home, "index", entry.name), "");
    expect(box.canon("ls", "--json").stdout).toBe(listed.stdout);
  });
});
