#!/usr/bin/env node
/**
 * Writes couicctl.1 and couic.8 into the directory given (default: the
 * current one): `node dist/src/man/main.js OUTDIR`. packaging/install.sh and
 * scripts/package.sh run it, so the installed pages match the installed
 * commands.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { couicPage } from './couic.js';
import { couicctlPage } from './couicctl.js';

const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
const dir = process.argv[2] ?? '.';
writeFileSync(join(dir, 'couicctl.1'), couicctlPage(pkg.version));
writeFileSync(join(dir, 'couic.8'), couicPage(pkg.version));
