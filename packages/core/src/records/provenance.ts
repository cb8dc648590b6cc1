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
 * What the agent's replica held of one standard of the context when it
 * stamped: the heads of that standard's release graph and the highest
 * version among them. Lets an auditor tell "the agent already held a newer
 * release" from "a newer release existed but had not reached the agent".
 */
export const KnownStandard = z
  .object({
    standard: StandardName,
    version: z.number().int().min(1),
    heads: z.array(CidString).min(1).max(16),
    /** Corrections in force the replica held for the standard's latest release (for people; the stamp's `corrections` are what the context listed). */
    openCorrections: z.number().int().min(0).max(1_000_000),
  })
  .strict();
/** What the agent's replica held of one standard when it stamped. */
export type KnownStandard = z.infer<typeof KnownStandard>;

/** Something about the context the agent was warned of when it stamped. */
export const StampWarning = z
  .object({
    /** `forked`: the standard had several heads in the agent's replica; `several-versions`: the context names more than one release of it. */
    code: z.enum(["forked", "several-versions"]),
    standard: StandardName,
  })
  .strict();
/** Something about the context the agent was warned of when it stamped. */
export type StampWarning = z.infer<typeof StampWarning>;

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
    /** What the agent's replica held of each standard of the context (absent in stamps made before 2026-11-29). */
    knew: z.array(KnownStandard).max(256).optional(),
    /** Forks and several versions of one standard the agent stamped with (absent when none). */
    warnings: z.array(StampWarning).max(512).optional(),
    previous: PreviousRecords,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A signed statement of which context produced an output. */
export type Provenance = z.infer<typeof Provenance>;
