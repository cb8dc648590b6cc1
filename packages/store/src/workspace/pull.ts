import { join } from "node:path";
import {
  CanonError,
  type Correction,
  correctionsInForce,
  type Release,
  renderContext,
  type SignedRecord,
  type SpaceState,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { findStandard } from "../operations/find-standard.js";
import { pickRelease } from "../operations/pick-release.js";
import { renderRelease } from "../operations/render.js";
import type { SpaceChoice } from "../operations/space-session.js";
import { viewSpace } from "../operations/space-view.js";
import {
  assertLockReadable,
  canonicalJson,
  type LockedFile,
  type LockedStandard,
  type LockFile,
  readLock,
  writeLock,
} from "./lock-file.js";
import { type ProjectCommand, sayWaiting, withPullLock } from "./project-lock.js";
import { type Project, readProject } from "./project-manifest.js";
import { releaseFiles } from "./release-files.js";
import { sameFileKey } from "./same-file-key.js";
import { standardEntry } from "./standards-record.js";
import { syncBeforeReading } from "./sync-first.js";
import { targetFiles } from "./targets/target-files.js";
import type { TargetFile } from "./targets/target-input.js";
import {
  checkInsideProject,
  removeStale,
  sha256Of,
  sha256OfFile,
  writeTree,
} from "./write-tree.js";

/** How to pull. */
export interface PullRequest extends SpaceChoice {
  /** The project directory (holding canon.json). */
  readonly dir: string;
  /** Install exactly what canon.lock names; fail when it no longer matches canon.json. */
  readonly frozen?: boolean | undefined;
  /** Overwrite files edited since the last pull (or that canon did not write). */
  readonly force?: boolean | undefined;
  /** Paths that may be overwritten whatever they hold (`import`: the files it just published). */
  readonly overwritable?: ((path: string) => boolean) | undefined;
  /** Do not sync first, even when the space has a relay. */
  readonly offline?: boolean | undefined;
  /** Bound of the sync before reading. */
  readonly timeoutMs: number;
  /** Told each warning (a SKILL.md without front matter, a fork, offline). */
  readonly warn?: ((message: string) => void) | undefined;
  /** The canon command pulling (`pull` unless said), as another command waiting for the project's pull lock names it. */
  readonly asCommand?: ProjectCommand | undefined;
}

/** What a pull installed of one standard. */
export interface PulledStandard {
  readonly standard: string;
  readonly version: number;
  readonly release: string;
  readonly files: number;
  readonly corrections: number;
}

/** What a pull did. */
export interface PullReport {
  readonly project: string;
  readonly space: string;
  /** "synced", "offline" (relay unreachable: the replica as of its last sync) or "skipped" (no relay, or --offline). */
  readonly sync: "synced" | "offline" | "skipped";
  readonly standards: readonly PulledStandard[];
  /** Files written (those already holding the right bytes are not rewritten). */
  readonly written: number;
  /** Files of the previous lock no target writes any more, removed. */
  readonly removed: readonly string[];
  /** Such files kept because they were edited since. */
  readonly kept: readonly string[];
}

/** One standard resolved for a pull: the release and the corrections its rendered context lists. */
interface Planned {
  readonly name: string;
  readonly release: SignedRecord<Release>;
  readonly corrections: readonly SignedRecord<Correction>[];
}

/**
 * Installs a project's standards: syncs first when the space has a relay
 * (bounded; unreachable → a warning and the replica as it is), resolves each
 * standard of canon.json (its pin, else the latest), writes every target
 * atomically (refusing, before any write, to overwrite a file that holds
 * neither the new bytes nor those the lock names, unless `force`), removes files the previous lock wrote that no target writes now
 * (unless edited), and writes canon.lock last. With `frozen`, installs exactly
 * what canon.lock names (releases and corrections) and checks every file's
 * sha-256 against it before writing anything. Two pulls of one project run
 * one after the other (the project's pull lock, {@link withPullLock}): the
 * second reads canon.json and canon.lock once the first has written them.
 * @throws CanonError `BAD_CONFIG` (canon.json or canon.lock malformed, targets colliding or leaving the project),
 * `PROJECT_DRIFT` (`frozen` and the lock does not match; a file to write was edited since the last pull
 * or not written by canon, unless `force`), `UNKNOWN_STANDARD`, `UNKNOWN_VERSION`, `STORAGE_UNWRITABLE` (also when another pull of the
 * project has held its lock for over two minutes).
 */
export async function pull(home: CanonHome, request: PullRequest): Promise<PullReport> {
  // canon.json is checked before the lock (no lock is made where there is no project), and read again inside it.
  const { dir } = await readProject(request.dir);
  return withPullLock(
    dir,
    request.asCommand ?? "pull",
    () => pullHoldingLock(home, request),
    sayWaiting(dir, request.warn),
  );
}

/**
 * {@link pull}, once the project's pull lock is held (by the caller: `import`
 * pulls as the last step of its own work under the lock).
 */
export async function pullHoldingLock(home: CanonHome, request: PullRequest): Promise<PullReport> {
  const warn = request.warn ?? (() => {});
  const project = await readProject(request.dir);
  const lock = await readLock(project.dir);
  if (request.frozen) assertLockMatches(project, lock);
  const choice: SpaceChoice = { space: project.manifest.space ?? request.space };
  const sync = await syncBeforeReading(home, choice, request, warn);

  const { url, planned } = await viewSpace(home, choice, async ({ chosen, state }) => ({
    url: chosen.url,
    planned: Object.entries(project.manifest.standards).map(([name, wanted]) =>
      planStandard(state, project, name, wanted.version, request.frozen ? lock : undefined, warn),
    ),
  }));
  if (request.frozen && lock !== undefined && lock.space !== url)
    throw new CanonError(
      "PROJECT_DRIFT",
      `canon.lock was written for space ${lock.space}, but this project reads ${url}; run \`canon pull\` without --frozen`,
    );

  const owners = new Map<string, { standard: string; path: string }>();
  const files: TargetFile[] = [];
  const locked: Record<string, LockedStandard> = {};
  for (const plan of planned) {
    const { record } = plan.release;
    const rendered = await renderRelease(home, choice, plan.release, plan.corrections);
    const shown = plan.corrections.filter((c) => rendered.shown.includes(c.cid));
    const source = await releaseFiles(home, choice, plan.name, plan.release.cid);
    // The section alone (what a bundle renders to), for targets that keep their bytes exact.
    const section =
      shown.length === 0
        ? null
        : (
            await renderContext({
              standard: plan.name,
              version: record.version,
              content: source.content,
              corrections: shown,
              bundle: true,
            })
          ).bytes;
    const input = {
      standard: plan.name,
      content: source.content,
      rendered: rendered.bytes,
      section,
      files: source.files,
    };
    const targets = standardEntry(project.manifest.standards, plan.name)?.targets ?? [];
    const written: LockedFile[] = [];
    for (const target of targets) {
      for (const file of targetFiles(input, target, warn)) {
        // Keyed ignoring case and Unicode normalisation: on macOS and Windows two such paths are one file.
        const owner = owners.get(sameFileKey(file.path));
        if (owner !== undefined)
          throw new CanonError(
            "BAD_CONFIG",
            `${project.manifestPath}: ${owner.standard} and ${plan.name} both write ${file.path}${owner.path === file.path ? "" : ` (as ${owner.path}, the same file ignoring case and Unicode normalisation)`}; give one of them another path`,
          );
        owners.set(sameFileKey(file.path), { standard: plan.name, path: file.path });
        files.push(file);
        written.push({ path: file.path, sha256: sha256Of(file.bytes) });
      }
    }
    written.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    locked[plan.name] = {
      version: record.version,
      release: plan.release.cid,
      content: record.contentCid,
      rendered: rendered.cid,
      corrections: [...rendered.shown],
      targets,
      files: written,
    };
    if (request.frozen) assertFilesMatch(plan.name, written, lock);
  }

  await checkInsideProject(
    project.dir,
    files.map((file) => file.path),
  );
  const next: LockFile = { lockVersion: 1, space: url, standards: locked };
  assertLockReadable(next, project.dir);
  const previous = Object.values(lock?.standards ?? {}).flatMap((entry) => entry.files);
  if (!request.force)
    await refuseOverwritingEdits(
      project.dir,
      files.filter((file) => !request.overwritable?.(file.path)),
      previous,
    );
  const writtenCount = await writeTree(project.dir, files);
  const { removed, kept } = await removeStale(
    project.dir,
    previous,
    new Set(files.map((file) => file.path)),
  );
  for (const path of kept)
    warn(`${path} is no longer a target but was edited since the last pull; left in place`);
  await writeLock(project.dir, next);
  return {
    project: project.dir,
    space: url,
    sync,
    standards: planned.map((plan) => ({
      standard: plan.name,
      version: plan.release.record.version,
      release: plan.release.cid,
      files: locked[plan.name]?.files.length ?? 0,
      corrections: locked[plan.name]?.corrections.length ?? 0,
    })),
    written: writtenCount,
    removed,
    kept,
  };
}

/** The release and corrections to install for one standard. */
function planStandard(
  state: SpaceState,
  project: Project,
  name: string,
  pin: number | string | undefined,
  frozen: LockFile | undefined,
  warn: (message: string) => void,
): Planned {
  let standard: ReturnType<typeof findStandard>;
  try {
    standard = findStandard(state, name);
  } catch (error) {
    if (error instanceof CanonError)
      throw new CanonError(error.code, `${project.manifestPath}: ${error.message}`, {
        cause: error,
      });
    throw error;
  }
  const entry = frozen && standardEntry(frozen.standards, name);
  if (entry !== undefined) {
    const release = pickRelease(standard, entry.release);
    const corrections = entry.corrections.map((cid) => {
      const correction = standard.corrections.get(cid)?.correction;
      if (correction === undefined)
        throw new CanonError(
          "UNKNOWN_CORRECTION",
          `canon.lock names correction ${cid} of ${name}, which this replica lacks; sync, or run \`canon pull\` without --frozen`,
        );
      return correction;
    });
    return { name, release, corrections };
  }
  const release = pickRelease(standard, pin === undefined ? undefined : String(pin));
  if (pin === undefined && standard.forked)
    warn(
      `${name} is forked upstream (${standard.heads.length} heads); installing ${release.cid} (v${release.record.version}) until a maintainer publishes a version that merges them`,
    );
  return { name, release, corrections: correctionsInForce(standard, release.cid) };
}

/**
 * With --frozen: the lock must name exactly canon.json's standards, each with
 * the same targets and a release its pin accepts.
 * @throws CanonError `PROJECT_DRIFT` naming the first standard that differs.
 */
function assertLockMatches(project: Project, lock: LockFile | undefined): asserts lock is LockFile {
  if (lock === undefined)
    throw new CanonError(
      "PROJECT_DRIFT",
      `--frozen needs canon.lock in ${project.dir}; run \`canon pull\` and commit the lock`,
    );
  const wanted = project.manifest.standards;
  for (const [name, standard] of Object.entries(wanted)) {
    const entry = standardEntry(lock.standards, name);
    const stale = (why: string) =>
      new CanonError(
        "PROJECT_DRIFT",
        `canon.lock does not match canon.json for ${name}: ${why}; run \`canon pull\` and commit the lock`,
      );
    if (entry === undefined) throw stale("it is not in the lock");
    if (canonicalJson(entry.targets) !== canonicalJson(standard.targets))
      throw stale("its targets changed");
    const pin = standard.version;
    if (
      pin !== undefined &&
      pin !== entry.version &&
      pin !== entry.release &&
      pin !== entry.content
    )
      throw stale(`canon.json pins ${pin}, the lock has v${entry.version}`);
  }
  for (const name of Object.keys(lock.standards))
    if (standardEntry(wanted, name) === undefined)
      throw new CanonError(
        "PROJECT_DRIFT",
        `canon.lock does not match canon.json for ${name}: canon.json no longer names it; run \`canon pull\` and commit the lock`,
      );
}

/** With --frozen: the files to write must be exactly those the lock names, by sha-256. */
function assertFilesMatch(
  name: string,
  files: readonly LockedFile[],
  lock: LockFile | undefined,
): void {
  const expected = (lock && standardEntry(lock.standards, name))?.files ?? [];
  if (canonicalJson(files) === canonicalJson(expected)) return;
  const differing =
    files.find((file, i) => canonicalJson(file) !== canonicalJson(expected[i]))?.path ??
    expected[files.length]?.path ??
    "(a file)";
  throw new CanonError(
    "PROJECT_DRIFT",
    `canon.lock does not match what ${name} installs (${differing} differs by sha-256; edited by hand?); nothing was written. Run \`canon pull\` without --frozen to rewrite the lock`,
  );
}

/**
 * Refuses to overwrite a file that holds neither the bytes about to be
 * written nor those the previous lock names for it: an edit made since the
 * last pull, or a file canon never wrote (a hand-written AGENTS.md).
 * @throws CanonError `PROJECT_DRIFT` naming the files, before anything is written.
 */
async function refuseOverwritingEdits(
  dir: string,
  files: readonly TargetFile[],
  previous: readonly LockedFile[],
): Promise<void> {
  const locked = new Map(previous.map((file) => [file.path, file.sha256]));
  const edited: string[] = [];
  for (const file of files) {
    const current = await sha256OfFile(join(dir, file.path));
    // Absent, or not a regular file (a FIFO, a link: hashed without following it), is not what canon wrote: replaced.
    if (current === undefined || current === locked.get(file.path)) continue;
    if (current !== sha256Of(file.bytes)) edited.push(file.path);
  }
  if (edited.length === 0) return;
  throw new CanonError(
    "PROJECT_DRIFT",
    `${edited.slice(0, 3).join(", ")}${edited.length > 3 ? ` and ${edited.length - 3} more` : ""} ${edited.length === 1 ? "was" : "were"} edited since the last pull (or not written by canon); nothing was written. Keep the edit elsewhere (or publish it), then \`canon pull --force\` to overwrite`,
  );
}
