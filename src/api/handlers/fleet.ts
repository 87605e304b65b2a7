/**
 * `GET /v1/fleet` (docs/fleet.md): the fleet's status as the fleet module
 * reports it, `{"enabled": false}` on a host without one; and the Couic
 * answers the static `fleet` segment would otherwise take from the entry
 * routes (`/v1/fleet` as a policy is 400 invalid policy, as in Couic).
 */
import { json } from '../reply.js';
import type { Handler } from '../router.js';
import type { HandlerTable } from '../routes.js';
import { wrapHandler } from '../turns.js';
import type { EntryHandlers } from './entries.js';

/** What reports the fleet's status (src/fleet/fleet.ts Fleet). */
export interface FleetStatusSource {
  status(): object;
}

export function fleetHandlers(entryHandlers: EntryHandlers, source?: FleetStatusSource): HandlerTable {
  const asPolicy = (h: Handler): Handler => wrapHandler(h, (ctx) => h({ ...ctx, params: { ...ctx.params, policy: 'fleet' } }));
  return {
    'fleet.status': async () => json(200, source === undefined ? { enabled: false } : source.status()),
    'fleet.compat.create': asPolicy(entryHandlers.create),
    'fleet.compat.peer': asPolicy(entryHandlers.peer),
    'fleet.compat.get': asPolicy(entryHandlers.get),
    'fleet.compat.delete': asPolicy(entryHandlers.delete),
  };
}
