import type { TargetFile, TargetInput } from "./target-input.js";

/** Where each plain Markdown target is read by its tool. */
export const MARKDOWN_DEFAULT_PATHS = {
  "agents-md": "AGENTS.md",
  "claude-md": "CLAUDE.md",
  "gemini-md": "GEMINI.md",
  copilot: ".github/copilot-instructions.md",
} as const;

/**
 * A plain Markdown target (`AGENTS.md`, `CLAUDE.md`, `GEMINI.md`,
 * `.github/copilot-instructions.md`): the rendered context, i.e. the release's
 * bytes followed by the "Corrections in force" section when any is.
 */
export function markdownFile(
  input: TargetInput,
  type: keyof typeof MARKDOWN_DEFAULT_PATHS,
  path: string | undefined,
): TargetFile[] {
  return [{ path: path ?? MARKDOWN_DEFAULT_PATHS[type], bytes: input.rendered, executable: false }];
}
