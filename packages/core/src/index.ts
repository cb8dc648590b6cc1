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
export {
  type FoldInput,
  type FoldResult,
  fold,
  type SpaceState,
  type StandardState,
} from "./fold.js";
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
export { Correction } from "./records/correction.js";
export {
  CidString,
  DidString,
  MAX_PREVIOUS,
  PreviousRecords,
  StandardName,
  Timestamp,
} from "./records/fields.js";
export { SpaceGenesis } from "./records/genesis.js";
export { MAX_RECORD_HEADS, MembershipChange, Role } from "./records/membership.js";
export { ContextEntry, Provenance } from "./records/provenance.js";
export { CanonRecord, type RecordType } from "./records/record.js";
export { MAX_CONTENT_BYTES, MAX_MESSAGE_LENGTH, Release } from "./records/release.js";
export { MAX_RECORD_BYTES, type SignedRecord, signingInput, signRecord } from "./signed-record.js";
export {
  type RecordCheck,
  type RecordEntry,
  type Rejection,
  verifyRecord,
} from "./verify-record.js";
