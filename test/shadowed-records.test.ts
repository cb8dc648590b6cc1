import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import * as store from "../packages/store/dist/index.js";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { type JoinedReader, joinedReader, rejectionCode } from "./helpers/joined-reader.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

/**
 * No path lets something a hostile peer filed first keep a reader off a
 * genuine record for good: only a verdict on the very bytes a CID names may
 * be remembered. Each case shows the reader other bytes (or nothing usable)
 * first, then the genuine piece, and checks the reader's ordinary commands
 * after an ordinary `sync` (the incremental path, `refreshTouched`, whose
 * caches every later command reads). Real processes, a real relay on 127.0.0.1.
 */
let owner: Sandbox;
let reader: Sandbox;
/** Data folders of relays a test started besides `relay`, removed once every relay stopped. */
const otherRelayData: string[] = [];
let relay: RelayProcess;
let spaceUrl: string;
let spaceDocumentId: string;
let genesis: string;
let ownerKeys: core.KeyPair;

type Shown = { version: number; release: string; cid: string; content: string };

let scene: JoinedReader;

beforeAll(async () => {
  scene = await joinedReader("shadows", "v1\n");
  ({ owner, reader, relay, spaceUrl, spaceDocumentId, genesis, ownerKeys } = scene);
});

afterAll(async () => {
  await stopAll();
  await scene.dispose();
  for (const dir of otherRelayData) await rm(dir, { recursive: true, force: true });
});

function shown(home: Sandbox): Shown {
  return home.ok("show", "style", "--json").json<Shown>();
}

/** A record genuinely signed by the owner, of no use here, whose bytes do not hash to the CID a test files them under. */
async function junk(): Promise<Uint8Array> {
  const signed = await core.signRecord(ownerKeys, {
    type: "canon/correction",
    v: 1,
    space: genesis,
    standard: "style",
    text: `junk ${Math.random()}`,
    membership: [genesis],
    author: ownerKeys.did,
    createdAt: new Date().toISOString(),
  } as core.Correction);
  return signed.bytes;
}

/** Files `bytes` under `cid` in the records of the document `where` names, through the relay. */
async function fileUnder(
  where: "space" | "standard" | "feed",
  cid: string,
  bytes: Uint8Array,
): Promise<void> {
  await writeAsAttacker(relay.url, spaceDocumentId, ({ space, standards }) => {
    if (where === "space") {
      space.change((doc) => {
        doc.records[cid] = bytes;
      });
      return;
    }
    const handle = [...standards.values()].find((candidate) => {
      const name = (candidate.doc() as { name?: unknown }).name;
      return where === "standard" ? name === "style" : name !== "style";
    });
    if (handle === undefined) throw new Error(`no ${where} document to write into`);
    handle.change((doc) => {
      doc.records[cid] = bytes;
    });
  });
}

