import datetime
import gzip
import json

from luigi.execution_summary import LuigiStatusCode
import pytest

from pipeline import config, dump, paths, records, sample
from pipeline.ingest import ChunkIngest, TooManyFailures
from pipeline import s3
from pipeline.s3 import S3Error
from tasks import BulkIngest
from tests.conftest import build, run, s3_client, sample_documents, set_contents, warehouse

DATE = datetime.date(2014, 9, 1)
SNAPSHOT = paths.full_snapshot('echonest', DATE)


def chunk_ingest(chunk, progress=None):
    return ChunkIngest(warehouse(), config.settings(), paths.chunk(SNAPSHOT, chunk),
                       lambda: dump.chunk_rows(warehouse(), DATE, chunk, 4), progress)


def populate(tracks):
    sample.populate(config.settings(), DATE, 1, tracks, 0)


def test_every_track_is_written_or_listed_with_its_reason(cfg):
    populate(130)
    assert build(BulkIngest(DATE))
    written = set_contents(SNAPSHOT)
    failures = set_contents(SNAPSHOT, '_failures')
    catalog = {sample.track(n)['track_id']: n for n in range(130)}
    assert set(written) | set(failures) == set(catalog)
    assert not set(written) & set(failures)
    for track_id, reason in failures.items():
        n = catalog[track_id]
        assert reason == ('missing' if not sample.has_analysis(n) else sample.corruption(n))
    for track_id, analysis in written.items():
        n = catalog[track_id]
        source = sample.synthetic_analysis(n, sample.track(n)['era'], sample.track(n)['duration_ms'] / 1000)
        assert json.loads(analysis) == source
    totals = json.loads(warehouse().local(paths.success(SNAPSHOT)).read_text())
    assert (totals['written'], totals['missing'], totals['failed']) == (
        len(written), sum(r == 'missing' for r in failures.values()),
        sum(r != 'missing' for r in failures.values()))
    # One GET per track (a 404 answers for a missing key) and one HEAD per chunk: nothing else.
    assert totals['requests'] == {'GET': 130}


def test_real_documents_round_trip_exactly_with_every_codec(cfg):
    rows = []
    for n, (name, document) in enumerate(sample_documents()):
        row = {'track_id': sample.track(n)['track_id'], 'echonest_id': f'TRSAMPLE{n:010d}', 'analysis_version': '4',
               'duration_ms': round(document['track']['duration'] * 1000)}
        body = json.dumps(document, indent=2).encode()
        s3_client().put_object(Bucket=config.s3().bucket, Key=config.s3().key_template.format(**row),
                               Body=gzip.compress(body) if n == 0 else body)
        rows.append((row, document))
    dump.write(warehouse(), DATE, [row for row, _ in rows])
    for codec in ('deflate', 'snappy', 'zstandard'):
        cfg.set('ingest', 'codec', codec)
        cfg.set('ingest', 'chunks', 1)
        warehouse().remove(SNAPSHOT)
        assert build(BulkIngest(DATE))
        back = {t: json.loads(a) for t, a in set_contents(SNAPSHOT).items()}
        assert back == {row['track_id']: document for row, document in rows}
        with warehouse().open_read(paths.part(paths.chunk(SNAPSHOT, 0), 0)) as f:
            assert records.read(f, 'analysis').codec == codec


def test_chunks_split_the_dump_disjointly_and_stably(cfg):
    ids = [sample.track(n)['track_id'] for n in range(2000)]
    chunks = [dump.chunk_of(i, 20) for i in ids]
    assert chunks == [dump.chunk_of(i, 20) for i in reversed(ids)][::-1]
    sizes = [chunks.count(c) for c in range(20)]
    assert min(sizes) > 60 and max(sizes) < 140, sizes


def test_an_interrupted_chunk_resumes_from_its_last_committed_part(cfg):
    populate(120)

    class Crash(Exception):
        pass

    def crash_in_third_part(counts, seconds):
        if counts.tracks > 25:
            raise Crash
    interrupted = chunk_ingest(1, progress=crash_in_third_part)
    with pytest.raises(Crash):
        interrupted.run()
    chunk_dir = warehouse().local(paths.chunk(SNAPSHOT, 1))
    assert sorted(p.name for p in chunk_dir.glob('part-*')) == ['part-00000.avro', 'part-00001.avro']
    assert not (chunk_dir / '_SUCCESS').exists()
    assert not list(chunk_dir.rglob('*.tmp*')) and not list(chunk_dir.rglob('.tmp-*'))

    resumed = chunk_ingest(1)
    gets_before = resumed.store.requests['GET']
    counts = resumed.run()
    tracks_in_chunk = sum(1 for _ in dump.chunk_rows(warehouse(), DATE, 1, 4))
    assert counts.tracks == tracks_in_chunk
    # The two committed parts are not fetched again.
    assert resumed.store.requests['GET'] - gets_before == tracks_in_chunk - 20
    assert len(set_contents(SNAPSHOT)) == counts.written  # set_contents fails on a track written twice


