/**
 * Test support: inbound WhatsApp Cloud API webhook bodies in Meta's shape (as in the real bodies under
 * shared/fixtures/whatsapp), for the tests that post them to a bridge.
 */

/** A body carrying `messages` from `waId` to `phoneNumberId`, in that order; each gets `from` and, unless given, a timestamp. */
export function inboundMessagesBody(waId: string, phoneNumberId: string, messages: Record<string, unknown>[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
                contacts: [{ profile: { name: 'Sheena Nelson' }, wa_id: waId }],
                // Meta sends the timestamp as a string of Unix seconds.
                messages: messages.map((m) => ({ from: waId, timestamp: '1749416383', ...m })),
              },
            },
          ],
        },
      ],
    }),
  );
}
