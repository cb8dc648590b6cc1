import { CanonError } from "@canon/core";
import type { Target } from "./project-manifest.js";

/**
 * The target a standard gets when `canon add` is given no `--as`, following
 * its name the way `canon import` names what it finds (so an import on one
 * machine and an add on another write the same tree): `…/skills/<n>` → a
 * skill folder, `…/rules/<n>` → a Cursor rule, `…/instructions/<n>` → Copilot
 * path-specific instructions, `copilot-instructions` → Copilot's repository
 * file, `agents` / `claude` / `gemini` → AGENTS.md / CLAUDE.md / GEMINI.md,
 * any other bundle → a skill folder.
 * @throws CanonError `BAD_ARGUMENT` for any other single-file standard: say where with --as.
 */
export function defaultTarget(standard: string, bundle: boolean): Target {
  const segments = standard.split("/");
  const last = segments.at(-1);
  const family = segments.at(-2);
  if (family === "skills" || bundle) return { type: "skill" };
  if (family === "rules") return { type: "cursor-rule" };
  if (family === "instructions") return { type: "copilot-instructions" };
  if (last === "copilot-instructions") return { type: "copilot" };
  if (last === "agents") return { type: "agents-md" };
  if (last === "claude") return { type: "claude-md" };
  if (last === "gemini") return { type: "gemini-md" };
  throw new CanonError(
    "BAD_ARGUMENT",
    `${standard} is one file and its name says nothing about where it goes; say where with --as <type>[:<path>] (e.g. --as agents-md, --as file:docs/style.md)`,
  );
}
