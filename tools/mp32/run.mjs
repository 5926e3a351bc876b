// A 32-bit MicroPython on the command line: MicroPython's webassembly port (wasm32: 4-byte
// pointers and object headers, 31-bit small ints, 16-byte GC blocks, as on the ESP32 and
// the RP2040), run under node with the unix port's calling convention:
//
//   node run.mjs [-X heapsize=N[K|M]] [--dir PATH]... [--in PATH]... [--romfs IMAGE]
//                SCRIPT [ARG...]
//
// --dir PATH: the host folder PATH is copied into the interpreter's in-memory file system
//   at the same path before the run, and copied back after it (files written, changed or
//   removed), so scripts work on host paths as under the unix port. It is mounted with a
//   board's error numbers (lib/mp32vfs.py), as is /tmp (in memory only). Only files and
//   folders are mirrored (links and the like are neither copied in nor removed); writes
//   anywhere else, the script's own folder included, stay in memory and are lost.
// --in PATH: as --dir, but not copied back (source folders a run only reads; one inside a
//   --dir goes back with it).
// --romfs IMAGE: a ROMFS image mounted at /rom, outside the GC heap.
// The files beside the script are always copied in (not the folders below it).
// Exit status: 0, 1 on an uncaught exception (its traceback on stderr), or SystemExit's.
// -X heapsize is the heap the port starts with, not a limit: this build grows it.
//
// Steps: the build collects garbage only at the top level, when a call from node returns
// (MICROPY_GC_SPLIT_HEAP_AUTO: the webassembly port cannot scan wasm's locals, so a
// collection asked for mid-run waits, and the heap grows meanwhile up to 128 MiB). So it
// measures what a board cannot show directly, not the least heap a flow fits in:
// - gc.mem_alloc() at the start of a step is the live heap after the last one;
// - its rise within a step is every byte the step allocated (nothing is collected).
// A script that defines mp32_steps (a generator function) is driven one step per call
// from node after the script has run, so a collection comes between every two steps.
//
// The build has no cryptolib: cryptolib.py (lib/ beside this file) gives the C module's
// AES-ECB API, computed by node's crypto on the arrays' own memory (uctypes.addressof), so
// it takes no GC heap per block, as the C module takes none.
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import url from 'url';

const HERE = path.dirname(url.fileURLToPath(import.meta.url));
const PACKAGE = path.join(HERE, 'node_modules', '@micropython', 'micropython-webassembly-pyscript');
function fail(message) {
  process.stderr.write('mp32: ' + message + '\n');
  process.exit(2);
}

function parseArgs(argv) {
  const options = { heap: 128 * 1024, dirs: [], inputs: [], romfs: null, script: null, args: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-X' && i + 1 < argv.length && argv[i + 1].startsWith('heapsize=')) {
      const text = argv[++i].slice('heapsize='.length);
      const scale = { k: 1024, m: 1048576 }[text.slice(-1).toLowerCase()] || 1;
      options.heap = parseInt(text, 10) * scale;
      if (!(options.heap > 0)) fail('bad heapsize ' + text);
    } else if (arg === '--dir' && i + 1 < argv.length) {
      options.dirs.push(path.resolve(argv[++i]));
    } else if (arg === '--in' && i + 1 < argv.length) {
      options.inputs.push(path.resolve(argv[++i]));
    } else if (arg === '--romfs' && i + 1 < argv.length) {
      options.romfs = path.resolve(argv[++i]);
    } else {
      break;
    }
  }
  if (i >= argv.length) {
    fail('usage: run.mjs [-X heapsize=N] [--dir PATH]... [--in PATH]... [--romfs IMAGE] SCRIPT [ARG...]');
  }
  options.script = path.resolve(argv[i]);
  options.args = argv.slice(i + 1);
  return options;
}

function checkInstalled() {
  if (!fs.existsSync(path.join(PACKAGE, 'micropython.wasm'))) {
    fail('the webassembly port is not installed: run `npm ci` in ' + HERE + ' (make venv does)');
  }
}

const copiedIn = new Set(); // host paths mirrored in: the only ones copy-back may remove

function copyIn(FS, host, inside, deep = true) {
  FS.mkdirTree(inside);
  for (const entry of fs.readdirSync(host, { withFileTypes: true })) {
    const from = path.join(host, entry.name);
    const to = inside + '/' + entry.name;
    if (entry.isDirectory()) {
      if (deep) {
        copiedIn.add(from);
        copyIn(FS, from, to);
      }
    }
    else if (entry.isFile()) {
      copiedIn.add(from);
      FS.writeFile(to, fs.readFileSync(from));
    }
  }
}

function copyOut(FS, inside, host) {
  fs.mkdirSync(host, { recursive: true });
  const names = FS.readdir(inside).filter((n) => n !== '.' && n !== '..');
  for (const name of names) {
    const from = inside + '/' + name;
    const to = path.join(host, name);
    const there = fs.existsSync(to) ? fs.lstatSync(to) : null;
    if (there && !there.isFile() && !there.isDirectory()) continue; // a link: not ours
    if (FS.isDir(FS.stat(from).mode)) {
      if (there && !there.isDirectory()) fs.rmSync(to);
      copyOut(FS, from, to);
    } else {
      const data = FS.readFile(from);
      if (there && there.isDirectory()) fs.rmSync(to, { recursive: true });
      if (!fs.existsSync(to) || !Buffer.from(data).equals(fs.readFileSync(to))) fs.writeFileSync(to, data);
    }
  }
  for (const name of fs.readdirSync(host)) {
    const gone = path.join(host, name);
    // removed by the script; links, pipes and the like were never copied in: left alone
    if (!names.includes(name) && copiedIn.has(gone)) fs.rmSync(gone, { recursive: true, force: true });
  }
}

