import { stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { CanonError } from "@canon/core";
import { z } from "zod";
import { writeFileAtomic } from "../home/atomic-write.js";
import { readProjectFile } from "./project-file.js";
import { standardsRecord } from "./standards-record.js";
import { TargetPath } from "./target-path.js";

/** Largest canon.json read. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The project manifest's file name, found in a directory or its parents (as git finds `.git`). */
export const MANIFEST_FILE = "canon.json";

const description = z.string().max(1024);

/** A skill folder: the bundle's files under `path` (default `.claude/skills/<last segment>`). */
const SkillTarget = z.strictObject({ type: z.literal("skill"), path: TargetPath.optional() });
/** `AGENTS.md` at the project root (or `path`). */
const AgentsMdTarget = z.strictObject({
  type: z.literal("agents-md"),
  path: TargetPath.optional(),
});
/** `CLAUDE.md` at the project root (or `path`). */
const ClaudeMdTarget = z.strictObject({
  type: z.literal("claude-md"),
  path: TargetPath.optional(),
});
/** `GEMINI.md` at the project root (or `path`). */
const GeminiMdTarget = z.strictObject({
  type: z.literal("gemini-md"),
  path: TargetPath.optional(),
});
/** A Cursor rule, `.cursor/rules/<last segment>.mdc`, with its front matter settings. */
const CursorRuleTarget = z.strictObject({
  type: z.literal("cursor-rule"),
  path: TargetPath.optional(),
  description: description.optional(),
  globs: z.union([z.string().max(4096), z.array(z.string().max(1024)).max(256)]).optional(),
  alwaysApply: z.boolean().optional(),
});
/** `.github/copilot-instructions.md`. */
const CopilotTarget = z.strictObject({ type: z.literal("copilot"), path: TargetPath.optional() });
/** Copilot path-specific instructions, `.github/instructions/<last segment>.instructions.md`. */
const CopilotInstructionsTarget = z.strictObject({
  type: z.literal("copilot-instructions"),
  path: TargetPath.optional(),
  applyTo: z.string().max(4096).optional(),
  description: description.optional(),
});
/** Any file, exact bytes. */
const FileTarget = z.strictObject({ type: z.literal("file"), path: TargetPath });

/** Where one standard is written, and the settings its format needs. */
export const Target = z.discriminatedUnion("type", [
  SkillTarget,
  AgentsMdTarget,
  ClaudeMdTarget,
  GeminiMdTarget,
  CursorRuleTarget,
  CopilotTarget,
  CopilotInstructionsTarget,
  FileTarget,
]);
/** A target as canon.json states it. */
export type Target = z.infer<typeof Target>;
/** The target kinds, in the order help lists them. */
export const TARGET_TYPES = [
  "skill",
  "agents-md",
  "claude-md",
  "gemini-md",
  "cursor-rule",
  "copilot",
  "copilot-instructions",
  "file",
] as const;
/** One target kind. */
export type TargetType = (typeof TARGET_TYPES)[number];

/** A version pin: a version number or a release or content CID. */
const Pin = z.union([z.number().int().positive(), z.string().min(1).max(200)]);

/** One standard the project uses. */
export const ProjectStandard = z.strictObject({
  version: Pin.optional(),
  targets: z.array(Target).min(1).max(64),
});
/** One standard the project uses. */
export type ProjectStandard = z.infer<typeof ProjectStandard>;

/** canon.json: the space and the standards a project uses, each with its targets. */
export const ProjectManifest = z.strictObject({
  space: z.string().min(1).max(2048).optional(),
  standards: standardsRecord(ProjectStandard),
});
/** canon.json, parsed. */
export type ProjectManifest = z.infer<typeof ProjectManifest>;

/** A project: its directory and manifest. */
export interface Project {
  /** Absolute path of the directory holding canon.json. */
  readonly dir: string;
  readonly manifestPath: string;
  readonly manifest: ProjectManifest;
}

/**
 * The directory whose canon.json applies: `override` when given, else the
 * nearest of `start` and its parents holding one; undefined when none does.
 */
export async function findProjectDir(
  start: string,
  override?: string | undefined,
): Promise<string | undefined> {
  if (override !== undefined) return resolve(override);
  let dir = resolve(start);
  for (;;) {
    if (await isFile(join(dir, MANIFEST_FILE))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Reads and validates a project's canon.json.
 * @throws CanonError `BAD_CONFIG` naming the file and the field (or not a regular file, over {@link MAX_MANIFEST_BYTES}), `FILE_UNREADABLE` when there is none.
 */
export async function readProject(dir: string): Promise<Project> {
  const manifestPath = join(dir, MANIFEST_FILE);
  const text = await readProjectFile(manifestPath, MAX_MANIFEST_BYTES);
  if (text === undefined)
    throw new CanonError(
      "FILE_UNREADABLE",
      `no ${MANIFEST_FILE} in ${dir}: \`canon add <standard>\` creates one (or pass --project <dir>)`,
    );
  return { dir, manifestPath, manifest: parseManifest(text, manifestPath) };
}

/** Reads a project's canon.json, or an empty manifest when the directory has none. */
export async function readProjectOrEmpty(dir: string): Promise<Project> {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!(await isFile(manifestPath))) return { dir, manifestPath, manifest: { standards: {} } };
  return readProject(dir);
}

/**
 * Parses canon.json text.
 * @throws CanonError `BAD_CONFIG` naming the file and the first field at fault.
 */
export function parseManifest(text: string, path: string): ProjectManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CanonError("BAD_CONFIG", `${path} is not JSON: ${withoutQuote(error)}`, {
      cause: error,
    });
  }
  const parsed = ProjectManifest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join(".") || "(top level)";
    const hint =
      issue?.code === "invalid_union" && issue.path.at(-1) === "type"
        ? ` (target types: ${TARGET_TYPES.join(", ")})`
        : "";
    throw new CanonError(
      "BAD_CONFIG",
      `${path}: field ${field}: ${issue?.message ?? "invalid"}${hint}`,
    );
  }
  return parsed.data;
}

