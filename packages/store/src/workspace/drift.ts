import { join } from "node:path";
import { correctionsInForce, renderContext, type SpaceState } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { pickRelease } from "../operations/pick-release.js";
import type { SpaceChoice } from "../operations/space-session.js";
import { viewSpace } from "../operations/space-view.js";
import { canonicalJson, type LockedStandard, type LockFile, readLock } from "./lock-file.js";
import { type ProjectStandard, readProject } from "./project-manifest.js";
import { standardEntry } from "./standards-record.js";
import { sha256OfFile } from "./write-tree.js";

/** Where one standard of a project stands. */
export type DriftState = "current" | "behind" | "modified" | "missing" | "forked" | "unknown";

/** One standard's drift, with what makes it so. */
export interface StandardDrift {
  readonly standard: string;
  readonly state: DriftState;
  /** One line for people: which file, which versions, why. */
  readonly detail: string;
  /** The version canon.lock installed, when it did. */
  readonly locked: number | null;
  /** behind: the releases after the installed one, up to the one a pull would install. */
  readonly versions: readonly { version: number; release: string; message: string }[];
  /** behind: corrections in force now that the installed rendered context did not list (and those no longer in force). */
  readonly corrections: readonly { id: string; text: string; change: "new" | "closed" }[];
  /** modified / missing: the files at fault. */
  readonly files: readonly string[];
}

/** A project's drift, standard by standard. */
export interface ProjectStatus {
  readonly project: string;
  /** True when every standard is current. */
  readonly current: boolean;
  readonly standards: readonly StandardDrift[];
}

/**
 * Where each standard of a project stands against canon.lock, the files on
 * disk and the replica: current, behind (newer versions or a change in the
 * corrections in force), modified (a written file's sha-256 differs), missing
 * (a file absent, or the standard not in the lock), forked (two heads
 * upstream), unknown (not in the replica). Offline; the space is read from the
 * verified snapshot when it is current, without loading Automerge.
 * @throws CanonError `BAD_CONFIG` (canon.json or canon.lock malformed), `FILE_UNREADABLE` (no canon.json), `NO_SPACE`.
 */
export async function projectStatus(
  home: CanonHome,
  request: SpaceChoice & { readonly dir: string },
): Promise<ProjectStatus> {
  const project = await readProject(request.dir);
  const lock = await readLock(project.dir);
  const choice: SpaceChoice = { space: project.manifest.space ?? request.space };
  const onDisk = new Map<string, string | undefined>();
  for (const entry of Object.values(lock?.standards ?? {}))
    for (const file of entry.files)
      onDisk.set(file.path, await sha256OfFile(join(project.dir, file.path)));
  const standards = await viewSpace(home, choice, async ({ state }) =>
    Promise.all(
      Object.entries(project.manifest.standards).map(([name, wanted]) =>
        driftOf(state, name, wanted, lock, onDisk),
      ),
    ),
  );
  for (const name of Object.keys(lock?.standards ?? {}))
    if (standardEntry(project.manifest.standards, name) === undefined)
      standards.push(
        drift(
          name,
          "missing",
          "in canon.lock but no longer in canon.json; `canon pull` removes its files",
          null,
        ),
      );
  standards.sort((a, b) => (a.standard < b.standard ? -1 : 1));
  return {
    project: project.dir,
    current: standards.every((standard) => standard.state === "current"),
    standards,
  };
}

async function driftOf(
  state: SpaceState,
  name: string,
  wanted: ProjectStandard,
  lock: LockFile | undefined,
  onDisk: ReadonlyMap<string, string | undefined>,
): Promise<StandardDrift> {
  const entry: LockedStandard | undefined = lock && standardEntry(lock.standards, name);
  const locked = entry?.version ?? null;
  const standard = state.standards.get(name);
  if (standard === undefined)
    return drift(
      name,
      "unknown",
      "not in this replica (sync, or check the name in canon.json)",
      locked,
    );
  if (entry === undefined)
    return drift(name, "missing", "not in canon.lock: run `canon pull`", locked);
  if (canonicalJson(entry.targets) !== canonicalJson(wanted.targets))
    return drift(
      name,
      "missing",
      "its targets in canon.json changed since the lock: run `canon pull`",
      locked,
    );
  const absent = entry.files
    .filter((file) => onDisk.get(file.path) === undefined)
    .map((f) => f.path);
  const edited = entry.files
    .filter((file) => {
      const sha = onDisk.get(file.path);
      return sha !== undefined && sha !== file.sha256;
    })
    .map((file) => file.path);
  if (edited.length > 0)
    return {
      ...drift(name, "modified", `edited locally: ${edited.join(", ")}`, locked),
      files: edited,
    };
  if (absent.length > 0)
    return { ...drift(name, "missing", `absent: ${absent.join(", ")}`, locked), files: absent };
  if (standard.forked)
    return drift(
      name,
      "forked",
      `${standard.heads.length} heads upstream (${standard.heads.map((h) => `v${h.record.version}`).join(", ")}); a maintainer publishes a version to merge them`,
      locked,
    );
  let target: ReturnType<typeof pickRelease>;
  try {
    target = pickRelease(
      standard,
      wanted.version === undefined ? undefined : String(wanted.version),
    );
  } catch (error) {
    return drift(name, "unknown", (error as Error).message, locked);
  }
  const versions =
    target.cid === entry.release
      ? []
      : [...standard.releases.values()]
          .filter(
            (r) => r.record.version > entry.version && r.record.version <= target.record.version,
          )
          .sort((a, b) => a.record.version - b.record.version)
          .map((r) => ({ version: r.record.version, release: r.cid, message: r.record.message }));
  // Only the corrections a rendered context would list (the newest that fit) count, as the lock records those.
  const all = correctionsInForce(standard, target.cid);
  const listed =
    all.length === 0
      ? new Set<string>()
      : new Set(
          (
            await renderContext({
              standard: name,
              version: target.record.version,
              content: new Uint8Array(0),
              corrections: all,
              bundle: true,
            })
          ).shown,
        );
  const inForce = all.filter((c) => listed.has(c.cid));
  const had = new Set(entry.corrections);
  const now = new Set(inForce.map((c) => c.cid));
  const corrections = [
    ...inForce
      .filter((c) => !had.has(c.cid))
      .map((c) => ({ id: c.cid, text: c.record.text, change: "new" as const })),
    ...entry.corrections
      .filter((cid) => !now.has(cid))
      .map((cid) => ({
        id: cid,
        text: standard.corrections.get(cid)?.correction.record.text ?? "",
        change: "closed" as const,
      })),
  ];
  if (target.cid === entry.release && corrections.length === 0)
    return drift(name, "current", `v${entry.version}`, locked);
  const parts = [
    ...(versions.length > 0
      ? [`v${entry.version} installed, v${target.record.version} available`]
      : [`v${entry.version}`]),
    ...(corrections.length > 0
      ? [
          `${corrections.filter((c) => c.change === "new").length} new, ${corrections.filter((c) => c.change === "closed").length} closed correction(s)`,
        ]
      : []),
  ];
  return {
    ...drift(name, "behind", `${parts.join("; ")}: run \`canon pull\``, locked),
    versions,
    corrections,
  };
}

function drift(
  standard: string,
  state: DriftState,
  detail: string,
  locked: number | null,
): StandardDrift {
  return { standard, state, detail, locked, versions: [], corrections: [], files: [] };
}
