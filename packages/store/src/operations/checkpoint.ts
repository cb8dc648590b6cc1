import {
  CanonError,
  type Checkpoint,
  type CheckpointEntry,
  type CheckpointPage,
  checkpointBucketOf,
  checkpointEntries,
  type Did,
  MAX_CHECKPOINT_PAGES,
  MAX_CHECKPOINT_STANDARDS,
  MAX_RECORD_BYTES,
  type SignedRecord,
  type SpaceSettings,
  type SpaceState,
  signRecord,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import type { Replica } from "../replica.js";
import type { LoadedSpace } from "../space/space-reader.js";
import { MAINTAINER, requireRole } from "./require-role.js";
import { type SpaceChoice, withSpace } from "./space-session.js";

/** A checkpoint just signed. */
export interface CheckpointWritten {
  readonly cid: string;
  readonly createdAt: string;
  readonly expires: string;
  /** Standards whose heads it names. */
  readonly standards: number;
  /** Pages it names, and how many of them were signed now (the others were named again unchanged). */
  readonly pages: number;
  readonly pagesSigned: number;
}

/**
 * What one page is planned to hold, in bytes of DAG-CBOR (roughly): the
 * number of buckets is the smallest power of two that keeps the average
 * page near this, so a publish re-signs one small page.
 */
const PAGE_TARGET_BYTES = 8 * 1024;
/** A page past this (an unlucky bucket) makes the signer use twice the buckets: a record is at most 64 KiB. */
const PAGE_LIMIT_BYTES = MAX_RECORD_BYTES - 8 * 1024;
/** A CID string's bytes in DAG-CBOR, and a page entry's framing, for the estimate. */
const CID_BYTES = 64;
const ENTRY_BYTES = 40;

/**
 * True when `did` is a maintainer whose newest checkpoint no longer describes
 * the space: none yet, a version-1 one (it does not name corrections), other
 * heads than now (releases, correction logs, membership), or more than half
 * its validity gone. Syncs and watches of maintainers then sign a new one, so
 * a space that changes, or simply ages, always has a current checkpoint.
 * Never due when the space's heads do not fit {@link MAX_CHECKPOINT_PAGES}
 * pages (a sync or watch must not fail for it; its readers see no current checkpoint).
 */
export function checkpointDue(state: SpaceState, did: string, now: Date): boolean {
  if (state.members.get(did as Did) !== "maintainer") return false;
  const { entries, buckets } = checkpointPlan(state);
  // Past what the pages can name, none can be signed, and a sync or watch must not fail for it.
  if (buckets === undefined) return false;
  const own = state.checkpoints.filter((signed) => signed.record.author === did).at(-1);
  if (own === undefined || own.record.v === 1) return true;
  const halfLife = (state.settings.checkpointExpirySeconds * 1000) / 2;
  if (now.getTime() - Date.parse(own.record.createdAt) > halfLife) return true;
  const named = namedEntries(state, own.record);
  return (
    named === undefined ||
    headsKey(own.record.membership, named) !== headsKey(state.membershipHeads, entries)
  );
}

/** A state's checkpoint entries, and how many pages name them (undefined when they fit none). */
interface CheckpointPlan {
  readonly entries: readonly CheckpointEntry[];
  readonly buckets: number | undefined;
}

/** Plans already made, by state: a sync asks {@link checkpointDue}, then {@link appendCheckpoint}, of the same state. */
const plans = new WeakMap<SpaceState, CheckpointPlan>();

/**
 * The state's checkpoint entries and number of pages ({@link checkpointBucketsFor}),
 * computed once a state (a state is a value: its entries cannot change).
 */
function checkpointPlan(state: SpaceState): CheckpointPlan {
  let plan = plans.get(state);
  if (plan === undefined) {
    const entries = checkpointEntries(state);
    let buckets: number | undefined;
    try {
      buckets = checkpointBucketsFor(entries);
    } catch {
      buckets = undefined;
    }
    plan = { entries, buckets };
    plans.set(state, plan);
  }
  return plan;
}

/**
 * Signs a checkpoint of the space as `signer` sees it and appends it to the
 * space document (it goes out with the next exchange): the pages whose
 * content changed since the signer's previous checkpoint, then the
 * checkpoint naming every page.
 * @throws CanonError `NOT_A_MEMBER` unless the signer is a maintainer,
 * `BAD_ARGUMENT` when the space's heads do not fit {@link MAX_CHECKPOINT_PAGES} pages.
 */
export async function appendCheckpoint(
  replica: Replica,
  loaded: Pick<LoadedSpace, "space">,
  state: SpaceState,
  signer: Signer,
  now = new Date(),
): Promise<CheckpointWritten> {
  requireRole(signer, state, MAINTAINER, "signing a checkpoint");
  const { entries, buckets: planned } = checkpointPlan(state);
  // Past what the pages can name: the error says why (computed again, on this path only).
  const buckets = planned ?? checkpointBucketsFor(entries);
  const membership = [...state.membershipHeads];
  const author = signer.keyPair.did;
  const reusable = ownPages(state, author);
  const pages: string[] = [];
  let pagesSigned = 0;
  for (const [bucket, standards] of pageContents(entries, buckets).entries()) {
    const key = pageKey(buckets, bucket, standards);
    const earlier = reusable.get(key);
    if (earlier !== undefined) {
      pages.push(earlier);
      continue;
    }
    const page: CheckpointPage = {
      type: "canon/checkpoint-page",
      v: 1,
      space: state.genesis.cid,
      buckets,
      bucket,
      standards: standards.map(({ standard, heads, corrections }) => ({
        standard,
        heads: [...heads],
        corrections: [...corrections],
      })),
      membership,
      author,
      createdAt: now.toISOString(),
    };
    const signed = await signRecord(signer.keyPair, page);
    replica.appendRecord(loaded.space, signed);
    pages.push(signed.cid);
    pagesSigned++;
  }
  const record: Checkpoint = {
    type: "canon/checkpoint",
    v: 2,
    space: state.genesis.cid,
    standards: entries.length,
    pages,
    expires: new Date(now.getTime() + state.settings.checkpointExpirySeconds * 1000).toISOString(),
    membership,
    author,
    createdAt: now.toISOString(),
  };
  const signed = await signRecord(signer.keyPair, record);
  replica.appendRecord(loaded.space, signed);
  return {
    cid: signed.cid,
    createdAt: record.createdAt,
    expires: record.expires,
    standards: entries.length,
    pages: pages.length,
    pagesSigned,
  };
}

/**
 * `canon checkpoint`: signs a checkpoint now, whatever is due.
 * @throws CanonError as {@link appendCheckpoint}.
 */
export async function writeCheckpoint(
  home: CanonHome,
  signer: Signer,
  choice: SpaceChoice,
): Promise<CheckpointWritten> {
  return withSpace(
    home,
    choice,
    ({ replica, folded, state }) => appendCheckpoint(replica, folded, state, signer),
    { exclusive: true },
  );
}

/** What `canon space settings` changes. */
export interface SettingsRequest extends SpaceChoice {
  /** How long a checkpoint stays valid, in seconds (60 s to 366 days). */
  readonly checkpointExpirySeconds: number;
}

/**
 * Signs new settings for the space (maintainers only); the newest accepted
 * settings record is in force on every replica.
 * @throws CanonError `NOT_A_MEMBER`, `BAD_ARGUMENT` (out of range).
 */
export async function changeSettings(
  home: CanonHome,
  signer: Signer,
  request: SettingsRequest,
): Promise<{ readonly cid: string; readonly checkpointExpirySeconds: number }> {
  const seconds = request.checkpointExpirySeconds;
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > 366 * 24 * 3600)
    throw new CanonError(
      "BAD_ARGUMENT",
      "a checkpoint's expiry is between 1 minute and 366 days (e.g. 30m, 12h, 7d)",
    );
  return withSpace(
    home,
    request,
    async ({ replica, folded, state, chosen }) => {
      requireRole(signer, state, MAINTAINER, "changing the space's settings");
      const record: SpaceSettings = {
        type: "canon/space-settings",
        v: 1,
        space: chosen.address.genesis,
        checkpointExpirySeconds: seconds,
        membership: [...state.membershipHeads],
        author: signer.keyPair.did,
        createdAt: new Date().toISOString(),
      };
      const signed: SignedRecord = await signRecord(signer.keyPair, record);
      replica.appendRecord(folded.space, signed);
      return { cid: signed.cid, checkpointExpirySeconds: seconds };
    },
    { exclusive: true },
  );
}

