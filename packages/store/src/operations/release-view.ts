import type { Release, SignedRecord } from "@canon/core";

/** The fields every view of a release shows (`cid` is the content CID, `release` the release record's). */
export interface ReleaseView {
  readonly standard: string;
  readonly version: number;
  readonly cid: string;
  readonly release: string;
  readonly author: string;
  readonly createdAt: string;
  readonly message: string;
}

/** A release record as users see it. */
export function releaseView(signed: SignedRecord<Release>): ReleaseView {
  return {
    standard: signed.record.standard,
    version: signed.record.version,
    cid: signed.record.contentCid,
    release: signed.cid,
    author: signed.record.author,
    createdAt: signed.record.createdAt,
    message: signed.record.message,
  };
}
