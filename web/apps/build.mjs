// The browser apps built on the SDK, bundled by the SDK's own build (web/sdk/build.mjs
// calls these with its esbuild, so one `node build.mjs` builds everything the server
// serves under /sdk/):
//
//   cti-connector.js   the `Cti.Connector` facade of VoIPstudio's connector (global `Cti`)
//   widget.js          the embeddable web phone (reads window.callboardWidgetConfig)
//   widget.css         its default styles
//   demo/              the demo CRM page's script and styles (GET /demo serves its page)
//
// Each script bundles the SDK it is built on: one <script> tag is all a page needs.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Build into `out` (the SDK's output folder) with the SDK's esbuild and settings. */
export async function build({ esbuild, out, define }) {
  const common = {
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    define,
    logLevel: 'warning',
  };
  await esbuild.build({
    ...common,
    entryPoints: [join(here, 'connector', 'index.ts')],
    globalName: 'Cti',
    outfile: join(out, 'cti-connector.js'),
  });
  await esbuild.build({ ...common, entryPoints: [join(here, 'widget', 'widget.ts')], outfile: join(out, 'widget.js') });
  copyFileSync(join(here, 'widget', 'widget.css'), join(out, 'widget.css'));
  mkdirSync(join(out, 'demo'), { recursive: true });
  for (const name of readdirSync(join(here, 'demo'))) copyFileSync(join(here, 'demo', name), join(out, 'demo', name));
}

/** The unit tests (test/*.test.ts), bundled for `node --test` next to the SDK's. */
export async function buildTests({ esbuild, outdir, define }) {
  const tests = readdirSync(join(here, 'test')).filter((name) => name.endsWith('.test.ts'));
  await esbuild.build({
    entryPoints: tests.map((name) => join(here, 'test', name)),
    outdir,
    entryNames: 'apps-[name]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    define,
    logLevel: 'warning',
  });
}
