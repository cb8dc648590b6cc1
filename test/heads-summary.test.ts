import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
beforeEach(async () => {
  a = await sandbox();
  b = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await stopAll();
  await a.dispose();
  await b.dispose();
  await rm(relayData, { recursive: true, force: true });
});

type Report = { summarised: boolean; received: { cid: string }[]; sent: { cid: string }[] };

describe("a sync with nothing new is answered by the relay's heads summary", () => {
  it("loads nothing when both sides agree, and syncs every document as soon as one differs", async () => {
    const relay = await startRelay(relayData);
    a.ok("init");
    const bDid = b.ok("init", "--json").json<{ did: string }>().did;
    const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
    a.ok("member", "add", bDid, "--role", "maintainer");
    for (const standard of ["style", "tone", "names"])
      a.ok("publish", standard, await a.file(`${standard}.md`, `${standard} v1\n`));
    const first = a.ok("sync", "--relay", relay.url, "--json").json<Report>();
    expect(first.summarised).toBe(false);
    expect(first.sent.length).toBeGreaterThan(0);

    const again = a.ok("sync", "--json").json<Report>();
    expect(again).toMatchObject({ summarised: true, received: [], sent: [] });

    // Something new on the relay: the summary differs, so the sync exchanges.
    b.ok("space", "join", url, "--relay", relay.url);
    const v2 = b
      .ok("publish", "tone", await b.file("tone.md", "tone v2\n"), "--json")
      .json<{ release: string }>();
    b.ok("sync");
    const pulled = a.ok("sync", "--json").json<Report>();
    expect(pulled.summarised).toBe(false);
    expect(pulled.received.map((record) => record.cid)).toContain(v2.release);
    expect(a.ok("show", "tone").stdout).toBe("tone v2\n");
    expect(a.ok("sync", "--json").json<Report>().summarised).toBe(true);

    // Something new here (published through the one-standard path): it goes out.
    const v3 = a
      .ok("publish", "tone", await a.file("tone.md", "tone v3\n"), "--json")
      .json<{ release: string }>();
    const pushed = a.ok("sync", "--json").json<Report>();
    expect(pushed.summarised).toBe(false);
    expect(pushed.sent.map((record) => record.cid)).toContain(v3.release);
    expect(a.ok("sync", "--json").json<Report>().summarised).toBe(true);
    b.ok("sync");
    expect(b.ok("show", "tone").stdout).toBe("tone v3\n");
  });

  it("the relay lists the space document and the documents it routes to, and nothing for an unknown space", async () => {
    const relay = await startRelay(relayData);
    a.ok("init");
    const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
    a.ok("publish", "style", await a.file("style.md", "style v1\n"));
    a.ok("sync", "--relay", relay.url);
    const spaceId = url.slice("canon:".length).split("/")[0] as string;
    const response = await fetch(`http://127.0.0.1:${relay.port}/heads/${spaceId}`);
    expect(response.status).toBe(200);
    const summary = (await response.json()) as {
      space: string;
      documents: Record<string, string[]>;
    };
    expect(summary.space).toBe(spaceId);
    expect(Object.keys(summary.documents)).toHaveLength(2);
    for (const heads of Object.values(summary.documents)) expect(heads.length).toBeGreaterThan(0);
    const unknown = await fetch(
      `http://127.0.0.1:${relay.port}/heads/2PHnaDJm1NpmZXNrsWGXPQayrdZM`,
    );
    expect(unknown.status).toBe(404);
    const junk = await fetch(`http://127.0.0.1:${relay.port}/heads/..%2F..%2Fetc`);
    expect(junk.status).toBe(404);
  });

  it("a relay requiring a token answers the summary only with it", async () => {
    const relay = await startRelay(relayData, { token: "s3cret" });
    a.ok("init");
    const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
    a.ok("sync", "--relay", relay.url, "--token", "s3cret");
    const again = a.ok("sync", "--json");
    expect(again.json<Report>().summarised, again.stdout).toBe(true);
    const spaceId = url.slice("canon:".length).split("/")[0] as string;
    const bare = await fetch(`http://127.0.0.1:${relay.port}/heads/${spaceId}`);
    expect(bare.status).toBe(401);
  });
});
