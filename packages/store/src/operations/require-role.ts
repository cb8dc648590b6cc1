import { CanonError, type Role, type SpaceState } from "@canon/core";
import type { Signer } from "../home/identities.js";

/** Maintainers only. */
export const MAINTAINER: readonly Role[] = ["maintainer"];
/** Contributors and maintainers. */
export const CONTRIBUTOR: readonly Role[] = ["maintainer", "contributor"];

/**
 * Refuses an action the signer's current role in the space does not allow,
 * saying who they are, what they are, what `doing` needs, and that a member
 * just added must sync before the role is known here.
 * @throws CanonError `NOT_A_MEMBER` (exit 6).
 */
export function requireRole(
  signer: Signer,
  state: SpaceState,
  roles: readonly Role[],
  doing: string,
): void {
  const role = state.members.get(signer.keyPair.did);
  if (role !== undefined && roles.includes(role)) return;
  throw new CanonError(
    "NOT_A_MEMBER",
    `${signer.identity.name} (${signer.keyPair.did}) is ${role ?? "not a member"} of this space; ${doing} needs ${[...roles].reverse().join(" or ")} (if a maintainer just added you, run \`canon sync\` first)`,
  );
}
