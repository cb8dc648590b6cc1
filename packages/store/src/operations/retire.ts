import { CanonError, MAX_MESSAGE_LENGTH, type Retirement, signRecord } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { standardDocumentOf } from "../space/standard-document.js";
import { findStandard } from "./find-standard.js";
import { MAINTAINER, requireRole } from "./require-role.js";
import { assertReadable, type SpaceChoice, withSpace } from "./space-session.js";

/** A standard to retire or bring back. */
export interface RetireRequest extends SpaceChoice {
  readonly standard: string;
  /** True to retire, false to bring back. */
  readonly retired: boolean;
  /** Why, for the log. */
  readonly message?: string | undefined;
}

/** A retirement (or its reversal) just signed. */
export interface Retired {
  readonly cid: string;
  readonly standard: string;
  readonly retired: boolean;
}

/**
 * Retires a standard (maintainers): it leaves `ls` and default stamps, while
 * its log, pinned reads and the verification of old outputs still work; or
 * brings a retired one back.
 * @throws CanonError `UNKNOWN_STANDARD`, `NOT_A_MEMBER`, `BAD_ARGUMENT` (already in that state, message too long).
 */
export async function retireStandard(
  home: CanonHome,
  signer: Signer,
  request: RetireRequest,
): Promise<Retired> {
  const message = request.message ?? "";
  if (message.length > MAX_MESSAGE_LENGTH)
    throw new CanonError("BAD_ARGUMENT", `a message is at most ${MAX_MESSAGE_LENGTH} characters`);
  return withSpace(
    home,
    request,
    async ({ replica, folded, state, chosen }) => {
      requireRole(signer, state, MAINTAINER, "retiring a standard");
      const standard = findStandard(state, request.standard);
      assertReadable(folded, request.standard);
      if ((standard.retired !== undefined) === request.retired)
        throw new CanonError(
          "BAD_ARGUMENT",
          `${request.standard} is ${request.retired ? "already retired" : "not retired"}`,
        );
      const record: Retirement = {
        type: "canon/retirement",
        v: 1,
        space: chosen.address.genesis,
        standard: request.standard,
        retired: request.retired,
        message,
        membership: [...state.membershipHeads],
        author: signer.keyPair.did,
        createdAt: new Date().toISOString(),
      };
      const signed = await signRecord(signer.keyPair, record);
      const handle = standardDocumentOf(folded, state, request.standard);
      if (handle === undefined)
        throw new CanonError(
          "STORAGE_DAMAGED",
          `the document of ${request.standard} is not in this replica; run \`canon sync\``,
        );
      replica.appendRecord(handle, signed);
      return { cid: signed.cid, standard: request.standard, retired: request.retired };
    },
    { exclusive: true },
  );
}
