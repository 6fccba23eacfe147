"""The whole pipeline on a real HDFS (Hadoop's minicluster, through WebHDFS), against the same run on
the local warehouse directory; and the mrjob jobs on Hadoop Streaming against the inline runner."""
import datetime
import os
import signal
import sys
import time

import luigi
import luigi.interface
import luigi.scheduler
import pytest

from hadoop import minicluster
from pipeline import analysis_sets, config, fs, paths, sample
from tasks import BulkIngest, DailyAttributes, IncrementalAnalysis, RangeDaily
from tests.conftest import attribute_records, build, luigi_command, set_contents, warehouse

FIRST = datetime.date(2014, 9, 1)
DAY = datetime.timedelta(days=1)
LAST = FIRST + 9 * DAY


@pytest.fixture
def small(cfg):
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': 4, 'keep_full_snapshots': 1},
                'ingest': {'chunks': 2, 'part_tracks': 8}})
    return cfg


def use_hdfs(cfg, cluster):
    cfg.update({'warehouse': {'kind': 'webhdfs', 'webhdfs_url': cluster.webhdfs_url, 'user': 'hadoop'}})
    wh = warehouse()
    for top in ('/metadata', '/echonest'):  # one cluster serves the session: start each test empty
        wh.remove(top)
    return wh


def run_pipeline():
    """Everything: bulk ingest, incremental sets, two compactions, attributes, then a backfill."""
    sample.populate(config.settings(), FIRST, 12, 30, 4)
    assert build(DailyAttributes(LAST))
    assert build(RangeDaily(of=DailyAttributes, start=FIRST, stop=FIRST + 12 * DAY))
    wh = warehouse()
    return {
        'full': {d: set_contents(paths.full_snapshot('echonest', datetime.date.fromisoformat(d)))
                 for d in wh.listdir('/echonest/analysis/full')},
        'incremental': wh.listdir('/echonest/analysis/incremental'),
        'failures': set_contents(paths.full_snapshot('echonest', FIRST + 8 * DAY), '_failures'),
        'attributes': {d: attributes(datetime.date.fromisoformat(d)) for d in wh.listdir('/echonest/attributes')},
    }


def attributes(date):
    return attribute_records(paths.attribute_snapshot('echonest', date))


def test_the_pipeline_on_hdfs_writes_what_it_writes_on_the_local_warehouse(small, hadoop_cluster):
    local = run_pipeline()
    assert isinstance(warehouse(), fs.LocalWarehouse)
    assert local['full'].keys() == {'2014-09-09'} and local['incremental'] == ['2014-09-10', '2014-09-11', '2014-09-12']
    wh = use_hdfs(small, hadoop_cluster)
    assert isinstance(wh, fs.WebHdfsWarehouse)
    assert run_pipeline() == local
    # Nothing half-written is left in sight: no staging directory, no temporary file.
    listing = [name for top in ('/echonest/analysis/full', '/echonest/attributes') for name in wh.listdir(top)]
    assert not [name for name in listing if name.startswith('.')]


def map_tasks(totals):
    """Map tasks Hadoop launched for a step, from the job counters a task recorded in _SUCCESS."""
    return [counters[group]['Launched map tasks'] for counters in totals['job_counters']
            for group in counters if group.strip() == 'Job Counters']


