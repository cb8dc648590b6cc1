import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { publishBundleThroughLibrary } from "./helpers/library-writer.js";
import { agentsProject, emptyProject, soloSpace } from "./helpers/solo-project.js";

let a: Sandbox;
beforeEach(async () => {
  a = await sandbox();
});
afterEach(async () => {
  await a.dispose();
});

describe("hostile canon.json and canon.lock", () => {
  it("standards named like Object.prototype members (constructor, toString) add, pull and show in status like any other", async () => {
    soloSpace(a);
    a.ok("publish", "constructor", await a.file("c.md", "# C\n"));
    a.ok("publish", "toString", await a.file("t.md", "# T\n"));
    const { project, p } = await emptyProject(a);
    // No canon.json yet: nothing is "already there" under a prototype member's name.
    const nowhere = a.canon("add", "constructor", ...p);
    expect(nowhere.status).toBe(2);
    expect(nowhere.stderr).toMatch(/say where with --as/);
    expect(a.ok("add", "constructor", "--as", "file:c.md", ...p).stdout).toMatch(
      /^Added constructor/,
    );
    a.ok("pull", ...p);
    expect(a.ok("add", "toString", "--as", "file:t.md", ...p).stdout).toMatch(/^Added toString/);
    const before = a
      .ok("status", "--json", ...p)
      .json<{ standards: { standard: string; detail: string }[] }>();
    expect(before.standards.find((s) => s.standard === "toString")?.detail).toMatch(
      /not in canon\.lock/,
    );
    a.ok("pull", ...p);
    expect(await readFile(join(project, "c.md"), "utf8")).toBe("# C\n");
    expect(await readFile(join(project, "t.md"), "utf8")).toBe("# T\n");
    const status = a
      .ok("status", "--json", ...p)
      .json<{ current: boolean; standards: { standard: string; state: string }[] }>();
    expect(status.standards.map((s) => [s.standard, s.state])).toEqual([
      ["constructor", "current"],
      ["toString", "current"],
    ]);
    a.ok("pull", "--frozen", ...p);
  });

  it("refuses a canon.json or canon.lock whose standard key is not a standard name (__proto__), naming the file", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    a.ok("pull", ...p);
    const manifestPath = join(project, "canon.json");
    const manifest = await readFile(manifestPath, "utf8");
    const lockPath = join(project, "canon.lock");
    const lock = await readFile(lockPath, "utf8");
    await writeFile(
      manifestPath,
      manifest.replace(
        '"standards": {',
        '"standards": {"__proto__": {"targets": [{"type": "claude-md"}]},',
      ),
    );
    const proto = a.canon("pull", ...p);
    expect(proto.status).toBe(4);
    expect(proto.stderr).toMatch(/canon\.json: field standards\.__proto__/);
    expect(proto.stderr.trim().split("\n")).toHaveLength(1);
    await writeFile(manifestPath, manifest);
    await writeFile(lockPath, lock.replace('"standards": {', '"standards": {"__proto__": {},'));
    const protoLock = a.canon("status", ...p);
    expect(protoLock.status).toBe(4);
    expect(protoLock.stderr).toMatch(/canon\.lock: field standards\.__proto__/);
  });

  it("run --stamp prints the files it stamped with their control characters escaped (a file named to rewrite the terminal)", async () => {
    const { p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    const run = a.ok(
      "run",
      ...p,
      "--stamp",
      "out/*.md",
      "--",
      "sh",
      "-c",
      "mkdir -p out && echo hi > \"out/$(printf 'x\\033]0;owned\\007\\033[2K').md\"",
    );
    expect(run.stderr).toContain("stamped x\\x1b]0;owned\\x07\\x1b[2K.md → ");
    expect(run.stderr).toContain("out/x\\x1b]0;owned\\x07\\x1b[2K.md.canon.json");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what must not appear.
    expect(run.stderr).not.toMatch(/[\u001b\u0007]/);
  });

  it("a FIFO or a link to /dev/zero where canon.lock names a file does not hang status or pull: it is not the file canon wrote", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    a.ok("pull", ...p);
    const agentsMd = join(project, "AGENTS.md");
    for (const plant of [
      () => execFileSync("mkfifo", [agentsMd]),
      () => symlink("/dev/zero", agentsMd),
    ]) {
      await rm(agentsMd);
      await plant();
      const status = a.canon("status", "--json", ...p);
      expect(status.status).toBe(0);
      expect(status.json<{ standards: { state: string; detail: string }[] }>().standards).toEqual([
        expect.objectContaining({ state: "missing", detail: "absent: AGENTS.md" }),
      ]);
      a.ok("pull", ...p);
      expect(await readFile(agentsMd, "utf8")).toBe("# A\n");
    }
  });

  it("a canon.lock linked to /dev/zero or a canon.json that is a FIFO is refused in one line naming it, not read forever", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    a.ok("pull", ...p);
    await rm(join(project, "canon.lock"));
    await symlink("/dev/zero", join(project, "canon.lock"));
    for (const command of ["status", "pull"]) {
      const run = a.canon(command, ...p);
      expect(run.status).toBe(4);
      expect(run.stderr).toMatch(/canon\.lock is not a regular file/);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
    await rm(join(project, "canon.lock"));
    await rm(join(project, "canon.json"));
    execFileSync("mkfifo", [join(project, "canon.json")]);
    const fifo = a.canon("pull", ...p);
    expect(fifo.status).toBe(4);
    expect(fifo.stderr).toMatch(/canon\.json is not a regular file/);
  });

  it("import never publishes a file or skill folder reached through a symbolic link leaving the repository (a secret, /proc/self/environ)", async () => {
    soloSpace(a);
    const secret = await a.file("secret.txt", "SECRET=hunter2\n");
    const outside = join(a.dir, "outside-skills");
    await mkdir(join(outside, "x"), { recursive: true });
    await writeFile(join(outside, "x", "SKILL.md"), "---\nname: x\ndescription: y\n---\nSECRET\n");
    const repo = join(a.dir, "repo");
    const cases: [string, () => Promise<void>][] = [
      ["CLAUDE.md", () => symlink(secret, join(repo, "CLAUDE.md"))],
      ["GEMINI.md", () => symlink("/proc/self/environ", join(repo, "GEMINI.md"))],
      [".claude/skills/x", () => symlink(outside, join(repo, ".claude", "skills"))],
    ];
    for (const [path, plant] of cases) {
      await rm(repo, { recursive: true, force: true });
      await mkdir(join(repo, ".claude"), { recursive: true });
      await writeFile(join(repo, "AGENTS.md"), "# Agents\n");
      await plant();
      const imported = a.canon("import", repo);
      expect(imported.status).toBe(2);
      expect(imported.stderr).toContain(`${path} leads outside ${repo} through a symbolic link`);
      expect(imported.stderr.trim().split("\n")).toHaveLength(1);
      expect(a.ok("ls", "--json").json<{ standards: unknown[] }>().standards).toEqual([]);
      await expect(readFile(join(repo, "canon.json"))).rejects.toThrow();
    }
    // A link to a file inside the repository is followed as before.
    await rm(join(repo, ".claude", "skills"));
    await writeFile(join(repo, "notes.md"), "# Claude\n");
    await symlink("notes.md", join(repo, "CLAUDE.md"));
    a.ok("import", repo);
    expect(a.ok("show", "claude").stdout).toBe("# Claude\n");
  });

  it("run --stamp never follows a linked folder out of the tree, so no stamp file is written outside it", async () => {
    const { p } = await agentsProject(a);
    const outside = join(a.dir, "elsewhere");
    await mkdir(outside);
    await writeFile(join(outside, "victim.md"), "not yours\n");
    a.ok("add", "agents", ...p);
    await mkdir(join(a.dir, "out"));
    await symlink(outside, join(a.dir, "out", "ext"));
    a.ok("run", ...p, "--stamp", "out/**/*.md", "--", "sh", "-c", "echo hi > out/mine.md");
    expect(await readFile(join(a.dir, "out", "mine.md.canon.json"), "utf8")).toMatch(/"stamp"/);
    await expect(readFile(join(outside, "victim.md.canon.json"))).rejects.toThrow();
  });

  it("a peer's bundle with a file name longer than file systems take is refused by pull before any file is written", async () => {
    soloSpace(a);
    await publishBundleThroughLibrary(a.home, "skills/x", [
      { path: "SKILL.md", text: "---\nname: x\ndescription: y\n---\n" },
      { path: "a.md", text: "A\n" },
      { path: "z".repeat(250), text: "Z\n" },
    ]);
    const { project, p } = await emptyProject(a);
    a.ok("add", "skills/x", ...p);
    const pulled = a.canon("pull", ...p);
    expect(pulled.status).not.toBe(0);
    expect(pulled.stderr).toMatch(
      /a name in it is 250 bytes, longer than file systems take.*nothing was written/,
    );
    expect(pulled.stderr.trim().split("\n")).toHaveLength(1);
    await expect(readFile(join(project, ".claude", "skills", "x", "SKILL.md"))).rejects.toThrow();
    await expect(readFile(join(project, "canon.lock"))).rejects.toThrow();
    const exported = a.canon("export", "skills/x", join(a.dir, "exported"));
    expect(exported.status).not.toBe(0);
    expect(exported.stderr).toMatch(/a name in it is 250 bytes, .*nothing was written/);
    await expect(readFile(join(a.dir, "exported", "SKILL.md"))).rejects.toThrow();
  });

  it("no target may be canon.json or canon.lock themselves (pull --force would overwrite the manifest)", async () => {
    const { project, p } = await agentsProject(a);
    const added = a.canon("add", "agents", "--as", "file:canon.json", ...p);
    expect(added.status).toBe(2);
    expect(added.stderr).toMatch(/must not be canon\.json or canon\.lock/);
    const manifest = JSON.stringify({
      standards: { agents: { targets: [{ type: "file", path: "CANON.LOCK" }] } },
    });
    await writeFile(join(project, "canon.json"), manifest);
    const pulled = a.canon("pull", "--force", ...p);
    expect(pulled.status).toBe(4);
    expect(pulled.stderr).toMatch(/targets\.0\.path: must not be canon\.json or canon\.lock/);
    expect(await readFile(join(project, "canon.json"), "utf8")).toBe(manifest);
  });
});

