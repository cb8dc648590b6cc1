import { CanonError } from "@canon/core";
import { stringify } from "yaml";
import { hasFrontMatter } from "../front-matter.js";
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
 * from the settings (see {@link cursorFrontMatter}), content with its own
 * keeps it byte for byte.
 */
export function cursorRuleFiles(input: TargetInput, settings: CursorRuleSettings): TargetFile[] {
  const path = settings.path ?? `.cursor/rules/${lastSegment(input.standard)}.mdc`;
  const block = hasFrontMatter(input.rendered) ? "" : cursorFrontMatter(settings, path);
  const head = new TextEncoder().encode(block);
  const bytes = new Uint8Array(head.length + input.rendered.length);
  bytes.set(head);
  bytes.set(input.rendered, head.length);
  return [{ path, bytes, executable: false }];
}

/**
 * A Cursor rule's front matter in the one shape Cursor documents, which is
 * not YAML: `globs` is a single bare value, the patterns joined by commas
 * with no space (Cursor matches nothing after `, `) and never quoted or
 * bracketed, even when it starts with `*`; `description` is one line, bare
 * when YAML allows; `alwaysApply` is `true` or `false`. Empty when no
 * setting is given.
 * @throws CanonError `BAD_CONFIG` when a pattern holds a comma or a line break, or the description a line break.
 */
export function cursorFrontMatter(settings: CursorRuleSettings, path: string): string {
  const lines: string[] = [];
  if (settings.description !== undefined) {
    if (/[\r\n]/.test(settings.description))
      throw new CanonError("BAD_CONFIG", `the description for ${path} must be one line`);
    lines.push(`description: ${stringify(settings.description, { lineWidth: 0 }).trimEnd()}`);
  }
  if (settings.globs !== undefined) {
    const patterns = (
      typeof settings.globs === "string" ? settings.globs.split(",") : settings.globs
    )
      .map((pattern) => pattern.trim())
      .filter((pattern) => pattern !== "");
    for (const pattern of patterns)
      if (/[,\r\n]/.test(pattern))
        throw new CanonError(
          "BAD_CONFIG",
          `the glob ${JSON.stringify(pattern)} for ${path} holds a comma or a line break, which Cursor cannot read`,
        );
    lines.push(`globs: ${patterns.join(",")}`);
  }
  if (settings.alwaysApply !== undefined) lines.push(`alwaysApply: ${settings.alwaysApply}`);
  return lines.length === 0 ? "" : `---\n${lines.join("\n")}\n---\n`;
}
