// Node.js client for the vecdb interop test: talks to a running server using only the .proto files.
// Usage: node client.js <host:port> <admin-key> <tenant-key-for-acme>
// Prints one JSON object with what it observed; tests/integration/test_grpc_interop.py checks it.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const definition = protoLoader.loadSync('vecdb/v1/vecdb.proto', {
  includeDirs: [PROTO_ROOT], keepCase: true, longs: Number, enums: String, defaults: true,
});
const qaDefinition = protoLoader.loadSync('vecdb/v1/qa_memory.proto', {
  includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: true,
});
const vecdb = grpc.loadPackageDefinition(definition).vecdb.v1;
const qa = grpc.loadPackageDefinition(qaDefinition).vecdb.v1;

const [address, adminKey, acmeKey] = process.argv.slice(2);
const client = new vecdb.VecDB(address, grpc.credentials.createInsecure());
const qaClient = new qa.QAMemory(address, grpc.credentials.createInsecure());

function meta(key) {
  const m = new grpc.Metadata();
  if (key) m.add('authorization', `Bearer ${key}`);
  return m;
}

function call(method, request, key, stub = client) {
  return new Promise((resolve) => {
    stub[method](request, meta(key), { deadline: Date.now() + 10000 }, (err, reply) => {
      if (err) {
        const cls = err.metadata ? err.metadata.get('vecdb-error')[0] : undefined;
        resolve({ error: grpc.status[err.code], details: err.details, cls });
      } else {
        resolve(reply);
      }
    });
  });
}

// float32 little-endian packing, as the proto documents.
function pack(rows) {
  const flat = new Float32Array(rows.flat());
  return Buffer.from(flat.buffer);
}

async function main() {
  const out = {};
  const dim = 3;
  out.create = await call('CreateCollection', { name: 'interop', dim, metric: 'l2' }, adminKey);
  const vectors = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]];
  out.upsert = await call('Upsert', {
    collection: 'interop', ids: [1, 2, 3, 4], vectors: { dim, data: pack(vectors) },
    tenant_lists: [{ names: ['acme'] }, { names: ['acme'] }, { names: ['acme', 'globex'] }, { names: ['globex'] }],
    metadata_json: ['{"lang":"en"}', '', '{"lang":"de"}', ''],
  }, adminKey);
  out.search = await call('Search', { collection: 'interop', query: pack([[0.9, 0, 0]]), k: 2, tenant: 'acme' }, acmeKey);
  out.search_where = await call('Search', {
    collection: 'interop', query: pack([[0, 0, 0]]), k: 5, tenant: 'acme', where_json: '{"lang": "de"}',
    options: {},
  }, acmeKey);
  const batch = await call('SearchBatch', {
    collection: 'interop', queries: { dim, data: pack([[0, 0, 0], [5, 5, 5]]) }, k: 2, tenant: 'globex',
  }, adminKey);
  if (batch.error) {
    out.batch = batch;
  } else {
    const ids = [];
    for (let i = 0; i < batch.ids.length; i += 8) ids.push(Number(batch.ids.readBigInt64LE(i)));
    const dists = Array.from(new Float32Array(batch.distances.buffer.slice(
      batch.distances.byteOffset, batch.distances.byteOffset + batch.distances.length)));
    out.batch = { num_queries: batch.num_queries, k: batch.k, ids, dists };
  }
  const got = await call('Get', { collection: 'interop', ids: [3], tenant: 'acme' }, acmeKey);
  out.get = got.error ? got : got.records.map((r) => ({
    id: r.id, tenants: r.tenants, metadata: JSON.parse(r.metadata_json),
    vector: Array.from(new Float32Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.length))),
  }));
  out.count = await call('Count', { collection: 'interop', tenant: 'acme' }, acmeKey);
  out.denied = await call('Search', { collection: 'interop', query: pack([[0, 0, 0]]), k: 2, tenant: 'globex' }, acmeKey);
  out.unauthenticated = await call('ListCollections', {}, undefined);
  out.dim_mismatch = await call('Search', { collection: 'interop', query: pack([[0, 0]]), k: 2, tenant: 'acme' }, adminKey);
  out.list = await call('ListCollections', {}, acmeKey);
  // QA memory: ids are 63-bit content hashes, so they are read as strings (longs: String).
  out.qa_open = await call('Open', { memory: 'support' }, adminKey, qaClient);
  out.qa_add = await call('Add', {
    memory: 'support', tenant: 'acme', questions: ['How do I reset my password?'],
    answers: ['Settings > Security > Reset.'],
  }, acmeKey, qaClient);
  out.qa_ask = await call('Ask', { memory: 'support', tenant: 'acme', query: 'how can I reset my password' },
    acmeKey, qaClient);
  out.qa_denied = await call('Ask', { memory: 'support', tenant: 'globex', query: 'password' }, acmeKey, qaClient);
  process.stdout.write(JSON.stringify(out));
  client.close();
  qaClient.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
