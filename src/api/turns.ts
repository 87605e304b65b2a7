/**
 * Per-connection order of requests (HTTP/1.1 pipelining): requests sent on
 * one connection take effect, and see each other's effects, in the order
 * they were sent — a client told "created" is never told "not found" for
 * the same entry by a later request of its connection.
 *
 * Each request takes its turn synchronously when it arrives (server.ts).
 * By default a request starts only once the previous one of its connection
 * has completed. A handler marked `selfOrdered` reads its body first and
 * then calls `turn.wait('mutation')`: it only waits until the previous
 * request was *submitted* to the update queue (FIFO), so pipelined
 * mutations are still committed together (group commit); it then calls
 * `turn.submitted()` right after its synchronous submit.
 */
import type { Handler, RequestTurn } from './router.js';

interface Marks {
  readonly submitted: Promise<void>;
  readonly completed: Promise<void>;
}

const done: Promise<void> = Promise.resolve();

/** The turns of every connection (keyed by socket; entries go with it). */
export class ConnectionTurns {
  readonly #last = new WeakMap<object, Marks>();

  /** Must be called synchronously when the request arrives. */
  take(connection: object): RequestTurn {
    const prev = this.#last.get(connection);
    let submit: () => void = () => {};
    let complete: () => void = () => {};
    const marks: Marks = {
      submitted: new Promise<void>((r) => (submit = r)),
      completed: new Promise<void>((r) => (complete = r)),
    };
    this.#last.set(connection, marks);
    return {
      wait: (kind) => (prev === undefined ? done : kind === 'mutation' ? prev.submitted : prev.completed),
      submitted: () => submit(),
      completed: () => {
        submit();
        complete();
      },
    };
  }
}

const selfOrderedHandlers = new WeakSet<Handler>();

/** Marks `h` as waiting for its own turn (see above); returns it. */
export function selfOrdered(h: Handler): Handler {
  selfOrderedHandlers.add(h);
  return h;
}

export function isSelfOrdered(h: Handler): boolean {
  return selfOrderedHandlers.has(h);
}

/** A wrapper of `inner` (same turn discipline as `inner`). */
export function wrapHandler(inner: Handler, outer: Handler): Handler {
  return isSelfOrdered(inner) ? selfOrdered(outer) : outer;
}
