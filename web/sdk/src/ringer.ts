/**
 * The sound and the desktop notification of an incoming call, in the tab that owns the
 * phone.
 *
 * The ringtone is generated (WebAudio: two mixed sine tones in a ring-ring cadence), so
 * the SDK ships no audio file. Browsers let a page play sound only after a user gesture
 * (autoplay policy): until then the AudioContext stays suspended, `audible` is false and
 * the application may show its own visual cue; the first click or key press anywhere on
 * the page unlocks it. A desktop notification is raised when the tab is hidden and the
 * user allowed notifications (`client.requestNotificationPermission()`, from a click).
 */

export interface RingtoneOptions {
  /** The two tones mixed, in Hz. */
  frequencies: [number, number];
  /** 0..1 */
  volume: number;
}

export interface IncomingInfo {
  id: string;
  title: string;
  body: string;
}

type AudioContextClass = typeof AudioContext;

const CADENCE = [0.4, 0.2, 0.4, 2.0]; // on, off, on, off (seconds)
const CYCLE = CADENCE.reduce((a, b) => a + b, 0);

export class Ringer {
  private context: AudioContext | null = null;
  private gain: GainNode | null = null;
  private oscillators: OscillatorNode[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly ringing = new Set<string>();
  private readonly notifications = new Map<string, Notification>();
  private unlockInstalled = false;
  /** Called when `playing` or `audible` change. */
  onChange: (() => void) | null = null;

  constructor(
    private readonly ringtone: RingtoneOptions | false,
    private readonly notify: boolean,
  ) {}

  /** Whether an incoming call is ringing (sound requested). */
  get playing(): boolean {
    return this.ringing.size > 0 && this.ringtone !== false;
  }

  /** Whether the ringtone can actually be heard (the browser let the page play sound). */
  get audible(): boolean {
    return this.playing && this.context?.state === 'running';
  }

  /** The calls ringing here. */
  get calls(): string[] {
    return [...this.ringing];
  }

  start(call: IncomingInfo): void {
    if (this.ringing.has(call.id)) return;
    this.ringing.add(call.id);
    if (this.ringtone !== false) this.play();
    this.raiseNotification(call);
    this.onChange?.();
  }

  stop(id: string): void {
    if (!this.ringing.delete(id)) return;
    this.notifications.get(id)?.close();
    this.notifications.delete(id);
    if (this.ringing.size === 0) this.silence();
    this.onChange?.();
  }

  stopAll(): void {
    for (const id of [...this.ringing]) this.stop(id);
    void this.context?.close().catch(() => undefined);
    this.context = null;
  }

  private play(): void {
    if (this.timer !== null || this.ringtone === false) return;
    const Context = audioContextClass();
    if (Context === null) return;
    this.context ??= new Context();
    const context = this.context;
    if (context.state === 'suspended') {
      void context.resume().then(() => this.onChange?.(), () => undefined);
      this.installUnlock();
    }
    const gain = context.createGain();
    gain.gain.value = 0;
    gain.connect(context.destination);
    this.gain = gain;
    this.oscillators = this.ringtone.frequencies.map((frequency) => {
      const oscillator = context.createOscillator();
      oscillator.frequency.value = frequency;
      oscillator.connect(gain);
      oscillator.start();
      return oscillator;
    });
    const schedule = () => {
      if (this.gain === null || this.context === null || this.ringtone === false) return;
      const volume = this.ringtone.volume / 2;
      let at = this.context.currentTime + 0.05;
      CADENCE.forEach((seconds, index) => {
        this.gain?.gain.setValueAtTime(index % 2 === 0 ? volume : 0, at);
        at += seconds;
      });
    };
    schedule();
    this.timer = setInterval(schedule, CYCLE * 1000);
  }

  private silence(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const oscillator of this.oscillators) {
      try {
        oscillator.stop();
        oscillator.disconnect();
      } catch {
        // already stopped
      }
    }
    this.oscillators = [];
    this.gain?.disconnect();
    this.gain = null;
  }

  /** Resume the AudioContext on the page's next user gesture (autoplay policy). */
  private installUnlock(): void {
    if (this.unlockInstalled || typeof document === 'undefined') return;
    this.unlockInstalled = true;
    const unlock = () => {
      if (this.context !== null && this.context.state === 'suspended') {
        void this.context.resume().then(() => this.onChange?.(), () => undefined);
      }
      document.removeEventListener('pointerdown', unlock, true);
      document.removeEventListener('keydown', unlock, true);
      this.unlockInstalled = false;
    };
    document.addEventListener('pointerdown', unlock, true);
    document.addEventListener('keydown', unlock, true);
  }

  private raiseNotification(call: IncomingInfo): void {
    if (!this.notify || typeof document === 'undefined' || document.visibilityState !== 'hidden') return;
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    try {
      const notification = new Notification(call.title, { body: call.body, tag: `callboard-${call.id}`, requireInteraction: true });
      notification.onclick = () => {
        window.focus();
        notification.close();
      };
      this.notifications.set(call.id, notification);
    } catch {
      // Some browsers only allow notifications from a service worker.
    }
  }
}

function audioContextClass(): AudioContextClass | null {
  if (typeof window === 'undefined') return null;
  const scope = window as unknown as { AudioContext?: AudioContextClass; webkitAudioContext?: AudioContextClass };
  return scope.AudioContext ?? scope.webkitAudioContext ?? null;
}
