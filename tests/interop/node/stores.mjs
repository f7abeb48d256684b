// SPDX-License-Identifier: Apache-2.0
//
// Opens @verrou/core on the store a verrou-cpp URL names, so the C++ side and the Node.js side
// of the interoperability tests and of the comparison benchmark are pointed at the same data
// with one string:
//
//   memory:
//   redis://[user:pass@]host:port[/db]
//   sqlite:///abs/path.db?table=T
//   postgres://user:pass@host:port/db?table=T&pool_size=N
//   mysql://user:pass@host:port/db?table=T&pool_size=N        (or mariadb://)
//   dynamodb://?region=R&endpoint=http://host:port&table=T
//
// `openStore(url)` returns { factory, raw, close }: a LockFactory on Verrou's own driver for
// that store (for SQL: its knex store, or its kysely store when asked), and `raw` — direct reads of the stored data (what Verrou wrote, or verrou-cpp),
// with the client library underneath, bypassing Verrou.
import { LockFactory } from '@verrou/core'
import { memoryStore } from '@verrou/core/drivers/memory'
import { redisStore } from '@verrou/core/drivers/redis'
import { knexStore } from '@verrou/core/drivers/knex'
import { dynamodbStore } from '@verrou/core/drivers/dynamodb'

// DynamoDB test servers check no signatures; the C++ tests use the same key.
export const kTestCredentials = { accessKeyId: 'verrouTests', secretAccessKey: 'verrouTestsSecret' }

function param(url, name, fallback) {
  const v = url.searchParams.get(name)
  return v === null || v === '' ? fallback : v
}

function knexFor(url, client) {
  const poolSize = Number(param(url, 'pool_size', '10'))
  const table = param(url, 'table', 'verrou')
  const connection = client === 'better-sqlite3'
    ? { filename: decodeURIComponent(url.pathname) }
    : {
        host: url.hostname || '127.0.0.1',
        port: Number(url.port || (client === 'pg' ? 5432 : 3306)),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      }
  return { table, poolSize, connection }
}

// Verrou's kysely store on the same database: a Kysely instance over the same client library.
async function kyselyFor(client, connection, poolSize) {
  const { Kysely, PostgresDialect, MysqlDialect, SqliteDialect } = await import('kysely')
  if (client === 'pg') {
    const { default: pg } = await import('pg')
    return new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...connection, max: poolSize }) }) })
  }
  if (client === 'mysql2') {
    const mysql = await import('mysql2')
    return new Kysely({ dialect: new MysqlDialect({ pool: mysql.createPool({ ...connection, connectionLimit: poolSize }) }) })
  }
  const { default: Database } = await import('better-sqlite3')
  return new Kysely({ dialect: new SqliteDialect({ database: new Database(connection.filename) }) })
}

async function openKnex(url, client, driver) {
  const { default: knex } = await import('knex')
  const { table, poolSize, connection } = knexFor(url, client)
  const db = knex({
    client,
    connection,
    useNullAsDefault: true,
    pool: client === 'better-sqlite3' ? { min: 1, max: 1 } : { min: 0, max: poolSize },
  })
  // The lock store is Verrou's knex store, or with driver "kysely" its kysely store; raw
  // reads and writes always go through knex.
  let kysely = null
  let store
  if (driver === 'kysely') {
    const { kyselyStore } = await import('@verrou/core/drivers/kysely')
    kysely = await kyselyFor(client, connection, poolSize)
    store = kyselyStore({ connection: kysely, tableName: table, autoCreateTable: true }).factory()
  } else {
    store = knexStore({ connection: db, tableName: table, autoCreateTable: true }).factory()
  }
  // Verrou creates its table from the store's constructor; wait for it before reporting ready.
  await store.exists('verrou-interop:warm-up')
  const toNumber = (v) => (v === null || v === undefined ? null : Number(v))
  return {
    store,
    raw: {
      async get(key) {
        const row = await db(table).where('key', key).select(['owner', 'expiration']).first()
        return row ? { owner: row.owner, expiration: toNumber(row.expiration) } : null
      },
      async put(key, owner, expiration) {
        await db(table).insert({ key, owner, expiration })
      },
      async columns() {
        return Object.keys(await db(table).columnInfo()).sort()
      },
      async drop() {
        await db.schema.dropTableIfExists(table)
      },
    },
    close: async () => {
      if (kysely) await kysely.destroy()
      await db.destroy()
    },
  }
}

