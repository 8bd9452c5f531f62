"""Endpointer, classifier and echo guard: pure, driven frame by frame; time is the frame index."""

from __future__ import annotations

import numpy as np
from speechsupport import frames, noise, silence, voice

from ari_app.speech.echo import is_probable_echo
from ari_app.speech.vad import (
    EndOfTurn,
    Endpointer,
    EndpointerConfig,
    SpeechConfirmed,
    SpeechPaused,
    SpeechStarted,
    WebRtcClassifier,
)

Z = np.zeros(160, dtype=np.int16)
CFG = EndpointerConfig(start_frames=3, end_frames=10, pause_frames=3, confirm_frames=6, min_speech_frames=4,
                       max_frames=50, preroll_frames=2, tail_frames=2)


def run(pattern: str, cfg: EndpointerConfig = CFG) -> list[tuple[int, object]]:
    ep = Endpointer(cfg)
    out: list[tuple[int, object]] = []
    for i, ch in enumerate(pattern):
        ev = ep.push(np.full(160, i, dtype=np.int16), ch == "s")
        if ev is not None:
            out.append((i, ev))
    return out


def test_given_speech_then_silence_when_hangover_passes_then_one_end_of_turn_at_the_hangover_frame() -> None:
    events = run("..." + "s" * 8 + "." * 12)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "SpeechConfirmed", "SpeechPaused", "EndOfTurn"]
    start = events[0][1]
    assert isinstance(start, SpeechStarted) and start.frame == 3 and events[0][0] == 5
    i, eot = events[-1]
    assert isinstance(eot, EndOfTurn)
    assert eot.last_speech_frame == 10 and i == 10 + CFG.end_frames
    # audio: 2 preroll frames + 8 speech + 2 tail frames, in order
    assert eot.audio.size == (2 + 8 + 2) * 160
    assert eot.audio[0] == 1 and eot.audio[-1] == 12


def test_given_a_pause_when_caller_goes_on_then_resumed_and_no_end_of_turn_until_real_silence() -> None:
    events = run("s" * 6 + "..." + "s" * 4 + "." * 10)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "SpeechConfirmed", "SpeechPaused", "SpeechResumed", "SpeechPaused", "EndOfTurn"]
    paused_first = events[2][1]
    eot = events[-1][1]
    assert isinstance(paused_first, SpeechPaused) and isinstance(eot, EndOfTurn)
    assert paused_first.speech_frames == 6 and eot.speech_frames == 10


def test_given_a_short_click_when_silence_follows_then_segment_is_discarded_not_a_turn() -> None:
    events = run("..sss" + "." * 12)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "SegmentDiscarded"]
    assert not any(isinstance(e, SpeechConfirmed) for _, e in events)


def test_given_isolated_speech_frames_when_below_start_run_then_nothing_starts() -> None:
    assert run("s.s.ss.s.ss." * 3) == []


def test_given_endless_speech_with_no_gap_when_max_length_and_grace_pass_then_turn_ends_max_length() -> None:
    cfg = EndpointerConfig(start_frames=3, end_frames=10, pause_frames=3, confirm_frames=6, min_speech_frames=4,
                           max_frames=50, max_grace_frames=5, preroll_frames=2, tail_frames=2)
    events = run("s" * 80, cfg)
    eots = [(i, e) for i, e in events if isinstance(e, EndOfTurn)]
    assert len(eots) == 1
    i, eot = eots[0]
    assert isinstance(eot, EndOfTurn) and eot.reason == "max_length" and i == cfg.max_frames + 5 - 1


def test_given_a_long_turn_when_max_length_falls_mid_word_then_it_ends_at_the_next_gap_between_words() -> None:
    # a word runs over the 50-frame limit; the next non-speech frame (frame 53) closes the turn there
    events = run("s" * 53 + "." + "s" * 20)
    eots = [(i, e) for i, e in events if isinstance(e, EndOfTurn)]
    i, eot = eots[0]
    assert isinstance(eot, EndOfTurn) and eot.reason == "max_length" and i == 53
    assert eot.last_speech_frame == 52  # the last word is whole in the audio, not cut at frame 49


