"""The speak button: the streamed WAV of /api/tts/speak plays as it arrives.

The page's Web Audio calls are recorded by wrapping AudioBufferSourceNode's
start/stop and the stream reader's read (RECORDER): every buffer scheduled,
with the moment it was, and every piece of the response the page read. A
stand-in TTS (HeldSpeech) sends a header and the first samples, then holds the
rest until the test lets it go: playback starting meanwhile is seen without any
timing, and a stop is seen at its end as the connection closing.
"""

from __future__ import annotations

import json
import select
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests
from playwright.sync_api import expect

from capibara6.tts.audio import read_wav, wav_header
from tests.browser.conftest import OTHER_MODEL, TIMEOUT_MS, answer_done, send

SPOKEN = ("Hola, soy Capibara6. Hoy hace sol en Madrid. Mañana lloverá un poco en el norte. "
          "El fin de semana volverá el buen tiempo.")

RECORDER = """() => {
  const seen = window.speechSeen = { starts: [], buffers: [], contexts: [], reads: [], aborted: null };
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (...args) {
    const started = { at: performance.now(), frames: this.buffer.length, rate: this.buffer.sampleRate,
                      duration: this.buffer.duration, channels: this.buffer.numberOfChannels,
                      stopped: null, ended: null };
    seen.starts.push(started);
    seen.buffers.push(this.buffer);
    seen.contexts.push(this.context);
    this.speechSeen = started;
    this.addEventListener("ended", () => { started.ended = performance.now(); });
    return start.apply(this, args);
  };
  const stop = AudioBufferSourceNode.prototype.stop;
  AudioBufferSourceNode.prototype.stop = function (...args) {
    this.speechSeen.stopped = performance.now();
    return stop.apply(this, args);
  };
  const abort = AbortController.prototype.abort;
  AbortController.prototype.abort = function (...args) {
    seen.aborted = seen.aborted ?? performance.now();
    return abort.apply(this, args);
  };
  const read = ReadableStreamDefaultReader.prototype.read;
  ReadableStreamDefaultReader.prototype.read = function () {
    return read.call(this).then((result) => {
      seen.reads.push({ at: performance.now(), done: result.done, bytes: result.done ? 0 : result.value.length });
      return result;
    }, (error) => {
      seen.reads.push({ at: performance.now(), error: error.name });
      throw error;
    });
  };
}"""
SEEN = """() => ({ starts: window.speechSeen.starts, reads: window.speechSeen.reads, aborted: window.speechSeen.aborted,
                  contexts: window.speechSeen.contexts.map((context) => context.state) })"""
# Every sample scheduled, in order (channel 0: the service speaks mono).
SAMPLES = "() => window.speechSeen.buffers.flatMap((buffer) => Array.from(buffer.getChannelData(0)))"


def record(page) -> None:
    page.evaluate(RECORDER)


def seen(page) -> dict:
    return page.evaluate(SEEN)


def spoken_answer(page, model, reply: str = SPOKEN):
    model(OTHER_MODEL, reply=reply, token_delay=0)
    page.locator("#model").select_option(OTHER_MODEL)
    send(page, "Preséntate")
    return answer_done(page)


# What the stand-in sends before it holds: a second of samples and half of the next one.
FIRST_BYTES = 2 * 16000 + 1


class HeldSpeech:
    """A stand-in TTS: a streamed WAV's header and first samples, then the rest only once released.

    The samples are cut at odd byte counts, in the middle of a sample, as a network may cut them.
    `closed` is set when the page closes the connection while it is held; `broken` makes the
    release break the transfer off instead (no last chunk), as the service does on a late error.
    """

    RATE = 16000

    def __init__(self):
        tone = np.sin(np.arange(3 * self.RATE) * 2 * np.pi * 440 / self.RATE) * 0.5
        self.samples = (tone * 32767).astype("<i2")
        pcm = self.samples.tobytes()
        self.pieces = [wav_header(self.RATE, None) + pcm[:FIRST_BYTES], pcm[FIRST_BYTES:77777], pcm[77777:]]
        self.release = threading.Event()
        self.closed = threading.Event()
        self.broken = False
        self.requests: list[dict] = []
        held = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                held.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.chunk(held.pieces[0])
                while not held.release.is_set():
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and not self.connection.recv(1):
                        held.closed.set()  # the page aborted the request
                        self.close_connection = True
                        return
                if held.broken:
                    self.close_connection = True
                    return
                for piece in held.pieces[1:]:
                    self.chunk(piece)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/tts/speak"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held(page):
    """HeldSpeech in place of the TTS service for this page (the page still asks its own origin)."""
    with HeldSpeech() as speech:
        page.route("**/api/tts/speak", lambda route: route.continue_(url=speech.url))
        yield speech


