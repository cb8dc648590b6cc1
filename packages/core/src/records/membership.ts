import { z } from "zod";
import { CidString, DidString, MembershipHeads, Timestamp } from "./fields.js";

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
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A signed change to the membership chain. */
export type MembershipChange = z.infer<typeof MembershipChange>;
