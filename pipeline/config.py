"""The one configuration surface: the sections of luigi.cfg, read through luigi.Config.

Credentials are never configured here: boto3 finds them through its standard chain
(environment, ~/.aws, instance role), and nothing below ever logs one.
"""
import datetime
import json
import os
import re
import string

import luigi

from pipeline import records


class warehouse(luigi.Config):
    # 'local' keeps the HDFS layout under a directory; 'webhdfs' talks to a namenode.
    kind = luigi.ChoiceParameter(choices=['local', 'webhdfs'], default='local')
    root = luigi.Parameter(default='data', description='local directory standing in for HDFS /')
    webhdfs_url = luigi.Parameter(default='http://127.0.0.1:9870')
    user = luigi.Parameter(default='hadoop', description='HDFS user (never taken from $USER)')
    timeout = luigi.FloatParameter(default=60.0, description='seconds a WebHDFS request may wait for an answer')
    project = luigi.Parameter(default='echonest', description='the /project part of every dataset path')


class s3(luigi.Config):
    bucket = luigi.Parameter(default='echonest-analysis')
    endpoint_url = luigi.Parameter(default='', description='empty means AWS itself')
    region = luigi.Parameter(default='us-east-1')
    # Fields of a metadata dump row, in str.format syntax.
    key_template = luigi.Parameter(default='TR/{echonest_id}/{analysis_version}/full.json')
    max_concurrency = luigi.IntParameter(default=32)
    retry_mode = luigi.ChoiceParameter(choices=['standard', 'adaptive', 'legacy'], default='adaptive')
    max_attempts = luigi.IntParameter(default=8)
    connect_timeout = luigi.FloatParameter(default=5.0)
    read_timeout = luigi.FloatParameter(default=30.0)


class ingest(luigi.Config):
    chunks = luigi.IntParameter(default=20)
    part_tracks = luigi.IntParameter(default=10000, description='tracks per part file: a crash costs one part')
    max_failure_share = luigi.FloatParameter(default=0.001)
    # Small numbers make shares noisy: this many failures never fail a chunk, whatever their share.
    tolerated_failures = luigi.IntParameter(default=10)
    # How far an analysis's duration may differ from the dump's before it counts as another track's.
    duration_tolerance_s = luigi.FloatParameter(default=2.0)
    codec = luigi.ChoiceParameter(choices=['deflate', 'snappy', 'zstandard', 'null'], default='zstandard')
    # Empty: the codec's level in records.LEVELS.
    codec_level = luigi.OptionalIntParameter(default=None)
    block_bytes = luigi.IntParameter(default=4 * 1024 * 1024, description='Avro block size')
    runner = luigi.ChoiceParameter(choices=['worker', 'inline', 'local', 'hadoop'], default='worker')
    processes = luigi.IntParameter(default=1, description='processes validating and packing documents: 1 none, 0 one a core')


class analysis(luigi.Config):
    first_snapshot = luigi.DateParameter(default=datetime.date(2014, 9, 1),
                                         description='the date of the bulk ingest: the first full snapshot')
    full_every_days = luigi.IntParameter(default=7, description='a compaction every this many days after it')
    keep_full_snapshots = luigi.IntParameter(default=2)
    # mrjob's runner for compaction, a map task per chunk: 'inline', 'local' (several processes), 'hadoop'.
    runner = luigi.ChoiceParameter(choices=['inline', 'local', 'hadoop'], default='inline')


class retry(luigi.Config):
    # Tracks not written are tried again after 1, 2, 4, ... days, at most this many; bad documents at this many.
    max_days = luigi.IntParameter(default=32)


class attributes(luigi.Config):
    # mrjob's runner for the join: 'inline' in this process, 'local' in several, 'hadoop' on a cluster.
    runner = luigi.ChoiceParameter(choices=['inline', 'local', 'hadoop'], default='inline')
    part_tracks = luigi.IntParameter(default=100000, description='tracks per attributes part file')


class hadoop(luigi.Config):
    # For the mrjob jobs with runner = hadoop.
    hadoop_bin = luigi.Parameter(default='hadoop', description='the `hadoop` command')
    streaming_jar = luigi.Parameter(default='', description='empty: mrjob looks in the usual places')
    python_bin = luigi.Parameter(default='', description="the cluster's Python 3.11 with requirements.txt")
    # Names of environment variables whose values the tasks get: job configurations are readable, so
    # never a secret; pass e.g. AWS_SHARED_CREDENTIALS_FILE, the path of a file on the nodes.
    cmdenv = luigi.Parameter(default='')


