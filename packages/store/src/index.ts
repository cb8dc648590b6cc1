export { BlobCache } from "./caches/blob-cache.js";
export { type FastRead, type IndexedRelease, readFromIndex } from "./caches/read-index.js";
export { writeFileAtomic } from "./home/atomic-write.js";
export { type CanonHome, canonHome } from "./home/canon-home.js";
export { Config, RelayEntry, readConfig, SpaceEntry, updateConfig } from "./home/config.js";
export { holdFileLock, lockHolderOf } from "./home/file-lock.js";
export { withHomeLock } from "./home/home-lock.js";
export {
  createIdentity,
  DEFAULT_IDENTITY,
  ensureIdentity,
  keepSigningKeys,
  listIdentities,
  loadIdentity,
  readIdentity,
  type Signer,
} from "./home/identities.js";
export {
  type ProcessLiveness,
  processLiveness,
  processStartTime,
} from "./home/process-liveness.js";
export { holdReplica, openReplica } from "./open-replica.js";
export {
  type AgentDrift,
  type AgentStandard,
  type AgentsMatrix,
  listAgents,
} from "./operations/agents.js";
export {
  type BundleFile,
  type BundleFolder,
  readBundleFolder,
} from "./operations/bundle-folder.js";
export {
  type CheckpointWritten,
  changeSettings,
  checkpointBucketsFor,
  checkpointDue,
  type SettingsRequest,
  writeCheckpoint,
} from "./operations/checkpoint.js";
export {
  type Corrected,
  type CorrectRequest,
  correct,
  type Withdrawn,
  type WithdrawRequest,
  withdrawCorrection,
} from "./operations/correct.js";
export {
  type CorrectionEntry,
  type CorrectionLog,
  type CorrectionLogRequest,
  correctionLog,
} from "./operations/correction-log.js";
export { type CreatedSpace, createSpace } from "./operations/create-space.js";
export { type Diagnosis, doctor } from "./operations/doctor.js";
export { type ExportStampRequest, exportStamp } from "./operations/export-stamp.js";
export {
  type Exported,
  type ExportedFile,
  type ExportRequest,
  exportStandard,
} from "./operations/export-standard.js";
export { type History, type HistoryEntry, history } from "./operations/history.js";
export { readAtMost } from "./operations/input-file.js";
export { type ListedStandard, type Listing, list } from "./operations/list.js";
export {
  changeMember,
  listMembers,
  type Member,
  type MembershipChanged,
} from "./operations/membership.js";
export {
  appendRelease,
  type Published,
  type PublishRequest,
  publish,
  type ReleaseContent,
} from "./operations/publish.js";
export { type ReleaseView, releaseView } from "./operations/release-view.js";
export { type RenderedRelease, resolveRendered } from "./operations/render.js";
export { type Resolved, type ResolveRequest, resolve } from "./operations/resolve.js";
export { type ResolvedFiles, resolveFiles } from "./operations/resolve-files.js";
export { type Retired, type RetireRequest, retireStandard } from "./operations/retire.js";
export {
  type ChosenSpace,
  chooseSpace,
  refreshCaches,
  type SpaceChoice,
  type SpaceSession,
  withSpace,
} from "./operations/space-session.js";
export { type Stamped, type StampRequest, stamp } from "./operations/stamp.js";
export {
  parseStandardReference,
  type StandardReference,
} from "./operations/standard-reference.js";
export {
  type FeedVerification,
  type VerifyFromFeedsRequest,
  verifyFromFeeds,
} from "./operations/verify-from-feeds.js";
export {
  type ContextCheck,
  type MissedCorrection,
  type StampProblem,
  type StampProblemCode,
  type Verification,
  type VerifyStampRequest,
  verifyStamp,
} from "./operations/verify-stamp.js";
export {
  type AfterAnswer,
  afterAnswer,
  collectAfterAnswer,
  runAfterAnswer,
} from "./owner/after-answer.js";
export { type Connected, keepConnected, MAX_LIVE_STANDARDS } from "./owner/owner-connection.js";
export { refreshArrived } from "./owner/owner-refresh.js";
export {
  MAX_OWNER_REQUEST_BYTES,
  OWNER_PROTOCOL,
  OwnerRequest,
  parseOwnerRequest,
} from "./owner/owner-request.js";
export type { Replica, ReplicaOptions } from "./replica.js";
export type { ContentLookup } from "./space/content-lookup.js";
export type { SpaceDocument, StandardDocument } from "./space/documents.js";
export type { FoldedSpace, LoadedSpace, SpaceReader } from "./space/space-reader.js";
export { formatSpaceUrl, parseSpaceUrl, type SpaceAddress } from "./space/space-url.js";
export { auditChunks, type DamagedFile } from "./storage/chunk-audit.js";
export { CHUNK_KINDS, countStoredDocuments, pathOfKey } from "./storage/chunk-layout.js";
export { FileStorage } from "./storage/file-storage.js";
export { WritesInFlight } from "./storage/writes-in-flight.js";
export { ACCESS_REFUSED_CLOSE_CODE } from "./sync/access-refused.js";
export {
  type ChunkItems,
  CLIENT_DOCUMENT_ITEMS,
  chunkItems,
  ITEMS_ALLOWANCE,
  ITEMS_PER_BYTE,
  itemsAllowed,
  maxInflatedOf,
  tooManyItems,
} from "./sync/chunk-items.js";
export {
  chunksApply,
  createdDepth,
  type DocumentBackend,
  type DocumentProbe,
  depthOf,
  MAX_DOCUMENT_NESTING,
  nestingOf,
  probeDocument,
  syncMessageTooDeep,
} from "./sync/document-depth.js";
export {
  DOCUMENT_FRAMES_END,
  DOCUMENT_FRAMES_TAG,
  type DocumentFrame,
  documentFrameHeader,
  type FramesLimits,
  type FramesRefusal,
  readDocumentFrames,
} from "./sync/document-frames.js";
export { etagOf, headsDigest, ifNoneMatchNames } from "./sync/heads-digest.js";
export { closeHeldSessions, untilRelaysHold } from "./sync/held-sessions.js";
export { type LiveSpace, openLiveSpace } from "./sync/live-space.js";
export {
  isPlainPeerId,
  isStorageId,
  MAX_PEER_ID_LENGTH,
  PEER_ID_PATTERN,
  STORAGE_ID_PATTERN,
} from "./sync/peer-identity.js";
export { parsePort } from "./sync/port.js";
export { probeRelay, type RelayHealth } from "./sync/probe-relay.js";
export type { RecordSummary } from "./sync/record-summary.js";
export { RelayClient } from "./sync/relay-client.js";
export { parseRelayUrl, type RelayEndpoint, socketUrlOf } from "./sync/relay-url.js";
export { SYNC_DEBOUNCE_MS } from "./sync/sync-debounce.js";
export {
  type SyncProgress,
  type SyncReport,
  type SyncRequest,
  syncSpace,
} from "./sync/sync-space.js";
export { type WatchEvent, type WatchRequest, watchSpace } from "./sync/watch-space.js";
export { type Added, type AddRequest, addStandard } from "./workspace/add-standard.js";
export { defaultTarget } from "./workspace/default-target.js";
export {
  type DriftState,
  type ProjectStatus,
  projectStatus,
  type StandardDrift,
} from "./workspace/drift.js";
export {
  type ImportedContext,
  type ImportReport,
  type ImportRequest,
  importContext,
} from "./workspace/import-context.js";
export { type FoundContext, findContext } from "./workspace/import-layouts.js";
export {
  LOCK_FILE,
  LockedFile,
  LockedStandard,
  LockFile,
  readLock,
  serializeLock,
} from "./workspace/lock-file.js";
export {
  findProjectDir,
  MANIFEST_FILE,
  type Project,
  ProjectManifest,
  ProjectStandard,
  readProject,
  TARGET_TYPES,
  Target,
  type TargetType,
} from "./workspace/project-manifest.js";
export {
  type PulledStandard,
  type PullReport,
  type PullRequest,
  pull,
} from "./workspace/pull.js";
export { type RunReport, type RunRequest, runInProject } from "./workspace/run-command.js";
export { type TargetSettings, targetsFromFlags } from "./workspace/target-flags.js";
