import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { Sandbox } from "./helpers/cli.js";
import { type Background, startCanon, startRelay } from "./helpers/processes.js";
import { soloSpace } from "./helpers/solo-project.js";
import { twoHomesEachTest } from "./helpers/two-homes.js";

// Two `canon pull`s of one project: real processes, the project's pull lock (canon.pull.lock).

let a: Sandbox;
let b: Sandbox;
let relayData: string;
twoHomesEachTest((homes) => ({ a, b, relayData } = homes));

type Lock = {
  standards: Record<string, { version: number; files: { path: string; sha256: string }[] }>;
};

const FILES = 80;

/** A folder of {@link FILES} files, each naming `version`: a bundle whose pull writes many files. */
async function bundle(sandbox: Sandbox, version: number): Promise<string> {
  const folder = join(sandbox.dir, `docs-v${version}`);
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, "SKILL.md"),
    `---\nname: docs\ndescription: v${version}\n---\nv${version}\n`,
  );
  for (let i = 0; i < FILES; i++)
    await writeFile(join(folder, `page-${i}.md`), `page ${i} of version ${version}\n`);
  return folder;
}

/**
 * A's home holds v2 of `docs` (a bundle) and `style`; B's home, synced before
 * A published v2, holds v1. The project (canon.json written by A) installs
 * both; a pull with `--offline` in either home installs its own version.
 */
async function twoVersions() {
  const relay = await startRelay(relayData);
  a.ok("init");
  const { url } = a.ok("space", "create", "team", "--json").json<{ url: string }>();
  a.ok("publish", "docs", await bundle(a, 1));
  a.ok("publish", "style", await a.file("style-v1.md", "Short sentences (v1).\n"));
  a.ok("sync", "--relay", relay.url);
  b.ok("space", "join", url, "--relay", relay.url);
  a.ok("publish", "docs", await bundle(a, 2));
  a.ok("publish", "style", await a.file("style-v2.md", "Short sentences (v2).\n"));
  const project = join(a.dir, "project");
  await mkdir(project);
  a.ok("add", "docs", "--as", "skill:skills/docs", "--project", project);
  a.ok("add", "style", "--as", "file:STYLE.md", "--project", project);
  return project;
}

/**
 * The project is exactly one pull's result: every file the lock names holds
 * the bytes it names, every standard is at the same version (2 from A's
 * home, 1 from B's), and the written files say that version.
 */
async function expectOnePullsResult(project: string): Promise<number> {
  const lock = JSON.parse(await readFile(join(project, "canon.lock"), "utf8")) as Lock;
  const versions = new Set(Object.values(lock.standards).map((entry) => entry.version));
  expect(versions.size).toBe(1);
  const [version] = [...versions] as [number];
  for (const entry of Object.values(lock.standards))
    for (const file of entry.files) {
      const bytes = await readFile(join(project, file.path));
      expect(createHash("sha256").update(bytes).digest("hex"), file.path).toBe(file.sha256);
    }
  expect(await readFile(join(project, "skills/docs/page-7.md"), "utf8")).toBe(
    `page 7 of version ${version}\n`,
  );
  expect(await readFile(join(project, "STYLE.md"), "utf8")).toBe(
    `Short sentences (v${version}).\n`,
  );
  expect(existsSync(join(project, "canon.pull.lock"))).toBe(false);
  return version;
}

/**
 * Starts `canon pull --offline` (or `canon <args>`) in `home` and stops it
 * (SIGSTOP) once it holds the project's pull lock, named as its holder.
 */
async function pullStoppedHoldingLock(
  home: string,
  project: string,
  args: readonly string[] = ["pull", "--offline", "--project", project],
): Promise<Background> {
  const lockDir = join(project, "canon.pull.lock");
  // The holder file is written just after the lock is taken: once it is there, the lock names its process.
  const holderFile = join(project, "canon.pull.lock.holder");
  for (let attempt = 0; attempt < 20; attempt++) {
    const pull = startCanon(args, home);
    while (!existsSync(holderFile) && pull.child.exitCode === null) await sleep(1);
    if (pull.child.exitCode === null) {
      pull.child.kill("SIGSTOP");
      // Still held once stopped (it may have released it in between): then the test can go on.
      if (existsSync(holderFile)) return pull;
      pull.child.kill("SIGCONT");
    }
    await pull.stop("SIGKILL");
    await rm(lockDir, { recursive: true, force: true });
    await rm(holderFile, { force: true });
  }
  throw new Error(`no canon ${args[0]} was caught holding the lock in 20 attempts`);
}

