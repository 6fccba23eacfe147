import io
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import fastavro
import luigi
import pytest
from luigi.execution_summary import LuigiStatusCode

from pipeline import attribute_snapshots, config, fs, local_s3, paths, records, s3

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLES = REPOSITORY.parent / 'shared' / 'samples' / 'echonest'
_buckets = itertools.count()


@pytest.fixture(scope='session')
def hadoop_cluster(tmp_path_factory):
    """One Hadoop minicluster (HDFS, WebHDFS, MapReduce) for the whole session; stopped at its end."""
    from hadoop import minicluster
    with java_server(minicluster, 'the Hadoop test cluster', tmp_path_factory.mktemp('hadoop')) as cluster:
        print(f'\nHadoop test cluster up in {cluster.startup_seconds:.1f} s, JVM RSS '
              f'{cluster.rss_bytes / 2**20:.0f} MiB, MapReduce on YARN: {cluster.mapreduce}')
        yield cluster


@pytest.fixture(scope='session')
def cassandra_node(tmp_path_factory):
    """One real Cassandra 5.0 node (cassandra_node/) for the whole session; stopped at its end."""
    import cassandra_node as launcher
    with java_server(launcher, 'the Cassandra node', tmp_path_factory.mktemp('cassandra')) as node:
        print(f'\nCassandra node up in {node.startup_seconds:.1f} s, JVM RSS {node.rss_bytes() / 2**20:.0f} MiB')
        yield node


def java_server(launcher, name, workdir):
    """`launcher.running(workdir)` once its jars are fetched; skipped when its tools are missing, except
    under CI, where it must run (fetch_jars() fails instead)."""
    missing = launcher.missing_tools()
    if missing and not os.environ.get('CI'):
        pytest.skip(f'{name} needs {" and ".join(missing)} on PATH (required under CI)')
    launcher.fetch_jars()
    return launcher.running(workdir)


@pytest.fixture
def cassandra(cfg, cassandra_node):
    """The session's Cassandra node, its keyspace's tables empty (a keyspace a test would cost 6 s): the node."""
    from pipeline.attribute_store import TABLES, AttributeStore
    cfg.update({'cassandra': {'hosts': '127.0.0.1', 'port': cassandra_node.port, 'keyspace': 'tests'}})
    with AttributeStore() as store:
        store.create_schema()
        for table in TABLES:
            store.execute(f'TRUNCATE $keyspace.{table}')
    return cassandra_node


@pytest.fixture(scope='session')
def s3_endpoint(tmp_path_factory):
    """One real S3-compatible server on loopback for the whole session."""
    with local_s3.running(log_path=str(tmp_path_factory.mktemp('s3') / 'moto.log')) as endpoint:
        yield endpoint


