import type { CanonError, FoldResult, Rejection, SignedRecord, SpaceState } from "@canon/core";
import {
  foldSnapshot,
  readVerifiedSnapshot,
  type VerifiedSnapshot,
} from "../caches/verified-snapshot.js";
import type { CanonHome } from "../home/canon-home.js";
import { chunkFingerprint, chunkKeyOf } from "../storage/chunk-layout.js";
import { FileStorage } from "../storage/file-storage.js";
import { type ChosenSpace, chooseSpace, type SpaceChoice, withSpace } from "./space-session.js";

/** A space's verified state, for commands that only read it. */
export interface SpaceView {
  readonly chosen: ChosenSpace;
  readonly state: SpaceState;
  /** Every entry the fold left out, with the reason. */
  readonly rejected: readonly Rejection[];
  /** Every record that passed its own checks (see FoldResult.verified), to fold again with more. */
  readonly verified: ReadonlyMap<string, SignedRecord>;
  /** Standard documents whose stored files are damaged, by document id (see LoadedSpace.damaged). */
  readonly damaged: ReadonlyMap<string, { readonly name: string; readonly error: CanonError }>;
  /** True when `state` and `verified` hold only the stamps of the `agents` asked for ({@link SnapshotOptions}). */
  readonly partial: boolean;
}

/**
 * Runs `work` on the chosen space's verified state. When the space's
 * verified snapshot still names exactly the chunk files on disk, and each of
 * them passes its checksum, the state is folded from the snapshot alone,
 * without loading Automerge (a 10,000-record space opens in a fraction of a
 * second); otherwise the replica is opened and folded as {@link withSpace}
 * does, which also reports damaged files and refreshes the snapshot. With
 * `agents`, the fast way holds only those authors' stamps (see {@link SnapshotOptions}).
 */
export async function viewSpace<T>(
  home: CanonHome,
  choice: SpaceChoice,
  work: (view: SpaceView) => Promise<T>,
  options: SnapshotOptions = {},
): Promise<T> {
  const chosen = await chooseSpace(home, choice);
  const current = await currentSnapshot(home, chosen, options);
  if (current !== undefined) {
    const { state, rejected, verified } = current.fold;
    const partial = current.snapshot.partial !== undefined;
    return work({ chosen, state, rejected, verified, damaged: new Map(), partial });
  }
  return withSpace(home, choice, ({ chosen, state, folded }) =>
    work({
      chosen,
      state,
      rejected: folded.fold.rejected,
      verified: folded.fold.verified,
      damaged: folded.damaged,
      partial: false,
    }),
  );
}

/** How much of a snapshot to read. */
export interface SnapshotOptions {
  /**
   * Read the stamps of these authors only (with every other record): the
   * state then holds no other agent's stamps, which no rule about these
   * authors' stamps depends on, and costs the same however many the others
   * made. The chunk files are then compared by name only, not read: a
   * verdict rests on the records verified before, and the commands that load
   * documents report a damaged one.
   */
  readonly agents?: readonly string[] | undefined;
}

/** A verified snapshot that still describes the replica, with its fold. */
export interface CurrentSnapshot {
  readonly snapshot: VerifiedSnapshot;
  /** The fold of its records: the space's state, as the documents give it. */
  readonly fold: FoldResult & { readonly state: SpaceState };
}

/**
 * The chosen space's verified snapshot when it still names exactly the chunk
 * files on disk, each of them passes its checksum, and its records fold into
 * a state; undefined otherwise (none, stale, damaged, or edited by hand). The
 * documents then hold exactly its entries, so its fold is theirs.
 */
export async function currentSnapshot(
  home: CanonHome,
  chosen: ChosenSpace,
  options: SnapshotOptions = {},
): Promise<CurrentSnapshot | undefined> {
  const snapshot = await readVerifiedSnapshot(
    home,
    chosen.address.documentId,
    options.agents === undefined ? {} : { agents: options.agents },
  );
  if (snapshot === undefined || snapshot.genesis !== chosen.address.genesis) return undefined;
  const onDisk = await chunkFingerprint(home.replica, Object.keys(snapshot.fingerprint));
  if (JSON.stringify(onDisk) !== JSON.stringify(snapshot.fingerprint)) return undefined;
  if (options.agents === undefined && !(await chunksIntact(home, onDisk))) return undefined;
  // A snapshot that passed its checksum but does not fold (edited by hand) is ignored.
  const fold = await foldSnapshot(snapshot).catch(() => undefined);
  if (fold?.state === undefined) return undefined;
  return { snapshot, fold: { ...fold, state: fold.state } };
}

/** True when every chunk file named passes its checksum (a damaged one is reported by the slow path). */
async function chunksIntact(
  home: CanonHome,
  fingerprint: Readonly<Record<string, readonly string[]>>,
): Promise<boolean> {
  const storage = new FileStorage(home.replica);
  try {
    for (const [documentId, names] of Object.entries(fingerprint))
      for (const name of names) await storage.load(chunkKeyOf(documentId, name));
    return true;
  } catch {
    return false;
  }
}
