// The speak button: the TTS service's /api/tts/speak answers a WAV file
// (audio/wav), which plays in the answer's own <audio> element.

import { call } from "./api.js";

/** Speak text into audio (an <audio> element); button shows the progress. */
export async function speak(text, audio, button) {
  if (!text) {
    throw new Error("Esta respuesta no tiene texto que leer en voz alta.");
  }
  const label = button.textContent;
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
    button.textContent = label;
  }
}