describe("a genuine record shown after other bytes (or before what it needs) counts on every path", () => {
  it("a release whose content a peer overwrote before the reader saw it counts once a member writes the content back", async () => {
    owner.ok("publish", "style", await owner.file("s.md", "v2\n"));
    const v2 = shown(owner);
    owner.ok("sync");
    // A peer overwrites v2's content in the standard document before the reader syncs.
    await writeAsAttacker(relay.url, spaceDocumentId, ({ standards }) => {
      const [handle] = standards.values();
      handle?.change((doc) => {
        doc.contents[v2.cid] = new TextEncoder().encode("not v2\n");
      });
    });
    reader.ok("sync");
    expect(shown(reader).version).toBe(1);
    expect(rejectionCode(reader, v2.release)).toBe("content-mismatch");
    // The owner's sync writes the content back (it holds the verified bytes). The reader's
    // next sync touches the standard document alone and brings no new record: the
    // incremental refresh kept every earlier verdict, so the reader stayed on v1 for good.
    owner.ok("sync");
    reader.ok("sync");
    expect(shown(reader)).toMatchObject({ version: 2, release: v2.release, content: "v2\n" });
    expect(rejectionCode(reader, v2.release)).toBeUndefined();
  });

  it("a release whose content a peer deleted before the reader saw it counts once a member writes the content back", async () => {
    owner.ok("publish", "style", await owner.file("s.md", "v3\n"));
    const v3 = shown(owner);
    owner.ok("sync");
    await writeAsAttacker(relay.url, spaceDocumentId, ({ standards }) => {
      const [handle] = standards.values();
      handle?.change((doc) => {
        delete doc.contents[v3.cid];
      });
    });
    reader.ok("sync");
    expect(shown(reader).version).toBe(2);
    expect(rejectionCode(reader, v3.release)).toBe("content-missing");
    // The content comes back as a new key (nothing the reader held changed): the reader's
    // sync takes the incremental path, which brought no new record and re-decided nothing.
    owner.ok("sync");
    reader.ok("sync");
    expect(shown(reader)).toMatchObject({ version: 3, release: v3.release, content: "v3\n" });
    expect(rejectionCode(reader, v3.release)).toBeUndefined();
  });

  it("a bundle whose file a peer deleted before the reader saw it counts once a member writes the file back", async () => {
    const folder = join(owner.dir, "kit");
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, "SKILL.md"), "# Kit\n");
    await writeFile(join(folder, "notes.md"), "first notes\n");
    owner.ok("publish", "kit", folder);
    owner.ok("sync");
    reader.ok("sync");
    expect(shownKit(reader).version).toBe(1);
    await writeFile(join(folder, "notes.md"), "second notes\n");
    owner.ok("publish", "kit", folder);
    const kit = shownKit(owner);
    const notes = kit.files.find((file) => file.path === "notes.md")?.cid ?? "";
    owner.ok("sync");
    await writeAsAttacker(relay.url, spaceDocumentId, ({ standards }) => {
      for (const handle of standards.values())
        if (handle.doc().name === "kit")
          handle.change((doc) => {
            delete doc.contents[notes];
          });
    });
    reader.ok("sync");
    expect(shownKit(reader).version).toBe(1);
    expect(rejectionCode(reader, kit.release)).toBe("content-missing");
    // The owner writes the file back: a new key, no new record; the reader's caches
    // kept version 1 after every sync.
    owner.ok("sync");
    reader.ok("sync");
    expect(shownKit(reader)).toMatchObject({ version: 2, release: kit.release });
    expect(rejectionCode(reader, kit.release)).toBeUndefined();
    const out = join(reader.dir, "kit-out");
    reader.ok("export", "kit", out);
    expect(await readFile(join(out, "notes.md"), "utf8")).toBe("second notes\n");
  });

  it("a correction whose CID a peer filed other bytes under, in another document, counts once it arrives", async () => {
    const correction = owner
      .ok("correct", "style", "Say it in fewer words.", "--json")
      .json<{ cid: string }>().cid;
    await fileUnder("space", correction, await junk());
    reader.ok("sync");
    expect(corrections(reader)).not.toContain(correction);
    expect(rejectionCode(reader, correction)).toBe("cid-mismatch");
    owner.ok("sync");
    reader.ok("sync");
    expect(corrections(reader)).toContain(correction);
  });

  it("a stamp whose CID a peer filed other bytes under, in another document, verifies once it arrives", async () => {
    const output = await owner.file("article.md", "written with style\n");
    const stamp = owner.ok("stamp", output, "--json").json<{ cid: string }>().cid;
    await fileUnder("space", stamp, await junk());
    reader.ok("sync");
    expect(reader.canon("verify", "--stamp", stamp, "--json").status).not.toBe(0);
    owner.ok("sync");
    reader.ok("sync");
    const verdict = reader.ok("verify", "--stamp", stamp, "--json").json<{ verified: boolean }>();
    expect(verdict.verified).toBe(true);
  });

  it("a newcomer's stamp shown before the membership that admits them counts once the membership arrives", async () => {
    // The owner admits a newcomer and syncs that to a second relay only; the newcomer
    // stamps there. A peer copies the stamp to the reader's relay before the membership.
    const otherData = await mkdtemp(join(tmpdir(), "canon-relay-"));
    otherRelayData.push(otherData);
    const newcomer = await sandbox();
    try {
      const other = await startRelay(otherData);
      newcomer.ok("init");
      const did = newcomer.ok("id", "show", "--json").json<{ did: string }>().did;
      owner.ok("member", "add", did, "--role", "contributor");
      owner.ok("sync", "--relay", other.url);
      newcomer.ok("space", "join", spaceUrl, "--relay", other.url);
      const output = await newcomer.file("report.md", "by the newcomer\n");
      const stamp = newcomer.ok("stamp", output, "--json").json<{ cid: string }>().cid;
      newcomer.ok("sync");
      let bytes: Uint8Array | undefined;
      await writeAsAttacker(other.url, spaceDocumentId, ({ standards }) => {
        for (const handle of standards.values()) {
          const found = (handle.doc() as { records?: Record<string, unknown> }).records?.[stamp];
          if (found instanceof Uint8Array) bytes = new Uint8Array(found);
        }
      });
      expect(bytes).toBeDefined();
      await fileUnder("standard", stamp, bytes as Uint8Array);
      reader.ok("sync");
      expect(reader.canon("verify", "--stamp", stamp, "--json").status).not.toBe(0);
      const code = rejectionCode(reader, stamp);
      expect(code).toBeDefined();
      expect(core.PERMANENT_REFUSALS.has(code as core.RejectionCode)).toBe(false);
      // The membership reaches the reader's relay: the reader's next ordinary sync admits the stamp.
      owner.ok("sync");
      reader.ok("sync");
      const verdict = reader.ok("verify", "--stamp", stamp, "--json").json<{ verified: boolean }>();
      expect(verdict.verified).toBe(true);
      expect(rejectionCode(reader, stamp)).toBeUndefined();
    } finally {
      await newcomer.dispose();
    }
  });

  it("a checkpoint whose CID a peer filed other bytes under, in another document, counts once it arrives", async () => {
    owner.ok("publish", "style", await owner.file("s.md", "v4\n"));
    const checkpoint = owner.ok("checkpoint", "--json").json<{ cid: string }>().cid;
    await fileUnder("standard", checkpoint, await junk());
    reader.ok("sync");
    expect(rejectionCode(reader, checkpoint)).toBe("cid-mismatch");
    owner.ok("sync");
    // The owner's sync may sign a newer one (its heads moved): the newest is the one to hold.
    const newest = listed(owner).freshness.checkpoint?.cid;
    expect(newest).toBeDefined();
    reader.ok("sync");
    expect(listed(reader).freshness).toMatchObject({
      status: "fresh",
      checkpoint: { cid: newest },
      missing: [],
    });
    expect(rejectionCode(reader, checkpoint)).toBe("cid-mismatch");
  });

  it("a checkpoint page whose CID a peer filed other bytes under, in another document, counts once it arrives", async () => {
    owner.ok("publish", "style", await owner.file("s.md", "v5\n"));
    const checkpoint = owner.ok("checkpoint", "--json").json<{ cid: string }>().cid;
    // The pages it names, as the owner's replica holds them (a relay sees them first).
    const pages = await pagesOf(checkpoint);
    expect(pages.length).toBeGreaterThan(0);
    for (const page of pages) await fileUnder("standard", page, await junk());
    reader.ok("sync");
    for (const page of pages) expect(rejectionCode(reader, page)).toBe("cid-mismatch");
    owner.ok("sync");
    const newest = listed(owner).freshness.checkpoint?.cid;
    reader.ok("sync");
    // The newest checkpoint names pages this reader would lack if their junk hid them.
    expect(listed(reader).freshness).toMatchObject({
      status: "fresh",
      checkpoint: { cid: newest },
      missing: [],
    });
  });
});

/** The pages a checkpoint of the owner's names, read from the owner's replica. */
async function pagesOf(checkpoint: string): Promise<string[]> {
  const replica = await store.openReplica(store.canonHome(owner.home));
  try {
    const folded = await replica.spaces.fold(store.parseSpaceUrl(spaceUrl));
    const signed = folded.fold.state?.checkpoints.find((entry) => entry.cid === checkpoint);
    return signed?.record.type === "canon/checkpoint" && signed.record.v === 2
      ? [...signed.record.pages]
      : [];
  } finally {
    await replica.close();
  }
}

function shownKit(home: Sandbox): {
  version: number;
  release: string;
  files: { path: string; cid: string }[];
} {
  return home.ok("show", "kit", "--json").json();
}

function corrections(home: Sandbox): string[] {
  return home
    .ok("corrections", "style", "--all", "--json")
    .json<{ corrections: { cid: string }[] }>()
    .corrections.map((entry) => entry.cid);
}

function listed(home: Sandbox): {
  freshness: { status: string; checkpoint: { cid: string } | null; missing: string[] };
} {
  return home.ok("ls", "--json").json();
}
