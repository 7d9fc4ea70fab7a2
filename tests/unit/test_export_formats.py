"""The export's CSV and GPX writers (storage/export_formats.py): every sample field and the
pauses come out in order whatever the page boundaries, the CSV reads back to the recording
a replay needs, and the GPX is valid 1.1 with HR in Garmin's extension."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest

from privacy import health
from storage.export_formats import (
    CSV_COLUMNS,
    GARMIN_TPX_NS,
    STRIDE_GPX_NS,
    BadCsv,
    CsvWriter,
    Event,
    GpxWriter,
    Row,
    read_csv,
)
from streams.events import SAMPLE_FIELDS

pytestmark = pytest.mark.unit
T0 = 1_700_000_000_000
NS = {"g": "http://www.topografix.com/GPX/1/1", "tpx": GARMIN_TPX_NS, "s": STRIDE_GPX_NS}


def _rows(n: int, gap_at: int | None = None) -> list[Row]:
    """n samples numbered from 0 (skipping `gap_at`), every other one without a position,
    the first with all nine fields."""
    out = []
    for seq in range(n + (gap_at is not None)):
        if seq == gap_at:
            continue
        position = (45.0 + seq * 1e-5, 7.123456789012) if seq % 2 == 0 else (None, None)
        extra = (3.25, 4.5, 250.0) if seq == 0 else ()
        out.append(Row(seq=seq, sample=(T0 + seq * 1000, *position, 200.125, 140.0 + seq, 97.0,
                                        *extra)))
    return out


EVENTS = [Event(kind="start", t_ms=T0 - 5000, after_seq=-1),
          Event(kind="pause", t_ms=T0 + 3500, after_seq=3),
          Event(kind="resume", t_ms=T0 + 6500, after_seq=6),
          Event(kind="finish", t_ms=T0 + 20_000, after_seq=9)]


def _csv(rows: list[Row], page: int, events: list[Event] = EVENTS) -> str:
    writer = CsvWriter(events[0], events)
    text = writer.header()
    for i in range(0, len(rows), page):
        text += writer.page(rows[i:i + page])
    return text + writer.end()


@pytest.mark.parametrize("page", [1, 3, 4, 7, 100])
def test_csv_is_the_same_whatever_the_pages(page: int) -> None:
    assert _csv(_rows(10), page) == _csv(_rows(10), 10)


def test_csv_lists_events_between_the_samples_they_follow() -> None:
    lines = _csv(_rows(10), 3).splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and CSV_COLUMNS[2:] == SAMPLE_FIELDS
    kinds = [line.split(",")[:2] for line in lines[1:]]
    assert kinds == [["start", ""], *[["sample", str(i)] for i in range(4)], ["pause", "3"],
                     *[["sample", str(i)] for i in range(4, 7)], ["resume", "6"],
                     *[["sample", str(i)] for i in range(7, 10)], ["finish", "9"]]
    assert lines[2] == f"sample,0,{T0},45.0,7.123456789012,200.125,140.0,97.0,3.25,4.5,250.0"
    assert lines[3] == f"sample,1,{T0 + 1000},,,200.125,141.0,97.0,,,"


def test_events_after_the_last_sample_come_before_the_finish() -> None:
    events = [EVENTS[0], Event(kind="pause", t_ms=T0 + 99_000, after_seq=9), EVENTS[3]]
    lines = _csv(_rows(10), 4, events).splitlines()
    assert [line.split(",")[0] for line in lines[-2:]] == ["pause", "finish"]


def test_csv_reads_back_to_the_recording_renumbered() -> None:
    rows = _rows(10, gap_at=2)  # seq 2 never arrived: the replay numbers 0..9 without a gap
    events = [EVENTS[0], Event(kind="pause", t_ms=T0 + 3500, after_seq=3),
              Event(kind="resume", t_ms=T0 + 6500, after_seq=6), EVENTS[3]]
    recording = read_csv(io.StringIO(_csv(rows, 4, events)))
    assert recording.started_at_ms == T0 - 5000
    full = [(*r.sample, *((None,) * (9 - len(r.sample)))) for r in rows]
    assert recording.samples == full  # every float exactly as written
    assert [(e.kind, e.after_seq, e.t_ms) for e in recording.events] == [
        ("pause", 2, T0 + 3500), ("resume", 5, T0 + 6500), ("finish", 9, T0 + 20_000)]


@pytest.mark.parametrize(("text", "why"), [
    ("", "header"),
    ("a,b\n", "header"),
    (",".join(CSV_COLUMNS) + "\nsample,0,1\n", "fields"),
    (",".join(CSV_COLUMNS) + "\nsample,0,x,,,,,,,,\n", "line 2"),
    (",".join(CSV_COLUMNS) + "\nlap,0,1,,,,,,,,\n", "unknown kind"),
    (",".join(CSV_COLUMNS) + "\nsample,0,1,,,,,,,,\n", "start"),
])
def test_csv_that_is_not_an_export_is_refused(text: str, why: str) -> None:
    with pytest.raises(BadCsv, match=why):
        read_csv(io.StringIO(text))


def _gpx(rows: list[Row], page: int) -> ET.Element:
    writer = GpxWriter("Sunday <long> run & more", "run", EVENTS)
    text = writer.header()
    for i in range(0, len(rows), page):
        text += writer.page(rows[i:i + page])
    return ET.fromstring(text + writer.end())


@pytest.mark.parametrize("page", [1, 4, 100])
def test_gpx_segments_follow_the_pauses(page: int) -> None:
    gpx = _gpx(_rows(10), page)
    assert gpx.get("version") == "1.1"
    assert gpx.findtext("g:trk/g:name", namespaces=NS) == "Sunday <long> run & more"
    segments = gpx.findall("g:trk/g:trkseg", NS)
    seqs = [[p.findtext("g:extensions/s:seq", namespaces=NS) for p in s.findall("g:trkpt", NS)]
            for s in segments]
    assert seqs == [["0", "2"], ["4", "6"], ["8"]]  # odd samples have no position
    assert [s.findtext("g:extensions/s:state", namespaces=NS) for s in segments] == [
        None, "paused", None]
    events = gpx.findall("g:trk/g:extensions/s:events/s:event", NS)
    assert [(e.get("type"), e.get("after_seq")) for e in events] == [
        ("start", "-1"), ("pause", "3"), ("resume", "6"), ("finish", "9")]


def test_gpx_point_carries_every_reading() -> None:
    point = _gpx(_rows(10), 10).find("g:trk/g:trkseg/g:trkpt", NS)
    assert point is not None
    assert (point.get("lat"), point.get("lon")) == ("45.0", "7.123456789012")
    assert point.findtext("g:ele", namespaces=NS) == "200.125"
    assert point.findtext("g:time", namespaces=NS) == "2023-11-14T22:13:20.000Z"
    ext = "g:extensions/"
    assert point.findtext(ext + "tpx:TrackPointExtension/tpx:hr", namespaces=NS) == "140"
    assert [point.findtext(ext + f"s:{tag}", namespaces=NS)
            for tag in ("seq", "spo2", "speed", "accuracy", "power")] == [
        "0", "97.0", "3.25", "4.5", "250.0"]


def test_the_health_readings_of_a_sample_are_classified() -> None:
    # The export writes the samples' fields by these names; each is known to the policy.
    assert set(SAMPLE_FIELDS) <= health.HEALTH_FIELDS | health.NOT_HEALTH_FIELDS
    assert {"hr_bpm", "spo2_pct"} <= health.HEALTH_FIELDS


def test_stride_import_reads_a_csv_with_its_json_and_an_export_zip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import zipfile

    from stack.export_import import read_workouts

    text = _csv(_rows(10), 4)
    (tmp_path / "w1.csv").write_text(text)
    (tmp_path / "w1.json").write_text(json.dumps({"sport": "ride"}))
    [alone] = read_workouts(tmp_path / "w1.csv")
    assert alone.summary == {"sport": "ride"} and len(alone.recording.samples) == 10
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as archive:
        for name in ("a", "b"):
            archive.writestr(f"workouts/{name}.csv", text)
        archive.writestr("workouts/b.json", json.dumps({"sport": "walk"}))
        archive.writestr("profile.json", "{}")
    found = read_workouts(tmp_path / "export.zip")
    assert [(w.name, w.summary) for w in found] == [("workouts/a.csv", None),
                                                    ("workouts/b.csv", {"sport": "walk"})]
    assert [w.name for w in read_workouts(tmp_path / "export.zip", "b")] == ["workouts/b.csv"]
    with pytest.raises(BadCsv, match="no workout c"):
        read_workouts(tmp_path / "export.zip", "c")
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(BadCsv, match="not a ZIP"):
        read_workouts(tmp_path / "not.zip")
