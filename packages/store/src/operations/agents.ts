import { readStampIndex, type StampIndex } from "../caches/stamp-index.js";
import type { CanonHome } from "../home/canon-home.js";
import { currentStampIndex } from "./current-stamp-index.js";
import { chooseSpace, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** One agent's newest stamped context of one standard, against the standard's latest release. */
export interface AgentStandard {
  readonly standard: string;
  readonly version: number;
  readonly latestVersion: number;
  /** Versions between the stamped release and the latest (0: current). */
  readonly behindVersions: number;
  /** Open corrections (in force for the latest release) its newest stamp did not name. */
  readonly behindCorrections: number;
  readonly stampedAt: string;
  readonly stampCid: string;
}

/** One agent that has stamped in the space. */
export interface AgentDrift {
  readonly did: string;
  /** Accepted stamps in the space's feeds. */
  readonly stamps: number;
  readonly lastStampedAt: string;
  /** Per standard it has stamped with, its newest stamp's release; sorted by standard. */
  readonly standards: readonly AgentStandard[];
}

/** Every agent that has stamped in a space, and how far behind each one's context is. */
export interface AgentsMatrix {
  readonly space: string;
  /** Standards in use (not retired) and their latest version. */
  readonly standards: readonly { readonly standard: string; readonly latestVersion: number }[];
  /** Agents, most recent stamp first. */
  readonly agents: readonly AgentDrift[];
}

/**
 * Every agent that has stamped in the space, with its newest stamped context
 * per standard against the latest release (behind by how many versions and
 * open corrections) and when it last stamped, from the stamp index: no fold
 * while the index describes the chunk files on disk (rebuilt from a fold
 * otherwise). Accepted stamps only: one the space's rules refuse is not an
 * agent's context.
 * @throws CanonError `NO_SPACE`, `UNKNOWN_SPACE`, `BAD_URL`.
 */
export async function listAgents(home: CanonHome, choice: SpaceChoice): Promise<AgentsMatrix> {
  const chosen = await chooseSpace(home, choice);
  const index =
    (await readStampIndex(home, chosen.address)) ??
    (await viewSpace(home, choice, (view) => currentStampIndex(home, view)));
  return matrixOf(chosen.url, index);
}

function matrixOf(space: string, index: StampIndex): AgentsMatrix {
  const agents = Object.entries(index.agents).map(([did, agent]) => ({
    did,
    stamps: agent.stamps,
    lastStampedAt: agent.lastStampedAt,
    standards: Object.entries(agent.latest)
      .map(([standard, stamped]) => ({
        standard,
        version: stamped.version,
        latestVersion: stamped.latestVersion,
        behindVersions: stamped.behindVersions,
        behindCorrections: stamped.behindCorrections,
        stampedAt: stamped.stampedAt,
        stampCid: stamped.stampCid,
      }))
      .sort((a, b) => (a.standard < b.standard ? -1 : 1)),
  }));
  agents.sort((a, b) =>
    a.lastStampedAt !== b.lastStampedAt
      ? a.lastStampedAt < b.lastStampedAt
        ? 1
        : -1
      : a.did < b.did
        ? -1
        : 1,
  );
  const standards = Object.entries(index.latest)
    .map(([standard, latestVersion]) => ({ standard, latestVersion }))
    .sort((a, b) => (a.standard < b.standard ? -1 : 1));
  return { space, standards, agents };
}
