/**
 * Method + path-template routing with Couic's (axum/matchit) semantics:
 * a static segment always wins over a `{param}` at the same depth and
 * there is no backtracking (`/v1/stats/x/y` is 404, never a `{policy}`);
 * an unknown path is 404 and a known path with another method is 405 with
 * an `Allow` header; both are decided before authentication. HEAD is
 * served wherever GET is.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Client } from '../core/clients.js';
import type { Actor } from '../domain/types.js';
import type { Reply } from './reply.js';

export const RESOURCES = ['policy', 'sets', 'stats', 'clients'] as const;
export type Resource = (typeof RESOURCES)[number];
export const VERBS = ['list', 'get', 'create', 'update', 'delete', 'peer'] as const;
export type Verb = (typeof VERBS)[number];

export interface Scope {
  readonly resource: Resource;
  readonly verb: Verb;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A request's place in its connection's order (turns.ts). */
export interface RequestTurn {
  /** 'mutation': until the previous request of the connection was submitted to the update queue; 'read': until it completed. */
  wait(kind: 'mutation' | 'read'): Promise<void>;
  /** This request's mutation is in the update queue (idempotent). */
  submitted(): void;
  /** This request is done (idempotent; also marks it submitted). */
  completed(): void;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  /** Decoded path parameters by name. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The raw query string (without `?`), '' when absent. */
  readonly rawQuery: string;
  readonly client: Client;
  readonly actor: Actor;
  readonly logger: Logger;
  /** Request body size limit in bytes. */
  readonly bodyLimit: number;
  /** Used by `selfOrdered` handlers only (turns.ts); the server orders the others. */
  readonly turn: RequestTurn;
}

export type Handler = (ctx: RequestContext) => Promise<Reply>;

export interface Route {
  readonly method: Method;
  /** Template such as `/v1/{policy}/{ip}/{prefix}`. */
  readonly path: string;
  readonly scope: Scope;
  readonly handler: Handler;
}

interface Node {
  readonly statics: Map<string, Node>;
  param: { name: string; node: Node } | undefined;
  /** Registration order matters for the Allow header. */
  readonly methods: Map<Method, Route>;
}

const newNode = (): Node => ({ statics: new Map(), param: undefined, methods: new Map() });

export type Match =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'method_not_allowed'; readonly allow: string }
  | { readonly kind: 'bad_path' };

export class Router {
  private readonly root = newNode();

  constructor(routes: readonly Route[] = []) {
    for (const r of routes) this.add(r);
  }

  add(route: Route): void {
    let node = this.root;
    for (const seg of route.path.split('/').slice(1)) {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (m !== null) {
        const name = m[1] as string;
        if (node.param === undefined) node.param = { name, node: newNode() };
        else if (node.param.name !== name) throw new Error(`conflicting parameter names at ${route.path}`);
        node = node.param.node;
      } else {
        let next = node.statics.get(seg);
        if (next === undefined) {
          next = newNode();
          node.statics.set(seg, next);
        }
        node = next;
      }
    }
    if (node.methods.has(route.method)) throw new Error(`duplicate route ${route.method} ${route.path}`);
    node.methods.set(route.method, route);
  }

  /** `path` is the raw (still percent-encoded) path without the query. */
  match(method: string, path: string): Match {
    if (!path.startsWith('/')) return { kind: 'not_found' };
    let node = this.root;
    const params: Record<string, string> = {};
    // Segments cut in place (no split array per request); decoded only when escaped.
    for (let from = 1; from <= path.length; ) {
      let to = path.indexOf('/', from);
      if (to < 0) to = path.length;
      const seg = path.slice(from, to);
      from = to + 1;
      const next = node.statics.get(seg);
      if (next !== undefined) {
        node = next;
        continue;
      }
      if (node.param === undefined || seg === '') return { kind: 'not_found' };
      let value = seg;
      if (seg.includes('%')) {
        try {
          value = decodeURIComponent(seg);
        } catch {
          return { kind: 'bad_path' };
        }
      }
      params[node.param.name] = value;
      node = node.param.node;
    }
    if (node.methods.size === 0) return { kind: 'not_found' };
    const wanted = method === 'HEAD' ? 'GET' : method;
    const route = node.methods.get(wanted as Method);
    if (route !== undefined) return { kind: 'found', route, params };
    const allow: string[] = [];
    for (const m of node.methods.keys()) {
      allow.push(m);
      if (m === 'GET') allow.push('HEAD');
    }
    return { kind: 'method_not_allowed', allow: allow.join(',') };
  }
}
