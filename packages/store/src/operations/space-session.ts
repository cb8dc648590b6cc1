import { CanonError, type SpaceState } from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import { recordDiskProof } from "../caches/disk-proof.js";
import { writeHeadsCache } from "../caches/heads-cache.js";
import { stampIndexOf, writeStampIndex } from "../caches/stamp-index.js";
import { writeListingCache } from "../caches/write-listing-cache.js";
import { writeReadIndex } from "../caches/write-read-index.js";
import type { CanonHome } from "../home/canon-home.js";
import { type Config, readConfig, type SpaceEntry } from "../home/config.js";
import { withHomeLock } from "../home/home-lock.js";
import { openReplica } from "../open-replica.js";
import type { Replica, ReplicaOptions } from "../replica.js";
import { headsOf } from "../space/heads.js";
import type { FoldedSpace, LoadedSpace } from "../space/space-reader.js";
import { parseSpaceUrl, type SpaceAddress } from "../space/space-url.js";

/** Which space a command acts on: a URL, or the home's default when absent. */
export interface SpaceChoice {
  readonly space?: string | undefined;
}

/** The space a command acts on, as the home's config knows it. */
export interface ChosenSpace {
  readonly url: string;
  readonly address: SpaceAddress;
  readonly entry: SpaceEntry | undefined;
}

/**
 * Picks the space: the URL given, else the home's default.
 * @throws CanonError `NO_SPACE` when neither exists, `BAD_URL` for a malformed URL given,
 * `BAD_CONFIG` naming the file when the default is malformed.
 */
export async function chooseSpace(home: CanonHome, choice: SpaceChoice): Promise<ChosenSpace> {
  const config = await readConfig(home);
  const url = choice.space ?? config.defaultSpace;
  if (url === null || url === undefined) {
    throw new CanonError(
      "NO_SPACE",
      "no space yet; create one with `canon space create <name>` or join one with `canon space join <url>`",
    );
  }
  if (choice.space !== undefined) {
    // A URL has a scheme; anything without a colon is a space's name.
    if (!choice.space.includes(":")) return chooseByName(home, config, choice.space);
    return { url, address: parseSpaceUrl(url), entry: config.spaces[url] };
  }
  try {
    return { url, address: parseSpaceUrl(url), entry: config.spaces[url] };
  } catch (error) {
    throw new CanonError(
      "BAD_CONFIG",
      `the default space in ${home.config} is not a space URL (${JSON.stringify(url).slice(0, 120)}); fix or remove \`defaultSpace\` there, or pass --space <url> (\`canon space ls\` lists them)`,
      { cause: error },
    );
  }
}

/**
 * The joined space a name (as `space create` or the creator gave it) names.
 * @throws CanonError `UNKNOWN_SPACE` when no space has that name, `BAD_ARGUMENT` when several do.
 */
function chooseByName(home: CanonHome, config: Config, name: string): ChosenSpace {
  const matches = Object.entries(config.spaces).filter(([, entry]) => entry.name === name);
  const [match] = matches;
  if (match === undefined)
    throw new CanonError(
      "UNKNOWN_SPACE",
      `no space named ${JSON.stringify(name.slice(0, 200))} in ${home.config}; \`canon space ls\` lists them (or pass its canon: URL)`,
    );
  if (matches.length > 1)
    throw new CanonError(
      "BAD_ARGUMENT",
      `${matches.length} spaces are named ${JSON.stringify(name)} (${matches.map(([url]) => url).join(", ")}); pass the URL`,
    );
  const [url, entry] = match;
  return { url, address: parseSpaceUrl(url), entry };
}

/** A replica opened on one space, with the space folded. */
export interface SpaceSession {
  readonly replica: Replica;
  readonly chosen: ChosenSpace;
  readonly folded: FoldedSpace;
  readonly state: SpaceState;
}

/** How {@link withSpace} opens the replica. */
export interface SessionOptions extends ReplicaOptions {
  /**
   * Write back what the documents lost of the verified state before `work`
   * runs (see `SpaceReader.restoreMissing`): for commands that write anyway.
   */
  readonly writeBack?: boolean;
  /**
   * Hold the home lock ({@link withHomeLock}) while the session runs, so no
   * other process writes the replica's records meanwhile. Implied by `writeBack`.
   */
  readonly exclusive?: boolean;
  /** The caller holds the home lock already (it is not re-entrant): run as exclusive without taking it. */
  readonly lockHeld?: boolean;
}

