"""The README's commands as a new user types them: in a new shell with nothing exported, the virtualenv
activated, from the repository root, against a luigid (the test's own, and its own S3 server)."""
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import fastavro

from pipeline import config, dump, paths, sample
from tests.conftest import REPOSITORY, SAMPLES, set_contents, warehouse

ACTIVATE = Path(sys.executable).with_name('activate')
DEMO_ENDPOINT, DEMO_BUCKET = 'http://127.0.0.1:5055', 'echonest-analysis'


def readme_block(after):
    """The lines of the first ```sh block after the README line that starts with `after`."""
    text = (REPOSITORY / 'README.md').read_text()
    block = re.search(r'```sh\n(.*?)```', text[text.index(after):], re.S)[1]
    return [line for line in block.splitlines() if line.strip()]


def new_shell(cfg, tmp_path, port, lines):
    """`lines` in bash with only PATH, HOME (empty) and the test's configuration: nothing else exported."""
    cfg.set('core', 'scheduler_port', port)
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path / 'home'),
           'LUIGI_CONFIG_PATH': str(cfg.write(tmp_path / 'luigi.cfg'))}
    script = '\n'.join(['set -e', f'. {ACTIVATE}', *lines])
    return subprocess.run(['bash', '-c', script], env=env, cwd=REPOSITORY, capture_output=True, text=True)


def test_the_daily_job_and_a_backfill_as_typed_in_a_new_shell(cfg, luigid, tmp_path):
    sample.populate(config.settings(), datetime.date(2014, 9, 1), 31, 12, 1)
    commands = [line for line in readme_block('After `make demo`, in any shell') if line.startswith('luigi ')]
    assert len(commands) == 2 and 'RangeDaily' in commands[1]
    done = new_shell(cfg, tmp_path, luigid, commands)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(warehouse().listdir(paths.attribute_snapshots('echonest'))) == 30  # 2014-09-01 .. 2014-09-30, each complete
    assert 'S3Error' not in done.stderr


def test_own_analyses_as_the_readme_shows(cfg, luigid, tmp_path, s3_endpoint):
    document = SAMPLES / 'spotify-era_1GfBLbAhZUWdseuDqhocmn_rumble.analysis.json'
    bucket = cfg.values['s3']['bucket'] + '-own'
    lines = []
    for line in readme_block('### Bringing your own analyses'):
        line = line.replace(DEMO_ENDPOINT, s3_endpoint).replace(DEMO_BUCKET, bucket)
        lines.append(line.replace('rumble.analysis.json', str(document)).replace('tracks.csv', str(tmp_path / 'tracks.csv')))
    cfg.set('s3', 'bucket', bucket)
    done = new_shell(cfg, tmp_path, luigid, lines)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r'2014-09-01\s+published\s+full, complete\s+1\s+1\s+0\s+0', done.stdout), done.stdout

    found = set_contents(paths.full_snapshot('echonest', datetime.date(2014, 9, 1)))
    assert {track: json.loads(text) for track, text in found.items()} == \
        {'1GfBLbAhZUWdseuDqhocmn': json.loads(document.read_text())}


def _write_dump(tmp_path, schema, rows):
    wh = warehouse()
    with wh.open_write(paths.metadata_dump(datetime.date(2014, 9, 1)) + '/part-00000.avro') as f:
        fastavro.writer(f, fastavro.parse_schema(schema), rows)
    return wh


def test_a_dump_under_another_record_name_is_read_by_its_fields(cfg, tmp_path):
    schema = {'type': 'record', 'name': 'Track', 'namespace': 'org.catalog.export', 'fields': [
        {'name': 'track_id', 'type': 'string'}, {'name': 'echonest_id', 'type': 'string'},
        {'name': 'duration_ms', 'type': 'int'}, {'name': 'isrc', 'type': 'string'}]}
    rows = [{'track_id': sample.spotify_track_id(n), 'echonest_id': sample.echonest_id(n), 'duration_ms': 1000 + n,
             'isrc': f'SE{n:010d}'} for n in range(3)]
    wh = _write_dump(tmp_path, schema, rows)
    assert list(dump.rows(wh, datetime.date(2014, 9, 1))) == [
        {'track_id': r['track_id'], 'echonest_id': r['echonest_id'], 'analysis_version': '3',
         'duration_ms': r['duration_ms']} for r in rows]


def test_a_dump_whose_fields_do_not_fit_gets_one_short_error(cfg, tmp_path):
    path = paths.metadata_dump(datetime.date(2014, 9, 1)) + '/part-00000.avro'
    cases = [
        ([{'name': 'track_id', 'type': 'string'}], [{'track_id': 'x'}],
         f'metadata dump {path}: its records (Track) have no echonest_id field'),
        ([{'name': 'track_id', 'type': 'long'}, {'name': 'echonest_id', 'type': 'string'}],
         [{'track_id': 1, 'echonest_id': 'TR'}],
         f'metadata dump {path}: its fields do not have the types of the dump schema (track_id is "long" there, '
         f'"string" in the dump schema)'),
    ]
    for fields, rows, message in cases:
        wh = _write_dump(tmp_path, {'type': 'record', 'name': 'Track', 'fields': fields}, rows)
        try:
            list(dump.rows(wh, datetime.date(2014, 9, 1)))
            raise AssertionError('read a dump that does not fit')
        except dump.DumpError as e:
            assert str(e).startswith(message), e
            assert len(str(e)) < 250 and '__fastavro' not in str(e)
