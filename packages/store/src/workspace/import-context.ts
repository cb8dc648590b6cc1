import { readdir, realpath } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { CanonError, MAX_CONTENT_BYTES } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { readBundleFolder } from "../operations/bundle-folder.js";
import { readInputFile } from "../operations/input-file.js";
import { publish } from "../operations/publish.js";
import type { SpaceChoice } from "../operations/space-session.js";
import { type FoundContext, findContext } from "./import-layouts.js";
import { canonicalJson, type LockedStandard, type LockFile, readLock } from "./lock-file.js";
import { sayWaiting, withPullLock } from "./project-lock.js";
import { type ProjectManifest, readProjectOrEmpty, writeProject } from "./project-manifest.js";
import { type PullReport, pullHoldingLock } from "./pull.js";
import { sameFileKey } from "./same-file-key.js";
import { standardEntry } from "./standards-record.js";
import { targetPlaces } from "./target-places.js";
import { SKILL_CORRECTIONS_FILE } from "./targets/skill.js";
import { sha256OfFile } from "./write-tree.js";

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
 * writes the same paths), then pulls offline to write canon.lock. Nothing
 * reached through a symbolic link leaving the directory is ever published.
 * All of it (from reading the context and canon.lock to the pull) holds the
 * project's pull lock ({@link withPullLock}), so an import and a pull (or an
 * add) of one project run one after the other, never interleaving writes.
 * @throws CanonError `BAD_ARGUMENT` (two paths give one name, nothing found), those of `publish` and `pull`.
 */
export async function importContext(
  home: CanonHome,
  signer: Signer,
  request: ImportRequest,
): Promise<ImportReport> {
  // Nothing to import is reported before the lock (none is made there); the context is found again inside it.
  const outside = await findContext(request.dir, request.prefix);
  if (outside.found.length === 0) refuseNothingFound(request, outside.skipped);
  return withPullLock(
    request.dir,
    "import",
    () => importHoldingLock(home, signer, request),
    sayWaiting(request.dir, request.warn),
  );
}

/**
 * Warns of each path skipped and refuses an import that found nothing.
 * @throws CanonError `BAD_ARGUMENT`, always.
 */
function refuseNothingFound(request: ImportRequest, skipped: readonly string[]): never {
  warnSkipped(request, skipped);
  throw new CanonError(
    "BAD_ARGUMENT",
    `no agent context found in ${request.dir} (skill folders, .cursor/rules/*.mdc, Copilot instructions, AGENTS.md, CLAUDE.md, GEMINI.md)`,
  );
}

function warnSkipped(request: ImportRequest, skipped: readonly string[]): void {
  for (const path of skipped)
    request.warn?.(
      `${path}: its name is outside the standard-name grammar, or not a path every file system holds; not imported`,
    );
}

