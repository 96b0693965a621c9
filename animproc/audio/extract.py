"""Audio extraction with PyAV, streamed: a 16 kHz mono WAV for analysis and a full-rate stereo FLAC for
separation. Other layouts (5.1, mono, ...) are remixed by libswresample's standard downmix matrices."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from animproc.errors import MediaError
from animproc.media import open_media
from animproc.progress import NO_PROGRESS, Progress

ANALYSIS_RATE = 16000


@dataclass(frozen=True)
class AudioTrack:
    stream_index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration_s: float
    analysis_samples: int
    corrupt_packets: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _encoder(container, codec: str, rate: int, layout: str, fmt: str):
    stream = container.add_stream(codec, rate=rate)
    stream.layout = layout
    stream.format = fmt
    return stream


def extract_audio(path: str | Path, wav_out: str | Path, flac_out: str | Path,
                  progress: Progress = NO_PROGRESS) -> AudioTrack | None:
    """Write both files from the first audio stream; None when the file has no audio stream.
    An undecodable packet becomes silence of its own duration, so everything after it keeps its time.
    `progress` hears of every packet, in seconds of audio."""
    path = Path(path)
    with open_media(path) as src:
        if not src.streams.audio:
            return None
        stream = src.streams.audio[0]
        cc = stream.codec_context
        rate = cc.sample_rate or 48000
        index, tb = stream.index, stream.time_base
        to_mono = av.AudioResampler(format="s16", layout="mono", rate=ANALYSIS_RATE)
        to_stereo = av.AudioResampler(format="s16", layout="stereo", rate=rate)
        samples, decoded, errors = 0, 0, 0
        length = float(stream.duration * tb) if stream.duration and tb else (src.duration / av.time_base
                                                                            if src.duration else None)
        task = progress.task("extract", length, "s of audio")
        owed = [0.0, 0.0]  # fractional samples of silence still owed (analysis rate, full rate)
        with av.open(str(wav_out), "w", format="wav") as wav, av.open(str(flac_out), "w", format="flac") as flac:
            ws = _encoder(wav, "pcm_s16le", ANALYSIS_RATE, "mono", "s16")
            fs = _encoder(flac, "flac", rate, "stereo", "s16")

            def push(frames, out_stream, container):
                for f in frames:
                    f.pts = None
                    for pkt in out_stream.encode(f):
                        container.mux(pkt)

            for packet in src.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    errors += 1
                    gap = float(packet.duration * tb) if packet.duration and tb else 1024 / rate
                    owed = [owed[0] + gap * ANALYSIS_RATE, owed[1] + gap * rate]
                    n_mono, n_full = int(owed[0]), int(owed[1])
                    owed = [owed[0] - n_mono, owed[1] - n_full]
                    push([_silence(n_mono, ANALYSIS_RATE, "mono")], ws, wav)
                    push([_silence(n_full, rate, "stereo")], fs, flac)
                    samples += n_mono
                    continue
                for frame in frames:
                    decoded += 1
                    mono = to_mono.resample(frame)
                    samples += sum(m.samples for m in mono)
                    push(mono, ws, wav)
                    push(to_stereo.resample(frame), fs, flac)
                task.update(samples / ANALYSIS_RATE)
            push(to_mono.resample(None), ws, wav)
            push(to_stereo.resample(None), fs, flac)
            for out_stream, container in ((ws, wav), (fs, flac)):
                for pkt in out_stream.encode():
                    container.mux(pkt)
        task.finish()
        if decoded == 0:
            raise MediaError(path, f"audio stream cannot be decoded ({errors} corrupt packets)")
    layout = cc.layout.name if cc.layout else f"{cc.channels} channels"
    return AudioTrack(index, cc.name, rate, cc.channels, layout, samples / ANALYSIS_RATE, samples, errors)


def _silence(samples: int, rate: int, layout: str) -> av.AudioFrame:
    channels = 1 if layout == "mono" else 2
    frame = av.AudioFrame.from_ndarray(np.zeros((1, max(1, samples) * channels), np.int16), format="s16", layout=layout)
    frame.sample_rate = rate
    return frame


def read_mono(path: str | Path, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """Any file's first audio stream as mono float32 in [-1, 1] at `rate` (16 kHz: the analysis rate)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks = []
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
