import {
  CanonError,
  type ContextCheck,
  type Freshness,
  freshnessOf,
  type LaterCorrection,
  type MissedCorrection,
  type StampProblem,
  type StampProblemCode,
  type StampVerification,
  verifyStamp as verifyStampInSpace,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { readStampFile, stampFileOf } from "../space/stamp-file.js";
import { sha256OfInputFile } from "./input-file.js";
import { type ChosenSpace, chooseSpace, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

export type { ContextCheck, LaterCorrection, MissedCorrection, StampProblem, StampProblemCode };

/** What to verify. */
export interface VerifyStampRequest extends SpaceChoice {
  /** Path of the output file. */
  readonly output: string;
  /** Path of its stamp; `<output>.canon.json` when absent. */
  readonly stamp?: string | undefined;
}

/** An auditor's verdict on one output and its stamp. */
export interface Verification {
  /** True when the stamp is a valid signed record the space's rules accept, the output matches it, and every release it names is accepted. Drift does not make it false. */
  readonly verified: boolean;
  /** Why it is not verified, each with a stable code (see StampProblemCode); empty when it is. */
  readonly problems: readonly StampProblem[];
  readonly output: { readonly path: string; readonly sha256: string; readonly matches: boolean };
  readonly stamp: {
    /** The sidecar file read, or null for a stamp found in the space's feeds. */
    readonly path: string | null;
    readonly cid: string;
    readonly author: string | null;
    readonly createdAt: string | null;
  };
  /** The space URL the stamp was checked against, or null when the stamp itself is invalid. */
  readonly space: string | null;
  /** Each release of the stamp's context, with its drift; reported alongside problems. */
  readonly context: readonly ContextCheck[];
  /** Corrections the context missed although they existed when it was stamped (stale when stamped); reported alongside problems. */
  readonly missedCorrections: readonly MissedCorrection[];
  /** Corrections signed after the stamp that its releases do not incorporate (superseded since). */
  readonly laterCorrections: readonly LaterCorrection[];
  /** Forks and several versions of one standard the agent stamped with, as the stamp says. */
  readonly warnings: StampVerification["warnings"];
  /** Some release or correction of the context was stale when stamped (what `--strict` fails on). */
  readonly staleWhenStamped: boolean;
  /** When the auditor's replica last synced the space (staleness of the verdict); null if never. */
  readonly lastSync: string | null;
  /** What the auditor's replica can prove about its view of the space (null when no space was read). */
  readonly freshness: Freshness | null;
}

/**
 * Verifies an output against its stamp and the shared history in the local
 * replica, trusting neither the agent nor the relay: reads the output and
 * the stamp file, finds the joined space the stamp names, folds it (the fast
 * way, {@link viewSpace}), and runs core's stamp checks against it, which
 * also report drift.
 * @throws CanonError `FILE_UNREADABLE` (output or stamp), `BAD_RECORD` (not a stamp file), `UNKNOWN_SPACE` when this home has not joined the stamp's space.
 */
export async function verifyStamp(
  home: CanonHome,
  request: VerifyStampRequest,
): Promise<Verification> {
  const stampPath = request.stamp ?? stampFileOf(request.output);
  const sha256 = await sha256OfInputFile(request.output);
  const claimed = await readStampFile(stampPath);
  // Which space is known only once core has read the stamp; kept for the verdict.
  let chosen: ChosenSpace | undefined;
  let freshness: Freshness | null = null;
  const verdict = await verifyStampInSpace({
    stamp: claimed,
    outputSha256: sha256,
    spaceOf: async (genesis) => {
      const url = await spaceOf(home, request, genesis);
      return viewSpace(home, { space: url }, async (view) => {
        chosen = view.chosen;
        freshness = freshnessOf(view.state, new Date());
        return view;
      });
    },
  });
  const lastSync =
    chosen === undefined ? null : ((await readConfig(home)).spaces[chosen.url]?.lastSyncAt ?? null);
  return verificationOf(verdict, {
    output: { path: request.output, sha256 },
    stamp: { path: stampPath, cid: claimed.cid },
    space: chosen?.url ?? null,
    lastSync,
    freshness,
  });
}

/** A core verdict as the store reports it. */
export function verificationOf(
  verdict: StampVerification,
  about: {
    readonly output: { readonly path: string; readonly sha256: string };
    readonly stamp: { readonly path: string | null; readonly cid: string };
    readonly space: string | null;
    readonly lastSync: string | null;
    readonly freshness: Freshness | null;
  },
): Verification {
  return {
    output: { ...about.output, matches: verdict.outputMatches },
    stamp: {
      ...about.stamp,
      author: verdict.record?.author ?? null,
      createdAt: verdict.record?.createdAt ?? null,
    },
    verified: verdict.verified,
    problems: verdict.problems,
    space: about.space,
    context: verdict.context,
    missedCorrections: verdict.missedCorrections,
    laterCorrections: verdict.laterCorrections,
    warnings: verdict.warnings,
    staleWhenStamped:
      verdict.context.some((entry) => entry.whenStamped === "stale") ||
      verdict.missedCorrections.length > 0,
    lastSync: about.lastSync,
    freshness: about.freshness,
  };
}

/** The space to check a stamp against: the one asked for, else the joined space whose genesis the stamp names. */
async function spaceOf(home: CanonHome, request: SpaceChoice, genesis: string): Promise<string> {
  if (request.space !== undefined) {
    const chosen = await chooseSpace(home, request);
    if (chosen.address.genesis !== genesis) {
      throw new CanonError(
        "UNKNOWN_SPACE",
        `the stamp belongs to the space with genesis ${genesis}, not ${chosen.url}`,
      );
    }
    return chosen.url;
  }
  const config = await readConfig(home);
  const urls = Object.entries(config.spaces)
    .filter(([, entry]) => entry.genesis === genesis)
    .map(([url]) => url);
  if (urls.length > 1) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `the stamp's space (genesis ${genesis}) matches several joined spaces (${urls.join(", ")}); name one with --space`,
    );
  }
  const [url] = urls;
  if (url === undefined) {
    throw new CanonError(
      "UNKNOWN_SPACE",
      `the stamp belongs to the space with genesis ${genesis}, which this home has not joined; join it with \`canon space join <url>\``,
    );
  }
  return url;
}
