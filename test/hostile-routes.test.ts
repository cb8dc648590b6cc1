import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

/**
 * A writer of a space (anyone with its URL, on a relay without tokens) fills
 * its unsigned routing map with documents that exist nowhere, more than the
 * relay lets one address ask for in a minute. Every member's sync and every
 * join must still finish, read what is there, and report the rest missing.
 */
let owner: Sandbox;
let reader: Sandbox;
let relayData: string;
let relay: RelayProcess;

/** The relay's new-document budget here (1000 by default): the attack routes four times as many. */
const NEW_DOCUMENTS_PER_MINUTE = 50;
const GHOSTS = 4 * NEW_DOCUMENTS_PER_MINUTE;

type SyncJson = { missing: { documentId: string; name: string | null }[] };

beforeAll(async () => {
  owner = await sandbox();
  reader = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
  relay = await startRelay(relayData, {
    flags: ["--new-documents-per-minute", String(NEW_DOCUMENTS_PER_MINUTE)],
  });
  owner.ok("init");
  reader.ok("init");
});

afterAll(async () => {
  await stopAll();
  await owner.dispose();
  await reader.dispose();
  await rm(relayData, { recursive: true, force: true });
});

describe("a routing map naming more documents than the relay lets anyone ask for", () => {
  it("joins and syncs still finish, read the real standard, and report every ghost missing", async () => {
    const url = owner.ok("space", "create", "ghosts", "--json").json<{ url: string }>().url;
    const spaceDocumentId = url.slice("canon:".length).split("/")[0] as string;
    owner.ok("publish", "style", await owner.file("s.md", "style v1\n"));
    owner.ok("sync", "--relay", relay.url);
    const ghosts = Array.from(
      { length: GHOSTS },
      () => parseAutomergeUrl(generateAutomergeUrl()).documentId,
    );
    await writeAsAttacker(relay.url, spaceDocumentId, ({ space }) => {
      space.change((doc) => {
        for (const ghost of ghosts) doc.standards[ghost] = "ghost";
      });
    });

    // Before the fix the relay cut each reader off mid-sync (exit 5) once past its budget.
    reader.ok("space", "join", url, "--relay", relay.url, "--timeout", "60");
    expect(reader.ok("show", "style", "--json").json<{ content: string }>().content).toBe(
      "style v1\n",
    );
    const report = reader.ok("sync", "--timeout", "60", "--json").json<SyncJson>();
    expect(report.missing.map((m) => m.documentId).sort()).toEqual([...ghosts].sort());
    owner.ok("sync", "--timeout", "60");
    owner.ok("publish", "style", await owner.file("s.md", "style v2\n"));
    owner.ok("sync", "--timeout", "60");
    reader.ok("sync", "--timeout", "60");
    expect(reader.ok("show", "style", "--json").json<{ content: string }>().content).toBe(
      "style v2\n",
    );
  }, 240_000);
});
