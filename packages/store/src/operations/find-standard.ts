import { CanonError, type SpaceState, type StandardState } from "@canon/core";

/**
 * A standard of the space by name.
 * @throws CanonError `UNKNOWN_STANDARD` naming the standards there are.
 */
export function findStandard(state: SpaceState, name: string): StandardState {
  const standard = state.standards.get(name);
  if (standard !== undefined) return standard;
  const known = [...state.standards.keys()];
  throw new CanonError(
    "UNKNOWN_STANDARD",
    `no standard "${name}" in this space (${known.length ? `known: ${known.join(", ")}` : "none published yet"})`,
  );
}
