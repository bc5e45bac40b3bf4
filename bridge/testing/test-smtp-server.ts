/**
 * A real SMTP server on loopback for notification tests: it accepts every mail (no TLS, no auth), parses it with
 * mailparser and keeps it with its envelope; `refuseNext` makes it answer a recipient with a temporary failure.
 */
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

/** One received mail: the SMTP envelope's recipients and the parsed message. */
export interface ReceivedMail {
  rcptTo: string[];
  mail: ParsedMail;
}

/** A running loopback SMTP server. */
export interface TestSmtpServer {
  /** `smtp://127.0.0.1:<port>` */
  url: string;
  received: ReceivedMail[];
  /** The next RCPT TO naming `address` is answered `451` (a temporary failure), once. */
  refuseNext(address: string): void;
  close(): Promise<void>;
}

/** Starts the server on a free port. */
export async function startTestSmtpServer(): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const refusals = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refusals.delete(address.address)) {
        callback(Object.assign(new Error('try again later'), { responseCode: 451 }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          received.push({ rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address), mail });
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  if (!address || typeof address !== 'object') throw new Error('SMTP test server has no address');
  return {
    url: `smtp://127.0.0.1:${address.port}`,
    received,
    refuseNext: (address) => void refusals.add(address),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
