"""Avro files of the warehouse: the schemas under version control and the codec settings."""
import functools
import json
import os
import tempfile
import zlib
from importlib import resources

import cramjam
import fastavro
from backports import zstd

# The level of a codec when [ingest] codec_level is empty: deflate's usual; zstandard's 5, which (with
# `ZSTANDARD`'s parameters) packs the analyses 2-3% smaller than deflate 6 in a fifth of its CPU, at
# about the rate of a plain copy (README.md, Benchmarks).
LEVELS = {'zstandard': 5, 'deflate': 6}
_ZP = zstd.CompressionParameter
# zstandard's parameters over a level's own. On the analyses, JSON of random-looking numbers, a match
# shorter than 7 bytes costs more than its literals (3% smaller at levels 3 and 4; levels 5 to 12 search
# rows of a hash table, for matches of 6 bytes at most). At level 5 a window of 512 KiB, not 2 MiB, and a
# table of 2^17 entries, not 2^19, pack as small in nine tenths of the time: the documents of a block share
# little beyond their keys, and the smaller table stays in a core's cache.
ZSTANDARD = {_ZP.min_match: 7}
ZSTANDARD_BY_LEVEL = {5: {_ZP.window_log: 19, _ZP.hash_log: 17}}


@functools.cache
def schema(name):
    # importlib.resources: the package may be a zip shipped with a Hadoop job.
    return fastavro.parse_schema(json.loads(resources.files('pipeline').joinpath(f'schemas/{name}.avsc').read_text()))


def write(fo, schema_name, records, ingest_settings=None, metadata=None, sync_marker=b''):
    """Stream `records` (an iterable of dicts) into `fo`; codec and block size from [ingest]."""
    options = {}
    if ingest_settings:
        options = dict(codec=ingest_settings['codec'], sync_interval=ingest_settings['block_bytes'])
        if ingest_settings['codec'] in LEVELS:
            options['codec_compression_level'] = level(ingest_settings)
    fastavro.writer(fo, schema(schema_name), records, metadata=metadata, sync_marker=sync_marker, **options)


def level(ingest_settings):
    configured = ingest_settings['codec_level']
    return LEVELS.get(ingest_settings['codec']) if configured is None else configured


def block(schema_name, batch, ingest_settings):
    """One Avro block of `batch`, records of a schema whose fields are all strings, given as str or as
    UTF-8 bytes: (record count, compressed data), for `write_blocks`. Encoded here rather than by
    fastavro, so that a document fetched as bytes is stored as those bytes, never decoded and encoded."""
    names = _string_fields(schema_name)
    parts = []
    for record in batch:
        for name in names:
            value = record[name]
            value = value.encode() if isinstance(value, str) else value
            parts += (_long(len(value)), value)
    return len(batch), compress(b''.join(parts), ingest_settings)


@functools.cache
def _string_fields(schema_name):
    fields = schema(schema_name)['fields']
    if any(f['type'] != 'string' for f in fields):
        raise ValueError(f'{schema_name}: records.block encodes records of string fields only')
    return [f['name'] for f in fields]


def compress(data, ingest_settings):
    """An Avro block's data compressed with the configured codec, as the Avro specification has it."""
    codec = ingest_settings['codec']
    if codec == 'zstandard':
        # A plain frame, no dictionary, a window no larger than the block (decoders accept 128 MiB by default).
        chosen = level(ingest_settings)
        return zstd.compress(data, options={_ZP.compression_level: chosen, **ZSTANDARD,
                                            **ZSTANDARD_BY_LEVEL.get(chosen, {})})
    if codec == 'deflate':
        deflate = zlib.compressobj(level(ingest_settings), zlib.DEFLATED, -15)  # raw: no zlib header
        return deflate.compress(data) + deflate.flush()
    if codec == 'snappy':  # followed by the CRC32 of the uncompressed data, big-endian
        return bytes(cramjam.snappy.compress_raw(data)) + zlib.crc32(data).to_bytes(4, 'big')
    return data


def read(fo, schema_name):
    """Records of `fo`, resolved against the project's schema (so older writers' files still read)."""
    return fastavro.reader(fo, reader_schema=schema(schema_name))


def canonical(parsed):
    return fastavro.schema.to_parsing_canonical_form(parsed)


def writer_schema(fo):
    """The schema an Avro file was written with (parsed JSON): reads its header only."""
    metadata, _ = _header(fo)
    return json.loads(metadata['avro.schema'])


def _read_long(fo):
    shift = result = 0
    while True:
        byte = fo.read(1)
        if not byte:
            raise EOFError
        result |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return (result >> 1) ^ -(result & 1)


def _long(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _header(fo):
    """(metadata, sync marker) of an Avro object container file, leaving `fo` at its first block."""
    if fo.read(4) != b'Obj\x01':
        raise ValueError('not an Avro object container file')
    metadata = {}
    while count := _read_long(fo):
        if count < 0:
            count = -count
            _read_long(fo)  # the block's size in bytes
        for _ in range(count):
            key = fo.read(_read_long(fo)).decode()
            metadata[key] = fo.read(_read_long(fo))
    return metadata, fo.read(16)


def write_blocks(fo, schema_name, blocks, ingest_settings, metadata=None):
    """An Avro file of `blocks`, (record count, data compressed with the configured codec) pairs."""
    sync = os.urandom(16)
    write(fo, schema_name, [], ingest_settings, metadata=metadata, sync_marker=sync)
    for count, data in blocks:
        if count:
            fo.write(_long(count) + _long(len(data)) + data + sync)


def concat(sources, fo, schema_name, ingest_settings, metadata=None):
    """The blocks of Avro files (`sources`: readable binary streams) into one new file, as they are:
    nothing is decompressed or decoded, which is the cost of a copy. Every source must have this
    schema and the configured codec, or ValueError."""
    expected = {'avro.schema': canonical(schema(schema_name)), 'avro.codec': ingest_settings['codec']}

    def blocks():
        for source in sources:
            header, source_sync = _header(source)
            found = {'avro.schema': canonical(json.loads(header['avro.schema'])),
                     'avro.codec': header.get('avro.codec', b'null').decode()}
            if found != expected:
                raise ValueError(f'cannot concatenate blocks of another schema or codec: {found["avro.codec"]}')
            while True:
                try:
                    count = _read_long(source)
                except EOFError:
                    break
                data = source.read(_read_long(source))
                if source.read(16) != source_sync:
                    raise ValueError('an Avro block does not end with its sync marker: the file is corrupt')
                yield count, data
    write_blocks(fo, schema_name, blocks(), ingest_settings, metadata)


TRACK_IDS = 'pipeline.track_ids'  # header metadata: the file's track IDs, one a line


def write_indexed(fo, schema_name, stream, ingest_settings):
    """`write`, with the track IDs of the records in the file's header (see track_ids); returns them.
    The header comes first, so the blocks are written to a local temporary file, then copied as they are."""
    ids = []

    def tracked():
        for record in stream:
            ids.append(record['track_id'])
            yield record
    with tempfile.TemporaryFile() as blocks:
        write(blocks, schema_name, tracked(), ingest_settings)
        blocks.seek(0)
        concat([blocks], fo, schema_name, ingest_settings, metadata={TRACK_IDS: '\n'.join(ids)})
    return ids


def track_ids(fo):
    """The track IDs of a file written by write_indexed, from its header alone: no block is read."""
    metadata, _ = _header(fo)
    return metadata[TRACK_IDS].decode().split('\n') if metadata.get(TRACK_IDS) else []
