import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RawSpace, writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

/**
 * Attacks on the documents' unsigned structure (type tags, names, the maps
 * themselves, routing entries) by a peer that writes straight into them
 * through a real relay. After each one the members' commands still work,
 * they write back what was lost, and a newcomer who joins afterwards
 * converges to the members' verified state.
 */
let owner: Sandbox;
let reader: Sandbox;
let relayData: string;
let relay: RelayProcess;
let spaceUrl: string;
let spaceDocumentId: string;
/** The document that holds `style`, as the owner created it. */
let styleDocument: string;

type Shown = { version: number; release: string; content: string };
type SyncJson = { missing: { documentId: string; name: string | null }[] };
type DoctorJson = { missing: { documentId: string }[]; rejected: unknown[] };

beforeAll(async () => {
  owner = await sandbox();
  reader = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
  relay = await startRelay(relayData);
  owner.ok("init");
  reader.ok("init");
});

// A space of its own for each attack, so one attack's damage never explains another's failure.
beforeEach(async () => {
  spaceUrl = owner
    .ok("space", "create", "structure", "--force", "--json")
    .json<{ url: string }>().url;
  [spaceDocumentId = ""] = spaceUrl.slice("canon:".length).split("/");
  owner.ok("publish", "style", await owner.file("s.md", "style v1\n"));
  owner.ok("sync", "--relay", relay.url);
  reader.ok("space", "join", spaceUrl, "--relay", relay.url);
  await writeAsAttacker(relay.url, spaceDocumentId, ({ standards }) => {
    styleDocument = [...standards.keys()][0] as string;
  });
});

afterAll(async () => {
  await stopAll();
  await owner.dispose();
  await reader.dispose();
  await rm(relayData, { recursive: true, force: true });
});

function attack(write: (raw: RawSpace) => void) {
  return writeAsAttacker(relay.url, spaceDocumentId, write, { documents: [styleDocument] });
}

/** What a bare peer sees in the relay's copy of the documents. */
async function relayView() {
  let view: { space: Record<string, unknown>; style: Record<string, unknown> | undefined } = {
    space: {},
    style: undefined,
  };
  await attack(({ space, standards }) => {
    view = {
      space: structuredClone(space.doc()) as Record<string, unknown>,
      style: structuredClone(standards.get(styleDocument)?.doc()) as Record<string, unknown>,
    };
  });
  return view;
}

function shown(who: Sandbox, reference = "style"): Shown {
  return who.ok("show", reference, "--json").json<Shown>();
}

/** A new reader joins through the relay; returns what they read of `style`. */
async function newcomerReads(reference = "style"): Promise<Shown> {
  const newcomer = await sandbox();
  try {
    newcomer.ok("init");
    newcomer.ok("space", "join", spaceUrl, "--relay", relay.url, "--timeout", "20");
    return shown(newcomer, reference);
  } finally {
    await newcomer.dispose();
  }
}

/** Both members sync, show and list; every command must succeed. */
function membersWork() {
  for (const member of [owner, reader]) {
    member.ok("sync", "--timeout", "20");
    member.ok("ls", "--json");
    member.ok("doctor", "--json");
  }
  return shown(reader);
}

