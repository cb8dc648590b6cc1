import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

const FIXTURE = resolve(import.meta.dirname, "fixtures/public-context/repo");

let lead: Sandbox;
let second: Sandbox;
let relayData: string;
beforeEach(async () => {
  lead = await sandbox();
  second = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await stopAll();
  await lead.dispose();
  await second.dispose();
  await rm(relayData, { recursive: true, force: true });
});

/** Every regular file under a directory (relative path → bytes and executable bit), canon.json/canon.lock left out. */
async function tree(root: string): Promise<Map<string, { bytes: Buffer; executable: boolean }>> {
  const out = new Map<string, { bytes: Buffer; executable: boolean }>();
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        const rel = relative(root, path);
        if (rel === "canon.json" || rel === "canon.lock" || rel === ".gitattributes") continue;
        out.set(rel, {
          bytes: await readFile(path),
          executable: ((await lstat(path)).mode & 0o111) !== 0,
        });
      }
    }
  };
  await walk(root);
  return out;
}

type Status = {
  current: boolean;
  standards: { standard: string; state: string; files: string[] }[];
};

describe("canon import refuses a bad folder before publishing anything", () => {
  it("a symlink loop in a skill folder: one line naming it, exit 2, nothing published, no canon.json", async () => {
    lead.ok("init");
    lead.ok("space", "create", "team");
    const repo = join(lead.dir, "repo");
    await mkdir(join(repo, ".claude/skills/fine"), { recursive: true });
    await writeFile(join(repo, ".claude/skills/fine/SKILL.md"), "---\nname: fine\n---\n");
    await mkdir(join(repo, ".claude/skills/loop"), { recursive: true });
    await writeFile(join(repo, ".claude/skills/loop/SKILL.md"), "---\nname: loop\n---\n");
    await symlink("b", join(repo, ".claude/skills/loop/a"));
    await symlink("a", join(repo, ".claude/skills/loop/b"));
    await writeFile(join(repo, "AGENTS.md"), "# A\n");
    const run = lead.canon("import", repo);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(/loop\/a/);
    expect(lead.ok("ls", "--json").json<{ standards: unknown[] }>().standards).toEqual([]);
    await expect(lstat(join(repo, "canon.json"))).rejects.toThrow();
  });
});

describe("canon import of a project whose canon.json already writes the files it finds", () => {
  it("imports each as the standard canon.json gives it: nothing new, canon.json kept, an edit published as that standard, two edits of one standard refused", async () => {
    lead.ok("init");
    lead.ok("space", "create", "team");
    const repo = join(lead.dir, "repo");
    await mkdir(join(lead.dir, "docs"), { recursive: true });
    await writeFile(join(lead.dir, "docs/SKILL.md"), "---\nname: docs\n---\nRead the docs.\n");
    await writeFile(join(lead.dir, "style.md"), "Write plainly.\n");
    lead.ok("publish", "docs", join(lead.dir, "docs"));
    lead.ok("publish", "style", join(lead.dir, "style.md"));
    // `docs` is a skill whose default target is .claude/skills/docs/, which import alone would call skills/docs;
    // AGENTS.md and CLAUDE.md are both targets of `style`, which import alone would call agents and claude.
    lead.ok("add", "docs", "--project", repo);
    lead.ok("add", "style", "--as", "agents-md", "--as", "claude-md", "--project", repo);
    lead.ok("pull", "--project", repo);
    const manifest = await readFile(join(repo, "canon.json"), "utf8");
    type Imported = { imported: { standard: string; path: string; published: boolean }[] };
    const again = lead.ok("import", repo, "--json").json<Imported>();
    expect(again.imported.map(({ standard, published }) => [standard, published]).sort()).toEqual([
      ["docs", false],
      ["style", false],
      ["style", false],
    ]);
    expect(await readFile(join(repo, "canon.json"), "utf8")).toBe(manifest);
    expect(
      lead.ok("ls", "--json").json<{ standards: { name: string }[] }>().standards,
    ).toHaveLength(2);
    // One target edited: published as the standard it is a target of; the pull then writes it to the other.
    await writeFile(join(repo, "CLAUDE.md"), "Write plainly, and briefly.\n");
    expect(lead.ok("import", repo).stdout).toMatch(/published\s+style@2\s+from CLAUDE\.md/);
    expect(await readFile(join(repo, "canon.json"), "utf8")).toBe(manifest);
    expect(await readFile(join(repo, "AGENTS.md"), "utf8")).toBe("Write plainly, and briefly.\n");
    // Both edited differently: refused before anything is published.
    await writeFile(join(repo, "AGENTS.md"), "One.\n");
    await writeFile(join(repo, "CLAUDE.md"), "Two.\n");
    const both = lead.canon("import", repo);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/AGENTS\.md and CLAUDE\.md are both targets of style/);
    expect(lead.ok("log", "style").stdout).toMatch(/^style@2 {2}\(latest\)/);
  });
});

