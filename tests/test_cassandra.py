"""The attributes served from a real Cassandra node (cassandra_node/, one per session): loads that follow
the snapshots by their changed files, crashes and a lost node mid-load, and the three kinds of query."""
import collections
import datetime
import functools
import json
import math
import os
import subprocess
import sys

import pytest

from pipeline import (analysis_sets, attribute_loader, attribute_snapshots, config, dump, local_s3, paths, records,
                      sample, synthetic)
from pipeline.attribute_store import ATTRIBUTES, AttributeStore, CassandraUnavailable, QueryError, credentials, features
from tests.conftest import REPOSITORY, attribute_records, luigi_command, warehouse

DAYS = [datetime.date(2014, 9, 1) + datetime.timedelta(days=n) for n in range(3)]
VERSION = 1
CHUNKS = 4


@functools.lru_cache(maxsize=None)
def computed(seed, version=VERSION, analysis_seed=None):
    """The real attributes (or reject) record of synthetic track `seed`, from the analysis of `analysis_seed`
    (another analysis of the same track: a re-analysis); seeds from 1000 on have no segments (a reject)."""
    document = synthetic.synthetic_analysis(analysis_seed or seed, 'spotify', 30.0)
    if seed >= 1000:
        document['segments'] = []
    return attribute_snapshots.compute(synthetic.spotify_track_id(seed), json.dumps(document), version)[1]


def next_files(previous, date, content, changed):
    """A snapshot's files as DailyAttributes lays them out: a file of the previous snapshot none of whose tracks
    changed is carried over by name; the rest of a file that changed, and the changed tracks (those of
    `content`: a track ID -> record), go into new parts named for `date`."""
    files, fresh = {}, collections.defaultdict(list)
    for name, held in previous.items():
        if any(r['track_id'] in changed for r in held):
            for r in held:
                if r['track_id'] not in changed:
                    fresh[name.rsplit('/', 1)[0]].append(r)
        else:
            files[name] = held
    for track_id in sorted(changed & content.keys()):
        record = content[track_id]
        fresh[paths.chunk('', dump.chunk_of(track_id, CHUNKS))[1:] + ('/_rejects' if 'reason' in record else '')
              ].append(record)
    for directory, held in fresh.items():
        files[f'{directory}/part-{date:%Y%m%d}-00000.avro'] = sorted(held, key=lambda r: r['track_id'])
    return files


def publish(files, date, version=VERSION):
    """Write a snapshot of these files into the test's warehouse, as DailyAttributes does."""
    wh = warehouse()
    snapshot = paths.attribute_snapshot('echonest', date)
    for name, held in files.items():
        with wh.open_write(f'{paths.staging(snapshot)}/{name}') as f:
            records.write_indexed(f, 'attribute_reject' if '/_rejects/' in name else 'attributes', held,
                                  config.settings()['ingest'])
    rejected = sum(len(held) for name, held in files.items() if '/_rejects/' in name)
    analysis_sets.publish(wh, snapshot, {'calculator_version': version, 'rejected': rejected,
                                         'tracks': sum(map(len, files.values())) - rejected})


def contents(files):
    """(attributes by track ID, reject reasons by track ID) of a snapshot's files."""
    found = ({}, {})
    for name, held in files.items():
        for r in held:
            found['/_rejects/' in name][r['track_id']] = r
    return {t: {k: r[k] for k in ('calculator_version', *ATTRIBUTES)} for t, r in found[0].items()}, \
        {t: r['reason'] for t, r in found[1].items()}


def served():
    """What Cassandra serves, in the form of contents()."""
    with AttributeStore() as store:
        attrs = {r.track_id: {k: getattr(r, k) for k in ('calculator_version', *ATTRIBUTES)}
                 for r in store.execute('SELECT * FROM $keyspace.track_attributes')}
        rejects = {r.track_id: r.reason for r in store.execute('SELECT * FROM $keyspace.attribute_rejects')}
    return attrs, rejects


