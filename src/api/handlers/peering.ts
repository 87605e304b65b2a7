/**
 * `GET /v1/peering` (docs/api-extensions.md): the status of Couic's peering
 * and reporting on this host as their modules report it (`{"enabled":
 * false}` parts where they are off); and the Couic answers the static
 * `peering` segment would otherwise take from the entry routes
 * (`/v1/peering` as a policy is 400 invalid policy, as in Couic).
 */
import { json } from '../reply.js';
import type { Handler } from '../router.js';
import type { HandlerTable } from '../routes.js';
import type { EntryHandlers } from './entries.js';

/** What reports a status (src/peering Peering, src/reporting Reporter). */
export interface PeeringStatusSource {
  status(): object;
}

export interface PeeringSources {
  readonly peering?: PeeringStatusSource;
  readonly reporting?: PeeringStatusSource;
}

export function peeringHandlers(entryHandlers: EntryHandlers, sources: PeeringSources = {}): HandlerTable {
  const asPolicy = (h: Handler): Handler => (ctx) => h({ ...ctx, params: { ...ctx.params, policy: 'peering' } });
  return {
    'peering.status': async () => json(200, {
      ...(sources.peering?.status() ?? { enabled: false, peers: [] }),
      reporting: sources.reporting?.status() ?? { enabled: false },
    }),
    'peering.compat.create': asPolicy(entryHandlers.create),
    'peering.compat.peer': asPolicy(entryHandlers.peer),
    'peering.compat.get': asPolicy(entryHandlers.get),
    'peering.compat.delete': asPolicy(entryHandlers.delete),
  };
}
