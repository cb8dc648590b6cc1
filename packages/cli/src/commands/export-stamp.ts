import { exportStamp, writeFileAtomic } from "@canon/store";
import { home, signer } from "../context.js";
import type { GlobalOptions } from "../output.js";

/** `canon export-stamp <cid> [--out <file>]`: a stamp from the feeds as an in-toto DSSE envelope. */
export async function run(options: GlobalOptions & { out?: string }, cid: string): Promise<void> {
  const envelope = await exportStamp(home(), await signer(options), { cid, space: options.space });
  const text = `${JSON.stringify(envelope, null, 2)}\n`;
  if (options.out === undefined) process.stdout.write(text);
  else await writeFileAtomic(options.out, text);
}
