import type { CanonError, FoldResult, Rejection, SignedRecord, SpaceState } from "@canon/core";
import { type HeldDiskProof, provenDiskProof } from "../caches/disk-proof.js";
import {
  foldSnapshot,
  readVerifiedSnapshot,
  type VerifiedSnapshot,
} from "../caches/verified-snapshot.js";
import type { CanonHome } from "../home/canon-home.js";
import { chunkFingerprint, chunkKeyOf } from "../storage/chunk-layout.js";
import { FileStorage } from "../storage/file-storage.js";
import { readGeneration } from "../storage/replica-generation.js";
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
  /**
   * When the disk proof held with every chunk file and folder `stat`ed: the
   * change time of the generation it held at. No named file or folder
   * changed since (`ProvenUnchanged` in `caches/disk-proof.ts`).
   */
  readonly provenSinceMs?: number;
  /** The disk proof that held then (with {@link provenSinceMs}): passed along to the next one recorded. */
  readonly provenBy?: HeldDiskProof;
  /**
   * True when it is the one this process kept ({@link keepCurrent}) and the
   * generation is still the one its disk proof was recorded at: no Canon
   * process wrote a chunk since this one did, so a replica held open has
   * nothing to catch up with.
   */
  readonly kept?: boolean;
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
  const full = options.agents === undefined;
  const kept = keptInMemory.get(keyOf(home, chosen.address.documentId));
  // A kept snapshot holds every author's stamps, so it answers a partial request too.
  if (
    kept !== undefined &&
    kept.current.snapshot.partial === undefined &&
    kept.current.snapshot.genesis === chosen.address.genesis
  ) {
    const generation = readGeneration(home.replica);
    const proven = provenDiskProof(home, chosen.address.documentId, { statFiles: true });
    if (
      generation?.token === kept.token &&
      proven !== undefined &&
      JSON.stringify(proven.fingerprint) === JSON.stringify(kept.current.snapshot.fingerprint)
    )
      // The proof held at the token kept (it names that token), so at `generation`.
      return {
        ...kept.current,
        provenSinceMs: generation.changedMs,
        provenBy: proven,
        kept: true,
      };
  }
  const snapshot = await readVerifiedSnapshot(
    home,
    chosen.address.documentId,
    full ? {} : { agents: options.agents },
  );
  if (snapshot === undefined || snapshot.genesis !== chosen.address.genesis) return undefined;
  // One read when the disk proof holds (nothing written, nothing changed since
  // the caches were); otherwise every chunk file is listed (and, for a full
  // read, checked).
  const before = readGeneration(home.replica);
  const proven = provenDiskProof(home, chosen.address.documentId, { statFiles: true });
  const held =
    proven !== undefined &&
    JSON.stringify(proven.fingerprint) === JSON.stringify(snapshot.fingerprint);
  if (!held) {
    const onDisk = await chunkFingerprint(home.replica, Object.keys(snapshot.fingerprint));
    if (JSON.stringify(onDisk) !== JSON.stringify(snapshot.fingerprint)) return undefined;
    if (full && !(await chunksIntact(home, onDisk))) return undefined;
  }
  // The generation the proof held at, when it did not move while the proof was read.
  const after = held ? readGeneration(home.replica) : undefined;
  const provenSinceMs =
    before !== undefined && after?.token === before.token ? before.changedMs : undefined;
  // A snapshot that passed its checksum but does not fold (edited by hand) is ignored.
  const fold = await foldSnapshot(snapshot).catch(() => undefined);
  if (fold?.state === undefined) return undefined;
  return {
    snapshot,
    fold: { ...fold, state: fold.state },
    ...(provenSinceMs !== undefined && proven !== undefined
      ? { provenSinceMs, provenBy: proven }
      : {}),
  };
}

/** Where {@link keepCurrent} keeps a space's current snapshot. */
function keyOf(home: CanonHome, spaceDocumentId: string): string {
  return `${home.replica}\n${spaceDocumentId}`;
}

/** By home and space: a current snapshot this process wrote, and the generation its disk proof holds at. */
const keptInMemory = new Map<
  string,
  { readonly token: string; readonly current: CurrentSnapshot }
>();

/**
 * Keeps, in this process, the snapshot and fold whose caches it just wrote
 * with a disk proof at generation `token`: while the generation is still
 * that one (and the files pass the proof's checks), {@link currentSnapshot}
 * returns it without reading or folding anything. What a long-lived process
 * (the home's owner) gains: a publish costs the same at 10 standards or 1,000.
 */
export function keepCurrent(
  home: CanonHome,
  spaceDocumentId: string,
  token: string,
  current: CurrentSnapshot,
): void {
  keptInMemory.set(keyOf(home, spaceDocumentId), { token, current });
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
