/** Case 5 at the function: the ≥ 20-row `X-Hub-Signature-256` table against `verifyMetaSignature`. */
import { describe, expect, it } from 'vitest';
import { verifyMetaSignature } from '../bridge/webhooks/signatures.ts';
import { signatureCases, whatsappInboundBody } from './signature-cases.ts';

const APP_SECRET = 'torture-app-secret-0123456789';

const cases = signatureCases(APP_SECRET, (n, text) =>
  whatsappInboundBody({ phoneNumberId: '1234', waId: '15550009999', wamid: `wamid.T${n}`, text }),
);

describe('X-Hub-Signature-256 table (verify function)', () => {
  it('has at least 20 cases, valid and invalid', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    expect(cases.some((c) => c.valid)).toBe(true);
    expect(cases.filter((c) => !c.valid).length).toBeGreaterThanOrEqual(15);
  });

  for (const c of cases) {
    it(`${c.valid ? 'accepts' : 'refuses'}: ${c.name}`, () => {
      // A duplicated header reaches a handler either as an array or joined with ", " (Node's rule for x- headers).
      const forms: (string | string[] | undefined)[] =
        c.header.length === 0 ? [undefined] : c.header.length === 1 ? [c.header[0]] : [c.header, c.header.join(', ')];
      for (const header of forms) expect(verifyMetaSignature(c.body, header, APP_SECRET)).toBe(c.valid);
    });
  }
});
