import { sameBytes } from "./bytes.js";
import { contentMatches } from "./content-matches.js";
import { type Members, MembershipChain, rejectionOf } from "./membership-chain.js";
import type { Correction } from "./records/correction.js";
import type { SpaceGenesis } from "./records/genesis.js";
import type { MembershipChange, Role } from "./records/membership.js";
import type { Provenance } from "./records/provenance.js";
import type { Release } from "./records/release.js";
import type { SignedRecord } from "./signed-record.js";
import { type RecordEntry, type Rejection, verifyRecord } from "./verify-record.js";

/** What the fold reads: every entry of the space's documents, untrusted. */
export interface FoldInput {
  /** CID of the space's genesis record: the space's identity. */
  readonly spaceCid: string;
  /** Entries of every document of the space (`records[cid] = bytes`). */
  readonly entries: Iterable<RecordEntry>;
  /**
   * The bytes stored for a content CID: every candidate the documents hold
   * (a peer may have overwritten the value, or written a concurrent one).
   * The first that matches the CID is used.
   */
  readonly content: (contentCid: string) => readonly Uint8Array[];
  /** Where to look when no candidate matches (a local cache of verified bytes). */
  readonly fallbackContent?: (contentCid: string) => Promise<Uint8Array | undefined>;
  /**
   * Records that passed {@link verifyRecord} in an earlier fold, by CID; the
   * fold adds to it. An entry whose bytes equal the cached record's skips the
   * hashing, decoding and signature check (the outcome depends on the bytes
   * alone). A long-lived replica keeps one, so each fold after the first
   * verifies only what is new.
   */
  readonly verified?: Map<string, SignedRecord>;
  /**
   * Releases, by CID, whose content an earlier fold of this replica matched
   * against its content CID (a release CID fixes the content CID and size, so
   * the outcome cannot change). Their content is not looked up or hashed
   * again; every other rule still applies. Used when folding a snapshot of
   * verified records, where the documents holding the content are not loaded.
   */
  readonly contentVerified?: ReadonlySet<string>;
}

/** One standard as the verified records describe it. */
export interface StandardState {
  readonly name: string;
  /** Every accepted release, by release CID. */
  readonly releases: ReadonlyMap<string, SignedRecord<Release>>;
  /** Releases no other release follows: one normally, two or more when concurrent releases forked. */
  readonly heads: readonly SignedRecord<Release>[];
  /** The head with the highest version (ties broken by the larger CID). */
  readonly latest: SignedRecord<Release>;
  /** True when there is more than one head. */
  readonly forked: boolean;
  /** Accepted corrections no accepted release incorporates yet, oldest first. */
  readonly openCorrections: readonly SignedRecord<Correction>[];
}

/** The state of a space: a deterministic function of its verified records. */
export interface SpaceState {
  readonly genesis: SignedRecord<SpaceGenesis>;
  readonly members: Members;
  readonly membershipHeads: readonly string[];
  readonly membershipChanges: readonly SignedRecord<MembershipChange>[];
  readonly standards: ReadonlyMap<string, StandardState>;
  readonly corrections: ReadonlyMap<string, SignedRecord<Correction>>;
  readonly provenance: ReadonlyMap<string, SignedRecord<Provenance>>;
}

/** The fold's result: the state (undefined when the genesis is missing or invalid), and every entry left out of it with the reason. */
export interface FoldResult {
  readonly state: SpaceState | undefined;
  /** Every entry left out, with the reason: first those that failed their own checks ({@link FoldResult.invalid}), then those the space's rules refused. */
  readonly rejected: readonly Rejection[];
  /**
   * Entries that passed their own checks ({@link verifyRecord}), by CID,
   * whether or not the space's rules then accepted them: a deterministic
   * function of their bytes, so a replica may keep them and fold them again
   * without repeating the checks (see {@link FoldInput.verified}).
   */
  readonly verified: ReadonlyMap<string, SignedRecord>;
  /** Entries that failed their own checks: the part of `rejected` that `verified` cannot reproduce. */
  readonly invalid: readonly Rejection[];
}

/**
 * Verification runs in batches so WebCrypto can check many signatures at
 * once, on its worker threads. 256 measured better than 2,048 (less garbage
 * to collect at once) and than smaller batches.
 */
const VERIFY_BATCH = 256;

