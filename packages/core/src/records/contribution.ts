import type { Checkpoint } from "./checkpoint.js";
import type { CheckpointPage } from "./checkpoint-page.js";
import type { Correction } from "./correction.js";
import type { Provenance } from "./provenance.js";
import type { Release } from "./release.js";
import type { Retirement } from "./retirement.js";
import type { SpaceSettings } from "./space-settings.js";
import type { Withdrawal } from "./withdrawal.js";

/**
 * A record contributors and maintainers may write: a correction, a
 * withdrawal of one, or a provenance record (a stamp). Each author's
 * contributions form one chain through `previous`, which a removal pins as
 * `recordHeads`.
 */
export type Contribution = Correction | Provenance | Withdrawal;

/**
 * A record written at a point of the membership chain (it names
 * `membership` heads): a release, a contribution, a checkpoint, a space's
 * settings or a retirement. The fold judges its author's role at that point.
 */
export type Positioned =
  | Release
  | Contribution
  | Checkpoint
  | CheckpointPage
  | SpaceSettings
  | Retirement;