/** {@link importContext}, once the project's pull lock is held. */
async function importHoldingLock(
  home: CanonHome,
  signer: Signer,
  request: ImportRequest,
): Promise<ImportReport> {
  const context = await findContext(request.dir, request.prefix);
  if (context.found.length === 0) refuseNothingFound(request, context.skipped);
  const { skipped } = context;
  warnSkipped(request, skipped);
  const project = await readProjectOrEmpty(request.dir);
  const found = context.found.map((entry) => asKnownTarget(entry, project.manifest));
  const byName = new Map<string, KnownContext>();
  for (const entry of found) {
    const other = byName.get(entry.standard.toLowerCase());
    // Two targets canon.json already gives one standard are one standard (see below).
    if (other !== undefined && !(other.known && entry.known))
      throw new CanonError(
        "BAD_ARGUMENT",
        `${other.path} and ${entry.path} would both be ${entry.standard}; import one of them with --prefix from another directory, or rename one`,
      );
    byName.set(entry.standard.toLowerCase(), entry);
  }
  await refuseLinksLeaving(request.dir, found);
  const choice: SpaceChoice = { space: project.manifest.space ?? request.space };
  const lock = await readLock(request.dir);
  // Every folder and file is read and checked before anything is published.
  for (const entry of found) {
    const path = join(request.dir, entry.path);
    const written = lock && standardEntry(lock.standards, entry.standard);
    if (entry.folder) {
      const { files } = await readBundleFolder(path);
      // The companion a pull wrote must not become part of the skill (the next pull would refuse it).
      const companion = `${entry.path}/${SKILL_CORRECTIONS_FILE}`;
      if (
        files.some((file) => file.path === SKILL_CORRECTIONS_FILE) &&
        written?.files.some((file) => file.path === companion) &&
        !(await stillAsWritten(request.dir, entry, written))
      )
        throw new CanonError(
          "BAD_ARGUMENT",
          `${companion} was written by \`canon pull\` (the corrections in force), not by you; remove it before importing the edited skill (and close the corrections with \`canon publish --incorporates\` if the edit folds them in)`,
        );
    } else {
      const bytes = await readInputFile(path, MAX_CONTENT_BYTES);
      const marker = `## Corrections in force for ${entry.standard}@`;
      if (
        written !== undefined &&
        written.corrections.length > 0 &&
        Buffer.from(bytes).includes(marker) &&
        !(await stillAsWritten(request.dir, entry, written))
      )
        request.warn?.(
          `${entry.path} still holds the "${marker}…" section \`canon pull\` appended; it is imported as part of the content`,
        );
    }
  }
  const imported: ImportedContext[] = [];
  const edited = await editedKnownTargets(request.dir, found, lock?.standards ?? {});
  for (const entry of found) {
    // What the last pull wrote here, untouched (corrections section included), is not new content.
    const written = lock && standardEntry(lock.standards, entry.standard);
    const unchanged =
      written !== undefined &&
      (entry.known
        ? // One of a standard's several targets: published only when it is the one edited.
          edited.get(entry.standard) !== entry
        : await stillAsWritten(request.dir, entry, written));
    if (written !== undefined && unchanged) {
      imported.push({
        standard: entry.standard,
        path: entry.path,
        published: false,
        version: written.version,
        cid: written.content,
      });
      continue;
    }
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
  // A target canon.json already gave a standard keeps that standard's entry as it was.
  for (const entry of found)
    if (!entry.known) standards[entry.standard] = { targets: [entry.target] };
  const { chooseSpace } = await import("../operations/space-session.js");
  const space = project.manifest.space ?? (await chooseSpace(home, choice)).url;
  await writeProject({ ...project, manifest: { space, standards } });
  const pulled = await pullHoldingLock(home, {
    dir: request.dir,
    offline: true,
    timeoutMs: 1,
    warn: request.warn,
    // The recognised files hold what was just published (or found unchanged): a pull may add the corrections in force.
    overwritable: (path) =>
      found.some((entry) => path === entry.path || path.startsWith(`${entry.path}/`)),
  });
  return { project: request.dir, imported, skipped, pull: pulled };
}

/**
 * True when what import found at `entry` is exactly what the last pull wrote
 * for it (same target, every file with the lock's sha-256, no file more): the
 * rendered bytes of a release already published, not new content.
 */
async function stillAsWritten(
  dir: string,
  entry: KnownContext,
  written: LockedStandard,
): Promise<boolean> {
  const target = canonicalJson(entry.target);
  if (entry.known) {
    // One of the targets canon.json gives the standard: the lock's files at this place.
    if (!written.targets.some((other) => canonicalJson(other) === target)) return false;
  } else if (canonicalJson(written.targets) !== canonicalJson([entry.target])) return false;
  const files = written.files.filter(
    (file) => file.path === entry.path || file.path.startsWith(`${entry.path}/`),
  );
  if (files.length === 0) return false;
  for (const file of files)
    if ((await sha256OfFile(join(dir, file.path))) !== file.sha256) return false;
  if (!entry.folder) return true;
  const onDisk = await readdir(join(dir, entry.path), { recursive: true, withFileTypes: true });
  // Every file listed matched above, so an equal count means no file more.
  return onDisk.filter((item) => !item.isDirectory()).length === files.length;
}

/** A piece of context found, and whether canon.json already names it as a target. */
interface KnownContext extends FoundContext {
  /** True when canon.json already has a target writing this path: it is imported as that target's standard. */
  readonly known: boolean;
}

/**
 * What import found, under the standard canon.json already writes to its
 * path when there is one: a project that added `docs` (a skill whose default
 * target is `.claude/skills/docs/`) and pulled it holds that folder, which
 * import's own naming would call `skills/docs`, a second standard writing the
 * same place. The path is compared as the pull compares paths
 * ({@link sameFileKey}); a skill folder matches only a skill target, a file
 * only a file target.
 */
function asKnownTarget(entry: FoundContext, manifest: ProjectManifest): KnownContext {
  const key = sameFileKey(entry.path);
  const place = targetPlaces(manifest).find(
    (candidate) => candidate.folder === entry.folder && sameFileKey(candidate.path) === key,
  );
  if (place === undefined) return { ...entry, known: false };
  return { ...entry, standard: place.standard, target: place.target, known: true };
}

/**
 * For each standard found at several of the targets canon.json gives it, the
 * one place edited since the last pull (undefined when none was): that place
 * is what import publishes. Two edited places of one standard cannot both be
 * its next release.
 * @throws CanonError `BAD_ARGUMENT` naming both places.
 */
async function editedKnownTargets(
  dir: string,
  found: readonly KnownContext[],
  locked: LockFile["standards"],
): Promise<Map<string, KnownContext | undefined>> {
  const edited = new Map<string, KnownContext | undefined>();
  for (const entry of found) {
    if (!entry.known) continue;
    const written = standardEntry(locked, entry.standard);
    const changed = written === undefined || !(await stillAsWritten(dir, entry, written));
    const other = edited.get(entry.standard);
    if (changed && other !== undefined)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${other.path} and ${entry.path} are both targets of ${entry.standard} in canon.json and both differ from what the last pull wrote; import can publish only one of them as its next release: undo the edit of the other`,
      );
    if (changed || !edited.has(entry.standard))
      edited.set(entry.standard, changed ? entry : undefined);
  }
  return edited;
}

/**
 * Refuses, before anything is read or published, any file or skill folder
 * found whose real path leaves the repository: a cloned repository can
 * commit `CLAUDE.md` as a link to `~/.ssh/id_ed25519` or `/proc/self/environ`,
 * or `.claude/skills` as a link to another folder, and a published release
 * cannot be taken back. Links inside the repository are followed.
 * @throws CanonError `BAD_ARGUMENT` naming the path and where it leads.
 */
async function refuseLinksLeaving(dir: string, found: readonly FoundContext[]): Promise<void> {
  const root = await realpath(dir);
  for (const entry of found) {
    // A dangling link is reported when it is read.
    const real = await realpath(join(dir, entry.path)).catch(() => undefined);
    if (real === undefined) continue;
    const inside = relative(root, real);
    if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside))
      throw new CanonError(
        "BAD_ARGUMENT",
        `${entry.path} leads outside ${dir} through a symbolic link (to ${real}); import publishes only what the repository holds, so nothing was published`,
      );
  }
}
