import type { CanonHome } from "../home/canon-home.js";
import { chooseSpace } from "../operations/space-session.js";
import type { Replica } from "../replica.js";
import { mapField, type SpaceDocument } from "../space/documents.js";
import { holdsSession, relaySessionFor } from "../sync/held-sessions.js";
import { relayFor } from "../sync/relay-url.js";

/**
 * The most standards a space may route for the owner to keep every one of
 * its documents live (loaded and syncing with the relay) from the start.
 */
export const MAX_LIVE_STANDARDS = 256;

/** What {@link keepConnected} did. */
export type Connected =
  /** A session with the space's relay was already held. */
  | "held"
  /** It opened one and loaded the space's documents, which now sync with the relay live. */
  | "opened"
  /** The home has no space, no space in this replica, or no relay remembered for it. */
  | "nothing to connect";

/**
 * Makes the home's owner hold a live connection to its default space's
 * relay (the first one remembered), with every document of the space loaded,
 * so that what a command writes goes out at once (and a `publish` answers
 * once the relay holds it), and what other homes push arrives while no
 * command runs (the owner then refreshes the read index, so a `show` needs
 * no `sync`). See docs/decisions/2026-11-30-round-trip.md.
 * @throws CanonError `RELAY_UNREACHABLE`, `RELAY_REFUSED` when the relay
 * cannot be reached within `timeoutMs` (the caller tries again later).
 */
export async function keepConnected(
  home: CanonHome,
  replica: Replica,
  timeoutMs: number,
): Promise<Connected> {
  let chosen: Awaited<ReturnType<typeof chooseSpace>>;
  try {
    chosen = await chooseSpace(home, {});
  } catch {
    return "nothing to connect";
  }
  const relays = chosen.entry?.relays ?? [];
  if (relays.length === 0 || !(await replica.holds(chosen.address.documentId)))
    return "nothing to connect";
  const endpoint = relayFor(relays, {});
  if (holdsSession(replica, endpoint)) return "held";
  const session = await relaySessionFor(replica, endpoint, timeoutMs, timeoutMs);
  // This use ends here; the connection stays held (see held-sessions.ts).
  session.close();
  // Loaded documents sync with every connected peer: from now on, both ways, live.
  // A large space is not loaded whole (seconds of work, and a sync message
  // each way per document on every connection): only the space document, and
  // what commands load. Its readers then see new versions after a `sync`.
  if (await keptLive(replica, chosen.address.documentId)) await replica.spaces.load(chosen.address);
  return "opened";
}

/**
 * True when the space routes at most {@link MAX_LIVE_STANDARDS} standards:
 * the owner keeps all its documents live, and refreshes the read index
 * whenever something arrives (a fold of the whole space each time).
 */
export async function keptLive(replica: Replica, spaceDocumentId: string): Promise<boolean> {
  const space = await replica.find<SpaceDocument>(spaceDocumentId);
  return (
    space !== undefined &&
    Object.keys(mapField(space.doc(), "standards")).length <= MAX_LIVE_STANDARDS
  );
}