def test_too_many_failures_fail_the_chunk_with_counts_and_keep_committed_parts(cfg):
    populate(200)
    cfg.update({'ingest': {'max_failure_share': 0.0, 'tolerated_failures': 0}})
    chunk = next(c for c in range(4) if any(
        sample.corruption(n) for n in range(200) if dump.chunk_of(sample.track(n)['track_id'], 4) == c))
    with pytest.raises(TooManyFailures, match=r'(\d+) of (\d+) tracks failed .* by reason: \{.*\}'):
        chunk_ingest(chunk).run()
    assert not warehouse().exists(paths.success(paths.chunk(SNAPSHOT, chunk)))
    assert warehouse().listdir(paths.chunk(SNAPSHOT, chunk) + '/_failures')


def test_failed_tracks_are_fetched_again_by_a_later_run(cfg):
    populate(200)
    cfg.update({'ingest': {'max_failure_share': 0.0, 'tolerated_failures': 0}})
    bad = next(n for n in range(200) if sample.corruption(n))
    chunk = dump.chunk_of(sample.track(bad)['track_id'], 4)
    with pytest.raises(TooManyFailures):
        chunk_ingest(chunk).run()
    good = sample.synthetic_analysis(bad, sample.track(bad)['era'], sample.track(bad)['duration_ms'] / 1000)
    for n in range(200):
        if sample.corruption(n) and dump.chunk_of(sample.track(n)['track_id'], 4) == chunk:
            fixed = sample.synthetic_analysis(n, sample.track(n)['era'], sample.track(n)['duration_ms'] / 1000)
            s3_client().put_object(Bucket=config.s3().bucket, Key=config.s3().key_template.format(
                **sample.dump_row(n)), Body=json.dumps(fixed).encode())
    counts = chunk_ingest(chunk).run()
    assert counts.failed == 0
    assert json.loads(set_contents(SNAPSHOT)[sample.track(bad)['track_id']]) == good


def test_the_map_only_job_writes_what_the_worker_writes(cfg):
    populate(60)
    assert build(BulkIngest(DATE))
    by_worker = set_contents(SNAPSHOT)
    warehouse().remove(SNAPSHOT)
    cfg.set('ingest', 'runner', 'inline')
    assert build(BulkIngest(DATE))
    assert set_contents(SNAPSHOT) == by_worker


def test_one_process_writes_what_the_worker_processes_write(cfg):
    populate(60)
    cfg.set('ingest', 'processes', 2)
    assert build(BulkIngest(DATE))
    by_workers = set_contents(SNAPSHOT), set_contents(SNAPSHOT, '_failures')
    warehouse().remove(SNAPSHOT)
    cfg.set('ingest', 'processes', 1)
    assert build(BulkIngest(DATE))
    assert (set_contents(SNAPSHOT), set_contents(SNAPSHOT, '_failures')) == by_workers


@pytest.mark.parametrize('body', [b'{"track": {"duration": 1.0, "x": NaN}, "segments": []}',
                                  b'{"track": {"duration": 1.0, "x": 123456789012345678901234567890}, "segments": []}'])
def test_a_document_simdjson_refuses_and_json_accepts_is_kept_as_it_came(body):
    row = {'track_id': 'x' * 22, 'duration_ms': 1000}
    outcome = s3.decode(s3.Outcome(row, 'key', body=body), 2.0)
    assert outcome.reason is None and outcome.analysis == body


@pytest.mark.parametrize('problem, message', [
    ('bucket', r'bucket does not exist: check \[s3\] bucket'),
    ('endpoint', r'cannot reach the S3 endpoint .* check \[s3\] endpoint_url'),
])
def test_a_bucket_that_cannot_be_read_stops_at_once_with_what_to_do(cfg, problem, message):
    populate(20)
    if problem == 'bucket':
        cfg.set('s3', 'bucket', 'no-such-bucket')
    else:
        cfg.set('s3', 'endpoint_url', 'http://127.0.0.1:9')
    with pytest.raises(S3Error, match=message):
        chunk_ingest(0).store.check()
    assert build(BulkIngest(DATE)) is False
    assert not warehouse().listdir(paths.chunk(SNAPSHOT, 0))


def test_a_malformed_dump_names_the_file_and_row(cfg):
    rows = [sample.dump_row(n) for n in range(5)]
    rows[3]['track_id'] = 'not-a-track'
    dump.write(warehouse(), DATE, rows)
    with pytest.raises(dump.DumpError, match=r'metadata dump /metadata/dump/2014-09-01/part-00000.avro row 4: '
                                             r"track_id 'not-a-track'"):
        list(dump.rows(warehouse(), DATE))


def test_a_missing_dump_is_an_unmet_external_dependency(cfg):
    assert run(BulkIngest(DATE)) == LuigiStatusCode.MISSING_EXT
    assert not warehouse().exists(SNAPSHOT)


@pytest.mark.parametrize('content, message', [
    (b'not avro at all', 'not an Avro object container file'),
    (None, r'its records \(\S*IngestFailure\) have no echonest_id field'),
])
def test_a_dump_that_is_not_a_dump_names_the_file(cfg, content, message):
    path = paths.metadata_dump(DATE) + '/part-00000.avro'
    with warehouse().open_write(path) as f:
        if content is None:  # an Avro file of some other schema
            records.write(f, 'ingest_failure', [{'track_id': 'x', 's3_key': 'k', 'reason': 'r', 'detail': ''}])
        else:
            f.write(content)
    with pytest.raises(dump.DumpError, match=rf'metadata dump {path}( is not a readable dump .*|: )({message})'):
        list(dump.rows(warehouse(), DATE))
