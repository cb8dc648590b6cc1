import { readFile } from "node:fs/promises";
import { CanonError } from "@canon/core";

/**
 * Reads and parses one of the home's JSON files, or returns `undefined` when
 * it does not exist (JSON itself never parses to `undefined`), so each caller
 * decides what a missing file means. The result is unchecked: the caller
 * parses it with its schema.
 * @param advice What to do about a file that is not JSON, appended to the
 * message (the config can be removed; a key file should not be).
 * @throws CanonError `BAD_CONFIG` naming the file when it cannot be read or is not valid JSON.
 */
export async function readJsonFile(path: string, advice?: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CanonError("BAD_CONFIG", `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CanonError(
      "BAD_CONFIG",
      `${path} is not valid JSON${advice === undefined ? "" : `; ${advice}`}`,
    );
  }
}
