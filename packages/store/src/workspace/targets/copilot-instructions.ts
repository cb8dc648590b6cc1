import { withFrontMatter } from "../front-matter.js";
import { lastSegment } from "../target-path.js";
import type { TargetFile, TargetInput } from "./target-input.js";

/** Settings of a Copilot path-specific instructions file's front matter. */
export interface CopilotInstructionsSettings {
  readonly path?: string | undefined;
  readonly applyTo?: string | undefined;
  readonly description?: string | undefined;
}

/**
 * Copilot path-specific instructions,
 * `.github/instructions/<last segment>.instructions.md`: the rendered context;
 * content without front matter gets `applyTo` and `description` from the
 * settings, content with its own keeps it byte for byte.
 */
export function copilotInstructionsFiles(
  input: TargetInput,
  settings: CopilotInstructionsSettings,
): TargetFile[] {
  const { applyTo, description } = settings;
  return [
    {
      path: settings.path ?? `.github/instructions/${lastSegment(input.standard)}.instructions.md`,
      bytes: withFrontMatter(input.rendered, { applyTo, description }),
      executable: false,
    },
  ];
}
