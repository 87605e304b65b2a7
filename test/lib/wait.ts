/**
 * Waiting in tests. Tests wait for conditions (waitFor), never for a
 * guessed time: sleep() is only for pacing a poll or a load generator.
 */

/** Resolves after `ms` (pacing only: to wait for something, use waitFor). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `fn` every `stepMs` until it returns a truthy value or `timeoutMs`
 * has passed, and returns the last value: the caller asserts on it, so a
 * timeout fails with the caller's message and the value seen.
 */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs: number, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(stepMs);
  }
}
