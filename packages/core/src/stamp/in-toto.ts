import { base64pad } from "multiformats/bases/base64";
import { z } from "zod";
import { sameBytes } from "../bytes.js";
import { parseCid, sha256Hex } from "../cid.js";
import { type KeyPair, sign, verify } from "../keys.js";
import type { Provenance } from "../records/provenance.js";
import type { SignedRecord } from "../signed-record.js";
import type { StampProblem } from "./stamp-problem.js";

/** The in-toto Statement type a Canon stamp exports as. */
export const IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
/** The predicate type of a Canon stamp (docs/provenance-predicate.md). */
export const CANON_PREDICATE_TYPE = "https://canon.dev/provenance/v1";
/** DSSE payload type of an in-toto Statement. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/** An in-toto ResourceDescriptor naming one release of the context. */
export interface ResolvedDependency {
  readonly name: string;
  readonly uri: string;
  readonly digest: { readonly sha256: string };
  readonly annotations: {
    readonly version: number;
    readonly contentCid: string;
    readonly releaseCid: string;
    readonly renderedCid?: string;
  };
}

/** A Canon stamp as an in-toto Statement v1 (docs/provenance-predicate.md). */
export interface InTotoStatement {
  readonly _type: typeof IN_TOTO_STATEMENT_TYPE;
  readonly subject: Provenance["subject"];
  readonly predicateType: typeof CANON_PREDICATE_TYPE;
  readonly predicate: {
    readonly space: string;
    readonly agent: string;
    readonly createdAt: string;
    readonly resolvedDependencies: readonly ResolvedDependency[];
    readonly corrections: readonly string[];
    readonly knew: NonNullable<Provenance["knew"]>;
    readonly warnings: NonNullable<Provenance["warnings"]>;
    readonly membership: readonly string[];
    readonly previous: readonly string[];
    /** The signed Canon record itself (CID and base64 DAG-CBOR envelope), which `canon verify` checks against the space. */
    readonly canonRecord: { readonly cid: string; readonly envelope: string };
  };
}

/** A DSSE envelope (https://github.com/secure-systems-lab/dsse), as JSON. */
export const DsseEnvelope = z
  .object({
    payload: z.string().max(1024 * 1024),
    payloadType: z.string().max(256),
    signatures: z
      .array(z.object({ keyid: z.string().max(512).optional(), sig: z.string().max(1024) }))
      .min(1)
      .max(16),
  })
  .loose();
/** A DSSE envelope, as JSON. */
export type DsseEnvelope = z.infer<typeof DsseEnvelope>;

/** The in-toto Statement of a signed stamp: the same facts, with the Canon record embedded. */
export function inTotoStatementOf(signed: SignedRecord<Provenance>): InTotoStatement {
  const record = signed.record;
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: record.subject,
    predicateType: CANON_PREDICATE_TYPE,
    predicate: {
      space: record.space,
      agent: record.author,
      createdAt: record.createdAt,
      resolvedDependencies: record.context.map((entry) => ({
        name: entry.standard,
        uri: `canon:${record.space}/${encodeURIComponent(entry.standard)}@${entry.version}`,
        digest: { sha256: sha256Hex(parseCid(entry.contentCid)) },
        annotations: {
          version: entry.version,
          contentCid: entry.contentCid,
          releaseCid: entry.releaseCid,
          ...(entry.renderedCid === undefined ? {} : { renderedCid: entry.renderedCid }),
        },
      })),
      corrections: record.corrections,
      knew: record.knew ?? [],
      warnings: record.warnings ?? [],
      membership: record.membership,
      previous: record.previous ?? [],
      canonRecord: { cid: signed.cid, envelope: base64pad.baseEncode(signed.bytes) },
    },
  };
}

/** DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/**
 * Wraps a signed stamp as an in-toto Statement v1 in a DSSE envelope signed
 * with the agent's ed25519 key (the stamp's author; `keyid` is its did).
 * @throws Error when `keyPair` is not the stamp's author.
 */
