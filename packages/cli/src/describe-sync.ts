import type { SyncReport } from "@canon/store";
import { describeRecord } from "./describe-record.js";

/** A sync report for a person: what arrived, what left. */
export function describeReport(report: SyncReport): string {
  const lines = [
    `Synced with ${report.relay}: ${report.received.length} received, ${report.sent.length} sent`,
  ];
  for (const record of report.received) lines.push(`  ← ${describeRecord(record)}`);
  for (const record of report.sent) lines.push(`  → ${describeRecord(record)}`);
  lines.push(...describeMissing(report.missing));
  return lines.join("\n");
}

/**
 * Routed documents that never arrived, one line each. Only the document id
 * (checked to be one) is shown: the routing entry's name is a peer's text.
 */
export function describeMissing(missing: SyncReport["missing"]): string[] {
  if (missing.length === 0) return [];
  return [
    `${missing.length} document(s) the space routes to did not arrive (a peer may have named documents that exist nowhere; reads go on without them):`,
    ...missing.slice(0, 20).map(({ documentId }) => `  ? ${documentId}`),
    ...(missing.length > 20 ? [`  … and ${missing.length - 20} more (--json lists them)`] : []),
  ];
}