/**
 * Opens the replica, folds the chosen space, runs `work`, then closes the
 * replica (flushing to disk) and refreshes the caches (read index, verified snapshot), even if `work` fails.
 */
export async function withSpace<T>(
  home: CanonHome,
  choice: SpaceChoice,
  work: (session: SpaceSession) => Promise<T>,
  options: SessionOptions = {},
): Promise<T> {
  const chosen = await chooseSpace(home, choice);
  const { writeBack = false, exclusive = writeBack, lockHeld = false, ...replicaOptions } = options;
  if (lockHeld) return session(home, chosen, work, writeBack, replicaOptions, true);
  if (exclusive)
    return withHomeLock(home, () => session(home, chosen, work, writeBack, replicaOptions, true));
  return session(home, chosen, work, writeBack, replicaOptions, false);
}

async function session<T>(
  home: CanonHome,
  chosen: ChosenSpace,
  work: (session: SpaceSession) => Promise<T>,
  writeBack: boolean,
  replicaOptions: ReplicaOptions,
  exclusive: boolean,
): Promise<T> {
  const replica = await openReplica(home, replicaOptions);
  // A replica held open by this home's owner catches up with what a command
  // run by another process (without the owner) wrote meanwhile.
  if (exclusive) await replica.catchUp();
  let folded: FoldedSpace | undefined;
  try {
    folded = await replica.spaces.fold(chosen.address);
    // What a peer deleted goes back in, and out at the next sync; fold again
    // if that created or routed a document, so `work` writes where it belongs.
    if (writeBack && (await replica.spaces.restoreMissing(folded)) > 0)
      folded = await replica.spaces.fold(chosen.address);
    const state = folded.fold.state;
    if (state === undefined) {
      throw new CanonError(
        "BAD_RECORD",
        `the genesis record ${chosen.address.genesis} of this space is missing or invalid; run \`canon doctor\``,
      );
    }
    return await work({ replica, chosen, folded, state });
  } finally {
    await replica.close();
    if (folded) await refreshCaches(replica, folded).catch(() => {});
  }
}

/**
 * Throws the storage error of a damaged document that holds `standard`, so a
 * read or a publish never silently works from part of a standard's history.
 */
export function assertReadable(loaded: Pick<LoadedSpace, "damaged">, standard: string): void {
  for (const { name, error } of loaded.damaged.values()) if (name === standard) throw error;
}

/**
 * Rewrites the space's read index, stamp index, verified snapshot and heads
 * cache (and fills the blob cache), folding again only if a document changed since `before`. Both
 * caches name the chunk files they describe, so they are written only when
 * the fold and those files hold exactly the same changes: everything in
 * memory is flushed first, and if a change arrives meanwhile (a live sync),
 * nothing is written and the caller's next round writes them. Nor are they
 * written while a document is damaged: a fold without it must never look
 * current. Call after the replica is closed, or between changes of a live one.
 */
