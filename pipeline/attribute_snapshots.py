"""The daily attributes snapshot: what the join decides for each track, and the records it writes.

For each track the join sees its attributes from the base snapshot (or its reject), and where it is in
the analysis sets given to the job. Existing attributes of the current calculator version are kept;
anything else is computed from the newest analysis of the track.
"""
import json

from pipeline import attributes

KEEP, REJECT, POINTER, WANTED = 'attributes', 'reject', 'analysis', 'wanted'
INTEGERS = ('key', 'mode', 'time_signature')


def snapshot_files(warehouse, snapshot_dir):
    """{chunk number: sorted warehouse paths of its files, attributes and rejects parts}, as CONTRACT.md
    (issues 11 and 13) lays a snapshot out. Provisional: issue 11 brings this function with the layout."""
    found = {}
    for name in warehouse.listdir(snapshot_dir):
        if name.startswith('chunk-'):
            chunk_dir = f'{snapshot_dir}/{name}'
            found[int(name[len('chunk-'):])] = sorted(
                f'{directory}/{part}' for directory in (chunk_dir, f'{chunk_dir}/_rejects')
                for part in warehouse.listdir(directory) if part.startswith('part-') and part.endswith('.avro'))
    return found


def decide(values, version):
    """(what, value) for one track from its tagged values: ('keep', record), ('compute', part path),
    ('reject', record), or ('skip', None) for a track that is not in this snapshot's catalog.

    POINTER values are (set rank, part path, wanted): where the track's analysis is, in which set, and
    whether that set belongs to this date. WANTED marks a track of this date whose set is gone (its
    analysis is then in a newer full snapshot, which points without wanting)."""
    kept = rejected = newest = None
    wanted = False
    for tag, value in values:
        if tag == KEEP:
            kept = value
        elif tag == REJECT:
            rejected = value
        elif tag == WANTED:
            wanted = True
        else:
            wanted = wanted or value[2]
            if newest is None or value[0] > newest[0]:
                newest = value  # the newest set holding the track wins
    if kept and kept['calculator_version'] == version:
        return 'keep', kept
    if rejected and rejected['calculator_version'] == version:
        return 'reject', rejected
    if newest is not None and (wanted or kept or rejected):
        return 'compute', newest[1]
    if kept or rejected:
        # An older version with no analysis here to recompute from: keep what there is.
        return ('keep', kept) if kept else ('reject', rejected)
    return 'skip', None


def compute(track_id, analysis_json, version):
    """('keep', attributes record) or ('reject', reject record) for one analysis document."""
    try:
        values = attributes.compute_attributes(json.loads(analysis_json))
        for name in INTEGERS:
            if values[name] != int(values[name]):
                raise attributes.UncomputableAnalysis(f'analysis track.{name} is not a whole number: {values[name]}')
            values[name] = int(values[name])
    except (attributes.UncomputableAnalysis, ValueError, OverflowError) as e:
        return 'reject', {'track_id': track_id, 'calculator_version': version, 'reason': str(e)}
    return 'keep', {'track_id': track_id, 'calculator_version': version, **values}
