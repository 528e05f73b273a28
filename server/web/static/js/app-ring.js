// Waking a person: a Web Audio beep pattern and vibration, repeated until the alarm is answered
// or silenced. On by default; a browser lets sound start only after a gesture, so the first tap
// on the page unlocks it. A quiet alarm (an intruder in the house) only vibrates.

const EVERY_MS = 3000;
const PATTERN = [400, 150, 400, 150, 400];

export class Ringer {
  constructor() {
    this.context = null;
    this.timer = null;
    this.id = null;
    this.quiet = false;
    this.taps = [];
    const unlock = () => {
      this.unlock();
      document.removeEventListener("pointerdown", unlock, true);
      document.removeEventListener("keydown", unlock, true);
      for (const callback of this.taps.splice(0)) callback();
      this.tapped = true;
    };
    document.addEventListener("pointerdown", unlock, true);
    document.addEventListener("keydown", unlock, true);
  }

  /** Call back on the first tap (a browser asks for permissions only then). */
  onFirstTap(callback) {
    if (this.tapped) callback();
    else this.taps.push(callback);
  }

  unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      this.context ??= new Context();
      if (this.context.state === "suspended") this.context.resume();
    } catch {
      this.context = null;
    }
  }

  /** Ring for alarm id until stop(); quiet: vibrate only. */
  start({ id, quiet = false }) {
    this.stop();
    this.id = id;
    this.quiet = quiet;
    document.body.dataset.ringing = quiet ? "vibrate" : "sound";
    this.once();
    this.timer = setInterval(() => this.once(), EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.id = null;
    delete document.body.dataset.ringing;
    try {
      navigator.vibrate?.(0);
    } catch {
      /* no vibration here */
    }
  }

  once() {
    try {
      navigator.vibrate?.(PATTERN);
    } catch {
      /* no vibration here */
    }
    if (!this.quiet) this.beeps();
  }

  beeps() {
    const context = this.context;
    if (!context || context.state !== "running") return;
    for (let i = 0; i < 3; i += 1) {
      this.tone(context, 988, i * 0.6, 0.25);
      this.tone(context, 740, i * 0.6 + 0.28, 0.25);
    }
  }

  tone(context, frequency, at, length) {
    const start = context.currentTime + at;
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "square";
    oscillator.frequency.setValueAtTime(frequency, start);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.4, start + 0.02);
    gain.gain.setValueAtTime(0.4, start + length - 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + length + 0.02);
  }
}
