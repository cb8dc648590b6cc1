import type { Provenance } from "../records/provenance.js";
import type { StampProblem } from "./stamp-problem.js";

/**
 * The record as JSON in the stamp file, which people read, is the signed
 * record: otherwise a crafted stamp could show a reader of the file a context
 * other than the one that was verified.
 */
export function checkReadableCopy(readable: unknown, record: Provenance): StampProblem | undefined {
  if (sameJson(readable, record)) return undefined;
  return {
    code: "readable-mismatch",
    message: "the stamp's readable record differs from the signed one in its envelope",
  };
}

/**
 * Deep equality of JSON values (key order aside), strict as Node's
 * `isDeepStrictEqual` is on them; core cannot import `node:util`.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every(
    (key) =>
      Object.hasOwn(b, key) &&
      sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}
