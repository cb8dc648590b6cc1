import { CanonError, type Freshness } from "@canon/core";

/** One line for people: what the replica can prove about its view of the space. */
export function freshnessNote(freshness: Freshness): string {
  const { checkpoint, status, missing, problems } = freshness;
  if (checkpoint === null) return "no checkpoint yet: completeness cannot be proven";
  if (status === "incomplete") {
    const named = missing.slice(0, 3).join(", ") + (missing.length > 3 ? ", …" : "");
    const refused = (problems ?? [])
      .map((problem) => `; page ${problem.cid} refused (${problem.code}: ${problem.reason})`)
      .join("");
    return `INCOMPLETE: the checkpoint of ${checkpoint.createdAt} names ${missing.length} record(s) this replica lacks (${named})${refused}; run \`canon sync\``;
  }
  if (status === "expired")
    return `EXPIRED: the newest checkpoint expired at ${checkpoint.expires}; this view may be frozen`;
  return `checkpoint of ${checkpoint.createdAt}, complete, valid until ${checkpoint.expires}`;
}

/**
 * With `--require-fresh`, anything but a fresh, complete view is an error
 * (`NOT_FRESH`, exit 8), printed after the command's output.
 */
export function requireFresh(freshness: Freshness, required: boolean | undefined): void {
  if (!required || freshness.status === "fresh") return;
  throw new CanonError("NOT_FRESH", `the view is not proven fresh: ${freshnessNote(freshness)}`);
}
