import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Sandbox } from "./cli.js";

/** Gives `home` an identity and a space of its own, `solo` (no relay). */
export function soloSpace(home: Sandbox): void {
  home.ok("init");
  home.ok("space", "create", "solo");
}

/** A project folder of `home`'s (`<dir>/project`, made empty), and `--project <it>` to pass to commands. */
export async function emptyProject(
  home: Sandbox,
): Promise<{ readonly project: string; readonly p: string[] }> {
  const project = join(home.dir, "project");
  await mkdir(project);
  return { project, p: ["--project", project] };
}

/**
 * The smallest project setting: `home` with its own space ({@link soloSpace})
 * holding one standard, `agents` (`# A\n`), and an empty project folder
 * ({@link emptyProject}); nothing added to it yet.
 */
export async function agentsProject(
  home: Sandbox,
): Promise<{ readonly project: string; readonly p: string[] }> {
  soloSpace(home);
  home.ok("publish", "agents", await home.file("agents.md", "# A\n"));
  return emptyProject(home);
}
