import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

const boxes: Sandbox[] = [];
let relayData: string;
beforeEach(async () => {
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await stopAll();
  for (const box of boxes.splice(0)) await box.dispose();
  await rm(relayData, { recursive: true, force: true });
});

async function home(): Promise<Sandbox> {
  const box = await sandbox();
  boxes.push(box);
  return box;
}

interface Judged {
  verified: boolean;
  problems: { code: string; rejection?: string }[];
  stamp: { cid: string; author: string };
  context: {
    standard: string;
    version: number;
    whenStamped: string;
    staleReason: string | null;
    supersededSince: boolean;
  }[];
}

/** What the test knows of each output: who stamped it, and its style release's verdict when stamped. */
interface Expected {
  readonly home: Sandbox;
  readonly path: string;
  readonly content: string;
  readonly agent: string;
  readonly style: { version: number; whenStamped: string; staleReason: string | null };
  readonly verifies: boolean;
}

describe("provenance end to end: three owners, their agents, rounds of releases, a real relay", () => {
  it("an auditor with only the outputs verifies every one, with the stale-when-stamped verdicts the test expects; removals and tampering are caught with the reason", async () => {
    const relay = await startRelay(relayData);
    const [a, b, c] = [await home(), await home(), await home()];
    a.ok("init");
    const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
    const spaceDocumentId = url.slice("canon:".length).split("/")[0] as string;
    a.ok("publish", "style", await a.file("style.md", "# Style v1\n"));
    for (const owner of [b, c]) {
      const did = owner.ok("init", "--json").json<{ did: string }>().did;
      a.ok("member", "add", did, "--role", "maintainer");
    }
    a.ok("sync", "--relay", relay.url);
    b.ok("space", "join", url, "--relay", relay.url);
    c.ok("space", "join", url, "--relay", relay.url);
    // Each owner runs an agent from its own home.
    const agents = new Map<Sandbox, string>();
    for (const [owner, name] of [
      [a, "agent-a"],
      [b, "agent-b"],
      [c, "agent-c"],
    ] as const) {
      const did = owner.ok("id", "new", "--name", name, "--json").json<{ did: string }>().did;
      owner.ok("member", "add", did, "--role", "contributor");
      owner.ok("sync");
      agents.set(owner, did);
    }
    for (const owner of [a, b, c]) owner.ok("sync");

    const expected: Expected[] = [];
    let n = 0;
    const stampAs = async (
      owner: Sandbox,
      style: Expected["style"],
      options: { pin?: string; verifies?: boolean } = {},
    ) => {
      const content = `Output ${++n} by ${owner === a ? "a" : owner === b ? "b" : "c"}.\n`;
      const path = await owner.file(`out-${n}.md`, content);
      const name = owner === a ? "agent-a" : owner === b ? "agent-b" : "agent-c";
      owner.ok("stamp", path, "--as", name, "--standard", options.pin ?? "style");
      expected.push({
        home: owner,
        path,
        content,
        agent: agents.get(owner) as string,
        style,
        verifies: options.verifies ?? true,
      });
    };

    for (let round = 1; round <= 3; round++) {
      const publisher = [a, b, c][round - 1] as Sandbox;
      const version = round + 1;
      // Every owner is in step: each agent stamps the latest, current when stamped.
      for (const owner of [a, b, c])
        await stampAs(owner, { version: round, whenStamped: "current", staleReason: null });
      for (const owner of [a, b, c]) owner.ok("sync");
      // A maintainer publishes and syncs; the next owner's agent stamps before syncing it in.
      publisher.ok("publish", "style", await publisher.file("style.md", `# Style v${version}\n`));
      publisher.ok("sync");
      const late = [a, b, c][round % 3] as Sandbox;
      await stampAs(late, {
        version: round,
        whenStamped: "stale",
        staleReason: "newer-not-received",
      });
      late.ok("sync");
      // The third has synced v{version} in and pins the previous release anyway.
      const pinning = [a, b, c][(round + 1) % 3] as Sandbox;
      pinning.ok("sync");
      await stampAs(
        pinning,
        { version: round, whenStamped: "stale", staleReason: "held-newer" },
        { pin: `style@${round}` },
      );
      pinning.ok("sync");
    }
    for (const owner of [a, b, c]) owner.ok("sync");

    // agent-c is removed by a; c's home has not synced the removal and keeps stamping offline.
    a.ok("sync");
    a.ok("member", "remove", agents.get(c) as string);
    a.ok("sync");
    await stampAs(
      c,
      { version: 4, whenStamped: "current", staleReason: null },
      { verifies: false },
    );
    c.ok("sync");
    for (const owner of [a, b, c]) owner.ok("sync");

    // The auditor: a fresh home, and only the outputs' bytes (no sidecars).
    const auditor = await home();
    auditor.ok("init");
    auditor.ok("space", "join", url, "--relay", relay.url);
    const auditAll = async (who: Sandbox) => {
      for (const output of expected) {
        const copy = join(who.dir, `copy-${output.path.split("/").pop()}`);
        await writeFile(copy, output.content);
        const run = who.canon("verify", copy, "--json");
        expect(run.status, `${output.path}: ${run.stderr}`).toBe(output.verifies ? 0 : 7);
        const found = run.json<{ stamps: Judged[] }>();
        expect(found.stamps).toHaveLength(1);
        const [verdict] = found.stamps as [Judged];
        expect(verdict.stamp.author).toBe(output.agent);
        expect(verdict.verified).toBe(output.verifies);
        if (!output.verifies)
          expect(verdict.problems).toEqual([
            expect.objectContaining({ code: "refused-by-space", rejection: "backdated" }),
          ]);
        expect(verdict.context).toEqual([
          expect.objectContaining({ standard: "style", ...output.style }),
        ]);
      }
    };
    await auditAll(auditor);
    // 3 rounds of 5 stamps, and the removed agent's late one.
    expect(expected).toHaveLength(16);
    expect(expected.filter((o) => o.style.whenStamped === "stale")).toHaveLength(6);

    // The drift matrix names the three agents.
    const matrix = auditor.ok("agents", "--json").json<{ agents: { did: string }[] }>();
    expect(matrix.agents.map((agent) => agent.did).sort()).toEqual([...agents.values()].sort());

    // Tampering with an output: its bytes are no longer stamped anywhere.
    const first = expected[0] as Expected;
    const changed = join(auditor.dir, "changed.md");
    await writeFile(changed, `${first.content}edited\n`);
    const edited = auditor.canon("verify", changed);
    expect(edited.status).toBe(7);
    expect(edited.stderr).toMatch(/no stamp for .* in the feeds/);
    // Tampering with a sidecar: one byte of its envelope.
    const sidecar = join(auditor.dir, "tampered.canon.json");
    await copyFile(`${first.path}.canon.json`, sidecar);
    const file = JSON.parse(await readFile(sidecar, "utf8"));
    const envelope = Buffer.from(file.envelope, "base64");
    envelope[envelope.length - 3] = (envelope[envelope.length - 3] as number) ^ 1;
    await writeFile(sidecar, JSON.stringify({ ...file, envelope: envelope.toString("base64") }));
    const original = join(auditor.dir, "original.md");
    await writeFile(original, first.content);
    const bad = auditor.canon("verify", original, "--stamp", sidecar, "--json");
    expect(bad.status).toBe(7);
    expect(bad.json<Judged>().problems).toEqual([
      expect.objectContaining({ code: "invalid-record", rejection: "cid-mismatch" }),
    ]);

    // A hostile peer writes into the feeds through Automerge: junk, a forged copy of a
    // stamp claiming another output, and a feed's records map replaced by a string.
    const genuine = core.CanonRecord.parse(file.record);
    const forgedRecord = {
      ...genuine,
      subject: [{ name: "forged.md", digest: { sha256: "ee".repeat(32) } }],
    };
    // The genuine signature over other bytes: well-formed, signed by nobody.
    const { sig } = dagCbor.decode(Buffer.from(file.envelope, "base64")) as { sig: Uint8Array };
    const forgedBytes = dagCbor.encode({ payload: dagCbor.encode(forgedRecord), sig });
    const forgedCid = (await core.recordCid(forgedBytes)).toString();
    let feedsSeen = 0;
    // The removed agent's feed loses its records map: it held the only copy of its refused
    // stamp, which the members' write-back must restore too (or the auditor never finds it).
    await writeAsAttacker(relay.url, spaceDocumentId, ({ space, standards }) => {
      const feeds = Object.entries((space.doc() as { feeds?: Record<string, string> }).feeds ?? {});
      feedsSeen = feeds.length;
      const feedOf = (did: string) => standards.get(feeds.find(([, by]) => by === did)?.[0] ?? "");
      const target = feedOf(agents.get(a) as string);
      const other = feedOf(agents.get(c) as string);
      expect(target && other).toBeTruthy();
      target?.change((doc) => {
        doc.records.junk = "not a record";
        doc.records[forgedCid] = forgedBytes;
      });
      other?.change((doc) => {
        (doc as unknown as Record<string, unknown>).records = "gone";
      });
    });
    expect(feedsSeen).toBe(3);
    // The members' next sync writes back what the peer destroyed.
    for (const owner of [a, b, c]) owner.ok("sync");
    const newcomer = await home();
    newcomer.ok("init");
    newcomer.ok("space", "join", url, "--relay", relay.url);
    await auditAll(newcomer);
    const forged = await newcomer.file("forged.md", "whatever\n");
    expect(newcomer.canon("verify", forged).status).toBe(7);
    const doctor = newcomer.canon("doctor", "--json").json<{
      rejected: { cid: string; code: string }[];
    }>();
    expect(doctor.rejected).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ cid: "junk", code: "not-bytes" }),
        expect.objectContaining({ cid: forgedCid, code: "bad-signature" }),
      ]),
    );
  }, 240_000);
});
