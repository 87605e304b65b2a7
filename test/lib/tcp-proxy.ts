/**
 * A TCP proxy on a random loopback port, to inject one fault: a network
 * partition between a client and a server (cut() drops every connection
 * and refuses new ones until heal()). Bytes are passed through untouched.
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, scheme = 'nats'): Promise<TcpProxy> {
  const socks = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((c) => {
    if (cut) {
      c.destroy();
      return;
    }
    const u = net.connect({ host: '127.0.0.1', port: targetPort });
    socks.add(c);
    socks.add(u);
    const drop = (): void => {
      c.destroy();
      u.destroy();
      socks.delete(c);
      socks.delete(u);
    };
    c.on('error', drop).on('close', drop);
    u.on('error', drop).on('close', drop);
    c.pipe(u);
    u.pipe(c);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    cut() {
      cut = true;
      for (const s of socks) s.destroy();
      socks.clear();
    },
    heal() {
      cut = false;
    },
    close() {
      for (const s of socks) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