describe("a lead imports a real repository's context; a second home adds and pulls it (real processes, a real relay)", () => {
  it("gives a byte-identical tree with exec bits, then tracks edits, new releases and --frozen", async () => {
    const relay = await startRelay(relayData);
    // The lead's repository: a copy of the public fixture.
    const repo = join(lead.dir, "repo");
    await cp(FIXTURE, repo, { recursive: true });
    lead.ok("init");
    const { url } = lead.ok("space", "create", "team", "--json").json<{ url: string }>();
    const imported = lead
      .ok("import", repo, "--json")
      .json<{ imported: { standard: string; published: boolean }[] }>();
    expect(imported.imported.map((entry) => entry.standard).sort()).toEqual([
      "agents",
      "claude",
      "instructions/a11y",
      "instructions/astro",
      "rules/angular-typescript",
      "rules/anti-overengineering",
      "skills/algorithmic-art",
      "skills/brand-guidelines",
      "skills/house-style",
      "skills/webapp-testing",
    ]);
    expect(imported.imported.every((entry) => entry.published)).toBe(true);
    // The import leaves the repository's files exactly as they were.
    expect(await tree(repo)).toEqual(await tree(FIXTURE));
    // Importing again without changes publishes nothing.
    const again = lead.ok("import", repo);
    expect(again.stdout).toMatch(/0 published, 10 unchanged/);
    expect(lead.ok("log", "skills/house-style", "--json").stdout).not.toContain('"version": 2');
    const manifest = JSON.parse(await readFile(join(repo, "canon.json"), "utf8"));
    expect(manifest.standards["skills/algorithmic-art"].targets).toEqual([
      { type: "skill", path: ".github/skills/algorithmic-art" },
    ]);
    lead.ok("sync", "--relay", relay.url);

    // A second home joins; an empty project adds every standard by name (default targets) and pulls.
    second.ok("space", "join", url, "--relay", relay.url);
    const project = join(second.dir, "project");
    await mkdir(project);
    const p = ["--project", project];
    for (const entry of imported.imported) {
      const path = manifest.standards[entry.standard].targets[0].path;
      second.ok("add", entry.standard, ...(path ? ["--as", `skill:${path}`] : []), ...p);
    }
    second.ok("pull", ...p);
    const got = await tree(project);
    const want = await tree(FIXTURE);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [path, file] of want) {
      const mine = got.get(path);
      expect(mine?.bytes.equals(file.bytes), `${path} bytes`).toBe(true);
      expect(mine?.executable, `${path} executable bit`).toBe(file.executable);
    }
    expect(got.get(".claude/skills/house-style/scripts/check.sh")?.executable).toBe(true);
    expect(second.ok("status", "--check", ...p).status).toBe(0);

    // A local edit is "modified", naming the file.
    await writeFile(join(project, ".claude/skills/webapp-testing/SKILL.md"), "changed\n");
    const modified = second.canon("status", "--check", ...p, "--json");
    expect(modified.status).toBe(9);
    expect(
      modified.json<Status>().standards.find((s) => s.standard === "skills/webapp-testing"),
    ).toMatchObject({
      state: "modified",
      files: [".claude/skills/webapp-testing/SKILL.md"],
    });
    expect(second.canon("pull", ...p).status).toBe(9);
    second.ok("pull", "--force", ...p);

    // A new upstream release of a skill folder: behind until pull, which writes the new file.
    await writeFile(join(repo, ".claude/skills/house-style/NOTES.md"), "new file\n");
    lead.ok("import", repo);
    lead.ok("sync");
    second.ok("sync");
    const lockBefore = await readFile(join(project, "canon.lock"), "utf8");
    expect(
      second
        .canon("status", "--json", ...p)
        .json<Status>()
        .standards.find((s) => s.standard === "skills/house-style")?.state,
    ).toBe("behind");
    // --frozen installs exactly the lock (v1, without the new file).
    await rm(join(project, ".claude"), { recursive: true });
    second.ok("pull", "--frozen", "--offline", ...p);
    expect(await readFile(join(project, "canon.lock"), "utf8")).toBe(lockBefore);
    await expect(lstat(join(project, ".claude/skills/house-style/NOTES.md"))).rejects.toThrow();
    expect((await tree(join(project, ".claude"))).size).toBe(
      [...want.keys()].filter((path) => path.startsWith(".claude/")).length,
    );
    second.ok("pull", ...p);
    expect(await readFile(join(project, ".claude/skills/house-style/NOTES.md"), "utf8")).toBe(
      "new file\n",
    );
    expect(second.ok("status", "--check", ...p).status).toBe(0);
    // --frozen fails once canon.json changes, naming the standard.
    second.ok("add", "agents", "--as", "gemini-md", ...p);
    const stale = second.canon("pull", "--frozen", ...p);
    expect(stale.status).toBe(9);
    expect(stale.stderr).toMatch(/for agents: its targets changed/);
  });

  it("writes a SKILL.md without front matter as published, with a warning, and corrections beside a skill folder", async () => {
    lead.ok("init");
    lead.ok("space", "create", "team");
    const repo = join(lead.dir, "repo");
    await mkdir(join(repo, ".claude/skills/bare"), { recursive: true });
    await writeFile(join(repo, ".claude/skills/bare/SKILL.md"), "# No front matter\n");
    await mkdir(join(repo, ".claude/skills/broken"), { recursive: true });
    await writeFile(
      join(repo, ".claude/skills/broken/SKILL.md"),
      "---\nname: [unclosed\n---\nbody\n",
    );
    const run = lead.ok("import", repo);
    expect(run.stderr).toMatch(
      /\.claude\/skills\/bare\/SKILL\.md of skills\/bare: it has no front matter; written as published/,
    );
    expect(run.stderr).toMatch(
      /skills\/broken\/SKILL\.md of skills\/broken: its front matter is not valid YAML/,
    );
    expect(await readFile(join(repo, ".claude/skills/broken/SKILL.md"), "utf8")).toBe(
      "---\nname: [unclosed\n---\nbody\n",
    );
    lead.ok("correct", "skills/bare", "Say what the skill is for.");
    lead.ok("pull", "--project", repo);
    expect(await readFile(join(repo, ".claude/skills/bare/SKILL.md"), "utf8")).toBe(
      "# No front matter\n",
    );
    expect(await readFile(join(repo, ".claude/skills/bare/CANON-CORRECTIONS.md"), "utf8")).toMatch(
      /^## Corrections in force for skills\/bare@1\n[\s\S]*Say what the skill is for\./,
    );
    // Importing again while a correction is in force: the folder holds what the pull wrote
    // (CANON-CORRECTIONS.md included), which is not new content.
    const reimport = lead
      .ok("import", repo, "--json")
      .json<{ imported: { standard: string; published: boolean }[] }>();
    expect(reimport.imported.every((entry) => !entry.published)).toBe(true);
    expect(lead.ok("log", "skills/bare", "--json").stdout).not.toContain('"version": 2');
    // Editing that skill: the companion canon wrote must not be published with it.
    await writeFile(
      join(repo, ".claude/skills/bare/SKILL.md"),
      "---\nname: bare\n---\nNow for X.\n",
    );
    const withCompanion = lead.canon("import", repo);
    expect(withCompanion.status).toBe(2);
    expect(withCompanion.stderr).toMatch(/bare\/CANON-CORRECTIONS\.md was written by `canon pull`/);
    await rm(join(repo, ".claude/skills/bare/CANON-CORRECTIONS.md"));
    expect(lead.ok("import", repo).stdout).toMatch(/published\s+skills\/bare@2/);
    // An output made with skill folders in context is stamped with their bundle releases, and verifies.
    lead.ok("run", "--project", repo, "--stamp", "out.md", "--", "sh", "-c", "echo made > out.md");
    const verdict = lead
      .canon("verify", join(lead.dir, "out.md"), "--json")
      .json<{ verified: boolean; context: { standard: string }[] }>();
    expect(verdict.verified).toBe(true);
    expect(verdict.context.map((entry) => entry.standard).sort()).toEqual([
      "skills/bare",
      "skills/broken",
    ]);
  });
});
