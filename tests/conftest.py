import itertools
import json
import os
from pathlib import Path

import boto3
import luigi
import pytest
from luigi.execution_summary import LuigiStatusCode

from pipeline import config, fs, local_s3, paths, records

SAMPLES = Path(__file__).resolve().parents[1].parent / 'shared' / 'samples' / 'echonest'
_buckets = itertools.count()

# moto's server accepts any credentials; boto3's chain only needs some.
os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')


@pytest.fixture(scope='session')
def hadoop_cluster(tmp_path_factory):
    """One Hadoop minicluster (HDFS, WebHDFS, MapReduce) for the whole session; stopped at its end."""
    from hadoop import minicluster
    missing = minicluster.missing_tools()
    if missing and not os.environ.get('CI'):  # under CI, the cluster must run: fetch_jars() fails instead
        pytest.skip(f'the Hadoop test cluster needs {" and ".join(missing)} on PATH (required under CI)')
    minicluster.fetch_jars()
    with minicluster.running(tmp_path_factory.mktemp('hadoop')) as cluster:
        print(f'\nHadoop test cluster up in {cluster.startup_seconds:.1f} s, JVM RSS '
              f'{cluster.rss_bytes / 2**20:.0f} MiB, MapReduce on YARN: {cluster.mapreduce}')
        yield cluster


@pytest.fixture(scope='session')
def s3_endpoint(tmp_path_factory):
    """One real S3-compatible server on loopback for the whole session."""
    with local_s3.running(log_path=str(tmp_path_factory.mktemp('s3') / 'moto.log')) as endpoint:
        yield endpoint


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
    s3 = config.settings()['s3']
    return boto3.session.Session().client('s3', endpoint_url=s3['endpoint_url'], region_name=s3['region'])


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