export async function refreshCaches(replica: Replica, before: FoldedSpace): Promise<void> {
  const current = await replica.spaces.load(before.address);
  const heads = headsOf(current);
  await replica.repo.flush([
    current.space.documentId,
    ...[...current.standards.values()].map((handle) => handle.documentId),
  ]);
  // What this process holds, as the files on disk name it (automerge-repo compacts on its own).
  const fingerprint = await replica.storage.describedOnDisk(replica.spaces.fingerprintOf(current));
  if (headsOf(current) !== heads) return;
  // The home's owner wrote the caches for exactly these heads and files already
  // (a sync right after a publish). The files too: a compaction keeps the heads but renames them.
  const writtenKey = `${heads}\n${JSON.stringify(fingerprint)}`;
  const written = cachesWritten.get(replica);
  if (written?.get(before.address.documentId) === writtenKey) return;
  // A standard document that arrived after loading has chunks but is not in the fold.
  const unloaded = current.documents.filter(
    (id) => !current.standards.has(id) && !current.damaged.has(id),
  );
  if (unloaded.some((id) => (fingerprint[id]?.length ?? 0) > 0)) return;
  const after = before.heads === heads ? before : await replica.spaces.fold(before.address);
  if (after.heads !== heads || after.fold.state === undefined) return;
  await fillBlobCache(replica, after);
  if (after.damaged.size > 0) return;
  await replica.spaces.rememberFold(after, fingerprint);
  await writeReadIndex(replica.home, before.address.documentId, fingerprint, after.fold.state);
  await writeListingCache(
    replica.home,
    before.address.documentId,
    fingerprint,
    after.fold.state,
    after.fold.rejected.length,
  );
  await writeStampIndex(
    replica.home,
    before.address.documentId,
    stampIndexOf(before.address.genesis, fingerprint, after.fold),
  );
  const documentHeads: Record<string, readonly string[]> = {};
  for (const handle of [current.space, ...current.standards.values()])
    documentHeads[handle.documentId] = handle.heads();
  await writeHeadsCache(replica.home, before.address.documentId, {
    fingerprint,
    heads: documentHeads,
  });
  // The next command trusts these caches after one read, if nothing was written meanwhile.
  await recordDiskProof(replica.home, replica.storage, before.address.documentId, fingerprint);
  if (replica.isHeldOpen) {
    const bySpace = cachesWritten.get(replica) ?? new Map<string, string>();
    bySpace.set(before.address.documentId, writtenKey);
    cachesWritten.set(replica, bySpace);
  }
}

/** For a replica held open (the home's owner): the heads and chunk files each space's caches were last written for. */
const cachesWritten = new WeakMap<Replica, Map<string, string>>();

/** Content CIDs a held-open replica found in the blob cache (blobs are never removed while it runs). */
const cachedContent = new WeakMap<Replica, Set<string>>();

/** Past this many releases not known to be cached, the blob cache's folder is listed once rather than checked a release at a time. */
const LIST_BLOBS_PAST = 32;

/**
 * How many bytes of blobs are gathered before they are written together:
 * a join's 10,000 blobs of a few kilobytes go in one pack of the blob
 * cache (`BlobCache.putAll`), while memory stays bounded for large ones.
 */
const BLOB_BYTES_A_BATCH = 64 * 1024 * 1024;

/** Copies the content of every accepted release (and every file of a bundle) into the blob cache, so pinned reads never need Automerge. */
async function fillBlobCache(replica: Replica, folded: FoldedSpace): Promise<void> {
  const blobs = new BlobCache(replica.home);
  // A replica held open (the home's owner) remembers what it found cached, so a
  // sync costs a check per new release rather than one per release of the space.
  let known = cachedContent.get(replica);
  if (known === undefined) {
    known = new Set();
    if (replica.isHeldOpen) cachedContent.set(replica, known);
  }
  const unknown = [...(folded.fold.state?.standards.values() ?? [])].flatMap((standard) =>
    [...standard.releases.values()]
      .map(({ record }) => record)
      .filter((record) => !known.has(record.contentCid)),
  );
  const listed = unknown.length > LIST_BLOBS_PAST ? await blobs.stored() : undefined;
  const files = new Map<string, Uint8Array>();
  const contents = new Map<string, Uint8Array>();
  let gathered = 0;
  const write = async () => {
    gathered = 0;
    // A bundle's files first, its manifest last: a manifest in the cache means its files are there too.
    await blobs.putAll(files);
    await blobs.putAll(contents);
    for (const cid of contents.keys()) known.add(cid);
    files.clear();
    contents.clear();
  };
  for (const record of unknown) {
    if (known.has(record.contentCid) || contents.has(record.contentCid)) continue;
    if (listed ? listed.has(record.contentCid) : await blobs.has(record.contentCid)) {
      known.add(record.contentCid);
      continue;
    }
    const pieces = await replica.content.pieces(folded, record);
    if (pieces === undefined) continue;
    for (const { entry, bytes } of pieces.files ?? []) {
      files.set(entry.cid, bytes);
      gathered += bytes.length;
    }
    contents.set(record.contentCid, pieces.content);
    gathered += pieces.content.length;
    if (gathered >= BLOB_BYTES_A_BATCH) await write();
  }
  await write();
}
