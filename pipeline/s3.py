"""The analysis documents in S3: one GET per track, concurrent, with every outcome accounted for.

Whether a key exists is learnt from the GET itself (404 is the answer): a HEAD first would double the
requests. Tracks already known to be missing are checked by listing instead, where that is cheaper
(`listed`): one LIST page answers for up to 1,000 keys.
"""
import collections
import concurrent.futures
import functools
import gzip
import ipaddress
import json
import threading
import urllib.parse
import zlib
from dataclasses import dataclass

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session
import simdjson

# Errors that no retry fixes and that would fail every track alike: stop at once, say what to do.
FATAL = {
    'NoSuchBucket': 'the bucket does not exist: check [s3] bucket and endpoint_url in luigi.cfg',
    'InvalidAccessKeyId': 'the credentials are not valid here: check the AWS credential chain (environment, ~/.aws)',
    'SignatureDoesNotMatch': 'the secret key is wrong: check the AWS credential chain (environment, ~/.aws)',
    'ExpiredToken': 'the credentials have expired: refresh them and run again',
    'InvalidToken': 'the session token is not valid: refresh the credentials and run again',
}
BODY_READ_TRIES = 3


class S3Error(RuntimeError):
    pass


def client(settings, **config):
    """A boto3 S3 client for the [s3] settings, with botocore.config.Config(**config).

    Credentials come from boto3's chain. Only when the endpoint is a server on this machine's loopback
    (the local S3 server, which accepts any) and the chain has none, it gets placeholders, so that the
    README's commands work in a new shell; any other endpoint, AWS above all, never does."""
    core = botocore.session.get_session()
    # Timestamps (LastModified) are never read here: kept as the text they came as, as the AWS CLI keeps
    # them, rather than parsed with dateutil, a tenth of a GET's CPU.
    core.get_component('response_parser_factory').set_parser_defaults(timestamp_parser=str)
    placeholders = {}
    if is_loopback(settings['endpoint_url']):
        resolver = botocore.credentials.create_credential_resolver(core)
        for remote in ('container-role', 'iam-role'):  # no metadata service to ask for a local server
            resolver.remove(remote)
        if resolver.load_credentials() is None:
            placeholders = {'aws_access_key_id': 'local-s3', 'aws_secret_access_key': 'local-s3'}
    return boto3.session.Session(botocore_session=core).client(
        's3', endpoint_url=settings['endpoint_url'] or None, region_name=settings['region'],
        config=botocore.config.Config(**config), **placeholders)


def is_loopback(endpoint_url):
    host = urllib.parse.urlsplit(endpoint_url).hostname if endpoint_url else None
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Outcome:
    """What became of one track: its `body` as fetched, then `analysis` (compact JSON, UTF-8) or a failure
    `reason` with a `detail`."""
    row: dict
    key: str
    analysis: bytes = None
    reason: str = None
    detail: str = ''
    nbytes: int = 0
    body: bytes = None


