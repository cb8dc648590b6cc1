import { CanonError } from "@canon/core";
import type { Target } from "../project-manifest.js";
import { copilotInstructionsFiles } from "./copilot-instructions.js";
import { cursorRuleFiles } from "./cursor-rule.js";
import { exactFiles } from "./exact-file.js";
import { markdownFile } from "./markdown-file.js";
import { skillFiles } from "./skill.js";
import type { TargetFile, TargetInput } from "./target-input.js";

/**
 * The files one target of a standard writes, by target kind.
 * @throws CanonError `BAD_CONFIG` when a single-file target names a bundle.
 */
export function targetFiles(
  input: TargetInput,
  target: Target,
  warn: (message: string) => void,
): TargetFile[] {
  if (input.files !== null && target.type !== "skill")
    throw new CanonError(
      "BAD_CONFIG",
      `${input.standard} is a bundle (a folder of ${input.files.length} files); canon.json may only give it "skill" targets, not "${target.type}"`,
    );
  switch (target.type) {
    case "skill":
      return skillFiles(input, target.path, warn);
    case "agents-md":
    case "claude-md":
    case "gemini-md":
    case "copilot":
      return markdownFile(input, target.type, target.path);
    case "cursor-rule":
      return cursorRuleFiles(input, target);
    case "copilot-instructions":
      return copilotInstructionsFiles(input, target);
    case "file":
      return exactFiles(input, target.path);
  }
}
