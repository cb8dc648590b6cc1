import { CanonError, type SpaceState } from "@canon/core";
import { BlobCache } from "../blobs/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig, type SpaceEntry } from "../home/config.js";
import { openReplica } from "../open-replica.js";
import type { FoldedSpace, LoadedSpace, Replica, ReplicaOptions } from "../replica.js";
import { parseSpaceUrl, type SpaceAddress } from "../space/space-url.js";
import { writeReadIndex } from "../space/write-read-index.js";

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
  if (choice.space !== undefined)
    return { url, address: parseSpaceUrl(url), entry: config.spaces[url] };
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

/** A replica opened on one space, with the space folded. */
export interface SpaceSession {
  readonly replica: Replica;
  readonly chosen: ChosenSpace;
  readonly folded: FoldedSpace;
  readonly state: SpaceState;
}

/**
 * Opens the replica, folds the chosen space, runs `work`, then closes the
 * replica (flushing to disk) and refreshes the read index, even if `work` fails.
 */
export async function withSpace<T>(
  home: CanonHome,
  choice: SpaceChoice,
  work: (session: SpaceSession) => Promise<T>,
  options: ReplicaOptions = {},
): Promise<T> {
  const chosen = await chooseSpace(home, choice);
  const replica = await openReplica(home, options);
  let folded: FoldedSpace | undefined;
  let headsBefore = "";
  try {
    folded = await replica.foldSpace(chosen.address);
    headsBefore = headsOf(folded);
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
    if (folded) await refreshReadIndex(replica, folded, headsBefore).catch(() => {});
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
 * Rewrites the space's read index and verified snapshot (and fills the blob
 * cache), folding again only if a document changed since `before`. Call after
 * the replica is closed, so both describe the chunk files as left on disk.
 */
export async function refreshReadIndex(
  replica: Replica,
  before: FoldedSpace,
  headsBefore = headsOf(before),
): Promise<void> {
  // Chunk names first: what they hold is already in memory, so a fold from
  // here on covers them, even if a sync adds changes meanwhile.
  const current = await replica.loadSpace(before.address);
  const fingerprint = replica.fingerprintOf(current);
  const after = headsBefore === headsOf(current) ? before : await replica.foldSpace(before.address);
  if (after.fold.state === undefined) return;
  await fillBlobCache(replica, after);
  await replica.rememberFold(after, fingerprint);
  await writeReadIndex(replica.home, before.address.documentId, fingerprint, after.fold.state);
}

function headsOf(loaded: LoadedSpace): string {
  return JSON.stringify([
    loaded.space.heads(),
    ...[...loaded.standards.values()].map((handle) => handle.heads()),
  ]);
}

/** Copies the content of every accepted release into the blob cache, so pinned reads never need Automerge. */
async function fillBlobCache(replica: Replica, folded: FoldedSpace): Promise<void> {
  const blobs = new BlobCache(replica.home);
  for (const standard of folded.fold.state?.standards.values() ?? []) {
    for (const { record } of standard.releases.values()) {
      if (await blobs.has(record.contentCid)) continue;
      const bytes = await replica.verifiedContent(folded, record);
      if (bytes) await blobs.put(record.contentCid, bytes);
    }
  }
}
