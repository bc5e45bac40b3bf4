/**
 * Case 5: the table of `X-Hub-Signature-256` cases for the WhatsApp webhook. Each case is a raw body plus the
 * header value(s) a sender puts on it and whether the signature must be accepted. Used both against the
 * verify function directly and over HTTP (invalid → 401, valid → 2xx, never 5xx).
 */
import { createHmac } from 'node:crypto';

/** One row of the signature table. */
export interface SignatureCase {
  name: string;
  body: Buffer;
  /** Header values: none (missing), one, or several (a duplicated header). */
  header: string[];
  valid: boolean;
}

/** A realistic WhatsApp Cloud API inbound webhook body for `phoneNumberId`, with `text` from `waId`. */
export function whatsappInboundBody(opts: { phoneNumberId: string; waId: string; wamid: string; text: string }): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA_ID',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001111', phone_number_id: opts.phoneNumberId },
              contacts: [{ profile: { name: 'Torture Tester' }, wa_id: opts.waId }],
              messages: [
                {
                  from: opts.waId,
                  id: opts.wamid,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: 'text',
                  text: { body: opts.text },
                },
              ],
            },
          },
        ],
      },
    ],
  });
}

function hmacHex(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * The table (≥ 20 rows). `makeBody(n)` gives a fresh valid body per row, so a valid row is never a replay of
 * another row's body.
 */
export function signatureCases(appSecret: string, makeBody: (n: number, text: string) => string): SignatureCase[] {
  let n = 0;
  const body = (text = 'hello') => Buffer.from(makeBody(n++, text), 'utf8');
  const sig = (b: Buffer | string, secret = appSecret) => `sha256=${hmacHex(secret, b)}`;
  const rows: SignatureCase[] = [];
  const add = (name: string, b: Buffer, header: string[], valid: boolean) => rows.push({ name, body: b, header, valid });

  let b = body();
  add('valid lower-case hex', b, [sig(b)], true);
  b = body('emoji 😀🎉 and ümlaut');
  add('valid, body with emoji signed over its UTF-8 bytes', b, [sig(b)], true);
  b = body();
  add('upper-case hex of the right digest', b, [`sha256=${hmacHex(appSecret, b).toUpperCase()}`], true);
  b = body();
  add('missing header', b, [], false);
  b = body();
  add('empty header', b, [''], false);
  b = body();
  add('"sha256=" only', b, ['sha256='], false);
  b = body();
  add('hex without the sha256= prefix', b, [hmacHex(appSecret, b)], false);
  b = body();
  add('wrong length (two hex digits short)', b, [sig(b).slice(0, -2)], false);
  b = body();
  add('wrong length (two extra hex digits)', b, [`${sig(b)}00`], false);
  b = body();
  add('non-hex characters at the right length', b, [`sha256=${'zz'}${hmacHex(appSecret, b).slice(2)}`], false);
  b = body();
  add('all-zero digest', b, [`sha256=${'0'.repeat(64)}`], false);
  b = body();
  add('signed with the wrong secret', b, [sig(b, `${appSecret}x`)], false);
  b = body();
  add('sha1= prefix with a SHA-1 HMAC', b, [`sha1=${createHmac('sha1', appSecret).update(b).digest('hex')}`], false);
  b = body();
  add('SHA256= prefix in capitals', b, [`SHA256=${hmacHex(appSecret, b)}`], false);
  b = body();
  add('duplicated header: valid then invalid', b, [sig(b), `sha256=${'0'.repeat(64)}`], false);
  b = body();
  add('duplicated header: invalid then valid', b, [`sha256=${'0'.repeat(64)}`, sig(b)], false);
  b = body();
  {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(b.toString('utf8')), null, 2));
    add('body re-serialised after signing', reserialised, [sig(b)], false);
  }
  b = body('emoji 😀');
  {
    // The same JSON with the emoji written as \u escapes: equal after parsing, different bytes.
    const escaped = Buffer.from(b.toString('utf8').replace('😀', '\\ud83d\\ude00'));
    add('emoji body re-encoded as \\u escapes after signing', escaped, [sig(b)], false);
  }
  b = body();
  add('trailing newline appended after signing', Buffer.concat([b, Buffer.from('\n')]), [sig(b)], false);
  b = body();
  add('body truncated after signing', b.subarray(0, b.length - 1), [sig(b)], false);
  b = body();
  add('signature of an empty body', b, [sig(Buffer.alloc(0))], false);
  b = body();
  add('HMAC with key and message swapped', b, [`sha256=${createHmac('sha256', b).update(appSecret).digest('hex')}`], false);
  b = body();
  add('digest base64-encoded instead of hex', b, [`sha256=${createHmac('sha256', appSecret).update(b).digest('base64')}`], false);
  b = body();
  add('"sha256=" twice', b, [`sha256=${sig(b)}`], false);
  {
    const other = body();
    b = body();
    add("another body's valid signature", b, [sig(other)], false);
  }
  return rows;
}