def load(date, status=lambda message: None):
    with AttributeStore() as store:
        return attribute_loader.load(store, warehouse(), 'echonest', date, status)


@pytest.fixture
def chain(cassandra):
    """Three days of snapshots: 40 tracks and 2 rejects; then a day with re-analysed tracks, a track gone, one
    moved to the rejects, a reject with attributes now, 4 new tracks; then a new calculator version."""
    day1 = {**{synthetic.spotify_track_id(n): computed(n) for n in range(40)},
            **{synthetic.spotify_track_id(n): computed(n) for n in (1000, 1001)}}
    files1 = next_files({}, DAYS[0], day1, set(day1))
    first_part = sorted(n for n in files1 if '_rejects' not in n)[0]
    reanalysed = {r['track_id'] for r in files1[first_part][:5]}  # the rest of its part is carried
    gone, to_reject = sorted(reanalysed)[:2]
    day2 = {t: r for t, r in day1.items() if t != gone}
    day2.update({synthetic.spotify_track_id(n): computed(n, analysis_seed=n + 500) for n in range(40)
                 if synthetic.spotify_track_id(n) in reanalysed - {gone}})
    day2[to_reject] = {'track_id': to_reject, 'calculator_version': VERSION, 'reason': 'analysis has no segments'}
    day2[synthetic.spotify_track_id(1000)] = {**computed(5), 'track_id': synthetic.spotify_track_id(1000)}
    day2.update({synthetic.spotify_track_id(n): computed(n) for n in range(40, 44)})
    changed = (reanalysed | {synthetic.spotify_track_id(n) for n in (1000, *range(40, 44))})
    files2 = next_files(files1, DAYS[1], day2, changed)
    day3 = {t: {**r, 'calculator_version': VERSION + 1} for t, r in day2.items()}
    files3 = next_files(files2, DAYS[2], day3, set(day3))
    publish(files1, DAYS[0])
    publish(files2, DAYS[1])
    publish(files3, DAYS[2], VERSION + 1)
    return [files1, files2, files3]


def test_each_load_brings_the_tables_to_its_snapshot_reading_only_the_changed_files(chain):
    counts = load(DAYS[0])
    assert served() == contents(chain[0])
    assert counts['written'] == 42 and counts['deleted'] == 0
    counts = load(DAYS[1])
    assert served() == contents(chain[1])
    new_files = set(chain[1]) - set(chain[0])
    assert counts['files_written'] == len(new_files) < len(chain[1])
    assert counts['files_removed'] == len(set(chain[0]) - set(chain[1]))
    # Of the tracks of the new files, only those whose values changed are written.
    before, after = contents(chain[0]), contents(chain[1])
    assert counts['written'] == sum(before[kind].get(t) != v for kind in (0, 1) for t, v in after[kind].items())
    assert counts['unchanged'] == sum(map(len, (chain[1][n] for n in new_files))) - counts['written'] > 0
    assert counts['deleted'] == sum(t not in after[kind] for kind in (0, 1) for t in before[kind]) == 3
    # The version change rewrites every track, even in files of the same name.
    counts = load(DAYS[2])
    assert served() == contents(chain[2])
    assert counts['written'] == 45 and counts['files_written'] == len(chain[2])
    # An older date than the one loaded: already done, nothing written.
    assert load(DAYS[1]) == {'skipped': f'{DAYS[2]} is loaded'}
    assert served() == contents(chain[2])
    with AttributeStore() as store:
        marker = {r.snapshot_date.date(): r for r in store.execute('SELECT * FROM $keyspace.loaded_snapshots')}
    assert sorted(marker) == DAYS and all(r.loaded for r in marker.values())
    assert marker[DAYS[2]].files == set(chain[2]) and marker[DAYS[0]].files is None  # diffs need the newest only


class Crash(Exception):
    pass


def crash_at(chunk_number):
    def status(message):
        if f'({chunk_number} of' in message:
            raise Crash(message)
    return status


