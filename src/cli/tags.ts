/**
 * Client-side tag filter of `list -t PATTERNS` (spec §9.4): comma
 * separated patterns, each trimmed. `*`/`**` match any non-null tag
 * (including ""), `*x*` substring, `*x` suffix, `x*` prefix, otherwise an
 * exact case-sensitive match; an empty pattern matches only "". A null tag
 * never matches.
 */

export function parseTagPatterns(text: string): string[] {
  return text.split(',').map((p) => p.trim());
}

export function tagMatches(tag: string | null, pattern: string): boolean {
  if (tag === null) return false;
  if (pattern === '*' || pattern === '**') return true;
  if (pattern === '') return tag === '';
  const starts = pattern.startsWith('*');
  const ends = pattern.endsWith('*');
  if (starts && ends && pattern.length > 2) return tag.includes(pattern.slice(1, -1));
  if (starts) return tag.endsWith(pattern.slice(1));
  if (ends) return tag.startsWith(pattern.slice(0, -1));
  return tag === pattern;
}

export function tagMatchesAny(tag: string | null, patterns: readonly string[]): boolean {
  return patterns.some((p) => tagMatches(tag, p));
}
