import { z } from "zod";
import { DidString, Text, Timestamp } from "./fields.js";

/**
 * The first record of a space, signed by its creator, who is its first
 * maintainer. Its CID identifies the space in every later record.
 */
export const SpaceGenesis = z
  .object({
    type: z.literal("canon/space-genesis"),
    v: z.literal(1),
    name: Text(200).min(1),
    author: DidString,
    createdAt: Timestamp,
    /** Random, so two spaces with the same name and creator differ. */
    nonce: z.string().regex(/^[0-9a-f]{32}$/),
  })
  .strict();
/** The first record of a space. */
export type SpaceGenesis = z.infer<typeof SpaceGenesis>;
