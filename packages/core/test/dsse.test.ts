import { base64pad } from "multiformats/bases/base64";
import { describe, expect, it } from "vitest";
import {
  checkDsse,
  type DsseEnvelope,
  dsseEnvelopeOf,
  generateKeyPair,
  IN_TOTO_PAYLOAD_TYPE,
  type KeyPair,
  type Provenance,
  preAuthEncoding,
  type SignedRecord,
  sign,
  signRecord,
} from "../src/index.js";
import { makeSpace, tick } from "./space-fixture.js";

/** A stamp of one output with one release of context, signed by a contributor. */
async function stamp(): Promise<{ agent: KeyPair; signed: SignedRecord<Provenance> }> {
  const space = await makeSpace();
  const agent = await generateKeyPair();
  const joined = await space.member(space.creator, agent.did, "contributor");
  const v1 = await space.release(space.creator, "style", "# Style v1");
  const { standard, version, contentCid } = v1.record;
  const signed = (await signRecord(agent, {
    type: "canon/provenance",
    v: 1,
    space: space.genesis.cid,
    subject: [{ name: "article.md", digest: { sha256: "ab".repeat(32) } }],
    context: [{ standard, version, contentCid, releaseCid: v1.cid }],
    corrections: [],
    spaceHeads: [],
    previous: [],
    membership: [joined.cid],
    author: agent.did,
    createdAt: tick(),
  })) as SignedRecord<Provenance>;
  return { agent, signed };
}

/** An envelope over `payload`, signed by `keyPair` as DSSE signs (over the PAE). */
async function envelopeOver(keyPair: KeyPair, payload: string): Promise<DsseEnvelope> {
  const bytes = new TextEncoder().encode(payload);
  const sig = await sign(keyPair, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, bytes));
  return {
    payload: base64pad.baseEncode(bytes),
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [{ keyid: keyPair.did, sig: base64pad.baseEncode(sig) }],
  };
}

describe("checkDsse against payloads other DSSE verifiers read differently", () => {
  it("accepts the envelope Canon writes, and refuses a signed payload whose duplicate key another JSON parser reads as another subject", async () => {
    const { agent, signed } = await stamp();
    const honest = await dsseEnvelopeOf(agent, signed);
    expect(await checkDsse(honest, signed)).toBeUndefined();
    const statement = new TextDecoder().decode(base64pad.baseDecode(honest.payload));
    // A parser keeping the first of two equal keys (many do, or refuse) sees the forged subject;
    // JSON.parse keeps the last, which restates the signed record.
    const evil = `"subject":[{"name":"evil.sh","digest":{"sha256":"${"cd".repeat(32)}"}}],`;
    const forged = statement.replace('"subject":', `${evil}"subject":`);
    expect(JSON.stringify(JSON.parse(forged))).toBe(statement);
    const problem = await checkDsse(await envelopeOver(agent, forged), signed);
    expect(problem?.code).toBe("dsse-mismatch");
    // Any other spelling of the same Statement is not the one Canon derives either.
    const spaced = JSON.stringify(JSON.parse(statement), null, 2);
    expect((await checkDsse(await envelopeOver(agent, spaced), signed))?.code).toBe(
      "dsse-mismatch",
    );
  });

  it("refuses an envelope with a payloadType other than in-toto's even when signed over it", async () => {
    const { agent, signed } = await stamp();
    const honest = await dsseEnvelopeOf(agent, signed);
    const payload = base64pad.baseDecode(honest.payload);
    const sig = await sign(agent, preAuthEncoding("text/plain", payload));
    const other = {
      ...honest,
      payloadType: "text/plain",
      signatures: [{ keyid: agent.did, sig: base64pad.baseEncode(sig) }],
    };
    expect((await checkDsse(other, signed))?.code).toBe("dsse-mismatch");
  });
});
