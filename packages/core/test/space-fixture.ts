import {
  type Checkpoint,
  type Correction,
  contentCid,
  type Did,
  fold,
  generateKeyPair,
  type KeyPair,
  type MembershipChange,
  type Provenance,
  type Release,
  type SignedRecord,
  signRecord,
  type Withdrawal,
} from "../src/index.js";

let clock = Date.parse("2026-11-25T12:00:00.000Z");
/** Strictly increasing timestamps, so records written in order sort in order. */
export function tick(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

/** An in-memory space: the records and contents a replica would hold, and helpers to write them. */
export async function makeSpace() {
  const creator = await generateKeyPair();
  const genesis = await signRecord(creator, {
    type: "canon/space-genesis",
    v: 1,
    name: "test space",
    author: creator.did,
    createdAt: tick(),
    nonce: "0123456789abcdef0123456789abcdef",
  });
  const entries = new Map<string, Uint8Array | unknown>([[genesis.cid, genesis.bytes]]);
  const contents = new Map<string, Uint8Array>();
  const space = {
    creator,
    genesis,
    entries,
    contents,
    add(signed: SignedRecord) {
      entries.set(signed.cid, signed.bytes);
      return signed;
    },
    async member(
      author: KeyPair,
      member: string,
      role: MembershipChange["role"],
      membership = [genesis.cid],
      releaseHeads?: string[],
      recordHeads?: string[],
    ) {
      return space.add(
        await signRecord(author, {
          type: "canon/membership",
          v: 1,
          space: genesis.cid,
          member: member as Did,
          role,
          membership,
          ...(releaseHeads ? { releaseHeads } : {}),
          ...(recordHeads ? { recordHeads } : {}),
          author: author.did,
          createdAt: tick(),
        }),
      ) as SignedRecord<MembershipChange>;
    },
    async release(
      author: KeyPair,
      standard: string,
      text: string,
      options: {
        parents?: string[];
        version?: number;
        membership?: string[];
        incorporates?: string[];
      } = {},
    ) {
      const bytes = new TextEncoder().encode(text);
      const cid = (await contentCid(bytes)).toString();
      contents.set(cid, bytes);
      return space.add(
        await signRecord(author, {
          type: "canon/release",
          v: 1,
          space: genesis.cid,
          standard,
          version: options.version ?? 1,
          contentCid: cid,
          size: bytes.length,
          parents: options.parents ?? [],
          incorporates: options.incorporates ?? [],
          message: "",
          membership: options.membership ?? [genesis.cid],
          author: author.did,
          createdAt: tick(),
        }),
      ) as SignedRecord<Release>;
    },
    async correction(
      author: KeyPair,
      standard: string,
      text: string,
      options: { membership?: string[]; previous?: string[]; createdAt?: string } = {},
    ) {
      return space.add(
        await signRecord(author, {
          type: "canon/correction",
          v: 1,
          space: genesis.cid,
          standard,
          text,
          previous: options.previous ?? [],
          membership: options.membership ?? [genesis.cid],
          author: author.did,
          createdAt: options.createdAt ?? tick(),
        }),
      ) as SignedRecord<Correction>;
    },
    async withdrawal(
      author: KeyPair,
      correction: SignedRecord<Correction>,
      options: { membership?: string[]; previous?: string[]; standard?: string } = {},
    ) {
      return space.add(
        await signRecord(author, {
          type: "canon/withdrawal",
          v: 1,
          space: genesis.cid,
          standard: options.standard ?? correction.record.standard,
          correction: correction.cid,
          previous: options.previous ?? [],
          membership: options.membership ?? [genesis.cid],
          author: author.did,
          createdAt: tick(),
        }),
      ) as SignedRecord<Withdrawal>;
    },
    async checkpoint(
      author: KeyPair,
      options: {
        standards?: { standard: string; heads: string[] }[];
        membership?: string[];
        expires?: string;
        createdAt?: string;
      } = {},
    ) {
      return space.add(
        await signRecord(author, {
          type: "canon/checkpoint",
          v: 1,
          space: genesis.cid,
          standards: options.standards ?? [],
          expires: options.expires ?? "2099-01-01T00:00:00.000Z",
          membership: options.membership ?? [genesis.cid],
          author: author.did,
          createdAt: options.createdAt ?? tick(),
        }),
      ) as SignedRecord<Checkpoint>;
    },
    async settings(author: KeyPair, checkpointExpirySeconds: number, membership = [genesis.cid]) {
      return space.add(
        await signRecord(author, {
          type: "canon/space-settings",
          v: 1,
          space: genesis.cid,
          checkpointExpirySeconds,
          membership,
          author: author.did,
          createdAt: tick(),
        }),
      );
    },
    async provenance(
      author: KeyPair,
      output: string,
      options: { membership?: string[]; previous?: string[] } = {},
    ) {
      return space.add(
        await signRecord(author, {
          type: "canon/provenance",
          v: 1,
          space: genesis.cid,
          subject: [{ name: output, digest: { sha256: "0".repeat(64) } }],
          context: [],
          corrections: [],
          spaceHeads: [],
          previous: options.previous ?? [],
          membership: options.membership ?? [genesis.cid],
          author: author.did,
          createdAt: tick(),
        }),
      ) as SignedRecord<Provenance>;
    },
    fold() {
      return fold({
        spaceCid: genesis.cid,
        entries: [...entries].map(([cid, bytes]) => ({ cid, bytes })),
        content: (cid) => {
          const bytes = contents.get(cid);
          return bytes ? [bytes] : [];
        },
      });
    },
  };
  return space;
}

/**
 * Three members the creator added one after the other (each change naming
 * the one before): bob a maintainer, carol a contributor, dave a
 * maintainer; and a stranger's key, never a member.
 */
export async function addTeam(space: Awaited<ReturnType<typeof makeSpace>>) {
  const { creator } = space;
  const [bob, carol, dave, stranger] = await Promise.all(
    Array.from({ length: 4 }, () => generateKeyPair()),
  );
  if (!bob || !carol || !dave || !stranger) throw new Error("no keys");
  const addBob = await space.member(creator, bob.did, "maintainer");
  const addCarol = await space.member(creator, carol.did, "contributor", [addBob.cid]);
  const addDave = await space.member(creator, dave.did, "maintainer", [addCarol.cid]);
  return { bob, carol, dave, stranger, addBob, addCarol, addDave };
}

/**
 * On `standard`, after the creator's `v1`: carol's two corrections (the
 * second naming the first), then two concurrent v2s, bob's incorporating
 * the first correction and the creator's: a fork.
 */
export async function correctedFork(
  space: Awaited<ReturnType<typeof makeSpace>>,
  team: Awaited<ReturnType<typeof addTeam>>,
  standard: string,
  v1: SignedRecord,
) {
  const { bob, carol, addBob, addCarol } = team;
  const fix1 = await space.correction(carol, standard, "Prefer short sentences.", {
    membership: [addCarol.cid],
  });
  const fix2 = await space.correction(carol, standard, "Use the active voice.", {
    membership: [addCarol.cid],
    previous: [fix1.cid],
  });
  const v2bob = await space.release(bob, standard, "v2 by bob", {
    parents: [v1.cid],
    version: 2,
    membership: [addBob.cid],
    incorporates: [fix1.cid],
  });
  const v2creator = await space.release(space.creator, standard, "v2 by the creator", {
    parents: [v1.cid],
    version: 2,
  });
  return { fix1, fix2, v2bob, v2creator };
}

/**
 * What a removed member signs anyway: a v2 of `standard` naming the change
 * that removed them (`late`, after `parents.late`), and one naming the change
 * that added them, as if signed before the removal (`backdated`, after
 * `parents.backdated`).
 */
export async function releasesAfterRemoval(
  space: Awaited<ReturnType<typeof makeSpace>>,
  member: KeyPair,
  standard: string,
  changes: { readonly added: SignedRecord; readonly removed: SignedRecord },
  parents: { readonly late: SignedRecord; readonly backdated: SignedRecord },
) {
  const late = await space.release(member, standard, "late", {
    parents: [parents.late.cid],
    version: 2,
    membership: [changes.removed.cid],
  });
  const backdated = await space.release(member, standard, "backdated", {
    parents: [parents.backdated.cid],
    version: 2,
    membership: [changes.added.cid],
  });
  return { late, backdated };
}
