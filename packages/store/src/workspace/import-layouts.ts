import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { StandardName } from "@canon/core";
import type { Target } from "./project-manifest.js";
import { TargetPath } from "./target-path.js";

/** One piece of context found in a repository, and the standard it becomes. */
export interface FoundContext {
  /** The standard's name (with the prefix). */
  readonly standard: string;
  /** Relative path of the file or folder. */
  readonly path: string;
  /** True for a skill folder (published as one bundle). */
  readonly folder: boolean;
  /** Where canon.json says it goes: the same path it was found at. */
  readonly target: Target;
}

/** The single files `canon import` recognises: path, standard name, target. */
const SINGLE_FILES: readonly (readonly [string, string, Target])[] = [
  ["AGENTS.md", "agents", { type: "agents-md" }],
  ["CLAUDE.md", "claude", { type: "claude-md" }],
  ["GEMINI.md", "gemini", { type: "gemini-md" }],
  [".github/copilot-instructions.md", "copilot-instructions", { type: "copilot" }],
];

/**
 * The context layouts found under `root`: skill folders
 * (`.claude/skills/<n>/`, `.github/skills/<n>/`, `skills/<n>/` holding a
 * SKILL.md), Cursor rules (`.cursor/rules/<n>.mdc`), Copilot instructions
 * (`.github/copilot-instructions.md`, `.github/instructions/<n>.instructions.md`),
 * `AGENTS.md`, `CLAUDE.md`, `GEMINI.md`. Named `skills/<n>`, `rules/<n>`,
 * `instructions/<n>`, `copilot-instructions`, `agents`, `claude`, `gemini`
 * (after `prefix/` when given); targets keep the exact paths. Entries whose
 * name is outside the grammar, or whose path is not one a target may have
 * (`skills/aux`, a device on Windows), are reported in `skipped`.
 */
export async function findContext(
  root: string,
  prefix: string | undefined,
): Promise<{ found: FoundContext[]; skipped: string[] }> {
  const found: FoundContext[] = [];
  const skipped: string[] = [];
  const name = (base: string) => (prefix ? `${prefix}/${base}` : base);
  const add = (entry: FoundContext) => {
    // A target canon.json could not hold (`skills/aux`: a device on Windows) would leave it unreadable.
    const path = "path" in entry.target ? entry.target.path : undefined;
    if (
      StandardName.safeParse(entry.standard).success &&
      (path === undefined || TargetPath.safeParse(path).success)
    )
      found.push(entry);
    else skipped.push(entry.path);
  };
  for (const dir of [".claude/skills", ".github/skills", "skills"]) {
    for (const skill of await entries(join(root, dir), "dir")) {
      const path = `${dir}/${skill}`;
      if (dir === "skills" && !(await isFile(join(root, path, "SKILL.md")))) continue;
      const standard = name(`skills/${skill}`);
      add({
        standard,
        path,
        folder: true,
        target: path === `.claude/skills/${skill}` ? { type: "skill" } : { type: "skill", path },
      });
    }
  }
  for (const file of await entries(join(root, ".cursor/rules"), "file"))
    if (file.endsWith(".mdc"))
      add({
        standard: name(`rules/${file.slice(0, -4)}`),
        path: `.cursor/rules/${file}`,
        folder: false,
        target: { type: "cursor-rule" },
      });
  for (const file of await entries(join(root, ".github/instructions"), "file"))
    if (file.endsWith(".instructions.md"))
      add({
        standard: name(`instructions/${file.slice(0, -".instructions.md".length)}`),
        path: `.github/instructions/${file}`,
        folder: false,
        target: { type: "copilot-instructions" },
      });
  for (const [path, base, target] of SINGLE_FILES)
    if (await isFile(join(root, path))) add({ standard: name(base), path, folder: false, target });
  return { found, skipped };
}

async function entries(dir: string, kind: "dir" | "file"): Promise<string[]> {
  try {
    const listed = await readdir(dir, { withFileTypes: true });
    return listed
      .filter((entry) => (kind === "dir" ? entry.isDirectory() : entry.isFile()))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}
