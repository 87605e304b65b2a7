/**
 * The route table of Couic v1 (spec §1.1): method, path template, RBAC
 * scope. Every route is registered from the start so 404/405/401 behave
 * like Couic; a route without a handler answers 501 `not_implemented`.
 * Giving a route its real handler is one line in `handlers` below (or a
 * `handlers` entry passed to startApiServer).
 */
import { AppError } from '../errors.js';
import type { Handler, Method, Route, Scope } from './router.js';

export const ROUTES = {
  'entries.list': ['GET', '/v1/{policy}', 'policy', 'list'],
  'entries.create': ['POST', '/v1/{policy}', 'policy', 'create'],
  'entries.peer': ['POST', '/v1/{policy}/peer', 'policy', 'peer'],
  'entries.get': ['GET', '/v1/{policy}/{ip}/{prefix}', 'policy', 'get'],
  'entries.delete': ['DELETE', '/v1/{policy}/{ip}/{prefix}', 'policy', 'delete'],
  'sets.list': ['GET', '/v1/sets/{policy}', 'sets', 'list'],
  'sets.create': ['POST', '/v1/sets/{policy}', 'sets', 'create'],
  'sets.get': ['GET', '/v1/sets/{policy}/{name}', 'sets', 'get'],
  'sets.update': ['PUT', '/v1/sets/{policy}/{name}', 'sets', 'update'],
  'sets.delete': ['DELETE', '/v1/sets/{policy}/{name}', 'sets', 'delete'],
  // Couic guards reload with Sets:Create (spec §1.1).
  'sets.reload': ['POST', '/v1/sets/reload', 'sets', 'create'],
  'stats.global': ['GET', '/v1/stats', 'stats', 'list'],
  'stats.tags': ['GET', '/v1/stats/tags/{policy}', 'stats', 'get'],
  metrics: ['GET', '/v1/metrics', 'stats', 'list'],
  'clients.list': ['GET', '/v1/client', 'clients', 'list'],
  'clients.create': ['POST', '/v1/client', 'clients', 'create'],
  'clients.get': ['GET', '/v1/client/{name}', 'clients', 'get'],
  'clients.delete': ['DELETE', '/v1/client/{name}', 'clients', 'delete'],
  // Ours (docs/api-extensions.md): bans held by owners. The static `bans`
  // segment shadows {policy} = "bans"; the compat routes keep Couic's
  // answers (400 invalid policy) where the new routes leave room.
  'bans.compat.list': ['GET', '/v1/bans', 'policy', 'list'],
  'bans.compat.create': ['POST', '/v1/bans', 'policy', 'create'],
  'bans.compat.peer': ['POST', '/v1/bans/peer', 'policy', 'peer'],
  'bans.list': ['GET', '/v1/bans/{owner}', 'policy', 'list'],
  'bans.create': ['POST', '/v1/bans/{owner}', 'policy', 'create'],
  'bans.flush': ['DELETE', '/v1/bans/{owner}', 'policy', 'delete'],
  'bans.compat.get': ['GET', '/v1/bans/{owner}/{ip}/{prefix}', 'policy', 'get'],
  'bans.delete': ['DELETE', '/v1/bans/{owner}/{ip}/{prefix}', 'policy', 'delete'],
  // Ours: the fleet's status (docs/fleet.md). The static `fleet` segment
  // shadows {policy} = "fleet" as `bans` does; the compat routes keep
  // Couic's 400 (invalid policy) on the entry paths.
  'fleet.status': ['GET', '/v1/fleet', 'stats', 'list'],
  'fleet.compat.create': ['POST', '/v1/fleet', 'policy', 'create'],
  'fleet.compat.peer': ['POST', '/v1/fleet/peer', 'policy', 'peer'],
  'fleet.compat.get': ['GET', '/v1/fleet/{ip}/{prefix}', 'policy', 'get'],
  'fleet.compat.delete': ['DELETE', '/v1/fleet/{ip}/{prefix}', 'policy', 'delete'],
  // Ours: the status of Couic's peering and reporting (docs/peering.md),
  // with compat routes as for `fleet`.
  'peering.status': ['GET', '/v1/peering', 'stats', 'list'],
  'peering.compat.create': ['POST', '/v1/peering', 'policy', 'create'],
  'peering.compat.peer': ['POST', '/v1/peering/peer', 'policy', 'peer'],
  'peering.compat.get': ['GET', '/v1/peering/{ip}/{prefix}', 'policy', 'get'],
  'peering.compat.delete': ['DELETE', '/v1/peering/{ip}/{prefix}', 'policy', 'delete'],
} as const satisfies Record<string, readonly [Method, string, Scope['resource'], Scope['verb']]>;

export type RouteId = keyof typeof ROUTES;
export type HandlerTable = Partial<Record<RouteId, Handler>>;

export const notImplemented: Handler = async () => {
  throw new AppError('not_implemented', 'Not implemented');
};

/** Builds the Route list; ids missing from `handlers` answer 501. */
export function buildRoutes(handlers: HandlerTable): Route[] {
  return (Object.keys(ROUTES) as RouteId[]).map((id) => {
    const [method, path, resource, verb] = ROUTES[id];
    return { method, path, scope: { resource, verb }, handler: handlers[id] ?? notImplemented };
  });
}
