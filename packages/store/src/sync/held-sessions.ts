import type { Replica } from "../replica.js";
import { probeRelay } from "./probe-relay.js";
import { inSync, openRelaySession, type RelaySession } from "./relay-session.js";
import type { RelayEndpoint } from "./relay-url.js";

/**
 * Relay sessions a home's owner keeps open between commands, by relay URL
 * and token: the next `sync` reuses one and is done as soon as every
 * document is in step, and what a command writes goes out at once.
 */
const held = new Map<string, RelaySession>();

const keyOf = (endpoint: RelayEndpoint) => `${endpoint.url}\n${endpoint.token ?? ""}`;

function alive(replica: Replica, session: RelaySession): boolean {
  try {
    session.assertConnected();
  } catch {
    return false;
  }
  return replica.repo.peers.includes(session.peerId);
}

/** True when a live session with `endpoint` is held (the owner is connected to that relay). */
export function holdsSession(replica: Replica, endpoint: RelayEndpoint): boolean {
  const session = held.get(keyOf(endpoint));
  return session !== undefined && alive(replica, session);
}

/**
 * Keeps `session` as the held one for its relay (a watch's connection), or
 * forgets it when `session` is undefined.
 */
export function holdSession(endpoint: RelayEndpoint, session: RelaySession | undefined): void {
  if (session === undefined) held.delete(keyOf(endpoint));
  else held.set(keyOf(endpoint), session);
}

/**
 * A session with the relay for one sync. In the owner process (the replica
 * is held open) a live held session is reused and a new one is kept open
 * after the sync; `close()` of either leaves it open. Elsewhere, the relay is
 * probed and a session opened as before, closed by `close()`.
 * @throws CanonError as {@link probeRelay} and {@link openRelaySession}.
 */
export async function relaySessionFor(
  replica: Replica,
  endpoint: RelayEndpoint,
  timeoutMs: number,
  shownTimeoutMs: number,
): Promise<RelaySession> {
  if (!replica.isHeldOpen) {
    await probeRelay(endpoint, timeoutMs);
    return openRelaySession(replica, endpoint, timeoutMs, shownTimeoutMs);
  }
  const existing = held.get(keyOf(endpoint));
  if (existing && alive(replica, existing)) return existing.reuse();
  existing?.close();
  held.delete(keyOf(endpoint));
  await probeRelay(endpoint, timeoutMs);
  const session = await openRelaySession(replica, endpoint, timeoutMs, shownTimeoutMs);
  held.set(keyOf(endpoint), session);
  // This first use keeps what the relay reported since connecting; closing it leaves the connection open.
  return { ...session, close: () => session.atStart.stop() };
}

/**
 * Waits (at most `timeoutMs`) until every relay a session is held with holds
 * what this replica holds of the documents it already exchanged with it, so
 * a command that wrote can answer "done" once readers can fetch it.
 * Returns false when that did not happen in time (it still goes out later).
 */
export async function untilRelaysHold(replica: Replica, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pending = false;
    for (const session of held.values()) {
      if (!alive(replica, session)) continue;
      for (const handle of Object.values(replica.repo.handles)) {
        const theirs = session.relayHeads(handle.documentId);
        if (!handle.isReady() || theirs === undefined) continue;
        if (!inSync(handle, theirs)) pending = true;
      }
    }
    if (!pending) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Closes every held session (the owner is stopping). */
export function closeHeldSessions(): void {
  for (const session of held.values()) session.close();
  held.clear();
}
