import type { GlobalOptions } from "../output.js";

/** `canon unretire <standard>`: bring a retired standard back (maintainers). */
export async function run(options: GlobalOptions, standard: string): Promise<void> {
  const { run: retire } = await import("./retire.js");
  await retire({ ...options, unretire: true }, standard);
}