describe("sixth pass: canon.json, canon.lock and flags from a repository someone else wrote", () => {
  it("add --pin naming no release (0, -3, 99, 300 characters) is refused in one line and canon.json is left as it was", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    const manifestPath = join(project, "canon.json");
    const manifest = await readFile(manifestPath, "utf8");
    for (const pin of ["0", "-3", "99", "x".repeat(300)]) {
      const added = a.canon("add", "agents", "--pin", pin, ...p);
      expect(added.status, pin).not.toBe(0);
      expect(added.stderr, pin).toMatch(/no version|neither a version/);
      expect(added.stderr.trim().split("\n")).toHaveLength(1);
      expect(await readFile(manifestPath, "utf8")).toBe(manifest);
    }
    // The project still reads: a pin that exists is taken.
    a.ok("add", "agents", "--pin", "1", ...p);
    a.ok("pull", ...p);
    a.ok("pull", "--frozen", ...p);
  });

  it("a peer's bundle file near its path limit under a skill folder: the canon.lock pull writes is read back by status and pull", async () => {
    soloSpace(a);
    const deep = `${Array.from({ length: 4 }, () => "d".repeat(99)).join("/")}/${"f".repeat(100)}`;
    await publishBundleThroughLibrary(a.home, "skills/deep", [
      { path: "SKILL.md", text: "---\nname: deep\ndescription: y\n---\n" },
      { path: deep, text: "deep\n" },
    ]);
    const { project, p } = await emptyProject(a);
    a.ok("add", "skills/deep", ...p);
    a.ok("pull", ...p);
    expect(await readFile(join(project, ".claude", "skills", "deep", deep), "utf8")).toBe("deep\n");
    const status = a.canon("status", ...p);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/current\s+skills\/deep/);
    a.ok("pull", ...p);
    a.ok("pull", "--frozen", ...p);
  });

  it("canon.json and canon.lock saved with a byte order mark (Notepad, PowerShell) are read", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    a.ok("pull", ...p);
    for (const name of ["canon.json", "canon.lock"]) {
      const path = join(project, name);
      await writeFile(path, `\uFEFF${await readFile(path, "utf8")}`);
    }
    const status = a.canon("status", ...p);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/current\s+agents/);
    a.ok("pull", "--frozen", ...p);
  });

  it("targets Windows reads as canon.json, canon.lock or .git (a trailing dot or space, a :stream, a short name) or as a device are refused, by add and in canon.json", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    const manifestPath = join(project, "canon.json");
    const manifest = await readFile(manifestPath, "utf8");
    for (const path of [
      "canon.json.",
      "CANON.LOCK ",
      "canon.json::$DATA",
      "CANON~1.JSO",
      ".git::$INDEX_ALLOCATION/hooks/pre-commit",
      "git~1:x/config",
      "aux.md",
      "docs/NUL",
      "notes?.md",
    ]) {
      const added = a.canon("add", "agents", "--as", `file:${path}`, ...p);
      expect(added.status, path).toBe(2);
      expect(added.stderr, path).toMatch(/own files|\.git folder|Windows can hold/);
      expect(await readFile(manifestPath, "utf8")).toBe(manifest);
      const written = JSON.stringify({
        standards: { agents: { targets: [{ type: "file", path }] } },
      });
      await writeFile(manifestPath, written);
      const pulled = a.canon("pull", "--force", ...p);
      expect(pulled.status, path).toBe(4);
      expect(pulled.stderr).toMatch(/targets\.0\.path: /);
      expect(await readFile(manifestPath, "utf8")).toBe(written);
      await writeFile(manifestPath, manifest);
    }
    // Names that only look alike are still fine.
    a.ok("add", "agents", "--as", "file:console.md", ...p);
    a.ok("pull", ...p);
  });

  it("a compact canon.json of 17,000 standards (0.9 MB): add refuses to write it back indented past the 1 MiB every command reads, and leaves it as it was", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    const manifestPath = join(project, "canon.json");
    const { space } = JSON.parse(await readFile(manifestPath, "utf8")) as { space: string };
    const standards: Record<string, unknown> = {};
    for (let i = 0; i < 17_000; i++)
      standards[`s${i}`] = { targets: [{ type: "file", path: `p${i}` }] };
    standards.agents = { targets: [{ type: "agents-md" }] };
    const compact = JSON.stringify({ space, standards });
    await writeFile(manifestPath, compact);
    const added = a.canon("add", "agents", "--as", "file:X.md", ...p);
    expect(added.status).toBe(4);
    expect(added.stderr).toMatch(/canon\.json would be \d+ bytes, over the 1048576 .*unchanged/);
    expect(await readFile(manifestPath, "utf8")).toBe(compact);
  });

  it("import skips a skill folder no target may name (skills/aux, a device on Windows) instead of writing a canon.json no command reads", async () => {
    soloSpace(a);
    const repo = join(a.dir, "repo");
    await mkdir(join(repo, "skills", "aux"), { recursive: true });
    await writeFile(
      join(repo, "skills", "aux", "SKILL.md"),
      "---\nname: aux\ndescription: d\n---\n",
    );
    await writeFile(join(repo, "AGENTS.md"), "Run the tests.\n");
    const imported = a.canon("import", repo);
    expect(imported.status, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(
      /skills\/aux: .*not a path every file system holds; not imported/,
    );
    const status = a.canon("status", "--project", repo);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/current\s+agents/);
    expect(status.stdout).not.toMatch(/aux/);
  });

  it("a canon.json, or an output's stamp file, linked to /proc/self/pagemap (0 bytes by its size, gigabytes read) is refused in one line, not read into memory", async () => {
    const { project, p } = await agentsProject(a);
    await symlink("/proc/self/pagemap", join(project, "canon.json"));
    const status = a.canon("status", ...p);
    expect(status.status).not.toBe(0);
    expect(status.stderr).toMatch(/canon\.json/);
    expect(status.stderr.trim().split("\n")).toHaveLength(1);
    const output = await a.file("out.txt", "an output\n");
    await symlink("/proc/self/pagemap", `${output}.canon.json`);
    const verified = a.canon("verify", output);
    expect(verified.status).not.toBe(0);
    expect(verified.stderr).toMatch(/out\.txt\.canon\.json/);
    expect(verified.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a canon.json linked to a secret (a credentials file) is refused without quoting a byte of it", async () => {
    const { project, p } = await emptyProject(a);
    const secret = await a.file("credentials", "aws_secret_access_key=hunter2hunter2hunter2\n");
    await symlink(secret, join(project, "canon.json"));
    const status = a.canon("status", ...p);
    expect(status.status).toBe(4);
    expect(status.stderr).toMatch(/canon\.json is not JSON/);
    expect(status.stderr).not.toMatch(/aws_|secret|hunter/);
    expect(status.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a peer's bundle file under .git::$INDEX_ALLOCATION (the .git folder on NTFS) is refused by pull before anything is written", async () => {
    soloSpace(a);
    await publishBundleThroughLibrary(a.home, "skills/hook", [
      { path: "SKILL.md", text: "---\nname: hook\ndescription: y\n---\n" },
      { path: ".git::$INDEX_ALLOCATION/hooks/pre-commit", text: "#!/bin/sh\necho owned\n" },
    ]);
    const { project, p } = await emptyProject(a);
    a.ok("add", "skills/hook", ...p);
    const pulled = a.canon("pull", ...p);
    expect(pulled.status).not.toBe(0);
    expect(pulled.stderr).toMatch(/inside a \.git folder.*nothing was written/);
    await expect(
      readFile(join(project, ".claude", "skills", "hook", "SKILL.md")),
    ).rejects.toThrow();
    await expect(readFile(join(project, "canon.lock"))).rejects.toThrow();
  });
});
