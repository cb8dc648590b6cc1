import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startCanon, startRelay, stopAll } from "./helpers/processes.js";

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

/**
 * A relay; the owner's space `pub` holding `style` v1, synced to it; the
 * agent initialised, made a member with `role`, and joined through the relay.
 */
async function agentJoined(role: "contributor" | "maintainer") {
  const relay = await startRelay(relayData);
  owner.ok("init");
  const { url } = owner.ok("space", "create", "pub", "--json").json<{ url: string }>();
  owner.ok("publish", "style", await owner.file("s.md", "# Style v1\n"));
  const did = agent.ok("init", "--json").json<{ did: string }>().did;
  owner.ok("member", "add", did, "--role", role);
  owner.ok("sync", "--relay", relay.url);
  agent.ok("space", "join", url, "--relay", relay.url);
  return { relay, url, did };
}

describe("stamp feeds (real processes and relay)", () => {
  it("an offline stamp goes out at the next sync; a fresh auditor verifies the output alone, and by stamp CID", async () => {
    const { relay, url, did } = await agentJoined("contributor");

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

describe("stamping with a forked standard", () => {
  it("warns on stderr and signs the fork into the stamp; verify reports it", async () => {
    await agentJoined("maintainer");
    // Two maintainers publish v2 apart: a fork once both sync.
    owner.ok("publish", "style", await owner.file("s.md", "# Style v2 by the owner\n"));
    agent.ok("publish", "style", await agent.file("s.md", "# Style v2 by the other\n"));
    owner.ok("sync");
    agent.ok("sync");
    owner.ok("sync");
    const output = await owner.file("forked.md", "Made while forked.\n");
    const stamped = owner.ok("stamp", output, "--standard", "style", "--json");
    expect(stamped.stderr).toMatch(/warning: style is forked/);
    expect(stamped.json<{ warnings: unknown[] }>().warnings).toEqual([
      { code: "forked", standard: "style" },
    ]);
    const verdict = owner.ok("verify", output, "--json");
    expect(verdict.json<{ warnings: unknown[] }>().warnings).toEqual([
      { code: "forked", standard: "style" },
    ]);
    expect(owner.ok("verify", output).stdout).toMatch(/warned {3}style: the standard was forked/);
  });
});

describe("stamps live through a running watch", () => {
  it("a stamp made while the agent's watch runs reaches an auditor's watch without a sync", async () => {
    const { relay, url } = await agentJoined("contributor");
    auditor.ok("init");
    auditor.ok("space", "join", url, "--relay", relay.url);

    const agentWatch = startCanon(["watch", "--json"], agent.home);
    const auditorWatch = startCanon(["watch", "--json"], auditor.home);
    await agentWatch.waitForLine((line) => line.includes('"connected"'));
    await auditorWatch.waitForLine((line) => line.includes('"connected"'));
    const output = await agent.file("live.md", "Written while watching.\n");
    const stamped = agent.ok("stamp", output, "--json").json<{ cid: string }>();
    // Neither home runs `sync`: the agent's watch sends it, the auditor's receives it.
    await auditorWatch.waitForLine((line) => line.includes(stamped.cid), 30_000);
    await agentWatch.stop("SIGINT");
    await auditorWatch.stop("SIGINT");
    const copy = await auditor.file("live.md", "Written while watching.\n");
    expect(auditor.ok("verify", copy, "--json").json<Found>().stamps[0]?.stamp.cid).toBe(
      stamped.cid,
    );
  });
});

interface Judged {
  verified: boolean;
  staleWhenStamped: boolean;
  context: {
    version: number;
    whenStamped: string;
    staleReason: string | null;
    heldVersion: number | null;
    newerWhenStamped: number[];
    supersededSince: boolean;
    newerSince: number[];
  }[];
  missedCorrections: { cid: string; staleReason: string }[];
  laterCorrections: { cid: string }[];
  warnings: { code: string; standard: string }[];
}

describe("what the agent knew when it stamped", () => {
  it("tells current-when-stamped from superseded-since, and held-newer from newer-not-received; --strict exits 10", async () => {
    const { relay, url, did } = await agentJoined("contributor");

    // Current when stamped, superseded since once v2 comes out.
    const first = await agent.file("first.md", "First.\n");
    agent.ok("stamp", first);
    agent.ok("sync");
    // v2 and a correction exist, but the agent does not sync before stamping: a sync problem.
    owner.ok("publish", "style", await owner.file("s.md", "# Style v2\n"));
    const missed = owner
      .ok("correct", "style", "Shorter sentences.", "--json")
      .json<{ cid: string }>();
    owner.ok("sync");
    const second = await agent.file("second.md", "Second.\n");
    agent.ok("stamp", second);
    agent.ok("sync");
    // The agent now holds v2 and pins v1 anyway: an agent problem.
    const third = await agent.file("third.md", "Third.\n");
    agent.ok("stamp", third, "--standard", "style@1");
    // Two versions at once: warned on stderr and signed into the stamp.
    const fourth = await agent.file("fourth.md", "Fourth.\n");
    const both = agent.ok("stamp", fourth, "--standard", "style@1", "--standard", "style@2");
    expect(both.stderr).toMatch(/warning: style is named at several versions/);
    agent.ok("sync");
    const later = owner.ok("correct", "style", "Even shorter.", "--json").json<{ cid: string }>();
    owner.ok("sync");

    auditor.ok("init");
    auditor.ok("space", "join", url, "--relay", relay.url);
    const judge = async (name: string, content: string) => {
      const copy = await auditor.file(name, content);
      const found = auditor.ok("verify", copy, "--json").json<{ stamps: Judged[] }>();
      expect(found.stamps).toHaveLength(1);
      return { copy, verdict: found.stamps[0] as Judged };
    };
    const a = await judge("first.md", "First.\n");
    expect(a.verdict.context).toEqual([
      expect.objectContaining({
        version: 1,
        whenStamped: "current",
        staleReason: null,
        heldVersion: 1,
        supersededSince: true,
        newerSince: [2],
      }),
    ]);
    expect(a.verdict.staleWhenStamped).toBe(false);
    expect(a.verdict.laterCorrections.map((c) => c.cid).sort()).toEqual(
      [missed.cid, later.cid].sort(),
    );
    expect(auditor.canon("verify", a.copy, "--strict").status).toBe(0);

    const b = await judge("second.md", "Second.\n");
    expect(b.verdict.context).toEqual([
      expect.objectContaining({
        version: 1,
        whenStamped: "stale",
        staleReason: "newer-not-received",
        heldVersion: 1,
        newerWhenStamped: [2],
      }),
    ]);
    expect(b.verdict.missedCorrections).toEqual([
      expect.objectContaining({ cid: missed.cid, staleReason: "newer-not-received" }),
    ]);
    expect(b.verdict.laterCorrections.map((c) => c.cid)).toEqual([later.cid]);
    const strict = auditor.canon("verify", b.copy, "--strict");
    expect(strict.status).toBe(10);
    expect(strict.stdout).toMatch(/had not reached the agent's replica/);

    const c = await judge("third.md", "Third.\n");
    expect(c.verdict.context).toEqual([
      expect.objectContaining({
        version: 1,
        whenStamped: "stale",
        staleReason: "held-newer",
        heldVersion: 2,
      }),
    ]);
    expect(c.verdict.missedCorrections).toEqual([]);

    // The drift matrix: the agent's newest stamp named v1 and v2; it is on v2, behind by the correction signed after it.
    const matrix = auditor.ok("agents", "--json").json<{
      standards: { standard: string; latestVersion: number }[];
      agents: {
        did: string;
        stamps: number;
        standards: {
          standard: string;
          version: number;
          behindVersions: number;
          behindCorrections: number;
        }[];
      }[];
    }>();
    expect(matrix.standards).toEqual([{ standard: "style", latestVersion: 2 }]);
    expect(matrix.agents).toEqual([
      expect.objectContaining({
        did,
        stamps: 4,
        standards: [
          expect.objectContaining({
            standard: "style",
            version: 2,
            behindVersions: 0,
            behindCorrections: 1,
          }),
        ],
      }),
    ]);
    expect(auditor.ok("agents").stdout).toMatch(/style \(v2\)[\s\S]*v2 -1c\s+4\s/);

    const d = await judge("fourth.md", "Fourth.\n");
    expect(d.verdict.warnings).toEqual([{ code: "several-versions", standard: "style" }]);
    expect(d.verdict.context.map((entry) => [entry.version, entry.whenStamped])).toEqual([
      [1, "stale"],
      [2, "current"],
    ]);
  });
});
