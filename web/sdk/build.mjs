// Builds the SDK for the server to serve, or the unit tests for `node --test`.
//
//   node build.mjs [--out DIR]   callboard.js (ES module), callboard.iife.js (script tag,
//                                global `Callboard`), their source maps, gzip copies, and the
//                                `.d.ts` types; DIR defaults to the Python package's
//                                src/callboard/web/static/sdk (gitignored)
//   node build.mjs --tests       each test/*.test.ts bundled into .build/test/*.test.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const version = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).version;
const define = { __CALLBOARD_SDK_VERSION__: JSON.stringify(version) };
// The browser apps built on the SDK (web/apps: the Cti.Connector facade, the widget, the
// demo page) are built and tested along with it, into the same folder.
const appsBuild = join(here, '..', 'apps', 'build.mjs');
const apps = existsSync(appsBuild) ? await import(pathToFileURL(appsBuild).href) : null;

if (args.includes('--tests')) {
  const out = join(here, '.build', 'test');
  rmSync(out, { recursive: true, force: true });
  const tests = readdirSync(join(here, 'test')).filter((name) => name.endsWith('.test.ts'));
  await esbuild.build({
    entryPoints: tests.map((name) => join(here, 'test', name)),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    // JsSIP is CommonJS and requires Node's `events`: give the ES modules a `require`.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    define,
    logLevel: 'warning',
  });
  await apps?.buildTests({ esbuild, outdir: out, define });
} else {
  const flag = args.indexOf('--out');
  const out =
    flag >= 0 ? resolve(args[flag + 1]) : resolve(here, '../../src/callboard/web/static/sdk');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const common = {
    entryPoints: [join(here, 'src', 'index.ts')],
    bundle: true,
    platform: 'browser',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    define,
    logLevel: 'warning',
  };
  await esbuild.build({ ...common, format: 'esm', outfile: join(out, 'callboard.js') });
  await esbuild.build({
    ...common,
    format: 'iife',
    globalName: 'Callboard',
    outfile: join(out, 'callboard.iife.js'),
  });
  await apps?.build({ esbuild, out, define });
  // The types: one .d.ts per module under types/, and callboard.d.ts pointing at them.
  const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.types.json'), '--outDir', join(out, 'types')], {
    stdio: 'inherit',
  });
  writeFileSync(join(out, 'callboard.d.ts'), "export * from './types/index';\n");
  const sizes = {};
  for (const name of readdirSync(out)) {
    if (!name.endsWith('.js')) continue;
    const body = readFileSync(join(out, name));
    const gzipped = gzipSync(body, { level: 9 });
    writeFileSync(join(out, `${name}.gz`), gzipped);
    sizes[name] = { bytes: body.length, gzip: gzipped.length };
  }
  writeFileSync(join(out, 'build.json'), JSON.stringify({ version, sizes }, null, 2) + '\n');
  for (const [name, size] of Object.entries(sizes)) {
    console.log(`sdk: ${name} ${(size.bytes / 1024).toFixed(1)} KiB (${(size.gzip / 1024).toFixed(1)} KiB gzip)`);
  }
}
