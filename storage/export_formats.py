"""The files of a person's export that Stride writes itself: a workout's samples as CSV and
as GPX 1.1, and how the CSV is read back (stride import).

Pure Python: the writers take pages of samples (as they come out of the database, so a
workout of any length is written in bounded memory) and return text to append.

CSV (`workouts/<id>.csv`), UTF-8, one header line, then one row per record in the order they
happened:
- `kind` is `start`, `sample`, `pause`, `resume` or `finish`;
- a `sample` row has its `seq` (as the device numbered it) and every sample field of the
  device protocol (streams.events.SAMPLE_FIELDS): t_ms (Unix ms), lat, lon (degrees WGS84),
  alt_m, hr_bpm, spo2_pct, speed_mps, accuracy_m (68 % radius, m), power_w — empty when the
  sensor had no reading;
- a `start`, `pause`, `resume` or `finish` row has its time in t_ms and, in seq, the last
  sample applied before it (empty before the first sample). Samples listed after a pause
  and before the resume were recorded while paused: they are kept, and count for nothing.

GPX 1.1 (`workouts/<id>.gpx`): one <trk>, one <trkseg> per stretch between a pause and a
resume, so a reader that skips gaps between segments sees the pauses; the stretches recorded
while paused are segments marked `<stride:state>paused</stride:state>`. Heart rate is in
Garmin's TrackPointExtension v1 (gpxtpx:hr, whole bpm); seq, SpO2, speed, accuracy and power
in the Stride namespace below; the lifecycle events in the track's extensions. Samples
without a position are not in the GPX (a trkpt needs lat and lon); the CSV has every one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

import msgspec

from streams.events import SAMPLE_FIELDS, Sample

FORMAT_VERSION = 1
"""Version of the export's layout (manifest.json `format_version`); a change that a reader
written for the old one would misread gets a new number."""
STRIDE_GPX_NS = "https://stride.example/xmlns/gpx/1"
GARMIN_TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
GPX_NS = "http://www.topografix.com/GPX/1/1"

CSV_COLUMNS = ("kind", "seq", *SAMPLE_FIELDS)
EventKind = Literal["start", "pause", "resume", "finish"]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """A lifecycle change: when (t_ms) and after which sample (after_seq; -1 before any)."""

    kind: EventKind
    t_ms: int
    after_seq: int


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """A sample as stored: its number and the device protocol's fields."""

    seq: int
    sample: Sample


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def _changes(events: Iterable[Event]) -> list[Event]:
    """The pauses and resumes, in the order of the samples they follow."""
    return sorted((e for e in events if e.kind in ("pause", "resume")), key=lambda e: e.after_seq)


