/**
 * How long a changed document waits before its sync message goes out, for
 * every automerge-repo peer Canon runs (a replica, a relay, a serving
 * replica). automerge-repo hard-codes 100 ms (Canon patches it to be
 * settable, see docs/decisions/2026-11-25-sync.md): a publish then takes
 * ~100 ms per hop to reach a reader. Canon's changes are few and whole (one
 * signed record each), so a short wait costs little extra traffic.
 */
export const SYNC_DEBOUNCE_MS = 2;
