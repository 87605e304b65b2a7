/**
 * Types shared by the helper codec (protocol.ts), the helper process client
 * (helper.ts) and the daemon. The byte layouts behind them are in
 * docs/helper-protocol.md and src/helper/couic_proto.h.
 */

import type { Family, Policy } from '../domain/types.js';
import type { ParseReason, XdpAction } from './abi.js';


export type OpKind = 'add' | 'upsert' | 'delete';

/** One map operation sent to the helper. */
export interface MapOp {
  readonly kind: OpKind;
  readonly policy: Policy;
  readonly family: Family;
  /** 0..32 (v4) or 0..128 (v6); host bits must be zero. */
  readonly prefixLen: number;
  /** Network-order address bytes: 4 bytes for v4, 16 for v6. */
  readonly addr: Uint8Array;
  /** Numeric tag id (u32); 0 is the overflow slot, allocate from 1. */
  readonly tagId: number;
}

/** One entry as stored in the kernel (DUMP, REPLACE). */
export interface KernelEntry {
  readonly policy: Policy;
  readonly family: Family;
  readonly prefixLen: number;
  readonly addr: Uint8Array;
  readonly tagId: number;
}

export type XdpMode = 'auto' | 'native' | 'generic';

export interface Capacities {
  /** Per family: sizes both the v4 and the v6 exact-match map. */
  readonly dropExact: number;
  readonly dropCidr: number;
  readonly ignoreExact: number;
  readonly ignoreCidr: number;
}


export interface HelperFeatures {
  readonly batchHash: boolean;
  readonly batchLpm: boolean;
  readonly xdpLink: boolean;
  readonly pinned: boolean;
  readonly reused: boolean;
  readonly lpmOnly: boolean;
}

export interface AttachedInterface {
  readonly ifindex: number;
  readonly name: string;
  readonly mode: 'native' | 'generic';
}

export interface Hello {
  readonly protoVersion: number;
  readonly features: HelperFeatures;
  readonly ncpus: number;
  readonly maxTags: number;
  /** Indexed like MAP_SLOTS. */
  readonly capacity: readonly number[];
  readonly count: readonly number[];
  readonly ifaces: readonly AttachedInterface[];
}

export interface PktStats {
  readonly packets: bigint;
  readonly bytes: bigint;
}



export interface TagStats extends PktStats {
  readonly tagId: number;
  readonly policy: Policy;
}

export interface HelperStats {
  readonly xdp: Readonly<Record<XdpAction, PktStats>>;
  readonly parse: Readonly<Record<ParseReason, bigint>>;
  /** Entries per map, indexed like MAP_SLOTS. */
  readonly count: readonly number[];
  /** Only tag slots that saw traffic. */
  readonly tags: readonly TagStats[];
}

export interface TestRunResult {
  /** XDP action number (0 ABORTED, 1 DROP, 2 PASS, 3 TX, 4 REDIRECT). */
  readonly retval: number;
  readonly durationNs: number;
}

export interface HelperOptions {
  /** Path of the couic-helper binary. */
  readonly helperPath: string;
  readonly ifaces?: readonly string[];
  readonly mode?: XdpMode;
  readonly pinDir?: string;
  readonly capacities?: Partial<Capacities>;
  readonly maxTags?: number;
  readonly lpmOnly?: boolean;
  /** Per-request timeout. @default 10000 */
  readonly requestTimeoutMs?: number;
  /** Time allowed for load + attach + HELLO. @default 20000 */
  readonly startTimeoutMs?: number;
  /** Extra argv prefix, e.g. ['ip', 'netns', 'exec', 'ns1'] for tests. */
  readonly wrapper?: readonly string[];
  /** Receives each stderr line of the helper (logs). */
  readonly onLog?: (line: string) => void;
}