/**
 * How many pages a checkpoint of these entries has: the smallest power of two that keeps
 * the average page near {@link PAGE_TARGET_BYTES} and every page under
 * {@link PAGE_LIMIT_BYTES} and {@link MAX_CHECKPOINT_STANDARDS} standards.
 * @throws CanonError `BAD_ARGUMENT` past {@link MAX_CHECKPOINT_PAGES} buckets.
 */
export function checkpointBucketsFor(entries: readonly CheckpointEntry[]): number {
  const total = entries.reduce((sum, entry) => sum + entryBytes(entry), 0);
  let buckets = 1;
  while (buckets < MAX_CHECKPOINT_PAGES && buckets * PAGE_TARGET_BYTES < total) buckets *= 2;
  for (; buckets <= MAX_CHECKPOINT_PAGES; buckets *= 2) {
    const sizes = new Array<number>(buckets).fill(0);
    const counts = new Array<number>(buckets).fill(0);
    for (const entry of entries) {
      const bucket = checkpointBucketOf(entry.standard, buckets);
      sizes[bucket] = (sizes[bucket] ?? 0) + entryBytes(entry);
      counts[bucket] = (counts[bucket] ?? 0) + 1;
    }
    if (
      sizes.every((size) => size <= PAGE_LIMIT_BYTES) &&
      counts.every((count) => count <= MAX_CHECKPOINT_STANDARDS)
    )
      return buckets;
  }
  throw new CanonError(
    "BAD_ARGUMENT",
    `the space's ${entries.length} standards and their heads do not fit the ${MAX_CHECKPOINT_PAGES} pages a checkpoint names`,
  );
}

