import { CanonError, type SpaceState, type StandardState } from "@canon/core";

/**
 * A standard of the space by name.
 * @throws CanonError `UNKNOWN_STANDARD` naming the standards there are.
 */
export function findStandard(state: SpaceState, name: string): StandardState {
  const standard = state.standards.get(name);
  if (standard !== undefined) return standard;
  const known = [...state.standards.keys()];
  const near = known.filter((candidate) => editDistance(candidate, name) <= 2);
  const hint =
    near.length > 0
      ? `did you mean ${near.slice(0, 3).join(" or ")}? (\`canon ls\` lists them)`
      : known.length > 0
        ? `${known.length} standard(s) here: \`canon ls\` lists them`
        : "none published yet";
  throw new CanonError("UNKNOWN_STANDARD", `no standard "${name}" in this space; ${hint}`);
}

/** The Levenshtein distance between two short strings (names, for suggestions). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return previous[b.length] as number;
}
