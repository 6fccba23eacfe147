"""The daily attributes join, map-only: each input line is one chunk of the snapshot (a spec made by the
driver), which a map task writes to the warehouse itself (attribute_snapshots.join_chunk). Its output
is the counts of each chunk: no record of the catalog goes back to the driver."""
import json

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

from pipeline import fs
from pipeline.attribute_snapshots import join_chunk
from pipeline.config import read_settings


class MRDailyAttributes(MRJob):
    # One chunk per map task; a task attempt rewrites its chunk from the start, so no speculative twin.
    HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat'
    JOBCONF = {'mapreduce.input.lineinputformat.linespermap': 1, 'mapreduce.job.reduces': 0,
               'mapreduce.map.speculative': 'false'}
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--settings', help='pipeline.config.settings() as a JSON file')
        self.add_passthru_arg('--calculator-version', type=int)

    def mapper(self, _, line):
        # NLineInputFormat hands streaming "offset<TAB>line"; JSON lines hold no raw tab.
        spec = json.loads(line.rsplit('\t', 1)[-1])
        settings = read_settings(self.options.settings)
        counts = join_chunk(fs.open_warehouse(settings['warehouse']), spec, self.options.calculator_version,
                            settings['ingest'])
        for name, value in counts.items():
            self.increment_counter('attributes', name, value)
        yield spec['chunk'], counts


if __name__ == '__main__':
    MRDailyAttributes.run()
