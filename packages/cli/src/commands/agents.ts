import { type AgentDrift, listAgents } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print, shortDid } from "../output.js";

/**
 * `canon agents`: every agent that has stamped in the space, its newest
 * stamped version of each standard against the latest (behind by versions
 * and open corrections), and when it last stamped, as a matrix.
 */
export async function run(options: GlobalOptions): Promise<void> {
  const matrix = await listAgents(home(), { space: options.space });
  print(options, matrix, () => {
    if (matrix.agents.length === 0) return "No agent has stamped in this space yet.";
    const header = [
      "agent",
      ...matrix.standards.map((s) => `${s.standard} (v${s.latestVersion})`),
      "stamps",
      "last stamped",
    ];
    const rows = matrix.agents.map((agent) => [
      shortDid(agent.did),
      ...matrix.standards.map((s) => cellOf(agent, s.standard)),
      String(agent.stamps),
      agent.lastStampedAt,
    ]);
    const widths = header.map((_, i) =>
      Math.max(...[header, ...rows].map((row) => (row[i] ?? "").length)),
    );
    return [header, ...rows]
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd(),
      )
      .join("\n");
  });
}

/** One agent's cell for a standard: `-` never stamped with it, `v3 ok`, or `v1 -2 versions -1 correction`. */
function cellOf(agent: AgentDrift, standard: string): string {
  const stamped = agent.standards.find((s) => s.standard === standard);
  if (stamped === undefined) return "-";
  const behind = [
    ...(stamped.behindVersions > 0 ? [`-${stamped.behindVersions}v`] : []),
    ...(stamped.behindCorrections > 0 ? [`-${stamped.behindCorrections}c`] : []),
  ];
  return `v${stamped.version} ${behind.length === 0 ? "ok" : behind.join(" ")}`;
}
