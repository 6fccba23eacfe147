"""Failure drills: the real fault, then the same command again, against a run without the fault."""
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import config, paths, sample
from tests.conftest import set_contents, warehouse

DATE = datetime.date(2014, 9, 1)
REPOSITORY = Path(__file__).resolve().parents[1]


def luigi_command(cfg, tmp_path, *args, env=None):
    environment = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg.write(tmp_path / 'luigi.cfg')), **(env or {}))
    return subprocess.Popen([str(Path(sys.executable).with_name('luigi')), '--module', 'tasks', *args,
                             '--local-scheduler'], env=environment, cwd=REPOSITORY, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_worker_killed_in_the_middle_of_a_chunk_loses_nothing_and_resumes(cfg, tmp_path):
    cfg.update({'ingest': {'chunks': 1, 'part_tracks': 10}})
    sample.populate(config.settings(), DATE, 1, 120, 0)
    chunk_dir = warehouse().local(paths.chunk(paths.staging(paths.full_snapshot('echonest', DATE)), 0))
    worker = luigi_command(cfg, tmp_path, 'BulkIngest', '--date', str(DATE))
    deadline = time.monotonic() + 120
    while len(list(chunk_dir.glob('part-*.avro'))) < 3:
        assert worker.poll() is None and time.monotonic() < deadline, 'the worker ended before the drill'
        time.sleep(0.02)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert not (chunk_dir / '_SUCCESS').exists()
    assert not warehouse().exists(paths.full_snapshot('echonest', DATE))
    committed = {p.name: p.stat().st_mtime_ns for p in chunk_dir.glob('part-*.avro')}

    again = luigi_command(cfg, tmp_path, 'BulkIngest', '--date', str(DATE))
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output[-3000:]
    killed_and_resumed = set_contents(paths.full_snapshot('echonest', DATE))
    failures = set_contents(paths.full_snapshot('echonest', DATE), '_failures')

    cfg.set('warehouse', 'root', tmp_path / 'undisturbed')
    sample.populate(config.settings(), DATE, 1, 120, 0, upload_analyses=False)
    clean = luigi_command(cfg, tmp_path, 'BulkIngest', '--date', str(DATE))
    assert clean.wait(timeout=300) == 0
    assert killed_and_resumed == set_contents(paths.full_snapshot('echonest', DATE))
    assert failures == set_contents(paths.full_snapshot('echonest', DATE), '_failures')
    assert len(killed_and_resumed) + len(failures) == 120
    # The parts committed before the kill were kept as they were, not fetched and written again.
    kept = Path(str(chunk_dir).replace('.staging-', ''))
    assert {name: (kept / name).stat().st_mtime_ns for name in committed} == committed


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
