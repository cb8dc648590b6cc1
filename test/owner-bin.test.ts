import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { type OwnerHomes, type OwnerRun, ownerHomes, until } from "./helpers/owner-homes.js";

// The installed bin is the CommonJS `dist/canon.cjs` (packages/cli/src/bin.ts): it sends a
// routed command to the home's owner with only `node:` modules loaded, and imports
// `canon.mjs` for everything else. See docs/decisions/2026-11-30-round-trip.md ("Second round").

let dir: string;
let homes: OwnerHomes;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-owner-bin-"));
  homes = ownerHomes(dir);
});
afterEach(() => homes.killOwners());
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `node <bin> args` in `home`, owner processes allowed. */
function runBin(
  bin: string,
  home: string,
  args: readonly string[],
  extra: Record<string, string> = {},
): Promise<OwnerRun> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: homes.env(home, extra), cwd: dir, timeout: 60_000 },
      (error, stdout, stderr) =>
        done({
          status: error ? (typeof error.code === "number" ? error.code : null) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

describe("the CommonJS bin", () => {
  it("is what the package installs as `canon`", async () => {
    const manifest = JSON.parse(
      await readFile(resolve(import.meta.dirname, "../packages/cli/package.json"), "utf8"),
    ) as { bin: { canon: string } };
    expect(manifest.bin.canon).toBe("./dist/canon.cjs");
    expect(CANON_BIN.endsWith("canon.cjs")).toBe(true);
  });

  it("sends a routed command to a running owner with nothing but itself loaded", async () => {
    const { home, file } = await homes.homeWithSpace("alone");
    await homes.startOwner(home);
    // The bin copied alone into an empty folder: no canon.mjs, no chunks beside it.
    const lonely = join(await mkdtemp(join(dir, "lonely-")), "canon.cjs");
    await copyFile(CANON_BIN, lonely);
    await writeFile(file, "version 2\n");
    const published = await runBin(lonely, home, ["publish", "s", file, "--json"]);
    expect(published.status, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ standard: "s", version: 2 });
    // Anything the owner does not run needs the files beside it (show.cjs, canon.mjs), not there.
    for (const args of [
      ["show", "s"],
      ["log", "s"],
    ]) {
      const other = await runBin(lonely, home, args);
      expect(other.status).not.toBe(0);
      expect(other.stderr).toMatch(/Cannot find module .*(show\.cjs|canon\.mjs)/);
    }
    // The real bin, beside canon.mjs, shows it.
    expect((await runBin(CANON_BIN, home, ["show", "s"])).stdout).toBe("version 2\n");
  });

  it("answers the plainest show from the read index with show.cjs alone beside it; anything else goes on in canon.mjs", async () => {
    const { home } = await homes.homeWithSpace("reads");
    const folder = await mkdtemp(join(dir, "reads-"));
    const lonely = join(folder, "canon.cjs");
    await copyFile(CANON_BIN, lonely);
    await copyFile(join(dirname(CANON_BIN), "show.cjs"), join(folder, "show.cjs"));
    const alone = { CANON_NO_OWNER: "1" };
    // The caches are current (the publish wrote them): no ES module is needed.
    const shown = await runBin(lonely, home, ["show", "s"], alone);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toBe("version 1\n");
    expect((await runBin(lonely, home, ["show", "s@1"], alone)).stdout).toBe("version 1\n");
    // A standard the index does not hold, and --json, are the full path's (canon.mjs, absent here).
    for (const args of [
      ["show", "missing"],
      ["show", "s", "--json"],
    ]) {
      const full = await runBin(lonely, home, args, alone);
      expect(full.status).not.toBe(0);
      expect(full.stderr).toMatch(/canon\.mjs/);
    }
    // The real bin answers them as before.
    const missing = await runBin(CANON_BIN, home, ["show", "missing"], alone);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toMatch(/no standard "missing"/);
    expect(
      JSON.parse((await runBin(CANON_BIN, home, ["show", "s", "--json"], alone)).stdout),
    ).toMatchObject({
      standard: "s",
      version: 1,
    });
  });

  it("keeps commander's answers through an owner and without one: a typo exits 2 with the suggestion, --help prints help", async () => {
    const { home } = await homes.homeWithSpace("typos");
    for (const owned of [false, true]) {
      if (owned) await homes.startOwner(home);
      const typo = await runBin(CANON_BIN, home, ["publsh", "s", "x.md"]);
      expect(typo.status).toBe(2);
      expect(typo.stderr).toMatch(/unknown command 'publsh'.*publish/);
      // Routed: run by the owner's commander when one runs, exit status relayed.
      const flag = await runBin(CANON_BIN, home, ["publish", "s", "x.md", "--bogus"]);
      expect(flag.status).toBe(2);
      expect(flag.stderr).toMatch(/unknown option '--bogus'/);
      const help = await runBin(CANON_BIN, home, ["--help"]);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/Usage: canon/);
      const publishHelp = await runBin(CANON_BIN, home, ["publish", "--help"]);
      expect(publishHelp.status).toBe(0);
      expect(publishHelp.stdout).toMatch(/Usage: canon publish/);
      expect((await runBin(CANON_BIN, home, ["--version"])).stdout).toBe("0.1.0\n");
    }
  });

  it("falls back on a stale socket after kill -9 of the owner, which lost nothing it reported done, and starts a new owner", async () => {
    const { home, file } = await homes.homeWithSpace("stale");
    const owner = await homes.startOwner(home);
    await writeFile(file, "version 2\n");
    expect((await runBin(CANON_BIN, home, ["publish", "s", file])).status).toBe(0);
    owner.kill("SIGKILL");
    await new Promise((done) => owner.once("exit", done));
    // The socket file is left behind, stale: the bin imports canon.mjs, which does the work.
    await writeFile(file, "version 3\n");
    const published = await runBin(CANON_BIN, home, ["publish", "s", file, "--json"]);
    expect(published.status, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ version: 3 });
    const pid = await until("an owner started on demand", () => homes.ownerPid(home));
    homes.track(pid);
    expect(pid).not.toBe(owner.pid);
    const log = JSON.parse(
      (await homes.ok(home, ["log", "s", "--json"], { CANON_NO_OWNER: "1" })).stdout,
    );
    const entries = (Array.isArray(log) ? log : (log.entries ?? log.releases)) as {
      version: number;
    }[];
    expect(entries.map((entry) => entry.version).sort()).toEqual([1, 2, 3]);
  });
});
