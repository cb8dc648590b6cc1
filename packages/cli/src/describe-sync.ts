import { describeRecord, type SyncReport } from "@canon/store";

/** A sync report for a person: what arrived, what left. */
export function describeReport(report: SyncReport): string {
  const lines = [
    `Synced with ${report.relay}: ${report.received.length} received, ${report.sent.length} sent`,
  ];
  for (const record of report.received) lines.push(`  ← ${describeRecord(record)}`);
  for (const record of report.sent) lines.push(`  → ${describeRecord(record)}`);
  return lines.join("\n");
}
