// SPDX-License-Identifier: Apache-2.0
//
// Turns bench/compare/run.sh's raw results into the comparison tables (Markdown, on stdout),
// the data files compare.gp draws, and optionally the results section of docs/benchmarks.md.
//
//   node report.mjs <results dir> [--docs docs/benchmarks.md]
import fs from 'node:fs'
import path from 'node:path'

const dir = process.argv[2]
const docsAt = process.argv.indexOf('--docs')
const docs = docsAt > 0 ? process.argv[docsAt + 1] : null

const kStores = [
  ['memory', 'memory'],
  ['redis', 'Redis'],
  ['sqlite', 'SQLite (file)'],
  ['postgres', 'PostgreSQL'],
  ['mysql', 'MariaDB'],
  ['dynamodb', 'DynamoDB (dynalite)'],
]

const machine = Object.fromEntries(
  fs.readFileSync(path.join(dir, 'machine.txt'), 'utf8').split('\n').filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
)

function load(store, side) {
  const file = path.join(dir, `${store}.${side}.jsonl`)
  if (!fs.existsSync(file)) return null
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  // Several rounds: the best (highest rate) that did not fail; else the first failure.
  const find = (workload, delay) => {
    const all = rows.filter((r) => r.workload === workload && (delay === undefined || r.delay_ms === delay))
    const good = all.filter((r) => !r.error).sort((a, b) => b.rate - a.rate)
    return good[0] ?? all[0]
  }
  return { find }
}

