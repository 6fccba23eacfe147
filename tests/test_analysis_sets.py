import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import analysis_sets, compaction, config, dump, ledger, paths, records, sample
from tasks import BulkIngest, FullAnalysisSnapshot, IncrementalAnalysis
from tasks.analysis import analysis_set_path
from tests.conftest import build, s3_client, set_contents, warehouse

FIRST = datetime.date(2014, 9, 1)
DAY = datetime.timedelta(days=1)
TRACKS, NEW_PER_DAY = 60, 8


@pytest.fixture
def sets(cfg):
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': 3, 'keep_full_snapshots': 1}})
    sample.populate(config.settings(), FIRST, 8, TRACKS, NEW_PER_DAY)
    return cfg


def ledger_of(set_dir):
    return {e['track_id']: e for c in range(config.ingest().chunks) for e in ledger.read(warehouse(), paths.chunk(set_dir, c))}


def contents(set_dir):
    return set_contents(set_dir)


def failures(set_dir):
    return set_contents(set_dir, '_failures')


def catalog(date):
    return {sample.track(n)['track_id']: n for n in range(TRACKS + (date - FIRST).days * NEW_PER_DAY)}


def incremental(date):
    return paths.incremental_set('echonest', date)


def full(date):
    return paths.full_snapshot('echonest', date)


def object_key(n):
    return config.s3().key_template.format(**sample.dump_row(n))


def test_an_incremental_set_holds_exactly_the_tracks_no_current_set_holds(sets):
    assert build(IncrementalAnalysis(FIRST + DAY))
    held = contents(full(FIRST))
    new = contents(incremental(FIRST + DAY))
    listed = failures(incremental(FIRST + DAY))
    waiting = ledger_of(incremental(FIRST + DAY))
    day2 = catalog(FIRST + DAY)
    assert not set(new) & set(held)
    # Every track is written or in the ledger; what the day tried and could not write is listed in _failures.
    assert set(new) | set(waiting) == set(day2) - set(held) and not set(new) & set(waiting)
    assert set(listed) <= set(waiting)
    assert {day2[t] for t in new} == {n for n in range(TRACKS, TRACKS + NEW_PER_DAY)
                                      if sample.has_analysis(n) and not sample.corruption(n)}
    # Keys the bulk ingest found missing are tried again the next day; its bad documents wait for max_days.
    missing = {t for t, n in day2.items() if n < TRACKS and not sample.has_analysis(n)}
    bad = {t for t, n in day2.items() if n < TRACKS and sample.has_analysis(n) and sample.corruption(n)}
    assert missing and bad
    assert all(listed[t] == 'missing' and waiting[t]['attempts'] == 2 for t in missing)
    assert not bad & set(listed) and {waiting[t]['next_attempt'] for t in bad} == {'2014-10-03'}
    totals = analysis_sets.read_success(warehouse(), incremental(FIRST + DAY))
    assert totals['requests']['GET'] == len(set(day2) - set(held) - bad)
    assert totals['retried'] == {'missing': len(missing)} and totals['new'] == NEW_PER_DAY
    assert sum(totals['waiting'].values()) == len(waiting)


def test_a_late_analysis_lands_in_the_set_of_the_day_it_arrives(sets):
    late = next(n for n in range(TRACKS, TRACKS + NEW_PER_DAY) if sample.has_analysis(n) and not sample.corruption(n))
    late_id = sample.track(late)['track_id']
    body, _ = sample.document(late)
    s3_client().delete_object(Bucket=config.s3().bucket, Key=object_key(late))
    assert build(IncrementalAnalysis(FIRST + DAY))
    assert failures(incremental(FIRST + DAY))[late_id] == 'missing'
    assert late_id not in contents(incremental(FIRST + DAY))
    s3_client().put_object(Bucket=config.s3().bucket, Key=object_key(late), Body=body)
    assert build(IncrementalAnalysis(FIRST + 2 * DAY))
    assert json.loads(contents(incremental(FIRST + 2 * DAY))[late_id]) == json.loads(body)
    assert late_id not in failures(incremental(FIRST + 2 * DAY))


def test_a_day_with_no_new_tracks_gives_a_valid_empty_set(sets):
    yesterday = FIRST + DAY
    # The same catalog two days running: publish day 2's dump again as day 3's.
    dump.write(warehouse(), yesterday + DAY, dump.rows(warehouse(), yesterday))
    for n in catalog(yesterday).values():
        if not sample.has_analysis(n) or sample.corruption(n):
            s3_client().delete_object(Bucket=config.s3().bucket, Key=object_key(n))
    assert build(IncrementalAnalysis(yesterday + DAY))
    empty = incremental(yesterday + DAY)
    assert contents(empty) == {}
    for chunk in range(config.ingest().chunks):
        with warehouse().open_read(paths.part(paths.chunk(empty, chunk), 0)) as f:
            reader = records.read(f, 'analysis')
            assert reader.writer_schema['name'] == 'com.spotify.echonest.Analysis'
            assert list(reader) == []
    assert analysis_sets.read_success(warehouse(), empty)['written'] == 0


