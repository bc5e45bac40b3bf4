/**
 * Whether the team takes chats now, as visitors are told (`agents:presence {online}`): the agents who set themselves
 * Online and have a console connected, and nobody outside business hours. "Online" alone is not enough: an agent who
 * closed every console tab would leave visitors waiting for an answer nobody sees.
 *
 * Agent availability is stored with the agent and mirrored in `AVAILABLE_ROOM` membership of their sockets (every
 * node reads it from the sockets). Business hours and the assignment settings (round-robin) are stored settings,
 * cached per node: the node that changes one tells the others (`serverSideEmit`), and every node re-reads them on its
 * periodic check, which also notices the hours opening and closing and tells its own visitors. Cached because every
 * visitor message asks whether round-robin is on: a read per message would be a database round trip per message.
 */
import type { Server } from 'socket.io';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Availability } from '../protocol/agents.ts';
import type { AssignmentSettings } from '../protocol/assignment.ts';
import { DEFAULT_BUSINESS_HOURS, isWithinBusinessHours, type BusinessHours } from '../protocol/business-hours.ts';
import type { AgentRecord, Store } from './store/store.ts';
import { AGENTS_ROOM, AVAILABLE_ROOM, agentRoom, type AgentNamespace, type VisitorNamespace } from './realtime/namespaces.ts';
import { availableAgentCount, availableAgentIds, isClustered, onlineAgents } from './realtime/presence.ts';

/** Store namespace of team-wide settings. */
export const SETTINGS_RECORDS = 'settings';
/** Record key of the business hours among SETTINGS_RECORDS. */
export const BUSINESS_HOURS_KEY = 'business-hours';
/** Record key of the assignment settings among SETTINGS_RECORDS. */
export const ASSIGNMENT_KEY = 'assignment';
/** Round-robin is off until an admin turns it on. */
const DEFAULT_ASSIGNMENT: AssignmentSettings = { roundRobin: false };
/** Server-side event a node sends the others after storing new settings (business hours or assignment). */
const SETTINGS_CHANGED = 'team-settings:changed';
/**
 * What SETTINGS_CHANGED carries: the setting stored and, for the hours, whether the sending node told every visitor
 * the team is open (what this node's visitors last heard about the hours). Nodes before this payload send nothing.
 */
const settingsChange = z.discriminatedUnion('setting', [
  z.strictObject({ setting: z.literal('hours'), open: z.boolean() }),
  z.strictObject({ setting: z.literal('assignment') }),
]);
type SettingsChange = z.infer<typeof settingsChange>;
/** How often each node looks whether business hours opened or closed (visitors see the change within this). */
export const HOURS_CHECK_MS = 30_000;

/** What `TeamAvailability` works with (a subset of the bridge context, which holds it). */
export interface TeamAvailabilityDeps {
  store: Store;
  clock: () => Date;
  io: Server;
  visitorNs: VisitorNamespace;
  agentNs: AgentNamespace;
  logger: Logger;
}

/** How a re-read of a setting ended: in the cache, dropped (a newer read or write got there first), or no answer. */
type Reload = 'applied' | 'stale' | 'failed';

/**
 * One stored setting as cached on this node. Reads and this node's writes take tickets in the order they start (a
 * write once stored): a read's result goes into the cache only if nothing later got there first, so a read that
 * began before a write (or before another read) and ends after it cannot put the older value back.
 */
class CachedSetting<T> {
  readonly #store: Store;
  readonly #key: string;
  readonly #fromStored: (stored: unknown) => T;
  #value: T;
  #issued = 0;
  #applied = 0;

  constructor(store: Store, key: string, fromStored: (stored: unknown) => T, initial: T) {
    this.#store = store;
    this.#key = key;
    this.#fromStored = fromStored;
    this.#value = initial;
  }

  get value(): T {
    return this.#value;
  }

  async write(value: T): Promise<void> {
    await this.#store.putRecord(SETTINGS_RECORDS, this.#key, value);
    this.#value = value;
    this.#applied = ++this.#issued;
  }