def test_given_millisecond_settings_when_converted_then_frames_are_rounded_to_20ms() -> None:
    cfg = EndpointerConfig.from_ms(start_ms=60, end_ms=600, pause_ms=100, confirm_ms=200, min_speech_ms=160,
                                   max_utterance_s=20)
    assert (cfg.start_frames, cfg.end_frames, cfg.pause_frames, cfg.confirm_frames) == (3, 30, 5, 10)
    assert cfg.max_frames == 1000


def test_given_line_noise_below_the_gate_when_classified_then_never_speech() -> None:
    c = WebRtcClassifier(aggressiveness=2, energy_gate_dbfs=-45)
    assert not any(c.is_speech(f) for f in frames(noise(5, -55)))
    assert not any(c.is_speech(f) for f in frames(silence(1)))


def test_given_voiced_signal_when_classified_then_speech_and_endpointer_ends_the_turn() -> None:
    c = WebRtcClassifier(aggressiveness=2, energy_gate_dbfs=-45)
    ep = Endpointer(EndpointerConfig.from_ms(start_ms=60, end_ms=600, pause_ms=100, confirm_ms=200,
                                             min_speech_ms=160, max_utterance_s=20))
    pcm = np.concatenate([silence(0.5), voice(1.0), silence(1.0)])
    events = [e for f in frames(pcm) if (e := ep.push(f, c.is_speech(f))) is not None]
    eot = [e for e in events if isinstance(e, EndOfTurn)]
    assert len(eot) == 1 and eot[0].reason == "silence"
    # speech ran frames 25..74; the turn ends 30 frames (600 ms) after the last speech frame
    assert abs(eot[0].last_speech_frame - 74) <= 2
    assert eot[0].frame - eot[0].last_speech_frame == 30


def test_given_line_noise_clip_when_endpointed_then_no_event() -> None:
    c = WebRtcClassifier(aggressiveness=2, energy_gate_dbfs=-45)
    ep = Endpointer()
    assert [e for f in frames(noise(5, -50)) if (e := ep.push(f, c.is_speech(f)))] == []


def test_given_delayed_quieter_copy_of_our_audio_when_checked_then_echo() -> None:
    rng = np.random.default_rng(3)
    out = list(rng.uniform(-40, -10, 60))
    inbound = [x - 15 + rng.normal(0, 0.5) for x in out[40 - 4 : 60 - 4]]  # 4 frames later, 15 dB down
    assert is_probable_echo(inbound, out)


def test_given_unrelated_caller_speech_when_checked_then_not_echo() -> None:
    rng = np.random.default_rng(4)
    out = list(rng.uniform(-40, -10, 60))
    inbound = list(rng.uniform(-40, -10, 20))
    assert not is_probable_echo(inbound, out)


def test_given_louder_copy_when_checked_then_not_echo_because_echo_is_always_attenuated() -> None:
    rng = np.random.default_rng(5)
    out = list(rng.uniform(-40, -20, 60))
    inbound = [x + 6 for x in out[40:60]]
    assert not is_probable_echo(inbound, out)


def test_given_a_click_then_a_pause_when_speech_follows_then_confirmation_counts_only_the_new_speech() -> None:
    # click (3 frames), pause (4 frames ≥ pause_frames), then speech: confirm needs 6 *new* frames
    events = run("sss" + "...." + "s" * 8 + "." * 12)
    confirmed = [(i, e) for i, e in events if isinstance(e, SpeechConfirmed)]
    assert len(confirmed) == 1 and confirmed[0][0] == 3 + 4 + 6 - 1


def test_given_speech_and_noise_when_counting_voiced_frames_then_only_runs_that_could_open_a_turn_count() -> None:
    from ari_app.speech.vad import voiced_frames

    assert voiced_frames(silence(2.0)) == 0
    assert voiced_frames(noise(5.0, -55)) == 0  # under the energy gate
    assert voiced_frames(noise(5.0, -40, seed=2)) < 8  # line noise: never a 160 ms run of "speech"
    assert abs(voiced_frames(np.concatenate([silence(0.5), voice(1.0), silence(0.5)])) - 50) <= 3
