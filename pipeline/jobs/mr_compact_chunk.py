"""Compaction, map-only: each input line is one chunk of the new full snapshot, which a map task merges
from the same chunk of the previous full snapshot and the incremental sets (compaction.compact_chunk),
reading and writing the warehouse itself. Its output is the counts of each chunk."""
import json

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

from pipeline import fs
from pipeline.compaction import compact_chunk
from pipeline.config import read_settings


class MRCompactChunk(MRJob):
    # One chunk per map task; a chunk left half-written is written again from the start, so no speculative twin.
    HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat'
    JOBCONF = {'mapreduce.input.lineinputformat.linespermap': 1, 'mapreduce.job.reduces': 0,
               'mapreduce.map.speculative': 'false'}
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--settings', help='pipeline.config.settings() as a JSON file')

    def mapper(self, _, line):
        # NLineInputFormat hands streaming "offset<TAB>line"; JSON lines hold no raw tab.
        spec = json.loads(line.rsplit('\t', 1)[-1])
        settings = read_settings(self.options.settings)
        counts = compact_chunk(fs.open_warehouse(settings['warehouse']), settings['ingest'], spec['chunk'],
                               spec['previous_full'], spec['incrementals'], spec['out'])
        for name, value in counts.items():
            self.increment_counter('compaction', name, value)
        yield spec['chunk'], counts


if __name__ == '__main__':
    MRCompactChunk.run()
