/**
 * Draws the agent's attention to new visitor messages: the unread count in the tab title and, when the agent
 * turned it on (remembered in localStorage), a short chime synthesised with WebAudio (no audio asset).
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** localStorage key of the sound toggle. */
export const SOUND_STORAGE_KEY = 'anon-chat-console:sound';

function readSoundSetting(): boolean {
  try {
    return localStorage.getItem(SOUND_STORAGE_KEY) === 'on';
  } catch {
    return false;
  }
}

/** Tab title count and optional sound for the console. */
export class AttentionController implements ReactiveController {
  soundEnabled = readSoundSetting();
  /** How many chimes played (the console exposes it for tests and the sound toggle's live region). */
  chimes = 0;
  private baseTitle = '';
  private audio: AudioContext | undefined;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly unread: () => number,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.baseTitle = document.title;
  }

  hostDisconnected(): void {
    document.title = this.baseTitle;
    void this.audio?.close();
    this.audio = undefined;
  }

  hostUpdated(): void {
    const count = this.unread();
    const title = count > 0 ? `(${count > 99 ? '99+' : count}) ${this.baseTitle}` : this.baseTitle;
    if (document.title !== title) document.title = title;
  }

  /** Turns the sound on or off; called from a click, which also lets the browser start audio. */
  toggleSound(): void {
    this.soundEnabled = !this.soundEnabled;
    try {
      localStorage.setItem(SOUND_STORAGE_KEY, this.soundEnabled ? 'on' : 'off');
    } catch {
      // Not remembered without storage; the toggle still works for this tab.
    }
    if (this.soundEnabled) this.chime();
    this.host.requestUpdate();
  }

  /** A visitor wrote: chime unless the agent is already looking at that conversation. */
  notify(lookingAtIt: boolean): void {
    if (!this.soundEnabled || (lookingAtIt && document.visibilityState === 'visible')) return;
    this.chime();
  }

  private chime(): void {
    try {
      this.audio ??= new AudioContext();
      const ctx = this.audio;
      if (ctx.state === 'suspended') void ctx.resume();
      const start = ctx.currentTime + 0.01;
      // Two soft sine notes (E6 then A6) with short exponential decays: audible, not alarming.
      for (const [offset, frequency] of [
        [0, 1318.5],
        [0.12, 1760],
      ] as const) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'sine';
        osc.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, start + offset);
        gain.gain.exponentialRampToValueAtTime(0.18, start + offset + 0.015);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.35);
        osc.connect(gain).connect(ctx.destination);
        osc.start(start + offset);
        osc.stop(start + offset + 0.4);
      }
      this.chimes++;
    } catch {
      // No audio device or WebAudio disabled: the title count still tells the agent.
    }
  }
}
