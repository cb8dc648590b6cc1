import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

const ADMIN = "admin-token-0123456789abcdef";
const WRITE = "alpha-write-0123456789abcdef";
const READ = "alpha-read-0123456789abcdef";

let owner: Sandbox;
let auditor: Sandbox;
let directory: string;
beforeEach(async () => {
  owner = await sandbox();
  auditor = await sandbox();
  directory = await mkdtemp(join(tmpdir(), "canon-space-tokens-feeds-"));
});
afterEach(async () => {
  await stopAll();
  for (const box of [owner, auditor]) await box.dispose();
  await rm(directory, { recursive: true, force: true });
});

describe("tokens per space and provenance feeds (real processes on 127.0.0.1)", () => {
  it("a space's read token still reads its feed segments after the relay restarts", async () => {
    owner.ok("init");
    const url = owner.ok("space", "create", "alpha", "--json").json<{ url: string }>().url;
    owner.ok("publish", "style", await owner.file("s.md", "style v1\n"));
    const output = await owner.file("article.md", "An article.\n");
    owner.ok("stamp", output);
    const tokensFile = join(directory, "tokens.json");
    const spaceId = url.slice("canon:".length).split("/")[0] as string;
    await writeFile(
      tokensFile,
      JSON.stringify({ spaces: { [spaceId]: { write: [WRITE], read: [READ] } } }),
    );
    const data = join(directory, "relay");
    const first = await startRelay(data, { token: ADMIN, tokens: tokensFile });
    owner.ok("sync", "--relay", first.url, "--token", WRITE, "--remember");
    await stopAll();

    // After a restart the relay knows the feed segment only through the space's `feeds` map.
    const relay = await startRelay(data, { token: ADMIN, tokens: tokensFile });
    auditor.ok("init");
    // Before, only `standards` routes counted: the segment was refused to the read token (exit 5).
    auditor.ok("space", "join", url, "--relay", relay.url, "--token", READ);
    const copy = await auditor.file("article.md", "An article.\n");
    expect(auditor.ok("verify", copy, "--json").json<{ verified: boolean }>().verified).toBe(true);
  }, 120_000);
});