/** A page entry's size in DAG-CBOR, roughly (its name, its CIDs, the framing). */
function entryBytes(entry: CheckpointEntry): number {
  return (
    ENTRY_BYTES +
    entry.standard.length +
    CID_BYTES * (entry.heads.length + entry.corrections.length)
  );
}

/** The entries of each bucket, in name order (the entries come sorted). */
function pageContents(entries: readonly CheckpointEntry[], buckets: number): CheckpointEntry[][] {
  const pages: CheckpointEntry[][] = Array.from({ length: buckets }, () => []);
  for (const entry of entries) pages[checkpointBucketOf(entry.standard, buckets)]?.push(entry);
  return pages;
}

/** Pages of the signer's newest version-2 checkpoint the state holds, by content: those a new checkpoint may name again. */
function ownPages(state: SpaceState, author: string): Map<string, string> {
  const own = state.checkpoints
    .filter((signed) => signed.record.author === author && signed.record.v === 2)
    .at(-1);
  const reusable = new Map<string, string>();
  if (own === undefined || own.record.v !== 2) return reusable;
  for (const cid of own.record.pages) {
    const page = state.checkpointPages.get(cid);
    if (page === undefined || page.record.author !== author) continue;
    const { buckets, bucket, standards } = page.record;
    reusable.set(pageKey(buckets, bucket, standards), cid);
  }
  return reusable;
}

/** A page's content as one comparable string. */
function pageKey(buckets: number, bucket: number, standards: readonly CheckpointEntry[]): string {
  return JSON.stringify([
    buckets,
    bucket,
    standards.map(({ standard, heads, corrections }) => [standard, heads, corrections]),
  ]);
}

/** The entries a version-2 checkpoint's pages name, sorted by name, or undefined when a page is not held. */
function namedEntries(
  state: SpaceState,
  checkpoint: Checkpoint & { v: 2 },
): CheckpointEntry[] | undefined {
  const entries: CheckpointEntry[] = [];
  for (const cid of checkpoint.pages) {
    const page = state.checkpointPages.get(cid);
    if (page === undefined) return undefined;
    entries.push(...page.record.standards);
  }
  return entries.sort((a, b) => (a.standard < b.standard ? -1 : 1));
}

/** The heads a checkpoint names, as one comparable string. */
function headsKey(membership: readonly string[], entries: readonly CheckpointEntry[]): string {
  return JSON.stringify([
    [...membership].sort(),
    entries.map(({ standard, heads, corrections }) => [standard, heads, corrections]),
  ]);
}
