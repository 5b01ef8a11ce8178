#!/usr/bin/env node
// S3-compatible server for Portico's integration tests: @20minutes/s3rver 4.0.4 (a fork of s3rver
// that verifies SigV4 signatures) started with ONE key pair from the environment, its built-in
// S3RVER/S3RVER key revoked, anonymous requests refused (every bucket is private, as with
// CloudFront Origin Access Control) and path-style addressing only.
//
//   S3RVER_ACCESS_KEY_ID=AKIA... S3RVER_SECRET_ACCESS_KEY=... \
//     node tests/s3/s3rver.js --dir /tmp/s3data [--port 0] [--address 127.0.0.1] [--verbose] BUCKET...
//
// Prints exactly one line on stdout once it accepts connections: "listening 127.0.0.1:PORT".
// Exits 0 on SIGTERM/SIGINT after closing the listener. Errors go to stderr with exit status 2.
'use strict';

const fs = require('fs');
const path = require('path');

const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');
const S3Error = require('@20minutes/s3rver/lib/models/error');

function usage(message) {
  process.stderr.write(`s3rver.js: ${message}\n` +
    'usage: node s3rver.js --dir DIR [--port N] [--address ADDR] [--verbose] BUCKET...\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { address: '127.0.0.1', port: 0, dir: null, verbose: false, buckets: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--dir') opts.dir = value();
    else if (a === '--port') opts.port = Number(value());
    else if (a === '--address') opts.address = value();
    else if (a === '--verbose') opts.verbose = true;
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else opts.buckets.push(a);
  }
  if (!opts.dir) usage('--dir is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
  return opts;
}

// True when the request carries any S3 authentication (the same three mechanisms the fork's
// authentication middleware recognises); the fork itself lets unauthenticated requests through.
function isAuthenticated(ctx) {
  return 'authorization' in ctx.headers || 'Signature' in ctx.query ||
    'X-Amz-Algorithm' in ctx.query;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const accessKeyId = process.env.S3RVER_ACCESS_KEY_ID;
  const secretAccessKey = process.env.S3RVER_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    usage('S3RVER_ACCESS_KEY_ID and S3RVER_SECRET_ACCESS_KEY must be set');
  }
  fs.mkdirSync(opts.dir, { recursive: true });

  // The fork keeps its key pairs in a process-wide registry on one built-in account; the
  // authentication middleware looks keys up there and verifies the SigV4 signature with the
  // secret it finds (lib/middleware/authentication.js, lib/signature/v4.js).
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);

  const server = new S3rver({
    address: opts.address,
    port: opts.port,
    directory: path.resolve(opts.dir),
    silent: !opts.verbose,
    vhostBuckets: false, // path-style only: /BUCKET/KEY whatever the Host header says
    allowMismatchedSignatures: false,
    resetOnClose: false,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  });
  // First middleware: refuse anonymous requests with S3's 403 AccessDenied XML. Koa composes
  // `middleware` when the listener is created (in run()), so this runs before the fork's own.
  server.middleware.unshift(async (ctx, next) => {
    if (!isAuthenticated(ctx)) throw new S3Error('AccessDenied', 'Access Denied');
    return next();
  });

  const address = await server.run();
  process.stdout.write(`listening ${address.address}:${address.port}\n`);

  const stop = () => {
    server.close().then(() => process.exit(0), () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`s3rver.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
