import { join } from "node:path";
import { CanonError } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { publish } from "../operations/publish.js";
import type { SpaceChoice } from "../operations/space-session.js";
import { findContext } from "./import-layouts.js";
import { readProjectOrEmpty, writeProject } from "./project-manifest.js";
import { type PullReport, pull } from "./pull.js";

/** What to import. */
export interface ImportRequest extends SpaceChoice {
  /** The repository (project) directory to scan; its canon.json and canon.lock are written. */
  readonly dir: string;
  /** Put every name under this prefix (`<prefix>/skills/<n>`). */
  readonly prefix?: string | undefined;
  readonly message?: string | undefined;
  readonly warn?: ((message: string) => void) | undefined;
}

/** One piece of context imported. */
export interface ImportedContext {
  readonly standard: string;
  readonly path: string;
  /** False when the latest release already had exactly these bytes (nothing published). */
  readonly published: boolean;
  readonly version: number;
  readonly cid: string;
}

/** What an import did. */
export interface ImportReport {
  readonly project: string;
  readonly imported: readonly ImportedContext[];
  /** Paths found whose names fall outside the standard-name grammar. */
  readonly skipped: readonly string[];
  readonly pull: PullReport;
}

/**
 * Imports a repository's agent context: publishes each layout
 * {@link findContext} recognises as a standard (a skill folder as one
 * bundle; identical content publishes nothing), records each in the
 * directory's canon.json with the target it was found at (so a pull elsewhere
 * writes the same paths), then pulls offline to write canon.lock.
 * @throws CanonError `BAD_ARGUMENT` (two paths give one name, nothing found), those of `publish` and `pull`.
 */
export async function importContext(
  home: CanonHome,
  signer: Signer,
  request: ImportRequest,
): Promise<ImportReport> {
  const { found, skipped } = await findContext(request.dir, request.prefix);
  for (const path of skipped)
    request.warn?.(`${path}: its name is outside the standard-name grammar; not imported`);
  if (found.length === 0)
    throw new CanonError(
      "BAD_ARGUMENT",
      `no agent context found in ${request.dir} (skill folders, .cursor/rules/*.mdc, Copilot instructions, AGENTS.md, CLAUDE.md, GEMINI.md)`,
    );
  const byName = new Map<string, string>();
  for (const entry of found) {
    const other = byName.get(entry.standard.toLowerCase());
    if (other !== undefined)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${other} and ${entry.path} would both be ${entry.standard}; import one of them with --prefix from another directory, or rename one`,
      );
    byName.set(entry.standard.toLowerCase(), entry.path);
  }
  const project = await readProjectOrEmpty(request.dir);
  const choice: SpaceChoice = { space: project.manifest.space ?? request.space };
  const imported: ImportedContext[] = [];
  for (const entry of found) {
    const result = await publish(home, signer, {
      ...choice,
      standard: entry.standard,
      file: join(request.dir, entry.path),
      message: request.message ?? `imported from ${entry.path}`,
    });
    imported.push({
      standard: entry.standard,
      path: entry.path,
      published: !result.unchanged,
      version: result.version,
      cid: result.cid,
    });
  }
  const standards = { ...project.manifest.standards };
  for (const entry of found) standards[entry.standard] = { targets: [entry.target] };
  const { chooseSpace } = await import("../operations/space-session.js");
  const space = project.manifest.space ?? (await chooseSpace(home, choice)).url;
  await writeProject({ ...project, manifest: { space, standards } });
  const pulled = await pull(home, {
    dir: request.dir,
    offline: true,
    timeoutMs: 1,
    warn: request.warn,
  });
  return { project: request.dir, imported, skipped, pull: pulled };
}