def test_speak_plays_the_service_s_stream_as_it_arrives(page, model, stack):
    answer = spoken_answer(page, model, f"{SPOKEN}\n\n```python\nprint('esto no se lee')\n```")
    record(page)
    button = answer.locator("[data-action=speak]")
    with page.expect_request("**/api/tts/speak") as asked:
        button.click()
    expect(button).to_have_text("Detener voz")
    # What is read aloud: the answer's prose, not its code.
    sent = asked.value.post_data_json
    assert sent == {"text": SPOKEN, "language": "es"}
    page.wait_for_function("() => window.speechSeen.reads.some((read) => read.done)")
    # Played to its end, the button is a speak button again.
    expect(button).to_have_text("Escuchar", timeout=3 * TIMEOUT_MS)
    after = seen(page)
    starts, reads = after["starts"], after["reads"]
    end = next(read["at"] for read in reads if read.get("done"))
    # Playback started before the page had the whole response.
    assert starts and starts[0]["at"] < end
    # The same audio the service sends for this text (espeak-ng says it the same each time):
    # every sample, at its rate, scheduled once and back to back.
    reply = requests.post(f"{stack.nginx.url}/api/tts/speak", json=sent, timeout=60)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "audio/wav"
    expected, rate = read_wav(reply.content)
    assert {start["rate"] for start in starts} == {rate}
    assert {start["channels"] for start in starts} == {1}
    assert sum(start["frames"] for start in starts) == len(expected)
    assert sum(start["duration"] for start in starts) == pytest.approx(len(expected) / rate)
    assert len(expected) / rate > 2.0
    np.testing.assert_array_equal(np.array(page.evaluate(SAMPLES), dtype=np.float32), expected)
    # The whole-file fallback's <audio> element stays out of the way.
    expect(answer.locator("audio")).to_be_hidden()


def test_playback_starts_while_the_response_is_still_coming(page, model, held):
    answer = spoken_answer(page, model)
    record(page)
    answer.locator("[data-action=speak]").click()
    # The stand-in holds everything after its first piece: a start now is playback
    # before the response ended, with the half sample at the cut kept back.
    # (The browser may hand the piece over in several reads: each plays as it comes.)
    page.wait_for_function(f"""() => window.speechSeen.starts.reduce((sum, start) => sum + start.frames, 0)
                                   === {(FIRST_BYTES - 1) // 2}""")
    assert not held.closed.is_set()
    early = seen(page)
    assert not any(read.get("done") for read in early["reads"])
    held.release.set()
    expect(answer.locator("[data-action=speak]")).to_have_text("Escuchar", timeout=3 * TIMEOUT_MS)
    starts = seen(page)["starts"]
    assert {start["rate"] for start in starts} == {HeldSpeech.RATE}
    assert sum(start["frames"] for start in starts) == len(held.samples)
    np.testing.assert_array_equal(np.array(page.evaluate(SAMPLES), dtype=np.float32),
                                  held.samples.astype(np.float32) / 32768)
    assert held.requests == [{"text": SPOKEN, "language": "es"}]


@pytest.mark.parametrize("how", ["button", "Escape"])
def test_stop_silences_the_voice_and_cancels_the_request(page, model, held, how):
    answer = spoken_answer(page, model)
    record(page)
    button = answer.locator("[data-action=speak]")
    button.click()
    page.wait_for_function("() => window.speechSeen.starts.length > 0")
    expect(button).to_have_text("Detener voz")
    if how == "button":
        button.click()
    else:
        page.keyboard.press("Escape")
    expect(button).to_have_text("Escuchar")
    # The stand-in, still holding the rest, sees the page close the connection.
    assert held.closed.wait(TIMEOUT_MS / 1000)
    # Silent: each piece scheduled had ended before the stop or was stopped by it (a closed
    # context ends nothing more), and the context is closed.
    page.wait_for_function("() => window.speechSeen.contexts.every((context) => context.state === 'closed')")
    after = seen(page)
    assert len(after["starts"]) == 1 and after["aborted"] is not None
    for start in after["starts"]:
        if start["stopped"] is None:
            assert start["ended"] is not None and start["ended"] < after["aborted"], start
        else:
            assert start["stopped"] >= after["aborted"], start
    assert after["reads"][-1].get("error") == "AbortError"
    assert not any(read.get("done") for read in after["reads"])
    # The answer is still there and Esc did not touch it.
    expect(answer).to_have_attribute("data-state", "done")
    expect(page.locator("#notice")).to_be_hidden()


def test_a_transfer_broken_off_mid_speech_says_so(page, model, held):
    answer = spoken_answer(page, model)
    record(page)
    held.broken = True
    answer.locator("[data-action=speak]").click()
    page.wait_for_function("() => window.speechSeen.starts.length > 0")
    held.release.set()
    expect(page.locator("#notice-text")).to_have_text(
        "La voz se cortó: el servicio de voz dejó de enviar el audio. Vuelve a intentarlo.")
    expect(page.locator("#notice")).to_have_attribute("data-kind", "error")
    expect(answer.locator("[data-action=speak]")).to_have_text("Escuchar")


def test_a_refused_request_shows_the_service_s_error(page, model, stack):
    answer = spoken_answer(page, model, "Capibara " * 400)
    record(page)
    with page.expect_request("**/api/tts/speak") as asked:
        answer.locator("[data-action=speak]").click()
    # The service's own words: the text is over its limit (a 413 with {error, code}).
    reply = requests.post(f"{stack.nginx.url}/api/tts/speak", json=asked.value.post_data_json, timeout=60)
    assert reply.status_code == 413
    expect(page.locator("#notice-text")).to_have_text(f"El servicio de voz respondió: {reply.json()['error']}")
    expect(answer.locator("[data-action=speak]")).to_have_text("Escuchar")
    assert seen(page)["starts"] == []


def test_without_web_audio_the_whole_file_plays_in_the_audio_element(page, model):
    answer = spoken_answer(page, model)
    page.evaluate("() => { delete window.AudioContext; }")
    answer.locator("[data-action=speak]").click()
    audio = answer.locator("audio")
    expect(audio).to_be_visible()
    state = page.wait_for_function("""() => {
        const audio = document.querySelector("article.message.assistant audio");
        return audio.readyState >= 1 && !audio.error && { src: audio.src, duration: audio.duration };
    }""").json_value()
    assert state["src"].startswith("blob:") and state["duration"] > 2.0
