import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import analysis_sets, attribute_snapshots, attributes, compaction, config, dump, paths, records, sample
from tasks import DailyAttributes, IncrementalAnalysis
from tests.conftest import attribute_records, build, s3_client, set_contents, warehouse

FIRST = datetime.date(2014, 9, 1)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def catalog(cfg):
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': 4, 'keep_full_snapshots': 1}})
    sample.populate(config.settings(), FIRST, 6, 40, 6)
    return cfg


def snapshot(date):
    directory = paths.attribute_snapshot('echonest', date)
    return (*attribute_records(directory), analysis_sets.read_success(warehouse(), directory))


def computed_from(analyses):
    return {t: attribute_snapshots.compute(t, a, attributes.CALCULATOR_VERSION)[1] for t, a in analyses.items()}


def test_the_first_day_computes_every_track_of_the_full_snapshot(catalog):
    assert build(DailyAttributes(FIRST))
    found, rejected, totals = snapshot(FIRST)
    analyses = set_contents(paths.full_snapshot('echonest', FIRST))
    assert found == computed_from(analyses) and not rejected
    assert totals['computed'] == len(analyses) and totals['base'] is None


def test_the_join_keeps_existing_attributes_and_computes_only_missing_ones(catalog):
    day2 = FIRST + DAY
    assert build(DailyAttributes(day2))
    yesterday, _, _ = snapshot(FIRST)
    today, _, totals = snapshot(day2)
    new = set_contents(paths.incremental_set('echonest', day2))
    assert new and not set(new) & set(yesterday)
    assert today == {**yesterday, **computed_from(new)}
    assert totals['kept'] == len(yesterday)
    assert totals['computed'] == len(new)


def test_unchanged_parts_are_carried_as_links_and_a_reanalysed_track_rewrites_only_its_part(catalog):
    catalog.set('attributes', 'part_tracks', 3)  # several parts a chunk
    wh = warehouse()
    day2, day3 = FIRST + DAY, FIRST + 2 * DAY
    assert build(DailyAttributes(day2), IncrementalAnalysis(day3))
    before = attribute_snapshots.snapshot_files(wh, paths.attribute_snapshot('echonest', day2))
    assert sorted(before) == list(range(4))
    names = {p.rsplit('/', 1)[1] for files in before.values() for p in files}
    assert {n[5:13] for n in names} == {'20140901', '20140902'}  # carried from the first day, or written today
    first_day = paths.attribute_snapshot('echonest', FIRST)
    carried = [p for files in before.values() for p in files if '/part-20140901-' in p]
    assert carried and all(wh.local(p).samefile(wh.local(p.replace('2014-09-02', '2014-09-01'))) for p in carried)
    assert set(attribute_records(first_day)[0]) <= set(snapshot(day2)[0])

    # Day 3's incremental set holds a track again, re-analysed: only the part holding it changes.
    yesterday, _, _ = snapshot(day2)
    track = sorted(yesterday)[0]
    chunk = dump.chunk_of(track, 4)
    incremental = paths.chunk(paths.incremental_set('echonest', day3), chunk)
    analysis = json.loads(set_contents(paths.full_snapshot('echonest', FIRST))[track])
    analysis['track']['tempo'] = 99.5
    compaction.write_parts(wh, incremental, [{'track_id': track, 'echonest_id': 'TRAGAIN', 'analysis': json.dumps(
        analysis)}], max(analysis_sets.part_numbers(wh, incremental), default=-1) + 1, config.settings()['ingest'])
    assert build(DailyAttributes(day3))
    today, _, totals = snapshot(day3)
    assert today[track]['tempo'] == 99.5
    assert {t: r for t, r in today.items() if t != track} == {t: r for t, r in yesterday.items() if t != track} | {
        t: r for t, r in computed_from(set_contents(paths.incremental_set('echonest', day3))).items() if t != track}
    after = attribute_snapshots.snapshot_files(wh, paths.attribute_snapshot('echonest', day3))
    gone = {c: {p.rsplit('/', 1)[1] for p in before[c]} - {p.rsplit('/', 1)[1] for p in after[c]} for c in before}
    with wh.open_read([p for p in before[chunk] if p.rsplit('/', 1)[1] in gone[chunk]][0]) as f:
        assert track in records.track_ids(f)
    assert len(gone[chunk]) == 1 and not any(gone[c] for c in gone if c != chunk)
    assert totals['files_carried'] == sum(map(len, before.values())) - 1