class AnalysisStore:
    @classmethod
    @functools.cache
    def _shared(cls, settings_json):
        return cls(json.loads(settings_json))

    @classmethod
    def shared(cls, settings):
        """One store per configuration and process: a boto3 client takes a tenth of a second to make,
        and is thread-safe. Its request counts only grow; callers count differences."""
        return cls._shared(json.dumps(settings, sort_keys=True))

    def __init__(self, settings):
        self.settings = settings
        self.bucket = settings['bucket']
        self.key_template = settings['key_template']
        self.client = client(
            settings,
            retries={'mode': settings['retry_mode'], 'total_max_attempts': settings['max_attempts']},  # the first too
            max_pool_connections=settings['max_concurrency'],
            connect_timeout=settings['connect_timeout'],
            read_timeout=settings['read_timeout'],
        )
        self._requests = collections.Counter()
        self._lock = threading.Lock()
        self.client.meta.events.register('before-send.s3', self._count_request)

    def __repr__(self):
        where = self.settings['endpoint_url'] or 'AWS'
        return f's3://{self.bucket} at {where}'

    def _count_request(self, request, event_name, **kwargs):
        # Fires once per HTTP attempt, so retries are counted as the requests they are; a listing is a GET
        # over HTTP but is priced as a LIST.
        kind = 'LIST' if event_name.endswith('.ListObjectsV2') else request.method
        with self._lock:
            self._requests[kind] += 1

    @property
    def requests(self):
        with self._lock:
            return dict(self._requests)

    def key(self, row):
        return self.key_template.format_map(row)

    def check(self):
        """Fail fast, with what to do, when the bucket cannot be read at all."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.EndpointConnectionError as e:
            raise S3Error(f'cannot reach the S3 endpoint for {self} ({e}): check [s3] endpoint_url '
                          f'in luigi.cfg and that the server is up') from e
        except botocore.exceptions.NoCredentialsError as e:
            raise S3Error(f'no AWS credentials found for {self}: set them in the environment or ~/.aws') from e
        except botocore.exceptions.ClientError as e:
            status = e.response.get('ResponseMetadata', {}).get('HTTPStatusCode')
            if status == 404:
                raise S3Error(f'{self}: {FATAL["NoSuchBucket"]}') from e
            if status == 403:
                raise S3Error(f'{self}: access denied: check the AWS credentials and the bucket policy') from e
            raise S3Error(f'{self}: {e}') from e

    def fetch(self, row):
        """The track's outcome with its body, or a failure; `decode` the body next."""
        key = self.key(row)
        outcome = Outcome(row, key)
        for attempt in range(1, BODY_READ_TRIES + 1):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
                body = response['Body'].read()
                break
            except botocore.exceptions.ClientError as e:
                code = e.response.get('Error', {}).get('Code', '')
                if code in FATAL:
                    raise S3Error(f'{self}, key {key} (track {row["track_id"]}): {FATAL[code]}') from e
                if code in ('NoSuchKey', '404'):
                    return _failed(outcome, 'missing', 'no such key')
                if code in ('AccessDenied', '403'):
                    return _failed(outcome, 'access_denied', str(e))
                return _failed(outcome, 'network', str(e))
            except (botocore.exceptions.IncompleteReadError, botocore.exceptions.ResponseStreamingError) as e:
                # The body came short of its Content-Length; botocore does not retry a body read.
                if attempt == BODY_READ_TRIES:
                    return _failed(outcome, 'truncated_body', f'{e} ({attempt} tries)')
            except (botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError,
                    botocore.exceptions.HTTPClientError) as e:
                # botocore has retried these already, [s3] max_attempts in all.
                return _failed(outcome, 'network', f'{e} (after {self.settings["max_attempts"]} attempts)')
        outcome.nbytes, outcome.body = len(body), body
        return outcome

    def fetch_all(self, rows):
        """Outcomes in the order of `rows`, fetched concurrently with a bounded number in flight."""
        with concurrent.futures.ThreadPoolExecutor(self.settings['max_concurrency']) as pool:
            yield from in_order(pool, self.fetch, rows, 2 * self.settings['max_concurrency'])

    def listed(self, probes, page=1000):
        """(key, payload, exists) for `probes`, (key, payload) pairs sorted by key, learnt from listings
        rather than GETs. Each LIST starts just before the next key not yet answered and answers every
        key up to the last of its (up to `page`) keys: at most about one request per key, and one per
        `page` keys of the bucket where the probed keys are dense."""
        keys, last, truncated = set(), '', True
        for key, payload in probes:
            while key > last and truncated:
                after = max(key[:-1], last)
                try:
                    answer = self.client.list_objects_v2(Bucket=self.bucket, StartAfter=after, MaxKeys=page)
                except botocore.exceptions.ClientError as e:
                    raise S3Error(f'{self}: cannot list the keys after {after!r}: {e}') from e
                keys = {o['Key'] for o in answer.get('Contents', [])}
                last, truncated = max(keys, default=last), answer['IsTruncated']
            yield key, payload, key in keys


def in_order(pool, function, items, window):
    """`function` of each item on `pool`, results in the order of `items`, at most `window` in flight."""
    pending = collections.deque()
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def decode(outcome, duration_tolerance_s):
    """Validate the fetched body of `outcome` as an analysis of its track: set `analysis` or a failure."""
    body, outcome.body = outcome.body, None
    if body is None:  # a failed GET: nothing to decode
        return outcome
    if body[:2] == b'\x1f\x8b':
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as e:
            return _failed(outcome, 'bad_gzip', str(e))
    try:
        # simdjson checks the whole document (syntax, numbers, UTF-8) in a tenth of orjson's time and
        # a twentieth of json's, for it makes no Python object but the few looked at below.
        document = simdjson.Parser().parse(body)
        mapping, sequence = simdjson.Object, simdjson.Array
    except (ValueError, RuntimeError):  # RuntimeError: an integer past 64 bits
        # json accepts a little more (NaN, big integers) and says where a document breaks.
        mapping, sequence = dict, list
        try:
            document = json.loads(body.decode('utf-8'))
        except UnicodeDecodeError as e:
            return _failed(outcome, 'malformed_json', f'not UTF-8: {e}')
        except json.JSONDecodeError as e:
            # A document cut short fails at its end, or inside a string that never closes.
            cut = e.pos >= len(e.doc.rstrip()) or e.msg.startswith('Unterminated string')
            return _failed(outcome, 'truncated_json' if cut else 'malformed_json', str(e))
    track = document.get('track') if isinstance(document, mapping) else None
    if not isinstance(track, mapping) or not isinstance(document.get('segments'), sequence):
        return _failed(outcome, 'not_an_analysis', 'no track object or segments list')
    expected_ms = outcome.row.get('duration_ms')
    duration = track.get('duration')
    if expected_ms is not None and isinstance(duration, (int, float)) \
            and abs(duration * 1000 - expected_ms) > duration_tolerance_s * 1000:
        return _failed(outcome, 'wrong_track',
                       f'analysis lasts {duration:.1f} s, the dump says {expected_ms / 1000:.1f} s')
    # Compact JSON (no raw newline) is stored as it came, valid UTF-8 (both parsers checked): re-serialising
    # costs more than parsing.
    outcome.analysis = body if b'\n' not in body else json.dumps(
        json.loads(body), separators=(',', ':'), ensure_ascii=False).encode()
    return outcome


def _failed(outcome, reason, detail):
    outcome.reason, outcome.detail = reason, detail
    return outcome