/**
 * Folds a space's untrusted entries into its state. Every entry goes through
 * the same checks, in this order; one that fails any is left out and listed
 * in `rejected`, and never hides a good one:
 * 1. the entry itself: size, CID, envelope, schema, signature ({@link verifyRecord});
 * 2. it belongs to this space;
 * 3. membership changes: the author was a maintainer at the chain point named;
 * 4. corrections and provenance: the author was a contributor or maintainer there;
 * 5. releases: the author was a maintainer there, the content matches its CID,
 *    every parent is an accepted release of the same standard, and the version
 *    is one more than the highest parent's (so no rollback or replay can
 *    rewrite history).
 * @returns `state: undefined` only when the genesis record itself is missing or invalid.
 */
export async function fold(input: FoldInput): Promise<FoldResult> {
  const invalid: Rejection[] = [];
  const verified = await verifyAll(input.entries, invalid, input.verified);
  const rejected: Rejection[] = [...invalid];

  const genesis = verified.get(input.spaceCid);
  if (genesis === undefined || genesis.record.type !== "canon/space-genesis") {
    return { state: undefined, rejected, verified, invalid };
  }
  const byType = {
    membership: [] as SignedRecord<MembershipChange>[],
    release: [] as SignedRecord<Release>[],
    correction: [] as SignedRecord<Correction>[],
    provenance: [] as SignedRecord<Provenance>[],
  };
  for (const signed of verified.values()) {
    const { record } = signed;
    if (record.type === "canon/space-genesis") {
      if (signed.cid !== input.spaceCid)
        rejected.push(rejectionOf(signed, "genesis of another space"));
      continue;
    }
    if (record.space !== input.spaceCid) {
      rejected.push(rejectionOf(signed, `belongs to space ${record.space}, not this one`));
      continue;
    }
    if (record.type === "canon/membership")
      byType.membership.push(signed as SignedRecord<MembershipChange>);
    else if (record.type === "canon/release") byType.release.push(signed as SignedRecord<Release>);
    else if (record.type === "canon/correction")
      byType.correction.push(signed as SignedRecord<Correction>);
    else byType.provenance.push(signed as SignedRecord<Provenance>);
  }

  const built = MembershipChain.build(genesis as SignedRecord<SpaceGenesis>, byType.membership);
  rejected.push(...built.rejected);
  const chain = built.chain;
  const roleProblem = (
    signed: SignedRecord<Release | Correction | Provenance>,
    roles: readonly Role[],
  ): string | undefined => {
    const role = chain.roleAt(signed.record.author, signed.record.membership);
    if (role !== undefined && roles.includes(role)) return undefined;
    return signed.record.membership.every((head) => chain.knows(head))
      ? `author was ${role ?? "not a member"} at that point of the membership chain; needs ${roles.join(" or ")}`
      : "names membership records that are not in the chain";
  };
  const authorized = (signed: SignedRecord<Release>, roles: readonly Role[]) => {
    const problem = roleProblem(signed, roles);
    if (problem) rejected.push(rejectionOf(signed, problem));
    return problem === undefined;
  };

  // Corrections and provenance: each author's own records form a chain
  // (`previous`), which a removal pins as `recordHeads`.
  const contributions = [...sortByTime(byType.correction), ...byType.provenance];
  const previousOf = new Map<string, readonly string[]>();
  const recordsSeen = new Map<string, ReadonlySet<string>>();
  for (const signed of contributions) previousOf.set(signed.cid, signed.record.previous ?? []);
  const contributed = acceptChains(
    contributions,
    (signed) =>
      roleProblem(signed, ["maintainer", "contributor"]) ??
      backdatedPastRemoval(
        signed,
        chain,
        ["maintainer", "contributor"],
        (removal) => removal.record.recordHeads ?? [],
        previousOf,
        recordsSeen,
      ),
    rejected,
  );
  const corrections = new Map<string, SignedRecord<Correction>>();
  for (const signed of sortByTime(byType.correction))
    if (contributed.has(signed.cid)) corrections.set(signed.cid, signed);
  const provenance = new Map<string, SignedRecord<Provenance>>();
  for (const signed of byType.provenance)
    if (contributed.has(signed.cid)) provenance.set(signed.cid, signed);

  const accepted = new Map<string, SignedRecord<Release>>();
  // A valid version is one more than its highest parent's, so ascending version is a topological order.
  const releases = [...byType.release].sort(
    (a, b) => a.record.version - b.record.version || (a.cid < b.cid ? -1 : 1),
  );
  const releasesSeen = new Map<string, ReadonlySet<string>>();
  const releaseParents = new Map(
    byType.release.map((signed) => [signed.cid, signed.record.parents]),
  );
  for (const signed of releases) {
    if (!authorized(signed, ["maintainer"])) continue;
    const problem =
      backdatedPastRemoval(
        signed,
        chain,
        ["maintainer"],
        (removal) => removal.record.releaseHeads ?? [],
        releaseParents,
        releasesSeen,
      ) ?? (await releaseProblem(signed, accepted, corrections, input));
    if (problem) rejected.push(rejectionOf(signed, problem));
    else accepted.set(signed.cid, signed);
  }

  return {
    state: {
      genesis: genesis as SignedRecord<SpaceGenesis>,
      members: chain.current(),
      membershipHeads: chain.heads(),
      membershipChanges: chain.changes(),
      standards: standardsOf(accepted, corrections),
      corrections,
      provenance,
    },
    rejected,
    verified,
    invalid,
  };
}

