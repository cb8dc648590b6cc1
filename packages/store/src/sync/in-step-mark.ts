import { unlink } from "node:fs/promises";
import { join } from "node:path";
import type { SpaceState } from "@canon/core";
import { z } from "zod";
import { readChecksummedJsonSync, writeChecksummedJson } from "../caches/checksummed-json.js";
import { fingerprintHashOf } from "../caches/fingerprint-hash.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { checkpointDue } from "../operations/checkpoint.js";
import { headsDigest } from "./heads-digest.js";

/**
 * What a no-op `sync` needs to know about this home, whatever the size of
 * the space (`$CANON_HOME/index/<space-document-id>.in-step`, checksummed,
 * a few hundred bytes): at the chunk files whose fingerprint hashes to
 * `fingerprintHash` (`caches/fingerprint-hash.ts`), the heads of the space's
 * documents have the digest `digest` (`heads-digest.ts`), and a checkpoint
 * from `checkpoint.as` is not due before `checkpoint.dueAt`. Every field is
 * a function of the chunk files (and the signer): a mark naming the
 * fingerprint the disk proof holds for is true, however old, so it needs no
 * fsync and no invalidation. A relay that answers `If-None-Match: <digest>`
 * with 304 says "my summary is exactly these heads": nothing to exchange.
 */
export interface InStepMark {
  readonly fingerprintHash: string;
  readonly digest: string;
  readonly checkpoint: {
    /** The signer the due time was computed for; null when the mark was written without one. */
    readonly as: string | null;
    /** From when (ms since the epoch) a checkpoint of `as` is due with these documents; null: never. */
    readonly dueAt: number | null;
  };
}

const TAG = "CNI1";

const Mark = z.object({
  v: z.literal(1),
  fingerprintHash: z.string().regex(/^[0-9a-f]{64}$/),
  digest: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  checkpoint: z.object({
    as: z.string().max(200).nullable(),
    dueAt: z.number().finite().nullable(),
  }),
});

function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.in-step`);
}

/** The space's mark, or undefined when there is none or it is damaged or malformed. Synchronous: one small file. */
export function readInStepMark(home: CanonHome, spaceDocumentId: string): InStepMark | undefined {
  const parsed = Mark.safeParse(readChecksummedJsonSync(pathOf(home, spaceDocumentId), TAG));
  if (!parsed.success) return undefined;
  const { fingerprintHash, digest, checkpoint } = parsed.data;
  return { fingerprintHash, digest, checkpoint };
}

/**
 * Writes the space's mark unless the same one is there already. Not
 * durable: what a power cut leaves is refused by its checksum, or is an
 * older mark, true for the fingerprint it names (see {@link InStepMark}).
 */
export async function writeInStepMark(
  home: CanonHome,
  spaceDocumentId: string,
  mark: InStepMark,
): Promise<void> {
  const old = readInStepMark(home, spaceDocumentId);
  if (old !== undefined && JSON.stringify(old) === JSON.stringify(mark)) return;
  await writeChecksummedJson(
    pathOf(home, spaceDocumentId),
    TAG,
    { v: 1, ...mark },
    { durable: false },
  );
}

/**
 * The mark of a space whose chunk files are `fingerprint` and whose
 * documents hold `heads` there (the heads cache of that fingerprint), with
 * the fold's `state` for the checkpoint's due time; undefined when a
 * document of the fingerprint is held nowhere (no chunk, or no heads): a
 * sync then has something to look for, never a no-op.
 */
export function inStepMarkOf(
  spaceDocumentId: string,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  heads: Readonly<Record<string, readonly string[]>>,
  state: SpaceState,
  checkpointAs: Signer | undefined,
  now: Date,
): InStepMark | undefined {
  const ours: Record<string, readonly string[]> = {};
  for (const [id, chunks] of Object.entries(fingerprint)) {
    const held = heads[id];
    if (chunks.length === 0 || held === undefined || !Object.hasOwn(heads, id)) return undefined;
    ours[id] = held;
  }
  if (!Object.hasOwn(ours, spaceDocumentId)) return undefined;
  const did = checkpointAs?.keyPair.did;
  return {
    fingerprintHash: fingerprintHashOf(fingerprint),
    digest: headsDigest(spaceDocumentId, ours),
    checkpoint: {
      as: did ?? null,
      dueAt: did === undefined ? null : checkpointDueAt(state, did, now),
    },
  };
}

/**
 * True when the mark lets a sync by `checkpointAs` (or by no signer) skip
 * the checkpoint's check at `now`: written for that signer, before its due time.
 */
export function checkpointNotDue(
  mark: InStepMark,
  checkpointAs: Signer | undefined,
  now: Date,
): boolean {
  if (checkpointAs === undefined) return true;
  if (mark.checkpoint.as !== checkpointAs.keyPair.did) return false;
  return mark.checkpoint.dueAt === null || now.getTime() < mark.checkpoint.dueAt;
}

/**
 * From when a checkpoint of `did` is due while the space stays `state`
 * (ms since the epoch; null: never). `checkpointDue` depends on the time only
 * through the age of `did`'s newest checkpoint: due now, or once that one is
 * past half its validity, or never (not a maintainer, or too many standards).
 */
function checkpointDueAt(state: SpaceState, did: string, now: Date): number | null {
  if (checkpointDue(state, did, now)) return now.getTime();
  const own = state.checkpoints.filter((signed) => signed.record.author === did).at(-1);
  if (own === undefined) return null;
  const halfLife = (state.settings.checkpointExpirySeconds * 1000) / 2;
  const dueAt = Date.parse(own.record.createdAt) + halfLife;
  // `checkpointDue` says "past half its validity": checked again at that time, not trusted ahead of it.
  return Number.isFinite(dueAt) ? dueAt : now.getTime();
}

/** Removes the space's mark (its relay answers no digest: asking with one would cost a check for nothing). */
export async function removeInStepMark(home: CanonHome, spaceDocumentId: string): Promise<void> {
  await unlink(pathOf(home, spaceDocumentId)).catch(() => {});
}
