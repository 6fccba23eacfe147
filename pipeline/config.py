"""The one configuration surface: the sections of luigi.cfg, read through luigi.Config.

Credentials are never configured here: boto3 finds them through its standard chain
(environment, ~/.aws, instance role), and nothing below ever logs one.
"""
import datetime
import json
import os

import luigi


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
    codec = luigi.ChoiceParameter(choices=['deflate', 'snappy', 'zstandard', 'null'], default='deflate')
    codec_level = luigi.IntParameter(default=6)
    block_bytes = luigi.IntParameter(default=4 * 1024 * 1024, description='Avro block size')
    runner = luigi.ChoiceParameter(choices=['worker', 'inline', 'local', 'hadoop'], default='worker')


class analysis(luigi.Config):
    first_snapshot = luigi.DateParameter(default=datetime.date(2014, 9, 1),
                                         description='the date of the bulk ingest: the first full snapshot')
    full_every_days = luigi.IntParameter(default=7, description='a compaction every this many days after it')
    keep_full_snapshots = luigi.IntParameter(default=2)


class attributes(luigi.Config):
    # mrjob's runner for the join: 'inline' in this process, 'local' in several, 'hadoop' on a cluster.
    runner = luigi.ChoiceParameter(choices=['inline', 'local', 'hadoop'], default='inline')


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
    transfer_per_gb = luigi.FloatParameter(default=0.09)
    assumed_document_bytes = luigi.IntParameter(default=500_000)


SECTIONS = (warehouse, s3, ingest, analysis, attributes, hadoop, costs)


def settings():
    """Every section as plain values: what a job shipped to a cluster gets instead of luigi.cfg."""
    values = {cls.__name__: dict(cls().param_kwargs) for cls in SECTIONS}
    # A job may run in another working directory (mrjob's runners do).
    values['warehouse']['root'] = os.path.abspath(values['warehouse']['root'])
    return values


def read_settings(path):
    """settings() as a task shipped to a cluster gets them: a JSON file beside it."""
    with open(path) as f:
        return json.load(f)
