import {
  CanonError,
  type Checkpoint,
  type Did,
  MAX_CHECKPOINT_STANDARDS,
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
}

/**
 * True when `did` is a maintainer whose newest checkpoint no longer describes
 * the space: none yet, other heads than now, or more than half its validity
 * gone. Syncs and watches of maintainers then sign a new one, so a space that
 * changes, or simply ages, always has a current checkpoint. Never due in a
 * space of more standards than one checkpoint may name
 * ({@link MAX_CHECKPOINT_STANDARDS}): none can be signed there, and a sync or
 * watch must not fail for it (its readers see no current checkpoint).
 */
export function checkpointDue(state: SpaceState, did: string, now: Date): boolean {
  if (state.members.get(did as Did) !== "maintainer") return false;
  if (state.standards.size > MAX_CHECKPOINT_STANDARDS) return false;
  const own = state.checkpoints.filter((signed) => signed.record.author === did).at(-1);
  if (own === undefined) return true;
  const halfLife = (state.settings.checkpointExpirySeconds * 1000) / 2;
  if (now.getTime() - Date.parse(own.record.createdAt) > halfLife) return true;
  return headsKey(own.record) !== headsKey(checkpointBody(state, now));
}

/**
 * Signs a checkpoint of the space as `signer` sees it and appends it to the
 * space document (it goes out with the next exchange).
 * @throws CanonError `NOT_A_MEMBER` unless the signer is a maintainer, `BAD_ARGUMENT` past
 * {@link MAX_CHECKPOINT_STANDARDS} standards.
 */
export async function appendCheckpoint(
  replica: Replica,
  loaded: LoadedSpace,
  state: SpaceState,
  signer: Signer,
  now = new Date(),
): Promise<CheckpointWritten> {
  requireRole(signer, state, MAINTAINER, "signing a checkpoint");
  if (state.standards.size > MAX_CHECKPOINT_STANDARDS)
    throw new CanonError(
      "BAD_ARGUMENT",
      `the space has ${state.standards.size} standards; a checkpoint names at most ${MAX_CHECKPOINT_STANDARDS}`,
    );
  const record: Checkpoint = {
    ...checkpointBody(state, now),
    author: signer.keyPair.did,
  };
  const signed = await signRecord(signer.keyPair, record);
  replica.appendRecord(loaded.space, signed);
  return {
    cid: signed.cid,
    createdAt: record.createdAt,
    expires: record.expires,
    standards: record.standards.length,
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

/** Everything of a checkpoint but its author: the space's heads now, valid for the space's expiry. */
function checkpointBody(state: SpaceState, now: Date): Omit<Checkpoint, "author"> {
  return {
    type: "canon/checkpoint",
    v: 1,
    space: state.genesis.cid,
    standards: [...state.standards.values()].map((standard) => ({
      standard: standard.name,
      heads: standard.heads.map((head) => head.cid).sort(),
    })),
    expires: new Date(now.getTime() + state.settings.checkpointExpirySeconds * 1000).toISOString(),
    membership: [...state.membershipHeads],
    createdAt: now.toISOString(),
  };
}

/** The heads a checkpoint names, as one comparable string. */
function headsKey(checkpoint: Pick<Checkpoint, "membership" | "standards">): string {
  return JSON.stringify([
    [...checkpoint.membership].sort(),
    [...checkpoint.standards]
      .sort((a, b) => (a.standard < b.standard ? -1 : 1))
      .map(({ standard, heads }) => [standard, [...heads].sort()]),
  ]);
}
