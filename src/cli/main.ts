#!/usr/bin/env node
/**
 * `couicctl [-c FILE] <command>`: the Couic v1 command-line client (spec §9).
 * Exit status: 0 ok, 1 config/client or command error, 2 usage error.
 */
import { main } from './parser.js';

await main(process.argv.slice(2));
