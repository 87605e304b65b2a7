/**
 * Frame builders for data-path tests and the bench: Ethernet with 0, 1 or 2
 * (or more, for negative tests) VLAN tags, IPv4/UDP, IPv6/UDP, ARP, any
 * ethertype, truncation. Multi-byte fields are big-endian (network order);
 * IPv4 header checksums are correct, UDP checksums too (v4 and v6).
 */

export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
export const IPV4_HLEN = 20;
export const IPV6_HLEN = 40;
export const UDP_HLEN = 8;
export const ARP_LEN = 28;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
/** An ethertype the data path knows nothing about (IEEE local experimental 1). */
export const ETH_P_LOCAL_EXP = 0x88b5;

export const IPPROTO_UDP = 17;

export interface VlanTag {
  /** Tag protocol identifier: 0x8100 (802.1Q) or 0x88A8 (802.1ad). */
  readonly tpid: number;
  readonly vid: number;
  readonly pcp?: number;
}

export interface EthOptions {
  readonly dst?: Uint8Array | string;
  readonly src?: Uint8Array | string;
  /** Outer first. */
  readonly vlans?: readonly VlanTag[];
}

export interface UdpOptions extends EthOptions {
  readonly src4?: string;
  readonly dst4?: string;
  readonly src6?: string;
  readonly dst6?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** Payload bytes, or a payload length (filled with 0x61 'a'). @default 18 */
  readonly payload?: Uint8Array | number;
}

export interface Ipv4Options extends UdpOptions {
  /** Version nibble. @default 4 */
  readonly version?: number;
  /** Header length in 32-bit words (options are zero-filled). @default 5 */
  readonly ihl?: number;
  readonly ttl?: number;
  readonly id?: number;
}

export interface Ipv6Options extends UdpOptions {
  /** Version nibble. @default 6 */
  readonly version?: number;
  readonly hopLimit?: number;
}

const DEFAULT_DST_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x02);
const DEFAULT_SRC_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);

// ------------------------------------------------------------------
// Addresses
// ------------------------------------------------------------------

/** Dotted quad → 4 network-order bytes. Throws on malformed input. */
export function parseIPv4(s: string): Uint8Array {
  const parts = s.split('.');
  if (parts.length !== 4) throw new Error(`bad IPv4 address: ${s}`);
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`bad IPv4 address: ${s}`);
    out[i] = Number(p);
  });
  return out;
}

/** IPv6 text (with `::`, optional trailing dotted quad) → 16 network-order bytes. */
export function parseIPv6(s: string): Uint8Array {
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    const hex = (a: number, b: number): string => ((a << 8) | b).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hex(v4[0] ?? 0, v4[1] ?? 0)}:${hex(v4[2] ?? 0, v4[3] ?? 0)}`;
  }
  const bad = (): never => {
    throw new Error(`bad IPv6 address: ${s}`);
  };
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const words = (h: string | undefined): number[] =>
    h === undefined || h === ''
      ? []
      : h.split(':').map((w) => (/^[0-9a-fA-F]{1,4}$/.test(w) ? parseInt(w, 16) : bad()));
  const head = words(halves[0]);
  const rest = halves.length === 2 ? words(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) bad();
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** "a.b.c.d/len" or "v6/len" (a bare address means a host prefix) → family, bytes, prefix length. */
export function parseCidr(text: string): { family: 4 | 6; addr: Uint8Array; prefixLen: number } {
  const [a, l] = text.split('/');
  if (a === undefined) throw new Error(`bad CIDR: ${text}`);
  const family = a.includes(':') ? 6 : 4;
  const addr = family === 4 ? parseIPv4(a) : parseIPv6(a);
  const prefixLen = l === undefined ? addr.length * 8 : Number(l);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > addr.length * 8) {
    throw new Error(`bad CIDR: ${text}`);
  }
  return { family, addr, prefixLen };
}

/** "aa:bb:cc:dd:ee:ff" → 6 bytes. */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(':');
  if (parts.length !== 6) throw new Error(`bad MAC address: ${s}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatIPv4(b: Uint8Array): string {
  return Array.from(b.subarray(0, 4)).join('.');
}

function mac(m: Uint8Array | string | undefined, dflt: Uint8Array): Uint8Array {
  if (m === undefined) return dflt;
  return typeof m === 'string' ? parseMac(m) : m;
}

// ------------------------------------------------------------------
// Checksums
// ------------------------------------------------------------------