@pytest.fixture
def luigid(cfg, tmp_path):
    """Our own luigid on a free loopback port, task history in tmp: its port. Stopped at the end, whatever happened."""
    cfg.update({'scheduler': {'record_task_history': 'true', 'state_path': tmp_path / 'luigi-state.pickle'},
                'task_history': {'db_connection': f'sqlite:///{tmp_path}/history.db'}})
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg.write(tmp_path / 'luigi.cfg')))
    logdir = tmp_path / 'luigid'
    logdir.mkdir()
    port = local_s3.free_port()
    with (logdir / 'luigid.out').open('w') as out:
        server = subprocess.Popen([str(Path(sys.executable).with_name('luigid')), '--address', '127.0.0.1',
                                   '--port', str(port), '--logdir', str(logdir)],
                                  env=env, cwd=REPOSITORY, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                assert server.poll() is None, f'luigid ended{log_tail(logdir)}'
                assert time.monotonic() < deadline, f'luigid did not listen on {port} in 30 s{log_tail(logdir)}'
                time.sleep(0.1)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def luigid_tasks(port, status):
    """The tasks luigid knows in a status, from its JSON API: task ID -> what the web view shows of it."""
    query = urllib.parse.quote(json.dumps({'status': status, 'upstream_status': '', 'search': ''}))
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/api/task_list?data={query}', timeout=30) as response:
        return json.load(response)['response']


def log_tail(logdir):
    return ''.join(f'\n{log.name}: {log.read_text()[-3000:]}' for log in sorted(logdir.iterdir()))


class Config:
    """luigi.cfg overrides for one test, undone afterwards."""

    def __init__(self):
        self.parser = luigi.configuration.get_config()
        self.saved = []
        self.values = {}

    def set(self, section, option, value):
        if not self.parser.has_section(section):
            self.parser.add_section(section)
        previous = self.parser.get(section, option, None)
        self.saved.append((section, option, previous))
        self.parser.set(section, option, str(value))
        self.values.setdefault(section, {})[option] = str(value)

    def update(self, values):
        for section, options in values.items():
            for option, value in options.items():
                self.set(section, option, value)

    def write(self, path):
        """The overrides as a file, for a `luigi` command run with LUIGI_CONFIG_PATH."""
        path.write_text(''.join(f'[{section}]\n' + ''.join(f'{k} = {v}\n' for k, v in options.items())
                                for section, options in self.values.items()))
        return path

    def restore(self):
        for section, option, previous in reversed(self.saved):
            if previous is None:
                self.parser.remove_option(section, option)
            else:
                self.parser.set(section, option, previous)


@pytest.fixture
def cfg(tmp_path, s3_endpoint):
    """A fresh warehouse directory and a fresh bucket on the session's S3 server."""
    overrides = Config()
    bucket = f'analysis-{next(_buckets)}'
    overrides.update({
        'warehouse': {'kind': 'local', 'root': tmp_path / 'warehouse'},
        's3': {'endpoint_url': s3_endpoint, 'bucket': bucket, 'max_attempts': 2},
        'ingest': {'chunks': 4, 'part_tracks': 10},
    })
    s3_client().create_bucket(Bucket=bucket)
    yield overrides
    overrides.restore()


def s3_client():
    return s3.client(config.settings()['s3'])


def warehouse():
    return fs.open_warehouse(config.settings()['warehouse'])


def sample_documents():
    """(name, document) of the three real analyses, two eras."""
    return [(p.name, json.loads(p.read_text())) for p in sorted(SAMPLES.glob('*.analysis.json'))]


def run(*tasks):
    return luigi.build(list(tasks), local_scheduler=True, detailed_summary=True, log_level='WARNING').status


def build(*tasks):
    return run(*tasks) == LuigiStatusCode.SUCCESS


def set_contents(set_dir, kind='part'):
    """track ID -> analysis JSON text of a set ('part'), or track ID -> reason of its failures ('_failures')."""
    wh = warehouse()
    found = {}
    for chunk in range(config.ingest().chunks):
        directory = paths.chunk(set_dir, chunk) + ('/_failures' if kind == '_failures' else '')
        for name in wh.listdir(directory):
            if name.startswith('part-'):
                with wh.open_read(f'{directory}/{name}') as f:
                    for r in records.read(f, 'analysis' if kind == 'part' else 'ingest_failure'):
                        assert r['track_id'] not in found
                        found[r['track_id']] = r['analysis'] if kind == 'part' else r['reason']
    return found


def attribute_records(snapshot_dir):
    """(track ID -> attributes record, track ID -> reject record) of an attributes snapshot; each track once."""
    wh = warehouse()
    found = {'attributes': {}, 'attribute_reject': {}}
    for name in wh.listdir(snapshot_dir):
        if name.startswith('chunk-'):
            for schema, path in attribute_snapshots.chunk_files(wh, f'{snapshot_dir}/{name}'):
                with wh.open_read(path) as f:
                    for r in records.read(f, schema):
                        assert all(r['track_id'] not in kind for kind in found.values()), r['track_id']
                        found[schema][r['track_id']] = r
    return found['attributes'], found['attribute_reject']


def warehouse_files(root):
    """Every visible file of a local warehouse: the records of Avro files, the bytes of the others."""
    found = {}
    for path in sorted(Path(root).rglob('*')):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == '.avro' and data.startswith(b'Obj\x01'):  # records: blocks differ in sync markers
                data = list(fastavro.reader(io.BytesIO(data)))
            found[str(path.relative_to(root))] = data
    return found


def luigi_command(cfg, tmp_path, *args, env=None, kill_at=None, scheduler_port=None):
    """The `luigi` command in a process of its own, with the test's configuration; against the luigid on
    `scheduler_port`, else a local scheduler. `kill_at` (function, call): run it under tests/kill_at.py."""
    environment = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg.write(tmp_path / 'luigi.cfg')), **(env or {}))
    luigi = [sys.executable, '-m', 'tests.kill_at', kill_at[0], str(kill_at[1])] if kill_at else \
        [str(Path(sys.executable).with_name('luigi'))]
    scheduler = ['--scheduler-port', str(scheduler_port)] if scheduler_port else ['--local-scheduler']
    return subprocess.Popen([*luigi, '--module', 'tasks', *args, *scheduler], env=environment, cwd=REPOSITORY,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
