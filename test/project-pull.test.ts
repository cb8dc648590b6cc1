import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Sandbox } from "./helpers/cli.js";
import { startRelay } from "./helpers/processes.js";
import { agentsProject } from "./helpers/solo-project.js";
import { twoHomesEachTest } from "./helpers/two-homes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
twoHomesEachTest((homes) => ({ a, b, relayData } = homes));

type Status = {
  current: boolean;
  standards: {
    standard: string;
    state: string;
    files: string[];
    versions: { version: number; message: string }[];
    corrections: { text: string; change: string }[];
  }[];
};
type Lock = {
  lockVersion: number;
  standards: Record<
    string,
    { version: number; release: string; files: { path: string; sha256: string }[] }
  >;
};

/** The front matter of a written file, parsed with the yaml library. */
function frontMatter(text: string): Record<string, unknown> {
  const match = /^---\n([\s\S]*?)\n---\n/.exec(text);
  if (!match) throw new Error(`no front matter in ${text.slice(0, 80)}`);
  return parse(match[1] as string) as Record<string, unknown>;
}

/** A owns a space with four single-file standards, synced through a relay; B joins it. */
async function sharedSpace() {
  const relay = await startRelay(relayData);
  a.ok("init");
  const { url } = a.ok("space", "create", "team", "--json").json<{ url: string }>();
  a.ok("publish", "agents", await a.file("agents.md", "# Agents\r\nRun the tests.\r\n"));
  a.ok("publish", "rules/a11y", await a.file("a11y.md", "Every image has alt text.\n"));
  a.ok(
    "publish",
    "rules/angular",
    await a.file("angular.mdc", "---\ndescription: Angular\nglobs: '**/*.ts'\n---\nUse signals.\n"),
  );
  a.ok("publish", "instructions/astro", await a.file("astro.md", "Prefer islands.\n"));
  a.ok("publish", "style", await a.file("style.md", "Short sentences.\n"));
  a.ok("sync", "--relay", relay.url);
  b.ok("space", "join", url, "--relay", relay.url);
  const project = join(b.dir, "project");
  await mkdir(project);
  return { relay, project };
}

