/**
 * A local fake of Slack's Socket Mode endpoint: a minimal WebSocket server (RFC 6455 handshake,
 * unfragmented text frames, ping → pong, close) on a free port. The fake Slack Web API answers
 * `apps.connections.open` with its `ws://127.0.0.1:…` URL; on connect it says `hello`, as Slack
 * does; tests send envelopes (interactive payloads, events) and wait for the client's
 * acknowledgement of each envelope id.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface FakeSocketMode {
  url: string;
  /** Resolves once a client has connected (and been told hello). */
  connected(timeoutMs?: number): Promise<void>;
  /** Sends an envelope of `type` with `payload`; resolves with the client's acknowledgement. */
  send(type: 'interactive' | 'events_api' | 'slash_commands', payload: unknown, timeoutMs?: number): Promise<{ envelope_id: string; payload?: unknown }>;
  close(): Promise<void>;
}

const magic = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0x80 | opcode, length]) : length < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (length >= 126 && length < 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(length, 2);
  } else if (length >= 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([head, payload]);
}

/** Parses complete client frames (always masked) off the front of `buffer`. */
function parseFrames(buffer: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const opcode = (buffer[offset] ?? 0) & 0x0f;
    const second = buffer[offset + 1] ?? 0;
    let length = second & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (buffer.length < at + 2) break;
      length = buffer.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (buffer.length < at + 8) break;
      length = Number(buffer.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (second & 0x80) !== 0;
    const maskEnd = at + (masked ? 4 : 0);
    if (buffer.length < maskEnd + length) break;
    const payload = Buffer.from(buffer.subarray(maskEnd, maskEnd + length));
    if (masked) for (let i = 0; i < payload.length; i += 1) payload[i] = (payload[i] ?? 0) ^ (buffer[at + (i % 4)] ?? 0);
    frames.push({ opcode, payload });
    offset = maskEnd + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

export async function startFakeSocketMode(): Promise<FakeSocketMode> {
  const sockets = new Set<Duplex>();
  const acks = new Map<string, (ack: { envelope_id: string; payload?: unknown }) => void>();
  const onConnect = new Set<() => void>();
  const server = createServer((_req, res) => res.writeHead(426).end('WebSocket only'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1')
      .update(key + magic)
      .digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const parsed = parseFrames(Buffer.concat([pending, chunk]));
      pending = parsed.rest;
      for (const { opcode, payload } of parsed.frames) {
        if (opcode === 0x9) socket.write(frame(0xa, payload));
        else if (opcode === 0x8) socket.end(frame(0x8, payload.subarray(0, 2)));
        else if (opcode === 0x1) {
          const message = JSON.parse(payload.toString('utf8')) as { envelope_id?: string; payload?: unknown };
          if (message.envelope_id) acks.get(message.envelope_id)?.({ envelope_id: message.envelope_id, payload: message.payload });
        }
      }
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
    socket.write(frame(0x1, Buffer.from(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake-socket-mode' } }))));
    for (const notify of onConnect) notify();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo; // TCP listener
  const waitFor = <T>(what: string, timeoutMs: number, register: (done: (value: T) => void) => () => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let unregister: () => void = () => undefined;
      const timer = setTimeout(() => {
        unregister();
        reject(new Error(`fake Socket Mode: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      unregister = register((value) => {
        clearTimeout(timer);
        unregister();
        resolve(value);
      });
    });
  return {
    url: `ws://127.0.0.1:${port}/link`,
    connected: (timeoutMs = 10_000) =>
      sockets.size > 0
        ? Promise.resolve()
        : waitFor<void>('connection', timeoutMs, (done) => {
            const notify = () => done(undefined);
            onConnect.add(notify);
            return () => onConnect.delete(notify);
          }),
    send(type, payload, timeoutMs = 10_000) {
      const [socket] = sockets;
      if (!socket) return Promise.reject(new Error('fake Socket Mode: no client connected'));
      const envelopeId = randomUUID();
      const acked = waitFor<{ envelope_id: string; payload?: unknown }>(`acknowledgement of ${envelopeId}`, timeoutMs, (done) => {
        acks.set(envelopeId, done);
        return () => acks.delete(envelopeId);
      });
      socket.write(frame(0x1, Buffer.from(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'events_api' }))));
      return acked;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
