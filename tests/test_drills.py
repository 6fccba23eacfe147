"""Failure drills: the real fault, then the same command again, against a run without the fault."""
import datetime
import os
import signal
import subprocess
import sys
from pathlib import Path

import fastavro
import pytest

import tasks
from pipeline import config, sample
from tests.conftest import build, warehouse

DATE = datetime.date(2014, 9, 1)
REPOSITORY = Path(__file__).resolve().parents[1]


def luigi_command(cfg, tmp_path, *args, env=None, kill_at=None):
    """The `luigi` command in a process of its own; `kill_at` (function, call) runs it under tests/kill_at.py."""
    environment = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg.write(tmp_path / 'luigi.cfg')), **(env or {}))
    luigi = [sys.executable, '-m', 'tests.kill_at', kill_at[0], str(kill_at[1])] if kill_at else \
        [str(Path(sys.executable).with_name('luigi'))]
    return subprocess.Popen([*luigi, '--module', 'tasks', *args, '--local-scheduler'], env=environment, cwd=REPOSITORY, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


DAYS = [DATE + datetime.timedelta(days=k) for k in range(3)]  # a full snapshot on the third: see `cfg` below
# What the drilled command needs done before it, and the command.
SCENARIOS = {
    'ingest': ([], ['BulkIngest', '--date', str(DAYS[0])]),
    'compaction': ([tasks.IncrementalAnalysis(DAYS[2])], ['FullAnalysisSnapshot', '--date', str(DAYS[2])]),
    'attributes': ([tasks.DailyAttributes(DAYS[0]), tasks.IncrementalAnalysis(DAYS[1])],
                   ['DailyAttributes', '--date', str(DAYS[1])]),
}
KILL_POINTS = [  # (scenario, function, call): the worker is killed as that call of that function begins
    ('ingest', 'pipeline.ingest:ChunkIngest.write_part', 2),  # a chunk's first part committed
    ('ingest', 'os:fsync', 4),  # a part written in full under its temporary name, not yet renamed
    ('ingest', 'pipeline.analysis_sets:publish', 1),  # every chunk done, the snapshot not in place
    ('compaction', 'pipeline.compaction:compact_chunk', 2),  # one chunk compacted
    ('compaction', 'os:fsync', 2),  # inside the first chunk
    ('compaction', 'pipeline.compaction:remove_obsolete', 1),  # the snapshot in place, nothing deleted
    ('compaction', 'pipeline.compaction:retire', 2),  # one obsolete set deleted, the other not
    ('attributes', 'pipeline.jobs.mr_daily_attributes:MRDailyAttributes.compute', 5),  # inside the mrjob job
    ('attributes', 'pipeline.records:write', 1),  # the job done, the snapshot not written
    ('attributes', 'pipeline.analysis_sets:publish', 1),  # the snapshot staged, not in place
]


def contents(root):
    """Every visible file of a warehouse: the records of Avro files, the bytes of the others."""
    found = {}
    for path in sorted(Path(root).rglob('*')):
        if path.is_file():
            with open(path, 'rb') as f:
                found[str(path.relative_to(root))] = list(fastavro.reader(f)) if path.suffix == '.avro' else f.read()
    return found


@pytest.mark.parametrize('scenario, function, call', KILL_POINTS, ids=[f'{s}-{f.split(":")[1]}-{n}' for s, f, n in KILL_POINTS])
def test_a_worker_killed_anywhere_loses_nothing_and_the_same_command_finishes(cfg, tmp_path, scenario, function, call):
    before, command = SCENARIOS[scenario]
    cfg.update({'ingest': {'chunks': 2, 'part_tracks': 10}, 'analysis': {'full_every_days': 2}})
    sample.populate(config.settings(), DATE, 3, 60, 6)
    assert build(*before) if before else True
    root = warehouse().local('/')
    killed = luigi_command(cfg, tmp_path, *command, kill_at=(function, call))
    output = killed.communicate(timeout=300)[0]
    assert killed.returncode == -signal.SIGKILL, f'the run was not killed at {function}: {output[-3000:]}'
    parts_before = {p: p.stat().st_mtime_ns for p in root.rglob('chunk-*/part-*.avro')}

    again = luigi_command(cfg, tmp_path, *command)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output[-3000:]
    drilled = contents(root)
    assert not [name for name in drilled if '.tmp-' in name or '.staging-' in name]
    if scenario == 'ingest':  # committed parts are kept, not fetched and written again
        kept = {Path(str(p).replace('.staging-', '')): mtime for p, mtime in parts_before.items()}
        assert {p: p.stat().st_mtime_ns for p in kept} == kept

    cfg.set('warehouse', 'root', tmp_path / 'undisturbed')
    sample.populate(config.settings(), DATE, 3, 60, 6, upload_analyses=False)
    assert build(*before, getattr(tasks, command[0])(datetime.date.fromisoformat(command[2])))
    assert drilled == contents(tmp_path / 'undisturbed')


def test_no_credential_reaches_a_log_line_or_a_status_message(cfg, tmp_path):
    secret = 'drill-secret-' + os.urandom(8).hex()
    key_id = 'DRILLKEY' + os.urandom(6).hex().upper()
    sample.populate(config.settings(), DATE, 2, 30, 3)
    run = luigi_command(cfg, tmp_path, 'DailyAttributes', '--date', str(DATE + datetime.timedelta(days=1)),
                        '--log-level', 'DEBUG', env={'AWS_ACCESS_KEY_ID': key_id, 'AWS_SECRET_ACCESS_KEY': secret})
    output = run.communicate(timeout=300)[0]
    assert run.returncode == 0, output[-3000:]
    assert 'DailyAttributes' in output and 'Informed scheduler' in output  # the log was captured
    written = [p.read_bytes() for p in warehouse().local('/').rglob('*') if p.is_file()]
    for text in [output.encode(), (REPOSITORY / 'luigi.cfg').read_bytes(), *written]:
        assert secret.encode() not in text and key_id.encode() not in text