describe("canon add, pull, status (real processes, a real relay)", () => {
  it("an empty project adds and pulls each target with its front matter, then status tracks edits, new releases and corrections", async () => {
    const { project } = await sharedSpace();
    const p = ["--project", project];
    b.ok("add", "agents", ...p);
    b.ok(
      "add",
      "rules/a11y",
      "--globs",
      "src/**/*.tsx",
      "--description",
      "Accessibility",
      "--always-apply",
      ...p,
    );
    b.ok("add", "rules/angular", ...p);
    b.ok("add", "instructions/astro", "--apply-to", "**/*.astro", ...p);
    b.ok(
      "add",
      "style",
      "--as",
      "file:docs/style.md",
      "--as",
      "claude-md",
      "--as",
      "copilot-instructions:.github/instructions/style.instructions.md",
      "--apply-to",
      "**",
      ...p,
    );
    const pulled = b.ok("pull", ...p, "--json").json<{ sync: string; standards: unknown[] }>();
    expect(pulled.sync).toBe("synced");
    expect(pulled.standards).toHaveLength(5);

    // Exact bytes where no front matter is needed, CRLF kept.
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe(
      "# Agents\r\nRun the tests.\r\n",
    );
    expect(await readFile(join(project, "docs/style.md"), "utf8")).toBe("Short sentences.\n");
    expect(await readFile(join(project, "CLAUDE.md"), "utf8")).toBe("Short sentences.\n");
    // Front matter from the settings, parsed back.
    const a11y = await readFile(join(project, ".cursor/rules/a11y.mdc"), "utf8");
    expect(frontMatter(a11y)).toEqual({
      description: "Accessibility",
      globs: "src/**/*.tsx",
      alwaysApply: true,
    });
    expect(a11y.endsWith("---\nEvery image has alt text.\n")).toBe(true);
    const astro = await readFile(
      join(project, ".github/instructions/astro.instructions.md"),
      "utf8",
    );
    expect(frontMatter(astro)).toEqual({ applyTo: "**/*.astro" });
    expect(
      frontMatter(
        await readFile(join(project, ".github/instructions/style.instructions.md"), "utf8"),
      ),
    ).toEqual({ applyTo: "**" });
    // Content with its own front matter is written byte for byte.
    expect(await readFile(join(project, ".cursor/rules/angular.mdc"), "utf8")).toBe(
      "---\ndescription: Angular\nglobs: '**/*.ts'\n---\nUse signals.\n",
    );

    // The lock: stable, sorted, every written file with its sha-256.
    const lockText = await readFile(join(project, "canon.lock"), "utf8");
    const lock = JSON.parse(lockText) as Lock;
    expect(lock.lockVersion).toBe(1);
    expect(lock.standards.style?.files.map((f) => f.path)).toEqual([
      ".github/instructions/style.instructions.md",
      "CLAUDE.md",
      "docs/style.md",
    ]);
    b.ok("pull", ...p, "--offline");
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lockText);
    expect(b.ok("status", "--check", ...p, "--json").json<Status>().current).toBe(true);

    // A local edit is "modified", naming the file; --check exits 9.
    await writeFile(join(project, "CLAUDE.md"), "mine\n");
    const modified = b.canon("status", "--check", ...p, "--json");
    expect(modified.status).toBe(9);
    const style = modified.json<Status>().standards.find((s) => s.standard === "style");
    expect(style).toMatchObject({ state: "modified", files: ["CLAUDE.md"] });
    await rm(join(project, "AGENTS.md"));
    expect(
      b
        .canon("status", ...p, "--json")
        .json<Status>()
        .standards.find((s) => s.standard === "agents")?.state,
    ).toBe("missing");

    // A new upstream release and a correction: behind (by which versions, with messages) until pull.
    a.ok(
      "publish",
      "rules/a11y",
      await a.file("a11y2.md", "Every image has alt text. Buttons have names.\n"),
      "-m",
      "buttons too",
    );
    a.ok("correct", "style", "Never more than 20 words a sentence.");
    a.ok("sync");
    b.ok("sync");
    const behind = b.canon("status", "--check", ...p, "--json");
    expect(behind.status).toBe(9);
    const states = behind.json<Status>().standards;
    expect(states.find((s) => s.standard === "rules/a11y")).toMatchObject({
      state: "behind",
      versions: [{ version: 2, message: "buttons too" }],
    });
    const text = b.canon("status", ...p).stdout;
    expect(text).toMatch(/behind\s+rules\/a11y\s+v1 installed, v2 available/);
    expect(text).toContain("buttons too");

    // The local edit is never overwritten silently: pull refuses, writing nothing, until --force.
    const lockBefore = await readFile(join(project, "canon.lock"), "utf8");
    const refused = b.canon("pull", ...p);
    expect(refused.status).toBe(9);
    expect(refused.stderr).toMatch(
      /CLAUDE\.md was edited since the last pull .*nothing was written.*--force/,
    );
    expect(await readFile(join(project, "CLAUDE.md"), "utf8")).toBe("mine\n");
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lockBefore);
    await expect(stat(join(project, "AGENTS.md"))).rejects.toThrow();
    b.ok("pull", "--force", ...p);
    expect(b.ok("status", "--check", ...p).status).toBe(0);
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe(
      "# Agents\r\nRun the tests.\r\n",
    );
    // Single-file Markdown targets get the rendered context; the exact file a companion.
    expect(await readFile(join(project, "CLAUDE.md"), "utf8")).toMatch(
      /^Short sentences\.\n\n## Corrections in force for style@1\n[\s\S]*Never more than 20 words/,
    );
    expect(await readFile(join(project, "docs/style.md"), "utf8")).toBe("Short sentences.\n");
    expect(await readFile(join(project, "docs/style.md.corrections.md"), "utf8")).toMatch(
      /^## Corrections in force for style@1\n[\s\S]*Never more than 20 words/,
    );
    expect(await readFile(join(project, ".cursor/rules/a11y.mdc"), "utf8")).toMatch(
      /---\nEvery image has alt text\. Buttons have names\.\n$/,
    );
  });

  it("--frozen installs exactly the lock, and fails naming the standard once canon.json changes (lock untouched)", async () => {
    const { project } = await sharedSpace();
    const p = ["--project", project];
    b.ok("add", "rules/a11y", ...p);
    b.ok("add", "style", "--as", "agents-md", ...p);
    b.ok("pull", ...p);
    const lockText = await readFile(join(project, "canon.lock"), "utf8");
    // Upstream moves on; --frozen still installs v1 from the lock.
    a.ok("publish", "rules/a11y", await a.file("v2.md", "v2\n"));
    a.ok("sync");
    await rm(join(project, ".cursor"), { recursive: true });
    b.ok("pull", "--frozen", ...p);
    expect(await readFile(join(project, ".cursor/rules/a11y.mdc"), "utf8")).toBe(
      "Every image has alt text.\n",
    );
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lockText);

    // A manifest edit makes the lock stale.
    const manifest = JSON.parse(await readFile(join(project, "canon.json"), "utf8"));
    manifest.standards.style.targets = [{ type: "gemini-md" }];
    await writeFile(join(project, "canon.json"), JSON.stringify(manifest));
    const stale = b.canon("pull", "--frozen", ...p);
    expect(stale.status).toBe(9);
    expect(stale.stderr).toMatch(
      /canon\.lock does not match canon\.json for style: its targets changed/,
    );
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lockText);
    await expect(stat(join(project, "GEMINI.md"))).rejects.toThrow();

    // A lock whose file hash was edited by hand is refused before anything is written.
    manifest.standards.style.targets = [{ type: "agents-md" }];
    await writeFile(join(project, "canon.json"), JSON.stringify(manifest));
    const lock = JSON.parse(lockText);
    lock.standards.style.files[0].sha256 = "0".repeat(64);
    await writeFile(join(project, "canon.lock"), JSON.stringify(lock));
    await rm(join(project, "AGENTS.md"));
    const edited = b.canon("pull", "--frozen", ...p);
    expect(edited.status).toBe(9);
    expect(edited.stderr).toMatch(/AGENTS\.md differs by sha-256/);
    await expect(stat(join(project, "AGENTS.md"))).rejects.toThrow();
  });

  it("pull removes files a target no longer writes, but never a file edited since", async () => {
    const { project } = await sharedSpace();
    const p = ["--project", project];
    b.ok("add", "style", "--as", "file:docs/a.md", "--as", "file:docs/b.md", ...p);
    b.ok("pull", ...p);
    await writeFile(join(project, "docs/b.md"), "edited\n");
    b.ok("add", "style", "--as", "agents-md", ...p);
    const run = b.ok("pull", ...p, "--json").json<{ removed: string[]; kept: string[] }>();
    expect(run).toMatchObject({ removed: ["docs/a.md"], kept: ["docs/b.md"] });
    await expect(stat(join(project, "docs/a.md"))).rejects.toThrow();
    expect(await readFile(join(project, "docs/b.md"), "utf8")).toBe("edited\n");
  });

  it("pull never overwrites a file canon did not write, unless --force", async () => {
    const { project } = await sharedSpace();
    await writeFile(join(project, "AGENTS.md"), "hand-written\n");
    b.ok("add", "agents", "--project", project);
    const refused = b.canon("pull", "--project", project);
    expect(refused.status).toBe(9);
    expect(refused.stderr).toMatch(
      /AGENTS\.md was edited since the last pull \(or not written by canon\)/,
    );
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe("hand-written\n");
    await expect(stat(join(project, "canon.lock"))).rejects.toThrow();
    b.ok("pull", "--force", "--project", project);
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe(
      "# Agents\r\nRun the tests.\r\n",
    );
    // A link put where a target goes is not what canon wrote: replaced by the file, never read nor written through.
    await writeFile(join(b.dir, "elsewhere.md"), "kept\n");
    await rm(join(project, "AGENTS.md"));
    await symlink(join(b.dir, "elsewhere.md"), join(project, "AGENTS.md"));
    b.ok("pull", "--project", project);
    expect((await lstat(join(project, "AGENTS.md"))).isFile()).toBe(true);
    expect(await readFile(join(b.dir, "elsewhere.md"), "utf8")).toBe("kept\n");
  });

  it("status says forked when upstream has two heads, and unknown for a standard the replica lacks", async () => {
    const { project, relay } = await sharedSpace();
    const p = ["--project", project];
    b.ok("init");
    const bDid = b.ok("id", "--json").json<{ did: string }>().did;
    a.ok("member", "add", bDid, "--role", "maintainer");
    a.ok("sync");
    b.ok("sync");
    b.ok("add", "style", "--as", "agents-md", ...p);
    b.ok("pull", ...p);
    // Both publish v2 while apart: a fork once they meet.
    a.ok("publish", "style", await a.file("a2.md", "A's v2\n"));
    b.ok("publish", "style", await b.file("b2.md", "B's v2\n"));
    a.ok("sync");
    b.ok("sync");
    a.ok("sync");
    const forked = b.canon("status", "--check", ...p, "--json");
    expect(forked.status).toBe(9);
    expect(forked.json<Status>().standards[0]).toMatchObject({
      standard: "style",
      state: "forked",
    });
    const manifest = JSON.parse(await readFile(join(project, "canon.json"), "utf8"));
    manifest.standards.ghost = { targets: [{ type: "claude-md" }] };
    await writeFile(join(project, "canon.json"), JSON.stringify(manifest));
    const states = b.canon("status", ...p, "--json").json<Status>().standards;
    expect(states.find((s) => s.standard === "ghost")?.state).toBe("unknown");
    await relay.stop();
  });

  it("a pinned version stays installed while upstream moves on", async () => {
    const { project } = await sharedSpace();
    const p = ["--project", project];
    a.ok("publish", "style", await a.file("v2.md", "Long sentences.\n"));
    a.ok("sync");
    b.ok("add", "style", "--as", "claude-md", "--pin", "1", ...p);
    b.ok("pull", ...p);
    expect(await readFile(join(project, "CLAUDE.md"), "utf8")).toBe("Short sentences.\n");
    expect(b.ok("status", "--check", ...p).status).toBe(0);
    // Adding it again without --as or --pin keeps its targets and pin.
    b.ok("add", "style", ...p);
    const manifest = JSON.parse(await readFile(join(project, "canon.json"), "utf8"));
    expect(manifest.standards.style).toEqual({ version: 1, targets: [{ type: "claude-md" }] });
  });

  it("offline, pull says so and uses the replica", async () => {
    const { project, relay } = await sharedSpace();
    b.ok("add", "agents", "--project", project);
    await relay.stop("SIGKILL");
    const run = b.ok("pull", "--project", project, "--timeout", "3");
    expect(run.stderr).toMatch(/offline: using the replica as of 20\d\d-/);
    expect(await readFile(join(project, "AGENTS.md"), "utf8")).toBe(
      "# Agents\r\nRun the tests.\r\n",
    );
  });
});

