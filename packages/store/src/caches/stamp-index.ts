import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  correctionsInForce,
  type FoldResult,
  type Provenance,
  type SignedRecord,
} from "@canon/core";
import { z } from "zod";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { checksummed, unchecksummed } from "../storage/checksummed.js";
import { chunkFingerprint } from "../storage/chunk-layout.js";

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
  readonly v: 1;
  readonly genesis: string;
  readonly fingerprint: Record<string, string[]>;
  /** Output sha256 (hex) → CIDs of the stamps naming it, sorted. */
  readonly bySha256: Record<string, string[]>;
  /** Per agent did: its accepted stamps' summary. */
  readonly agents: Record<string, IndexedAgent>;
  /** Per standard that is not retired: its latest version when the index was written. */
  readonly latest: Record<string, number>;
}

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

const StampIndexShape = z.object({
  v: z.literal(1),
  genesis: z.string(),
  fingerprint: z.record(z.string(), z.array(z.string())),
  bySha256: z.record(z.string(), z.array(z.string())),
  agents: z.record(
    z.string(),
    z.object({
      stamps: z.number().int(),
      lastStampedAt: z.string(),
      latest: z.record(z.string(), IndexedStampedReleaseShape),
    }),
  ),
  latest: z.record(z.string(), z.number().int()),
});

/** The stamp index file's tag (`checksummed.ts`): "Canon Provenance", format 1. */
export const STAMP_INDEX_TAG = "CNP1";

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
  const bySha256: Record<string, string[]> = {};
  for (const signed of fold.verified.values()) {
    const record = signed.record;
    if (record.type !== "canon/provenance" || record.space !== genesis) continue;
    for (const subject of record.subject) {
      const cids = bySha256[subject.digest.sha256] ?? [];
      if (!cids.includes(signed.cid)) cids.push(signed.cid);
      bySha256[subject.digest.sha256] = cids;
    }
  }
  for (const cids of Object.values(bySha256)) cids.sort();
  const agents: Record<string, IndexedAgent> = {};
  const accepted = [...(fold.state?.provenance.values() ?? [])].sort(byDate);
  for (const { cid, record } of accepted as SignedRecord<Provenance>[]) {
    const agent = agents[record.author] ?? { stamps: 0, lastStampedAt: "", latest: {} };
    const latest = { ...agent.latest };
    const named = new Map<string, number>();
    for (const entry of record.context)
      named.set(entry.standard, Math.max(named.get(entry.standard) ?? 0, entry.version));
    for (const entry of record.context) {
      if (entry.version !== named.get(entry.standard)) continue;
      const standard = fold.state?.standards.get(entry.standard);
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
    agents[record.author] = {
      stamps: agent.stamps + 1,
      // Oldest first: this stamp is the agent's newest so far.
      lastStampedAt: record.createdAt,
      latest,
    };
  }
  const latestOf: Record<string, number> = {};
  for (const [name, standard] of fold.state?.standards ?? [])
    if (standard.retired === undefined) latestOf[name] = standard.latest.record.version;
  return { v: 1, genesis, fingerprint, bySha256, agents, latest: latestOf };
}

/** Oldest first by signed date, then CID: the newest stamp of a standard wins. */
function byDate(a: SignedRecord, b: SignedRecord): number {
  const x = (a.record as Provenance).createdAt;
  const y = (b.record as Provenance).createdAt;
  return x !== y ? (x < y ? -1 : 1) : a.cid < b.cid ? -1 : 1;
}

/** Writes a space's stamp index atomically. */
export async function writeStampIndex(
  home: CanonHome,
  spaceDocumentId: string,
  index: StampIndex,
): Promise<void> {
  await writeFileAtomic(
    stampIndexPath(home, spaceDocumentId),
    checksummed(STAMP_INDEX_TAG, new TextEncoder().encode(JSON.stringify(index))),
  );
}

/**
 * The space's stamp index when it is intact and still describes exactly the
 * chunk files on disk; undefined otherwise (missing, damaged, of another
 * space, or stale), and the caller rebuilds it from a fold.
 */
export async function readStampIndex(
  home: CanonHome,
  address: { readonly documentId: string; readonly genesis: string },
): Promise<StampIndex | undefined> {
  let index: StampIndex;
  try {
    const opened = unchecksummed(
      STAMP_INDEX_TAG,
      await readFile(stampIndexPath(home, address.documentId)),
    );
    if (!("data" in opened)) return undefined;
    const parsed = StampIndexShape.safeParse(JSON.parse(new TextDecoder().decode(opened.data)));
    if (!parsed.success) return undefined;
    index = parsed.data;
  } catch {
    return undefined;
  }
  if (index.genesis !== address.genesis) return undefined;
  const onDisk = await chunkFingerprint(home.replica, Object.keys(index.fingerprint));
  return JSON.stringify(onDisk) === JSON.stringify(index.fingerprint) ? index : undefined;
}
