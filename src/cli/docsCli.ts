/**
 * `npm run docs:cli`: rewrite the generated flag table of docs/cli.md from
 * the parameter table (src/config/paramsDoc.ts). Run from the repository root.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withParamTable } from '../config/paramsDoc.js';

const file = 'docs/cli.md';
const before = readFileSync(file, 'utf8');
const after = withParamTable(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(`${file}: ${after === before ? 'up to date' : 'flag table rewritten'}\n`);
