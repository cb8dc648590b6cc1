import { createHash } from "node:crypto";

/** The hash a listing and the disk proof's short form are tagged with: the sha-256 (hex) of the fingerprint's JSON. */
export function fingerprintHashOf(
  fingerprint: Readonly<Record<string, readonly string[]>>,
): string {
  return createHash("sha256").update(JSON.stringify(fingerprint)).digest("hex");
}
