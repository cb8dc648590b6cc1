import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { crypto as sigstoreCrypto, dsse as sigstoreDsse } from "@sigstore/core";
import { base58btc } from "multiformats/bases/base58";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";

let owner: Sandbox;
beforeEach(async () => {
  owner = await sandbox();
});
afterEach(async () => {
  await owner.dispose();
});

interface Envelope {
  payload: string;
  payloadType: string;
  signatures: { keyid?: string; sig: string }[];
}

/** The ed25519 public key a did:key names, as SPKI DER (RFC 8410), decoded here and not by Canon. */
function spkiOfDid(did: string): Buffer {
  const multikey = base58btc.decode(did.slice("did:key:".length));
  expect([...multikey.slice(0, 2)]).toEqual([0xed, 0x01]);
  return Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), multikey.slice(2)]);
}

/** Verifies a DSSE envelope with sigstore's PAE and node's ed25519, and returns its Statement. */
function independentlyVerified(envelope: Envelope, did: string) {
  const payload = Buffer.from(envelope.payload, "base64");
  const pae = sigstoreDsse.preAuthEncoding(envelope.payloadType, payload);
  const key = sigstoreCrypto.createPublicKey(spkiOfDid(did));
  const valid = envelope.signatures.some((signature) =>
    sigstoreCrypto.verify(pae, key, Buffer.from(signature.sig, "base64")),
  );
  return { valid, statement: JSON.parse(payload.toString("utf8")) };
}

describe("stamps as in-toto Statements in DSSE envelopes", () => {
  it("stamp --format in-toto writes an envelope an independent DSSE implementation verifies; canon verify reads it; export-stamp gives the same", async () => {
    owner.ok("init");
    owner.ok("space", "create", "pub");
    const styleText = "# Style v1\n";
    owner.ok("publish", "style", await owner.file("style.md", styleText));
    const agent = owner.ok("id", "new", "--name", "writer", "--json").json<{ did: string }>().did;
    owner.ok("member", "add", agent, "--role", "contributor");
    const text = "An article.\n";
    const output = await owner.file("article.md", text);
    const stamped = owner
      .ok("stamp", output, "--as", "writer", "--format", "in-toto", "--json")
      .json<{ cid: string; stampFile: string }>();
    const envelope = JSON.parse(await readFile(stamped.stampFile, "utf8")) as Envelope;
    expect(envelope.payloadType).toBe("application/vnd.in-toto+json");
    expect(envelope.signatures[0]?.keyid).toBe(agent);

    const { valid, statement } = independentlyVerified(envelope, agent);
    expect(valid).toBe(true);
    const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");
    expect(statement).toMatchObject({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "article.md", digest: { sha256: sha256(text) } }],
      predicateType: "https://canon.dev/provenance/v1",
      predicate: {
        agent,
        resolvedDependencies: [
          {
            name: "style",
            digest: { sha256: sha256(styleText) },
            annotations: { version: 1 },
          },
        ],
        canonRecord: { cid: stamped.cid },
      },
    });
    // A wrong key does not verify it: the check above is not vacuous.
    const stranger = owner.ok("id", "new", "--name", "stranger", "--json").json<{ did: string }>();
    expect(independentlyVerified(envelope, stranger.did).valid).toBe(false);

    expect(owner.ok("verify", output, "--json").json<{ verified: boolean }>().verified).toBe(true);

    // The same stamp exported from the feeds by CID, signed again by its author.
    const exported = JSON.parse(
      owner.ok("export-stamp", stamped.cid, "--as", "writer").stdout,
    ) as Envelope;
    expect(independentlyVerified(exported, agent)).toEqual({ valid: true, statement });
    expect(owner.canon("export-stamp", stamped.cid, "--as", "stranger").status).toBe(2);
    expect(owner.canon("export-stamp", "bafynotacid").status).toBe(2);

    // A Statement changed after signing (another subject) fails the DSSE check with its code.
    const forged = { ...statement, subject: [{ name: "x.md", digest: { sha256: sha256("x") } }] };
    await writeFile(
      stamped.stampFile,
      JSON.stringify({
        ...envelope,
        payload: Buffer.from(JSON.stringify(forged)).toString("base64"),
      }),
    );
    const tampered = owner.canon("verify", output, "--json");
    expect(tampered.status).toBe(7);
    expect(tampered.json<{ problems: { code: string }[] }>().problems).toEqual([
      expect.objectContaining({ code: "dsse-mismatch" }),
    ]);
    // An envelope carrying something else entirely is refused with one line and exit 2.
    await writeFile(stamped.stampFile, JSON.stringify({ ...envelope, payloadType: "text/plain" }));
    const other = owner.canon("verify", output);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/is a DSSE envelope but not a Canon stamp/);
  });
});
