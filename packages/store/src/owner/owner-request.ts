import { CanonError } from "@canon/core";
import { z } from "zod";

/** The owner protocol's version: a client and an owner that differ never talk further. */
export const OWNER_PROTOCOL = 1;

/** Longest request line a client may send to a home's owner, in bytes. */
export const MAX_OWNER_REQUEST_BYTES = 64 * 1024;

const argument = z.string().max(8 * 1024);

/** What a thin client sends to its home's owner: one JSON line. */
export const OwnerRequest = z.discriminatedUnion("op", [
  z.strictObject({
    v: z.literal(OWNER_PROTOCOL),
    version: z.string().max(64),
    op: z.literal("run"),
    argv: z.array(argument).min(1).max(256),
    cwd: z.string().min(1).max(4096).startsWith("/"),
  }),
  z.strictObject({
    v: z.literal(OWNER_PROTOCOL),
    version: z.string().max(64),
    op: z.enum(["stop", "status"]),
  }),
]);

/** A request a home's owner accepted as well-formed. */
export type OwnerRequest = z.infer<typeof OwnerRequest>;

/**
 * Reads one request line (hostile input: any bytes a local process wrote to
 * the socket).
 * @throws CanonError `BAD_ARGUMENT` saying what is wrong, when the line is too
 * long, not JSON, or not a request of this protocol.
 */
export function parseOwnerRequest(line: string): OwnerRequest {
  if (Buffer.byteLength(line) > MAX_OWNER_REQUEST_BYTES)
    throw new CanonError(
      "BAD_ARGUMENT",
      `an owner request is at most ${MAX_OWNER_REQUEST_BYTES} bytes`,
    );
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new CanonError("BAD_ARGUMENT", "an owner request is one line of JSON");
  }
  const parsed = OwnerRequest.safeParse(value);
  if (!parsed.success)
    throw new CanonError(
      "BAD_ARGUMENT",
      `not an owner request of protocol ${OWNER_PROTOCOL}: ${parsed.error.issues[0]?.message ?? "malformed"}`,
    );
  return parsed.data;
}
