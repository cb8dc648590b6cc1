import { describe, expect, it } from "vitest";
import type { Sandbox } from "./helpers/cli.js";
import { startRelay } from "./helpers/processes.js";
import { twoHomesEachTest } from "./helpers/two-homes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
twoHomesEachTest((homes) => ({ a, b, relayData } = homes));

type Report = {
  exchanged: number | null;
  inBulk: number;
  received: { cid: string }[];
  sent: { cid: string }[];
};

describe("a sync starts from the relay's heads summary", () => {
  it("loads nothing when both sides agree, and only the documents that differ otherwise", async () => {
    const relay = await startRelay(relayData);
    a.ok("init");
    b.ok("init");
    const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
    for (const standard of ["style", "tone", "names"])
      a.ok("publish", standard, await a.file(`${standard}.md`, `${standard} v1\n`));
    a.ok("sync", "--relay", relay.url);
    // B reads (not a member: it never owes a checkpoint, which would load every document).
    const joined = b.ok("space", "join", url, "--relay", relay.url, "--json").json<Report>();
    // Nothing here yet: every document comes in the relay's bulk answer, in step with its summary.
    expect(joined).toMatchObject({ exchanged: 0, inBulk: 4 });
    const again = b.ok("sync", "--json").json<Report>();
    expect(again).toMatchObject({ exchanged: 0, received: [], sent: [] });

    // A new version on the relay: only its document differs.
    const v2 = a
      .ok("publish", "tone", await a.file("tone.md", "tone v2\n"), "--json")
      .json<{ release: string }>();
    a.ok("sync");
    const pulled = b.ok("sync", "--json").json<Report>();
    // tone's document, and the space document with A's new checkpoint.
    expect(pulled.exchanged).toBe(2);
    expect(pulled.received.map((record) => record.cid)).toContain(v2.release);
    expect(b.ok("show", "tone").stdout).toBe("tone v2\n");
    expect(b.ok("ls").stdout).toContain("tone");
    expect(b.ok("sync", "--json").json<Report>().exchanged).toBe(0);

    // A new standard: its document and the space document's new route.
    a.ok("publish", "extra", await a.file("extra.md", "extra v1\n"));
    a.ok("sync");
    const routed = b.ok("sync", "--json").json<Report>();
    expect(routed.exchanged).toBe(2);
    expect(b.ok("show", "extra").stdout).toBe("extra v1\n");
    expect(b.ok("sync", "--json").json<Report>().exchanged).toBe(0);

    // The owner's sync with nothing new loads nothing either, once its checkpoint is current.
    a.ok("sync");
    expect(a.ok("sync", "--json").json<Report>()).toMatchObject({ exchanged: 0, sent: [] });
    // What the owner publishes goes out in a full sync (a checkpoint is due) and reaches B.
    const v3 = a
      .ok("publish", "tone", await a.file("tone.md", "tone v3\n"), "--json")
      .json<{ release: string }>();
    const pushed = a.ok("sync", "--json").json<Report>();
    expect(pushed.sent.map((record) => record.cid)).toContain(v3.release);
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
    expect(again.json<Report>().exchanged, again.stdout).toBe(0);
    const spaceId = url.slice("canon:".length).split("/")[0] as string;
    const bare = await fetch(`http://127.0.0.1:${relay.port}/heads/${spaceId}`);
    expect(bare.status).toBe(401);
  });
});
