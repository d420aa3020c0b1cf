// Builds Lepton's native kernels (native/binding.gyp) with the node-gyp that npm bundles. Runs as
// the package's install script. Optional: without a C++ toolchain (g++, make, python3) the build
// fails, this prints why, and training uses the WebAssembly kernels instead (same results, slower).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');

function nodeGyp() {
  // npm tells its scripts where its node-gyp is; run by hand, look beside npm.
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  return candidates.find((c) => c && existsSync(c));
}

// The headers of the running Node, when its installation has them (Debian's nodejs and the official
// tarballs do): node-gyp would otherwise download them, and these machines may be offline.
function nodeDir() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const gyp = nodeGyp();
const result = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild', ...nodeDir()], { cwd: nativeDir, stdio: 'inherit' })
  : { status: 1, error: new Error('node-gyp not found (it comes with npm)') };
if (result.status !== 0) {
  console.warn(
    `lepton: the native optimizer kernels were not built (${result.error?.message ?? `node-gyp exited with ${result.status}`}). ` +
      'Training still works, with the WebAssembly kernels (slower Adam updates). To build them, install a C++ ' +
      "toolchain (Debian: apt-get install g++ make python3) and run 'npm run build:native'.",
  );
}
