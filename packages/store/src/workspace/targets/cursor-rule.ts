import { withFrontMatter } from "../front-matter.js";
import { lastSegment } from "../target-path.js";
import type { TargetFile, TargetInput } from "./target-input.js";

/** Settings of a Cursor rule's front matter. */
export interface CursorRuleSettings {
  readonly path?: string | undefined;
  readonly description?: string | undefined;
  readonly globs?: string | readonly string[] | undefined;
  readonly alwaysApply?: boolean | undefined;
}

/**
 * A Cursor rule, `.cursor/rules/<last segment>.mdc`: the rendered context;
 * content without front matter gets `description`, `globs`, `alwaysApply`
 * from the settings, content with its own keeps it byte for byte.
 */
export function cursorRuleFiles(input: TargetInput, settings: CursorRuleSettings): TargetFile[] {
  const { description, globs, alwaysApply } = settings;
  return [
    {
      path: settings.path ?? `.cursor/rules/${lastSegment(input.standard)}.mdc`,
      bytes: withFrontMatter(input.rendered, { description, globs, alwaysApply }),
      executable: false,
    },
  ];
}