async function verifyAll(
  entries: Iterable<RecordEntry>,
  rejected: Rejection[],
  cache: Map<string, SignedRecord> | undefined,
): Promise<Map<string, SignedRecord>> {
  const verified = new Map<string, SignedRecord>();
  let batch: RecordEntry[] = [];
  const drain = async () => {
    const checks = await Promise.all(batch.map((entry) => verifyRecord(entry)));
    for (const check of checks) {
      if (check.ok) {
        verified.set(check.signed.cid, check.signed);
        cache?.set(check.signed.cid, check.signed);
      } else rejected.push(check.rejection);
    }
    batch = [];
  };
  for (const entry of entries) {
    const known = cache?.get(entry.cid);
    if (
      known !== undefined &&
      entry.bytes instanceof Uint8Array &&
      sameBytes(known.bytes, entry.bytes)
    ) {
      verified.set(known.cid, known);
      continue;
    }
    batch.push(entry);
    if (batch.length >= VERIFY_BATCH) await drain();
  }
  await drain();
  return verified;
}

/**
 * Decides which corrections and provenance records count: those `problemOf`
 * finds nothing wrong with and whose `previous` names only records of the
 * same author that count themselves, so an author cannot link to records
 * they hold back (and later pass them off as seen by a remover). Each record
 * is decided after the records it names (hash links cannot form a cycle).
 * @returns the CIDs that count; the others are added to `rejected` with the reason.
 */
function acceptChains(
  candidates: readonly SignedRecord<Correction | Provenance>[],
  problemOf: (signed: SignedRecord<Correction | Provenance>) => string | undefined,
  rejected: Rejection[],
): Set<string> {
  const byCid = new Map(candidates.map((signed) => [signed.cid, signed]));
  const counts = new Map<string, boolean>();
  for (const root of candidates) {
    const stack = [root.cid];
    const entered = new Set<string>();
    while (stack.length > 0) {
      const cid = stack[stack.length - 1] as string;
      if (counts.has(cid)) {
        stack.pop();
        continue;
      }
      const signed = byCid.get(cid) as SignedRecord<Correction | Provenance>;
      const previous = signed.record.previous ?? [];
      const waiting = previous.filter((p) => byCid.has(p) && !counts.has(p));
      if (waiting.length > 0 && !entered.has(cid)) {
        entered.add(cid);
        stack.push(...waiting);
        continue;
      }
      stack.pop();
      const broken = previous.find(
        (p) => byCid.get(p)?.record.author !== signed.record.author || counts.get(p) !== true,
      );
      const problem =
        problemOf(signed) ??
        (broken === undefined
          ? undefined
          : `previous names ${broken}, which is not an accepted record of the same author here (sync, or it was never published)`);
      counts.set(cid, problem === undefined);
      if (problem !== undefined) rejected.push(rejectionOf(signed, problem));
    }
  }
  return new Set([...counts].filter(([, ok]) => ok).map(([cid]) => cid));
}

/**
 * A record whose author later lost the role it needs (removed, or demoted
 * below it), citing a point of the chain before that loss, counts only if
 * whoever made the change had seen it: it is one of the heads the change
 * pinned (`releaseHeads` for releases, `recordHeads` for corrections and
 * provenance) or their ancestor. Otherwise a removed or demoted member could
 * keep writing by citing old membership heads. `reachableFrom` memoises, per
 * pinning change, every record reachable from its pinned heads.
 */
