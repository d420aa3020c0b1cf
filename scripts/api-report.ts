/**
 * API reports: runs API Extractor over the built `.d.ts` of each public entry point (the package
 * root and its subpaths) and compares the result with the committed reports in `api/`. A change
 * of the public surface fails `npm run api` (and test/package/consumer.test.ts) until the report
 * is regenerated with `npm run api:update` and committed — so surface changes show up in review.
 *
 * Usage: `tsx scripts/api-report.ts [--update] [--package DIR]` after `npm run build` (DIR: a
 * package folder built elsewhere, as test/package/package.test.ts does).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type IConfigFile } from '@microsoft/api-extractor';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Each public entry point: its report name and built declaration file (package.json `exports`). */
export const ENTRY_POINTS: { report: string; dts: string }[] = [
  { report: 'lepton', dts: 'dist/api/index.d.ts' },
  { report: 'lepton-data', dts: 'dist/data/index.d.ts' },
  { report: 'lepton-onnx', dts: 'dist/api/onnx.d.ts' },
  { report: 'lepton-engine', dts: 'dist/api/engine.d.ts' },
  { report: 'lepton-serve', dts: 'dist/serve/index.d.ts' },
  { report: 'lepton-studio', dts: 'dist/studio/index.d.ts' },
  { report: 'lepton-text', dts: 'dist/text/index.d.ts' },
  { report: 'lepton-vision', dts: 'dist/vision/index.d.ts' },
  { report: 'lepton-audio', dts: 'dist/audio/index.d.ts' },
];

/**
 * Runs API Extractor on every entry point of the package built in `packageDir` (default: this
 * repository's `dist/`); returns the names of reports that differ from `api/`.
 */
export function checkApiReports(
  update: boolean,
  log: (line: string) => void = console.log,
  packageDir = root,
): string[] {
  const temp = mkdtempSync(join(tmpdir(), 'lepton-api-'));
  const changed: string[] = [];
  try {
    for (const entry of ENTRY_POINTS) {
      const configObject: IConfigFile = {
        projectFolder: root,
        mainEntryPointFilePath: join(packageDir, entry.dts),
        compiler: { tsconfigFilePath: join(root, 'tsconfig.build.json') },
        apiReport: {
          enabled: true,
          reportFileName: entry.report,
          reportFolder: join(root, 'api'),
          reportTempFolder: temp,
        },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages: {
          // The report records what is exported; these are style findings, not surface changes.
          extractorMessageReporting: {
            default: { logLevel: ExtractorLogLevel.None, addToApiReportFile: false },
          },
          tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
          compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
        },
      };
      const config = ExtractorConfig.prepare({
        configObject,
        configObjectFullPath: join(root, 'api', `${entry.report}.json`),
        packageJsonFullPath: join(root, 'package.json'),
      });
      const result = Extractor.invoke(config, {
        localBuild: update,
        showVerboseMessages: false,
        messageCallback: (m) => {
          m.handled = true;
          if (m.logLevel === ExtractorLogLevel.Error || m.logLevel === ExtractorLogLevel.Warning)
            log(`${entry.report}: ${m.text}`);
        },
      });
      if (result.apiReportChanged) {
        changed.push(entry.report);
        log(
          update
            ? `api/${entry.report}.api.md updated`
            : `api/${entry.report}.api.md differs from the built surface (diff it with ${join(temp, entry.report + '.api.md')})`,
        );
      }
    }
  } finally {
    if (update || changed.length === 0) rmSync(temp, { recursive: true, force: true });
  }
  return changed;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const update = process.argv.includes('--update');
  const at = process.argv.indexOf('--package');
  const changed = checkApiReports(update, console.log, at > 0 ? resolve(process.argv[at + 1]) : root);
  if (changed.length && !update) {
    console.error(
      `The public API changed (${changed.join(', ')}). If that is intended, run \`npm run api:update\` and commit api/*.api.md.`,
    );
    process.exit(1);
  }
  if (!changed.length) console.log('API reports match the built surface.');
}