class costs(luigi.Config):
    # Retail S3 prices in USD, used for the estimate before a download and the account after it.
    get_per_1000 = luigi.FloatParameter(default=0.0004)
    list_per_1000 = luigi.FloatParameter(default=0.005)
    transfer_per_gb = luigi.FloatParameter(default=0.09)
    assumed_document_bytes = luigi.IntParameter(default=500_000)


class cassandra(luigi.Config):
    # Where the attributes are served. No credential here: see pipeline/attribute_store.py.
    hosts = luigi.Parameter(default='127.0.0.1', description='contact points, comma-separated')
    port = luigi.IntParameter(default=9042, description='the CQL (native transport) port')
    keyspace = luigi.Parameter(default='echonest')
    replication = luigi.Parameter(default="{'class': 'SimpleStrategy', 'replication_factor': 1}",
                                  description='of the keyspace, when the pipeline creates it')
    consistency = luigi.ChoiceParameter(choices=['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'ALL'],
                                        default='LOCAL_QUORUM')
    timeout = luigi.FloatParameter(default=20.0, description='seconds a request may wait for an answer')
    # Loads write unlogged batches: rows a batch (about 250 bytes a row: Cassandra warns above 5 KiB, refuses
    # above 50 KiB), batches in flight.
    batch_rows = luigi.IntParameter(default=20)
    concurrency = luigi.IntParameter(default=8)


SECTIONS = (warehouse, s3, ingest, analysis, retry, attributes, hadoop, costs, cassandra)


class ConfigError(ValueError):
    pass


def settings():
    """Every section as plain values, checked: what a job shipped to a cluster gets instead of luigi.cfg."""
    values = {cls.__name__: _section(cls) for cls in SECTIONS}
    _check(values)
    # A job may run in another working directory (mrjob's runners do).
    values['warehouse']['root'] = os.path.abspath(values['warehouse']['root'])
    return values


def _section(cls):
    try:
        return dict(cls().param_kwargs)
    except ValueError as e:  # Luigi names the option; its cause says what is wrong with the value
        option = re.search(r"value of '(\w+)'", str(e))
        raise ConfigError(f'[{cls.__name__}] {option[1] if option else ""} in the configuration: '
                          f'{e.__cause__ or e}') from e


def _check(values):
    """Values of the right type that still cannot work: one error naming each."""
    at_least_one = [('ingest', 'chunks'), ('ingest', 'part_tracks'), ('ingest', 'block_bytes'),
                    ('attributes', 'part_tracks'), ('retry', 'max_days'),
                    ('analysis', 'full_every_days'), ('analysis', 'keep_full_snapshots'),
                    ('s3', 'max_concurrency'), ('s3', 'max_attempts'), ('cassandra', 'concurrency'),
                    ('cassandra', 'batch_rows')]
    problems = [f'[{s}] {o} = {values[s][o]}: must be at least 1' for s, o in at_least_one if values[s][o] < 1]
    problems += [f'[{s}] {o} = {values[s][o]}: must be more than 0 seconds'
                 for s, o in [('s3', 'connect_timeout'), ('s3', 'read_timeout'), ('warehouse', 'timeout'),
                              ('cassandra', 'timeout')]
                 if values[s][o] <= 0]
    if values['ingest']['processes'] < 0:
        problems.append(f'[ingest] processes = {values["ingest"]["processes"]}: 0 (one a core) or more')
    if not 0 <= values['ingest']['max_failure_share'] <= 1:
        problems.append(f'[ingest] max_failure_share = {values["ingest"]["max_failure_share"]}: a share, 0 to 1')
    fields = {f['name'] for f in records.schema('metadata_dump')['fields']}
    template = values['s3']['key_template']
    unknown = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None} - fields
    if unknown:
        problems.append(f'[s3] key_template = {template}: {", ".join(sorted(unknown))} is not a field of the '
                        f'metadata dump ({", ".join(sorted(fields))})')
    if problems:
        raise ConfigError('; '.join(problems) + ' (in luigi.cfg or LUIGI_CONFIG_PATH)')


def read_settings(path):
    """settings() as a task shipped to a cluster gets them: a JSON file beside it."""
    with open(path) as f:
        return json.load(f)