function backdatedPastRemoval(
  signed: SignedRecord<Release | Correction | Provenance>,
  chain: MembershipChain,
  needs: readonly Role[],
  pinnedBy: (removal: SignedRecord<MembershipChange>) => readonly string[],
  parentsOf: ReadonlyMap<string, readonly string[]>,
  reachableFrom: Map<string, ReadonlySet<string>>,
): string | undefined {
  for (const removal of chain.lossesOf(signed.record.author, needs)) {
    if (chain.isInPast(removal.cid, signed.record.membership)) continue;
    let seen = reachableFrom.get(removal.cid);
    if (seen === undefined) {
      seen = reachableSet(pinnedBy(removal), parentsOf);
      reachableFrom.set(removal.cid, seen);
    }
    if (!seen.has(signed.cid)) {
      const what = removal.record.role === "removed" ? "removed" : `made ${removal.record.role}`;
      return `author was ${what} by ${removal.cid}, and that change had not seen this record: it cannot predate the removal`;
    }
  }
  return undefined;
}

/** Every CID in `heads` or among their ancestors, following `parentsOf`. */
function reachableSet(
  heads: readonly string[],
  parentsOf: ReadonlyMap<string, readonly string[]>,
): Set<string> {
  const seen = new Set<string>();
  const stack = [...heads];
  while (stack.length > 0) {
    const cid = stack.pop() as string;
    if (seen.has(cid)) continue;
    seen.add(cid);
    stack.push(...(parentsOf.get(cid) ?? []));
  }
  return seen;
}

async function releaseProblem(
  signed: SignedRecord<Release>,
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
  input: Pick<FoldInput, "content" | "fallbackContent" | "contentVerified">,
): Promise<string | undefined> {
  const release = signed.record;
  let highestParent = 0;
  for (const parentCid of release.parents) {
    const parent = accepted.get(parentCid);
    if (parent === undefined)
      return `parent ${parentCid} is not an accepted release in the history`;
    if (parent.record.standard !== release.standard)
      return `parent ${parentCid} is a release of another standard`;
    highestParent = Math.max(highestParent, parent.record.version);
  }
  if (release.version !== highestParent + 1) {
    return `version ${release.version} does not follow its parents (expected ${highestParent + 1})`;
  }
  for (const correctionCid of release.incorporates) {
    const correction = corrections.get(correctionCid);
    if (correction === undefined || correction.record.standard !== release.standard) {
      return `incorporates ${correctionCid}, which is not an accepted correction of ${release.standard}`;
    }
  }
  if (input.contentVerified?.has(signed.cid)) return undefined;
  const candidates = input.content(release.contentCid);
  for (const bytes of candidates) if (await contentMatches(bytes, release)) return undefined;
  const fallback = await input.fallbackContent?.(release.contentCid);
  if (fallback !== undefined && (await contentMatches(fallback, release))) return undefined;
  if (candidates.length === 0 && fallback === undefined)
    return `content ${release.contentCid} is missing`;
  return `content bytes do not match the content CID ${release.contentCid}`;
}

function standardsOf(
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
): Map<string, StandardState> {
  const byName = new Map<string, SignedRecord<Release>[]>();
  const followed = new Set<string>();
  const incorporated = new Set<string>();
  for (const signed of accepted.values()) {
    const list = byName.get(signed.record.standard) ?? [];
    list.push(signed);
    byName.set(signed.record.standard, list);
    for (const parent of signed.record.parents) followed.add(parent);
    for (const correction of signed.record.incorporates) incorporated.add(correction);
  }
  const standards = new Map<string, StandardState>();
  for (const name of [...byName.keys()].sort()) {
    const releases = byName.get(name) as SignedRecord<Release>[];
    const heads = releases
      .filter((signed) => !followed.has(signed.cid))
      .sort((a, b) => b.record.version - a.record.version || (a.cid < b.cid ? 1 : -1));
    const latest = heads[0] as SignedRecord<Release>;
    const openCorrections = sortByTime(
      [...corrections.values()].filter(
        (c) => c.record.standard === name && !incorporated.has(c.cid),
      ),
    );
    standards.set(name, {
      name,
      releases: new Map(releases.map((signed) => [signed.cid, signed])),
      heads,
      latest,
      forked: heads.length > 1,
      openCorrections,
    });
  }
  return standards;
}

function sortByTime<R extends { record: { createdAt: string }; cid: string }>(list: R[]): R[] {
  return [...list].sort((a, b) =>
    a.record.createdAt < b.record.createdAt
      ? -1
      : a.record.createdAt > b.record.createdAt
        ? 1
        : a.cid < b.cid
          ? -1
          : 1,
  );
}