async function openRedis(url) {
  const { Redis } = await import('ioredis')
  const db = Number(url.pathname.replace(/^\//, '') || '0')
  const redis = new Redis({
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 6379),
    username: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    db,
    lazyConnect: false,
  })
  const store = redisStore({ connection: redis }).factory()
  await redis.ping()
  return {
    store,
    raw: {
      async get(key) {
        // Verrou's Redis data is the owner token at the key, with a PX lease (-1: none). The
        // clock is read before asking, so `expiration` is never later than the real expiry.
        const before = Date.now()
        const [owner, pttl] = await Promise.all([redis.get(key), redis.pttl(key)])
        if (owner === null) return null
        return { owner, expiration: pttl < 0 ? null : before + pttl, pttl }
      },
      async put(key, owner, expiration) {
        if (expiration === null) await redis.set(key, owner)
        else await redis.set(key, owner, 'PX', Math.max(1, expiration - Date.now()))
      },
      async columns() {
        return [await redis.type('verrou-interop:none')]
      },
      async drop() {},
    },
    close: () => redis.quit(),
  }
}

async function openDynamo(url) {
  const sdk = await import('@aws-sdk/client-dynamodb')
  const table = param(url, 'table', 'verrou')
  const client = new sdk.DynamoDBClient({
    region: param(url, 'region', 'us-east-1'),
    endpoint: param(url, 'endpoint', 'http://127.0.0.1:8000'),
    credentials: kTestCredentials,
    maxAttempts: 3,
  })
  const store = dynamodbStore({ connection: client, table: { name: table } }).factory()
  // Verrou's driver sends CreateTable from its constructor but does not wait for the table to
  // become ACTIVE (its first GetItem can then fail with ResourceNotFoundException): wait here.
  for (let i = 0; ; i++) {
    if (i >= 400) throw new Error(`DynamoDB table "${table}" did not become ACTIVE in 20 s`)
    try {
      const d = await client.send(new sdk.DescribeTableCommand({ TableName: table }))
      if (d.Table.TableStatus === 'ACTIVE') break
    } catch (e) {
      if (!(e instanceof sdk.ResourceNotFoundException)) throw e
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  await store.exists('verrou-interop:warm-up')
  return {
    store,
    raw: {
      async get(key) {
        const r = await client.send(
          new sdk.GetItemCommand({ TableName: table, Key: { key: { S: key } }, ConsistentRead: true }),
        )
        if (!r.Item) return null
        return {
          owner: r.Item.owner?.S ?? null,
          expiration: r.Item.expires_at?.N === undefined ? null : Number(r.Item.expires_at.N),
          attributes: Object.keys(r.Item).sort(),
        }
      },
      async put(key, owner, expiration) {
        const Item = { key: { S: key }, owner: { S: owner } }
        if (expiration !== null) Item.expires_at = { N: String(expiration) }
        await client.send(new sdk.PutItemCommand({ TableName: table, Item }))
      },
      async columns() {
        const d = await client.send(new sdk.DescribeTableCommand({ TableName: table }))
        return d.Table.KeySchema.map((k) => `${k.AttributeName}:${k.KeyType}`)
      },
      async drop() {
        try {
          await client.send(new sdk.DeleteTableCommand({ TableName: table }))
        } catch (e) {
          if (!(e instanceof sdk.ResourceNotFoundException)) throw e
        }
      },
    },
    close: async () => client.destroy(),
  }
}

async function openMemory() {
  return {
    store: memoryStore().factory(),
    raw: {
      async get() { return null },
      async put() {},
      async columns() { return [] },
      async drop() {},
    },
    close: async () => {},
  }
}

/// Opens Verrou on the store `text` names (see the file comment). `driver` "kysely" picks
/// Verrou's kysely store instead of its knex store for SQL databases.
export async function openStore(text, factoryOptions = {}, driver = 'knex') {
  const url = new URL(text)
  const scheme = url.protocol.replace(/:$/, '')
  let opened
  switch (scheme) {
    case 'memory': opened = await openMemory(); break
    case 'redis': opened = await openRedis(url); break
    case 'sqlite': opened = await openKnex(url, 'better-sqlite3', driver); break
    case 'postgres': case 'postgresql': opened = await openKnex(url, 'pg', driver); break
    case 'mysql': case 'mariadb': opened = await openKnex(url, 'mysql2', driver); break
    case 'dynamodb': opened = await openDynamo(url); break
    default: throw new Error(`unsupported store URL scheme "${scheme}"`)
  }
  return { ...opened, factory: new LockFactory(opened.store, factoryOptions) }
}