def test_the_jobs_on_hadoop_streaming_give_what_the_inline_runner_gives(small, hadoop_cluster, monkeypatch, tmp_path):
    use_hdfs(small, hadoop_cluster)
    # Two chunks, a compaction on the third day: the jobs on it, each chunk a map task.
    small.update({'analysis': {'full_every_days': 2}, 'ingest': {'runner': 'inline'}, 'attributes': {'runner': 'inline'}})
    sample.populate(config.settings(), FIRST, 3, 30, 4)
    full_day = FIRST + 2 * DAY
    assert build(DailyAttributes(full_day))
    inline = {'analysis': set_contents(paths.full_snapshot('echonest', full_day)), 'attributes': attributes(full_day)}
    warehouse().remove('/echonest')

    monkeypatch.setenv('HADOOP_CONF_DIR', hadoop_cluster.conf_dir)
    # The tasks get the S3 credentials as a node would: a file named in the environment.
    credentials = tmp_path / 'aws-credentials'
    credentials.write_text('[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n')
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(credentials))
    small.update({'ingest': {'runner': 'hadoop'}, 'attributes': {'runner': 'hadoop'}, 'analysis': {'runner': 'hadoop'},
                  'hadoop': {'hadoop_bin': minicluster.HOME / 'bin' / 'hadoop', 'cmdenv': 'AWS_SHARED_CREDENTIALS_FILE',
                             'streaming_jar': minicluster.streaming_jar(), 'python_bin': sys.executable}})
    scheduler = luigi.scheduler.Scheduler(record_task_history=False)  # as luigi makes a local one
    factory = luigi.interface._WorkerSchedulerFactory()
    monkeypatch.setattr(factory, 'create_local_scheduler', lambda: scheduler)

    def build_on_hadoop(task):
        return luigi.build([task], worker_scheduler_factory=factory, local_scheduler=True, log_level='WARNING')
    assert build_on_hadoop(IncrementalAnalysis(full_day))
    # From here on, the compaction and the join: what does the Luigi process itself open?
    opened = []
    for method in ('open_read', 'open_write'):
        original = getattr(fs.WebHdfsWarehouse, method)
        monkeypatch.setattr(fs.WebHdfsWarehouse, method, lambda self, path, original=original: (
            opened.append(path), original(self, path))[1])
    assert build_on_hadoop(DailyAttributes(full_day))
    assert opened and not [path for path in opened if path.endswith('.avro')], opened
    # The web view showed where to follow each job on the cluster.
    urls = {task['name']: task['tracking_url'] for task in scheduler.task_list('DONE', '').values()}
    assert all(urls[name].startswith('http://') for name in ('IngestChunk', 'FullAnalysisSnapshot', 'DailyAttributes'))
    for directory in (paths.full_snapshot('echonest', full_day), paths.attribute_snapshot('echonest', full_day)):
        assert map_tasks(analysis_sets.read_success(warehouse(), directory)) == [2]
    assert set_contents(paths.full_snapshot('echonest', full_day)) == inline['analysis']
    assert attributes(full_day) == inline['attributes']


def test_a_namenode_that_stops_answering_mid_run_gives_one_clear_error_and_a_clean_run_once_back(
        small, hadoop_cluster, tmp_path):
    wh = use_hdfs(small, hadoop_cluster)
    small.set('warehouse', 'timeout', 2)
    sample.populate(config.settings(), FIRST, 1, 60, 0)
    worker = luigi_command(small, tmp_path, 'BulkIngest', '--date', str(FIRST))
    chunk = paths.chunk(paths.staging(paths.full_snapshot('echonest', FIRST)), 0)
    deadline = time.monotonic() + 120
    while not [name for name in wh.listdir(chunk) if name.startswith('part-')]:
        assert worker.poll() is None and time.monotonic() < deadline, 'the worker ended before the drill'
        time.sleep(0.05)
    os.kill(hadoop_cluster.pid, signal.SIGSTOP)  # the whole cluster hangs, as a namenode in a long GC
    try:
        output = worker.communicate(timeout=300)[0]
    finally:
        os.kill(hadoop_cluster.pid, signal.SIGCONT)
    assert worker.returncode == 30, output[-3000:]  # [retcode] task_failed
    assert f'WarehouseError: HDFS at {hadoop_cluster.webhdfs_url} did not answer while ' in output
    assert 'is the namenode up?' in output
    assert not wh.exists(paths.full_snapshot('echonest', FIRST))

    again = luigi_command(small, tmp_path, 'BulkIngest', '--date', str(FIRST))
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output[-3000:]
    on_hdfs = {kind: set_contents(paths.full_snapshot('echonest', FIRST), kind) for kind in ('part', '_failures')}
    assert not [name for parent, files in wh.walk('/echonest') for name in files if name.startswith('.tmp-')]
    small.update({'warehouse': {'kind': 'local', 'root': tmp_path / 'undisturbed'}})
    sample.populate(config.settings(), FIRST, 1, 60, 0, upload_analyses=False)
    assert build(BulkIngest(FIRST))
    assert on_hdfs == {kind: set_contents(paths.full_snapshot('echonest', FIRST), kind) for kind in ('part', '_failures')}
