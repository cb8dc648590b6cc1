import { CanonError } from "@canon/core";
import { skillFrontMatterProblem } from "../front-matter.js";
import { lastSegment } from "../target-path.js";
import type { TargetFile, TargetInput } from "./target-input.js";

/** The companion file a skill folder gets when corrections are in force (its other files stay byte-exact). */
export const SKILL_CORRECTIONS_FILE = "CANON-CORRECTIONS.md";

/**
 * A skill folder: every file of the bundle under `path` (default
 * `.claude/skills/<last segment>`), exact bytes and executable bits; a
 * single-file release becomes the folder's `SKILL.md`. Corrections in force go
 * to `CANON-CORRECTIONS.md` beside them. A SKILL.md without usable front
 * matter is still written as is, with a warning.
 * @throws CanonError `BAD_ARGUMENT` when the bundle itself holds `CANON-CORRECTIONS.md` while corrections are in force.
 */
export function skillFiles(
  input: TargetInput,
  path: string | undefined,
  warn: (message: string) => void,
): TargetFile[] {
  const folder = path ?? `.claude/skills/${lastSegment(input.standard)}`;
  const files = input.files ?? [{ path: "SKILL.md", bytes: input.content, executable: false }];
  const out = files.map((file) => ({
    path: `${folder}/${file.path}`,
    bytes: file.bytes,
    executable: file.executable,
  }));
  const skill = files.find((file) => file.path === "SKILL.md");
  const problem = skill ? skillFrontMatterProblem(skill.bytes) : "it is missing";
  if (problem !== undefined)
    warn(`${folder}/SKILL.md of ${input.standard}: ${problem}; written as published`);
  if (input.section !== null) {
    if (files.some((file) => file.path === SKILL_CORRECTIONS_FILE))
      throw new CanonError(
        "BAD_ARGUMENT",
        `${input.standard} has its own ${SKILL_CORRECTIONS_FILE}, where Canon writes the corrections in force; rename it in the bundle`,
      );
    out.push({
      path: `${folder}/${SKILL_CORRECTIONS_FILE}`,
      bytes: input.section,
      executable: false,
    });
  }
  return out;
}
