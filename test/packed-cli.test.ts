import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type AutomergeUrl,
  generateAutomergeUrl,
  interpretAsDocumentId,
  type PeerId,
  Repo,
} from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as store from "../packages/store/dist/index.js";
import { type InstalledCli, installCliFromTarball } from "./helpers/packed.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

/**
 * The CLI as a user installs it (packed, then `npm install -g`ed into a
 * scratch prefix) runs Canon's patched automerge-repo, bundled into it
 * (docs/decisions/2026-11-30-packaging.md), not the one npm would install:
 * each test observes something only the patch does.
 */
let installed: InstalledCli;
const cleanup: string[] = [];
beforeAll(async () => {
  installed = await installCliFromTarball();
  cleanup.push(installed.scratch);
}, 300_000);
afterAll(async () => {
  await stopAll();
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(dir);
  return dir;
}

/** Runs the installed CLI on `home` (no owner process) and fails unless it exits 0. */
function canon(home: string, ...args: string[]): string {
  const run = spawnSync(process.execPath, [installed.bin, ...args], {
    env: { PATH: process.env.PATH ?? "", CANON_HOME: home, CANON_NO_OWNER: "1" },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (run.status !== 0)
    throw new Error(`canon ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

/** The files a document's chunks are stored in (`<id[0..2]>/<id[2..]>/<kind>/<name>`), under `directory`. */
async function chunkFiles(directory: string, documentId: string): Promise<string[]> {
  const files: string[] = [];
  for (const kind of ["snapshot", "incremental"]) {
    const folder = join(directory, documentId.slice(0, 2), documentId.slice(2), kind);
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names) files.push(join(folder, name));
  }
  return files;
}

/** The frames of the relay's bulk answer for a space: what it sends a joining home. */
async function bulkAnswer(relay: RelayProcess, spaceDocumentId: string) {
  const response = await fetch(`http://127.0.0.1:${relay.port}/documents/${spaceDocumentId}`);
  expect(response.status).toBe(200);
  const body = new Uint8Array(await response.arrayBuffer());
  const reading = store.readDocumentFrames(
    (async function* () {
      yield body;
    })(),
    { maxDocumentBytes: 2 ** 25, maxTotalBytes: 2 ** 28 },
  );
  const frames: store.DocumentFrame[] = [];
  for (;;) {
    const next = await reading.next();
    if (next.done === true) {
      expect(next.value, "the bulk answer was refused").toBeUndefined();
      return frames;
    }
    frames.push(next.value);
  }
}

/** A figure of the relay's `/metrics` (a gauge or a counter without labels). */
async function metric(relay: RelayProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  const value = new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1];
  if (value === undefined) throw new Error(`no ${name} in the metrics: ${text}`);
  return Number(value);
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((done) => setTimeout(done, 200));
  }
}

describe("the CLI installed from its tarball runs Canon's patched automerge-repo", () => {
  it("has no automerge-repo installed beside it to load: npm installs Automerge alone", async () => {
    const installedDirs = (
      await readdir(join(installed.scratch, "prefix"), { recursive: true, withFileTypes: true })
    ).filter((entry) => entry.isDirectory() && entry.name.startsWith("automerge-repo"));
    expect(installedDirs.map((entry) => join(entry.parentPath, entry.name))).toEqual([]);
    const require = createRequire(installed.bin);
    expect(() => require.resolve("@automerge/automerge-repo")).toThrow(/Cannot find module/);
    expect(require.resolve("@automerge/automerge")).toContain(installed.packageDir);
  });

  it("stores each document a join takes in exactly as the relay sent it (the patch's saveLoaded), not encoded again", async () => {
    const relay = await startRelay(await scratch("canon-packed-relay-"), { bin: installed.bin });
    const work = await scratch("canon-packed-join-");
    const owner = join(work, "owner");
    canon(owner, "init");
    const { url } = JSON.parse(canon(owner, "space", "create", "packed", "--json")) as {
      url: string;
    };
    // A first version past 1 KB, then a small one: the relay stores the standard's document
    // as a snapshot and an incremental chunk, which no `Automerge.save` reproduces.
    const file = join(work, "style.md");
    await writeFile(file, `${randomBytes(6000).toString("base64")}\n`);
    canon(owner, "publish", "style", file, "-m", "first");
    canon(owner, "sync", "--relay", relay.url);
    await writeFile(file, "short\n");
    canon(owner, "publish", "style", file, "-m", "second");
    canon(owner, "sync", "--relay", relay.url);

    const spaceDocumentId = url.slice("canon:".length).split("/")[0] as string;
    const sent = await bulkAnswer(relay, spaceDocumentId);
    const chunked = [];
    for (const frame of sent)
      if ((await chunkFiles(relay.data, frame.documentId)).length > 1) chunked.push(frame);
    expect(chunked.length, "no document the relay stores in several chunks").toBeGreaterThan(0);

    const newcomer = join(work, "newcomer");
    canon(newcomer, "init");
    const joined = JSON.parse(
      canon(newcomer, "space", "join", url, "--relay", relay.url, "--json"),
    );
    expect(joined).toMatchObject({ inBulk: sent.length, exchanged: 0 });
    // Read as the replica reads them (its files carry a checksum header; a join's documents
    // sit in one chunk pack until something writes to them).
    const replica = new store.FileStorage(join(newcomer, "replica"));
    for (const frame of sent) {
      const stored = (await replica.loadRange([frame.documentId])).filter(
        (chunk) => chunk.key[1] === "snapshot" || chunk.key[1] === "incremental",
      );
      expect(stored, frame.documentId).toHaveLength(1);
      expect(stored[0]?.key[1], frame.documentId).toBe("snapshot");
      const bytes = stored[0]?.data as Uint8Array;
      expect(
        Buffer.from(bytes).equals(Buffer.from(frame.bytes)),
        `${frame.documentId}: stored bytes are not the relay's`,
      ).toBe(true);
    }
    // A joined home (its documents in a chunk pack) still answers `show` on the hot path.
    const shown = spawnSync(
      process.execPath,
      [
        "--require",
        resolve(import.meta.dirname, "helpers/automerge-probe.cjs"),
        installed.bin,
        "show",
        "style",
      ],
      {
        env: { PATH: process.env.PATH ?? "", CANON_HOME: newcomer, CANON_NO_OWNER: "1" },
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(shown.stdout).toBe("short\n");
    expect(shown.stderr).toContain("automerge:not loaded");
    expect(shown.stderr).toContain("zod:not loaded");
  }, 120_000);

  it("runs a relay that drops the handles of ids nobody had (the patch's removeFromCache), which npm's keeps for ever", async () => {
    const relay = await startRelay(await scratch("canon-packed-evict-"), {
      bin: installed.bin,
      flags: ["--evict-after", "1"],
    });
    const prober = new Repo({
      network: [new WebSocketClientAdapter(relay.url)],
      peerId: `prober-${Date.now()}` as PeerId,
      sharePolicy: async () => true,
    });
    const asked = Array.from({ length: 5 }, () => generateAutomergeUrl());
    try {
      await prober.networkSubsystem.whenReady();
      await Promise.all(
        asked.map((url) =>
          prober
            .find(url as AutomergeUrl, { allowableStates: ["ready", "unavailable"] })
            .catch(() => undefined),
        ),
      );
      // The relay answered each: it had none (its handles of them are now "unavailable").
      const states = asked.map((url) => prober.handles[interpretAsDocumentId(url)]?.state);
      expect(states).toEqual(asked.map(() => "unavailable"));
    } finally {
      await prober.shutdown();
    }
    // Swept every half second once idle for one: all five evicted (counted), none left.
    const evictedAll = async () =>
      (await metric(relay, "canon_relay_evicted_documents_total")) >= asked.length &&
      (await metric(relay, "canon_relay_documents_in_memory")) === 0;
    expect(await waitFor(evictedAll, 15_000)).toBe(true);
  }, 60_000);

  it("answers `canon show` without loading Automerge or zod (the agent's hot path stays free of the bundled automerge-repo and of schemas)", async () => {
    const home = join(await scratch("canon-packed-show-"), "home");
    canon(home, "init");
    canon(home, "space", "create", "hot");
    const file = join(home, "..", "style.md");
    await writeFile(file, "Plain words.\n");
    canon(home, "publish", "style", file);
    canon(home, "show", "style");
    const probe = resolve(import.meta.dirname, "helpers/automerge-probe.cjs");
    const shown = spawnSync(
      process.execPath,
      ["--require", probe, installed.bin, "show", "style"],
      {
        env: { PATH: process.env.PATH ?? "", CANON_HOME: home, CANON_NO_OWNER: "1" },
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(shown.stdout).toBe("Plain words.\n");
    expect(shown.stderr).toContain("automerge:not loaded");
    expect(shown.stderr).toContain("zod:not loaded");
  });
});
