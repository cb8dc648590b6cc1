import { unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  correctionsInForce,
  type FoldResult,
  type Provenance,
  type SignedRecord,
  type SpaceState,
} from "@canon/core";
import { z } from "zod";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { storedChecksum } from "../storage/checksummed.js";
import { chunkFingerprint } from "../storage/chunk-layout.js";
import { checksumOf, NOT_DURABLE } from "./cache-tail.js";
import {
  encodeChecksummedJson,
  readChecksummedJson,
  readChecksummedJsonOrDrop,
  writeChecksummedJson,
} from "./checksummed-json.js";
import { fileIdentityOf } from "./file-identity.js";

/**
 * The stamp index: for one space, every stamp its feeds hold that passed its
 * own checks (accepted by the space's rules or not, so a refused stamp is
 * found and reported with its reason), keyed by the sha256 of each output it
 * names; and, per agent, the latest context it stamped, for `canon agents`.
 * A cache like the read index: tagged with the chunk files it was computed
 * from, checksummed ({@link STAMP_INDEX_TAG}), ignored and rebuilt from the
 * fold when either does not hold, never trusted for a verdict (every stamp
 * it names is verified again against the fold).
 */
export interface StampIndex {
  readonly v: 2;
  readonly genesis: string;
  readonly fingerprint: Record<string, string[]>;
  /**
   * Output sha256 (hex) → the stamps naming it, by CID. On disk in
   * {@link STAMP_SHARDS} shards by the sha256's first hex digit, each named
   * with its checksum in the main file: read back, it holds only the shard
   * asked for ({@link readStampIndex}), so a lookup costs the same at a
   * thousand stamps or a million.
   */
  readonly bySha256: Record<string, IndexedStamp[]>;
  /** Per agent did: its accepted stamps' summary. */
  readonly agents: Record<string, IndexedAgent>;
  /** Per standard that is not retired: its latest version when the index was written. */
  readonly latest: Record<string, number>;
}

/** A stamp naming an output: its CID and author (whose stamps a verdict needs). */
export interface IndexedStamp {
  readonly cid: string;
  readonly author: string;
}

/** Shards of the index's `bySha256`: one per first hex digit of the output's sha256. */
export const STAMP_SHARDS = 16;

/** What the index keeps of one agent's accepted stamps. */
export interface IndexedAgent {
  readonly stamps: number;
  readonly lastStampedAt: string;
  /** Per standard: the release of its newest stamp naming that standard (the highest version when one stamp names several). */
  readonly latest: Record<string, IndexedStampedRelease>;
}

/** A release as an agent's newest stamp of a standard named it. */
export interface IndexedStampedRelease {
  readonly version: number;
  readonly releaseCid: string;
  readonly stampCid: string;
  readonly stampedAt: string;
  /** The standard's latest version when the index was written. */
  readonly latestVersion: number;
  /** Versions between the stamped release and the latest (0 when it is the latest; by version number). */
  readonly behindVersions: number;
  /** Corrections open when the index was written (in force for the latest release) that the stamp did not name. */
  readonly behindCorrections: number;
}

const IndexedStampedReleaseShape = z.object({
  version: z.number().int(),
  releaseCid: z.string(),
  stampCid: z.string(),
  stampedAt: z.string(),
  latestVersion: z.number().int(),
  behindVersions: z.number().int(),
  behindCorrections: z.number().int(),
});

const AgentsShape = z.record(
  z.string(),
  z.object({
    stamps: z.number().int(),
    lastStampedAt: z.string(),
    latest: z.record(z.string(), IndexedStampedReleaseShape),
  }),
);

const MainShape = z.object({
  v: z.literal(2),
  genesis: z.string(),
  fingerprint: z.record(z.string(), z.array(z.string())),
  agents: AgentsShape,
  latest: z.record(z.string(), z.number().int()),
  /** Per shard (first hex digit): the checksum (hex) of its file. */
  shards: z.record(z.string(), z.string()),
});

/**
 * What a writer needs of the main file on disk: the shards it names. Parsed
 * alone (zod strips the rest), since checking the whole file (its
 * fingerprint names every chunk of every document) was most of a write.
 */
