"""Running an mrjob job from a task: the runner and its options from luigi.cfg, the tracking URL shown.

The tasks import their job classes where they run them: mrjob imports setuptools (through distutils), a
sixth of a second that every `luigi` command would pay, the bulk ingest's included, which runs none."""
import collections
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from pipeline import config

TRACKING_URL = re.compile(r'(?:Tracking URL|url to track the job):\s*(\S+)', re.IGNORECASE)


def _informative(record):
    """False for mrjob's warnings that say nothing here: the jobs run with --no-conf on purpose, and
    their Hadoop input format only matters on Hadoop."""
    message = record.getMessage()
    return not (message.startswith('No configs specified for')
                or message.startswith('ignoring hadoop_input_format keyword arg (requires real Hadoop)'))


for _name in ('mrjob.conf', 'mrjob.sim'):
    logging.getLogger(_name).addFilter(_informative)


class _TrackingUrl(logging.Handler):
    """mrjob logs Hadoop's tracking URL as the job starts; the web view gets it at once."""

    def __init__(self, task):
        super().__init__()
        self.task = task

    def emit(self, record):
        match = TRACKING_URL.search(record.getMessage())
        if match:
            self.task.set_tracking_url(match.group(1))


@contextlib.contextmanager
def run(task, job_class, runner, input_path, extra_args):
    """Run `job_class` on `input_path` with the settings of luigi.cfg; yield (job, finished runner)."""
    hadoop = config.hadoop()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Path(scratch) / 'settings.json'
        settings.write_text(json.dumps(config.settings(), default=str))
        args = ['-r', runner, '--no-conf', input_path, '--settings', str(settings), *extra_args]
        if runner == 'hadoop':
            # The library goes with the job, so the cluster's Python needs only the requirements.
            library = shutil.make_archive(str(Path(scratch) / 'pipeline'), 'zip',
                                          Path(__file__).resolve().parents[1], 'pipeline')
            args += ['--py-files', library, '--hadoop-bin', hadoop.hadoop_bin]
            args += ['--hadoop-streaming-jar', hadoop.streaming_jar] if hadoop.streaming_jar else []
            args += ['--python-bin', hadoop.python_bin] if hadoop.python_bin else []
            for name in hadoop.cmdenv.split():
                args += ['--cmdenv', f'{name}={os.environ[name]}']
        job = job_class(args=args)
        # mrjob logs each line of the Hadoop driver's log here, the tracking URL at INFO.
        driver_log = logging.getLogger('mrjob.logs.step')
        handler, level = _TrackingUrl(task), driver_log.level
        driver_log.addHandler(handler)
        driver_log.setLevel(logging.INFO)
        try:
            with job.make_runner() as mr_runner:
                mr_runner.run()
                yield job, mr_runner
        finally:
            driver_log.removeHandler(handler)
            driver_log.setLevel(level)


def run_chunks(task, job_class, runner, specs, extra_args=()):
    """A job of pipeline.jobs.chunk_job over `specs` (one per chunk, numbered from 0): the chunks' counts
    summed, with the job's counters. A chunk that reported nothing fails the task before anything is published."""
    specs = list(specs)
    totals, done = collections.Counter(), set()
    with tempfile.NamedTemporaryFile('w', suffix='.jsonl') as manifest:
        manifest.writelines(json.dumps(spec) + '\n' for spec in specs)
        manifest.flush()
        with run(task, job_class, runner, manifest.name, list(extra_args)) as (job, mr_runner):
            for chunk, counts in job.parse_output(mr_runner.cat_output()):
                done.add(chunk)
                totals.update(counts)
            counters = mr_runner.counters()
    if done != set(range(len(specs))):
        raise RuntimeError(f'{task}: the {job_class.__name__} job reported chunks {sorted(done)} of {len(specs)}: '
                           f'nothing was published; run again')
    return dict(totals, job_counters=counters)