class CsvWriter:
    """Writes one workout's CSV a page of samples at a time."""

    def __init__(self, start: Event, events: Sequence[Event]) -> None:
        self._start = start
        self._changes = _changes(events)
        self._finish = [e for e in events if e.kind == "finish"]
        self._next_change = 0

    def header(self) -> str:
        return self._lines([CSV_COLUMNS, self._event_row(self._start)])

    def page(self, rows: Sequence[Row]) -> str:
        """The lines of these samples (the next ones in seq order) and of the pauses and
        resumes before each."""
        out: list[Sequence[object]] = []
        for row in rows:
            while (self._next_change < len(self._changes)
                   and self._changes[self._next_change].after_seq < row.seq):
                out.append(self._event_row(self._changes[self._next_change]))
                self._next_change += 1
            out.append(("sample", row.seq, *row.sample,
                        *((None,) * (len(SAMPLE_FIELDS) - len(row.sample)))))
        return self._lines(out)

    def end(self) -> str:
        """The events after the last sample, the finish last."""
        rest = self._changes[self._next_change:] + self._finish
        self._next_change = len(self._changes)
        return self._lines([self._event_row(e) for e in rest])

    @staticmethod
    def _event_row(event: Event) -> Sequence[object]:
        seq = event.after_seq if event.after_seq >= 0 else None
        return (event.kind, seq, event.t_ms, *((None,) * (len(SAMPLE_FIELDS) - 1)))

    @staticmethod
    def _lines(rows: Iterable[Sequence[object]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([_cell(v) for v in row] for row in rows)
        return buffer.getvalue()


def _iso(t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


_EXTRA_TAGS = (("spo2_pct", 5, "spo2"), ("speed_mps", 6, "speed"), ("accuracy_m", 7, "accuracy"),
               ("power_w", 8, "power"))


class GpxWriter:
    """Writes one workout's GPX 1.1 a page of samples at a time; a new <trkseg> at every
    pause and resume."""

    def __init__(self, name: str, sport: str, events: Sequence[Event]) -> None:
        self._name, self._sport = name, sport
        self._events = list(events)
        self._changes = _changes(events)
        self._next_change = 0
        self._state = "active"
        self._open = False

    def header(self) -> str:
        started = next((e.t_ms for e in self._events if e.kind == "start"), None)
        time = f"<time>{_iso(started)}</time>" if started is not None else ""
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<gpx version="1.1" creator="Stride export v{FORMAT_VERSION}" xmlns="{GPX_NS}"'
                f' xmlns:gpxtpx="{GARMIN_TPX_NS}" xmlns:stride="{STRIDE_GPX_NS}">\n'
                f"<metadata><name>{escape(self._name)}</name>{time}</metadata>\n"
                f"<trk><name>{escape(self._name)}</name><type>{escape(self._sport)}</type>\n"
                "<extensions><stride:events>"
                + "".join(f"<stride:event type={quoteattr(e.kind)} time={quoteattr(_iso(e.t_ms))}"
                          f" after_seq=\"{e.after_seq}\"/>" for e in self._events)
                + "</stride:events></extensions>\n")

    def page(self, rows: Sequence[Row]) -> str:
        parts: list[str] = []
        for row in rows:
            while (self._next_change < len(self._changes)
                   and self._changes[self._next_change].after_seq < row.seq):
                self._state = "paused" if self._changes[self._next_change].kind == "pause" else "active"
                self._next_change += 1
                if self._open:
                    parts.append("</trkseg>\n")
                    self._open = False
            if row.sample[1] is None or row.sample[2] is None:
                continue
            if not self._open:
                state = ("<extensions><stride:state>paused</stride:state></extensions>"
                         if self._state == "paused" else "")
                parts.append(f"<trkseg>{state}\n")
                self._open = True
            parts.append(self._point(row))
        return "".join(parts)

    def end(self) -> str:
        return ("</trkseg>\n" if self._open else "") + "</trk>\n</gpx>\n"

    @staticmethod
    def _point(row: Row) -> str:
        s = (*row.sample, *((None,) * (len(SAMPLE_FIELDS) - len(row.sample))))
        ele = f"<ele>{s[3]!r}</ele>" if s[3] is not None else ""
        ext = [f"<stride:seq>{row.seq}</stride:seq>"]
        if s[4] is not None:
            ext.insert(0, "<gpxtpx:TrackPointExtension><gpxtpx:hr>"
                          f"{round(float(s[4]))}</gpxtpx:hr></gpxtpx:TrackPointExtension>")
        ext += [f"<stride:{tag}>{s[i]!r}</stride:{tag}>" for _, i, tag in _EXTRA_TAGS
                if s[i] is not None]
        return (f'<trkpt lat="{s[1]!r}" lon="{s[2]!r}">{ele}<time>{_iso(int(s[0]))}</time>'  # type: ignore[arg-type]
                f"<extensions>{''.join(ext)}</extensions></trkpt>\n")


# --- reading the CSV back --------------------------------------------------------------


class Recording(msgspec.Struct, kw_only=True):
    """A workout as its CSV tells it: the samples in order, renumbered 0, 1, … (a gap in
    the original numbering would otherwise stall a replay), and the events between them."""

    started_at_ms: int
    samples: list[Sample]
    events: list[Event]
    """pause, resume and finish, `after_seq` in the new numbering."""


class BadCsv(ValueError):
    """The file is not a Stride export CSV."""


def _number(text: str, integer: bool = False) -> int | float | None:
    if text == "":
        return None
    return int(text) if integer else float(text)


def read_csv(lines: Iterable[str]) -> Recording:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise BadCsv(f"not a Stride export CSV: its header must be {','.join(CSV_COLUMNS)}")
    started: int | None = None
    samples: list[Sample] = []
    events: list[Event] = []
    for n, cells in enumerate(reader, start=2):
        if len(cells) != len(CSV_COLUMNS):
            raise BadCsv(f"line {n}: {len(cells)} fields, expected {len(CSV_COLUMNS)}")
        kind = cells[0]
        try:
            t_ms = int(cells[2])
            if kind == "sample":
                values = [_number(c) for c in cells[3:]]
                samples.append((t_ms, *values))
            elif kind == "start":
                started = t_ms
            elif kind in ("pause", "resume", "finish"):
                events.append(Event(kind=kind, t_ms=t_ms, after_seq=len(samples) - 1))  # type: ignore[arg-type]
            else:
                raise BadCsv(f"line {n}: unknown kind {kind!r}")
        except ValueError as exc:
            if isinstance(exc, BadCsv):
                raise
            raise BadCsv(f"line {n}: {exc}") from None
    if started is None:
        raise BadCsv("no `start` row")
    return Recording(started_at_ms=started, samples=samples, events=events)
