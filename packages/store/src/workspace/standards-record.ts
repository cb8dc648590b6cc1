import { StandardName } from "@canon/core";
import { z } from "zod";

/**
 * canon.json's and canon.lock's `standards`: an object keyed by standard
 * names. A `__proto__` key, which zod's record would drop without a word
 * (and `JSON.parse` keeps as an own key), is refused like any other key that
 * is not a standard's name.
 */
export function standardsRecord<T extends z.ZodType>(entry: T) {
  return z
    .unknown()
    .superRefine((input, context) => {
      if (typeof input === "object" && input !== null && Object.hasOwn(input, "__proto__"))
        context.addIssue({
          code: "custom",
          message: "__proto__ is not a standard's name",
          path: ["__proto__"],
        });
    })
    .pipe(z.record(StandardName, entry));
}

/**
 * What canon.json or canon.lock holds for a standard, or undefined when it
 * names none: an own property only, so a standard named like a member of
 * `Object.prototype` (`constructor`, `toString`, both valid names) is looked up
 * like any other.
 */
export function standardEntry<T>(
  standards: Readonly<Record<string, T>>,
  name: string,
): T | undefined {
  return Object.hasOwn(standards, name) ? standards[name] : undefined;
}
