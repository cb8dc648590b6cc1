import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

let owner: Sandbox;
let agent: Sandbox;
let auditor: Sandbox;
let relayData: string;
beforeEach(async () => {
  owner = await sandbox();
  agent = await sandbox();
  auditor = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await stopAll();
  for (const box of [owner, agent, auditor]) await box.dispose();
  await rm(relayData, { recursive: true, force: true });
});

interface Found {
  verified: boolean;
  output: { sha256: string } | null;
  stamps: { verified: boolean; stamp: { cid: string; path: string | null; author: string } }[];
}

describe("stamp feeds (real processes and relay)", () => {
  it("an offline stamp goes out at the next sync; a fresh auditor verifies the output alone, and by stamp CID", async () => {
    const relay = await startRelay(relayData);
    owner.ok("init");
    const { url } = owner.ok("space", "create", "pub", "--json").json<{ url: string }>();
    owner.ok("publish", "style", await owner.file("s.md", "# Style v1\n"));
    const did = agent.ok("init", "--json").json<{ did: string }>().did;
    owner.ok("member", "add", did, "--role", "contributor");
    owner.ok("sync", "--relay", relay.url);
    agent.ok("space", "join", url, "--relay", relay.url);

    // Offline: the stamp sits in the agent's replica until the next sync.
    const output = await agent.file("article.md", "An article.\n");
    const stamped = agent.ok("stamp", output, "--json").json<{ cid: string }>();
    auditor.ok("init");
    auditor.ok("space", "join", url, "--relay", relay.url);
    const copy = await auditor.file("article.md", "An article.\n");
    const early = auditor.canon("verify", copy, "--json");
    expect(early.status).toBe(7);
    expect(early.stderr).toMatch(/no stamp for .* in the feeds/);

    agent.ok("sync");
    auditor.ok("sync");
    const found = auditor.ok("verify", copy, "--json").json<Found>();
    expect(found.verified).toBe(true);
    expect(found.stamps).toEqual([
      expect.objectContaining({
        verified: true,
        stamp: expect.objectContaining({ cid: stamped.cid, path: null, author: did }),
      }),
    ]);
    // A damaged stamp index is ignored and rebuilt, never served.
    const indexDir = join(auditor.home, "index");
    const [indexFile] = (await readdir(indexDir)).filter((name) => name.endsWith(".stamps"));
    expect(indexFile).toBeDefined();
    const indexPath = join(indexDir, indexFile as string);
    const bytes = await readFile(indexPath);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0xff;
    await writeFile(indexPath, bytes);
    expect(auditor.ok("verify", copy, "--json").json<Found>().verified).toBe(true);
    expect((await readFile(indexPath)).equals(bytes)).toBe(false);
    const byCid = auditor.ok("verify", "--stamp", stamped.cid, "--json").json<Found>();
    expect(byCid.stamps[0]?.stamp.cid).toBe(stamped.cid);

    // The agent's own sidecar still works, and so do the feeds without it.
    expect(agent.ok("verify", output, "--json").json<{ verified: boolean }>().verified).toBe(true);
    await unlink(`${output}.canon.json`);
    expect(agent.ok("verify", output, "--json").json<Found>().stamps).toHaveLength(1);

    // An output nobody stamped, and a CID that is no stamp here.
    const other = await auditor.file("other.md", "Never stamped.\n");
    expect(auditor.canon("verify", other).status).toBe(7);
    expect(auditor.canon("verify", "--stamp", "not a cid").status).toBe(2);
  });
});
