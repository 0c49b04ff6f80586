// node-postgres named queries, or postgres.js with prepare: true, through the pooler: C
// clients, each on its own connection, running Q parameterised queries (a transaction every
// tenth) and checking every result. Prints "ok <queries>" and exits 0, or the first errors
// and exits 1. Used by test_prepared.py, with NODE_PATH pointing at scripts/node-deps.sh's
// node_modules.
//
//   node node_check.js pg|postgres <host> <port> <user> <password> <clients> <queries>
'use strict';

const [lib, host, port, user, password, nClients, nQueries] = process.argv.slice(2);
const C = Number(nClients);
const Q = Number(nQueries);

function check(ok, what) {
  if (!ok) throw new Error('wrong result: ' + what);
}

async function withPg(i) {
  const { Client } = require('pg');
  const c = new Client({ host, port: Number(port), user, password, database: 'app', ssl: false });
  await c.connect();
  let n = 0;
  try {
    for (let k = 0; k < Q; k++) {
      const v = i * 100000 + k;
      const r = await c.query({ name: 'mul', text: 'select $1::int * 2 as r, $2::text as s', values: [v, 'c' + i] });
      check(r.rows.length === 1 && r.rows[0].r === v * 2 && r.rows[0].s === 'c' + i, JSON.stringify(r.rows));
      if (k % 10 === 0) {
        await c.query('BEGIN');
        const t = await c.query({ name: 'add', text: 'select $1::bigint + 7 as r', values: [v] });
        check(t.rows[0].r === String(v + 7), JSON.stringify(t.rows));
        await c.query('COMMIT');
      }
      n++;
    }
  } finally {
    await c.end();
  }
  return n;
}

async function withPostgresJs(i) {
  const postgres = require('postgres');
  const sql = postgres({ host, port: Number(port), user, pass: password, database: 'app', max: 1,
                         prepare: true, ssl: false, onnotice: () => {} });
  let n = 0;
  try {
    for (let k = 0; k < Q; k++) {
      const v = i * 100000 + k;
      const [row] = await sql`select ${v}::int * 2 as r, ${'c' + i}::text as s`;
      check(row.r === v * 2 && row.s === 'c' + i, JSON.stringify(row));
      if (k % 10 === 0) {
        await sql.begin(async (tx) => {
          const [t] = await tx`select ${v}::bigint + 7 as r`;
          check(String(t.r) === String(v + 7), JSON.stringify(t));
        });
      }
      n++;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  return n;
}

async function main() {
  const run = lib === 'pg' ? withPg : withPostgresJs;
  const results = await Promise.allSettled(Array.from({ length: C }, (_, i) => run(i)));
  const errors = results.map((r, i) => (r.status === 'rejected' ? `client ${i}: ${r.reason}` : null)).filter(Boolean);
  if (errors.length) {
    console.log(errors.slice(0, 5).join('\n'));
    console.log('errors: ' + errors.length);
    process.exit(1);
  }
  console.log('ok ' + results.reduce((a, r) => a + r.value, 0));
}

main().catch((e) => {
  console.log('fatal: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
