"""The map-only jobs that make a dataset chunk by chunk: each input line is one chunk's spec (JSON), which a
map task makes by reading and writing the warehouse itself. The output is each chunk's counts, never records."""
import json

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

from pipeline import fs
from pipeline.config import read_settings


class MRChunkJob(MRJob):
    # One chunk per map task; a task attempt writes its chunk from the start, so no speculative twin.
    HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat'
    JOBCONF = {'mapreduce.input.lineinputformat.linespermap': 1, 'mapreduce.job.reduces': 0,
               'mapreduce.map.speculative': 'false'}
    OUTPUT_PROTOCOL = JSONProtocol
    COUNTERS = 'chunks'  # the group of the counts in Hadoop's counters
    KEY = 'chunk'  # the field of the spec that names what a line makes

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--settings', help='pipeline.config.settings() as a JSON file')

    def mapper(self, _, line):
        # NLineInputFormat hands streaming "offset<TAB>line"; JSON lines hold no raw tab.
        spec = json.loads(line.rsplit('\t', 1)[-1])
        settings = read_settings(self.options.settings)
        counts = self.make_chunk(fs.open_warehouse(settings['warehouse']), settings, spec)
        for name, value in counts.items():
            if isinstance(value, int):  # Hadoop counts integers
                self.increment_counter(self.COUNTERS, name, value)
        yield spec[self.KEY], counts

    def make_chunk(self, warehouse, settings, spec):
        """The chunk's counts, once it is written."""
        raise NotImplementedError
