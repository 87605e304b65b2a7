/**
 * The RBAC matrix of the Couic v1 contract (spec §1.1, §4): every route and
 * the groups allowed on it. A denied group gets 401 unauthorized. Checked by
 * test/api/routing.test.ts (the API) and test/security/access.test.ts (a
 * daemon run without privilege).
 */
export type RbacGroup = 'admin' | 'clientrw' | 'clientro' | 'monitoring' | 'peering';
// [method, path, body, groups allowed]
export const RBAC_ROUTES: ReadonlyArray<readonly [string, string, unknown, readonly RbacGroup[]]> = [
  ['GET', '/v1/drop', undefined, ['admin', 'clientrw', 'clientro']],
  ['GET', '/v1/ignore', undefined, ['admin', 'clientrw', 'clientro']],
  ['POST', '/v1/drop', '{', ['admin', 'clientrw']],
  ['POST', '/v1/ignore', '{', ['admin', 'clientrw']],
  ['GET', '/v1/drop/10.99.0.0/16', undefined, ['admin', 'clientrw', 'clientro']],
  ['DELETE', '/v1/drop/10.99.0.0/16', undefined, ['admin', 'clientrw']],
  ['DELETE', '/v1/ignore/10.99.0.0/16', undefined, ['admin', 'clientrw']],
  ['POST', '/v1/drop/peer', [], ['admin', 'clientrw', 'peering']],
  ['POST', '/v1/ignore/peer', [], ['admin', 'clientrw', 'peering']],
  ['GET', '/v1/sets/drop', undefined, ['admin', 'clientrw', 'clientro']],
  ['POST', '/v1/sets/drop', '{', ['admin', 'clientrw']],
  ['GET', '/v1/sets/drop/nosuchset', undefined, ['admin', 'clientrw', 'clientro']],
  ['PUT', '/v1/sets/drop/nosuchset', '{', ['admin', 'clientrw']],
  ['DELETE', '/v1/sets/drop/nosuchset', undefined, ['admin', 'clientrw']],
  ['POST', '/v1/sets/reload', undefined, ['admin', 'clientrw']],
  ['GET', '/v1/stats', undefined, ['admin', 'monitoring']],
  ['GET', '/v1/stats/tags/drop', undefined, ['admin', 'monitoring']],
  ['GET', '/v1/stats/tags/ignore', undefined, ['admin', 'monitoring']],
  ['GET', '/v1/metrics', undefined, ['admin', 'monitoring']],
  ['GET', '/v1/metrics?format=prometheus', undefined, ['admin', 'monitoring']],
  ['GET', '/v1/client', undefined, ['admin']],
  ['POST', '/v1/client', '{', ['admin']],
  ['GET', '/v1/client/couicctl', undefined, ['admin']],
  ['DELETE', '/v1/client/nosuchclient', undefined, ['admin']],
];
export const RBAC_GROUPS: readonly RbacGroup[] = ['admin', 'clientrw', 'clientro', 'monitoring', 'peering'];
