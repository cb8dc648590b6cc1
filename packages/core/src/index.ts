export {
  BundleEntry,
  type BundleEntryInput,
  BundleManifest,
  bundleCid,
  bundleManifestOf,
  decodeBundleManifest,
  encodeBundleManifest,
  isBundleCid,
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_FILES,
  MODE_EXECUTABLE,
  MODE_FILE,
} from "./bundle/bundle-manifest.js";
export {
  bundlePathKey,
  bundlePathProblem,
  compareBundlePaths,
  MAX_BUNDLE_PATH_BYTES,
} from "./bundle/bundle-path.js";
export { sameBytes } from "./bytes.js";
export {
  CID,
  contentCid,
  DAG_CBOR_CODEC,
  looksLikeCid,
  parseCid,
  RAW_CODEC,
  recordCid,
  sha256Hex,
} from "./cid.js";
export { contentMatches, type ExpectedContent } from "./content-matches.js";
export { type Did, didFromPublicKey, parseDid, publicKeyFromDid } from "./did.js";
export { CanonError, type CanonErrorCode, isCanonError } from "./error.js";
export { type CheckpointEntry, checkpointEntries } from "./fold/checkpoint-entries.js";
export { type FoldInput, type FoldResult, fold } from "./fold/fold.js";
export { type FoldCache, PERMANENT_REFUSALS, REFUSAL_RULES_VERSION } from "./fold/fold-cache.js";
export { foldMore } from "./fold/fold-more.js";
export {
  type CheckpointProblem,
  checkpointGaps,
  effectiveExpiry,
  type Freshness,
  freshnessOf,
  missingFrom,
  newestCheckpoint,
} from "./fold/freshness.js";
export {
  type CorrectionStatus,
  correctionsInForce,
  type SpaceState,
  type StandardState,
} from "./fold/space-state.js";
export {
  type Identity,
  IdentityFile,
  IdentityName,
  identityFileOf,
  keyPairOfIdentityFile,
} from "./identity.js";
export { generateKeyPair, type KeyPair, keyPairFromSeed, sign, verify } from "./keys.js";
export { type Members, MembershipChain } from "./membership-chain.js";
export { ownRecordHeads } from "./own-record-heads.js";
export {
  Checkpoint,
  CheckpointV1,
  CheckpointV2,
  MAX_CHECKPOINT_PAGES,
  MAX_CHECKPOINT_STANDARDS,
} from "./records/checkpoint.js";
export {
  CheckpointPage,
  checkpointBucketOf,
  MAX_CORRECTION_LOG_HEADS,
} from "./records/checkpoint-page.js";
export type { Contribution, Positioned } from "./records/contribution.js";
export { Correction, MAX_CORRECTION_TEXT } from "./records/correction.js";
export {
  CidString,
  ContentCidString,
  DidString,
  MAX_PREVIOUS,
  MAX_STANDARD_NAME_LENGTH,
  MAX_STANDARD_NAME_SEGMENTS,
  PreviousRecords,
  ReleaseContentCidString,
  StandardName,
  standardNameKey,
  Timestamp,
} from "./records/fields.js";
export { SpaceGenesis } from "./records/genesis.js";
export { MAX_RECORD_HEADS, MembershipChange, Role } from "./records/membership.js";
export {
  ContextEntry,
  KnownStandard,
  Provenance,
  StampWarning,
} from "./records/provenance.js";
export { CanonRecord, type RecordType } from "./records/record.js";
export { MAX_CONTENT_BYTES, MAX_MESSAGE_LENGTH, Release } from "./records/release.js";
export { Retirement } from "./records/retirement.js";
export { DEFAULT_CHECKPOINT_EXPIRY_SECONDS, SpaceSettings } from "./records/space-settings.js";
export { Withdrawal } from "./records/withdrawal.js";
export {
  REJECTION_CODES,
  type Refusal,
  type Rejection,
  type RejectionCode,
} from "./rejection.js";
export {
  MAX_RENDERED_CORRECTION_BYTES,
  MAX_RENDERED_CORRECTIONS,
  type RenderedContext,
  type RenderInput,
  renderContext,
} from "./rendered-context.js";
export { MAX_RECORD_BYTES, type SignedRecord, signingInput, signRecord } from "./signed-record.js";
export type { CheckedRelease } from "./stamp/context-releases.js";
export type { Drift } from "./stamp/drift.js";
export {
  CANON_PREDICATE_TYPE,
  checkDsse,
  DsseEnvelope,
  dsseEnvelopeOf,
  entryOfDsse,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  type InTotoStatement,
  inTotoStatementOf,
  preAuthEncoding,
  type ResolvedDependency,
} from "./stamp/in-toto.js";
export type { LaterCorrection, MissedCorrection } from "./stamp/missed-corrections.js";
export type { StampProblem, StampProblemCode } from "./stamp/stamp-problem.js";
export type { StampSpace } from "./stamp/stamp-space.js";
export {
  type ClaimedStamp,
  type ContextCheck,
  type StampInput,
  type StampVerification,
  verifyStamp,
} from "./stamp/verify-stamp.js";
export { type StaleReason, type WhenStamped, whenStampedOf } from "./stamp/when-stamped.js";
export { type RecordCheck, type RecordEntry, verifyRecord } from "./verify-record.js";
