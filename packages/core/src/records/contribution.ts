import type { Correction } from "./correction.js";
import type { Provenance } from "./provenance.js";
import type { Withdrawal } from "./withdrawal.js";

/**
 * A record contributors and maintainers may write: a correction, a
 * withdrawal of one, or a provenance record (a stamp). Each author's
 * contributions form one chain through `previous`, which a removal pins as
 * `recordHeads`.
 */
export type Contribution = Correction | Provenance | Withdrawal;
