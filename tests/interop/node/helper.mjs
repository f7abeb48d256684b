// SPDX-License-Identifier: Apache-2.0
//
// Holds locks with @verrou/core on command, for verrou-cpp's interoperability tests.
//
//   node helper.mjs <store URL> [knex|kysely]   (URL forms: see stores.mjs; SQL stores use
//                                               Verrou's knex store unless told kysely)
//
// Prints {"ready":true} once the store is open (its table created), then reads one JSON request
// per line on stdin and answers each with one JSON line on stdout:
//
//   {"op":"create","id":"a","key":"k","ttl":30000|null}   a lock object (not acquired yet)
//   {"op":"acquire","id":"a","retry":{"attempts":1,"delay":10,"timeout":100}}  → {"result":bool}
//   {"op":"acquire_immediately","id":"a"}                  → {"result":bool}
//   {"op":"release","id":"a"}  {"op":"force_release","id":"a"}
//   {"op":"extend","id":"a","ttl":ms?}
//   {"op":"is_locked","id":"a"}                            → {"result":bool}
//   {"op":"is_expired","id":"a"}                           → {"result":bool}
//   {"op":"serialize","id":"a"}                            → {"result":"<Verrou's JSON text>"}
//   {"op":"restore","id":"b","json":"<serialized JSON text>"}
//   {"op":"raw_get","key":"k"}        → {"result":{"owner","expiration"(epoch ms|null),…}|null}
//   {"op":"raw_put","key":"k","owner":"o","expiration":ms|null}  writes Verrou's data directly
//   {"op":"columns"}                  → the table's column names (SQL) or key schema (DynamoDB)
//   {"op":"drop"}                     drops the table (SQL, DynamoDB)
//   {"op":"now"}                      → {"result":Date.now()}
//
// Every answer has "ok": true, or "ok": false with "code" (Verrou's error code, e.g.
// E_LOCK_NOT_OWNED) and "error" (the message). End of input closes the store and exits.
import readline from 'node:readline'
import { openStore } from './stores.mjs'

const url = process.argv[2]
if (!url) {
  process.stderr.write('usage: node helper.mjs <store URL>\n')
  process.exit(2)
}

const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

let opened
try {
  opened = await openStore(url, {}, process.argv[3] ?? 'knex')
} catch (e) {
  send({ ready: false, error: String(e?.stack ?? e) })
  process.exit(1)
}
const { factory, raw } = opened
const locks = new Map()

function lockOf(id) {
  const lock = locks.get(id)
  if (!lock) throw new Error(`no lock with id "${id}"`)
  return lock
}

async function handle(req) {
  switch (req.op) {
    case 'create':
      locks.set(req.id, factory.createLock(req.key, req.ttl === undefined ? 30000 : req.ttl))
      return { owner: locks.get(req.id).getOwner() }
    case 'acquire':
      return { result: await lockOf(req.id).acquire(req.retry ? { retry: req.retry } : {}) }
    case 'acquire_immediately':
      return { result: await lockOf(req.id).acquireImmediately() }
    case 'release':
      await lockOf(req.id).release()
      return {}
    case 'force_release':
      await lockOf(req.id).forceRelease()
      return {}
    case 'extend':
      await lockOf(req.id).extend(req.ttl)
      return {}
    case 'is_locked':
      return { result: await lockOf(req.id).isLocked() }
    case 'is_expired':
      return { result: lockOf(req.id).isExpired() }
    case 'serialize':
      return { result: JSON.stringify(lockOf(req.id).serialize()) }
    case 'restore':
      locks.set(req.id, factory.restoreLock(JSON.parse(req.json)))
      return { owner: locks.get(req.id).getOwner() }
    case 'raw_get':
      return { result: await raw.get(req.key) }
    case 'raw_put':
      await raw.put(req.key, req.owner, req.expiration ?? null)
      return {}
    case 'columns':
      return { result: await raw.columns() }
    case 'drop':
      await raw.drop()
      return {}
    case 'now':
      return { result: Date.now() }
    default:
      throw new Error(`unknown op "${req.op}"`)
  }
}

send({ ready: true })
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (line.trim() === '') continue
  try {
    send({ ok: true, ...(await handle(JSON.parse(line))) })
  } catch (e) {
    send({ ok: false, code: e?.code ?? null, error: String(e?.message ?? e) })
  }
}
await opened.close()
process.exit(0)