/** Internet checksum (RFC 1071) of `data`, starting from partial sum `init`. */
export function inetChecksum(data: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < data.length; i += 2) s += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  if (data.length & 1) s += (data[data.length - 1] ?? 0) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** The checksum an IPv4 header must carry (computed with its checksum field zero). */
export function ipv4HeaderChecksum(header: Uint8Array): number {
  const h = Uint8Array.from(header);
  h[10] = 0;
  h[11] = 0;
  return inetChecksum(h);
}

/** True when an IPv4 header's checksum verifies. */
export function ipv4ChecksumOk(header: Uint8Array): boolean {
  return inetChecksum(header) === 0;
}

function sum16(data: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < data.length; i += 2) s += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  if (data.length & 1) s += (data[data.length - 1] ?? 0) << 8;
  return s;
}

// ------------------------------------------------------------------
// Layers
// ------------------------------------------------------------------

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function payloadBytes(p: Uint8Array | number | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(18).fill(0x61);
  return typeof p === 'number' ? new Uint8Array(p).fill(0x61) : p;
}

/** Ethernet header (+ VLAN tags) + `payload`; the last ethertype is `ethertype`. */
export function ethernet(ethertype: number, payload: Uint8Array, opts: EthOptions = {}): Uint8Array {
  const vlans = opts.vlans ?? [];
  const hdr = new Uint8Array(ETH_HLEN + VLAN_HLEN * vlans.length);
  hdr.set(mac(opts.dst, DEFAULT_DST_MAC), 0);
  hdr.set(mac(opts.src, DEFAULT_SRC_MAC), 6);
  let off = 12;
  for (const v of vlans) {
    put16(hdr, off, v.tpid);
    put16(hdr, off + 2, (((v.pcp ?? 0) & 7) << 13) | (v.vid & 0x0fff));
    off += 4;
  }
  put16(hdr, off, ethertype);
  return concat(hdr, payload);
}

/** Shorthand for `n` VLAN tags, all with `tpid` (or alternating 802.1ad outer / 802.1Q inner with 'qinq'). */
export function vlanTags(n: number, tpid: number | 'qinq' = ETH_P_8021Q): VlanTag[] {
  return Array.from({ length: n }, (_, i) => ({
    tpid: tpid === 'qinq' ? (i === n - 1 ? ETH_P_8021Q : ETH_P_8021AD) : tpid,
    vid: 100 + i,
  }));
}

function udpHeader(srcPort: number, dstPort: number, payload: Uint8Array, pseudoSum: number): Uint8Array {
  const u = new Uint8Array(UDP_HLEN + payload.length);
  put16(u, 0, srcPort);
  put16(u, 2, dstPort);
  put16(u, 4, u.length);
  u.set(payload, UDP_HLEN);
  let c = inetChecksum(u, pseudoSum);
  if (c === 0) c = 0xffff;
  put16(u, 6, c);
  return u;
}

/** IPv4 header + UDP datagram (no Ethernet). */
export function ipv4Udp(opts: Ipv4Options = {}): Uint8Array {
  const src = parseIPv4(opts.src4 ?? '192.0.2.1');
  const dst = parseIPv4(opts.dst4 ?? '198.18.0.2');
  const ihl = opts.ihl ?? 5;
  const hlen = Math.max(ihl, 5) * 4; // always lay out at least a full header
  const payload = payloadBytes(opts.payload);
  const pseudo = new Uint8Array(12);
  pseudo.set(src, 0);
  pseudo.set(dst, 4);
  pseudo[9] = IPPROTO_UDP;
  put16(pseudo, 10, UDP_HLEN + payload.length);
  const udp = udpHeader(opts.srcPort ?? 40000, opts.dstPort ?? 9, payload, sum16(pseudo));
  const ip = new Uint8Array(hlen);
  ip[0] = (((opts.version ?? 4) & 0xf) << 4) | (ihl & 0xf);
  put16(ip, 2, hlen + udp.length);
  put16(ip, 4, opts.id ?? 1);
  put16(ip, 6, 0x4000); // DF
  ip[8] = opts.ttl ?? 64;
  ip[9] = IPPROTO_UDP;
  ip.set(src, 12);
  ip.set(dst, 16);
  put16(ip, 10, ipv4HeaderChecksum(ip));
  return concat(ip, udp);
}

