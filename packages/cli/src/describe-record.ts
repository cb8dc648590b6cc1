import type { RecordSummary } from "@canon/store";
import { shortDid } from "./output.js";

/**
 * One line for a person: `release editorial-style@3 bafk… by did:key:z6Mk…abcd`.
 * The author's did is shortened (it is not the point here; `--json` has it
 * whole); a correction's text, a peer's words, is cut to its first line with
 * control characters shown as `?`.
 */
export function describeRecord(summary: RecordSummary): string {
  const by = `by ${shortDid(summary.author)}`;
  switch (summary.type) {
    case "canon/release":
      return `release ${summary.standard}@${summary.version} ${summary.contentCid} ${by}`;
    case "canon/correction":
      return `correction to ${summary.standard} ${summary.cid} ${by}: ${excerpt(summary.text ?? "")}`;
    case "canon/withdrawal":
      return `withdrawal of correction ${summary.correction} to ${summary.standard} ${by}`;
    case "canon/membership":
      return `membership ${summary.member} → ${summary.role} ${by}`;
    case "canon/space-genesis":
      return `space genesis ${summary.cid} ${by}`;
    default:
      return `${summary.type.replace("canon/", "")} ${summary.cid} ${by}`;
  }
}

/** The first line of a text, at most 80 characters, control characters shown as `?`. */
function excerpt(text: string): string {
  const line = (text.split("\n", 1)[0] ?? "").replace(/\p{Cc}/gu, "?");
  return line.length > 80 || text.includes("\n") ? `${line.slice(0, 79)}…` : line;
}
