/**
 * The Store contract every engine must pass: `describeStoreContract(engine)` registers one Vitest suite, run by
 * `store-contract.test.ts` (lowdb) and `postgres/store-contract.postgres.test.ts` (PostgreSQL). Each check also runs
 * across a close/open, so what a method promises survives a restart.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PENDING_STATUS_NAMESPACE, StoreError, type Store } from './store.ts';

/** One engine under test. */
export interface StoreEngine {
  name: string;
  /** Fresh, empty storage for one test; `make` opens a store on it (again: a restart), `dispose` removes it. */
  create(): Promise<{ make(clock: () => Date): Store; dispose(): Promise<void> }>;
}

/** Registers the contract suite for `engine`. */
export function describeStoreContract(engine: StoreEngine): void {
  describe(`Store contract: ${engine.name}`, () => {
    let storage: Awaited<ReturnType<StoreEngine['create']>>;
    let store: Store;
    let now: number;
    const clock = (): Date => new Date(now);
    const tick = (ms = 1000): void => {
      now += ms;
    };

    beforeEach(async () => {
      now = Date.parse('2026-01-01T00:00:00.000Z');
      storage = await engine.create();
      store = storage.make(clock);
      await store.open();
    });

    afterEach(async () => {
      await store.close();
      await storage.dispose();
    });

    async function restart(): Promise<void> {
      await store.close();
      store = storage.make(clock);
      await store.open();
    }

    async function conversationWith(id: string, texts: { role: 'visitor' | 'agent'; text: string }[]) {
      await store.createConversation({ id, channel: 'web', name: `Visitor ${id}` });
      const messages = [];
      for (const [i, { role, text }] of texts.entries()) {
        tick();
        messages.push((await store.appendMessage({ conversationId: id, clientId: `${id}-${i}`, author: { role }, text })).message);
      }
      return messages;
    }

    it('creates a conversation with defaults; creating an existing id returns it unchanged', async () => {
      const created = await store.createConversation({ id: 'c1', channel: 'web', name: 'Visitor A', site: 'shop' });
      expect(created).toEqual({
        id: 'c1',
        channel: 'web',
        name: 'Visitor A',
        site: 'shop',
        state: 'open',
        createdAt: '2026-01-01T00:00:00.000Z',
        lastActivityAt: '2026-01-01T00:00:00.000Z',
        lastSeq: 0,
        rev: 0,
        agentReadSeq: 0,
        visitorReadSeq: 0,
        unread: 0,
      });
      tick();
      const [a, b] = await Promise.all([
        store.createConversation({ id: 'c1', channel: 'whatsapp', name: 'Other' }),
        store.createConversation({ id: 'c1', channel: 'xmtp', name: 'Third' }),
      ]);
      expect(a).toEqual(created);
      expect(b).toEqual(created);
      const generated = await store.createConversation({ channel: 'web', name: 'Visitor B' });
      expect(generated.id).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      expect(await store.getConversation('missing')).toBeUndefined();
      await restart();
      expect(await store.getConversation('c1')).toEqual(created);
      expect((await store.getConversation(generated.id))?.name).toBe('Visitor B');
    });

    it('links and finds conversations by external user, and changes state', async () => {
      await store.createConversation({ id: 'w1', channel: 'whatsapp', name: 'Ana', externalUserId: '4915550001' });
      await store.createConversation({ id: 'web1', channel: 'web', name: 'V' });
      expect((await store.findConversationByExternalUser('whatsapp', '4915550001'))?.id).toBe('w1');
      expect(await store.findConversationByExternalUser('web', '4915550001')).toBeUndefined();
      const linked = await store.setConversationExternalUser('web1', 'user-7');
      expect(linked.externalUserId).toBe('user-7');
      expect((await store.setConversationState('web1', 'closed')).state).toBe('closed');
      await restart();
      expect((await store.findConversationByExternalUser('web', 'user-7'))?.id).toBe('web1');
      expect((await store.getConversation('web1'))?.state).toBe('closed');
      await store.setConversationExternalUser('web1', 'user-8');
      expect(await store.findConversationByExternalUser('web', 'user-7')).toBeUndefined();
      await expect(store.setConversationState('nope', 'closed')).rejects.toMatchObject({ code: 'not_found' });
    });

    it('appends with seq 1,2,3…, random ids, rising rev, last message and unread count', async () => {
      const messages = await conversationWith('c', [
        { role: 'visitor', text: 'hello' },
        { role: 'agent', text: 'hi there' },
        { role: 'visitor', text: 'Grüße 👋' },
      ]);
      expect(messages.map((m) => m.seq)).toEqual([1, 2, 3]);
      expect(messages.map((m) => m.rev)).toEqual([1, 2, 3]);
      expect(new Set(messages.map((m) => m.id)).size).toBe(3);
      expect(messages[0]).toMatchObject({
        conversationId: 'c',
        clientId: 'c-0',
        author: { role: 'visitor' },
        text: 'hello',
        status: 'sent',
        statusAt: { sent: '2026-01-01T00:00:01.000Z' },
        createdAt: '2026-01-01T00:00:01.000Z',
      });
      const conversation = await store.getConversation('c');
      expect(conversation).toMatchObject({
        lastSeq: 3,
        rev: 3,
        unread: 2,
        lastActivityAt: '2026-01-01T00:00:03.000Z',
        lastMessage: { text: 'Grüße 👋', role: 'visitor', createdAt: '2026-01-01T00:00:03.000Z', seq: 3 },
      });
      await restart();
      expect(await store.getConversation('c')).toEqual(conversation);
      expect(await store.getMessages('c', { limit: 10 })).toEqual(messages);
      await expect(
        store.appendMessage({ conversationId: 'nope', clientId: 'x', author: { role: 'visitor' }, text: 't' }),
      ).rejects.toBeInstanceOf(StoreError);
    });

    it('keeps agent author details and an initial status', async () => {
      await store.createConversation({ id: 'c', channel: 'whatsapp', name: 'W' });
      const { message } = await store.appendMessage({
        conversationId: 'c',
        clientId: 'k',
        author: { role: 'agent', agentId: 'ag1', name: 'Bea' },
        text: 'on its way',
        status: 'read',
        externalId: 'wamid.1',
      });
      expect(message).toMatchObject({ author: { role: 'agent', agentId: 'ag1', name: 'Bea' }, status: 'read', externalId: 'wamid.1' });
      expect(message.statusAt.delivered).toBeDefined();
      await restart();
      expect(await store.findMessageByExternalId('wamid.1')).toEqual(message);
    });

    it('dedupes on (conversation, clientId): a retry returns the original, also after a restart and when racing', async () => {
      await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
      await store.createConversation({ id: 'd', channel: 'web', name: 'V' });
      const first = await store.appendMessage({ conversationId: 'c', clientId: 'same', author: { role: 'visitor' }, text: 'one' });
      expect(first.created).toBe(true);
      const retry = await store.appendMessage({ conversationId: 'c', clientId: 'same', author: { role: 'visitor' }, text: 'changed' });
      expect(retry).toMatchObject({ created: false, message: first.message });
      const other = await store.appendMessage({ conversationId: 'd', clientId: 'same', author: { role: 'visitor' }, text: 'one' });
      expect(other.created).toBe(true);
      const racing = await Promise.all(
        Array.from({ length: 10 }, () =>
          store.appendMessage({ conversationId: 'c', clientId: 'race', author: { role: 'visitor' }, text: 'r' }),
        ),
      );
      expect(racing.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(racing.map((r) => r.message.id)).size).toBe(1);
      await restart();
      const afterRestart = await store.appendMessage({ conversationId: 'c', clientId: 'same', author: { role: 'visitor' }, text: 'x' });
      expect(afterRestart).toMatchObject({ created: false, message: first.message });
      expect((await store.getConversation('c'))?.lastSeq).toBe(2);
    });

    it('assigns gapless seqs to concurrent appends', async () => {
      await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          store.appendMessage({ conversationId: 'c', clientId: `m${i}`, author: { role: i % 2 ? 'agent' : 'visitor' }, text: `t${i}` }),
        ),
      );
      expect(results.map((r) => r.message.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      await restart();
      const all = await store.getMessages('c', { limit: 100 });
      expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(all.map((m) => m.clientId).sort()).toEqual(results.map((r) => r.message.clientId).sort());
    });

    it('pages history by beforeSeq, ascending, at most limit', async () => {
      await conversationWith(
        'c',
        Array.from({ length: 11 }, (_, i) => ({ role: 'visitor' as const, text: `m${i + 1}` })),
      );
      const texts = async (opts: { beforeSeq?: number; limit: number }) =>
        (await store.getMessages('c', opts)).map((m) => m.seq);
      expect(await texts({ limit: 3 })).toEqual([9, 10, 11]);
      expect(await texts({ beforeSeq: 9, limit: 3 })).toEqual([6, 7, 8]);
      expect(await texts({ beforeSeq: 3, limit: 5 })).toEqual([1, 2]);
      expect(await texts({ beforeSeq: 1, limit: 5 })).toEqual([]);
      expect(await texts({ beforeSeq: 100, limit: 2 })).toEqual([10, 11]);
      expect(await store.getMessages('unknown', { limit: 5 })).toEqual([]);
      await restart();
      expect(await texts({ beforeSeq: 6, limit: 4 })).toEqual([2, 3, 4, 5]);
    });

    it('applies statuses by rank: never backwards, duplicates change nothing, read implies delivered, failed keeps why', async () => {
      const [m] = await conversationWith('c', [{ role: 'agent', text: 'x' }]);
      tick();
      const delivered = await store.applyStatus('c', m!.id, { status: 'delivered' });
      expect(delivered.changed).toHaveLength(1);
      expect(delivered.changed[0]).toMatchObject({ status: 'delivered', rev: 2, statusAt: { delivered: '2026-01-01T00:00:02.000Z' } });
      expect(delivered.conversation.rev).toBe(2);
      expect((await store.applyStatus('c', m!.id, { status: 'delivered' })).changed).toEqual([]);
      expect((await store.applyStatus('c', m!.id, { status: 'sent' })).changed).toEqual([]);
      expect((await store.applyStatus('c', m!.id, { status: 'failed', failure: { code: '131', reason: 'x' } })).changed).toEqual([]);
      const read = await store.applyStatus('c', m!.id, { status: 'read', at: '2026-01-01T00:00:05.000Z' });
      expect(read.changed[0]).toMatchObject({ status: 'read', statusAt: { delivered: '2026-01-01T00:00:02.000Z', read: '2026-01-01T00:00:05.000Z' } });

      const [n] = await conversationWith('d', [{ role: 'agent', text: 'y' }]);
      const failed = await store.applyStatus('d', n!.id, { status: 'failed', failure: { code: '131026', reason: 'undeliverable' } });
      expect(failed.changed[0]).toMatchObject({ status: 'failed', failure: { code: '131026', reason: 'undeliverable' } });
      const jumped = await store.applyStatus('d', n!.id, { status: 'read' });
      expect(jumped.changed[0]?.statusAt.delivered).toBeDefined();
      await restart();
      expect(await store.getMessage('c', m!.id)).toEqual(read.changed[0]);
      expect((await store.applyStatus('c', m!.id, { status: 'read' })).changed).toEqual([]);
      await expect(store.applyStatus('c', 'nope', { status: 'read' })).rejects.toMatchObject({ code: 'not_found' });
    });

    it('applies receipts to the other role up to a seq, moving read pointers and unread', async () => {
      const ms = await conversationWith('c', [
        { role: 'visitor', text: 'v1' },
        { role: 'agent', text: 'a1' },
        { role: 'visitor', text: 'v2' },
        { role: 'visitor', text: 'v3' },
        { role: 'agent', text: 'a2' },
      ]);
      expect((await store.getConversation('c'))?.unread).toBe(3);
      const delivered = await store.applyReceipt('c', 'visitor', 3, 'delivered');
      expect(delivered.changed.map((m) => m.seq)).toEqual([1, 3]);
      expect(delivered.conversation.unread).toBe(3);
      const read = await store.applyReceipt('c', 'visitor', 3, 'read');
      expect(read.changed.map((m) => [m.seq, m.status])).toEqual([[1, 'read'], [3, 'read']]);
      expect(read.conversation).toMatchObject({ agentReadSeq: 3, unread: 1 });
      expect((await store.applyReceipt('c', 'visitor', 3, 'read')).changed).toEqual([]);
      expect((await store.applyReceipt('c', 'visitor', 2, 'delivered')).changed).toEqual([]);
      const agentRead = await store.applyReceipt('c', 'agent', 99, 'read');
      expect(agentRead.changed.map((m) => m.seq)).toEqual([2, 5]);
      expect(agentRead.changed[0]?.statusAt.delivered).toBeDefined();
      expect(agentRead.conversation.visitorReadSeq).toBe(5);
      await restart();
      const after = await store.getMessages('c', { limit: 10 });
      expect(after.map((m) => m.status)).toEqual(['read', 'read', 'read', 'sent', 'read']);
      expect(after[3]?.id).toBe(ms[3]?.id);
      expect(await store.getConversation('c')).toMatchObject({ agentReadSeq: 3, visitorReadSeq: 5, unread: 1 });
      const last = await store.applyReceipt('c', 'visitor', 4, 'read');
      expect(last.changed.map((m) => m.seq)).toEqual([4]);
      expect(last.conversation.unread).toBe(0);
    });

    it('returns changes since a revision, in rev order, cut at the limit', async () => {
      const ms = await conversationWith('c', [
        { role: 'agent', text: 'a' },
        { role: 'agent', text: 'b' },
        { role: 'agent', text: 'c' },
      ]);
      await store.applyStatus('c', ms[0]!.id, { status: 'delivered' }); // rev 4
      await store.applyStatus('c', ms[1]!.id, { status: 'read' }); // rev 5
      const all = await store.getChangesSince('c', 0, 100);
      expect(all.map((m) => [m.seq, m.rev])).toEqual([[3, 3], [1, 4], [2, 5]]);
      expect((await store.getChangesSince('c', 3, 100)).map((m) => m.seq)).toEqual([1, 2]);
      expect((await store.getChangesSince('c', 0, 2)).map((m) => m.rev)).toEqual([3, 4]);
      expect(await store.getChangesSince('c', 5, 100)).toEqual([]);
      await restart();
      expect(await store.getChangesSince('c', 0, 100)).toEqual(all);
      await store.applyReceipt('c', 'agent', 3, 'read');
      expect((await store.getChangesSince('c', 5, 100)).map((m) => [m.seq, m.rev])).toEqual([[1, 6], [3, 7]]);
    });

    it('lists conversations newest activity first, open filter, hides empty ones, searches name and text', async () => {
      await conversationWith('a', [{ role: 'visitor', text: 'Where is my PARCEL?' }]);
      await conversationWith('b', [{ role: 'visitor', text: 'hello' }]);
      await store.createConversation({ id: 'empty', channel: 'web', name: 'Nobody' });
      await conversationWith('c', [{ role: 'visitor', text: 'refund please' }, { role: 'visitor', text: 'later text' }]);
      tick();
      await store.appendMessage({ conversationId: 'a', clientId: 'late', author: { role: 'agent' }, text: 'checking' });
      await store.setConversationState('b', 'closed');
      const ids = async (q: Parameters<Store['listConversations']>[0]) => (await store.listConversations(q)).map((c) => c.id);
      expect(await ids({})).toEqual(['a', 'c', 'b']);
      expect(await ids({ filter: 'all' })).toEqual(['a', 'c', 'b']);
      expect(await ids({ filter: 'open' })).toEqual(['a', 'c']);
      expect(await ids({ query: 'parcel' })).toEqual(['a']);
      expect(await ids({ query: 'REFUND' })).toEqual(['c']);
      expect(await ids({ query: 'visitor b' })).toEqual(['b']);
      expect(await ids({ limit: 1 })).toEqual(['a']);
      await restart();
      expect(await ids({ query: 'refund' })).toEqual(['c']);
      expect(await ids({})).toEqual(['a', 'c', 'b']);
    });

    it('sets and finds external ids', async () => {
      const [m] = await conversationWith('c', [{ role: 'agent', text: 'x' }]);
      const updated = await store.setExternalId('c', m!.id, 'wamid.ABC');
      // The channel's acceptance is a visible change (the reply becomes sent for the agents): a new rev.
      expect(updated).toMatchObject({ id: m!.id, externalId: 'wamid.ABC', rev: m!.rev + 1 });
      expect((await store.getConversation('c'))?.rev).toBe(m!.rev + 1);
      expect(await store.setExternalId('c', m!.id, 'wamid.ABC')).toEqual(updated);
      expect(await store.findMessageByExternalId('wamid.ABC')).toEqual(updated);
      expect(await store.findMessageByExternalId('wamid.none')).toBeUndefined();
      await restart();
      expect(await store.findMessageByExternalId('wamid.ABC')).toEqual(updated);
    });

    it('records a failure again after a retry, and a send the channel accepted after a failure as sent; the preview follows', async () => {
      const [m] = await conversationWith('c', [{ role: 'agent', text: 'x' }]);
      const failure = { code: 'upstream_failed', reason: 'unreachable' };
      const first = await store.applyStatus('c', m!.id, { status: 'failed', failure });
      expect((await store.getConversation('c'))?.lastMessage).toMatchObject({ seq: 1, status: 'failed' });
      // A duplicate failure report changes nothing; a retried send that failed once more is a change.
      expect((await store.applyStatus('c', m!.id, { status: 'failed', failure })).changed).toEqual([]);
      const again = await store.applyStatus('c', m!.id, { status: 'failed', failure: { ...failure, reason: 'still unreachable' }, again: true });
      expect(again.changed).toEqual([expect.objectContaining({ status: 'failed', failure: { ...failure, reason: 'still unreachable' } })]);
      expect(again.changed[0]!.rev).toBeGreaterThan(first.changed[0]!.rev);
      const accepted = await store.setExternalId('c', m!.id, 'wamid.RETRY');
      expect(accepted).toMatchObject({ status: 'sent', externalId: 'wamid.RETRY' });
      expect(accepted.failure).toBeUndefined();
      expect(accepted.rev).toBeGreaterThan(again.changed[0]!.rev);
      await restart();
      expect(await store.getMessage('c', m!.id)).toEqual(accepted);
      expect((await store.getConversation('c'))?.lastMessage).toMatchObject({ seq: 1, status: 'sent' });
      await store.applyReceipt('c', 'agent', 1, 'read');
      expect((await store.getConversation('c'))?.lastMessage).toMatchObject({ seq: 1, status: 'read' });
    });

    const agentFields = (id: string, name: string, role: 'admin' | 'agent', createdAt = '2026-01-01T00:00:00.000Z') => ({
      id,
      name,
      displayName: `Display ${name}`,
      role,
      active: true,
      passwordHash: 'scrypt$1$2$3$s$h',
      sessionEpoch: 0,
      availability: 'online' as const,
      createdAt,
    });

    it('stores agents; a second agent with the same name is a conflict', async () => {
      expect(await store.countAgents()).toBe(0);
      const agent = agentFields('ag1', 'admin', 'admin');
      await store.createAgent(agent);
      await expect(store.createAgent({ ...agent, id: 'ag2' })).rejects.toMatchObject({ code: 'conflict' });
      await restart();
      expect(await store.countAgents()).toBe(1);
      expect(await store.getAgentByName('admin')).toEqual(agent);
      expect(await store.getAgent('ag1')).toEqual(agent);
      expect(await store.getAgent('ag2')).toBeUndefined();
      expect(await store.getAgentByName('nobody')).toBeUndefined();
    });

    it('lists agents oldest first and changes them; sessions end by epoch; unknown id is not_found', async () => {
      await store.createAgent(agentFields('b', 'bea', 'admin', '2026-01-01T00:00:02.000Z'));
      await store.createAgent({ ...agentFields('a', 'al', 'agent', '2026-01-01T00:00:01.000Z'), passwordHash: '' });
      expect((await store.listAgents()).map((a) => a.name)).toEqual(['al', 'bea']);
      const changed = await store.updateAgent('a', { displayName: 'Al B.', passwordHash: 'scrypt$new', revokeSessions: true });
      expect(changed).toEqual({ ...agentFields('a', 'al', 'agent', '2026-01-01T00:00:01.000Z'), displayName: 'Al B.', passwordHash: 'scrypt$new', sessionEpoch: 1 });
      const copy = await store.getAgent('a');
      copy!.displayName = 'mutated';
      await store.updateAgent('a', { role: 'admin' });
      await store.updateAgent('a', { active: false, revokeSessions: true });
      await restart();
      expect(await store.getAgent('a')).toMatchObject({ displayName: 'Al B.', role: 'admin', active: false, sessionEpoch: 2, passwordHash: 'scrypt$new' });
      expect(await store.getAgentByName('al')).toEqual(await store.getAgent('a'));
      await expect(store.updateAgent('missing', { active: false })).rejects.toMatchObject({ code: 'not_found' });
    });

    it('keeps, changes and removes a visitor\'s e-mail address on the conversation; unknown id is not_found', async () => {
      await store.createConversation({ id: 'c', channel: 'web', name: 'Visitor C' });
      await store.createConversation({ id: 'd', channel: 'web', name: 'Visitor D' });
      const page = 'https://shop.example/pricing';
      expect(await store.setConversationVisitorEmail('c', 'ann@example.com', page)).toMatchObject({ id: 'c', visitorEmail: 'ann@example.com', visitorPage: page });
      await restart();
      expect(await store.getConversation('c')).toMatchObject({ visitorEmail: 'ann@example.com', visitorPage: page });
      expect(await store.getConversation('d')).not.toHaveProperty('visitorEmail');
      // A new address without a page keeps the page; removing the address removes the page with it.
      await store.setConversationVisitorEmail('c', 'ann@example.org');
      expect(await store.getConversation('c')).toMatchObject({ visitorEmail: 'ann@example.org', visitorPage: page });
      const removed = await store.setConversationVisitorEmail('c', null);
      expect(removed).not.toHaveProperty('visitorEmail');
      expect(removed).not.toHaveProperty('visitorPage');
      await restart();
      expect(await store.getConversation('c')).not.toHaveProperty('visitorEmail');
      await expect(store.setConversationVisitorEmail('missing', 'x@example.com')).rejects.toMatchObject({ code: 'not_found' });
    });

    it('keeps, changes and removes an agent\'s e-mail address across a restart', async () => {
      await store.createAgent({ ...agentFields('a', 'al', 'admin'), email: 'al@example.com' });
      await store.createAgent(agentFields('b', 'bea', 'agent'));
      await restart();
      expect(await store.getAgent('a')).toMatchObject({ email: 'al@example.com' });
      expect(await store.getAgent('b')).not.toHaveProperty('email');
      expect(await store.updateAgent('b', { email: 'bea@example.com' })).toMatchObject({ email: 'bea@example.com' });
      await store.updateAgent('b', { displayName: 'Bea' });
      expect(await store.updateAgent('a', { email: null })).not.toHaveProperty('email');
      await restart();
      expect((await store.listAgents()).map((agent) => agent.email)).toEqual([undefined, 'bea@example.com']);
    });

    it('keeps each agent\'s availability: online when created, away and back, across a restart', async () => {
      await store.createAgent(agentFields('a', 'al', 'agent'));
      await store.createAgent(agentFields('b', 'bea', 'admin'));
      expect(await store.getAgent('a')).toMatchObject({ availability: 'online' });
      expect(await store.updateAgent('a', { availability: 'away' })).toMatchObject({ availability: 'away', sessionEpoch: 0 });
      // Other changes leave it as it is; the other agent is untouched.
      await store.updateAgent('a', { displayName: 'Al' });
      await restart();
      expect(await store.getAgent('a')).toMatchObject({ availability: 'away', displayName: 'Al' });
      expect(await store.getAgentByName('bea')).toMatchObject({ availability: 'online' });
      expect((await store.listAgents()).map((agent) => agent.availability)).toEqual(['away', 'online']);
      await store.updateAgent('a', { availability: 'online' });
      await restart();
      expect(await store.getAgent('a')).toMatchObject({ availability: 'online' });
    });

    it('never leaves the team without an active admin, also when two admins are demoted at once', async () => {
      await store.createAgent(agentFields('a1', 'ann', 'admin'));
      await store.createAgent(agentFields('a2', 'bob', 'admin'));
      await store.createAgent(agentFields('g1', 'gil', 'agent'));
      const results = await Promise.allSettled([
        store.updateAgent('a1', { role: 'agent' }),
        store.updateAgent('a2', { active: false }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected');
      expect((refused as PromiseRejectedResult).reason).toMatchObject({ code: 'last_admin' });
      const admins = (await store.listAgents()).filter((a) => a.role === 'admin' && a.active);
      expect(admins).toHaveLength(1);
      const last = admins[0]!;
      await expect(store.updateAgent(last.id, { role: 'agent' })).rejects.toMatchObject({ code: 'last_admin' });
      await expect(store.updateAgent(last.id, { active: false })).rejects.toMatchObject({ code: 'last_admin' });
      // Other changes to the last admin, and any change to agents, go through.
      expect(await store.updateAgent(last.id, { displayName: 'Still here', revokeSessions: true })).toMatchObject({ role: 'admin', active: true });
      await store.updateAgent('g1', { active: false });
      await restart();
      expect(await store.getAgent(last.id)).toMatchObject({ role: 'admin', active: true, displayName: 'Still here' });
      expect(await store.getAgent('g1')).toMatchObject({ active: false });
    });

    it('assigns and transfers conversations, filters the list by assignee, unassigns an agent\'s conversations', async () => {
      await conversationWith('a', [{ role: 'visitor', text: 'one' }]);
      await conversationWith('b', [{ role: 'visitor', text: 'two' }]);
      await conversationWith('c', [{ role: 'visitor', text: 'three' }]);
      const before = await store.getConversation('a');
      expect(before!.assigneeId).toBeUndefined();
      const assigned = await store.setConversationAssignee('a', 'agent-1');
      expect(assigned).toEqual({ ...before, assigneeId: 'agent-1' });
      await store.setConversationAssignee('b', 'agent-2');
      // onlyIfUnassigned leaves an assigned conversation as it is, and takes an unassigned one.
      expect((await store.setConversationAssignee('a', 'agent-2', { onlyIfUnassigned: true })).assigneeId).toBe('agent-1');
      const [x, y] = await Promise.all([
        store.setConversationAssignee('c', 'agent-1', { onlyIfUnassigned: true }),
        store.setConversationAssignee('c', 'agent-2', { onlyIfUnassigned: true }),
      ]);
      expect(x.assigneeId).toBe(y.assigneeId);
      const cWinner = x.assigneeId!;
      const ids = async (assigneeId: string | null) => (await store.listConversations({ assigneeId })).map((c) => c.id).sort();
      expect(await ids('agent-1')).toEqual(cWinner === 'agent-1' ? ['a', 'c'] : ['a']);
      expect(await ids(null)).toEqual([]);
      // Transfer, then unassign.
      expect((await store.setConversationAssignee('c', 'agent-3')).assigneeId).toBe('agent-3');
      const unassigned = await store.setConversationAssignee('c', null);
      expect(unassigned.assigneeId).toBeUndefined();
      expect('assigneeId' in unassigned).toBe(false);
      await restart();
      expect(await ids(null)).toEqual(['c']);
      expect(await ids('agent-2')).toEqual(['b']);
      expect((await store.listConversations({})).length).toBe(3);
      await store.setConversationAssignee('c', 'agent-1');
      const released = await store.unassignAgentConversations('agent-1');
      expect(released.map((c) => c.id).sort()).toEqual(['a', 'c']);
      expect(released.every((c) => c.assigneeId === undefined)).toBe(true);
      expect(await store.unassignAgentConversations('agent-1')).toEqual([]);
      await restart();
      expect(await ids(null)).toEqual(['a', 'c']);
      expect((await store.getConversation('b'))!.assigneeId).toBe('agent-2');
      await expect(store.setConversationAssignee('absent', 'agent-1')).rejects.toMatchObject({ code: 'not_found' });
    });

    it('assigns an unassigned conversation with the message that asks for it, in the same step; never takes it over', async () => {
      await store.createConversation({ id: 'c1', channel: 'web', name: 'V' });
      await store.setConversationState('c1', 'closed');
      const first = await store.appendMessage({
        conversationId: 'c1',
        clientId: 'r1',
        author: { role: 'agent', agentId: 'agent-1' },
        text: 'hi',
        reopen: true,
        assignIfUnassigned: 'agent-1',
      });
      expect(first.conversation).toMatchObject({ assigneeId: 'agent-1', state: 'open', lastSeq: 1 });
      const second = await store.appendMessage({
        conversationId: 'c1',
        clientId: 'r2',
        author: { role: 'agent', agentId: 'agent-2' },
        text: 'me too',
        assignIfUnassigned: 'agent-2',
      });
      expect(second.conversation.assigneeId).toBe('agent-1');
      await store.setConversationAssignee('c1', null);
      // A retry of a stored message changes nothing.
      const repeat = await store.appendMessage({
        conversationId: 'c1',
        clientId: 'r2',
        author: { role: 'agent', agentId: 'agent-2' },
        text: 'me too',
        assignIfUnassigned: 'agent-2',
      });
      expect(repeat.created).toBe(false);
      expect((await store.getConversation('c1'))!.assigneeId).toBeUndefined();
      // Racing replies to an unassigned conversation: exactly one replier gets it.
      const raced = await Promise.all(
        ['agent-3', 'agent-4'].map((agentId, i) =>
          store.appendMessage({ conversationId: 'c1', clientId: `race-${i}`, author: { role: 'agent', agentId }, text: 'x', assignIfUnassigned: agentId }),
        ),
      );
      const winner = (await store.getConversation('c1'))!.assigneeId;
      expect(['agent-3', 'agent-4']).toContain(winner);
      expect(raced.every((r) => r.conversation.assigneeId === 'agent-3' || r.conversation.assigneeId === 'agent-4')).toBe(true);
      await restart();
      expect((await store.getConversation('c1'))!.assigneeId).toBe(winner);
      expect((await store.listConversations({ assigneeId: winner! })).map((c) => c.id)).toEqual(['c1']);
    });

    it('lists the live records of a namespace by key', async () => {
      await store.putRecord('saved-replies', 'thanks', { text: 'Thank you!' });
      await store.putRecord('saved-replies', 'hello', { text: 'Hello' });
      await store.putRecord('saved-replies', 'brief', { text: 'gone soon' }, new Date(now + 1000).toISOString());
      await store.putRecord('saved-repliesx', 'other', 1);
      await store.putRecord('other', 'thanks', 2);
      expect(await store.listRecords('saved-replies', 10)).toEqual([
        { namespace: 'saved-replies', key: 'brief', value: { text: 'gone soon' }, expiresAt: new Date(now + 1000).toISOString() },
        { namespace: 'saved-replies', key: 'hello', value: { text: 'Hello' } },
        { namespace: 'saved-replies', key: 'thanks', value: { text: 'Thank you!' } },
      ]);
      tick(2000);
      await store.deleteRecord('saved-replies', 'hello');
      await restart();
      expect(await store.listRecords('saved-replies', 10)).toEqual([
        { namespace: 'saved-replies', key: 'thanks', value: { text: 'Thank you!' } },
      ]);
      await store.putRecord('saved-replies', 'a', 'first');
      expect((await store.listRecords('saved-replies', 1)).map((r) => r.key)).toEqual(['a']);
    });

    it('keeps records, forgets them after expiry, adds once', async () => {
      await store.putRecord('settings', 'theme', { color: 'teal' });
      await store.putRecord('replay', 'n1', true, new Date(now + 60_000).toISOString());
      expect(await store.addRecordOnce('replay', 'n2', 1, new Date(now + 60_000).toISOString())).toBe(true);
      expect(await store.addRecordOnce('replay', 'n2', 2)).toBe(false);
      expect(await store.addRecordOnce('ns', '__proto__', 'safe')).toBe(true);
      const got = await store.getRecord<{ color: string }>('settings', 'theme');
      expect(got).toEqual({ color: 'teal' });
      got!.color = 'mutated';
      expect(await store.getRecord('settings', 'theme')).toEqual({ color: 'teal' });
      await restart();
      expect(await store.getRecord('replay', 'n2')).toBe(1);
      expect(await store.getRecord('ns', '__proto__')).toBe('safe');
      tick(61_000);
      expect(await store.getRecord('replay', 'n1')).toBeUndefined();
      expect(await store.addRecordOnce('replay', 'n2', 3)).toBe(true);
      await store.deleteRecord('settings', 'theme');
      await store.deleteRecord('settings', 'absent');
      await restart();
      expect(await store.getRecord('settings', 'theme')).toBeUndefined();
      expect(await store.getRecord('replay', 'n2')).toBe(3);
      expect(await store.getRecord('replay', 'n1')).toBeUndefined();
    });

    it('keeps durable queues: due items oldest first, updates, a bounded attempt log', async () => {
      const a = await store.enqueue('webhook', { n: 1 });
      tick();
      const b = await store.enqueue('webhook', { n: 2 }, 'fixed-id');
      expect(await store.enqueue('webhook', { n: 99 }, 'fixed-id')).toEqual(b);
      await store.enqueue('whatsapp-send', { n: 3 });
      expect(a).toMatchObject({ queue: 'webhook', payload: { n: 1 }, attempts: 0, state: 'pending', log: [] });
      const due = await store.dueItems<{ n: number }>('webhook', clock().toISOString(), 10);
      expect(due.map((i) => i.payload.n)).toEqual([1, 2]);
      const later = new Date(now + 60_000).toISOString();
      const log = Array.from({ length: 25 }, (_, i) => ({ at: clock().toISOString(), ok: false, status: 500 + (i % 3) }));
      await store.updateQueueItem({ ...a, attempts: 25, dueAt: later, lastError: 'HTTP 500', log });
      expect((await store.dueItems('webhook', clock().toISOString(), 10)).map((i) => i.id)).toEqual(['fixed-id']);
      expect((await store.dueItems('webhook', clock().toISOString(), 0))).toEqual([]);
      await store.updateQueueItem({ ...b, state: 'delivered' });
      await restart();
      expect(await store.dueItems('webhook', clock().toISOString(), 10)).toEqual([]);
      const [again] = await store.dueItems('webhook', later, 10);
      expect(again).toMatchObject({ id: a.id, attempts: 25, lastError: 'HTTP 500' });
      expect(again?.log).toHaveLength(20);
      expect(again?.log[19]).toEqual(log[24]);
      expect((await store.listQueueItems('webhook', 10)).map((i) => i.id).sort()).toEqual([a.id, 'fixed-id'].sort());
      expect(await store.listQueueItems('webhook', 1)).toHaveLength(1);
      expect(await store.countQueueItems('webhook')).toEqual({ pending: 1, delivered: 1, dead: 0 });
      expect(await store.countQueueItems('whatsapp-send')).toEqual({ pending: 1, delivered: 0, dead: 0 });
      expect(await store.countQueueItems('none')).toEqual({ pending: 0, delivered: 0, dead: 0 });
    });

    it('gets a queue item by id within its queue, as a copy that follows later saves; unknown ids and other queues get none', async () => {
      const item = await store.enqueue('webhook', { n: 1 }, 'hook-1');
      await store.enqueue('whatsapp-send', { n: 2 }, 'send-1');
      expect(await store.getQueueItem('webhook', 'hook-1')).toEqual(item);
      expect(await store.getQueueItem('webhook', 'unknown')).toBeUndefined();
      expect(await store.getQueueItem('webhook', 'send-1')).toBeUndefined();
      expect(await store.getQueueItem('whatsapp-send', 'hook-1')).toBeUndefined();
      expect(await store.getQueueItem('none', 'hook-1')).toBeUndefined();
      const got = await store.getQueueItem<{ n: number }>('webhook', 'hook-1');
      got!.state = 'dead';
      got!.attempts = 7;
      got!.payload.n = 99;
      got!.log.push({ at: clock().toISOString(), ok: false, status: 500 });
      expect(await store.getQueueItem('webhook', 'hook-1')).toEqual(item);
      tick();
      const dead = { ...item, state: 'dead' as const, attempts: 3, updatedAt: clock().toISOString(), log: [{ at: clock().toISOString(), ok: false, status: 502 }] };
      await store.updateQueueItem(dead);
      expect(await store.getQueueItem('webhook', 'hook-1')).toEqual(dead);
      await restart();
      expect(await store.getQueueItem('webhook', 'hook-1')).toEqual(dead);
      expect(await store.getQueueItem('whatsapp-send', 'send-1')).toMatchObject({ id: 'send-1', queue: 'whatsapp-send', payload: { n: 2 } });
      expect(await store.getQueueItem('webhook', 'send-1')).toBeUndefined();
    });

    it('stamps closedAt when closing, removes it when reopening, and lists conversations closed before a time', async () => {
      await conversationWith('old', [{ role: 'visitor', text: 'a' }]);
      await conversationWith('recent', [{ role: 'visitor', text: 'b' }]);
      await conversationWith('open', [{ role: 'visitor', text: 'c' }]);
      tick();
      const closedAt = clock().toISOString();
      expect((await store.setConversationState('old', 'closed')).closedAt).toBe(closedAt);
      tick(10_000);
      await store.setConversationState('recent', 'closed');
      const between = new Date(now - 5_000).toISOString();
      await restart();
      expect((await store.getConversation('old'))?.closedAt).toBe(closedAt);
      expect(await store.closedConversationsBefore(between, 10)).toEqual(['old']);
      expect(await store.closedConversationsBefore(clock().toISOString(), 10)).toEqual(['old']);
      tick();
      expect((await store.closedConversationsBefore(clock().toISOString(), 10)).sort()).toEqual(['old', 'recent']);
      expect(await store.closedConversationsBefore(clock().toISOString(), 1)).toHaveLength(1);
      expect(await store.closedConversationsBefore(closedAt, 10)).toEqual([]);
      const reopened = await store.setConversationState('old', 'open');
      expect(reopened.closedAt).toBeUndefined();
      expect(await store.closedConversationsBefore(clock().toISOString(), 10)).toEqual(['recent']);
    });

    it('counts a closed conversation that got a message later from that message; ifClosedBefore erases only what qualifies', async () => {
      await conversationWith('c', [{ role: 'visitor', text: 'a' }]);
      await store.setConversationState('c', 'closed');
      tick(10_000);
      await store.appendMessage({ conversationId: 'c', clientId: 'late', author: { role: 'visitor' }, text: 'late' });
      expect(await store.closedConversationsBefore(new Date(now - 5_000).toISOString(), 10)).toEqual([]);
      const late = new Date(now - 5_000).toISOString();
      expect(await store.eraseConversation('c', { ifClosedBefore: late })).toBe(false);
      tick();
      expect(await store.closedConversationsBefore(clock().toISOString(), 10)).toEqual(['c']);
      await store.setConversationState('c', 'open');
      expect(await store.eraseConversation('c', { ifClosedBefore: clock().toISOString() })).toBe(false);
      expect(await store.eraseConversation('absent', { ifClosedBefore: clock().toISOString() })).toBe(false);
      tick();
      await store.setConversationState('c', 'closed');
      tick();
      expect(await store.eraseConversation('c', { ifClosedBefore: clock().toISOString() })).toBe(true);
      expect(await store.getConversation('c')).toBeUndefined();
    });

    it('erases a conversation with its messages, links, named records and queue items; others stay', async () => {
      const [m1, m2] = await conversationWith('gone', [
        { role: 'visitor', text: 'secret one' },
        { role: 'agent', text: 'secret two' },
        { role: 'visitor', text: 'three' },
        { role: 'visitor', text: 'four' },
        { role: 'agent', text: 'five' },
      ]);
      const [k1] = await conversationWith('kept', [{ role: 'visitor', text: 'kept text' }]);
      await store.setConversationExternalUser('gone', 'user-9');
      await store.setExternalId('gone', m2!.id, 'wamid.GONE');
      const k1Linked = await store.setExternalId('kept', k1!.id, 'wamid.KEPT');
      await store.putRecord('pending-status', 'wamid.GONE', { status: 'read' });
      await store.putRecord('sink-cursor', 'gone', { rev: 5 });
      await store.putRecord('sink-cursor', 'kept', { rev: 1 });
      const send = await store.enqueue('whatsapp-send', { text: 'secret two' }, `wa-send:${m2!.id}`);
      await store.updateQueueItem({ ...send, state: 'delivered' });
      await store.enqueue('webhook', { body: 'secret one' }, `evt:${m1!.id}:created:aaaa`);
      await store.enqueue('webhook', { body: 'secret one' }, `evt:${m1!.id}:read:bbbb`);
      await store.enqueue('webhook', { body: 'kept text' }, `evt:${k1!.id}:created:aaaa`);

      const erased = await store.eraseConversation('gone', {
        records: [
          { namespace: 'pending-status', key: 'wamid.GONE' },
          { namespace: 'sink-cursor', key: 'gone' },
        ],
        queueItemIdPrefixes: [`evt:${m1!.id}:`, `evt:${m2!.id}:`, `wa-send:${m1!.id}`, `wa-send:${m2!.id}`],
      });
      expect(erased).toBe(true);
      const check = async (): Promise<void> => {
        expect(await store.getConversation('gone')).toBeUndefined();
        expect(await store.getMessages('gone', { limit: 10 })).toEqual([]);
        expect(await store.getMessage('gone', m1!.id)).toBeUndefined();
        expect(await store.getChangesSince('gone', 0, 10)).toEqual([]);
        expect(await store.findConversationByExternalUser('web', 'user-9')).toBeUndefined();
        expect(await store.findMessageByExternalId('wamid.GONE')).toBeUndefined();
        expect(await store.getRecord('pending-status', 'wamid.GONE')).toBeUndefined();
        expect(await store.getRecord('sink-cursor', 'gone')).toBeUndefined();
        expect(await store.listQueueItems('whatsapp-send', 10)).toEqual([]);
        expect((await store.listQueueItems('webhook', 10)).map((i) => i.id)).toEqual([`evt:${k1!.id}:created:aaaa`]);
        expect((await store.listConversations({ filter: 'all' })).map((c) => c.id)).toEqual(['kept']);
        expect((await store.listConversations({ filter: 'all', query: 'secret' })).map((c) => c.id)).toEqual([]);
        expect(store.health()).toMatchObject({ conversations: 1, messages: 1 });
        expect(await store.getMessages('kept', { limit: 10 })).toEqual([k1Linked]);
        expect((await store.findMessageByExternalId('wamid.KEPT'))?.id).toBe(k1!.id);
        expect(await store.getRecord('sink-cursor', 'kept')).toEqual({ rev: 1 });
      };
      await check();
      await expect(
        store.appendMessage({ conversationId: 'gone', clientId: 'after', author: { role: 'visitor' }, text: 'x' }),
      ).rejects.toMatchObject({ code: 'not_found' });
      await restart();
      await check();
    });

    it('answers false for an unknown conversation; an erased id can be used again from scratch', async () => {
      expect(await store.eraseConversation('nope')).toBe(false);
      await conversationWith('again', [{ role: 'visitor', text: 'first life' }]);
      expect(await store.eraseConversation('again')).toBe(true);
      expect(await store.eraseConversation('again')).toBe(false);
      const fresh = await store.createConversation({ id: 'again', channel: 'web', name: 'New' });
      expect(fresh).toMatchObject({ id: 'again', lastSeq: 0, name: 'New' });
      const { message } = await store.appendMessage({ conversationId: 'again', clientId: 'c-0', author: { role: 'visitor' }, text: 'second life' });
      expect(message.seq).toBe(1);
      await restart();
      expect((await store.getMessages('again', { limit: 10 })).map((m) => m.text)).toEqual(['second life']);
    });

    it('writes the record an erasure remembers only when the conversation is erased, after the records it removes', async () => {
      const expiresAt = new Date(now + 30 * 24 * 3600 * 1000).toISOString();
      const remember = (key: string) => ({ namespace: 'erased-conversation', key, value: { at: clock().toISOString() }, expiresAt });
      await conversationWith('kept', [{ role: 'visitor', text: 'still here' }]);
      await store.setConversationState('kept', 'closed');
      tick();
      await store.appendMessage({ conversationId: 'kept', clientId: 'late', author: { role: 'visitor' }, text: 'late' });
      const before = new Date(now - 500).toISOString();
      expect(await store.eraseConversation('kept', { ifClosedBefore: before, remember: remember('kept') })).toBe(false);
      expect(await store.eraseConversation('absent', { ifClosedBefore: clock().toISOString(), remember: remember('absent') })).toBe(false);
      // Related data of an id that names no conversation is erased all the same; nothing is remembered for it.
      await store.putRecord('sink-cursor', 'never', { rev: 1 });
      expect(await store.eraseConversation('never', { records: [{ namespace: 'sink-cursor', key: 'never' }], remember: remember('never') })).toBe(false);
      expect(await store.getRecord('sink-cursor', 'never')).toBeUndefined();

      await conversationWith('gone', [{ role: 'visitor', text: 'erased text' }]);
      await store.setConversationState('gone', 'closed');
      await store.putRecord('erased-conversation', 'gone', { at: 'an earlier erasure' });
      tick();
      const value = { at: clock().toISOString() };
      const erased = await store.eraseConversation('gone', {
        ifClosedBefore: clock().toISOString(),
        records: [{ namespace: 'erased-conversation', key: 'gone' }],
        remember: remember('gone'),
      });
      expect(erased).toBe(true);
      const check = async (): Promise<void> => {
        expect(await store.getConversation('gone')).toBeUndefined();
        expect(await store.getConversation('kept')).toBeDefined();
        expect(await store.listRecords('erased-conversation', 10)).toEqual([{ namespace: 'erased-conversation', key: 'gone', value, expiresAt }]);
      };
      await check();
      await restart();
      await check();
      now = Date.parse(expiresAt);
      expect(await store.getRecord('erased-conversation', 'gone')).toBeUndefined();
    });

    it('prunes delivered and dead queue items last updated before a time, at most limit, never pending ones', async () => {
      const a = await store.enqueue('webhook', { n: 1 });
      const b = await store.enqueue('webhook', { n: 2 });
      const c = await store.enqueue('whatsapp-send', { n: 3 });
      const d = await store.enqueue('webhook', { n: 4 });
      await store.updateQueueItem({ ...a, state: 'delivered', updatedAt: clock().toISOString() });
      await store.updateQueueItem({ ...c, state: 'dead', updatedAt: clock().toISOString() });
      tick(10_000);
      await store.updateQueueItem({ ...b, state: 'delivered', updatedAt: clock().toISOString() });
      const cutoff = new Date(now - 5_000).toISOString();
      expect(await store.pruneQueueItems(cutoff, 1)).toBe(1);
      expect(await store.pruneQueueItems(cutoff, 10)).toBe(1);
      expect(await store.pruneQueueItems(cutoff, 10)).toBe(0);
      await restart();
      expect((await store.listQueueItems('webhook', 10)).map((i) => i.id).sort()).toEqual([b.id, d.id].sort());
      expect(await store.listQueueItems('whatsapp-send', 10)).toEqual([]);
      expect((await store.dueItems('webhook', clock().toISOString(), 10)).map((i) => i.id)).toEqual([d.id]);
    });

    it('claims due items with a lease: others skip them until it ends or the item is updated', async () => {
      const a = await store.enqueue('webhook', { n: 1 });
      tick();
      const b = await store.enqueue('webhook', { n: 2 });
      tick();
      const c = await store.enqueue('webhook', { n: 3 });
      const at = () => clock().toISOString();
      const lease = (owner: string) => ({ owner, until: new Date(now + 60_000).toISOString() });
      const first = await store.claimDueItems('webhook', at(), 2, lease('w1'));
      expect(first.map((i) => i.id)).toEqual([a.id, b.id]);
      expect((await store.claimDueItems('webhook', at(), 10, lease('w2'))).map((i) => i.id)).toEqual([c.id]);
      expect(await store.claimDueItems('webhook', at(), 10, lease('w3'))).toEqual([]);
      expect(await store.dueItems('webhook', at(), 10)).toEqual([]);
      // Updating an item ends its lease: due again at once when its new dueAt has come.
      await store.updateQueueItem({ ...a, attempts: 1, log: [{ at: at(), ok: false, status: 500 }] });
      expect((await store.claimDueItems('webhook', at(), 10, lease('w3'))).map((i) => [i.id, i.attempts])).toEqual([[a.id, 1]]);
      await store.updateQueueItem({ ...c, state: 'delivered' });
      // w1 died holding b: once its lease ended, b is claimed by someone else.
      tick(61_000);
      const taken = await store.claimDueItems('webhook', at(), 10, lease('w4'));
      expect(taken.map((i) => i.id)).toEqual([a.id, b.id]);
    });

    it("saves a worker's attempt only while the item is still its claim", async () => {
      const a = await store.enqueue('webhook', { n: 1 });
      const at = () => clock().toISOString();
      const lease = (owner: string) => ({ owner, until: new Date(clock().getTime() + 60_000).toISOString() });
      expect((await store.claimDueItems('webhook', at(), 10, lease('slow'))).map((i) => i.id)).toEqual([a.id]);
      // slow's lease runs out mid-attempt and fast claims the item and delivers it.
      tick(61_000);
      expect((await store.claimDueItems('webhook', at(), 10, lease('fast'))).map((i) => i.id)).toEqual([a.id]);
      expect(await store.updateQueueItem({ ...a, attempts: 1, dueAt: at() }, 'slow')).toBe(false);
      expect(await store.updateQueueItem({ ...a, attempts: 1, state: 'delivered' }, 'fast')).toBe(true);
      // slow's late failure changes nothing, after fast's update as before it.
      expect(await store.updateQueueItem({ ...a, attempts: 1, dueAt: at(), lastError: 'HTTP 500' }, 'slow')).toBe(false);
      expect((await store.listQueueItems('webhook', 10)).map((i) => [i.id, i.state, i.lastError])).toEqual([[a.id, 'delivered', undefined]]);
      // A lease that ran out with nobody claiming the item since is still its owner's to save; no owner saves always.
      const b = await store.enqueue('webhook', { n: 2 });
      await store.claimDueItems('webhook', at(), 10, lease('late'));
      tick(61_000);
      expect(await store.updateQueueItem({ ...b, attempts: 1 }, 'late')).toBe(true);
      expect(await store.updateQueueItem({ ...b, state: 'dead' })).toBe(true);
      expect((await store.listQueueItems('webhook', 10)).find((i) => i.id === b.id)?.state).toBe('dead');
    });

    it('replaces a queue item only while it is still as read, ending its lease: of two resets from one read, one wins', async () => {
      const at = () => clock().toISOString();
      const lease = (owner: string) => ({ owner, until: new Date(clock().getTime() + 60_000).toISOString() });
      const queued = await store.enqueue('whatsapp-send', { n: 1 });
      await store.claimDueItems('whatsapp-send', at(), 10, lease('w1'));
      tick();
      const dead = { ...queued, state: 'dead' as const, attempts: 1, updatedAt: at() };
      expect(await store.updateQueueItem(dead, 'w1')).toBe(true);
      // Two Retries read the dead item; the first resets it and a worker claims the reset item.
      const [read] = await store.listQueueItems('whatsapp-send', 10);
      expect(read).toEqual(dead);
      tick();
      const reset = { ...read!, state: 'pending' as const, attempts: 0, dueAt: at(), updatedAt: at() };
      expect(await store.replaceQueueItem(read!, reset)).toBe(true);
      expect((await store.claimDueItems('whatsapp-send', at(), 10, lease('w2'))).map((i) => i.id)).toEqual([queued.id]);
      // The second Retry's reset (from the same read) changes nothing: w2 keeps its claim and its save.
      tick();
      expect(await store.replaceQueueItem(read!, { ...reset, updatedAt: at() })).toBe(false);
      expect(await store.claimDueItems('whatsapp-send', at(), 10, lease('w3'))).toEqual([]);
      expect(await store.updateQueueItem({ ...reset, state: 'delivered', attempts: 1 }, 'w2')).toBe(true);
      // Still as read while claimed (no save since): the replacement ends the claim, and its owner's save is refused.
      const other = await store.enqueue('whatsapp-send', { n: 2 });
      await store.claimDueItems('whatsapp-send', at(), 10, lease('w4'));
      tick();
      const again = { ...other, payload: { n: 3 }, updatedAt: at() };
      expect(await store.replaceQueueItem(other, again)).toBe(true);
      expect(await store.updateQueueItem({ ...other, state: 'dead' }, 'w4')).toBe(false);
      expect(await store.replaceQueueItem({ ...other, id: 'missing' }, { ...again, id: 'missing' })).toBe(false);
      await restart();
      expect((await store.listQueueItems('whatsapp-send', 10)).map((i) => [i.id, i.state, i.payload]).sort()).toEqual(
        [
          [queued.id, 'delivered', { n: 1 }],
          [other.id, 'pending', { n: 3 }],
        ].sort(),
      );
    });

    it('queues the outbound work of a change in the same step as the change, and reopens on request', async () => {
      const remove = store.addOutboundWork({
        messageCreated: (m, c) => [{ queue: 'webhook', id: `evt:${m.id}:created`, payload: { text: m.text, state: c.state } }],
        statusChanged: (ms) => ms.map((m) => ({ queue: 'webhook', id: `evt:${m.id}:${m.status}`, payload: { status: m.status } })),
      });
      await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
      await store.setConversationState('c', 'closed');
      tick();
      const sent = await store.appendMessage({ conversationId: 'c', clientId: 'a', author: { role: 'agent' }, text: 'hi', reopen: true });
      expect(sent.conversation.state).toBe('open');
      expect(sent.conversation.closedAt).toBeUndefined();
      const retry = await store.appendMessage({ conversationId: 'c', clientId: 'a', author: { role: 'agent' }, text: 'hi', reopen: true });
      expect(retry.created).toBe(false);
      const id = sent.message.id;
      await store.applyStatus('c', id, { status: 'delivered' });
      await store.applyStatus('c', id, { status: 'sent' });
      await store.applyReceipt('c', 'agent', 1, 'read');
      remove();
      await store.appendMessage({ conversationId: 'c', clientId: 'b', author: { role: 'agent' }, text: 'after' });
      await restart();
      const items = await store.listQueueItems<{ text?: string; state?: string; status?: string }>('webhook', 10);
      expect(items.map((i) => i.id).sort()).toEqual([`evt:${id}:created`, `evt:${id}:delivered`, `evt:${id}:read`].sort());
      expect(items.find((i) => i.id === `evt:${id}:created`)).toMatchObject({
        queue: 'webhook',
        payload: { text: 'hi', state: 'open' },
        state: 'pending',
        attempts: 0,
        createdAt: '2026-01-01T00:00:01.000Z',
      });
      expect((await store.getConversation('c'))?.state).toBe('open');
    });

    it('queues the status work of a channel\'s acceptance in the same step, once per new external id', async () => {
      const [m] = await conversationWith('c', [{ role: 'agent', text: 'x' }]);
      const seen: { id: string; status: string; externalId?: string; failure?: unknown }[] = [];
      const remove = store.addOutboundWork({
        statusChanged: (ms) =>
          ms.map((changed) => {
            seen.push({ id: changed.id, status: changed.status, externalId: changed.externalId, failure: changed.failure });
            return { queue: 'webhook', id: `evt:${changed.id}:${changed.status}:${changed.externalId ?? '-'}`, payload: { rev: changed.rev } };
          }),
      });
      await store.applyStatus('c', m!.id, { status: 'failed', failure: { code: 'upstream_failed', reason: 'unreachable' } });
      const accepted = await store.setExternalId('c', m!.id, 'wamid.ONE');
      await store.setExternalId('c', m!.id, 'wamid.ONE');
      remove();
      await restart();
      expect(seen).toEqual([
        { id: m!.id, status: 'failed', externalId: undefined, failure: { code: 'upstream_failed', reason: 'unreachable' } },
        { id: m!.id, status: 'sent', externalId: 'wamid.ONE', failure: undefined },
      ]);
      const items = await store.listQueueItems<{ rev: number }>('webhook', 10);
      expect(items.map((i) => i.id).sort()).toEqual([`evt:${m!.id}:failed:-`, `evt:${m!.id}:sent:wamid.ONE`].sort());
      expect(items.find((i) => i.id === `evt:${m!.id}:sent:wamid.ONE`)).toMatchObject({ payload: { rev: accepted.rev }, state: 'pending' });
    });

    it('keeps a status for an external id no message carries yet and applies it when the id is linked; racing, none is lost', async () => {
      const texts = Array.from({ length: 21 }, (_, i) => ({ role: 'agent' as const, text: `reply ${i}` }));
      const [first, ...others] = await conversationWith('ext', texts);
      const keepUntil = new Date(now + 3_600_000).toISOString();
      expect(await store.applyStatusByExternalId('wamid.A', { status: 'delivered' }, { keepUntil })).toBeUndefined();
      // A lower status reported later does not replace the kept one.
      expect(await store.applyStatusByExternalId('wamid.A', { status: 'sent' }, { keepUntil })).toBeUndefined();
      expect(await store.getRecord(PENDING_STATUS_NAMESPACE, 'wamid.A')).toMatchObject({ status: 'delivered' });
      // Without keepUntil an unknown id keeps nothing.
      expect(await store.applyStatusByExternalId('wamid.B', { status: 'read' })).toBeUndefined();
      expect(await store.getRecord(PENDING_STATUS_NAMESPACE, 'wamid.B')).toBeUndefined();
      const linked = await store.setExternalId('ext', first!.id, 'wamid.A');
      expect(linked).toMatchObject({ externalId: 'wamid.A', status: 'delivered' });
      expect(await store.getMessage('ext', first!.id)).toMatchObject({ status: 'delivered', rev: linked.rev });
      expect(await store.getRecord(PENDING_STATUS_NAMESPACE, 'wamid.A')).toBeUndefined();
      expect((await store.applyStatusByExternalId('wamid.A', { status: 'read' }, { keepUntil }))?.changed).toMatchObject([{ status: 'read' }]);
      // The status and the send's answer arrive at once (on PostgreSQL: on two connections): every message ends read.
      await Promise.all(
        others.flatMap((m, i) => [
          store.applyStatusByExternalId(`wamid.race-${i}`, { status: 'read' }, { keepUntil }),
          store.setExternalId('ext', m.id, `wamid.race-${i}`),
        ]),
      );
      const after = await store.getMessages('ext', { limit: 100 });
      expect(after.filter((m) => m.externalId?.startsWith('wamid.race-')).map((m) => m.status)).toEqual(Array(20).fill('read'));
      for (let i = 0; i < 20; i++) expect(await store.getRecord(PENDING_STATUS_NAMESPACE, `wamid.race-${i}`)).toBeUndefined();
    });

    it('adds a once record in the status change\'s step: a repeat is refused and changes nothing; an unapplied change leaves none', async () => {
      const [m] = await conversationWith('once', [{ role: 'agent', text: 'hi' }]);
      const once = (key: string) => ({ namespace: 'delivery', key, value: { n: 1 }, expiresAt: new Date(now + 600_000).toISOString() });
      expect((await store.applyStatus('once', m!.id, { status: 'delivered' }, once('d1'))).changed).toHaveLength(1);
      await expect(store.applyStatus('once', m!.id, { status: 'read' }, once('d1'))).rejects.toMatchObject({ code: 'conflict' });
      expect((await store.getMessage('once', m!.id))?.status).toBe('delivered');
      await expect(store.applyStatus('once', 'missing', { status: 'read' }, once('d2'))).rejects.toMatchObject({ code: 'not_found' });
      expect(await store.getRecord('delivery', 'd2')).toBeUndefined();
      // A status that changes nothing still records the delivery; an id kept for later too.
      expect((await store.applyStatus('once', m!.id, { status: 'sent' }, once('d3'))).changed).toEqual([]);
      expect(await store.getRecord('delivery', 'd3')).toEqual({ n: 1 });
      const keepUntil = new Date(now + 600_000).toISOString();
      expect(await store.applyStatusByExternalId('wamid.none', { status: 'read' }, { keepUntil, once: once('d4') })).toBeUndefined();
      await expect(store.applyStatusByExternalId('wamid.none', { status: 'read' }, { keepUntil, once: once('d4') })).rejects.toMatchObject({ code: 'conflict' });
      // Five deliveries of one id at once: one applies.
      const racing = await Promise.allSettled(Array.from({ length: 5 }, () => store.applyStatus('once', m!.id, { status: 'read' }, once('d5'))));
      expect(racing.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(racing.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code: string }).code)).toEqual(Array(4).fill('conflict'));
      await restart();
      expect(await store.getRecord('delivery', 'd1')).toEqual({ n: 1 });
      expect(await store.getRecord('delivery', 'd4')).toEqual({ n: 1 });
      expect((await store.getMessage('once', m!.id))?.status).toBe('read');
      tick(600_001);
      expect((await store.applyStatus('once', m!.id, { status: 'read' }, once('d1'))).changed).toEqual([]);
    });

    it('takes rate tokens per key: a burst of N, refilled over a minute, refusals say when; racing takes share one bucket', async () => {
      const taken = await Promise.all(Array.from({ length: 12 }, () => store.takeRateToken('http:1.2.3.4', 5)));
      expect(taken.filter((d) => d.ok)).toHaveLength(5);
      const refused = taken.find((d) => !d.ok);
      expect(refused).toEqual({ ok: false, retryAfterMs: 12_000 });
      expect((await store.takeRateToken('http:5.6.7.8', 5)).ok).toBe(true);
      expect((await store.takeRateToken('login:1.2.3.4', 5)).ok).toBe(true);
      tick(11_999);
      expect((await store.takeRateToken('http:1.2.3.4', 5)).ok).toBe(false);
      tick(1);
      expect(await store.takeRateToken('http:1.2.3.4', 5)).toEqual({ ok: true });
      expect(await store.takeRateToken('http:1.2.3.4', 5)).toEqual({ ok: false, retryAfterMs: 12_000 });
      tick(61_000);
      const refilled = await Promise.all(Array.from({ length: 6 }, () => store.takeRateToken('http:1.2.3.4', 5)));
      expect(refilled.filter((d) => d.ok)).toHaveLength(5);
    });

    it('throttles logins per account: 5 attempts, then doubling delays; racing attempts cannot pass a delay; success clears', async () => {
      const racing = await Promise.all(Array.from({ length: 10 }, () => store.claimLoginAttempt('admin')));
      expect(racing.filter((d) => d.ok)).toHaveLength(5);
      expect(racing.filter((d) => !d.ok)).toEqual(Array(5).fill({ ok: false, retryAfterMs: 1_000 }));
      expect((await store.claimLoginAttempt('other')).ok).toBe(true);
      tick(1_000);
      expect(await store.claimLoginAttempt('admin')).toEqual({ ok: true });
      expect(await store.claimLoginAttempt('admin')).toEqual({ ok: false, retryAfterMs: 2_000 });
      tick(2_000);
      expect(await store.claimLoginAttempt('admin')).toEqual({ ok: true });
      expect(await store.claimLoginAttempt('admin')).toEqual({ ok: false, retryAfterMs: 4_000 });
      tick(4_000);
      expect(await store.claimLoginAttempt('admin')).toEqual({ ok: true });
      await store.clearLoginAttempts('admin');
      for (let i = 0; i < 5; i++) expect((await store.claimLoginAttempt('admin')).ok).toBe(true);
      expect((await store.claimLoginAttempt('admin')).ok).toBe(false);
      tick(60 * 60_000);
      expect((await store.claimLoginAttempt('admin')).ok).toBe(true);
    });

    it('stores attachments durably, once per upload key, with their messages; erasure takes them and their bytes', async () => {
      await conversationWith('files', [{ role: 'visitor', text: 'hello' }]);
      await conversationWith('other', [{ role: 'visitor', text: 'hi' }]);
      const content = new TextEncoder().encode('the file body');
      const input = {
        conversationId: 'files',
        uploader: 'visitor',
        uploadKey: 'key:one',
        name: 'notes.txt',
        type: 'text/plain' as const,
        content,
        thumbnail: new Uint8Array([1, 2, 3]),
      };
      const [first, racing] = await Promise.all([store.putAttachment(input), store.putAttachment(input)]);
      expect([first.created, racing.created].sort()).toEqual([false, true]);
      expect(racing.attachment).toEqual(first.attachment);
      const attachment = first.attachment;
      expect(attachment).toMatchObject({
        conversationId: 'files',
        uploader: 'visitor',
        uploadKey: 'key:one',
        name: 'notes.txt',
        type: 'text/plain',
        size: content.byteLength,
        sha256: createHash('sha256').update(content).digest('hex'),
        thumbnailSize: 3,
      });
      expect(attachment.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      // The same bytes under another key (or from another sender) are another attachment, stored once more.
      const second = await store.putAttachment({ ...input, uploadKey: 'key:two', thumbnail: undefined });
      expect(second.created).toBe(true);
      expect(second.attachment.id).not.toBe(attachment.id);
      const elsewhere = await store.putAttachment({ ...input, conversationId: 'other' });
      await expect(store.putAttachment({ ...input, conversationId: 'missing' })).rejects.toMatchObject({ code: 'not_found' });
      const { message } = await store.appendMessage({
        conversationId: 'files',
        clientId: 'with-files',
        author: { role: 'visitor' },
        text: '',
        attachments: [{ id: attachment.id, name: 'notes.txt', type: 'text/plain', size: content.byteLength, thumbnail: true }],
      });
      expect(store.health()).toMatchObject({ attachments: 3, attachmentBytes: 3 * content.byteLength + 6 });

      const check = async (): Promise<void> => {
        expect(await store.getAttachment(attachment.id)).toEqual(attachment);
        // A message of files alone: the inbox previews its files.
        expect((await store.getConversation('files'))?.lastMessage).toMatchObject({ text: '', attachments: 1, attachmentName: 'notes.txt' });
        expect(await store.findAttachmentByUploadKey('files', 'visitor', 'key:one')).toEqual(attachment);
        expect(await store.findAttachmentByUploadKey('files', 'agent:x', 'key:one')).toBeUndefined();
        expect(Buffer.from((await store.readAttachment(attachment.id, 'content'))!).toString()).toBe('the file body');
        expect([...(await store.readAttachment(attachment.id, 'thumbnail'))!]).toEqual([1, 2, 3]);
        expect(await store.readAttachment(second.attachment.id, 'thumbnail')).toBeUndefined();
        expect(await store.readAttachment('nope', 'content')).toBeUndefined();
        expect((await store.getMessage('files', message.id))?.attachments).toEqual([
          { id: attachment.id, name: 'notes.txt', type: 'text/plain', size: content.byteLength, thumbnail: true },
        ]);
      };
      await check();
      await restart();
      await check();
      expect(store.health()).toMatchObject({ attachments: 3, attachmentBytes: 3 * content.byteLength + 6 });

      expect(await store.eraseConversation('files')).toBe(true);
      const erased = async (): Promise<void> => {
        expect(await store.getAttachment(attachment.id)).toBeUndefined();
        expect(await store.getAttachment(second.attachment.id)).toBeUndefined();
        expect(await store.findAttachmentByUploadKey('files', 'visitor', 'key:one')).toBeUndefined();
        expect(await store.readAttachment(attachment.id, 'content')).toBeUndefined();
        expect(Buffer.from((await store.readAttachment(elsewhere.attachment.id, 'content'))!).toString()).toBe('the file body');
        expect(store.health()).toMatchObject({ attachments: 1, attachmentBytes: content.byteLength + 3 });
      };
      await erased();
      await restart();
      await erased();
    });

    it("refuses a job's file and message once an erasure deleted the job, also in a new conversation under the same id", async () => {
      await conversationWith('job-conv', []);
      await store.enqueue('jobs', { n: 1 }, 'job:job-conv:1');
      const file = (uploadKey: string) => ({
        conversationId: 'job-conv',
        uploader: 'visitor',
        uploadKey,
        name: 'photo.txt',
        type: 'text/plain' as const,
        content: new TextEncoder().encode(`bytes of ${uploadKey}`),
        forQueueItem: 'job:job-conv:1',
      });
      const message = (clientId: string) => ({ conversationId: 'job-conv', clientId, author: { role: 'visitor' as const }, text: clientId, forQueueItem: 'job:job-conv:1' });
      // While the job exists (pending, or dead after its last attempt) its writes are stored.
      expect((await store.putAttachment(file('before'))).created).toBe(true);
      expect((await store.appendMessage(message('before'))).created).toBe(true);
      const [item] = await store.listQueueItems('jobs', 10);
      expect(await store.updateQueueItem({ ...item!, state: 'dead' })).toBe(true);
      expect((await store.appendMessage(message('dead'))).created).toBe(true);

      expect(await store.eraseConversation('job-conv', { queueItemIdPrefixes: ['job:job-conv:'] })).toBe(true);
      await store.createConversation({ id: 'job-conv', channel: 'whatsapp', name: 'The same customer again' });
      const refused = async (): Promise<void> => {
        await expect(store.putAttachment(file('after'))).rejects.toMatchObject({ code: 'not_found' });
        await expect(store.appendMessage(message('after'))).rejects.toMatchObject({ code: 'not_found' });
        expect(await store.getMessages('job-conv', { limit: 10 })).toEqual([]);
        expect(await store.findAttachmentByUploadKey('job-conv', 'visitor', 'after')).toBeUndefined();
        expect(store.health()).toMatchObject({ attachments: 0, attachmentBytes: 0 });
      };
      await refused();
      await restart();
      await refused();
      // Writes of no job, or of a job that exists, go on as before.
      expect((await store.appendMessage({ ...message('mine'), forQueueItem: undefined })).created).toBe(true);
    });

    it('reports health', async () => {
      await conversationWith('c', [{ role: 'visitor', text: 'a' }, { role: 'visitor', text: 'b' }]);
      expect(store.health()).toMatchObject({ ok: true, conversations: 1, messages: 2 });
      await restart();
      expect(store.health()).toMatchObject({ ok: true, conversations: 1, messages: 2 });
    });

    it('hands out copies: changing a returned object changes nothing stored', async () => {
      const [m] = await conversationWith('c', [{ role: 'visitor', text: 'orig' }]);
      m!.text = 'mutated';
      m!.statusAt.read = 'x';
      const [page] = await store.getMessages('c', { limit: 1 });
      page!.author.role = 'agent';
      const c = await store.getConversation('c');
      c!.lastMessage!.text = 'mutated';
      expect(await store.getMessages('c', { limit: 1 })).toMatchObject([{ text: 'orig', author: { role: 'visitor' }, statusAt: {} }]);
      expect((await store.getMessages('c', { limit: 1 }))[0]?.statusAt.read).toBeUndefined();
      expect((await store.getConversation('c'))?.lastMessage?.text).toBe('orig');
    });
  });
}
