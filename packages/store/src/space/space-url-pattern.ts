/**
 * The shape of a space URL, `canon:<documentId>/<genesisCid>`, with no
 * dependencies, so the agent's start-up path can locate a space's read index
 * without loading a CID library. {@link parseSpaceUrl} validates fully.
 */
export const SPACE_URL_PATTERN = /^canon:([1-9A-HJ-NP-Za-km-z]{20,64})\/([A-Za-z0-9]{8,200})$/;