def test_compaction_merges_verifies_and_then_deletes_obsolete_sets(sets):
    day4 = FIRST + 3 * DAY
    assert build(IncrementalAnalysis(FIRST + 2 * DAY))
    before = {}
    for d in (FIRST, FIRST + DAY, FIRST + 2 * DAY):
        before.update(contents(analysis_set_path(d)))
    assert build(FullAnalysisSnapshot(day4))
    merged = contents(full(day4))
    assert set(merged) == set(before) | {t for t, n in catalog(day4).items() if n >= TRACKS + 2 * NEW_PER_DAY
                                         and sample.has_analysis(n) and not sample.corruption(n)}
    assert all(merged[t] == before[t] for t in before)
    # Obsolete: the incremental sets up to day 4, and the bulk snapshot (keep_full_snapshots = 1).
    for d in (FIRST + DAY, FIRST + 2 * DAY, day4):
        assert not warehouse().exists(incremental(d))
    assert not warehouse().exists(full(FIRST))
    totals = analysis_sets.read_success(warehouse(), full(day4))
    assert totals['written'] == len(merged) == totals['from_previous_full'] + totals['from_incrementals'] \
        - totals['duplicates']
    # Superseded sets are complete without being made again: no download, no directory.
    assert IncrementalAnalysis(FIRST + DAY).complete() and BulkIngest(FIRST).complete()
    assert build(IncrementalAnalysis(FIRST + DAY), BulkIngest(FIRST))
    assert not warehouse().exists(incremental(FIRST + DAY)) and not warehouse().exists(full(FIRST))


def test_the_newest_analysis_of_a_track_wins_in_compaction(sets):
    wh = warehouse()
    ingest = config.settings()['ingest']
    assert build(BulkIngest(FIRST))
    held = contents(full(FIRST))
    twice = sorted(held)[:3]
    # Two incremental sets that hold tracks again (a re-analysis), the second newer than the first.
    for position, label in enumerate(('older', 'newer')):
        directory = incremental(FIRST + (position + 1) * DAY)
        for chunk in range(ingest['chunks']):
            mine = [t for t in twice if dump.chunk_of(t, ingest['chunks']) == chunk]
            compaction.write_parts(wh, paths.chunk(directory, chunk), [
                {'track_id': t, 'echonest_id': 'TR' + label.upper(), 'analysis': json.dumps({'v': label})}
                for t in mine], 0, ingest)
            with wh.open_write(paths.success(paths.chunk(directory, chunk))) as f:
                f.write(json.dumps({'written': len(mine)}).encode())
    out = full(FIRST + 3 * DAY)
    incrementals = [incremental(FIRST + DAY), incremental(FIRST + 2 * DAY)]
    totals = [compaction.compact_chunk(wh, ingest, c, full(FIRST), incrementals, out) for c in range(ingest['chunks'])]
    merged = contents(out)
    assert set(merged) == set(held)
    assert all(json.loads(merged[t]) == {'v': 'newer'} for t in twice)
    assert all(merged[t] == held[t] for t in held if t not in twice)
    assert sum(t['duplicates'] for t in totals) == 6
    assert sum(t['written'] for t in totals) == len(held) + 6 - 6


def test_a_compaction_stopped_at_any_point_is_finished_by_a_rerun(sets):
    day4 = FIRST + 3 * DAY
    assert build(IncrementalAnalysis(day4))
    wh = warehouse()
    ingest = config.settings()['ingest']
    incrementals = [incremental(FIRST + k * DAY) for k in (1, 2, 3)]
    expected = {}
    for d in [full(FIRST)] + incrementals:
        expected.update(contents(d))

    # Stopped mid-write: chunk 0 done, chunk 1 half written (a part, no _SUCCESS).
    staging = paths.staging(full(day4))
    compaction.compact_chunk(wh, ingest, 0, full(FIRST), incrementals, staging)
    compaction.write_parts(wh, paths.chunk(staging, 1), analysis_sets.chunk_records(
        wh, paths.chunk(full(FIRST), 1)), 0, dict(ingest, part_tracks=2))
    assert not FullAnalysisSnapshot(day4).complete()
    assert build(FullAnalysisSnapshot(day4))
    assert contents(full(day4)) == expected

    # Stopped between the write and the deletion, then in the middle of the deletion.
    for stop_after in (0, 1):
        wh.remove(f'{full(day4)}/_OBSOLETE_SETS_DELETED')
        for d in incrementals[stop_after:]:
            wh.local(d).mkdir(parents=True, exist_ok=True)
            (wh.local(d) / '_SUCCESS').write_text('{}')
        assert not FullAnalysisSnapshot(day4).complete()
        assert build(FullAnalysisSnapshot(day4))
        assert wh.listdir(paths.analysis_sets('echonest', 'incremental')) == []
        assert contents(full(day4)) == expected


def test_a_date_before_the_first_snapshot_is_refused_with_the_first_date(sets):
    with pytest.raises(analysis_sets.CalendarError, match='before the first full snapshot .2014-09-01'):
        IncrementalAnalysis(FIRST).requires()


def test_a_backfill_with_range_daily_equals_running_day_by_day(sets, tmp_path):
    def state():
        wh = warehouse()
        kinds = {kind: wh.listdir(paths.analysis_sets('echonest', kind)) for kind in ('full', 'incremental')}
        return kinds, contents(full(FIRST + 6 * DAY)), contents(incremental(FIRST + 7 * DAY))

    for k in range(1, 8):
        assert build(IncrementalAnalysis(FIRST + k * DAY))
    day_by_day = state()
    assert day_by_day[0] == {'full': ['2014-09-07'], 'incremental': ['2014-09-08']}

    sets.set('warehouse', 'root', tmp_path / 'backfill')
    sample.populate(config.settings(), FIRST, 8, TRACKS, NEW_PER_DAY, upload_analyses=False)
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(sets.write(tmp_path / 'luigi.cfg')))
    command = [str(Path(sys.executable).with_name('luigi')), '--module', 'tasks', 'RangeDaily',
               '--of', 'IncrementalAnalysis', '--start', '2014-09-02', '--stop', '2014-09-09', '--local-scheduler']
    done = subprocess.run(command, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert state() == day_by_day
