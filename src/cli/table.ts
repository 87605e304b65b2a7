/**
 * comfy-table's UTF8_FULL preset, as couicctl prints it (spec §9.3):
 * left-aligned cells, one space of padding on each side, columns as wide
 * as their widest cell, `╞═╪═╡` under the header, `├╌┼╌┤` between rows.
 * A table without rows is the top border, the header, the header
 * separator and the bottom border. No wrapping: comfy-table only wraps to
 * fit a terminal width, which we do not.
 */

const B = {
  top: ['┌', '─', '┬', '┐'],
  header: ['╞', '═', '╪', '╡'],
  row: ['├', '╌', '┼', '┤'],
  bottom: ['└', '─', '┴', '┘'],
  outer: '│',
  inner: '┆',
} as const;

/** Terminal columns taken by one code point (0 for combining marks/controls, 2 for wide). */
function codePointWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp === 0x200b || (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Display width of `text` in a terminal (an approximation of unicode-width). */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += codePointWidth(ch.codePointAt(0) ?? 0);
  return w;
}

function border(parts: readonly [string, string, string, string], widths: readonly number[]): string {
  const [left, fill, cross, right] = parts;
  return left + widths.map((w) => fill.repeat(w + 2)).join(cross) + right;
}

function contentLines(cells: readonly string[], widths: readonly number[]): string[] {
  const split = cells.map((c) => c.split('\n'));
  const height = Math.max(1, ...split.map((s) => s.length));
  const out: string[] = [];
  for (let i = 0; i < height; i += 1) {
    const parts = widths.map((w, col) => {
      const text = split[col]?.[i] ?? '';
      return ` ${text}${' '.repeat(Math.max(0, w - displayWidth(text)))} `;
    });
    out.push(B.outer + parts.join(B.inner) + B.outer);
  }
  return out;
}

/**
 * Renders a table; the result has no trailing newline (callers print it
 * with one, like Rust's `println!("{table}")`).
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, col) => {
    let w = 0;
    for (const line of h.split('\n')) w = Math.max(w, displayWidth(line));
    for (const row of rows) for (const line of (row[col] ?? '').split('\n')) w = Math.max(w, displayWidth(line));
    return w;
  });
  const lines: string[] = [border(B.top, widths), ...contentLines(header, widths), border(B.header, widths)];
  rows.forEach((row, i) => {
    if (i > 0) lines.push(border(B.row, widths));
    lines.push(...contentLines(row, widths));
  });
  lines.push(border(B.bottom, widths));
  return lines.join('\n');
}
