import { z } from "zod";
import { Checkpoint } from "./checkpoint.js";
import { CheckpointPage } from "./checkpoint-page.js";
import { Correction } from "./correction.js";
import { SpaceGenesis } from "./genesis.js";
import { MembershipChange } from "./membership.js";
import { Provenance } from "./provenance.js";
import { Release } from "./release.js";
import { Retirement } from "./retirement.js";
import { SpaceSettings } from "./space-settings.js";
import { Withdrawal } from "./withdrawal.js";

/** Any record Canon signs, told apart by `type`. */
export const CanonRecord = z.discriminatedUnion("type", [
  SpaceGenesis,
  MembershipChange,
  Release,
  Correction,
  Provenance,
  Withdrawal,
  Checkpoint,
  CheckpointPage,
  SpaceSettings,
  Retirement,
]);
/** Any record Canon signs. */
export type CanonRecord = z.infer<typeof CanonRecord>;
/** The `type` tag of a record. */
export type RecordType = CanonRecord["type"];
