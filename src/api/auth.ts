/**
 * Couic's hard-coded RBAC (spec §4). Any failure — no header, another
 * scheme, a bad or unknown token, or a known token lacking the scope — is
 * the same 401 envelope; there is no 403.
 */
import type { Client, ClientRegistry } from '../core/clients.js';
import type { Group } from '../domain/types.js';
import { AppError } from '../errors.js';
import type { Resource, Scope, Verb } from './router.js';

const ALL: readonly Verb[] = ['list', 'get', 'create', 'update', 'delete', 'peer'];

/** Group → resource → allowed verbs. */
export const RBAC: Readonly<Record<Group, Readonly<Partial<Record<Resource, readonly Verb[]>>>>> = {
  admin: { policy: ALL, sets: ALL, stats: ALL, clients: ALL },
  clientrw: { policy: ALL, sets: ALL },
  clientro: { policy: ['list', 'get'], sets: ['list', 'get'] },
  monitoring: { stats: ['list', 'get'] },
  peering: { policy: ['peer'] },
};

export function allowed(group: Group, scope: Scope): boolean {
  return RBAC[group][scope.resource]?.includes(scope.verb) ?? false;
}

export function unauthorized(): AppError {
  return new AppError('unauthorized', 'Unauthorized');
}

/** Returns the client or throws the 401 AppError. */
export function authorize(clients: ClientRegistry, header: string | undefined, scope: Scope): Client {
  const client = clients.authenticate(header);
  if (client === undefined || !allowed(client.group, scope)) throw unauthorized();
  return client;
}
