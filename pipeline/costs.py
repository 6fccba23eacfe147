"""What a download costs at retail S3 prices ([costs] in luigi.cfg): estimated before, counted after."""
from pipeline import dump


def dollars(requests, nbytes, prices):
    return requests / 1000 * prices['get_per_1000'] + nbytes / 1e9 * prices['transfer_per_gb']


def estimate(warehouse, date, settings):
    """One pass over the dump's track IDs: tracks per chunk, and the requests, bytes and dollars."""
    chunks = settings['ingest']['chunks']
    per_chunk = [0] * chunks
    for row in dump.rows(warehouse, date):
        per_chunk[dump.chunk_of(row['track_id'], chunks)] += 1
    tracks = sum(per_chunk)
    nbytes = tracks * settings['costs']['assumed_document_bytes']
    return {
        'tracks': tracks,
        'tracks_per_chunk': per_chunk,
        'requests': tracks,  # one GET per track: a 404 tells that a key is missing
        'bytes': nbytes,
        'dollars': round(dollars(tracks, nbytes, settings['costs']), 2),
    }


def describe(counts):
    return (f"{counts['tracks']:,} tracks, {counts['requests']:,} GET requests, "
            f"{counts['bytes'] / 1e9:,.1f} GB, ${counts['dollars']:,.2f}")
