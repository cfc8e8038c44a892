import { fileURLToPath } from 'node:url';

/** The checkout root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = `${ROOT}bin/toolcell.js`;
export const PROFILES = `${ROOT}profiles`;
