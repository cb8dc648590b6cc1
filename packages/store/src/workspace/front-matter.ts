import { parse, stringify } from "yaml";

const BOM = [0xef, 0xbb, 0xbf];

/**
 * Largest front matter read as YAML. A skill's front matter is a name and a
 * description of at most a kilobyte; the `yaml` library's duplicate-key
 * check is quadratic in a mapping's keys (40,000 keys, 580 KB, took 13 s; a
 * 4 MiB SKILL.md a maintainer publishes, minutes of every member's pull).
 */
export const MAX_FRONT_MATTER_BYTES = 16 * 1024;

/** True when the bytes start with a `---` line (after an optional UTF-8 BOM): content that brings its own front matter. */
export function hasFrontMatter(bytes: Uint8Array): boolean {
  const start = bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2] ? 3 : 0;
  const head = new TextDecoder().decode(bytes.subarray(start, start + 5));
  return head.startsWith("---\n") || head.startsWith("---\r\n");
}

/**
 * Why a SKILL.md's front matter is unusable, or undefined when it is a YAML
 * mapping between `---` lines (what Claude Code and Copilot read) of at most
 * {@link MAX_FRONT_MATTER_BYTES} (longer is not parsed, and is a problem).
 */
export function skillFrontMatterProblem(bytes: Uint8Array): string | undefined {
  if (!hasFrontMatter(bytes)) return "it has no front matter";
  const text = new TextDecoder().decode(bytes).replace(/^\uFEFF/, "");
  const end = /\r?\n---[ \t]*(\r?\n|$)/.exec(text.slice(3));
  if (end === null) return "its front matter has no closing ---";
  if (end.index > MAX_FRONT_MATTER_BYTES)
    return `its front matter is over ${MAX_FRONT_MATTER_BYTES / 1024} KiB, more than a skill's name and description need; not read`;
  try {
    const value: unknown = parse(text.slice(3, 3 + end.index));
    if (value === null || typeof value !== "object" || Array.isArray(value))
      return "its front matter is not a YAML mapping";
    return undefined;
  } catch (error) {
    return `its front matter is not valid YAML (${(error as Error).message.split("\n")[0]})`;
  }
}

/**
 * The content with a front matter block made from `settings` in front of it
 * (keys in the order given, undefined ones left out), emitted by the `yaml`
 * library. Content that already has front matter, or no settings, is
 * returned unchanged: bytes a publisher wrote are never rewritten.
 */
export function withFrontMatter(
  content: Uint8Array,
  settings: Readonly<Record<string, unknown>>,
): Uint8Array {
  if (hasFrontMatter(content)) return content;
  const defined = Object.fromEntries(
    Object.entries(settings).filter(([, value]) => value !== undefined),
  );
  if (Object.keys(defined).length === 0) return content;
  const block = new TextEncoder().encode(`---\n${stringify(defined)}---\n`);
  const out = new Uint8Array(block.length + content.length);
  out.set(block);
  out.set(content, block.length);
  return out;
}
