// What a peer may call itself and where it may ask its sync state to be
// kept. automerge-repo trusts both: the Repo keys plain objects by a peer's
// id, so `__proto__` reaches Object.prototype; and it saves a peer's sync
// state under the storage key `[documentId, "sync-state", storageId]`, the
// storage id being whatever the peer announced, which a file storage makes a
// path of, so `../../x` writes outside the data directory. The relay checks
// its clients and its peer relays by these rules (its guard), and a client
// checks its relay's answer by them (`relay-client.ts`).

/** Longest peer id accepted; automerge-repo's are about 15 characters, Canon's about 30. */
export const MAX_PEER_ID_LENGTH = 128;

/** A peer id's characters: printable, no path separators, no spaces. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@+=-]*$/;

/** A storage id as automerge-repo makes them (`uuid.v4()`). */
export const STORAGE_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * True for a peer id that is safe as a key of a plain object and in a log:
 * at most {@link MAX_PEER_ID_LENGTH} characters of {@link PEER_ID_PATTERN},
 * and not the name of an `Object.prototype` property.
 */
export function isPlainPeerId(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length <= MAX_PEER_ID_LENGTH &&
    PEER_ID_PATTERN.test(value) &&
    !Object.hasOwn(Object.prototype, value)
  );
}

/** True for a storage id automerge-repo could have made: a UUID, never a path. */
export function isStorageId(value: unknown): value is string {
  return typeof value === "string" && STORAGE_ID_PATTERN.test(value);
}
