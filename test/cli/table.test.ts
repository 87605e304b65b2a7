import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { displayWidth, renderTable } from '../../src/cli/table.js';

describe('renderTable (comfy-table UTF8_FULL)', () => {
  it('renders an empty table as borders + header', () => {
    assert.equal(
      renderTable(['Policy', 'CIDR', 'Tag', 'Expiration'], []),
      [
        '┌────────┬──────┬─────┬────────────┐',
        '│ Policy ┆ CIDR ┆ Tag ┆ Expiration │',
        '╞════════╪══════╪═════╪════════════╡',
        '└────────┴──────┴─────┴────────────┘',
      ].join('\n'),
    );
  });

  it('renders one row', () => {
    assert.equal(
      renderTable(['Name', 'Group', 'Token'], [['bob', 'client_rw', '00000000-0000-0000-0000-000000000001']]),
      [
        '┌──────┬───────────┬──────────────────────────────────────┐',
        '│ Name ┆ Group     ┆ Token                                │',
        '╞══════╪═══════════╪══════════════════════════════════════╡',
        '│ bob  ┆ client_rw ┆ 00000000-0000-0000-0000-000000000001 │',
        '└──────┴───────────┴──────────────────────────────────────┘',
      ].join('\n'),
    );
  });

  it('renders several rows with row separators (the spec example)', () => {
    assert.equal(
      renderTable(
        ['Policy', 'CIDR', 'Tag', 'Expiration'],
        [
          ['drop', '3.3.3.0/24', 'test', '55s'],
          ['drop', '8.8.8.8/32', '', 'never'],
        ],
      ),
      [
        '┌────────┬────────────┬──────┬────────────┐',
        '│ Policy ┆ CIDR       ┆ Tag  ┆ Expiration │',
        '╞════════╪════════════╪══════╪════════════╡',
        '│ drop   ┆ 3.3.3.0/24 ┆ test ┆ 55s        │',
        '├╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌┤',
        '│ drop   ┆ 8.8.8.8/32 ┆      ┆ never      │',
        '└────────┴────────────┴──────┴────────────┘',
      ].join('\n'),
    );
  });

  it('sizes columns by display width and splits multi-line cells', () => {
    assert.equal(displayWidth('héllo'), 5);
    assert.equal(displayWidth('日本'), 4);
    assert.equal(
      renderTable(['A', 'B'], [['日本', 'x\nyy']]),
      ['┌──────┬────┐', '│ A    ┆ B  │', '╞══════╪════╡', '│ 日本 ┆ x  │', '│      ┆ yy │', '└──────┴────┘'].join('\n'),
    );
  });
});
