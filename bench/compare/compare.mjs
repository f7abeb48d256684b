// SPDX-License-Identifier: Apache-2.0
//
// The @verrou/core half of the side-by-side comparison (bench/compare/run.sh runs both halves).
// Same workloads as compare.cpp, call for call:
//
//   cycle      one worker: acquire() + release() on one lock, over and over
//   parallel   32 concurrent async workers in this process, each on its own key
//   handoff    two async workers on one key, each: acquire({retry.delay}) → hold 1 ms → release()
//   is_locked  isLocked() on a held key, over and over
//
//   node compare.mjs --store URL [--seconds 3] [--workers 32] [--delays 250,10] [--only ...]
//
// Uses the npm packages of tests/interop/node (installed by tests/interop/install-node.sh).
// Prints one JSON object per workload on stdout (rates per second, latencies in µs).
import { setTimeout as sleep } from 'node:timers/promises'
import { openStore } from '../../tests/interop/node/stores.mjs'

const args = { seconds: 3, workers: 32, delays: [250, 10], only: '' }
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  const v = process.argv[++i]
  if (v === undefined) throw new Error(`${a} needs a value`)
  if (a === '--store') args.store = v
  else if (a === '--seconds') args.seconds = Number(v)
  else if (a === '--workers') args.workers = Number(v)
  else if (a === '--delays') args.delays = v.split(',').map(Number)
  else if (a === '--only') args.only = v
  else throw new Error(`unknown option ${a}`)
}
if (!args.store) throw new Error('--store URL is required')
const wanted = (name) => args.only === '' || args.only.split(',').includes(name)

const nowNs = () => process.hrtime.bigint()
// CPU time (user + system) this process has used, in µs: the client's own cost, which a busy
// machine does not inflate the way it does wall-clock rates.
const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system }
const key = (name) => `verrou-compare:node:${process.pid}:${name}`
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// The q-quantile of `ns` (BigInt nanoseconds) in µs; 0 when empty.
function quantileUs(ns, q) {
  if (ns.length === 0) return 0
  const sorted = ns.map(Number).sort((a, b) => a - b)
  return sorted[Math.round(q * (sorted.length - 1))] / 1000
}

async function cycle(factory) {
  const lock = factory.createLock(key('cycle'), 30000)
  for (let i = 0; i < 20; i++) {
    await lock.acquire()
    await lock.release()
  }
  const lat = []
  const cpu0 = cpuUs()
  const start = nowNs()
  const end = start + BigInt(Math.round(args.seconds * 1e9))
  let now = start
  while (now < end) {
    const t0 = now
    if (!(await lock.acquire())) throw new Error('cycle: not acquired')
    await lock.release()
    now = nowNs()
    lat.push(now - t0)
  }
  const cpu = cpuUs() - cpu0
  const elapsed = Number(now - start) / 1e9
  emit({ workload: 'cycle', rate: lat.length / elapsed, p50_us: quantileUs(lat, 0.5),
         p99_us: quantileUs(lat, 0.99), cpu_us: cpu / lat.length, count: lat.length })
}

async function parallel(factory) {
  const locks = Array.from({ length: args.workers }, (_, w) => factory.createLock(key(`parallel:${w}`), 30000))
  await Promise.all(locks.map(async (lock) => { await lock.acquire(); await lock.release() }))
  // Each worker watches the clock itself: with the memory store no worker ever waits for I/O,
  // so a timer set to stop them would never get its turn.
  const cpu0 = cpuUs()
  const start = nowNs()
  const end = start + BigInt(Math.round(args.seconds * 1e9))
  const counts = locks.map(async (lock) => {
    let n = 0
    while (nowNs() < end) {
      if (!(await lock.acquire())) throw new Error('parallel: not acquired')
      await lock.release()
      n++
    }
    return n
  })
  const total = (await Promise.all(counts)).reduce((a, b) => a + b, 0)
  const cpu = cpuUs() - cpu0
  const elapsed = Number(nowNs() - start) / 1e9
  emit({ workload: 'parallel', workers: args.workers, rate: total / elapsed, cpu_us: cpu / total, count: total })
}

async function handoff(factory, delay) {
  const k = key(`handoff:${delay}`)
  const origin = nowNs()
  const end = origin + BigInt(Math.round(args.seconds * 1e9))
  let lastHolder = -1
  let lastRelease = 0n
  const waits = []
  let longestAcquire = 0n
  const acquisitions = [0, 0]
  const worker = async (me) => {
    const lock = factory.createLock(k, 30000)
    while (nowNs() < end) {
      const asked = nowNs()
      const left = Number(end - asked) / 1e6 + 1000
      if (!(await lock.acquire({ retry: { delay, timeout: left } }))) break
      const got = nowNs()
      if (got - asked > longestAcquire) longestAcquire = got - asked
      acquisitions[me]++
      if (lastHolder >= 0 && lastHolder !== me) waits.push(got - lastRelease)
      lastHolder = me
      await sleep(1) // the work done under the lock
      lastRelease = nowNs()
      await lock.release()
    }
  }
  await Promise.all([worker(0), worker(1)])
  const elapsed = Number(nowNs() - origin) / 1e9
  emit({ workload: 'handoff', delay_ms: delay, rate: waits.length / elapsed,
         p50_us: quantileUs(waits, 0.5), p99_us: quantileUs(waits, 0.99),
         longest_acquire_us: Number(longestAcquire) / 1000, acquisitions })
}

async function isLocked(factory) {
  const holder = factory.createLock(key('is_locked'), 60000)
  if (!(await holder.acquire())) throw new Error('is_locked: not acquired')
  const probe = factory.createLock(key('is_locked'), 60000)
  for (let i = 0; i < 20; i++) await probe.isLocked()
  let n = 0
  const cpu0 = cpuUs()
  const start = nowNs()
  const end = start + BigInt(Math.round(args.seconds * 1e9))
  let now = start
  while (now < end) {
    if (!(await probe.isLocked())) throw new Error('is_locked: lock not seen')
    n++
    now = nowNs()
  }
  const cpu = cpuUs() - cpu0
  await holder.release()
  emit({ workload: 'is_locked', rate: n / (Number(now - start) / 1e9), cpu_us: cpu / n })
}

// A workload that fails is reported as such (with Verrou's error) and the others still run.
async function attempt(workload, extra, fn) {
  try {
    await fn()
  } catch (e) {
    emit({ workload, ...extra, error: `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}` })
  }
}

const opened = await openStore(args.store)
try {
  const f = opened.factory
  if (wanted('cycle')) await attempt('cycle', {}, () => cycle(f))
  if (wanted('parallel')) await attempt('parallel', {}, () => parallel(f))
  if (wanted('handoff')) {
    for (const d of args.delays) await attempt('handoff', { delay_ms: d }, () => handoff(f, d))
  }
  if (wanted('is_locked')) await attempt('is_locked', {}, () => isLocked(f))
} finally {
  await opened.close()
}
process.exit(0)
