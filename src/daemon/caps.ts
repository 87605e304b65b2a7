/**
 * Capability check at startup: the helper needs CAP_BPF, CAP_PERFMON and
 * CAP_NET_ADMIN (or the older CAP_SYS_ADMIN in place of the first two) in the
 * effective set; it inherits them from the daemon. CAP_PERFMON because the
 * verifier allows the program's byte counter (data_end - data, a pointer
 * difference) only with it.
 */
import { readFileSync } from 'node:fs';

export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

/** CapEff of /proc/self/status (or of `statusText`) as a bigint mask. */
export function effectiveCaps(statusText?: string): bigint {
  const text = statusText ?? readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  if (m === null || m[1] === undefined) throw new Error('CapEff not found in /proc/self/status');
  return BigInt(`0x${m[1]}`);
}

export function hasCap(mask: bigint, cap: number): boolean {
  return ((mask >> BigInt(cap)) & 1n) === 1n;
}

/** Names of what is missing ([] = fine). */
export function missingCaps(mask: bigint): string[] {
  const missing: string[] = [];
  const sysAdmin = hasCap(mask, CAP_SYS_ADMIN);
  if (!hasCap(mask, CAP_BPF) && !sysAdmin) missing.push('CAP_BPF (or CAP_SYS_ADMIN)');
  if (!hasCap(mask, CAP_PERFMON) && !sysAdmin) missing.push('CAP_PERFMON (or CAP_SYS_ADMIN)');
  if (!hasCap(mask, CAP_NET_ADMIN)) missing.push('CAP_NET_ADMIN');
  return missing;
}