const MainShards = MainShape.pick({ v: true, shards: true });

/** A shard: sha256 → [stamp CID, author] pairs. Parsed without zod (thousands of entries), checked by hand. */
type Shard = Record<string, [cid: string, author: string][]>;

/** The stamp index file's tag (`checksummed.ts`): "Canon Provenance", format 2 (sharded). */
export const STAMP_INDEX_TAG = "CNP2";
/** A shard file's tag. */
const SHARD_TAG = "CNPS";

/** The shard a sha256 (hex) falls in. */
function shardOf(sha256: string): string {
  return sha256.slice(0, 1).toLowerCase();
}

/** Where a shard of a space's stamp index lives. */
function shardPath(home: CanonHome, spaceDocumentId: string, shard: string): string {
  return join(home.indexes, `${spaceDocumentId}.stamps.d`, shard);
}

/** Where a space's stamp index lives. */
export function stampIndexPath(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.stamps`);
}

/** The stamp index of a fold: every verified stamp of the space by output sha256, and the accepted ones per agent. */
export function stampIndexOf(
  genesis: string,
  fingerprint: Record<string, string[]>,
  fold: Pick<FoldResult, "verified" | "state">,
): StampIndex {
  const bySha256: Record<string, IndexedStamp[]> = {};
  for (const signed of fold.verified.values()) {
    const record = signed.record;
    if (record.type !== "canon/provenance" || record.space !== genesis) continue;
    addBySha256(bySha256, signed as SignedRecord<Provenance>);
  }
  for (const stamps of Object.values(bySha256)) stamps.sort((a, b) => (a.cid < b.cid ? -1 : 1));
  const agents: Record<string, IndexedAgent> = {};
  const accepted = [...(fold.state?.provenance.values() ?? [])].sort(byDate);
  for (const signed of accepted as SignedRecord<Provenance>[])
    agents[signed.record.author] = withStamp(agents[signed.record.author], signed, fold.state);
  return { v: 2, genesis, fingerprint, bySha256, agents, latest: latestOf(fold.state) };
}

/**
 * The index with stamps added that the space's rules accepted (checked
 * against `state`, which holds them), as a fold of the space with them would
 * give it, without the fold: their outputs in `bySha256`, and their authors'
 * rows. For a writer that just appended them (`canon stamp`). `index` holds
 * the shards of the stamps' outputs (read with their sha256s).
 */
export function withAcceptedStamps(
  index: StampIndex,
  fingerprint: Record<string, string[]>,
  stamps: readonly SignedRecord<Provenance>[],
  state: SpaceState,
): StampIndex {
  const bySha256: Record<string, IndexedStamp[]> = {};
  for (const [sha256, list] of Object.entries(index.bySha256)) bySha256[sha256] = [...list];
  const agents = { ...index.agents };
  for (const signed of [...stamps].sort(byDate)) {
    addBySha256(bySha256, signed);
    for (const subject of signed.record.subject)
      bySha256[subject.digest.sha256]?.sort((a, b) => (a.cid < b.cid ? -1 : 1));
    agents[signed.record.author] = withStamp(agents[signed.record.author], signed, state);
  }
  return { ...index, fingerprint, bySha256, agents, latest: latestOf(state) };
}

/** Files a stamp under each output it names. */
function addBySha256(bySha256: Record<string, IndexedStamp[]>, signed: SignedRecord<Provenance>) {
  for (const subject of signed.record.subject) {
    const stamps = bySha256[subject.digest.sha256] ?? [];
    if (!stamps.some((stamp) => stamp.cid === signed.cid))
      stamps.push({ cid: signed.cid, author: signed.record.author });
    bySha256[subject.digest.sha256] = stamps;
  }
}

/** An agent's row with one more accepted stamp (the newest wins each standard it names). */
function withStamp(
  agent: IndexedAgent | undefined,
  signed: SignedRecord<Provenance>,
  state: SpaceState | undefined,
): IndexedAgent {
  const { cid, record } = signed;
  const before = agent ?? { stamps: 0, lastStampedAt: "", latest: {} };
  const latest = { ...before.latest };
  const named = new Map<string, number>();
  for (const entry of record.context)
    named.set(entry.standard, Math.max(named.get(entry.standard) ?? 0, entry.version));
  for (const entry of record.context) {
    if (entry.version !== named.get(entry.standard)) continue;
    const older = latest[entry.standard];
    if (older !== undefined && !newer(record.createdAt, cid, older.stampedAt, older.stampCid))
      continue;
    const standard = state?.standards.get(entry.standard);
    const latestVersion = standard?.latest.record.version ?? entry.version;
    const seen = new Set(record.corrections);
    latest[entry.standard] = {
      version: entry.version,
      releaseCid: entry.releaseCid,
      stampCid: cid,
      stampedAt: record.createdAt,
      latestVersion,
      behindVersions: Math.max(0, latestVersion - entry.version),
      behindCorrections:
        standard === undefined
          ? 0
          : correctionsInForce(standard, standard.latest.cid).filter((c) => !seen.has(c.cid))
              .length,
    };
  }
  return {
    stamps: before.stamps + 1,
    lastStampedAt: [record.createdAt, before.lastStampedAt].sort().at(-1) as string,
    latest,
  };
}

/** True when a stamp (date, CID) comes after another in {@link byDate} order. */
function newer(date: string, cid: string, otherDate: string, otherCid: string): boolean {
  return date !== otherDate ? date > otherDate : cid > otherCid;
}

/** Per standard that is not retired: its latest version. */
function latestOf(state: SpaceState | undefined): Record<string, number> {
  const latest: Record<string, number> = {};
  for (const [name, standard] of state?.standards ?? [])
    if (standard.retired === undefined) latest[name] = standard.latest.record.version;
  return latest;
}

/** Oldest first by signed date, then CID: the newest stamp of a standard wins. */
function byDate(a: SignedRecord, b: SignedRecord): number {
  const x = (a.record as Provenance).createdAt;
  const y = (b.record as Provenance).createdAt;
  return x !== y ? (x < y ? -1 : 1) : a.cid < b.cid ? -1 : 1;
}

/**
 * Writes a space's stamp index: the shards first (only those whose content
 * changed; with `only`, only those shards, the others kept as the main file
 * on disk names them), then the main file naming each by its checksum.
 */
export async function writeStampIndex(
  home: CanonHome,
  spaceDocumentId: string,
  index: StampIndex,
  options: { readonly only?: readonly string[] } = {},
): Promise<void> {
  const path = stampIndexPath(home, spaceDocumentId);
  const mine = writtenHere.get(path);
  const previous =
    mine !== undefined && mine.identity === fileIdentityOf(path)
      ? { shards: mine.shards }
      : await readMain(home, spaceDocumentId, MainShards);
  writtenHere.delete(path);
  const shards: Record<string, string> = {};
  const grouped = new Map<string, Shard>();
  for (const [sha256, stamps] of Object.entries(index.bySha256)) {
    const shard = shardOf(sha256);
    const entries = grouped.get(shard) ?? {};
    entries[sha256] = stamps.map((stamp) => [stamp.cid, stamp.author]);
    grouped.set(shard, entries);
  }
  const only = options.only === undefined ? undefined : new Set(options.only.map(shardOf));
  if (only !== undefined) {
    if (previous === undefined) throw new Error("no stamp index to update");
    for (const [shard, checksum] of Object.entries(previous.shards))
      if (!only.has(shard)) shards[shard] = checksum;
  }
  for (const [shard, entries] of grouped) {
    if (only !== undefined && !only.has(shard)) continue;
    const file = encodeChecksummedJson(SHARD_TAG, entries);
    const checksum = checksumOf(file);
    shards[shard] = checksum;
    const path = shardPath(home, spaceDocumentId, shard);
    if (previous?.shards[shard] === checksum && (await storedChecksum(path)) === checksum) continue;
    await writeFileAtomic(path, file, 0o644, false, NOT_DURABLE);
  }
  const main = {
    v: 2,
    genesis: index.genesis,
    fingerprint: index.fingerprint,
    agents: index.agents,
    latest: index.latest,
    shards,
  };
  await writeChecksummedJson(path, STAMP_INDEX_TAG, main, { durable: NOT_DURABLE });
  const identity = fileIdentityOf(path);
  if (identity !== undefined) writtenHere.set(path, { shards, identity });
  // A shard no longer named (its stamps gone from the index) goes.
  for (const shard of Object.keys(previous?.shards ?? {}))
    if (!Object.hasOwn(shards, shard))
      await unlink(shardPath(home, spaceDocumentId, shard)).catch(() => {});
}

/**
 * By main file path: the shards this process last named there, and the
 * file's identity right after. While the file still has it, no one wrote it
 * since, and the next write takes the shards from here instead of reading
 * the main file back (its fingerprint names every chunk of every document:
 * 120 KB at 1,000 standards, checked and parsed each write in the owner).
 */
const writtenHere = new Map<
  string,
  { readonly shards: Readonly<Record<string, string>>; readonly identity: string }
>();

/** The main file (or, with `shape`, the part of it `shape` checks), when intact and of this format. */
async function readMain<S extends z.ZodType = typeof MainShape>(
  home: CanonHome,
  spaceDocumentId: string,
  shape: S = MainShape as unknown as S,
): Promise<z.infer<S> | undefined> {
  const parsed = shape.safeParse(
    await readChecksummedJson(stampIndexPath(home, spaceDocumentId), STAMP_INDEX_TAG),
  );
  return parsed.success ? parsed.data : undefined;
}

/** A shard's entries, when its file is intact and the one `checksum` names. */
async function readShard(
  home: CanonHome,
  spaceDocumentId: string,
  shard: string,
  checksum: string,
): Promise<Shard | undefined> {
  // A damaged shard goes, so the next write does not skip it as unchanged.
  const entries = await readChecksummedJsonOrDrop(
    shardPath(home, spaceDocumentId, shard),
    SHARD_TAG,
    checksum,
  );
  if (typeof entries !== "object" || entries === null || Array.isArray(entries)) return undefined;
  for (const [sha256, stamps] of Object.entries(entries)) {
    if (shardOf(sha256) !== shard || !Array.isArray(stamps)) return undefined;
    for (const pair of stamps)
      if (!Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "string")
        return undefined;
  }
  return entries as Shard;
}

/**
 * The space's stamp index when it is intact and still describes exactly the
 * chunk files on disk; undefined otherwise (missing, damaged, of another
 * space, or stale), and the caller rebuilds it from a fold. `bySha256` holds
 * the shards of the outputs `sha256s` names (none when absent: the agents'
 * rows alone, for `canon agents`).
 */
export async function readStampIndex(
  home: CanonHome,
  address: { readonly documentId: string; readonly genesis: string },
  options: {
    readonly sha256s?: readonly string[];
    /** The chunk files it must describe, when not those on disk (a writer updating it after writing). */
    readonly describing?: Readonly<Record<string, readonly string[]>>;
  } = {},
): Promise<StampIndex | undefined> {
  const main = await readMain(home, address.documentId);
  if (main === undefined || main.genesis !== address.genesis) return undefined;
  const expected =
    options.describing ?? (await chunkFingerprint(home.replica, Object.keys(main.fingerprint)));
  if (JSON.stringify(expected) !== JSON.stringify(main.fingerprint)) return undefined;
  const bySha256: Record<string, IndexedStamp[]> = {};
  for (const shard of new Set((options.sha256s ?? []).map(shardOf))) {
    const checksum = main.shards[shard];
    if (checksum === undefined) continue;
    const entries = await readShard(home, address.documentId, shard, checksum);
    if (entries === undefined) return undefined;
    for (const [sha256, stamps] of Object.entries(entries))
      bySha256[sha256] = stamps.map(([cid, author]) => ({ cid, author }));
  }
  return {
    v: 2,
    genesis: main.genesis,
    fingerprint: main.fingerprint,
    bySha256,
    agents: main.agents,
    latest: main.latest,
  };
}