function rate(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—'
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)} k`
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`
  if (v >= 10) return v.toFixed(0)
  return v.toFixed(1)
}
function us(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—'
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} s`
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)} ms`
  if (v >= 10) return `${v.toFixed(0)} µs`
  return `${v.toFixed(1)} µs`
}
// How many times better verrou-cpp is: a ratio of rates, or the inverse ratio of times.
function ratio(cpp, node, higherIsBetter = true) {
  if (!(cpp > 0) || !(node > 0)) return '—'
  const r = higherIsBetter ? cpp / node : node / cpp
  return r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(r >= 1 ? 1 : 2)}×`
}
// A failed workload shows its error code; the raw results keep the whole message.
const err = (row) => (row?.error ? `fails: ${row.error.split(':')[0]}` : null)

const full = ['| store | measure | verrou-cpp | @verrou/core | ratio |', '| --- | --- | --- | --- | --- |']
const summary = [
  '| store | one worker (cycles/s) | 32 workers (cycles/s) | hand-off wait p50 (10 ms retry delay) | hand-offs/s (250 ms) | is_locked (calls/s) |',
  '| --- | --- | --- | --- | --- | --- |',
]
// Semaphores: verrou-cpp only (@verrou/core has none), beside the lock figures.
const semaphores = [
  '| store | lock: acquire + release, one worker (cycles/s) | semaphore of 8: acquire + release, one worker (cycles/s) | lock: 32 workers, distinct keys (cycles/s) | semaphore of 8: 32 workers holding 1 ms (cycles/s, at most 8 000) | most holders at once; permit wait p50 / p99 |',
  '| --- | --- | --- | --- | --- | --- |',
]
const noSemaphores = '@verrou/core has none'
const rates = []
const handoffs = []
for (const [store, label] of kStores) {
  const cpp = load(store, 'cpp')
  const node = load(store, 'node')
  if (!cpp && !node) continue
  const c = (w, d) => cpp?.find(w, d)
  const n = (w, d) => node?.find(w, d)
  let first = true
  const row = (measure, a, b, r) => {
    full.push(`| ${first ? `**${label}**` : ''} | ${measure} | ${a} | ${b} | ${r} |`)
    first = false
  }
  row('cycle, one worker (cycles/s)', err(c('cycle')) ?? rate(c('cycle')?.rate),
      err(n('cycle')) ?? rate(n('cycle')?.rate), ratio(c('cycle')?.rate, n('cycle')?.rate))
  row('cycle latency p50 / p99', `${us(c('cycle')?.p50_us)} / ${us(c('cycle')?.p99_us)}`,
      `${us(n('cycle')?.p50_us)} / ${us(n('cycle')?.p99_us)}`,
      `${ratio(c('cycle')?.p50_us, n('cycle')?.p50_us, false)} / ${ratio(c('cycle')?.p99_us, n('cycle')?.p99_us, false)}`)
  row('client CPU per cycle (user + system)', us(c('cycle')?.cpu_us), us(n('cycle')?.cpu_us),
      ratio(c('cycle')?.cpu_us, n('cycle')?.cpu_us, false))
  row('32 workers, distinct keys (cycles/s)', err(c('parallel')) ?? rate(c('parallel')?.rate),
      err(n('parallel')) ?? rate(n('parallel')?.rate), ratio(c('parallel')?.rate, n('parallel')?.rate))
  row('client CPU per cycle, 32 workers', us(c('parallel')?.cpu_us), us(n('parallel')?.cpu_us),
      ratio(c('parallel')?.cpu_us, n('parallel')?.cpu_us, false))
  for (const d of [250, 10]) {
    const hc = c('handoff', d)
    const hn = n('handoff', d)
    row(`hand-off, ${d} ms retry delay (hand-offs/s)`, err(hc) ?? rate(hc?.rate), err(hn) ?? rate(hn?.rate),
        ratio(hc?.rate, hn?.rate))
    if (!hc?.error || !hn?.error) {
      row(`hand-off wait p50 / p99 (${d} ms)`, hc?.error ? '—' : `${us(hc?.p50_us)} / ${us(hc?.p99_us)}`,
          hn?.error ? '—' : `${us(hn?.p50_us)} / ${us(hn?.p99_us)}`,
          `${ratio(hc?.p50_us, hn?.p50_us, false)} / ${ratio(hc?.p99_us, hn?.p99_us, false)}`)
      row(`longest acquire; acquisitions per worker (${d} ms)`,
          hc?.error ? '—' : `${us(hc?.longest_acquire_us)}; ${hc?.acquisitions?.join(' / ')}`,
          hn?.error ? '—' : `${us(hn?.longest_acquire_us)}; ${hn?.acquisitions?.join(' / ')}`, '')
    }
  }
  row('is_locked on a held key (calls/s)', err(c('is_locked')) ?? rate(c('is_locked')?.rate),
      err(n('is_locked')) ?? rate(n('is_locked')?.rate), ratio(c('is_locked')?.rate, n('is_locked')?.rate))
  const sc = c('semaphore_cycle')
  const sp = c('semaphore_parallel')
  if (sc || sp) {
    row('semaphore of 8, acquire + release, one worker (cycles/s)', err(sc) ?? rate(sc?.rate), noSemaphores, '—')
    if (sc && !sc.error) row('semaphore cycle latency p50 / p99', `${us(sc.p50_us)} / ${us(sc.p99_us)}`, '', '')
    row('semaphore of 8, 32 workers holding 1 ms (cycles/s)', err(sp) ?? rate(sp?.rate), noSemaphores, '—')
    if (sp && !sp.error) {
      row('most holders at once; permit wait p50 / p99',
          `${sp.most_inside}; ${us(sp.acquire_p50_us)} / ${us(sp.acquire_p99_us)}`, '', '')
    }
    semaphores.push(`| ${label} | ${err(c('cycle')) ?? rate(c('cycle')?.rate)} | ${err(sc) ?? rate(sc?.rate)}` +
      ` | ${err(c('parallel')) ?? rate(c('parallel')?.rate)} | ${err(sp) ?? rate(sp?.rate)}` +
      ` | ${sp && !sp.error ? `${sp.most_inside}; ${us(sp.acquire_p50_us)} / ${us(sp.acquire_p99_us)}` : '—'} |`)
  }

  const h10c = c('handoff', 10)
  const h10n = n('handoff', 10)
  summary.push(`| ${label} | ${rate(c('cycle')?.rate)} vs ${rate(n('cycle')?.rate)} (**${ratio(c('cycle')?.rate, n('cycle')?.rate)}**)` +
    ` | ${rate(c('parallel')?.rate)} vs ${rate(n('parallel')?.rate)} (**${ratio(c('parallel')?.rate, n('parallel')?.rate)}**)` +
    ` | ${h10c?.error ? 'fails' : us(h10c?.p50_us)} vs ${h10n?.error ? 'fails' : us(h10n?.p50_us)}` +
    ` | ${rate(c('handoff', 250)?.rate)} vs ${n('handoff', 250)?.error ? 'fails' : rate(n('handoff', 250)?.rate)}` +
    ` | ${rate(c('is_locked')?.rate)} vs ${rate(n('is_locked')?.rate)} (**${ratio(c('is_locked')?.rate, n('is_locked')?.rate)}**) |`)

  const v = (x) => (x > 0 ? x : 'NaN')
  rates.push(`"${label}" ${v(c('cycle')?.rate)} ${v(n('cycle')?.rate)} ${v(c('parallel')?.rate)} ${v(n('parallel')?.rate)}`)
  const h = (r) => (r && !r.error && r.p50_us > 0 ? `${r.p50_us} ${r.p50_us} ${r.p99_us}` : 'NaN NaN NaN')
  handoffs.push(`"${label}" ${h(c('handoff', 250))} ${h(n('handoff', 250))} ${h(c('handoff', 10))} ${h(n('handoff', 10))}`)
}

fs.writeFileSync(path.join(dir, 'rates.dat'), '# store cpp_cycle node_cycle cpp_parallel node_parallel\n' + rates.join('\n') + '\n')
fs.writeFileSync(path.join(dir, 'handoff.dat'),
  '# store, then (p50 p50 p99) for cpp@250 node@250 cpp@10 node@10, µs\n' + handoffs.join('\n') + '\n')

const m = machine
const machineText = [
  `${m.date}: ${m.nproc} CPUs (${m.cpu}), ${m.memory_gib} GiB RAM, Debian ${m.debian}, Linux ${m.kernel}, ` +
    `${m.compiler}, Node.js ${m.node}.`,
  `Servers on loopback: Redis ${m.redis}, PostgreSQL ${m.postgres}, MariaDB ${m.mariadb}, ` +
    `dynalite ${m.dynalite}; SQLite ${m.sqlite} (verrou-cpp, libsqlite3) and better-sqlite3's own ` +
    `build (Verrou). ${m.seconds} s per workload, best of ${m.rounds} round(s); SQL pools of ${m.pool} connections on both sides; ` +
    `load average ${m.load_before} before, ${m.load_after} after.`,
].join('\n')

const semaphoreText = semaphores.length > 2
  ? ['### Semaphores (verrou-cpp only), beside the locks', '', ...semaphores, '']
  : []
const text = [
  machineText, '', '### Summary (verrou-cpp vs @verrou/core)', '', ...summary, '',
  ...semaphoreText, '### Every measure', '', ...full, '',
].join('\n')
process.stdout.write(text)

if (docs) {
  const begin = '<!-- compare:begin -->'
  const end = '<!-- compare:end -->'
  const old = fs.readFileSync(docs, 'utf8')
  const i = old.indexOf(begin)
  const j = old.indexOf(end)
  if (i < 0 || j < i) throw new Error(`${docs} has no ${begin} … ${end} section`)
  fs.writeFileSync(docs, old.slice(0, i + begin.length) + '\n' + text + old.slice(j))
  process.stderr.write(`== results written to ${docs}\n`)
}
