"""A torn journal loses one record, never the ledger; a corrupt one is one line, exit 2.

The CLI cases tear the journal of a real 2-trial study the way a crash, a kill or a full disk
does (a write cut short), then run the study again and a brand-new study in the same file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hpo.study import journal_repair
from hpo.study.ledger import INTERRUPTED_ATTR, Ledger
from tests.conftest import ROOT, run_cli, tiny_experiment

JOURNAL = "hpo-ledger.journal"


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a finished 2-trial study `a` (each test works on a copy)."""
    folder = tmp_path_factory.mktemp("base")
    (folder / "exp.yaml").write_text(yaml.safe_dump(tiny_experiment()))
    done = run_cli("run", "exp.yaml", "--study", "a", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _copy(base: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "w"
    shutil.copytree(base, folder)
    return folder


def _studies(journal: Path) -> dict[str, list[optuna.trial.FrozenTrial]]:
    """Every study in the journal, read by Optuna's own reader (it raises on a bad record)."""
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    return {s.study_name: storage.get_all_trials(s._study_id) for s in storage.get_all_studies()}


def _torn_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "torn record" in line]


def _states(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    return [t.state.name for t in trials]


@pytest.mark.slow
def test_a_torn_tail_is_cut_and_every_study_stays_usable(two_trials, tmp_path):
    folder = _copy(two_trials, tmp_path)
    journal = folder / JOURNAL
    whole = journal.read_bytes()
    torn = whole[:-7]  # the last record (trial 1 COMPLETE) cut short, as in the issue
    journal.write_bytes(torn)

    resumed = run_cli("run", "exp.yaml", "--study", "a", "--trials", "2", "--json", cwd=folder)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    (warning,) = _torn_warnings(resumed.stderr)
    (backup,) = folder.glob(f"{JOURNAL}.torn-*")
    assert warning.startswith("hpo: warning:") and JOURNAL in warning and backup.name in warning
    assert backup.read_bytes() == torn  # the file as it was, beside it
    # the journal keeps every whole record before the torn one and goes on from there
    kept = torn[: torn.rindex(b"\n") + 1]
    assert journal.read_bytes().startswith(kept)

    trials = _studies(journal)["a"]
    # trial 1's end was torn off: it ran again as interrupted, and a new trial took its place
    assert _states(trials) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[1].user_attrs[INTERRUPTED_ATTR] is True
    assert json.loads(resumed.stdout)["states"]["COMPLETE"] == 2

    fresh = run_cli("run", "exp.yaml", "--study", "fresh", "--trials", "1", cwd=folder)
    assert fresh.returncode == 0, fresh.stderr
    assert not _torn_warnings(fresh.stderr)  # repaired once, for good
    studies = _studies(journal)
    assert _states(studies["fresh"]) == ["COMPLETE"]
    assert _states(studies["a"]) == ["COMPLETE", "FAIL", "COMPLETE"]


def _mid_record(data: bytes) -> int:
    """An offset in the middle of a record near the middle of the file."""
    return data.index(b"\n", len(data) // 2) + 20


CUTS = {
    "its last byte (the newline)": lambda data: len(data) - 1,
    "7 bytes": lambda data: len(data) - 7,
    "mid-file, inside a record": _mid_record,
    "inside the first record": lambda data: 10,
    "at a record boundary": lambda data: data.index(b"\n", len(data) // 2) + 1,
}


@pytest.mark.slow
@pytest.mark.parametrize("cut", CUTS)
def test_a_journal_torn_anywhere_opens_with_every_whole_record(two_trials, tmp_path, cut):
    """In-process, cheaply, at many offsets: the ledger opens, a new study runs in it, and
    the old study holds exactly what the records before the tear hold."""
    whole = (two_trials / JOURNAL).read_bytes()
    torn = whole[: CUTS[cut](whole)]
    journal = tmp_path / JOURNAL
    journal.write_bytes(torn)
    kept = tmp_path / "kept.journal"  # what a reader sees: the whole records before the cut
    kept.write_bytes(torn[: torn.rindex(b"\n") + 1] if b"\n" in torn else b"")
    expected = _studies(kept).get("a")

    notes: list[str] = []
    fresh = _ledger(journal, notes.append, study="fresh")
    fresh.finish(fresh.study.ask().number, "COMPLETE", [0.5])

    assert len(notes) == (0 if torn.endswith(b"\n") else 1)
    backups = list(tmp_path.glob(f"{JOURNAL}.torn-*"))
    assert [b.read_bytes() for b in backups] == ([torn] if notes else [])
    studies = _studies(journal)
    assert _states(studies["fresh"]) == ["COMPLETE"]
    if expected is None:
        assert "a" not in studies
    else:
        assert [(t.state, t.params) for t in studies["a"]] == [
            (t.state, t.params) for t in expected
        ]


@pytest.mark.slow
def test_a_corrupt_record_in_the_middle_is_one_line_naming_the_byte(two_trials, tmp_path):
    folder = _copy(two_trials, tmp_path)
    journal = folder / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    offset = sum(map(len, lines[:4]))
    lines[4] = lines[4].replace(b'"op_code":', b'"op_code"#', 1)  # line 5 damaged in place
    journal.write_bytes(b"".join(lines))
    damaged = journal.read_bytes()

    done = run_cli("run", "exp.yaml", "--study", "fresh", "--trials", "1", cwd=folder)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "JSONDecodeError" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("hpo: error:")]
    assert JOURNAL in line and f"line 5 (byte offset {offset})" in line
    assert f"truncate -s {offset} {JOURNAL}" in line
    assert journal.read_bytes() == damaged  # nothing written, nothing cut
    assert not list(folder.glob(f"{JOURNAL}.torn-*"))

    # the recovery the message names works: the journal up to that byte is whole
    os.truncate(journal, offset)
    assert "a" in _studies(journal)


# ------------------------------------------------------------- the repair itself, in-process

RECORD = b'{"op_code":0,"study_name":"s"}\n'


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        (b'{"op_code":4,"stu', RECORD * 2),  # a write cut short
        (b"\0\0\0\0", RECORD * 2),  # a power cut's unwritten block
        (b'{"op_code":4,"stu\n', RECORD * 2),  # a last line that is not a record
        (b"", None),  # whole: untouched
    ],
)
def test_cut_torn_tail_keeps_whole_records_and_the_original(tmp_path, tail, kept):
    journal = tmp_path / "j.journal"
    journal.write_bytes(RECORD * 2 + tail)
    backup = journal_repair.cut_torn_tail(journal)
    if kept is None:
        assert backup is None and journal.read_bytes() == RECORD * 2
        assert list(tmp_path.iterdir()) == [journal]
        return
    assert backup is not None and backup.read_bytes() == RECORD * 2 + tail
    assert journal.read_bytes() == kept


def test_a_journal_of_one_torn_line_is_emptied(tmp_path):
    journal = tmp_path / "j.journal"
    journal.write_bytes(b'{"op_co')
    assert journal_repair.cut_torn_tail(journal) is not None
    assert journal.read_bytes() == b""


def _ledger(path: Path, notify: Any = None, study: str = "s") -> Ledger:
    return Ledger.open(str(path), study, ["maximize"], notify=notify)


def test_an_append_after_another_process_tore_the_tail_cuts_it_first(tmp_path):
    journal = tmp_path / "l.journal"
    notes: list[str] = []
    ledger = _ledger(journal, notes.append)
    number = ledger.study.ask().number
    with open(journal, "ab") as f:  # a process that shares the file died mid-write
        f.write(b'{"op_code":5,"worker_id":"x","tri')
    ledger.finish(number, "COMPLETE", [0.5])
    assert len(notes) == 1 and "torn record" in notes[0]
    assert _states(_studies(journal)["s"]) == ["COMPLETE"]


def test_the_journal_is_fsynced_when_a_trial_finishes(tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the real fsync, counted
        synced.append(fd)
        real_fsync(fd)

    ledger = _ledger(tmp_path / "l.journal")
    monkeypatch.setattr(os, "fsync", fsync)
    trial = ledger.study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    ledger.set_run_id(trial.number, "run")
    assert synced == []  # asks, parameters and attrs: cheap appends
    ledger.finish(trial.number, "COMPLETE", [0.5], metrics={"f1": 0.5})
    assert len(synced) == 1
    ledger.set_attrs({"hpo.x": 1})  # a study's attrs are few and matter: synced too
    assert len(synced) == 2


FAILED_APPEND = """
import resource, signal, sys
from hpo.study.ledger import Ledger
ledger = Ledger.open(sys.argv[1], "s", ["maximize"])
ledger.study.ask()
size = len(open(sys.argv[1], "rb").read())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, size + 100))
try:
    ledger.set_attrs({"big": "x" * 1000})  # the disk is full after 100 bytes
except OSError as err:
    print(err.errno, size)
"""


def test_an_append_that_fails_half_way_leaves_no_half_record(tmp_path):
    journal = tmp_path / "l.journal"
    done = subprocess.run(
        [sys.executable, "-c", FAILED_APPEND, str(journal)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    errno, size = map(int, done.stdout.split())
    assert errno == 27  # EFBIG: the write really failed half-way
    assert journal.stat().st_size == size
    assert journal_repair.torn_tail(journal) is None
    assert _studies(journal)["s"][0].state == TrialState.RUNNING
