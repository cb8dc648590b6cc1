import { z } from "zod";
import {
  CidString,
  ContentCidString,
  DidString,
  MembershipHeads,
  PreviousRecords,
  ReleaseContentCidString,
  StandardName,
  Text,
  Timestamp,
} from "./fields.js";

/**
 * One piece of context an output was produced with: the release, its
 * content, and (when the agent read the rendered context: the release with
 * the corrections in force) the CID of exactly what it read.
 */
export const ContextEntry = z
  .object({
    standard: StandardName,
    version: z.number().int().min(1),
    contentCid: ReleaseContentCidString,
    releaseCid: CidString,
    renderedCid: ContentCidString.optional(),
  })
  .strict();
/** One piece of context an output was produced with. */
export type ContextEntry = z.infer<typeof ContextEntry>;

/**
 * Shaped like an in-toto Statement: `subject` is the output (its sha256),
 * the rest is the predicate: the context used, the open corrections seen,
 * the agent (author) and the space's Automerge heads at that moment.
 */
export const Provenance = z
  .object({
    type: z.literal("canon/provenance"),
    v: z.literal(1),
    space: CidString,
    subject: z
      .array(
        z
          .object({
            name: Text(1024),
            digest: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
          })
          .strict(),
      )
      .min(1)
      .max(256),
    context: z.array(ContextEntry).max(256),
    corrections: z.array(CidString).max(1024),
    spaceHeads: z.array(z.string().max(128)).max(64),
    previous: PreviousRecords,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A signed statement of which context produced an output. */
export type Provenance = z.infer<typeof Provenance>;
