import type { Did } from "./did.js";
import { roleRefusal } from "./fold/checks/author-role.js";
import { backdatedRefusal, unseenLoss } from "./fold/checks/not-backdated.js";
import type { SpaceGenesis } from "./records/genesis.js";
import type { MembershipChange, Role } from "./records/membership.js";
import { type Rejection, rejectionOf } from "./rejection.js";
import type { SignedRecord } from "./signed-record.js";

/** One effective change of a member's role in the replay. */
interface Transition {
  readonly change: SignedRecord<MembershipChange>;
  readonly before: Role | undefined;
  readonly after: Role | undefined;
}

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
  /**
   * Each accepted change's causal past (itself included) as a bitset over
   * replay positions: the genesis is always in every past and has no bit.
   * Bitsets keep building and querying the chain near-linear in practice
   * (sets of CIDs made it quadratic in memory and time).
   */
  readonly #past = new Map<string, Uint32Array>();
  /** Position in the replay of each accepted change. */
  readonly #position = new Map<string, number>();
  /** Members after every accepted change so far: the answer for any point whose past is all of them. */
  readonly #latest = new Map<Did, Role>();
  /** Replay position of the first change that made each member a maintainer. */
  readonly #seniorityOf = new Map<string, number>();
  readonly #words: number;
  /** Every effective change of each member's role, computed on first use (the chain does not change once built). */
  #transitions: Map<string, Transition[]> | undefined;

  /** Builds the chain from verified changes; returns the chain and the changes it refused. */
  static build(
    genesis: SignedRecord<SpaceGenesis>,
    changes: readonly SignedRecord<MembershipChange>[],
  ): { chain: MembershipChain; rejected: Rejection[] } {
    // The backdating rule (`not-backdated`): a change by a member who lost
    // the maintainer role, which neither follows that loss nor was seen by
    // the member who made it, cannot predate it: it is how a removed
    // maintainer would backdate taking the space back. Drop such changes and
    // rebuild until none is left.
    const excluded: Rejection[] = [];
    let remaining = [...changes];
    for (;;) {
      const built = MembershipChain.#replay(genesis, remaining);
      const { chain } = built;
      const backdated: Rejection[] = [];
      for (const change of chain.changes()) {
        const loss = unseenLoss(
          chain.lossesOf(change.record.author, ["maintainer"]),
          (candidate) => chain.isInPast(candidate.cid, [change.cid]),
          (candidate) => chain.isInPast(change.cid, [candidate.cid]),
        );
        if (loss !== undefined) backdated.push(rejectionOf(change, backdatedRefusal(loss)));
      }
      if (backdated.length === 0) return { chain, rejected: [...excluded, ...built.rejected] };
      excluded.push(...backdated);
      const drop = new Set(backdated.map((rejection) => rejection.cid));
      remaining = remaining.filter((change) => !drop.has(change.cid));
    }
  }

  static #replay(
    genesis: SignedRecord<SpaceGenesis>,
    changes: readonly SignedRecord<MembershipChange>[],
  ): { chain: MembershipChain; rejected: Rejection[] } {
    const chain = new MembershipChain(genesis, changes.length);
    const rejected: Rejection[] = [];
    const pending = new Map(changes.map((change) => [change.cid, change]));
    const children = new Map<string, SignedRecord<MembershipChange>[]>();
    for (const change of changes)
      for (const parent of new Set(change.record.membership))
        children.set(parent, [...(children.get(parent) ?? []), change]);
    const isReady = (change: SignedRecord<MembershipChange>) =>
      change.record.membership.every((parent) => chain.knows(parent));
    // Kahn's algorithm over the changes whose parents are all in the chain.
    let ready = changes.filter(isReady);
    for (;;) {
      // Concurrent changes: the more senior author first (granted maintainer
      // earlier in the replay; the creator before everyone), then the smaller
      // CID. Seniority, unlike a CID, cannot be ground by a removed member.
      let next: SignedRecord<MembershipChange> | undefined;
      for (const change of ready) {
        if (next === undefined) next = change;
        else {
          const order =
            chain.#seniority(change.record.author) - chain.#seniority(next.record.author) ||
            (change.cid < next.cid ? -1 : 1);
          if (order < 0) next = change;
        }
      }
      if (next === undefined) break;
      const chosen = next;
      ready = ready.filter((change) => change !== chosen);
      pending.delete(chosen.cid);
      const refusal = roleRefusal(
        chain,
        chosen.record,
        ["maintainer"],
        "only maintainers manage members",
      );
      if (refusal !== undefined) {
        rejected.push(rejectionOf(chosen, refusal));
        continue;
      }
      chain.#add(chosen);
      for (const child of children.get(chosen.cid) ?? [])
        if (pending.has(child.cid) && !ready.includes(child) && isReady(child)) ready.push(child);
    }
    for (const change of pending.values()) {
      rejected.push(
        rejectionOf(change, {
          code: "unknown-membership-point",
          reason: "names membership records that are not in the chain",
        }),
      );
    }
    return { chain, rejected };
  }

  private constructor(genesis: SignedRecord<SpaceGenesis>, capacity: number) {
    this.#genesis = genesis;
    this.#latest.set(genesis.record.author, "maintainer");
    this.#words = Math.ceil(capacity / 32) || 1;
    this.#past.set(genesis.cid, new Uint32Array(this.#words));
  }

  /** True when `cid` is the genesis or an accepted membership change. */
  knows(cid: string): boolean {
    return this.#past.has(cid);
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

  /** True when `cid` (the genesis or an accepted change) is in the causal past of `heads`, inclusive. */
  isInPast(cid: string, heads: readonly string[]): boolean {
    if (cid === this.#genesis.cid) return heads.some((head) => this.knows(head));
    const position = this.#position.get(cid);
    if (position === undefined) return false;
    return heads.some((head) => {
      const past = this.#past.get(head);
      return past !== undefined && hasBit(past, position);
    });
  }

  /** The union of the pasts of the known `heads`, as a bitset over replay positions. */
  #pastBits(heads: readonly string[]): Uint32Array {
    const bits = new Uint32Array(this.#words);
    for (const head of heads) {
      const past = this.#past.get(head);
      if (past)
        for (let i = 0; i < bits.length; i++) bits[i] = (bits[i] as number) | (past[i] as number);
    }
    return bits;
  }

  /**
   * The changes, effective in the full replay (not voided by a concurrent
   * removal of their author), after which `did` no longer held any of `roles`
   * although they did before: removals, and demotions below those roles.
   */
  lossesOf(did: string, roles: readonly Role[]): readonly SignedRecord<MembershipChange>[] {
    if (this.#transitions === undefined) {
      // One replay for every member: the fold asks once per record.
      const transitions = new Map<string, Transition[]>();
      const members = new Map<Did, Role>([[this.#genesis.record.author, "maintainer"]]);
      for (const cid of this.#order) {
        const change = this.#changes.get(cid) as SignedRecord<MembershipChange>;
        const { record } = change;
        if (members.get(record.author) !== "maintainer") continue;
        const before = members.get(record.member);
        if (record.role === "removed") members.delete(record.member);
        else members.set(record.member, record.role);
        const list = transitions.get(record.member) ?? [];
        list.push({ change, before, after: members.get(record.member) });
        transitions.set(record.member, list);
      }
      this.#transitions = transitions;
    }
    const holds = (role: Role | undefined) => role !== undefined && roles.includes(role);
    return (this.#transitions.get(did) ?? [])
      .filter(({ before, after }) => holds(before) && !holds(after))
      .map(({ change }) => change);
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
    const past = this.#pastBits(heads);
    if (countBits(past) === this.#order.length) {
      // The usual case (a chain without concurrent changes): the past is every change so far.
      const members = new Map(this.#latest);
      this.#cache.set(key, members);
      return members;
    }
    const members = new Map<Did, Role>([[this.#genesis.record.author, "maintainer"]]);
    for (let position = 0; position < this.#order.length; position++) {
      if (!hasBit(past, position)) continue;
      const cid = this.#order[position] as string;
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
    return this.#seniorityOf.get(did) ?? Number.POSITIVE_INFINITY;
  }

  #add(change: SignedRecord<MembershipChange>): void {
    const position = this.#order.length;
    const past = this.#pastBits(change.record.membership);
    past[position >>> 5] = (past[position >>> 5] as number) | (1 << (position & 31));
    this.#past.set(change.cid, past);
    this.#position.set(change.cid, position);
    this.#changes.set(change.cid, change);
    this.#order.push(change.cid);
    const { author, member, role } = change.record;
    if (this.#latest.get(author) === "maintainer") {
      if (role === "removed") this.#latest.delete(member);
      else this.#latest.set(member, role);
    }
    if (role === "maintainer" && !this.#seniorityOf.has(member))
      this.#seniorityOf.set(member, position);
    this.#cache.clear();
    this.#transitions = undefined;
  }
}

function hasBit(bits: Uint32Array, position: number): boolean {
  return (((bits[position >>> 5] as number) >>> (position & 31)) & 1) === 1;
}

function countBits(bits: Uint32Array): number {
  let count = 0;
  for (let word of bits) {
    while (word !== 0) {
      word &= word - 1;
      count++;
    }
  }
  return count;
}
