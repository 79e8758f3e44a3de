// A citizen's app written against an independent gRPC implementation: Node's
// @grpc/grpc-js with @grpc/proto-loader reading tongban/v1/citizen.proto at
// run time (no generated code). It drives tongban.v1.CitizenService on the
// gateway's public gRPC port (TLS, server verified with the given CA, no
// client certificate; "authorization: Bearer <jwt>" metadata) through one
// scenario and prints ONE JSON object with every call's outcome on stdout,
// for tests/edge/edge_grpcjs_test.cc to assert. It asserts nothing itself.
//
//   node citizen_client.mjs --target=127.0.0.1:PORT --ca=ca.pem --proto-dir=protos \
//       [--modules=DIR] [--idempotency-key=KEY] [--deadline-ms=10000]
//   tokens in the environment (not on the command line, where `ps` shows them):
//   TONGBAN_TOKEN_A, TONGBAN_TOKEN_B (two citizens), TONGBAN_TOKEN_EXPIRED.
//   Each flag may also come from the environment: TONGBAN_TARGET, TONGBAN_CA,
//   TONGBAN_PROTO_DIR, TONGBAN_GRPCJS_DIR, TONGBAN_IDEMPOTENCY_KEY.
//
// --modules is the directory whose node_modules holds the pinned packages
// (tests/edge/grpcjs/install.sh <dir>); default: this script's directory.
// ES modules ignore NODE_PATH, so the packages are loaded with a require()
// rooted there (both are CommonJS packages).
//
// Output: {"client": {...versions}, "calls": {"<step>": {"code": <grpc status
// code>, "codeName": "...", "details": "<status message>", "response": {...}}}}
// with proto-loader's object mapping: lowerCamelCase field names, 64-bit
// integers as strings, enums as their names, defaults filled in. A step that
// could not run (an earlier one gave no application id) has "skipped".
// Exit 0 when the scenario ran (whatever the server answered), 2 on usage or
// script errors (message on stderr).
import { createRequire } from 'node:module';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function fail(message) {
  process.stderr.write(`citizen_client.mjs: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const flags = {};
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(arg);
    if (!m) fail(`unexpected argument ${JSON.stringify(arg)} (flags are --name=value)`);
    flags[m[1]] = m[2];
  }
  const known = ['target', 'ca', 'proto-dir', 'modules', 'idempotency-key', 'deadline-ms'];
  for (const k of Object.keys(flags)) {
    if (!known.includes(k)) fail(`unknown flag --${k} (known: ${known.map((f) => '--' + f).join(' ')})`);
  }
  return flags;
}

const flags = parseArgs(process.argv.slice(2));
const env = process.env;
const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const opt = {
  target: flags.target ?? env.TONGBAN_TARGET,
  ca: flags.ca ?? env.TONGBAN_CA,
  protoDir: flags['proto-dir'] ?? env.TONGBAN_PROTO_DIR,
  modules: flags.modules ?? env.TONGBAN_GRPCJS_DIR ?? scriptDir,
  idempotencyKey:
    flags['idempotency-key'] ?? env.TONGBAN_IDEMPOTENCY_KEY ?? `grpcjs-${randomBytes(8).toString('hex')}`,
  deadlineMs: Number(flags['deadline-ms'] ?? 10000),
  tokenA: env.TONGBAN_TOKEN_A,
  tokenB: env.TONGBAN_TOKEN_B,
  tokenExpired: env.TONGBAN_TOKEN_EXPIRED,
};
for (const [name, value] of Object.entries({
  '--target': opt.target,
  '--ca': opt.ca,
  '--proto-dir': opt.protoDir,
  TONGBAN_TOKEN_A: opt.tokenA,
  TONGBAN_TOKEN_B: opt.tokenB,
  TONGBAN_TOKEN_EXPIRED: opt.tokenExpired,
})) {
  if (!value) fail(`${name} is required`);
}
if (!Number.isFinite(opt.deadlineMs) || opt.deadlineMs <= 0) fail('--deadline-ms must be a positive number');

// The pinned packages, from <modules>/node_modules.
const requireFromModules = createRequire(path.join(path.resolve(opt.modules), 'package.json'));
let grpc;
let protoLoader;
try {
  grpc = requireFromModules('@grpc/grpc-js');
  protoLoader = requireFromModules('@grpc/proto-loader');
} catch (e) {
  fail(`cannot load @grpc/grpc-js / @grpc/proto-loader from ${opt.modules}/node_modules ` +
       `(run tests/edge/grpcjs/install.sh ${opt.modules}): ${e.message}`);
}
function installedVersion(pkg) {
  const file = path.join(path.resolve(opt.modules), 'node_modules', pkg, 'package.json');
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

// The service from the .proto file itself, as an app would ship it.
const LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };
let CitizenService;
try {
  const definition = protoLoader.loadSync('tongban/v1/citizen.proto', {
    ...LOADER_OPTIONS,
    includeDirs: [opt.protoDir],
  });
  CitizenService = grpc.loadPackageDefinition(definition).tongban.v1.CitizenService;
} catch (e) {
  fail(`cannot load tongban/v1/citizen.proto from ${opt.protoDir}: ${e.message}`);
}
let caPem;
try {
  caPem = readFileSync(opt.ca);
} catch (e) {
  fail(`cannot read the CA certificate ${opt.ca}: ${e.message}`);
}

// TLS, the server verified with the CA, no client certificate.
const client = new CitizenService(opt.target, grpc.credentials.createSsl(caPem));

const statusNames = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

// One unary call with a deadline; resolves to {code, codeName, details, response?}.
function call(method, request, token) {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
    const started = Date.now();
    const options = { deadline: new Date(Date.now() + opt.deadlineMs) };
    client[method](request, metadata, options, (err, response) => {
      const ms = Date.now() - started;
      if (err) {
        const codeName = statusNames[err.code] ?? String(err.code);
        resolve({ code: err.code, codeName, details: err.details ?? err.message, ms });
      } else {
        resolve({ code: 0, codeName: 'OK', details: '', ms, response });
      }
    });
  });
}

// Material metadata: the SHA-256 (64 hex) of some content, its size and media type.
const material = (id, size) => ({
  materialId: id,
  contentSha256: createHash('sha256').update(`${id}: scanned document`).digest('hex'),
  sizeBytes: String(size),
  mediaType: 'application/pdf',
});
const submission = {
  idempotencyKey: opt.idempotencyKey,
  acceptingProvince: '430000',
  handlingProvince: '310000',
  itemCode: 'GG00020600',
  applicant: { name: '张三' },  // no idNumber: the token's subject is the applicant
  materials: [material('M01', 204800), material('M02', 51200), material('M09', 1048576)],
  note: 'grpc-js 互操作测试',
};

const calls = {};
const A = opt.tokenA;
const B = opt.tokenB;

calls.searchGuides = await call('SearchGuides', { query: '社会保障卡', pageSize: 200 });
calls.getItemGuide = await call('GetItemGuide', { provinceCode: '310000', itemCode: 'GG00020600' });
calls.findWhereToFile = await call('FindWhereToFile', { itemCode: 'GG00020600', acceptingProvince: '430000' });
calls.submit = await call('SubmitMyApplication', submission, A);
calls.submitReplay = await call('SubmitMyApplication', submission, A);

const id = calls.submit.response?.application?.applicationId;
const skipped = { skipped: 'submit gave no application id' };
calls.getAsA = id ? await call('GetMyApplication', { applicationId: id }, A) : skipped;
calls.listAsA = await call('ListMyApplications', { pageSize: 50 }, A);
calls.getAsB = id ? await call('GetMyApplication', { applicationId: id }, B) : skipped;
calls.withdrawAsB = id ? await call('WithdrawMyApplication', { applicationId: id, reason: '不是我的' }, B) : skipped;
calls.listWithoutToken = await call('ListMyApplications', { pageSize: 50 }, undefined);
calls.getWithoutToken = id ? await call('GetMyApplication', { applicationId: id }, undefined) : skipped;
calls.listExpired = await call('ListMyApplications', { pageSize: 50 }, opt.tokenExpired);
calls.submitBadItem = await call(
  'SubmitMyApplication',
  { ...submission, idempotencyKey: `${opt.idempotencyKey}-bad`, itemCode: 'GG0002060X' },
  A,
);
calls.withdrawAsA = id ? await call('WithdrawMyApplication', { applicationId: id, reason: '不需要了' }, A) : skipped;
client.close();

process.stdout.write(
  JSON.stringify({
    client: {
      node: process.version,
      grpcJs: installedVersion('@grpc/grpc-js'),
      protoLoader: installedVersion('@grpc/proto-loader'),
      target: opt.target,
      idempotencyKey: opt.idempotencyKey,
      submittedMaterials: submission.materials,
    },
    calls,
  }) + '\n',
);
