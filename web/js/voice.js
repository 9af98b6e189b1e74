// The speak button: the TTS service's /api/tts/speak streams a WAV sentence by
// sentence, which plays as it arrives (speech.js); meanwhile the same button
// reads "Detener voz" and stops it, as Esc does. A browser without Web Audio
// or readable fetch bodies plays the whole file in the answer's <audio> element.

import { ApiError, call, isAbort } from "./api.js";
import { StreamingSpeech, canStream } from "./speech.js";

const LISTEN = "Escuchar";
const STOP = "Detener voz";
let reading = null;  // {speech, button} of the answer being read aloud: one at a time

/** Is an answer being read aloud (so Esc has something to stop)? */
export function speaking() {
  return reading !== null;
}

export function stopSpeaking() {
  reading?.speech.stop();
}

/** The speak button's click: read text aloud, or stop when this button is already reading. */
export async function speak(text, audio, button) {
  const again = reading && reading.button === button;
  stopSpeaking();
  if (again) {
    return;
  }
  if (!text) {
    throw new Error("Esta respuesta no tiene texto que leer en voz alta.");
  }
  if (!canStream()) {
    return speakWholeFile(text, audio, button);
  }
  // Made now, inside the click, so that the browser's autoplay policy lets it sound.
  const speech = new StreamingSpeech();
  const current = reading = { speech, button };
  const title = button.title;
  button.textContent = STOP;
  button.title = "Detener la lectura en voz alta (Esc)";
  button.dataset.speaking = "true";
  try {
    const response = await call("tts", "speak", { method: "POST", json: { text, language: "es" },
                                                  signal: speech.signal });
    await speech.play(response);
  } catch (error) {
    if (speech.stopped || isAbort(error)) {
      return;
    }
    speech.stop();
    if (!(error instanceof TypeError)) {
      throw error;  // the service's own error (ApiError), or a body that is no 16-bit PCM WAV
    }
    // A TypeError from reading the body: the service broke the transfer off mid-speech.
    throw new ApiError("La voz se cortó: el servicio de voz dejó de enviar el audio. Vuelve a intentarlo.",
                       { service: "tts" });
  } finally {
    if (reading === current) {
      reading = null;
    }
    button.textContent = LISTEN;
    button.title = title;
    delete button.dataset.speaking;
  }
}

/** The whole WAV, then the <audio> element: for browsers that cannot play it as it arrives. */
async function speakWholeFile(text, audio, button) {
  button.disabled = true;
  button.textContent = "Generando voz…";
  try {
    const response = await call("tts", "speak", { method: "POST", json: { text, language: "es" } });
    const wav = await response.blob();
    if (audio.src) {
      URL.revokeObjectURL(audio.src);
    }
    audio.src = URL.createObjectURL(wav);
    audio.hidden = false;
    // A browser may refuse to start sound by itself; the controls stay there to press play.
    await audio.play().catch(() => {});
  } finally {
    button.disabled = false;
    button.textContent = LISTEN;
  }
}
