import {
  CanonError,
  MAX_RECORD_HEADS,
  type MembershipChange,
  ownRecordHeads,
  parseDid,
  Role,
  signRecord,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { MAINTAINER, requireRole } from "./require-role.js";
import { type SpaceChoice, withSpace } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** A member as `member ls` shows them. */
export interface Member {
  readonly did: string;
  readonly role: string;
}

/** What a membership change did. */
export interface MembershipChanged {
  readonly did: string;
  readonly role: MembershipChange["role"];
  /** CID of the signed membership record. */
  readonly record: string;
}

/**
 * Grants `did` a role (or removes them, with `role: "removed"`) by appending
 * a membership record signed by `signer`, naming the chain's current heads.
 * @throws CanonError `BAD_DID`, `BAD_ARGUMENT` (unknown role, removing a non-member), `NOT_A_MEMBER` (signer is not a maintainer).
 */
export async function changeMember(
  home: CanonHome,
  signer: Signer,
  request: SpaceChoice & { did: string; role: string },
): Promise<MembershipChanged> {
  const did = parseDid(request.did);
  const role = request.role === "removed" ? "removed" : Role.safeParse(request.role).data;
  if (role === undefined) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `"${request.role}" is not a role; use maintainer, contributor or reader`,
    );
  }
  return withSpace(
    home,
    request,
    async ({ replica, chosen, folded, state }) => {
      requireRole(signer, state, MAINTAINER, "managing members");
      if (role === "removed" && !state.members.has(did)) {
        throw new CanonError("BAD_ARGUMENT", `${did} is not a member of this space`);
      }
      const signed = await signRecord(signer.keyPair, {
        type: "canon/membership",
        v: 1,
        space: chosen.address.genesis,
        member: did,
        role,
        membership: [...state.membershipHeads],
        // A removal or demotion pins what its author has seen, so the member cannot
        // backdate releases, corrections or provenance records past it.
        ...(isLoss(state.members.get(did), role)
          ? {
              releaseHeads: [...state.standards.values()]
                .flatMap((standard) => standard.heads.map((head) => head.cid))
                .sort(),
              recordHeads: ownRecordHeads(state, did, MAX_RECORD_HEADS),
            }
          : {}),
        author: signer.keyPair.did,
        createdAt: new Date().toISOString(),
      });
      replica.appendRecord(folded.space, signed);
      return { did, role, record: signed.cid };
    },
    { writeBack: true },
  );
}

/** The space's members and roles, as the verified membership chain says. */
export async function listMembers(home: CanonHome, request: SpaceChoice = {}): Promise<Member[]> {
  return viewSpace(home, request, async ({ state }) =>
    [...state.members]
      .map(([did, role]) => ({ did, role }))
      .sort((a, b) => (a.did < b.did ? -1 : 1)),
  );
}

const RANK: Record<MembershipChange["role"], number> = {
  maintainer: 3,
  contributor: 2,
  reader: 1,
  removed: 0,
};

/** True when a change from `current` to `next` takes a right away (a removal or a demotion). */
function isLoss(current: MembershipChange["role"] | undefined, next: MembershipChange["role"]) {
  return current !== undefined && RANK[next] < RANK[current];
}
