import { access, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { publishBundleThroughLibrary } from "./helpers/library-writer.js";

let a: Sandbox;
beforeEach(async () => {
  a = await sandbox();
});
afterEach(async () => {
  await a.dispose();
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
const SKILL = "---\nname: x\ndescription: a skill\n---\nDo it.\n";
const HOOK = "#!/bin/sh\necho owned\n";

/** A home with a space, and an empty git-like project (its .git/hooks folder exists). */
async function project() {
  a.ok("init");
  a.ok("space", "create", "solo");
  const dir = join(a.dir, "project");
  await mkdir(join(dir, ".git", "hooks"), { recursive: true });
  return dir;
}

describe("Canon never writes into, nor publishes, a .git folder", () => {
  it("a canon.json target going into .git (any case, trailing dot) is refused by add and pull, and no hook is written", async () => {
    const dir = await project();
    const skill = join(a.dir, "skill");
    await mkdir(join(skill, "hooks"), { recursive: true });
    await writeFile(join(skill, "SKILL.md"), SKILL);
    await writeFile(join(skill, "hooks", "pre-commit"), HOOK, { mode: 0o755 });
    a.ok("publish", "skills/x", skill);
    const p = ["--project", dir];
    const added = a.canon("add", "skills/x", "--as", "skill:.git", ...p);
    expect(added.status).toBe(2);
    expect(added.stderr).toMatch(/must not go into a \.git folder/);
    for (const path of [".git", ".GIT.", "sub/.Git /x"]) {
      await writeFile(
        join(dir, "canon.json"),
        JSON.stringify({ standards: { "skills/x": { targets: [{ type: "skill", path }] } } }),
      );
      const pulled = a.canon("pull", ...p);
      expect(pulled.status).toBe(4);
      expect(pulled.stderr).toMatch(/targets\.0\.path: must not go into a \.git folder/);
    }
    expect(await exists(join(dir, ".git", "hooks", "pre-commit"))).toBe(false);
    expect(await exists(join(dir, "canon.lock"))).toBe(false);
  });

  it("a peer's bundle holding .git/ paths is refused by pull (under a skill folder) and by export, writing nothing", async () => {
    const dir = await project();
    await publishBundleThroughLibrary(a.home, "skills/x", [
      { path: "SKILL.md", text: SKILL },
      { path: ".git/config", text: "[core]\n\tfsmonitor = sh -c 'echo owned'\n" },
      { path: ".git/HEAD", text: "ref: refs/heads/main\n" },
      { path: ".git/hooks/pre-commit", text: HOOK, executable: true },
    ]);
    const p = ["--project", dir];
    a.ok("add", "skills/x", ...p);
    const pulled = a.canon("pull", ...p);
    expect(pulled.status).toBe(4);
    expect(pulled.stderr).toMatch(
      /\.claude\/skills\/x\/\.git\/\S+ is inside a \.git folder, where Canon never writes/,
    );
    expect(pulled.stderr.trim().split("\n")).toHaveLength(1);
    expect(await exists(join(dir, ".claude"))).toBe(false);
    expect(await exists(join(dir, "canon.lock"))).toBe(false);

    const exported = a.canon("export", "skills/x", dir);
    expect(exported.status).toBe(2);
    expect(exported.stderr).toMatch(/inside a \.git folder, where an export never writes/);
    expect(await exists(join(dir, ".git", "hooks", "pre-commit"))).toBe(false);
    expect(await exists(join(dir, ".git", "config"))).toBe(false);
    expect(await exists(join(dir, "SKILL.md"))).toBe(false);
  });

  it("publish refuses a folder holding a .git folder (its config keeps remotes with tokens)", async () => {
    await project();
    const skill = join(a.dir, "cloned-skill");
    await mkdir(join(skill, ".git"), { recursive: true });
    await writeFile(join(skill, "SKILL.md"), SKILL);
    await writeFile(
      join(skill, ".git", "config"),
      '[remote "origin"]\n\turl = https://user:ghp_secret@github.com/o/r\n',
    );
    const published = a.canon("publish", "skills/cloned", skill);
    expect(published.status).toBe(2);
    expect(published.stderr).toMatch(/\.git is git's metadata, which a bundle never holds/);
    expect(a.canon("show", "skills/cloned").status).toBe(3);
    expect(await readFile(join(skill, ".git", "config"), "utf8")).toMatch(/ghp_secret/);
  });

  it("a link the repository commits into its own .git (docs -> .git/hooks) does not let pull write there either", async () => {
    const dir = await project();
    await writeFile(join(dir, ".git", "config"), "[core]\n");
    const skill = join(a.dir, "skill");
    await mkdir(skill);
    await writeFile(join(skill, "SKILL.md"), SKILL);
    await writeFile(join(skill, "pre-commit"), HOOK, { mode: 0o755 });
    a.ok("publish", "skills/x", skill);
    a.ok(
      "publish",
      "style",
      await a.file("style.md", "[core]\n\tfsmonitor = sh -c 'echo owned'\n"),
    );
    await symlink(".git/hooks", join(dir, "hooks"));
    await symlink(".git", join(dir, "docs"));
    const p = ["--project", dir];
    for (const [standard, target] of [
      ["skills/x", { type: "skill", path: "hooks" }],
      ["style", { type: "file", path: "docs/config" }],
    ] as const) {
      await writeFile(
        join(dir, "canon.json"),
        JSON.stringify({ standards: { [standard]: { targets: [target] } } }),
      );
      const pulled = a.canon("pull", ...p);
      expect(pulled.status).toBe(4);
      expect(pulled.stderr).toMatch(/leads into \.git .* where Canon never writes/);
    }
    expect(await exists(join(dir, ".git", "hooks", "pre-commit"))).toBe(false);
    expect(await readFile(join(dir, ".git", "config"), "utf8")).toBe("[core]\n");
  });
});
