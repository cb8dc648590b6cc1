import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

// Local damage is explained: each failure a replica can meet on its own disk,
// in its terminal or on a dropped connection is named, with what to do, and
// never served or echoed raw. Real processes on real files.

let box: Sandbox;
beforeEach(async () => {
  box = await sandbox();
});
afterEach(async () => {
  await stopAll();
  await box.dispose();
});

/** A home with a space; returns the space document's id. */
function homeWithSpace(on: Sandbox = box): string {
  on.ok("init");
  const { url } = on.ok("space", "create", "local", "--json").json<{ url: string }>();
  return (/^canon:([^/]+)\//.exec(url) as RegExpExecArray)[1] as string;
}

/** Every chunk file of every standard document (every document but the space's) in a home's replica. */
async function standardChunks(home: string, spaceDocumentId: string): Promise<string[]> {
  const replica = join(home, "replica");
  const chunks: string[] = [];
  for (const prefix of await readdir(replica)) {
    const prefixPath = join(replica, prefix);
    if (!(await stat(prefixPath)).isDirectory()) continue;
    for (const rest of await readdir(prefixPath)) {
      if (`${prefix}${rest}` === spaceDocumentId) continue;
      for (const kind of ["snapshot", "incremental"]) {
        const folder = join(prefixPath, rest, kind);
        for (const name of await readdir(folder).catch(() => []))
          if (!name.includes(".tmp-")) chunks.push(join(folder, name));
      }
    }
  }
  return chunks;
}

/** The home's read index file (one space, so one). */
async function readIndexFile(home: string): Promise<string> {
  const names = (await readdir(join(home, "index"))).filter((name) => name.endsWith(".index"));
  expect(names).toHaveLength(1);
  return join(home, "index", names[0] as string);
}

describe("local damage is explained (real processes on real files)", () => {
  it("canon doctor names a truncated chunk of a standard's document with the fix, exits 4, lists it in --json", async () => {
    const spaceId = homeWithSpace();
    box.ok("publish", "style", await box.file("s.md", "style\n"));
    const [chunk, ...others] = await standardChunks(box.home, spaceId);
    expect(chunk).toBeDefined();
    expect(others).toEqual([]);
    await truncate(chunk as string, 20);

    const doctor = box.canon("doctor");
    expect(doctor.status).toBe(4);
    expect(doctor.stdout).toContain(`${chunk}: no header`);
    expect(doctor.stdout).toContain("canon sync");
    expect(doctor.stdout).toContain("backup");
    expect(doctor.stderr).toMatch(/^canon: 1 storage file\(s\) of the replica are damaged/);

    const json = box.canon("doctor", "--json");
    expect(json.status).toBe(4);
    expect(json.json<{ damagedFiles: unknown[] }>().damagedFiles).toEqual([
      {
        path: chunk,
        documentId: expect.any(String),
        kind: "chunk",
        damage: "no header",
        fix: expect.stringContaining("canon sync"),
      },
    ]);

    // Following the advice (move it away) leaves a replica doctor calls sound.
    await rm(chunk as string);
    const after = box.canon("doctor", "--json");
    expect(after.status).toBe(0);
    expect(after.json<{ damagedFiles: unknown[] }>().damagedFiles).toEqual([]);
  });

  it("never serves a read index with one flipped byte: canon show prints the right bytes and version", async () => {
    homeWithSpace();
    box.ok("publish", "style", await box.file("a.md", "one\n"), "-m", "first");
    box.ok("publish", "style", await box.file("b.md", "two\n"), "-m", "second");
    expect(box.ok("show", "style").stdout).toBe("two\n");
    const index = await readIndexFile(box.home);
    // Both caches that can answer `show` (the read index, and the listing cache's shard that holds
    // the latest version of this space's one standard).
    const shards = index.replace(/\.index$/, ".listing.d");
    const [shard] = await readdir(shards);
    const caches = [index, join(shards, shard as string)];
    const goods = await Promise.all(caches.map((file) => readFile(file)));
    for (const [i, file] of caches.entries()) {
      const good = goods[i] as Buffer;
      // The one byte that would make the cache claim version 3 ("2" ^ 1 is "3").
      const at = good.indexOf('"version":2,');
      expect(at).toBeGreaterThan(0);
      const damaged = Buffer.from(good);
      const digit = at + '"version":'.length;
      damaged.writeUInt8(damaged.readUInt8(digit) ^ 0x01, digit);
      await writeFile(file, damaged);
    }

    const shown = box
      .ok("show", "style", "--json")
      .json<{ version: number; content: string; message: string }>();
    expect(shown).toMatchObject({ version: 2, content: "two\n", message: "second" });
    expect(box.ok("show", "style").stdout).toBe("two\n");
    // The slow path rebuilt both, so the next read is fast (and right) again.
    expect(await Promise.all(caches.map((file) => readFile(file)))).toEqual(goods);
  });

  it.skipIf(process.platform === "win32")(
    "refuses to sign with an identity file others can read, says chmod 600, still shows the did",
    async () => {
      homeWithSpace();
      const keyFile = join(box.home, "identities", "default.json");
      const did = box.ok("id", "--json").json<{ did: string }>().did;
      const file = await box.file("s.md", "style\n");
      for (const mode of [0o644, 0o640, 0o604]) {
        await chmod(keyFile, mode);
        const refused = box.canon("publish", "style", file);
        expect(refused.status).toBe(4);
        expect(refused.stderr).toContain("unprotected private key file");
        expect(refused.stderr).toContain(`chmod 600 ${keyFile}`);
        // Reading the public did signs nothing, so it still works.
        expect(box.ok("id", "--json").json<{ did: string }>().did).toBe(did);
      }
      await chmod(keyFile, 0o600);
      box.ok("publish", "style", file);
    },
  );

  it("escapes a standard name's control characters: one line, no raw ESC or newline", () => {
    homeWithSpace();
    const name = "bad\x1b[31mname\n\u202e";
    for (const args of [
      ["show", name], // the fast path of show
      ["show", name, "--json"],
      ["log", name], // the full parser
    ]) {
      const run = box.canon(...args);
      expect(run.status).toBe(3);
      // One line naming the standard as typed, escaped.
      expect(run.stderr).toMatch(
        /^canon: no standard "bad\\x1b\[31mname\\n\\u202e" in this space.*\n$/,
      );
      expect(run.stderr).not.toContain("\x1b");
      expect(run.stderr.trimEnd()).not.toContain("\n");
    }
  });

  it("ends a sync within seconds when the relay is killed mid-sync (exit 5, connection lost)", async () => {
    const relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
    const reader = await sandbox();
    try {
      const relay = await startRelay(relayData);
      box.ok("init");
      const { url } = box.ok("space", "create", "big", "--json").json<{ url: string }>();
      // Enough to take seconds to fetch: eight standards of about 4 MB each.
      for (let i = 0; i < 8; i++) {
        const text = randomBytes(2_900_000).toString("base64");
        box.ok("publish", `big-${i}`, await box.file(`big-${i}.md`, text));
      }
      box.ok("sync", "--relay", relay.url);

      reader.ok("init");
      const started = Date.now();
      const joining = reader.canonAsync(
        "space",
        "join",
        url,
        "--relay",
        relay.url,
        "--timeout",
        "30",
      );
      // Kill the relay once the reader has begun storing what arrives (the space's document comes first).
      const spaceId = (/^canon:([^/]+)\//.exec(url) as RegExpExecArray)[1] as string;
      const spaceFolder = join(reader.home, "replica", spaceId.slice(0, 2), spaceId.slice(2));
      // In its own folder, or in the chunk pack a join writes (`storage/chunk-pack.ts`).
      const packs = join(reader.home, "replica", "packs");
      while (
        !(await stat(spaceFolder).then(
          () => true,
          () => false,
        )) &&
        !(await readdir(packs).then(
          (names) => names.some((name) => name.endsWith(".pack")),
          () => false,
        ))
      ) {
        if (Date.now() - started > 20_000) throw new Error("the reader never began syncing");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await relay.stop("SIGKILL");
      const killedAt = Date.now();
      const joined = await joining;
      if (joined.status === 0) {
        // The bulk answer (`GET /documents`, loopback: tens of milliseconds)
        // brought the whole space before the kill: the join is complete, and
        // every standard reads offline.
        for (let i = 0; i < 8; i++)
          expect(reader.ok("show", `big-${i}`).stdout.length).toBeGreaterThan(3_000_000);
      } else {
        // Killed while the bulk answer streamed or while the WebSocket sync
        // ran: either way the join stops at once and says why.
        expect(joined.stderr).toMatch(/lost the connection|cannot reach relay/);
        expect(joined.status).toBe(5);
        expect(Date.now() - killedAt).toBeLessThan(3_000);
      }
    } finally {
      await reader.dispose();
      await rm(relayData, { recursive: true, force: true });
    }
  }, 120_000);
});
