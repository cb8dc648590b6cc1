import type { Freshness } from "@canon/core";

/** The newest checkpoint as the read index records it. */
export interface IndexedCheckpoint {
  readonly cid: string;
  readonly author: string;
  readonly createdAt: string;
  readonly expires: string;
  /** Records it names that the fold did not hold. */
  readonly missing: readonly string[];
}

/** The freshness the index's checkpoint proves at `now` (the same rule as core's `freshnessOf`). */
export function freshnessOfIndex(
  checkpoint: IndexedCheckpoint | null | undefined,
  now: Date,
): Freshness {
  if (checkpoint === null || checkpoint === undefined || typeof checkpoint.expires !== "string")
    return { status: "unproven", checkpoint: null, missing: [] };
  const missing = Array.isArray(checkpoint.missing) ? checkpoint.missing : [];
  const { cid, author, createdAt, expires } = checkpoint;
  return {
    status:
      missing.length > 0 ? "incomplete" : Date.parse(expires) < now.getTime() ? "expired" : "fresh",
    checkpoint: { cid, author, createdAt, expires },
    missing,
  };
}