/** Resolves with the exit status of a process started in the background. */
function exited(process: Background): Promise<number | null> {
  return new Promise((resolve) => {
    if (process.child.exitCode !== null) resolve(process.child.exitCode);
    else process.child.once("exit", resolve);
  });
}

/**
 * Starts `canon <args>` in `home` while `holder` (a pull, or the `held`
 * command, stopped holding the project's lock) runs, checks it waits, saying
 * so with the holder's command and process and leaving canon.json as it was,
 * then lets the holder go on and waits for both to end.
 */
async function waitsForStoppedPull(
  holder: Background,
  project: string,
  home: string,
  args: readonly string[],
  held = "pull",
): Promise<{ holder: number | null; waiting: number | null; stderr: string }> {
  const manifest = await readFile(join(project, "canon.json"), "utf8");
  const waiting = startCanon(args, home);
  let stderr = "";
  waiting.child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const deadline = Date.now() + 20_000;
  while (
    !stderr.includes("waiting for it to finish") &&
    waiting.child.exitCode === null &&
    Date.now() < deadline
  )
    await sleep(20);
  expect(stderr).toMatch(
    new RegExp(
      `another canon ${held} \\(process ${holder.pid}\\) is writing .*; waiting for it to finish`,
    ),
  );
  expect(waiting.child.exitCode).toBe(null);
  expect(await readFile(join(project, "canon.json"), "utf8")).toBe(manifest);
  holder.child.kill("SIGCONT");
  return { holder: await exited(holder), waiting: await exited(waiting), stderr };
}

describe("two canon pulls of one project", () => {
  it("started together, they run one after the other: the lock and every target are one pull's result, never a mix", async () => {
    const project = await twoVersions();
    const seen = new Set<number>();
    for (let round = 0; round < 3; round++) {
      const [fromA, fromB] = await Promise.all([
        a.canonAsync("pull", "--offline", "--project", project),
        b.canonAsync("pull", "--offline", "--project", project),
      ]);
      expect(fromA.status, fromA.stderr).toBe(0);
      expect(fromB.status, fromB.stderr).toBe(0);
      seen.add(await expectOnePullsResult(project));
    }
    // And each home alone installs its own version.
    a.ok("pull", "--offline", "--project", project);
    expect(await expectOnePullsResult(project)).toBe(2);
    b.ok("pull", "--offline", "--project", project);
    expect(await expectOnePullsResult(project)).toBe(1);
    expect([...seen].every((version) => version === 1 || version === 2)).toBe(true);
  });

  it("a pull waits while another holds the lock, saying so, then runs on what that one wrote", async () => {
    const project = await twoVersions();
    const holder = await pullStoppedHoldingLock(a.home, project);
    const waiting = startCanon(["pull", "--offline", "--project", project], b.home);
    let stderr = "";
    waiting.child.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    const deadline = Date.now() + 20_000;
    while (!stderr.includes("waiting for it to finish") && Date.now() < deadline) await sleep(20);
    expect(stderr).toMatch(
      new RegExp(
        `another canon pull \\(process ${holder.pid}\\) is writing .*; waiting for it to finish`,
      ),
    );
    // The waiting pull has written nothing while the first is stopped.
    expect(waiting.child.exitCode).toBe(null);
    holder.child.kill("SIGCONT");
    expect(await exited(holder)).toBe(0);
    expect(await exited(waiting)).toBe(0);
    // B's pull ran second: v1 everywhere, over A's v2 (its files matched the lock A wrote).
    expect(await expectOnePullsResult(project)).toBe(1);
  });

  it("a lock left by a killed pull never blocks for ever: the next pull takes it over once stale", async () => {
    const project = await twoVersions();
    const killed = await pullStoppedHoldingLock(a.home, project);
    await killed.stop("SIGKILL");
    expect(existsSync(join(project, "canon.pull.lock"))).toBe(true);
    const next = b.canon("pull", "--offline", "--project", project);
    expect(next.status, next.stderr).toBe(0);
    expect(await expectOnePullsResult(project)).toBe(1);
  });

  it("a target may not be the pull lock or its holder file", async () => {
    const project = await twoVersions();
    for (const path of ["canon.pull.lock", "Canon.Pull.Lock.holder", "canon.pull.lock/x.md"]) {
      const refused = a.canon("add", "style", "--as", `file:${path}`, "--project", project);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(
        /must not be canon\.json or canon\.lock, nor canon\.pull\.lock/,
      );
    }
  });
});

