import type { Release, SignedRecord } from "@canon/core";
import type { IndexedRelease } from "../caches/read-index.js";

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

/** A release as the caches keep it ({@link IndexedRelease}), as users see it. */
export function indexedReleaseView(indexed: IndexedRelease): ReleaseView {
  return {
    standard: indexed.standard,
    version: indexed.version,
    cid: indexed.contentCid,
    release: indexed.releaseCid,
    author: indexed.author,
    createdAt: indexed.createdAt,
    message: indexed.message,
  };
}
