import type { Did } from "./did.js";
import type { SpaceGenesis } from "./records/genesis.js";
import type { MembershipChange, Role } from "./records/membership.js";
import type { SignedRecord } from "./signed-record.js";
import type { Rejection } from "./verify-record.js";

/** Who holds which role at one point of the membership chain. */
export type Members = ReadonlyMap<Did, Role>;

/**
 * The space's membership chain: the genesis record and the membership changes
 * that descend from it. Answers "which role did this signer hold at the
 * point a record names" for any set of chain heads.
 *
 * Replay rule (deterministic on every replica): changes are applied in
 * topological order, concurrent ones by the author's seniority (the creator
 * first, then by when each became a maintainer) and then by CID, and a change
 * takes effect only if its author is a maintainer at that moment of the
 * replay. So when two maintainers concurrently remove each other, the more
 * senior one's removal takes effect and the other finds its author already
 * removed.
 */
export class MembershipChain {
  readonly #genesis: SignedRecord<SpaceGenesis>;
  readonly #changes = new Map<string, SignedRecord<MembershipChange>>();
  readonly #order: string[] = [];
  readonly #cache = new Map<string, Members>();
  readonly #ancestors = new Map<string, ReadonlySet<string>>();
  /** Effective removals by member, computed on first use (the chain does not change once built). */
  #removals: Map<string, SignedRecord<MembershipChange>[]> | undefined;

  /** Builds the chain from verified changes; returns the chain and the changes it refused. */
  static build(
    genesis: SignedRecord<SpaceGenesis>,
    changes: readonly SignedRecord<MembershipChange>[],
  ): { chain: MembershipChain; rejected: Rejection[] } {
    // A change by a member who was removed, and which the remover had not seen
    // (it is not in the removal's past) and which does not follow the removal,
    // cannot predate it: it is how a removed maintainer would backdate taking
    // the space back. Drop such changes and rebuild until none is left.
    const excluded: Rejection[] = [];
    let remaining = [...changes];
    for (;;) {
      const built = MembershipChain.#replay(genesis, remaining);
      const backdated = built.chain.changes().filter((change) => {
        const own = built.chain.pastOf([change.cid]);
        return built.chain.effectiveRemovalsOf(change.record.author).some((removal) => {
          const seenByRemover = built.chain.pastOf([removal.cid]).has(change.cid);
          return !seenByRemover && !own.has(removal.cid);
        });
      });
      if (backdated.length === 0)
        return { chain: built.chain, rejected: [...excluded, ...built.rejected] };
      const drop = new Set(backdated.map((change) => change.cid));
      for (const change of backdated) {
        excluded.push(
          rejectionOf(
            change,
            "author was removed by a change that had not seen this one: it cannot predate the removal",
          ),
        );
      }
      remaining = remaining.filter((change) => !drop.has(change.cid));
    }
  }

