// Human-readable sizes and rates for the popup and the options page.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/**
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function bytes(n) {
  let v = Number(n) || 0;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v >= 100 || u === 0 ? Math.round(v) : v.toFixed(1)} ${UNITS[u]}`;
}

/** @param {number} n bytes per second */
export function rate(n) {
  return `${bytes(n)}/s`;
}
