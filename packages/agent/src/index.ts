/**
 * Canon for agents written in TypeScript: one entry point to resolve the
 * context an agent depends on (pinned or latest), read it rendered with the
 * corrections in force, stamp what the agent produced, verify an output
 * (from its sidecar or from the space's feeds alone), and watch the space
 * for updates. Everything runs offline against a Canon home (`$CANON_HOME`,
 * default `~/.canon`) that has joined a space; `watch` connects to the
 * space's relay. Errors are `Error`s with a stable `code` (the CLI's codes:
 * `UNKNOWN_STANDARD`, `NOT_A_MEMBER`, `NOT_VERIFIED`, ...).
 *
 * The types below are this package's own, so the published declarations
 * need nothing else.
 */
import {
  canonHome,
  DEFAULT_IDENTITY,
  loadIdentity,
  resolve,
  resolveRendered,
  stamp as stampOutput,
  type Verification,
  verifyFromFeeds,
  verifyStamp,
  watchSpace,
} from "@canon/store";

/** Where an agent works: which Canon home, space and identity. */
export interface AgentOptions {
  /** The Canon home; `$CANON_HOME` or `~/.canon` when absent. */
  readonly home?: string;
  /** A space URL or name this home has joined; the home's default when absent. */
  readonly space?: string;
  /** The identity to stamp as (`canon id new --name <name>`); the home's own when absent. */
  readonly identity?: string;
}

/** One standard resolved to a release, with its exact bytes. */
export interface Context {
  readonly standard: string;
  readonly version: number;
  /** CIDv1 (raw, sha2-256) of the bytes: their `sha256sum`. */
  readonly contentCid: string;
  /** CID of the signed release record. */
  readonly releaseCid: string;
  readonly content: Uint8Array;
  /** The content as UTF-8 text. */
  readonly text: string;
  /** When the home last synced the space; null if never. */
  readonly lastSync: string | null;
}

/** A standard's rendered context: the release followed by the corrections in force. */
export interface RenderedContext extends Context {
  /** CID of the rendered bytes, which a stamp records. */
  readonly renderedCid: string;
  /** The corrections listed, by CID, oldest first. */
  readonly corrections: readonly string[];
}

/** A stamp just made. */
export interface Stamp {
  /** CID of the signed provenance record (in the agent's feed; `canon verify --stamp <cid>`). */
  readonly cid: string;
  /** The sidecar written beside the output. */
  readonly stampFile: string;
  readonly sha256: string;
  readonly context: readonly { readonly standard: string; readonly version: number }[];
  /** Forks or several versions of one standard the context used (also signed into the stamp). */
  readonly warnings: readonly { readonly code: string; readonly standard: string }[];
}

/** One release of a stamp's context as an auditor judges it. */
export interface JudgedRelease {
  readonly standard: string;
  readonly version: number;
  readonly accepted: boolean;
  /** Current or stale when the stamp was made (`unknown`: not an accepted release here). */
  readonly whenStamped: "current" | "stale" | "unknown";
  /** `held-newer`: the agent held a newer release; `newer-not-received`: one existed but had not reached it. */
  readonly staleReason: "held-newer" | "newer-not-received" | "unknown" | null;
  /** A newer release came after the stamp. */
  readonly supersededSince: boolean;
  readonly latestVersion: number | null;
}

/** An auditor's verdict on one stamp. */
export interface StampVerdict {
  readonly verified: boolean;
  readonly stampCid: string;
  readonly author: string | null;
  readonly createdAt: string | null;
  /** Why it does not verify, each with a stable code; empty when it does. */
  readonly problems: readonly { readonly code: string; readonly message: string }[];
  readonly context: readonly JudgedRelease[];
  /** A release or correction of the context was stale when stamped. */
  readonly staleWhenStamped: boolean;
}

/** The verdict on an output: every stamp found for it. */
export interface OutputVerdict {
  /** At least one stamp verifies. */
  readonly verified: boolean;
  readonly stamps: readonly StampVerdict[];
}

/** A record that arrived while watching (a release, correction, stamp, membership change, ...). */
export interface WatchedRecord {
  readonly cid: string;
  readonly type: string;
  readonly author: string;
  readonly standard?: string;
  readonly version?: number;
}

/** What {@link Agent.watch} reports. */
export interface WatchHandlers {
  /** Stops watching when aborted. */
  readonly signal: AbortSignal;
  /** Each newly accepted record, after verification. */
  readonly onRecord: (record: WatchedRecord) => void;
  /** Connected to, or lost, the relay. */
  readonly onConnection?: (connected: boolean, relay: string) => void;
}