def test_an_unfinished_load_is_undone_by_the_next_load_of_any_date(chain):
    load(DAYS[0])
    with pytest.raises(Crash):
        load(DAYS[1], crash_at(2))  # some of day 2's tracks written, its deletions not all done
    with AttributeStore() as store:
        assert attribute_loader.newest_loaded(store) == DAYS[0]
    # The next day's load (a version change: every file) takes day 2's half-load into account.
    with pytest.raises(Crash):
        load(DAYS[2], crash_at(3))
    load(DAYS[2])
    assert served() == contents(chain[2])
    with AttributeStore() as store:
        assert [r.snapshot_date.date() for r in store.execute('SELECT * FROM $keyspace.loaded_snapshots')
                if not r.loaded] == []


def test_a_half_load_of_one_day_then_the_day_after_without_a_version_change(cassandra):
    """Day 2 half loaded, then day 3 (same version): files day 3 carried over from day 1 may have had their
    tracks overwritten by day 2's half-load, and are written again."""
    day1 = {synthetic.spotify_track_id(n): computed(n) for n in range(24)}
    files1 = next_files({}, DAYS[0], day1, set(day1))
    day2 = {**day1, **{t: computed(n, analysis_seed=n + 700) for n, t in
                       ((n, synthetic.spotify_track_id(n)) for n in range(0, 24, 3))}}
    files2 = next_files(files1, DAYS[1], day2, {synthetic.spotify_track_id(n) for n in range(0, 24, 3)})
    # Day 3: the re-analyses of day 2 withdrawn (day 1's values back, in new parts), a new track.
    day3 = {**day1, synthetic.spotify_track_id(30): computed(30)}
    files3 = next_files(files2, DAYS[2], day3, {synthetic.spotify_track_id(n) for n in (*range(0, 24, 3), 30)})
    for files, date in zip((files1, files2, files3), DAYS):
        publish(files, date)
    load(DAYS[0])
    with pytest.raises(Crash):
        load(DAYS[1], crash_at(4))
    assert served() != contents(files1)
    load(DAYS[2])
    assert served() == contents(files3)


@pytest.mark.parametrize('kill_at', [('pipeline.attribute_loader:features', 5),
                                     ('pipeline.attribute_loader:_finish', 1)])
def test_a_load_killed_at_any_point_completes_when_run_again(chain, cfg, tmp_path, kill_at):
    load(DAYS[0])
    killed = luigi_command(cfg, tmp_path, 'AttributesToCassandra', '--date', str(DAYS[1]), kill_at=kill_at)
    assert killed.wait(120) == -9, killed.stdout.read()
    again = luigi_command(cfg, tmp_path, 'AttributesToCassandra', '--date', str(DAYS[1]))
    output = again.communicate(timeout=120)[0]
    assert again.returncode == 0, output
    assert served() == contents(chain[1])


def test_cassandra_lost_mid_load_is_one_clear_error_and_the_same_command_completes_once_it_is_back(
        chain, cassandra, cfg, tmp_path):
    load(DAYS[0])

    def lose_the_node(message):
        if '(2 of' in message:
            cassandra.kill()
    with pytest.raises(CassandraUnavailable) as lost:
        load(DAYS[1], lose_the_node)
    keyspace = config.cassandra().keyspace
    assert f'Cassandra at 127.0.0.1 port {cassandra.port}, keyspace {keyspace} did not answer while loading' \
        in str(lost.value)
    cassandra.start()  # the commit log is replayed: day 1 and day 2's first chunk survive
    again = luigi_command(cfg, tmp_path, 'AttributesToCassandra', '--date', str(DAYS[1]))
    assert again.wait(120) == 0, again.stdout.read()
    assert served() == contents(chain[1])


