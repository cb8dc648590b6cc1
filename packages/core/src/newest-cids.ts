/** A record known by its CID with the date it gives itself. */
interface Dated {
  readonly cid: string;
  readonly record: { readonly createdAt: string };
}

/**
 * The CIDs of the newest `limit` of `records` (by `createdAt`, then CID),
 * sorted by CID: how a head set too large to name whole is cut (an author's
 * own record heads, a correction log's heads in a checkpoint page), the same
 * way on every replica.
 */
export function newestCids(records: readonly Dated[], limit: number): string[] {
  return [...records]
    .sort((a, b) =>
      a.record.createdAt !== b.record.createdAt
        ? a.record.createdAt < b.record.createdAt
          ? 1
          : -1
        : a.cid < b.cid
          ? -1
          : 1,
    )
    .slice(0, limit)
    .map((signed) => signed.cid)
    .sort();
}
