/** A repeatable pseudo-random sequence in [0, 1) (a linear congruential generator): fuzz tests that fail the same way twice. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}
