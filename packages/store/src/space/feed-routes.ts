import { MAX_FEED_SEGMENTS_PER_AGENT } from "./documents.js";

/**
 * The feed segments a reader loads from a space document's `feeds` map
 * (document id → agent did, written by anyone who knows the URL), by
 * document id, with the agent each entry names. Only entries naming an
 * agent that has been a member of the space (`everMembers`, from verified
 * membership records) count, and at most {@link MAX_FEED_SEGMENTS_PER_AGENT}
 * of each agent's: documents this replica read the space from before
 * (`known`) first, then the others by id. So a peer filling the map costs
 * each reader at most that many fetches per member, and a segment a
 * reader has read before is never pushed out.
 */
export function chooseFeedRoutes(
  feeds: Readonly<Record<string, unknown>>,
  options: {
    /** True for an id that may name one of the space's documents. */
    readonly valid: (documentId: string) => boolean;
    readonly everMembers: ReadonlySet<string>;
    readonly known: ReadonlySet<string>;
  },
): Map<string, string> {
  const byAgent = new Map<string, string[]>();
  for (const id of Object.keys(feeds)) {
    const agent = feeds[id];
    if (typeof agent !== "string" || !options.everMembers.has(agent) || !options.valid(id))
      continue;
    const ids = byAgent.get(agent) ?? [];
    ids.push(id);
    byAgent.set(agent, ids);
  }
  const chosen = new Map<string, string>();
  for (const [agent, ids] of byAgent) {
    const rank = (id: string) => (options.known.has(id) ? 0 : 1);
    ids.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
    for (const id of ids.slice(0, MAX_FEED_SEGMENTS_PER_AGENT)) chosen.set(id, agent);
  }
  return chosen;
}
