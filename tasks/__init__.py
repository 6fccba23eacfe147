"""The Luigi graph: `luigi --module tasks BulkIngest --date 2014-09-01` from the repository root."""
from tasks.ingest import BulkIngest, IngestChunk, IngestEstimate, MetadataDump

__all__ = ['BulkIngest', 'IngestChunk', 'IngestEstimate', 'MetadataDump']