  static #replay(
    genesis: SignedRecord<SpaceGenesis>,
    changes: readonly SignedRecord<MembershipChange>[],
  ): { chain: MembershipChain; rejected: Rejection[] } {
    const chain = new MembershipChain(genesis);
    const rejected: Rejection[] = [];
    const pending = new Map(changes.map((change) => [change.cid, change]));
    // Kahn's algorithm; the ready set is kept sorted so the order is the same everywhere.
    for (;;) {
      // Concurrent changes: the more senior author first (granted maintainer
      // earlier in the replay; the creator before everyone), then the smaller
      // CID. Seniority, unlike a CID, cannot be ground by a removed member.
      const seniority = (change: SignedRecord<MembershipChange>) =>
        chain.#seniority(change.record.author);
      const ready = [...pending.values()]
        .filter((change) => change.record.membership.every((parent) => chain.knows(parent)))
        .sort((a, b) => seniority(a) - seniority(b) || (a.cid < b.cid ? -1 : 1));
      const next = ready[0];
      if (next === undefined) break;
      pending.delete(next.cid);
      const role = chain.roleAt(next.record.author, next.record.membership);
      if (role !== "maintainer") {
        rejected.push(
          rejectionOf(
            next,
            `author was ${role ?? "not a member"} at that point of the membership chain; only maintainers manage members`,
          ),
        );
        continue;
      }
      chain.#add(next);
    }
    for (const change of pending.values()) {
      rejected.push(rejectionOf(change, "names membership records that are not in the chain"));
    }
    return { chain, rejected };
  }

  private constructor(genesis: SignedRecord<SpaceGenesis>) {
    this.#genesis = genesis;
    this.#ancestors.set(genesis.cid, new Set([genesis.cid]));
  }

  /** True when `cid` is the genesis or an accepted membership change. */
  knows(cid: string): boolean {
    return this.#ancestors.has(cid);
  }

  /** The chain's current heads: accepted records no other accepted change names. */
  heads(): string[] {
    const named = new Set<string>();
    for (const change of this.#changes.values())
      for (const parent of change.record.membership) named.add(parent);
    return [this.#genesis.cid, ...this.#order].filter((cid) => !named.has(cid)).sort();
  }

  /** Accepted membership changes in replay order. */
  changes(): SignedRecord<MembershipChange>[] {
    return this.#order.map((cid) => this.#changes.get(cid) as SignedRecord<MembershipChange>);
  }

  /** Every membership record (and the genesis) in the causal past of `heads`, inclusive. */
  pastOf(heads: readonly string[]): Set<string> {
    const past = new Set<string>();
    for (const head of heads) for (const cid of this.#ancestors.get(head) ?? []) past.add(cid);
    return past;
  }

  /** Removals of `did` that took effect in the full replay (not those voided by a concurrent removal of their author). */
  effectiveRemovalsOf(did: string): readonly SignedRecord<MembershipChange>[] {
    if (this.#removals === undefined) {
      // One replay for every member: the fold asks once per record.
      const removals = new Map<string, SignedRecord<MembershipChange>[]>();
      const members = new Map<Did, Role>([[this.#genesis.record.author, "maintainer"]]);
      for (const cid of this.#order) {
        const change = this.#changes.get(cid) as SignedRecord<MembershipChange>;
        const { record } = change;
        if (members.get(record.author) !== "maintainer") continue;
        if (record.role === "removed") {
          members.delete(record.member);
          removals.set(record.member, [...(removals.get(record.member) ?? []), change]);
        } else members.set(record.member, record.role);
      }
      this.#removals = removals;
    }
    return this.#removals.get(did) ?? [];
  }

  /** Members and roles after every accepted change. */
  current(): Members {
    return this.membersAt(this.heads());
  }

  /** The role `did` held at the point named by `heads`, or undefined if none (or a head is unknown). */
  roleAt(did: string, heads: readonly string[]): Role | undefined {
    if (!heads.every((head) => this.knows(head))) return undefined;
    return this.membersAt(heads).get(did as Did);
  }

  /** Members and roles at the point named by `heads` (all must be known). */
  membersAt(heads: readonly string[]): Members {
    const key = [...heads].sort().join(",");
    const cached = this.#cache.get(key);
    if (cached) return cached;
    const past = this.pastOf(heads);
    const members = new Map<Did, Role>([[this.#genesis.record.author, "maintainer"]]);
    for (const cid of this.#order) {
      if (!past.has(cid)) continue;
      const { record } = this.#changes.get(cid) as SignedRecord<MembershipChange>;
      if (members.get(record.author) !== "maintainer") continue;
      if (record.role === "removed") members.delete(record.member);
      else members.set(record.member, record.role);
    }
    this.#cache.set(key, members);
    return members;
  }

  /** -1 for the creator; else the replay position of the first change that made `did` a maintainer; Infinity if none. */
  #seniority(did: string): number {
    if (did === this.#genesis.record.author) return -1;
    const position = this.#order.findIndex((cid) => {
      const { record } = this.#changes.get(cid) as SignedRecord<MembershipChange>;
      return record.member === did && record.role === "maintainer";
    });
    return position === -1 ? Number.POSITIVE_INFINITY : position;
  }

  #add(change: SignedRecord<MembershipChange>): void {
    const ancestors = new Set<string>([change.cid]);
    for (const parent of change.record.membership)
      for (const cid of this.#ancestors.get(parent) ?? []) ancestors.add(cid);
    this.#ancestors.set(change.cid, ancestors);
    this.#changes.set(change.cid, change);
    this.#order.push(change.cid);
    this.#cache.clear();
    this.#removals = undefined;
  }
}

/** A rejection naming a verified record's type and author. */
export function rejectionOf(signed: SignedRecord, reason: string): Rejection {
  return { cid: signed.cid, reason, type: signed.record.type, author: signed.record.author };
}
