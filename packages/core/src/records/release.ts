import { z } from "zod";
import {
  CidString,
  DidString,
  MembershipHeads,
  ReleaseContentCidString,
  StandardName,
  Text,
  Timestamp,
} from "./fields.js";

/** Largest standard Canon accepts, in bytes. */
export const MAX_CONTENT_BYTES = 4 * 1024 * 1024;

/** Longest release message Canon accepts, in characters (UTF-16 code units, as `string.length` counts them). */
export const MAX_MESSAGE_LENGTH = 4096;

/**
 * An immutable version of a standard. `contentCid` addresses the exact bytes
 * an agent reads (a raw CID), or a bundle's manifest (a dag-cbor CID) whose
 * files are addressed by raw CIDs; `size` is those bytes' length; `parents` are the release heads it follows (two or more
 * when it resolves a fork); `incorporates` lists corrections it folds in.
 */
export const Release = z
  .object({
    type: z.literal("canon/release"),
    v: z.literal(1),
    space: CidString,
    standard: StandardName,
    version: z.number().int().min(1).max(1_000_000_000),
    contentCid: ReleaseContentCidString,
    size: z.number().int().min(0).max(MAX_CONTENT_BYTES),
    parents: z.array(CidString).max(64),
    incorporates: z.array(CidString).max(1024),
    message: Text(MAX_MESSAGE_LENGTH),
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** An immutable version of a standard. */
export type Release = z.infer<typeof Release>;
