/** An upload cut off mid-body, as a dropped network leaves it, for the tests that a cut upload stores nothing. */
import { connect as tcpConnect } from 'node:net';

/**
 * Sends `POST /api/attachments` with the visitor's `token` over a raw TCP connection: the headers and half of `body`
 * reach the bridge, then the connection is destroyed (a dropped network, not a clean close). Resolves once the half
 * is written.
 */
export function cutUpload(port: number, token: string, body: Uint8Array, query: { uploadKey: string; name: string }): Promise<void> {
  const search = new URLSearchParams(query).toString();
  return new Promise<void>((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.write(
        `POST /api/attachments?${search} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Length: ${body.byteLength}\r\n\r\n`,
      );
      socket.write(body.subarray(0, body.byteLength / 2), () => {
        socket.destroy();
        resolve();
      });
    });
    socket.on('error', reject);
  });
}
