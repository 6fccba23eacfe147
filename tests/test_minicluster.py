"""A real Hadoop cluster (hadoop/minicluster.py): HdfsCLI over WebHDFS, the `hadoop` launcher, mrjob on it."""
import os
import subprocess
import sys

import hdfs
import pytest

from hadoop import minicluster
from hadoop.mr_word_count import MRWordCount

HADOOP = str(minicluster.HOME / 'bin' / 'hadoop')
TEXT = 'the quick brown fox\njumps over the lazy dog\nThe dog sleeps, the fox runs\n' * 50


@pytest.fixture
def cluster(hadoop_cluster):
    return hadoop_cluster


def hadoop(cluster, *args):
    """hadoop/bin/hadoop's stdout, against this cluster."""
    done = subprocess.run([HADOOP, *args], env=cluster.env(), capture_output=True, text=True)
    assert done.returncode == 0, f'hadoop {" ".join(args)}: exit {done.returncode}\n{done.stderr}'
    return done.stdout


def test_hdfscli_over_webhdfs(cluster):
    client = hdfs.InsecureClient(cluster.webhdfs_url, user='hadoop')
    client.makedirs('/hdfscli/in')
    payload = os.urandom(3 * 2**20) + TEXT.encode()
    with client.write('/hdfscli/in/data.bin') as writer:
        for start in range(0, len(payload), 2**16):  # streamed in pieces, not one body
            writer.write(payload[start:start + 2**16])
    with client.read('/hdfscli/in/data.bin') as reader:
        assert reader.read() == payload
    assert client.list('/hdfscli/in') == ['data.bin']
    assert client.status('/hdfscli/in/data.bin')['length'] == len(payload)
    client.rename('/hdfscli/in/data.bin', '/hdfscli/moved.bin')
    assert client.list('/hdfscli') == ['in', 'moved.bin']
    assert client.delete('/hdfscli', recursive=True)
    assert client.status('/hdfscli', strict=False) is None


def test_hadoop_launcher(cluster, tmp_path):
    assert hadoop(cluster, 'version').startswith('Hadoop 3.4.')
    local = tmp_path / 'words.txt'
    local.write_text(TEXT)
    hadoop(cluster, 'fs', '-mkdir', '-p', '/launcher/a/b')
    hadoop(cluster, 'fs', '-put', str(local), '/launcher/a/b/words.txt')
    assert hadoop(cluster, 'fs', '-cat', '/launcher/a/b/words.txt') == TEXT
    hadoop(cluster, 'fs', '-test', '-e', '/launcher/a/b/words.txt')
    assert hadoop(cluster, 'fs', '-du', '-s', '/launcher').split()[0] == str(len(TEXT))
    assert '/launcher' in hadoop(cluster, 'fs', '-ls', '/')
    hadoop(cluster, 'fs', '-rm', '-R', '/launcher')
    gone = subprocess.run([HADOOP, 'fs', '-test', '-e', '/launcher'], env=cluster.env(), capture_output=True)
    assert gone.returncode == 1


def word_counts(runner_args, input_path):
    """The job's output, sorted, and its counters."""
    job = MRWordCount([*runner_args, input_path])
    with job.make_runner() as runner:
        runner.run()
        return sorted(job.parse_output(runner.cat_output())), runner.counters()


def test_mrjob_on_the_cluster(cluster, tmp_path, monkeypatch):
    if not cluster.mapreduce:
        pytest.skip('this cluster runs HDFS only')
    local = tmp_path / 'words.txt'
    local.write_text(TEXT)
    hadoop(cluster, 'fs', '-mkdir', '-p', '/mrjob/in')
    hadoop(cluster, 'fs', '-put', str(local), '/mrjob/in/words.txt')
    monkeypatch.setenv('HADOOP_CONF_DIR', cluster.conf_dir)  # mrjob runs bin/hadoop with our environment
    on_hadoop = word_counts(['-r', 'hadoop', '--hadoop-bin', HADOOP, '--hadoop-streaming-jar',
                             minicluster.streaming_jar(), '--python-bin', sys.executable,
                             '--hadoop-tmp-dir', 'hdfs:///mrjob/tmp', '--output-dir', 'hdfs:///mrjob/out'],
                            'hdfs:///mrjob/in/words.txt')
    inline = word_counts(['-r', 'inline'], str(local))
    assert on_hadoop[0] == inline[0]
    assert dict(inline[0])['the'] == 200
    # mrjob found the job's counters in `hadoop jar`'s output.
    assert on_hadoop[1][0]['words']['lines'] == TEXT.count('\n')
    assert hadoop(cluster, 'fs', '-ls', '/mrjob/out').count('part-') >= 1