/** IPv6 header + UDP datagram (no Ethernet). */
export function ipv6Udp(opts: Ipv6Options = {}): Uint8Array {
  const src = parseIPv6(opts.src6 ?? '2001:db8::1');
  const dst = parseIPv6(opts.dst6 ?? 'fd00::2');
  const payload = payloadBytes(opts.payload);
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  const ulen = UDP_HLEN + payload.length;
  pseudo[32] = (ulen >>> 24) & 0xff;
  pseudo[33] = (ulen >>> 16) & 0xff;
  put16(pseudo, 34, ulen & 0xffff);
  pseudo[39] = IPPROTO_UDP;
  const udp = udpHeader(opts.srcPort ?? 40000, opts.dstPort ?? 9, payload, sum16(pseudo));
  const ip = new Uint8Array(IPV6_HLEN);
  ip[0] = ((opts.version ?? 6) & 0xf) << 4;
  put16(ip, 4, udp.length);
  ip[6] = IPPROTO_UDP;
  ip[7] = opts.hopLimit ?? 64;
  ip.set(src, 8);
  ip.set(dst, 24);
  return concat(ip, udp);
}

/** Ethernet (+ VLANs) + IPv4 + UDP. Ethertype 0x0800 whatever `version` says. */
export function ipv4Frame(opts: Ipv4Options = {}): Uint8Array {
  return ethernet(ETH_P_IP, ipv4Udp(opts), opts);
}

/** Ethernet (+ VLANs) + IPv6 + UDP. Ethertype 0x86DD whatever `version` says. */
export function ipv6Frame(opts: Ipv6Options = {}): Uint8Array {
  return ethernet(ETH_P_IPV6, ipv6Udp(opts), opts);
}

export interface ArpOptions extends EthOptions {
  /** 1 request, 2 reply. @default 1 */
  readonly op?: number;
  readonly senderIp?: string;
  readonly targetIp?: string;
}

/** Ethernet (+ VLANs) + ARP for IPv4 over Ethernet. */
export function arpFrame(opts: ArpOptions = {}): Uint8Array {
  const a = new Uint8Array(ARP_LEN);
  put16(a, 0, 1); // htype Ethernet
  put16(a, 2, ETH_P_IP);
  a[4] = 6;
  a[5] = 4;
  put16(a, 6, opts.op ?? 1);
  a.set(mac(opts.src, DEFAULT_SRC_MAC), 8);
  a.set(parseIPv4(opts.senderIp ?? '192.0.2.1'), 14);
  // target MAC zero
  a.set(parseIPv4(opts.targetIp ?? '198.18.0.2'), 24);
  return ethernet(ETH_P_ARP, a, opts);
}

/** Ethernet (+ VLANs) with an arbitrary ethertype and `payloadLen` bytes of 0x5a. */
export function rawFrame(ethertype: number, payloadLen = 46, opts: EthOptions = {}): Uint8Array {
  return ethernet(ethertype, new Uint8Array(payloadLen).fill(0x5a), opts);
}

/** The first `n` bytes of `frame` (a copy). */
export function truncate(frame: Uint8Array, n: number): Uint8Array {
  if (n < 0 || n > frame.length) throw new RangeError(`truncate: ${n} not in 0..${frame.length}`);
  return frame.slice(0, n);
}

// ------------------------------------------------------------------
// Lengths and offsets
// ------------------------------------------------------------------

/** Offset of the L3 header in a frame with `nVlans` tags. */
export function l3Offset(nVlans = 0): number {
  return ETH_HLEN + VLAN_HLEN * nVlans;
}

/** Frame length of ipv4Frame() with `payloadLen` UDP payload bytes. */
export function ipv4FrameLen(payloadLen = 18, nVlans = 0, ihl = 5): number {
  return l3Offset(nVlans) + Math.max(ihl, 5) * 4 + UDP_HLEN + payloadLen;
}

/** Frame length of ipv6Frame() with `payloadLen` UDP payload bytes. */
export function ipv6FrameLen(payloadLen = 18, nVlans = 0): number {
  return l3Offset(nVlans) + IPV6_HLEN + UDP_HLEN + payloadLen;
}

/** The IPv4 total-length field of a frame (at its L3 offset). */
export function ipv4TotalLength(frame: Uint8Array, nVlans = 0): number {
  const o = l3Offset(nVlans);
  return ((frame[o + 2] ?? 0) << 8) | (frame[o + 3] ?? 0);
}

/** The IPv6 payload-length field of a frame (at its L3 offset). */
export function ipv6PayloadLength(frame: Uint8Array, nVlans = 0): number {
  const o = l3Offset(nVlans);
  return ((frame[o + 4] ?? 0) << 8) | (frame[o + 5] ?? 0);
}
