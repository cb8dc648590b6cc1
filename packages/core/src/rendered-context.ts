import { contentCid } from "./cid.js";
import type { Correction } from "./records/correction.js";
import type { SignedRecord } from "./signed-record.js";

/** Most corrections a rendered context lists; older ones in force are counted, not shown. */
export const MAX_RENDERED_CORRECTIONS = 100;
/** Most bytes of correction text a rendered context lists (the newest that fit). */
export const MAX_RENDERED_CORRECTION_BYTES = 64 * 1024;

/** What to render: one release, its exact bytes, and the corrections in force for it. */
export interface RenderInput {
  readonly standard: string;
  readonly version: number;
  /** The release's exact content (already checked against its content CID). */
  readonly content: Uint8Array;
  /** The corrections in force for this release, oldest first ({@link correctionsInForce}). */
  readonly corrections: readonly SignedRecord<Correction>[];
  /**
   * True when the release is a bundle (its content is a manifest): the
   * rendering is then the corrections section alone, empty when none are in
   * force, never the manifest's CBOR.
   */
  readonly bundle?: boolean | undefined;
}

/** A rendered context: what an agent reads, with its own CID. */
export interface RenderedContext {
  /** The bytes to read: see {@link renderContext} for the format. */
  readonly bytes: Uint8Array;
  /** Raw sha2-256 CID of `bytes` (its digest is their sha256sum). */
  readonly cid: string;
  /** The corrections listed, by CID, oldest first: what a stamp names as seen. */
  readonly shown: readonly string[];
  /** Corrections in force that did not fit and are only counted. */
  readonly omitted: number;
  /**
   * True when the corrections follow the release text in `bytes`; false for
   * a release that is not UTF-8 text (its bytes must stay exact), where
   * `bytes` is the corrections section alone, to travel beside it.
   */
  readonly spliced: boolean;
}

/**
 * Renders a release with the corrections in force, deterministically (the
 * same bytes on every replica for the same release and corrections):
 *
 * - a bundle: the section alone, no bytes when no correction is in force
 *   (the files are read one by one, exactly; the section travels beside them);
 * - no corrections in force: the release's bytes, unchanged (the rendered
 *   CID is the content CID);
 * - a UTF-8 text release: its bytes, a newline if they do not end in one,
 *   then a blank line and the section below;
 * - any other release: the section alone (never spliced into bytes that must
 *   stay exact).
 *
 * The section, in Markdown:
 * ```
 * ## Corrections in force for <standard>@<version>
 *
 * These were recorded after this version was written; each applies until a
 * new version incorporates it.
 *
 * 1. <text, continuation lines indented three spaces>
 *    (correction <cid>, <YYYY-MM-DD>)
 * ```
 * The newest corrections that fit {@link MAX_RENDERED_CORRECTIONS} and
 * {@link MAX_RENDERED_CORRECTION_BYTES} are listed, oldest first; when some
 * do not fit, a last line counts them and names the command that lists all.
 */
export async function renderContext(input: RenderInput): Promise<RenderedContext> {
  const text = input.bundle ? undefined : utf8Text(input.content);
  if (input.corrections.length === 0 && input.bundle) {
    const bytes = new Uint8Array(0);
    return {
      bytes,
      cid: (await contentCid(bytes)).toString(),
      shown: [],
      omitted: 0,
      spliced: false,
    };
  }
  if (input.corrections.length === 0) {
    return {
      bytes: input.content,
      cid: (await contentCid(input.content)).toString(),
      shown: [],
      omitted: 0,
      spliced: text !== undefined,
    };
  }
  const shown = newestThatFit(input.corrections);
  const omitted = input.corrections.length - shown.length;
  const lines = [
    `## Corrections in force for ${input.standard}@${input.version}`,
    "",
    "These were recorded after this version was written; each applies until a new version incorporates it.",
    "",
  ];
  shown.forEach((signed, index) => {
    lines.push(`${index + 1}. ${signed.record.text.split("\n").join("\n   ")}`);
    lines.push(`   (correction ${signed.cid}, ${signed.record.createdAt.slice(0, 10)})`);
    lines.push("");
  });
  if (omitted > 0) {
    lines.push(
      `(${omitted} older correction${omitted === 1 ? "" : "s"} in force not shown: \`canon corrections ${input.standard} --open\` lists them all.)`,
      "",
    );
  }
  const section = lines.join("\n");
  const rendered =
    text === undefined
      ? section
      : `${text}${text.endsWith("\n") || text.length === 0 ? "" : "\n"}\n${section}`;
  const bytes = new TextEncoder().encode(rendered);
  return {
    bytes,
    cid: (await contentCid(bytes)).toString(),
    shown: shown.map((signed) => signed.cid),
    omitted,
    spliced: text !== undefined,
  };
}

/** The newest corrections within both limits, oldest first. */
function newestThatFit(
  corrections: readonly SignedRecord<Correction>[],
): SignedRecord<Correction>[] {
  const chosen: SignedRecord<Correction>[] = [];
  let bytes = 0;
  for (let i = corrections.length - 1; i >= 0; i--) {
    const signed = corrections[i] as SignedRecord<Correction>;
    const size = new TextEncoder().encode(signed.record.text).length;
    if (chosen.length >= MAX_RENDERED_CORRECTIONS || bytes + size > MAX_RENDERED_CORRECTION_BYTES)
      break;
    chosen.push(signed);
    bytes += size;
  }
  return chosen.reverse();
}

/** The bytes as text when they are valid UTF-8 without NUL bytes, else undefined. */
function utf8Text(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