def test_a_compaction_day_needs_no_yesterday_and_reuses_the_newest_snapshot(catalog):
    full_day = FIRST + 4 * DAY
    assert DailyAttributes(full_day).requires().keys() == {'analysis'}
    assert build(DailyAttributes(FIRST + DAY))
    assert build(DailyAttributes(full_day))
    found, _, totals = snapshot(full_day)
    assert totals['base'] == paths.attribute_snapshot('echonest', FIRST + DAY)
    older, _, _ = snapshot(FIRST + DAY)
    assert totals['kept'] == len(older)
    assert found == computed_from(set_contents(paths.full_snapshot('echonest', full_day)))


def test_a_new_calculator_version_recomputes_every_track_the_next_day(catalog, monkeypatch):
    assert build(DailyAttributes(FIRST + DAY))
    before, _, _ = snapshot(FIRST + DAY)
    monkeypatch.setattr(attributes, 'CALCULATOR_VERSION', attributes.CALCULATOR_VERSION + 1)
    assert build(DailyAttributes(FIRST + 2 * DAY))
    after, _, totals = snapshot(FIRST + 2 * DAY)
    assert set(before) < set(after)
    assert {r['calculator_version'] for r in after.values()} == {attributes.CALCULATOR_VERSION}
    assert totals['computed'] == len(after) and totals['kept'] == 0
    assert build(DailyAttributes(FIRST + 3 * DAY))
    _, _, unchanged = snapshot(FIRST + 3 * DAY)
    assert unchanged['kept'] == len(after)


def test_odd_documents_give_attributes_and_uncomputable_ones_are_rejected_with_a_reason(catalog):
    day2 = FIRST + DAY
    new = [n for n in range(40, 46) if sample.has_analysis(n) and not sample.corruption(n)]
    odd, bad = new[0], new[1]
    documents = {}
    for n in (odd, bad):
        document = sample.synthetic_analysis(n, sample.track(n)['era'], sample.track(n)['duration_ms'] / 1000)
        documents[n] = document
    documents[odd]['track'].update(tempo=0.0, key=-1, mode=-1, time_signature=1)
    documents[odd]['beats'] = documents[odd]['bars'] = documents[odd]['sections'] = []
    documents[bad]['segments'] = []
    for n, document in documents.items():
        s3_client().put_object(Bucket=config.s3().bucket, Key=config.s3().key_template.format(**sample.dump_row(n)),
                               Body=json.dumps(document).encode())
    assert build(DailyAttributes(day2 + DAY))
    for date in (day2, day2 + DAY):  # a reject is carried to the next day, not dropped
        found, rejected, _ = snapshot(date)
        odd_id, bad_id = sample.track(odd)['track_id'], sample.track(bad)['track_id']
        assert (found[odd_id]['tempo'], found[odd_id]['key'], found[odd_id]['mode']) == (0.0, -1, -1)
        assert all(0 <= found[odd_id][name] <= 1 for name in attributes.ATTRIBUTE_NAMES[6:])
        assert bad_id not in found
        assert rejected[bad_id]['reason'] == 'analysis has an empty segments list'


def test_the_local_runner_gives_what_the_inline_runner_gives(catalog):
    assert build(DailyAttributes(FIRST + DAY))
    inline, _, _ = snapshot(FIRST + DAY)
    warehouse().remove(paths.attribute_snapshot('echonest', FIRST + DAY))
    catalog.set('attributes', 'runner', 'local')
    assert build(DailyAttributes(FIRST + DAY))
    assert snapshot(FIRST + DAY)[0] == inline


def test_a_three_year_backfill_from_an_empty_warehouse_schedules_and_runs(cfg, tmp_path):
    stop = FIRST + datetime.timedelta(days=3 * 365)
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': 28, 'keep_full_snapshots': 1},
                'ingest': {'chunks': 1}})
    sample.populate(config.settings(), FIRST, 1, 12, 0)
    first_dump = list(dump.rows(warehouse(), FIRST))
    day = FIRST + DAY
    while day < stop:
        dump.write(warehouse(), day, first_dump)
        day += DAY
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg.write(tmp_path / 'luigi.cfg')))
    command = [str(Path(sys.executable).with_name('luigi')), '--module', 'tasks', 'RangeDaily', '--of',
               'DailyAttributes', '--start', str(FIRST), '--stop', str(stop), '--local-scheduler', '--workers', '1']
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f'three-year backfill: {time.monotonic() - started:.0f} s')
    dates = analysis_sets.complete_dates(warehouse(), paths.attribute_snapshots('echonest'))
    assert dates == [FIRST + k * DAY for k in range(3 * 365)]
    assert DailyAttributes.bulk_complete(dates) == dates
    # The catalog never changed: the last day's snapshot is the first day's.
    assert snapshot(dates[-1])[:2] == snapshot(FIRST)[:2]