function aesEcb(mp) {
  // cryptolib.py's back end: n bytes at src, through AES-128/192/256-ECB under the key at
  // keyAt, written at dst (addresses in the interpreter's memory)
  return (keyAt, keyLen, src, dst, n, decrypt) => {
    const memory = mp._module.HEAPU8;
    const key = Buffer.from(memory.slice(keyAt, keyAt + keyLen));
    const algorithm = 'aes-' + keyLen * 8 + '-ecb';
    const cipher = decrypt ? crypto.createDecipheriv(algorithm, key, null)
      : crypto.createCipheriv(algorithm, key, null);
    cipher.setAutoPadding(false);
    const out = Buffer.concat([cipher.update(Buffer.from(memory.slice(src, src + n))), cipher.final()]);
    memory.set(out, dst);
  };
}

function exitStatusOf(error) {
  // an uncaught exception: the port throws a PythonError whose message is the traceback
  if (error.name !== 'PythonError') throw error;
  process.stderr.write(error.message.endsWith('\n') ? error.message : error.message + '\n');
  return 1;
}

// The script runs from its file as the unix port runs it: __file__ set, its name in
// tracebacks, SystemExit caught in Python and its status taken as the unix port takes it
// (None: 0, an int: that, anything else printed and 1), whether the script or one of its
// steps raises it; after it no further step runs
const MAIN = [
  'def _mp32_exit(exc):',
  '    global _mp32_status, _mp32_more',
  '    _mp32_more = False',
  '    value = exc.args[0] if exc.args else None',
  '    if value is None:',
  '        _mp32_status = 0',
  '    elif isinstance(value, int):',
  '        _mp32_status = value & 0xFF',
  '    else:',
  '        import sys',
  '        print(value, file=sys.stderr)',
  '        _mp32_status = 1',
  '',
  'def _mp32_main(path):',
  '    global _mp32_status, _mp32_more, _mp32_step',
  '    g = globals()',
  '    g["__file__"] = path',
  '    with open(path) as f:',
  '        code = compile(f.read(), path, "exec")',
  '    _mp32_status = 0',
  '    try:',
  '        exec(code, g)',
  '    except SystemExit as exc:',
  '        _mp32_exit(exc)',
  '        return',
  '    _mp32_more = "mp32_steps" in g',
  '    if _mp32_more:',
  '        _mp32_step = g["mp32_steps"]()',
  '',
  'def _mp32_next():',
  '    global _mp32_more',
  '    try:',
  '        _mp32_more = next(_mp32_step, StopIteration) is not StopIteration',
  '    except SystemExit as exc:',
  '        _mp32_exit(exc)',
  '    import gc',
  '    gc.collect()',
].join('\n');

const options = parseArgs(process.argv.slice(2));
checkInstalled();
const { loadMicroPython } = await import(path.join(PACKAGE, 'micropython.mjs'));
const mp = await loadMicroPython({
  heapsize: options.heap,
  stdout: (data) => process.stdout.write(data),
  stderr: (data) => process.stderr.write(data),
  linebuffer: false,
  romfs: options.romfs ? new Uint8Array(fs.readFileSync(options.romfs)) : undefined,
});
globalThis.__mp32_aes_ecb = aesEcb(mp);
const FS = mp.FS;
const scriptDir = path.dirname(options.script);
copyIn(FS, scriptDir, scriptDir, false); // its files only, not the folders below
for (const dir of [...options.inputs, ...options.dirs]) copyIn(FS, dir, dir);
copyIn(FS, path.join(HERE, 'lib'), '/mp32lib');

const setup = [
  'import sys',
  'sys.argv[:] = ' + JSON.stringify([options.script, ...options.args]),
  'sys.path[:] = ' + JSON.stringify([scriptDir, '', '.frozen', '/lib', '/mp32lib']),
  'import mp32vfs',
  // the deepest first: the VFS takes the first mount in its table whose path matches
  ...[...new Set(['/tmp', ...options.inputs, ...options.dirs])].sort((a, b) => b.length - a.length)
    .map((dir) => 'mp32vfs.mount(' + JSON.stringify(dir) + ')'),
  'del mp32vfs',
  "sys.modules.pop('mp32vfs')",
  'import os',
  'os.chdir(' + JSON.stringify(process.cwd()) + ')',
  'del os',
  'del sys',
  'import gc',
  'gc.collect()',
  'del gc',
].join('\n');
let status = 0;
try {
  FS.mkdirTree(process.cwd());
  mp.runPython(setup);
  mp.runPython(MAIN);
  mp.runPython('_mp32_main(' + JSON.stringify(options.script) + ')');
  // a step per call: gc.collect() in _mp32_next only marks a collection pending, and it
  // runs as the call returns to the top level (without it, a step that allocated less than
  // the build's 16 KB threshold would not be collected)
  while (mp.globals.get('_mp32_more')) mp.runPython('_mp32_next()');
  status = mp.globals.get('_mp32_status');
} catch (error) {
  status = exitStatusOf(error);
} finally {
  for (const dir of options.dirs) copyOut(FS, dir, dir);
}
process.exit(status);
