// Speech that plays as it arrives. The TTS service's /api/tts/speak streams a
// WAV sentence by sentence: the first audio comes in ~0.2 s, the whole file
// only seconds later. An <audio> element on a blob would wait for the whole
// file, so here each piece of 16-bit PCM, as fetch hands it over, becomes an
// AudioBuffer started right where the previous one ends on an AudioContext.

// A streamed WAV's header cannot know the length: its data size is this
// (the service writes 0xFFFFFFFF, espeak-ng 0x7FFFFFFF); the data runs to the end.
const UNKNOWN_SIZES = new Set([0xFFFFFFFF, 0x7FFFFFFF]);
const PCM = 1;

/** Can this browser play a response as it arrives? Web Audio and a readable fetch body are needed. */
export function canStream() {
  return typeof window.AudioContext === "function" && typeof window.ReadableStream === "function" &&
    typeof Response === "function" && "body" in Response.prototype;
}

function ascii(bytes, at) {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function joined(first, second) {
  if (first.length === 0) {
    return second;
  }
  const both = new Uint8Array(first.length + second.length);
  both.set(first);
  both.set(second, first.length);
  return both;
}

/**
 * Reads a WAV piece by piece. Pieces are cut wherever the network cut them: in
 * the middle of the header, of a sample, of a frame; what is not whole yet waits
 * for the next piece.
 */
export class WavReader {
  constructor() {
    this.format = null;         // {sampleRate, channels, frameBytes} once the fmt chunk is read
    this.inData = false;        // past the header, in the samples
    this.dataLeft = Infinity;   // bytes of samples still to come; a streamed WAV does not say
    this.pending = new Uint8Array(0);  // bytes kept for the next piece: the header so far, a split frame
  }

  /** The whole frames this piece completes, one Float32Array per channel ([] while the header is incomplete). */
  push(piece) {
    if (!this.inData) {
      const bytes = joined(this.pending, piece);
      const start = this.#header(bytes);
      if (start < 0) {
        this.pending = bytes;
        return [];
      }
      this.pending = new Uint8Array(0);
      this.inData = true;
      piece = bytes.subarray(start);
    }
    // A WAV whose size is known may have chunks after its samples: they are not sound.
    const samples = piece.subarray(0, Math.min(piece.length, this.dataLeft));
    this.dataLeft -= samples.length;
    const bytes = joined(this.pending, samples);
    const { channels, frameBytes } = this.format;
    const frames = Math.floor(bytes.length / frameBytes);
    this.pending = bytes.slice(frames * frameBytes);
    if (frames === 0) {
      return [];
    }
    // DataView: WAV is little-endian whatever the machine is.
    const view = new DataView(bytes.buffer, bytes.byteOffset, frames * frameBytes);
    const out = Array.from({ length: channels }, () => new Float32Array(frames));
    for (let frame = 0; frame < frames; frame++) {
      for (let channel = 0; channel < channels; channel++) {
        out[channel][frame] = view.getInt16((frame * channels + channel) * 2, true) / 32768;
      }
    }
    return out;
  }

  /** Where the samples start in bytes, or -1 when the header has not all arrived yet. */
  #header(bytes) {
    if (bytes.length < 12) {
      return -1;
    }
    if (ascii(bytes, 0) !== "RIFF" || ascii(bytes, 8) !== "WAVE") {
      throw new Error("El servicio de voz no envió un audio WAV.");
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 12;
    while (at + 8 <= bytes.length) {
      const id = ascii(bytes, at);
      const size = view.getUint32(at + 4, true);
      const body = at + 8;
      if (id === "data") {
        if (!this.format) {
          throw new Error("El audio WAV del servicio de voz no dice su formato antes de las muestras.");
        }
        this.dataLeft = UNKNOWN_SIZES.has(size) ? Infinity : size;
        return body;
      }
      if (body + size > bytes.length) {
        return -1;
      }
      if (id === "fmt ") {
        const encoding = view.getUint16(body, true);
        const channels = view.getUint16(body + 2, true);
        const bits = view.getUint16(body + 14, true);
        if (encoding !== PCM || bits !== 16 || channels < 1) {
          throw new Error(`El audio WAV del servicio de voz no es PCM de 16 bits (formato ${encoding}, ${bits} bits).`);
        }
        this.format = { sampleRate: view.getUint32(body + 4, true), channels, frameBytes: channels * 2 };
      }
      at = body + size + (size & 1);  // chunks are padded to an even length
    }
    return -1;
  }
}

/**
 * One reading aloud: made in the click (a browser lets an AudioContext made
 * there sound), then play(response) plays the body as it arrives; stop() ends
 * the sound at once and aborts the request, whose `signal` is this one's.
 */
export class StreamingSpeech {
  constructor() {
    this.context = new AudioContext();
    // Some browsers make it suspended even in a click; resuming in the click is allowed.
    this.context.resume().catch(() => {});
    this.controller = new AbortController();
    this.sources = new Set();
    this.next = 0;  // when the next piece starts, on the context's clock
  }

  get signal() {
    return this.controller.signal;
  }

  get stopped() {
    return this.controller.signal.aborted;
  }

  /** Play the WAV body as it arrives; resolves when the last sample has sounded. */
  async play(response) {
    const reader = response.body.getReader();
    const wav = new WavReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        this.#schedule(wav.push(value), wav.format);
      }
    } finally {
      if (this.stopped) {
        reader.cancel().catch(() => {});
      }
    }
    await this.#ended();
    this.#close();
  }

  stop() {
    this.controller.abort();  // a read waiting for the body rejects, and the connection closes
    for (const source of this.sources) {
      source.onended = null;
      source.stop();
    }
    this.sources.clear();
    this.#close();
  }

  #schedule(channels, format) {
    if (channels.length === 0 || this.stopped) {
      return;
    }
    // The buffer keeps the WAV's own rate; the context resamples to the device's.
    const buffer = this.context.createBuffer(channels.length, channels[0].length, format.sampleRate);
    channels.forEach((samples, channel) => buffer.copyToChannel(samples, channel));
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    // Back to back; when the network fell behind, from now (a gap, never an overlap).
    this.next = Math.max(this.next, this.context.currentTime);
    source.start(this.next);
    this.next += buffer.duration;
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
  }

  /** Resolves once every scheduled piece has played (or at once when none was). */
  #ended() {
    const last = [...this.sources].pop();
    if (!last) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      last.addEventListener("ended", resolve);
    });
  }

  #close() {
    if (this.context.state !== "closed") {
      this.context.close().catch(() => {});
    }
  }
}
