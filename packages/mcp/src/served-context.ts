import { CanonError, decodeBundleManifest, isBundleCid, isCanonError } from "@canon/core";
import {
  type CanonHome,
  list,
  type ProjectStatus,
  projectStatus,
  type RenderedRelease,
  readLock,
  readProject,
  resolve,
  resolveRendered,
} from "@canon/store";

/** What the server serves: a project's pinned standards, or a whole space. */
export type ServedScope =
  | { readonly kind: "project"; readonly dir: string; readonly space?: string | undefined }
  | { readonly kind: "space"; readonly space?: string | undefined };

/** One standard as served: the release the scope pins, rendered, and the latest the replica holds. */
export interface ServedStandard {
  readonly standard: string;
  /** What `resolve` is asked for: the release canon.lock installed, the pin of canon.json, or the latest (undefined). */
  readonly selector: string | undefined;
  readonly rendered: RenderedRelease;
  /** The newest version this replica holds (greater than `rendered.version` when the project is behind). */
  readonly latestVersion: number;
  /** Paths of the bundle's files; empty for a single-file release. */
  readonly files: readonly string[];
}

/** Everything served at one moment, and why a standard could not be (unknown here, damaged). */
export interface ServedContext {
  readonly scope: ServedScope;
  readonly space: string | undefined;
  readonly standards: readonly ServedStandard[];
  readonly unavailable: readonly { readonly standard: string; readonly message: string }[];
}

/** The space a scope reads: canon.json's, else the one given, else the home's default. */
export async function spaceOf(scope: ServedScope): Promise<string | undefined> {
  if (scope.kind === "space") return scope.space;
  const project = await readProject(scope.dir);
  return project.manifest.space ?? scope.space;
}

/**
 * Reads what the scope serves, offline: each standard of canon.json at the
 * release canon.lock installed (else its pin, else the latest), or every
 * standard of the space at its latest, each rendered with the corrections
 * in force. A standard that cannot be read is listed in `unavailable`, not thrown.
 * @throws CanonError `FILE_UNREADABLE` / `BAD_CONFIG` (canon.json, canon.lock), `NO_SPACE`, `UNKNOWN_SPACE`.
 */
export async function readServedContext(
  home: CanonHome,
  scope: ServedScope,
): Promise<ServedContext> {
  const space = await spaceOf(scope);
  const listing = await list(home, { space });
  const latest = new Map(listing.standards.map((entry) => [entry.standard, entry.version]));
  const wanted: { standard: string; selector: string | undefined }[] = [];
  if (scope.kind === "project") {
    const project = await readProject(scope.dir);
    const lock = await readLock(project.dir);
    for (const [standard, entry] of Object.entries(project.manifest.standards)) {
      const locked = lock?.standards[standard];
      wanted.push({
        standard,
        selector:
          locked?.release ?? (entry.version === undefined ? undefined : String(entry.version)),
      });
    }
  } else {
    for (const entry of listing.standards)
      wanted.push({ standard: entry.standard, selector: undefined });
  }
  const standards: ServedStandard[] = [];
  const unavailable: { standard: string; message: string }[] = [];
  for (const { standard, selector } of wanted) {
    try {
      const rendered = await resolveRendered(home, { space, standard, selector });
      const files = await filesOf(home, space, standard, rendered);
      standards.push({
        standard,
        selector,
        rendered,
        latestVersion: Math.max(latest.get(standard) ?? rendered.version, rendered.version),
        files,
      });
    } catch (error) {
      if (!isCanonError(error)) throw error;
      unavailable.push({ standard, message: error.message });
    }
  }
  standards.sort((a, b) => (a.standard < b.standard ? -1 : 1));
  return { scope, space, standards, unavailable };
}

/** The paths of a bundle's files, from its manifest (none for a single file); no file is read. */
async function filesOf(
  home: CanonHome,
  space: string | undefined,
  standard: string,
  rendered: RenderedRelease,
): Promise<string[]> {
  if (!isBundleCid(rendered.cid)) return [];
  const manifest = await resolve(home, { space, standard, selector: rendered.release });
  try {
    return decodeBundleManifest(manifest.content).files.map((file) => file.path);
  } catch (cause) {
    throw new CanonError(
      "STORAGE_DAMAGED",
      `the manifest of ${standard}@${rendered.version} does not decode: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * The status the scope reports: `canon status --json` for a project, and for
 * a whole space its standards with their latest versions and open corrections.
 */
export async function statusOf(
  home: CanonHome,
  scope: ServedScope,
): Promise<ProjectStatus | SpaceStatus> {
  if (scope.kind === "project") return projectStatus(home, { dir: scope.dir, space: scope.space });
  const listing = await list(home, { space: scope.space });
  return {
    space: listing.space,
    name: listing.name,
    lastSync: listing.lastSync,
    standards: listing.standards.map((entry) => ({
      standard: entry.standard,
      version: entry.version,
      release: entry.release,
      forked: entry.forked,
      openCorrections: entry.openCorrections,
    })),
  };
}

/** A whole space's status: each standard's latest version. */
export interface SpaceStatus {
  readonly space: string;
  readonly name: string;
  readonly lastSync: string | null;
  readonly standards: readonly {
    readonly standard: string;
    readonly version: number;
    readonly release: string;
    readonly forked: boolean;
    readonly openCorrections: number;
  }[];
}