describe("bad project input: one line naming the file, the exit status, nothing half-written", () => {
  async function oneHome() {
    a.ok("init");
    a.ok("space", "create", "solo");
    a.ok("publish", "agents", await a.file("agents.md", "# A\n"));
    a.ok("publish", "style", await a.file("style.md", "S\n"));
    const project = join(a.dir, "project");
    await mkdir(project);
    a.ok("add", "agents", "--project", project);
    a.ok("pull", "--project", project);
    return { project, lock: await readFile(join(project, "canon.lock"), "utf8") };
  }

  it("refuses an unknown target type, an unknown standard, a file with no target, and a path leaving the project", async () => {
    const { project } = await oneHome();
    const p = ["--project", project];
    const before = await readFile(join(project, "canon.json"), "utf8");
    const unknownType = a.canon("add", "style", "--as", "vscode", ...p);
    expect(unknownType.status).toBe(2);
    expect(unknownType.stderr).toMatch(
      /unknown target type "vscode"; the types are skill, agents-md, .*file\n$/,
    );
    const unknown = a.canon("add", "agentz", ...p);
    expect(unknown.status).toBe(3);
    expect(unknown.stderr).toMatch(/no standard "agentz" in this space; did you mean agents\?/);
    const nowhere = a.canon("add", "style", ...p);
    expect(nowhere.status).toBe(2);
    expect(nowhere.stderr).toMatch(/say where with --as/);
    expect(a.canon("add", "style", "--as", "file:../outside.md", ...p).status).toBe(2);
    expect(a.canon("add", "style", "--as", "file:/etc/x", ...p).status).toBe(2);
    expect(await readFile(join(project, "canon.json"), "utf8")).toBe(before);
    for (const run of [unknownType, unknown, nowhere])
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("refuses a canon.json naming an unknown standard or a bad field, and a hand-edited lock, leaving the lock untouched", async () => {
    const { project, lock } = await oneHome();
    const p = ["--project", project];
    const manifestPath = join(project, "canon.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    await writeFile(
      manifestPath,
      JSON.stringify({
        ...manifest,
        standards: { ...manifest.standards, stlye: { targets: [{ type: "file", path: "s.md" }] } },
      }),
    );
    const unknown = a.canon("pull", ...p);
    expect(unknown.status).toBe(3);
    expect(unknown.stderr).toContain(
      `${manifestPath}: no standard "stlye" in this space; did you mean style?`,
    );
    await writeFile(
      manifestPath,
      JSON.stringify({ ...manifest, standards: { agents: { targets: [{ type: "windsurf" }] } } }),
    );
    const badType = a.canon("pull", ...p);
    expect(badType.status).toBe(4);
    expect(badType.stderr).toMatch(/canon\.json: field standards\.agents\.targets\.0\.type/);
    await writeFile(
      manifestPath,
      JSON.stringify({
        ...manifest,
        standards: { agents: { targets: [{ type: "file", path: "../x" }] } },
      }),
    );
    const escaping = a.canon("pull", ...p);
    expect(escaping.status).toBe(4);
    expect(escaping.stderr).toMatch(
      /field standards\.agents\.targets\.0\.path: must stay inside the project/,
    );
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lock);

    await writeFile(manifestPath, JSON.stringify(manifest));
    await writeFile(
      join(project, "canon.lock"),
      lock.replace('"lockVersion": 1', '"lockVersion": 2'),
    );
    const badLock = a.canon("status", ...p);
    expect(badLock.status).toBe(4);
    expect(badLock.stderr).toMatch(/canon\.lock: field lockVersion/);
  });

  it("refuses a target reached through a symlink leaving the project, or under a file, writing nothing", async () => {
    const { project, lock } = await oneHome();
    const p = ["--project", project];
    const outside = await mkdtemp(join(tmpdir(), "canon-outside-"));
    try {
      await symlink(outside, join(project, "docs"));
      a.ok("add", "style", "--as", "file:docs/style.md", ...p);
      const escaped = a.canon("pull", ...p);
      expect(escaped.status).toBe(4);
      expect(escaped.stderr).toMatch(/target docs\/style\.md leaves the project through a symlink/);
      expect(execFileSync("ls", ["-A", outside], { encoding: "utf8" })).toBe("");
      expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lock);

      await rm(join(project, "docs"));
      await writeFile(join(project, "docs"), "a file where a directory should be\n");
      const unwritable = a.canon("pull", ...p);
      expect(unwritable.status).toBe(4);
      expect(unwritable.stderr).toMatch(
        /cannot write .*docs\/style\.md: .*docs is not a directory/,
      );
      expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lock);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("a hand-edited lock cannot make pull delete a file outside the project through a symlink", async () => {
    const { project, lock } = await oneHome();
    const outside = await mkdtemp(join(tmpdir(), "canon-outside-"));
    try {
      await writeFile(join(outside, "victim.txt"), "precious\n");
      await symlink(outside, join(project, "link"));
      const edited = JSON.parse(lock);
      edited.standards.agents.files.push({
        path: "link/victim.txt",
        sha256: createHash("sha256").update("precious\n").digest("hex"),
      });
      await writeFile(join(project, "canon.lock"), JSON.stringify(edited));
      a.ok("pull", "--project", project);
      expect(await readFile(join(outside, "victim.txt"), "utf8")).toBe("precious\n");
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("refuses two targets writing the same path, naming both standards", async () => {
    const { project, lock } = await oneHome();
    const manifestPath = join(project, "canon.json");
    const before = await readFile(manifestPath, "utf8");
    // add refuses it before writing canon.json, ignoring case, and under another's folder too.
    for (const as of ["agents-md", "file:agents.MD"]) {
      const refused = a.canon("add", "style", "--as", as, "--project", project);
      expect(refused.status).toBe(4);
      expect(refused.stderr).toMatch(/agents and style both write (AGENTS\.md|agents\.MD)/);
      expect(await readFile(manifestPath, "utf8")).toBe(before);
    }
    a.ok("add", "style", "--as", "skill:.claude/skills/style", "--project", project);
    const inside = a.canon(
      "add",
      "agents",
      "--as",
      "file:.claude/skills/Style/notes.md",
      "--project",
      project,
    );
    expect(inside.status).toBe(4);
    expect(inside.stderr).toMatch(/agents and style both write under \.claude\/skills\/style/);
    // A canon.json edited by hand into a clash is refused by pull, the lock untouched.
    const manifest = JSON.parse(before);
    manifest.standards.style = { targets: [{ type: "agents-md" }] };
    await writeFile(manifestPath, JSON.stringify(manifest));
    const clash = a.canon("pull", "--project", project);
    expect(clash.status).toBe(4);
    expect(clash.stderr).toMatch(/agents and style both write AGENTS\.md/);
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lock);
  });

  it("refuses two targets that are one file once Unicode-normalised and case-folded (café, CAFE\u0301), names kept as written", async () => {
    const { project, lock } = await oneHome();
    const manifestPath = join(project, "canon.json");
    const composed = "docs/caf\u00e9.md";
    const decomposed = "docs/CAFE\u0301.md";
    a.ok("add", "agents", "--as", `file:${composed}`, "--project", project);
    const before = await readFile(manifestPath, "utf8");
    // The name as written is stored unchanged (NFC only for the check).
    expect(JSON.parse(before).standards.agents.targets).toContainEqual({
      type: "file",
      path: composed,
    });
    const refused = a.canon("add", "style", "--as", `file:${decomposed}`, "--project", project);
    expect(refused.status).toBe(4);
    expect(refused.stderr).toContain(`agents and style both write ${decomposed}`);
    expect(await readFile(manifestPath, "utf8")).toBe(before);
    // A canon.json edited by hand into the clash is refused by pull before any write.
    const manifest = JSON.parse(before);
    manifest.standards.style = { targets: [{ type: "file", path: decomposed }] };
    await writeFile(manifestPath, JSON.stringify(manifest));
    const clash = a.canon("pull", "--project", project);
    expect(clash.status).toBe(4);
    expect(clash.stderr).toContain(
      `agents and style both write ${decomposed} (as ${composed}, the same file ignoring case and Unicode normalisation)`,
    );
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lock);
    await expect(stat(join(project, composed))).rejects.toThrow();
  });
});

describe("canon run", () => {
  it("passes the environment and the exit status through, stamps outputs on success, refuses a stale lock with --frozen", async () => {
    const { project, p } = await agentsProject(a);
    a.ok("add", "agents", ...p);
    const env = a.ok(
      "run",
      ...p,
      "--",
      process.execPath,
      "-e",
      "console.log(process.env.CANON_LOCK + '|' + process.env.CANON_CONTEXT_DIR)",
    );
    expect(env.stdout.trim()).toBe(`${join(project, "canon.lock")}|${project}`);
    expect(a.canon("run", ...p, "--", process.execPath, "-e", "process.exit(3)").status).toBe(3);
    expect(a.canon("run", ...p, "--", "sh", "-c", "kill -TERM $$").status).toBe(143);
    expect(a.canon("run", ...p, "--", "no-such-command-here").status).toBe(3);

    // Outputs matching the glob are stamped after a successful run, and verify.
    const stamped = a.ok(
      "run",
      ...p,
      "--stamp",
      "out/*.md",
      "--",
      "sh",
      "-c",
      "mkdir -p out && echo hi > out/one.md && echo yo > out/two.md",
    );
    expect(stamped.stderr).toMatch(/stamped .*one\.md/);
    const verdict = a
      .canon("verify", join(a.dir, "out/two.md"), "--json")
      .json<{ verified: boolean; context: { standard: string }[] }>();
    expect(verdict.verified).toBe(true);
    expect(verdict.context.map((c) => c.standard)).toEqual(["agents"]);
    // A failing run stamps nothing.
    a.canon(
      "run",
      ...p,
      "--stamp",
      "fail/*.md",
      "--",
      "sh",
      "-c",
      "mkdir -p fail && echo x > fail/f.md && exit 1",
    );
    await expect(stat(join(a.dir, "fail/f.md.canon.json"))).rejects.toThrow();

    // --frozen refuses to start on a stale lock.
    a.ok("publish", "style", await a.file("style.md", "S\n"));
    a.ok("add", "style", "--as", "claude-md", ...p);
    const refused = a.canon("run", "--frozen", ...p, "--", "sh", "-c", "touch ran");
    expect(refused.status).toBe(9);
    expect(refused.stderr).toMatch(/for style: it is not in the lock/);
    await expect(stat(join(a.dir, "ran"))).rejects.toThrow();
  });
});
