import { history } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print, shortDid, syncNote, terminalSafe } from "../output.js";

/** `canon log <standard>`: versions with CIDs, authors, times and messages, newest first. */
export async function run(options: GlobalOptions, standard: string): Promise<void> {
  const log = await history(home(), { standard, space: options.space });
  print(options, log, () =>
    [
      ...(log.forked
        ? [
            `${standard} is forked: ${log.releases.filter((r) => r.head).length} heads. Publish a new version to merge them.`,
            "",
          ]
        : []),
      ...log.releases.map((r) =>
        [
          `${r.standard}@${r.version}${r.head ? (log.forked ? "  (head)" : "  (latest)") : ""}`,
          `  content  ${r.cid}`,
          `  release  ${r.release}`,
          `  author   ${shortDid(r.author)}`,
          `  date     ${r.createdAt}`,
          ...(r.message ? [`  message  ${terminalSafe(r.message)}`] : []),
          ...r.incorporates.map((cid) => `  closes   correction ${cid}`),
        ].join("\n"),
      ),
      "",
      syncNote(log.lastSync),
    ].join("\n"),
  );
}