export async function dsseEnvelopeOf(
  keyPair: KeyPair,
  signed: SignedRecord<Provenance>,
): Promise<DsseEnvelope> {
  if (keyPair.did !== signed.record.author)
    throw new Error("a stamp's DSSE envelope is signed by the stamp's author");
  const payload = new TextEncoder().encode(JSON.stringify(inTotoStatementOf(signed)));
  const sig = await sign(keyPair, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  return {
    payload: base64pad.baseEncode(payload),
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [{ keyid: keyPair.did, sig: base64pad.baseEncode(sig) }],
  };
}

/**
 * The Canon record a DSSE envelope carries (unverified: the caller checks it
 * like any entry), or why there is none: the envelope is not an in-toto
 * Statement with a Canon predicate.
 */
export function entryOfDsse(
  envelope: DsseEnvelope,
): { readonly cid: string; readonly bytes: Uint8Array } | { readonly error: string } {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { error: `payloadType is not ${IN_TOTO_PAYLOAD_TYPE}` };
  const statement = statementOf(envelope);
  const canonRecord = (statement as { predicate?: { canonRecord?: unknown } } | undefined)
    ?.predicate?.canonRecord as { cid?: unknown; envelope?: unknown } | undefined;
  if (
    (statement as { predicateType?: unknown } | undefined)?.predicateType !==
      CANON_PREDICATE_TYPE ||
    typeof canonRecord?.cid !== "string" ||
    typeof canonRecord.envelope !== "string"
  )
    return { error: `not an in-toto Statement with a ${CANON_PREDICATE_TYPE} predicate` };
  try {
    return { cid: canonRecord.cid, bytes: base64pad.baseDecode(canonRecord.envelope) };
  } catch {
    return { error: "the predicate's canonRecord.envelope is not base64" };
  }
}

/**
 * The DSSE envelope is the stamp's: its payloadType is in-toto's, some
 * signature verifies over the PAE with the stamp author's key, and the
 * payload is byte for byte the Statement {@link dsseEnvelopeOf} signs for
 * the record (so neither the statement nor the record can be swapped for
 * another, and no duplicate key or other spelling lets another JSON parser
 * read a different Statement). Never throws.
 */
export async function checkDsse(
  envelope: DsseEnvelope,
  signed: SignedRecord<Provenance>,
): Promise<StampProblem | undefined> {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return {
      code: "dsse-mismatch",
      message: `the DSSE payloadType is not ${IN_TOTO_PAYLOAD_TYPE}`,
    };
  let payload: Uint8Array;
  try {
    payload = base64pad.baseDecode(envelope.payload);
  } catch {
    return { code: "dsse-mismatch", message: "the DSSE payload is not base64" };
  }
  const pae = preAuthEncoding(envelope.payloadType, payload);
  let signedByAuthor = false;
  for (const signature of envelope.signatures) {
    try {
      if (await verify(signed.record.author, pae, base64pad.baseDecode(signature.sig))) {
        signedByAuthor = true;
        break;
      }
    } catch {
      // A signature that is not base64 is simply not the author's.
    }
  }
  if (!signedByAuthor)
    return {
      code: "dsse-mismatch",
      message: "no signature of the DSSE envelope verifies with the stamp author's key",
    };
  // The exact bytes, not the parsed JSON: a payload with a duplicate key or other spelling
  // parses to this Statement here but may read as another one to another verifier.
  const statement = new TextEncoder().encode(JSON.stringify(inTotoStatementOf(signed)));
  if (!sameBytes(payload, statement))
    return {
      code: "dsse-mismatch",
      message: "the in-toto Statement differs from the signed Canon record it carries",
    };
  return undefined;
}

/** The envelope's payload as JSON, or undefined when it is not. */
function statementOf(envelope: DsseEnvelope): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(base64pad.baseDecode(envelope.payload)));
  } catch {
    return undefined;
  }
}