  /** Re-reads the stored value; throws when the store cannot answer. */
  async reload(): Promise<'applied' | 'stale'> {
    const ticket = ++this.#issued;
    const stored = await this.#store.getRecord<unknown>(SETTINGS_RECORDS, this.#key);
    if (ticket < this.#applied) return 'stale';
    this.#applied = ticket;
    this.#value = this.#fromStored(stored);
    return 'applied';
  }
}

/** The team's availability for visitors: each agent's Online/Away, their consoles, business hours. */
export class TeamAvailability {
  readonly #deps: TeamAvailabilityDeps;
  readonly #hours: CachedSetting<BusinessHours>;
  readonly #assignment: CachedSetting<AssignmentSettings>;
  #loaded: Promise<void> | undefined;
  /** Whether this node's visitors were last told the hours are open (undefined until the hours are first read). */
  #open: boolean | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: TeamAvailabilityDeps) {
    this.#deps = deps;
    const hours = (stored: unknown): BusinessHours => (stored as BusinessHours | undefined) ?? DEFAULT_BUSINESS_HOURS;
    this.#hours = new CachedSetting(deps.store, BUSINESS_HOURS_KEY, hours, DEFAULT_BUSINESS_HOURS);
    this.#assignment = new CachedSetting(
      deps.store,
      ASSIGNMENT_KEY,
      (stored) => ({ roundRobin: (stored as Partial<AssignmentSettings> | undefined)?.roundRobin === true }),
      DEFAULT_ASSIGNMENT,
    );
  }

  /** Loads the settings, listens for other nodes' changes and starts the periodic check. */
  start(): void {
    this.#loaded = this.#reloadBoth().then(([hours]) => {
      if (hours === 'applied') this.#open = isWithinBusinessHours(this.#hours.value, this.#deps.clock());
    });
    this.#deps.io.on(SETTINGS_CHANGED, (change: unknown) => void this.#settingsChanged(change));
    this.#timer = setInterval(() => void this.check(), HOURS_CHECK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The business hours in force (the defaults, switched off, until an admin stores some). */
  async businessHours(): Promise<BusinessHours> {
    await this.#loaded;
    return this.#hours.value;
  }

  /** Stores new business hours and tells every node's visitors what they mean now. */
  async setBusinessHours(hours: BusinessHours): Promise<void> {
    await this.#loaded;
    await this.#hours.write(hours);
    const open = isWithinBusinessHours(hours, this.#deps.clock());
    this.#open = open;
    this.#tellOtherNodes({ setting: 'hours', open });
    await this.announce();
  }

  /** The team's assignment settings (round-robin), as cached on this node. */
  async assignmentSettings(): Promise<AssignmentSettings> {
    await this.#loaded;
    return { ...this.#assignment.value };
  }

  /** Stores the assignment settings; every node uses them from its next message on (the others once told). */
  async setAssignmentSettings(settings: AssignmentSettings): Promise<AssignmentSettings> {
    await this.#loaded;
    const next = { ...DEFAULT_ASSIGNMENT, ...settings };
    await this.#assignment.write(next);
    this.#tellOtherNodes({ setting: 'assignment' });
    return { ...next };
  }

  #tellOtherNodes(change: SettingsChange): void {
    // The in-memory adapter has no other nodes (and warns on serverSideEmit).
    if (isClustered(this.#deps.io.of('/'))) this.#deps.io.serverSideEmit(SETTINGS_CHANGED, change);
  }

  /** Another node stored a setting: re-read it, and take over what that node told every visitor about the hours. */
  async #settingsChanged(payload: unknown): Promise<void> {
    const change = settingsChange.safeParse(payload);
    if (!change.success) {
      // A node from before the payload: either setting may have changed, and what it told visitors is unknown, so
      // this node's next check tells its own visitors when the hours it reads differ from the last it knew.
      await this.#reloadBoth();
      return;
    }
    if (change.data.setting === 'assignment') {
      // The hours are not touched: a boundary passing by the clock is still this node's to announce at its next check.
      await this.#reload(this.#assignment);
      return;
    }
    const { open } = change.data;
    // Only with the read in the cache: a check holding an older read would otherwise compare it with the new state
    // and tell this node's visitors a closing nobody made. When the sender's clock or hours differ from what is read
    // here, the next check corrects what visitors heard.
    if ((await this.#reload(this.#hours)) === 'applied') this.#open = open;
  }

  /** Sets an agent Online or Away: stored, their sockets moved on every node, everyone told. */
  async setAgentAvailability(agentId: string, availability: Availability): Promise<AgentRecord> {
    const agent = await this.#deps.store.updateAgent(agentId, { availability });
    const sockets = this.#deps.agentNs.in(agentRoom(agentId));
    if (availability === 'online') sockets.socketsJoin(AVAILABLE_ROOM);
    else sockets.socketsLeave(AVAILABLE_ROOM);
    await this.announce();
    return agent;
  }

  /** How many agents take chats now, as visitors are told: 0 outside business hours. */
  async visitorCount(): Promise<number> {
    await this.#loaded;
    if (!isWithinBusinessHours(this.#hours.value, this.#deps.clock())) return 0;
    return availableAgentCount(this.#deps.agentNs);
  }

  /**
   * The agents who take chats now (Online, a console connected, within business hours): round-robin's candidates.
   * None when another node does not answer in time: a visitor's message must not fail because the turn could not be
   * worked out, so its conversation stays unassigned and the next message tries again.
   */
  async agentsTakingChats(): Promise<string[]> {
    await this.#loaded;
    if (!isWithinBusinessHours(this.#hours.value, this.#deps.clock())) return [];
    try {
      return [...(await availableAgentIds(this.#deps.agentNs))];
    } catch (error) {
      this.#deps.logger.error({ err: error }, 'round-robin could not count the agents who take chats; the conversation stays unassigned');
      return [];
    }
  }

  /** Tells agents who is connected (and Online or Away) and every visitor, on every node, how many take chats. */
  async announce(): Promise<void> {
    const { agentNs, visitorNs, logger } = this.#deps;
    try {
      await this.#loaded;
      const agents = await onlineAgents(agentNs);
      agentNs.to(AGENTS_ROOM).emit('agents:presence', { online: agents });
      const open = isWithinBusinessHours(this.#hours.value, this.#deps.clock());
      visitorNs.emit('agents:presence', { online: open ? agents.filter((a) => a.availability === 'online').length : 0 });
    } catch (error) {
      logger.error({ err: error }, 'agent presence announcement failed');
    }
  }

  /**
   * Re-reads the business hours and, when they opened or closed since the last check, tells this node's visitors (each
   * node tells its own, so none is told twice). Runs every `HOURS_CHECK_MS`; tests call it after moving the clock.
   */
  async check(): Promise<void> {
    await this.#loaded;
    const [hours] = await this.#reloadBoth();
    // A stale read holds hours older than the cache's, which a write or a later read put there and whose meaning was
    // announced already (by the node that stored them, or by the check that read them): comparing the older hours
    // with `#open` would tell visitors a change back to them.
    if (hours !== 'applied') return;
    const open = isWithinBusinessHours(this.#hours.value, this.#deps.clock());
    if (open === this.#open) return;
    this.#open = open;
    try {
      const online = open ? await availableAgentCount(this.#deps.agentNs) : 0;
      this.#deps.visitorNs.local.emit('agents:presence', { online });
    } catch (error) {
      this.#deps.logger.error({ err: error }, 'business hours announcement failed');
    }
  }

  /** Re-reads both settings; resolves with how each re-read ended (the hours', the assignment's). */
  #reloadBoth(): Promise<[Reload, Reload]> {
    return Promise.all([this.#reload(this.#hours), this.#reload(this.#assignment)]);
  }

  /** Re-reads one setting into the cache; 'failed' (cache kept, logged) when the store cannot answer. */
  async #reload<T>(setting: CachedSetting<T>): Promise<Reload> {
    try {
      return await setting.reload();
    } catch (error) {
      this.#deps.logger.warn({ err: error }, 'team settings could not be read; keeping the last known');
      return 'failed';
    }
  }
}
