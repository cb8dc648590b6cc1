import { isDeepStrictEqual } from "node:util";
import { CanonError, fold, verifyRecord } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { readStampFile, stampFileOf } from "../space/stamp-file.js";
import { sha256OfInputFile } from "./input-file.js";
import { chooseSpace, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** What to verify. */
export interface VerifyStampRequest extends SpaceChoice {
  /** Path of the output file. */
  readonly output: string;
  /** Path of its stamp; `<output>.canon.json` when absent. */
  readonly stamp?: string | undefined;
}

/** One release of the stamp's context, as the auditor's replica sees it. */
export interface ContextCheck {
  readonly standard: string;
  readonly version: number;
  readonly releaseCid: string;
  readonly contentCid: string;
  /** The release is an accepted release of the standard, with this version and content. */
  readonly accepted: boolean;
  /** It is still the standard's latest release. */
  readonly current: boolean;
  /** The standard's latest version now, or null when the standard is unknown here. */
  readonly latestVersion: number | null;
}

/** A correction the output's context did not include although it existed, by its date, when the stamp was made. */
export interface MissedCorrection {
  readonly cid: string;
  readonly standard: string;
  readonly text: string;
}

/** An auditor's verdict on one output and its stamp. */
export interface Verification {
  /** True when the stamp is a valid signed record the space's rules accept, the output matches it, and every release it names is accepted. Drift does not make it false. */
  readonly verified: boolean;
  /** Why it is not verified; empty when it is. */
  readonly problems: readonly string[];
  readonly output: { readonly path: string; readonly sha256: string; readonly matches: boolean };
  readonly stamp: {
    readonly path: string;
    readonly cid: string;
    readonly author: string | null;
    readonly createdAt: string | null;
  };
  /** The space URL the stamp was checked against, or null when the stamp itself is invalid. */
  readonly space: string | null;
  readonly context: readonly ContextCheck[];
  readonly missedCorrections: readonly MissedCorrection[];
  /** When the auditor's replica last synced the space (staleness of the verdict); null if never. */
  readonly lastSync: string | null;
}

/**
 * Verifies an output against its stamp and the shared history in the local
 * replica, trusting neither the agent nor the relay: the stamp's CID and
 * signature, the output's sha-256, the author's role at the membership point
 * the stamp names (the same fold every record goes through, so a removed
 * member cannot backdate a stamp), and each release of its context. Reports
 * drift: releases that are no longer the latest, and corrections that
 * existed but were not in the context.
 * @throws CanonError `FILE_UNREADABLE` (output or stamp), `BAD_RECORD` (not a stamp file), `UNKNOWN_SPACE` when this home has not joined the stamp's space.
 */
export async function verifyStamp(
  home: CanonHome,
  request: VerifyStampRequest,
): Promise<Verification> {
  const stampPath = request.stamp ?? stampFileOf(request.output);
  const sha256 = await sha256OfInputFile(request.output);
  const claimed = await readStampFile(stampPath);
  const problems: string[] = [];
  const check = await verifyRecord(claimed);
  if (check.ok && !isDeepStrictEqual(claimed.readable, check.signed.record)) {
    problems.push("the stamp's readable record differs from the signed one in its envelope");
  }
  const record =
    check.ok && check.signed.record.type === "canon/provenance" ? check.signed.record : undefined;
  const matches = record?.subject.some((subject) => subject.digest.sha256 === sha256) ?? false;
  const base = {
    output: { path: request.output, sha256, matches },
    stamp: {
      path: stampPath,
      cid: claimed.cid,
      author: record?.author ?? null,
      createdAt: record?.createdAt ?? null,
    },
  };
  if (record === undefined) {
    const why = check.ok ? `it is a ${check.signed.record.type} record` : check.rejection.reason;
    return {
      ...base,
      verified: false,
      problems: [`the stamp is not a valid provenance record: ${why}`],
      space: null,
      context: [],
      missedCorrections: [],
      lastSync: null,
    };
  }
  if (!matches) {
    problems.push(
      `the output's sha256 is ${sha256}; the stamp names ${record.subject.map((s) => s.digest.sha256).join(", ")}`,
    );
  }

  const url = await spaceOf(home, request, record.space);
  return viewSpace(home, { space: url }, async ({ state, verified, chosen }) => {
    // The stamp goes through the same fold as every record of the space.
    const contentVerified = new Set(
      [...state.standards.values()].flatMap((standard) => [...standard.releases.keys()]),
    );
    const refolded = await fold({
      spaceCid: chosen.address.genesis,
      entries: [...verified.values(), { cid: claimed.cid, bytes: claimed.bytes }],
      content: () => [],
      cache: {
        verifiedRecord: (cid) => verified.get(cid),
        contentMatched: (cid) => contentVerified.has(cid),
      },
    });
    if (!refolded.state?.provenance.has(claimed.cid)) {
      const reason = refolded.rejected.find((r) => r.cid === claimed.cid)?.reason ?? "refused";
      problems.push(`the space's rules refuse the stamp: ${reason}`);
    }

    const context: ContextCheck[] = [];
    const missedCorrections: MissedCorrection[] = [];
    const named = new Set(record.corrections);
    const releases = new Set<string>();
    for (const entry of record.context) {
      if (releases.has(entry.releaseCid)) {
        problems.push(`the context names ${entry.releaseCid} twice`);
        continue;
      }
      releases.add(entry.releaseCid);
      const standard = state.standards.get(entry.standard);
      const release = standard?.releases.get(entry.releaseCid);
      const accepted =
        release !== undefined &&
        release.record.version === entry.version &&
        release.record.contentCid === entry.contentCid;
      if (!accepted) {
        problems.push(
          `${entry.standard}@${entry.version} (${entry.releaseCid}) is not an accepted release in this replica; sync, or it was never published`,
        );
      }
      context.push({
        ...entry,
        accepted,
        current: standard?.latest.cid === entry.releaseCid,
        latestVersion: standard?.latest.record.version ?? null,
      });
    }
    // Drift, for a stamp worth reporting on: corrections of those standards
    // that existed by their dates and that neither the context nor the
    // release it used included.
    if (problems.length === 0) {
      const incorporated = new Map<string, Set<string>>();
      for (const entry of record.context) {
        const release = state.standards.get(entry.standard)?.releases.get(entry.releaseCid);
        const set = incorporated.get(entry.standard) ?? new Set<string>();
        for (const cid of release?.record.incorporates ?? []) set.add(cid);
        incorporated.set(entry.standard, set);
      }
      for (const correction of state.corrections.values()) {
        const { standard: name, createdAt, text } = correction.record;
        const used = incorporated.get(name);
        if (
          used !== undefined &&
          createdAt <= record.createdAt &&
          !used.has(correction.cid) &&
          !named.has(correction.cid)
        )
          missedCorrections.push({ cid: correction.cid, standard: name, text });
      }
    }
    const config = await readConfig(home);
    return {
      ...base,
      verified: problems.length === 0,
      problems,
      space: chosen.url,
      context,
      missedCorrections,
      lastSync: config.spaces[chosen.url]?.lastSyncAt ?? null,
    };
  });
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
