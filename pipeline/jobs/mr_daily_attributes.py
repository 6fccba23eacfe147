"""The daily attributes join, a map task per chunk of the snapshot: attribute_snapshots.join_chunk makes it
from the same chunk of the base snapshot and of the analysis sets. No record goes back to the driver."""
from pipeline.attribute_snapshots import join_chunk
from pipeline.jobs.chunk_job import MRChunkJob


class MRDailyAttributes(MRChunkJob):
    COUNTERS = 'attributes'

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--calculator-version', type=int)

    def make_chunk(self, warehouse, settings, spec):
        return join_chunk(warehouse, spec, self.options.calculator_version, settings['ingest'])


if __name__ == '__main__':
    MRDailyAttributes.run()