def test_range_daily_loads_the_newest_date_and_counts_the_older_ones_done(chain, cfg, tmp_path):
    command = luigi_command(cfg, tmp_path, 'RangeDaily', '--of', 'AttributesToCassandra',
                            '--start', str(DAYS[0]), '--stop', str(DAYS[-1] + datetime.timedelta(days=1)))
    output = command.communicate(timeout=180)[0]
    assert command.returncode == 0, output
    assert served() == contents(chain[2])


@pytest.fixture
def loaded(chain):
    load(DAYS[1])
    return contents(chain[1])


def test_a_track_is_the_snapshots_record_and_says_as_of_which_snapshot(loaded):
    attrs, rejects = loaded
    with AttributeStore() as store:
        for track_id, expected in attrs.items():
            found = store.track(track_id)
            assert {k: found[k] for k in expected} == expected
            assert found['snapshot'] == DAYS[1] and found['computed_in'] in DAYS[:2]
        reject = next(iter(rejects))
        with pytest.raises(QueryError, match=f'track {reject} has no attributes in the attributes snapshot of '
                                             f'{DAYS[1]}: {rejects[reject]}'):
            store.track(reject)
        unknown = synthetic.spotify_track_id(99)
        with pytest.raises(QueryError, match=f'track {unknown} is not in the attributes snapshot of {DAYS[1]}'):
            store.track(unknown)
        with pytest.raises(QueryError, match='is not a Spotify track ID'):
            store.track('nope')


def test_a_range_finds_exactly_the_tracks_in_it(loaded):
    attrs, _ = loaded
    key, mode = next((r['key'], r['mode']) for r in attrs.values())
    questions = [({'tempo': (100, 140)}, None, None),
                 ({'energy': (0.5, None), 'danceability': (None, 0.7)}, None, None),
                 ({}, key, mode), ({'tempo': (60, 200), 'valence': (0.1, 0.9)}, key, None)]
    with AttributeStore() as store:
        for ranges, want_key, want_mode in questions:
            found = {r['track_id'] for r in store.in_range(ranges, key=want_key, mode=want_mode, limit=1000)}
            expected = {t for t, r in attrs.items()
                        if all((lo is None or r[n] >= lo) and (hi is None or r[n] <= hi)
                               for n, (lo, hi) in ranges.items())
                        and want_key in (None, r['key']) and want_mode in (None, r['mode'])}
            assert found == expected and expected, (ranges, want_key, want_mode)
        for bad, message in [({'tempo': (140, 100)}, 'the range 140..100 is empty'),
                             ({'loudness': (-10, 0)}, "no range on 'loudness'"),
                             ({'energy': (float('nan'), 1)}, 'is not a number'), ({}, 'give at least one')]:
            with pytest.raises(QueryError, match=message):
                store.in_range(bad)
        with pytest.raises(QueryError, match='key 12'):
            store.in_range({}, key=12)


def test_similar_tracks_are_the_nearest_by_features(loaded):
    attrs, _ = loaded
    track_id = sorted(attrs)[0]
    exact = sorted((math.dist(features(r), features(attrs[track_id])), t) for t, r in attrs.items() if t != track_id)
    with AttributeStore() as store:
        found = store.similar(track_id, k=5)
        assert [r['track_id'] for r, _ in found] == [t for _, t in exact[:5]]
        assert [d for _, d in found] == pytest.approx([d for d, _ in exact[:5]], abs=1e-6)  # float32 vectors
        key = attrs[track_id]['key']
        assert all(r['key'] == key for r, _ in store.similar(track_id, k=5, key=key))
        assert store.similar(vector=features(attrs[track_id]), k=1)[0][0]['track_id'] == track_id
        with pytest.raises(QueryError, match='a vector is 10 numbers in'):
            store.similar(vector=[0.5] * 3)
        with pytest.raises(QueryError, match='is not in the attributes snapshot'):
            store.similar(synthetic.spotify_track_id(99))


