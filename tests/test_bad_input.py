"""Bad input, as a user meets it: the `luigi` command on a warehouse holding a finished bulk ingest, one
thing spoiled, and what the command says. Nothing already written may change."""
import datetime
import json

import pytest

import tasks
from pipeline import config, dump, paths, sample
from tests.conftest import build, luigi_command, s3_client, set_contents, warehouse, warehouse_files

DATE = datetime.date(2014, 9, 1)
NEXT = DATE + datetime.timedelta(days=1)
DAILY = ['DailyAttributes', '--date', str(NEXT)]
DUMP = paths.metadata_dump(NEXT) + '/part-00000.avro'


def spoil_row(number, **fields):
    """The dump of NEXT with one row changed."""
    def spoil(cfg):
        rows = [sample.dump_row(n) for n in range(33)]
        rows[number - 1].update(fields)
        dump.write(warehouse(), NEXT, rows)
    return spoil


def spoil_document(body):
    """The analysis of the next day's first new track replaced by `body` (or what it returns)."""
    def spoil(cfg):
        row = sample.dump_row(30)
        key = config.s3().key_template.format(**row)
        s3_client().put_object(Bucket=config.s3().bucket, Key=key, Body=body() if callable(body) else body)
    return spoil


def spoil_file(path, content):
    def spoil(cfg):
        with warehouse().open_write(path) as f:
            f.write(content)
    return spoil


def configure(section, **options):
    return lambda cfg: cfg.update({section: options})


# (what is wrong, how, the command, its exit code, what the user reads: in its output, or for a track
# that could not be ingested, in the set's _failures)
CASES = [
    ('a malformed analysis document', spoil_document(b'{"track": {"tempo": 12'), DAILY, 0,
     {'_failures': 'truncated_json'}),
    ('a document that is not JSON', spoil_document(b'<html>503</html>'), DAILY, 0, {'_failures': 'malformed_json'}),
    ('a truncated gzip document', spoil_document(b'\x1f\x8b\x08\x00\x00\x00'), DAILY, 0, {'_failures': 'bad_gzip'}),
    ('another track\'s document', spoil_document(lambda: json.dumps(sample.synthetic_analysis(1, 'spotify', 30.0)).encode()),
     DAILY, 0, {'_failures': 'wrong_track'}),
    ('a dump row with a bad track ID', spoil_row(5, track_id='not-a-track'), DAILY, 30,
     f"metadata dump {DUMP} row 5: track_id 'not-a-track'"),
    ('an empty track ID', spoil_row(5, track_id=''), DAILY, 30, f"metadata dump {DUMP} row 5: track_id ''"),
    ('a repeated track ID', spoil_row(32, track_id=sample.dump_row(30)['track_id']), DAILY, 0,
     {'_failures': 'duplicate_in_dump'}),
    ('a dump that is not Avro', spoil_file(DUMP, b'not avro'), DAILY, 30,
     f'metadata dump {DUMP} is not a readable dump'),
    ('no dump for the date', None, ['DailyAttributes', '--date', '2014-09-03'], 20,
     'MetadataDump(date=2014-09-03)'),
    ('an unknown date', None, ['DailyAttributes', '--date', '2014-09-31'], 40,
     "--date '2014-09-31' is not a date of the form YYYY-MM-DD (day is out of range for month)"),
    ('a date before the first snapshot', None, ['DailyAttributes', '--date', '2014-08-31'], 35,
     '2014-08-31 is before the first full snapshot (2014-09-01'),
    ('no chunks', configure('ingest', chunks=0), DAILY, 35,
     'ConfigError: [ingest] chunks = 0: must be at least 1 (in luigi.cfg or LUIGI_CONFIG_PATH)'),
    ('an unknown codec', configure('ingest', codec='lzma'), DAILY, 35,
     "ConfigError: [ingest] codec in the configuration: lzma is not a valid choice from"),
    ('a key template with an unknown field', configure('s3', key_template='{artist}/{track_id}.json'), DAILY, 35,
     'ConfigError: [s3] key_template = {artist}/{track_id}.json: artist is not a field of the metadata dump'),
    ('a bucket that does not exist', configure('s3', bucket='no-such-bucket'), DAILY, 30,
     r'bucket does not exist: check [s3] bucket'),
    ('a namenode that does not exist', configure('warehouse', kind='webhdfs', webhdfs_url='http://127.0.0.1:9'), DAILY, 35,
     'HDFS at http://127.0.0.1:9 did not answer'),
]


@pytest.mark.parametrize('what, spoil, command, code, message', CASES, ids=[case[0] for case in CASES])
def test_bad_input_gives_one_clear_message_and_loses_nothing(cfg, tmp_path, what, spoil, command, code, message):
    cfg.update({'ingest': {'chunks': 2, 'part_tracks': 10}})
    sample.populate(config.settings(), DATE, 2, 30, 3)
    assert build(tasks.BulkIngest(DATE))
    root = warehouse().local('/')
    if spoil:
        spoil(cfg)
    before = warehouse_files(root)
    run = luigi_command(cfg, tmp_path, *command)
    output = run.communicate(timeout=300)[0]
    assert run.returncode == code, output[-3000:]
    if isinstance(message, dict):
        failures = set_contents(paths.incremental_set('echonest', NEXT), '_failures')
        assert message['_failures'] in failures.values(), failures
    else:
        assert message in output, output[-3000:]
    after = warehouse_files(root)
    assert {path: after.get(path) for path in before} == before
