import { mkdir, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { CanonError, isBundleCid } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { findStandard } from "../operations/find-standard.js";
import { pickRelease } from "../operations/pick-release.js";
import type { SpaceChoice } from "../operations/space-session.js";
import { viewSpace } from "../operations/space-view.js";
import { defaultTarget } from "./default-target.js";
import { sayWaiting, withPullLock } from "./project-lock.js";
import {
  ProjectManifest,
  readProjectOrEmpty,
  type Target,
  writeProject,
} from "./project-manifest.js";
import { standardEntry } from "./standards-record.js";
import { type TargetSettings, targetsFromFlags } from "./target-flags.js";
import { assertDistinctTargets } from "./target-places.js";

/** A standard to add to a project. */
export interface AddRequest extends SpaceChoice {
  /** The project directory (canon.json is created there when absent). */
  readonly dir: string;
  readonly standard: string;
  /** Where it goes, as `--as <type>[:<path>]` flags; the default target for its name when empty. */
  readonly targets: readonly string[];
  /** Front matter settings for the targets that take them. */
  readonly settings?: TargetSettings | undefined;
  /** A version number or CID to pin; the latest at each pull when absent. */
  readonly pin?: number | string | undefined;
  /** Told when another command holds the project's pull lock and `add` waits for it. */
  readonly warn?: ((message: string) => void) | undefined;
}

/** What `add` changed. */
export interface Added {
  readonly project: string;
  readonly standard: string;
  readonly targets: readonly Target[];
  /** True when canon.json already named the standard (its entry is replaced). */
  readonly replaced: boolean;
}

/**
 * Adds a standard to a project's canon.json (creating it, with the space's
 * URL, when absent, and the project folder when that is absent too), after
 * checking the space has it. Writes nothing else:
 * `pull` installs it. Reads and writes canon.json holding the project's pull
 * lock ({@link withPullLock}), so an add during a pull (or an import) waits
 * for it instead of writing between its reads and writes.
 * @throws CanonError `UNKNOWN_STANDARD` with a did-you-mean, `UNKNOWN_VERSION` or `BAD_CID` (a pin naming no release of it), `BAD_ARGUMENT` (a bad flag, no default target for its name), `BAD_CONFIG` (canon.json unreadable, or the new target would write where another standard's does; canon.json is then left as it was), `STORAGE_UNWRITABLE` (the folder or the lock cannot be made, or another command has held the lock for over two minutes; a folder this add made is removed again when it fails).
 */
export async function addStandard(home: CanonHome, request: AddRequest): Promise<Added> {
  // Flags are checked before the space is read, so a typo fails fast.
  const given = targetsFromFlags(request.targets, request.settings ?? {});
  // A malformed canon.json is reported before the lock (none is made there), and read again inside it.
  await readProjectOrEmpty(request.dir);
  // The lock lives in the project folder: a new one is made first, and removed again if nothing is added.
  const made = await mkdir(request.dir, { recursive: true }).catch(
    (error: NodeJS.ErrnoException) => {
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot make the project folder ${request.dir} (${error.code ?? error.message}); check the path and that its parent is writable`,
        { cause: error },
      );
    },
  );
  try {
    return await withPullLock(
      request.dir,
      "add",
      () => addHoldingLock(home, request, given),
      sayWaiting(request.dir, request.warn),
    );
  } catch (error) {
    if (made !== undefined) await removeEmptyFolders(request.dir, made);
    throw error;
  }
}

/** Removes `dir` and its parents up to `top` while they are empty (folders this add made for nothing). */
async function removeEmptyFolders(dir: string, top: string): Promise<void> {
  for (let folder = dir; ; folder = dirname(folder)) {
    try {
      await rmdir(folder);
    } catch {
      return;
    }
    if (folder === top) return;
  }
}

/** {@link addStandard}, once the project's pull lock is held. */
async function addHoldingLock(
  home: CanonHome,
  request: AddRequest,
  given: readonly Target[],
): Promise<Added> {
  const project = await readProjectOrEmpty(request.dir);
  const choice: SpaceChoice = { space: project.manifest.space ?? request.space };
  const { url, bundle } = await viewSpace(home, choice, async ({ chosen, state }) => {
    const standard = findStandard(state, request.standard);
    // A pin must name a release here (`--pin 0`, `--pin -3` name none): canon.json never names what no pull can install.
    if (request.pin !== undefined) pickRelease(standard, String(request.pin));
    return { url: chosen.url, bundle: isBundleCid(standard.latest.record.contentCid) };
  });
  const existing = standardEntry(project.manifest.standards, request.standard);
  const settingsGiven = Object.values(request.settings ?? {}).some((value) => value !== undefined);
  // Adding again without --as keeps the targets canon.json has (only a pin changes).
  const targets =
    given.length > 0
      ? given
      : existing !== undefined && !settingsGiven
        ? existing.targets
        : targetsFromFlags([defaultTarget(request.standard, bundle).type], request.settings ?? {});
  if (bundle) {
    const wrong = targets.find((target) => target.type !== "skill");
    if (wrong !== undefined)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${request.standard} is a bundle (a folder); it can only go to a skill target, not ${wrong.type}`,
      );
  }
  const replaced = existing !== undefined;
  const version = request.pin ?? existing?.version;
  const manifest = {
    space: project.manifest.space ?? url,
    standards: {
      ...project.manifest.standards,
      [request.standard]: {
        ...(version !== undefined ? { version } : {}),
        targets: [...targets],
      },
    },
  };
  assertDistinctTargets(manifest, project.manifestPath);
  // What is written must read back: a canon.json this add wrote is never one every later command refuses.
  const checked = ProjectManifest.safeParse(manifest);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new CanonError(
      "BAD_ARGUMENT",
      `${request.standard} cannot be added: field ${issue?.path.map(String).join(".") || "(top level)"}: ${issue?.message ?? "invalid"}; ${project.manifestPath} is unchanged`,
    );
  }
  await writeProject({ ...project, manifest });
  return { project: project.dir, standard: request.standard, targets, replaced };
}
