"""Failure drills: the real fault, then the same command again, against a run without the fault."""
import concurrent.futures
import datetime
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

import tasks
from pipeline import config, paths, sample
from tests.conftest import REPOSITORY, build, luigi_command, warehouse, warehouse_files

DATE = datetime.date(2014, 9, 1)


def undisturbed(cfg, tmp_path, catalog, *tasks_to_build):
    """The warehouse files of the same work, without the fault, in a fresh warehouse on the same bucket;
    `catalog`: sample.populate's (days, tracks, new per day)."""
    cfg.set('warehouse', 'root', tmp_path / 'undisturbed')
    sample.populate(config.settings(), DATE, *catalog, upload_analyses=False)
    assert build(*tasks_to_build)
    return warehouse_files(tmp_path / 'undisturbed')


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
    ('attributes', 'pipeline.fs:LocalWarehouse.link', 2),  # a map task carrying yesterday's parts
    ('attributes', 'pipeline.attribute_snapshots:write_parts', 3),  # one chunk's map task done, the next begun
    ('attributes', 'pipeline.analysis_sets:publish', 1),  # the snapshot staged, not in place
]


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
    drilled = warehouse_files(root)
    assert not [name for name in drilled if '.tmp-' in name or '.staging-' in name]
    if scenario == 'ingest':  # committed parts are kept, not fetched and written again
        kept = {Path(str(p).replace('.staging-', '')): mtime for p, mtime in parts_before.items()}
        assert {p: p.stat().st_mtime_ns for p in kept} == kept

    assert drilled == undisturbed(cfg, tmp_path, (3, 60, 6), *before,
                                  getattr(tasks, command[0])(datetime.date.fromisoformat(command[2])))


def test_workers_started_on_the_same_day_at_once_run_each_task_once_and_a_later_run_finds_it_done(
        cfg, tmp_path, luigid):
    cfg.update({'ingest': {'chunks': 4, 'part_tracks': 10}})
    sample.populate(config.settings(), DATE, 2, 120, 6)
    command = ['DailyAttributes', '--date', str(DAYS[1])]
    # Three at once, as if on three hosts sharing only luigid (--no-lock: Luigi's lock is per host).
    workers = [luigi_command(cfg, tmp_path, *command, '--no-lock', scheduler_port=luigid) for _ in range(3)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # read all three at once: a full pipe would stall one
        outputs = list(pool.map(lambda worker: worker.communicate(timeout=300)[0], workers))
    # 0, or 10/25 for a worker that found tasks running elsewhere ([retcode]); never a failure.
    assert {worker.returncode for worker in workers} <= {0, 10, 25}, outputs
    ran = [task for output in outputs for task in re.findall(r' running   (\S+\(.*\))$', output, re.MULTILINE)]
    assert len(ran) == len(set(ran)) == 9, ran  # every task ran, and none twice

    later = luigi_command(cfg, tmp_path, *command, scheduler_port=luigid)
    output = later.communicate(timeout=300)[0]
    assert later.returncode == 0 and ' running   ' not in output, output[-3000:]
    assert warehouse_files(tmp_path / 'warehouse') == undisturbed(cfg, tmp_path, (2, 120, 6),
                                                                  tasks.DailyAttributes(DAYS[1]))


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB filesystem of its own (tmpfs), unmounted afterwards; `grow()` gives it room."""
    if os.geteuid() != 0:
        pytest.skip('mounting a small filesystem needs root (as CI is)')
    disk = tmp_path / 'disk'
    disk.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', disk], check=True)

    class Disk:
        path = disk

        def grow(self):
            subprocess.run(['mount', '-o', 'remount,size=256m', disk], check=True)
    yield Disk()
    subprocess.run(['umount', '--lazy', disk], check=True)


def test_a_full_disk_mid_write_gives_one_clear_error_and_a_clean_run_once_there_is_room(cfg, tmp_path, small_disk):
    cfg.update({'warehouse': {'root': small_disk.path}, 'ingest': {'chunks': 2, 'part_tracks': 10}})
    sample.populate(config.settings(), DATE, 1, 60, 0)
    full = luigi_command(cfg, tmp_path, 'BulkIngest', '--date', str(DATE))
    output = full.communicate(timeout=300)[0]
    assert full.returncode == 30, output[-3000:]  # [retcode] task_failed
    assert 'WarehouseError: cannot write /echonest/analysis/full/.staging-2014-09-01/chunk-0' in output
    assert f'in the local warehouse {small_disk.path}: No space left on device' in output
    assert not list(small_disk.path.rglob('.tmp-*')) and not warehouse().exists(paths.full_snapshot('echonest', DATE))

    small_disk.grow()
    again = luigi_command(cfg, tmp_path, 'BulkIngest', '--date', str(DATE))
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output[-3000:]
    assert warehouse_files(small_disk.path) == undisturbed(cfg, tmp_path, (1, 60, 0), tasks.BulkIngest(DATE))


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
