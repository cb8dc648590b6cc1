import { z } from "zod";
import { CidString, DidString, MembershipHeads, Timestamp } from "./fields.js";

/** Most heads a removal pins in `recordHeads`. */
export const MAX_RECORD_HEADS = 1024;

/** What a member may do. Maintainers publish and manage members; contributors add corrections and provenance; readers read. */
export const Role = z.enum(["maintainer", "contributor", "reader"]);
/** What a member may do. */
export type Role = z.infer<typeof Role>;

/**
 * A signed change to the membership chain: grants `member` a role, or removes
 * them (`role: "removed"`). `membership` names the chain heads it follows.
 */
export const MembershipChange = z
  .object({
    type: z.literal("canon/membership"),
    v: z.literal(1),
    space: CidString,
    member: DidString,
    role: z.union([Role, z.literal("removed")]),
    membership: MembershipHeads,
    /**
     * On a removal: the release heads of every standard the remover had seen.
     * The removed member's releases count only if they are among these or
     * their ancestors, so citing an old point of the chain cannot backdate a
     * release past the removal.
     */
    releaseHeads: z.array(CidString).max(4096).optional(),
    /**
     * On a removal: the heads of the removed member's own chain of
     * corrections and provenance records the remover had seen (their
     * `previous` links). The same rule as `releaseHeads`, for those records.
     */
    recordHeads: z.array(CidString).max(MAX_RECORD_HEADS).optional(),
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A signed change to the membership chain. */
export type MembershipChange = z.infer<typeof MembershipChange>;