describe("canon add and canon import take the pull lock", () => {
  it("an add while a pull writes the project waits for it, then writes canon.json over what the pull read", async () => {
    const project = await twoVersions();
    const holder = await pullStoppedHoldingLock(a.home, project);
    const ended = await waitsForStoppedPull(holder, project, b.home, [
      "add",
      "style",
      "--as",
      "file:GUIDE.md",
      "--project",
      project,
    ]);
    expect(ended.holder).toBe(0);
    expect(ended.waiting, ended.stderr).toBe(0);
    // The pull wrote A's v2 as canon.json stood before the add; the add came after it.
    expect(await expectOnePullsResult(project)).toBe(2);
    const manifest = JSON.parse(await readFile(join(project, "canon.json"), "utf8")) as {
      standards: Record<string, { targets: { type: string; path?: string }[] }>;
    };
    expect(manifest.standards.style?.targets).toEqual([{ type: "file", path: "GUIDE.md" }]);
    expect(manifest.standards.docs?.targets).toEqual([{ type: "skill", path: "skills/docs" }]);
  });

  it("an import while a pull writes the project waits for it, then publishes, records and pulls after it", async () => {
    await twoVersions();
    // A project of `style` alone (import would also take the skill folder a pull of `docs` writes for a skill of its own).
    const project = join(a.dir, "imported");
    await mkdir(project);
    a.ok("add", "style", "--as", "file:STYLE.md", "--project", project);
    await writeFile(join(project, "AGENTS.md"), "Run the tests before committing.\n");
    // B's pull (v1) holds the lock; A, a maintainer of the space, imports.
    const holder = await pullStoppedHoldingLock(b.home, project);
    const ended = await waitsForStoppedPull(holder, project, a.home, ["import", project]);
    expect(ended.holder).toBe(0);
    expect(ended.waiting, ended.stderr).toBe(0);
    const lock = JSON.parse(await readFile(join(project, "canon.lock"), "utf8")) as Lock;
    // The import's own pull ran last, from A's home: v2 of style over B's v1, and the imported AGENTS.md.
    expect(Object.keys(lock.standards).sort()).toEqual(["agents", "style"]);
    expect(lock.standards.style?.version).toBe(2);
    expect(await readFile(join(project, "STYLE.md"), "utf8")).toBe("Short sentences (v2).\n");
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe(
      "Run the tests before committing.\n",
    );
    expect(existsSync(join(project, "canon.pull.lock"))).toBe(false);
  });

  it("a pull waiting on an import or an add names that command, not a pull", async () => {
    await twoVersions();
    const project = join(a.dir, "imported");
    await mkdir(project);
    a.ok("add", "style", "--as", "file:STYLE.md", "--project", project);
    await writeFile(join(project, "AGENTS.md"), "Run the tests before committing.\n");
    const importing = await pullStoppedHoldingLock(a.home, project, ["import", project]);
    const afterImport = await waitsForStoppedPull(
      importing,
      project,
      a.home,
      ["pull", "--offline", "--project", project],
      "import",
    );
    expect(afterImport.holder).toBe(0);
    expect(afterImport.waiting, afterImport.stderr).toBe(0);
    expect(afterImport.stderr).not.toMatch(/another canon pull/);
    const adding = await pullStoppedHoldingLock(a.home, project, [
      "add",
      "style",
      "--as",
      "file:GUIDE.md",
      "--project",
      project,
    ]);
    const afterAdd = await waitsForStoppedPull(
      adding,
      project,
      a.home,
      ["pull", "--offline", "--project", project],
      "add",
    );
    expect(afterAdd.holder).toBe(0);
    expect(afterAdd.waiting, afterAdd.stderr).toBe(0);
  });

  it("an add into a folder that does not exist yet makes it (the lock lives there); an add refused leaves no folder behind", async () => {
    soloSpace(a);
    a.ok("publish", "agents", await a.file("agents.md", "# A\n"));
    const refused = a.canon("add", "nosuch", "--project", join(a.dir, "new", "project"));
    expect(refused.status, refused.stderr).not.toBe(0);
    expect(refused.stderr).toMatch(/nosuch/);
    expect(existsSync(join(a.dir, "new"))).toBe(false);
    const project = join(a.dir, "new", "project");
    a.ok("add", "agents", "--project", project);
    expect(JSON.parse(await readFile(join(project, "canon.json"), "utf8")).standards).toEqual({
      agents: { targets: [{ type: "agents-md" }] },
    });
    expect(existsSync(join(project, "canon.pull.lock"))).toBe(false);
    a.ok("pull", "--project", project);
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe("# A\n");
  });
});
