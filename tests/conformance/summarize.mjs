// Counts the results the conformance CLI wrote with -o DIR and prints the one summary line.
// A scenario fails when any check is FAILURE or WARNING: the same rule the CLI applies to
// --expected-failures (src/expected-failures.ts, evaluateBaseline). A baseline entry whose scenario passes
// counts as failed (the baseline must shrink), and so does a non-zero exit of the CLI that no counted failure
// explains, and a run in which no scenario ran: the line never says 0 failed when the run failed.
// usage: node summarize.mjs RESULTS_DIR EXPECTED_FAILURES_YML LABEL [CLI_EXIT_STATUS]
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [resultsDir, expectedFile, label, cliStatusText = '0'] = process.argv.slice(2);
const cliStatus = Number(cliStatusText);
const require = createRequire(import.meta.url);
const { parse } = require(process.env.CONFORMANCE_YAML_MODULE);

const expected = new Set((parse(readFileSync(expectedFile, 'utf8')) ?? {}).server ?? []);
const dirPattern = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const entry of readdirSync(resultsDir).sort()) {
  const match = dirPattern.exec(entry);
  if (!match) continue;
  const scenario = match[1];
  const checks = JSON.parse(readFileSync(path.join(resultsDir, entry, 'checks.json'), 'utf8'));
  const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
  if (bad.length === 0) {
    if (expected.has(scenario)) {
      failed++;
      lines.push(`  FAILED stale baseline entry (passes now, delete it from ${path.basename(expectedFile)}): ${scenario}`);
    } else {
      passed++;
    }
  } else if (expected.has(scenario)) {
    skipped++;
    lines.push(`  expected failure: ${scenario}`);
  } else {
    failed++;
    for (const c of bad) lines.push(`  FAILED ${scenario}: ${c.id} ${c.status} ${c.errorMessage ?? ''}`.trimEnd());
  }
}

if (passed + failed + skipped === 0) {
  failed++;
  lines.push('  FAILED no scenario ran');
}
if (cliStatus !== 0 && failed === 0) {
  failed++;
  lines.push(`  FAILED the conformance CLI exited with status ${cliStatus} (its output above says why)`);
}

for (const line of lines) console.log(line);
console.log(`CONFORMANCE ${label}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
