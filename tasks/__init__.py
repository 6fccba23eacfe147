"""The Luigi graph: `luigi --module tasks <Task> --date 2014-09-01` from the repository root."""
from luigi.tools.range import RangeDaily

from tasks.analysis import AnalysisSet, FullAnalysisSnapshot, IncrementalAnalysis
from tasks.attributes import DailyAttributes
from tasks.ingest import BulkIngest, IngestChunk, IngestEstimate, MetadataDump
from tasks.serving import AttributesToCassandra

__all__ = ['AnalysisSet', 'AttributesToCassandra', 'BulkIngest', 'DailyAttributes', 'FullAnalysisSnapshot',
           'IncrementalAnalysis', 'IngestChunk', 'IngestEstimate', 'MetadataDump', 'RangeDaily']
