"""The seed's map-only job: each input line is one part of a chunk, which a mapper downloads and
commits to the warehouse exactly as the Luigi worker would. Its output is the counts of each part."""
import json
from dataclasses import asdict

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

from pipeline import fs
from pipeline.config import read_settings
from pipeline.ingest import ChunkIngest


class MRIngestChunk(MRJob):
    # One part per map task on Hadoop, so a failed task retries a single part.
    HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat'
    JOBCONF = {'mapreduce.input.lineinputformat.linespermap': 1, 'mapreduce.job.reduces': 0}
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--settings', help='pipeline.config.settings() as a JSON file')
        self.add_passthru_arg('--directory', help='the chunk directory in the warehouse')

    def mapper(self, _, line):
        # NLineInputFormat hands streaming "offset<TAB>line"; JSON lines hold no raw tab.
        spec = json.loads(line.rsplit('\t', 1)[-1])
        settings = read_settings(self.options.settings)
        ingest = ChunkIngest(fs.open_warehouse(settings['warehouse']), settings, self.options.directory, rows=None)
        counts = ingest.write_part(spec['part'], spec['rows'], spec['duplicates'])
        self.increment_counter('ingest', 'written', counts.written)
        self.increment_counter('ingest', 'failed', counts.failed)
        yield spec['part'], asdict(counts)


if __name__ == '__main__':
    MRIngestChunk.run()