def test_the_command_answers_each_question_and_a_bad_one_in_one_line(loaded, cfg, tmp_path):
    env = {'LUIGI_CONFIG_PATH': str(cfg.write(tmp_path / 'luigi.cfg'))}
    track_id = sorted(loaded[0])[0]

    def command(*args):
        done = subprocess.run([sys.executable, '-m', 'pipeline.attribute_store', *args], cwd=REPOSITORY,
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr
    code, out, _ = command('track', track_id)
    assert code == 0 and f'track {track_id}: snapshot {DAYS[1]}' in out
    assert f'tempo             {loaded[0][track_id]["tempo"]}' in out
    code, out, _ = command('range', '--tempo', '100:140', '--energy', '0.5:', '--limit', '3')
    assert code == 0 and out.count('\n') == 5  # a header, 3 tracks, a total
    code, out, _ = command('similar', track_id, '--k', '2')
    assert code == 0 and len(out.splitlines()) == 3 and 'distance' in out
    for args, message in [(('track', synthetic.spotify_track_id(99)), 'is not in the attributes snapshot'),
                          (('range', '--tempo', '140:100'), 'is empty'),
                          (('similar', '--vector', '1,2'), 'a vector is 10 numbers')]:
        code, out, err = command(*args)
        assert code == 2 and err.startswith('error: ') and message in err and 'Traceback' not in err, err


def test_end_to_end_the_daily_graph_then_its_load_and_cassandra_down_leaves_the_rest_of_the_graph_done(
        cassandra, cfg, tmp_path):
    """DailyAttributes -> AttributesToCassandra on the sample catalog: the first date with Cassandra
    unreachable (the graph still makes the snapshot), again once it answers, then the next day's diff."""
    cfg.update({'analysis': {'first_snapshot': DAYS[0], 'full_every_days': 4, 'keep_full_snapshots': 1}})
    sample.populate(config.settings(), DAYS[0], 3, 40, 6)
    port = cassandra.port
    cfg.set('cassandra', 'port', local_s3.free_port())  # nothing listens there
    down = luigi_command(cfg, tmp_path, 'AttributesToCassandra', '--date', str(DAYS[1]))
    output = down.communicate(timeout=300)[0]
    assert down.returncode == 30, output
    assert 'Cassandra at 127.0.0.1 port' in output and 'keyspace tests: cannot connect' in output
    assert warehouse().exists(paths.success(paths.attribute_snapshot('echonest', DAYS[1])))
    cfg.set('cassandra', 'port', port)
    for date in DAYS[1:]:
        command = luigi_command(cfg, tmp_path, 'AttributesToCassandra', '--date', str(date))
        output = command.communicate(timeout=300)[0]
        assert command.returncode == 0, output
        attrs, rejects = attribute_records(paths.attribute_snapshot('echonest', date))
        assert attrs and served() == ({t: {k: r[k] for k in ('calculator_version', *ATTRIBUTES)}
                                        for t, r in attrs.items()}, {t: r['reason'] for t, r in rejects.items()})


def test_credentials_come_from_the_environment_else_from_cqlshs_file(tmp_path, monkeypatch):
    for name in ('CASSANDRA_USERNAME', 'CASSANDRA_PASSWORD', 'CASSANDRA_CREDENTIALS_FILE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    assert credentials() is None
    (tmp_path / '.cassandra').mkdir()
    (tmp_path / '.cassandra' / 'credentials').write_text(
        '[PlainTextAuthProvider]\nusername = reader\npassword = s3cret\n')
    assert credentials() == ('reader', 's3cret')
    other = tmp_path / 'elsewhere'
    other.write_text('[PlainTextAuthProvider]\nusername = loader\npassword = x\n')
    monkeypatch.setenv('CASSANDRA_CREDENTIALS_FILE', str(other))
    assert credentials() == ('loader', 'x')
    monkeypatch.setenv('CASSANDRA_USERNAME', 'service')
    monkeypatch.setenv('CASSANDRA_PASSWORD', 'y')
    assert credentials() == ('service', 'y')