/** Canon, as an agent uses it. */
export interface Agent {
  /**
   * The release of a standard the agent works from: the latest, or the one
   * `selector` pins (a version number, a content CID or a release CID).
   * Offline, from the read index when current (no Automerge).
   */
  context(standard: string, selector?: string): Promise<Context>;
  /** The rendered context of a standard (release plus corrections in force): what the agent should read. */
  renderedContext(standard: string, selector?: string): Promise<RenderedContext>;
  /**
   * Stamps an output: signs what it was produced with (each `name` or
   * `name@version|cid`; every standard at its latest when empty) into
   * `<output>.canon.json` and the agent's feed in the space, shared at the
   * next sync or through a running watch.
   */
  stamp(
    output: string,
    options?: { readonly standards?: readonly string[]; readonly format?: "canon" | "in-toto" },
  ): Promise<Stamp>;
  /** Verifies an output: its sidecar when there is one, else every stamp the feeds hold for its sha256. */
  verify(output: string): Promise<OutputVerdict>;
  /** Stays connected to the space's relay and reports each newly accepted record until `signal` aborts. */
  watch(handlers: WatchHandlers): Promise<void>;
}

/** Opens Canon for an agent. Nothing is read until a method is called. */
export function openAgent(options: AgentOptions = {}): Agent {
  const home = canonHome(options.home);
  const space = options.space;
  const asContext = (resolved: {
    standard: string;
    version: number;
    cid: string;
    release: string;
    content: Uint8Array;
    lastSync: string | null;
  }): Context => ({
    standard: resolved.standard,
    version: resolved.version,
    contentCid: resolved.cid,
    releaseCid: resolved.release,
    content: resolved.content,
    text: new TextDecoder().decode(resolved.content),
    lastSync: resolved.lastSync,
  });
  return {
    async context(standard, selector) {
      return asContext(await resolve(home, { space, standard, selector }));
    },
    async renderedContext(standard, selector) {
      const rendered = await resolveRendered(home, { space, standard, selector });
      return {
        ...asContext(rendered),
        renderedCid: rendered.renderedCid,
        corrections: rendered.corrections,
      };
    },
    async stamp(output, stampOptions = {}) {
      const signer = await loadIdentity(home, options.identity ?? DEFAULT_IDENTITY);
      const stamped = await stampOutput(home, signer, {
        space,
        output,
        context: stampOptions.standards,
        format: stampOptions.format,
      });
      return {
        cid: stamped.cid,
        stampFile: stamped.stampFile,
        sha256: stamped.output.sha256,
        context: stamped.context.map(({ standard, version }) => ({ standard, version })),
        warnings: stamped.warnings,
      };
    },
    async verify(output) {
      try {
        const verdict = await verifyStamp(home, { space, output });
        return { verified: verdict.verified, stamps: [judged(verdict)] };
      } catch (error) {
        // No sidecar: the stamps are in the space's feeds.
        if ((error as { code?: unknown }).code !== "FILE_UNREADABLE") throw error;
        const found = await verifyFromFeeds(home, { space, output });
        return { verified: found.verified, stamps: found.stamps.map(judged) };
      }
    },
    watch(handlers) {
      return watchSpace(home, {
        space,
        signal: handlers.signal,
        onEvent: (event) => {
          if (event.event === "record") {
            const { cid, type, author, standard, version } = event.record;
            handlers.onRecord({
              cid,
              type,
              author,
              ...(standard === undefined ? {} : { standard }),
              ...(version === undefined ? {} : { version }),
            });
          } else handlers.onConnection?.(event.event === "connected", event.relay);
        },
      });
    },
  };
}

/** A store verdict in this package's terms. */
function judged(verdict: Verification): StampVerdict {
  return {
    verified: verdict.verified,
    stampCid: verdict.stamp.cid,
    author: verdict.stamp.author,
    createdAt: verdict.stamp.createdAt,
    problems: verdict.problems.map(({ code, message }) => ({ code, message })),
    context: verdict.context.map((entry) => ({
      standard: entry.standard,
      version: entry.version,
      accepted: entry.accepted,
      whenStamped: entry.whenStamped,
      staleReason: entry.staleReason,
      supersededSince: entry.supersededSince,
      latestVersion: entry.latestVersion,
    })),
    staleWhenStamped: verdict.staleWhenStamped,
  };
}