/**
 * A JSON parse error's message without the text it quotes from the input
 * (`Unexpected token 'a', "aws_secret"... is not valid JSON`): canon.json may
 * be a link a repository commits to a secret (`~/.aws/credentials`,
 * `/proc/self/environ`), and the error goes to a terminal or a CI log.
 */
function withoutQuote(error: unknown): string {
  return (error as Error).message.replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, "");
}

/**
 * Writes canon.json atomically, 2-space JSON with a trailing newline,
 * standards sorted by name.
 * @throws CanonError `BAD_CONFIG` when {@link readProject} would refuse it (its schema, over {@link MAX_MANIFEST_BYTES}); nothing is written.
 */
export async function writeProject(project: Project): Promise<void> {
  const standards = Object.fromEntries(
    Object.entries(project.manifest.standards).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const manifest = { ...project.manifest, standards };
  // What is written must read back: never a canon.json every later command refuses.
  const checked = ProjectManifest.safeParse(manifest);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new CanonError(
      "BAD_CONFIG",
      `${project.manifestPath} would not read back (field ${issue?.path.map(String).join(".") || "(top level)"}: ${issue?.message ?? "invalid"}); it is unchanged`,
    );
  }
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  // Written indented, it may outgrow what is read (a compact canon.json of 0.9 MB doubles): never write what no command reads back.
  const size = Buffer.byteLength(text);
  if (size > MAX_MANIFEST_BYTES)
    throw new CanonError(
      "BAD_CONFIG",
      `${project.manifestPath} would be ${size} bytes, over the ${MAX_MANIFEST_BYTES} a canon.json may be; it is unchanged (split the project, or remove standards it no longer uses)`,
    );
  await writeFileAtomic(project.manifestPath, text);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