describe("readers treat every unsigned field as untrusted input (a hostile peer writes through a real relay)", () => {
  it("a changed space type tag: members still sync, show, list and run doctor, and put the tag back", async () => {
    const before = shown(owner);
    await attack(({ space }) => {
      space.change((doc) => {
        (doc as unknown as Record<string, unknown>).canon = "not-a-space";
        (doc as unknown as Record<string, unknown>).v = 99;
      });
    });
    expect(membersWork()).toMatchObject({ release: before.release, content: "style v1\n" });
    expect((await relayView()).space).toMatchObject({ canon: "space", v: 1 });
    expect(await newcomerReads()).toMatchObject({ release: before.release });
  });

  it("deleted and retyped records maps: sync and publish still work, and a newcomer gets every record", async () => {
    await attack(({ space, standards }) => {
      space.change((doc) => {
        delete (doc as unknown as Record<string, unknown>).records;
      });
      standards.get(styleDocument)?.change((doc) => {
        (doc as unknown as Record<string, unknown>).records = "junk";
      });
    });
    reader.ok("sync", "--timeout", "20");
    owner.ok("sync", "--timeout", "20");
    owner.ok("publish", "style", await owner.file("s.md", "style v2\n"));
    owner.ok("sync", "--timeout", "20");
    const latest = shown(owner);
    expect(latest).toMatchObject({ version: 2, content: "style v2\n" });
    expect(membersWork()).toMatchObject({ release: latest.release });
    expect(await newcomerReads()).toMatchObject({ release: latest.release, content: "style v2\n" });
  });

  it("a changed standard tag and name: sync and join finish, and members put them back", async () => {
    const latest = shown(owner);
    await attack(({ standards }) => {
      standards.get(styleDocument)?.change((doc) => {
        const raw = doc as unknown as Record<string, unknown>;
        raw.canon = "space";
        raw.name = "evil";
        delete raw.v;
      });
    });
    expect(membersWork()).toMatchObject({ release: latest.release });
    expect((await relayView()).style).toMatchObject({ canon: "standard", v: 1, name: "style" });
    expect(await newcomerReads()).toMatchObject({ release: latest.release });
  });

  it("a routing entry naming a document that exists nowhere: sync and join finish, and sync --json and doctor report it", async () => {
    const nowhere = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    await attack(({ space }) => {
      space.change((doc) => {
        doc.standards[nowhere] = "ghost";
      });
    });
    const started = Date.now();
    const report = reader.ok("sync", "--timeout", "20", "--json").json<SyncJson>();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(report.missing).toEqual([{ documentId: nowhere, name: "ghost" }]);
    expect(
      reader
        .ok("doctor", "--json")
        .json<DoctorJson>()
        .missing.map((m) => m.documentId),
    ).toEqual([nowhere]);
    expect(membersWork()).toMatchObject({ content: "style v1\n" });
    expect(await newcomerReads()).toMatchObject({ content: "style v1\n" });
  });

  it("a deleted routing entry: members put it back, and a newcomer still gets the standard", async () => {
    const latest = shown(owner);
    await attack(({ space }) => {
      space.change((doc) => {
        delete doc.standards[styleDocument];
      });
    });
    expect(membersWork()).toMatchObject({ release: latest.release });
    expect((await relayView()).space.standards).toMatchObject({ [styleDocument]: "style" });
    expect(await newcomerReads()).toMatchObject({ release: latest.release });
  });

  it("a deleted release together with its content: members write back both, so a newcomer reads the latest version", async () => {
    owner.ok("publish", "style", await owner.file("s.md", "style v2\n"));
    owner.ok("sync", "--timeout", "20");
    reader.ok("sync", "--timeout", "20");
    const latest = shown(owner);
    await attack(({ standards }) => {
      standards.get(styleDocument)?.change((doc) => {
        delete doc.records[latest.release];
        for (const cid of Object.keys(doc.contents)) delete doc.contents[cid];
      });
    });
    reader.ok("sync", "--timeout", "20");
    const style = (await relayView()).style as { records: object; contents: object };
    expect(Object.keys(style.records)).toContain(latest.release);
    expect(Object.keys(style.contents).length).toBe(2);
    expect(await newcomerReads()).toMatchObject({ version: 2, content: "style v2\n" });
  });

  it("content overwritten before a newcomer saw it: members write the right bytes back, and that release and the next stay readable", async () => {
    owner.ok("publish", "style", await owner.file("s.md", "style v2\n"));
    owner.ok("sync", "--timeout", "20");
    reader.ok("sync", "--timeout", "20");
    await attack(({ standards }) => {
      standards.get(styleDocument)?.change((doc) => {
        for (const cid of Object.keys(doc.contents))
          doc.contents[cid] = new TextEncoder().encode("swapped\n");
      });
    });
    // Only the reader syncs: the owner's own copy of the right bytes does not take part.
    reader.ok("sync", "--timeout", "20");
    expect(await newcomerReads("style@1")).toMatchObject({ content: "style v1\n" });
    expect(await newcomerReads()).toMatchObject({ version: 2, content: "style v2\n" });
    owner.ok("publish", "style", await owner.file("s.md", "style v3\n"));
    owner.ok("sync", "--timeout", "20");
    expect(await newcomerReads()).toMatchObject({ version: 3, content: "style v3\n" });
  });
});
