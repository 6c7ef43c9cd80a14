// The reference WebTorrent tracker (npm bittorrent-tracker) on 127.0.0.1, for
// interoperability tests. Prints `listening on ws://127.0.0.1:PORT` when ready.
import Server from 'bittorrent-tracker/server'

const server = new Server({ udp: false, http: false, ws: true, stats: false })
server.on('error', err => { console.error(err.message); process.exit(1) })
server.on('warning', err => { console.error('warning:', err.message) })
server.on('listening', () => {
  const { port } = server.ws.address()
  console.log(`listening on ws://127.0.0.1:${port}`)
})
server.listen(0, '127.0.0.1')
