/**
 * `-e/--expiration` parsing: `0` means never, anything else is a
 * humantime duration (`30s`, `1m`, `2h`, `1day`, `1h 30m`, `1w`, ...),
 * following the grammar of Rust's humantime::parse_duration (integers
 * only, units required, pieces optionally separated by whitespace).
 */

const UNITS: Readonly<Record<string, number>> = {
  nanos: 1e-9, nsec: 1e-9, ns: 1e-9,
  usec: 1e-6, us: 1e-6, 'µs': 1e-6,
  millis: 1e-3, msec: 1e-3, ms: 1e-3,
  seconds: 1, second: 1, secs: 1, sec: 1, s: 1,
  minutes: 60, minute: 60, mins: 60, min: 60, m: 60,
  hours: 3600, hour: 3600, hrs: 3600, hr: 3600, h: 3600,
  days: 86400, day: 86400, d: 86400,
  weeks: 604800, week: 604800, w: 604800,
  months: 2_630_016, month: 2_630_016, M: 2_630_016,
  years: 31_557_600, year: 31_557_600, y: 31_557_600,
};

export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isSpace = (c: string): boolean => /\s/u.test(c);
const isUnitChar = (c: string): boolean => /[A-Za-zµ]/u.test(c);

/**
 * humantime duration → whole seconds (sub-second parts are summed, then
 * truncated, like `Duration::as_secs`). Throws DurationError.
 */
export function parseHumantime(text: string): number {
  const chars = [...text];
  let i = 0;
  let total = 0; // in seconds, with fractions from sub-second units
  let pieces = 0;
  for (;;) {
    while (i < chars.length && isSpace(chars[i] as string)) i += 1;
    if (i >= chars.length) break;
    if (!isDigit(chars[i] as string)) throw new DurationError(`expected number at ${i}`);
    let n = 0;
    while (i < chars.length && isDigit(chars[i] as string)) {
      n = n * 10 + ((chars[i] as string).charCodeAt(0) - 48);
      i += 1;
    }
    if (n > Number.MAX_SAFE_INTEGER) throw new DurationError('number is too large');
    // spaces may separate a number from its unit (`1 h`), never two digits
    // of one number (`1 0s` is an error, not 10s)
    while (i < chars.length && isSpace(chars[i] as string)) i += 1;
    if (i < chars.length && isDigit(chars[i] as string)) throw new DurationError(`invalid character at ${i}`);
    const start = i;
    while (i < chars.length && isUnitChar(chars[i] as string)) i += 1;
    const unit = chars.slice(start, i).join('');
    if (unit === '') throw new DurationError('time unit needed, for example 10sec or 10ms');
    const factor = UNITS[unit];
    if (factor === undefined) throw new DurationError(`unknown time unit "${unit}"`);
    if (i < chars.length && !isSpace(chars[i] as string) && !isDigit(chars[i] as string)) {
      throw new DurationError(`invalid character at ${i}`);
    }
    total += n * factor;
    pieces += 1;
  }
  if (pieces === 0) throw new DurationError('value was empty');
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) throw new DurationError('number is too large');
  return Math.floor(total + 1e-9);
}

/**
 * couicctl's expiration argument → absolute unix seconds (0 = never).
 * Throws DurationError for anything humantime rejects (e.g. a bare `10`).
 */
export function expirationFromArg(text: string, nowSeconds: number): number {
  if (text === '0') return 0;
  return nowSeconds + parseHumantime(text);
}
