"""The analysis documents in S3: one GET per track, concurrent, with every outcome accounted for.

Whether a key exists is learnt from the GET itself (404 is the answer): a HEAD first would double the
requests. Tracks already known to be missing are checked by listing instead, where that is cheaper
(`listed`): one LIST page answers for up to 1,000 keys.

The GET of a document is signed by botocore's signer (SigV4, as boto3 signs get_object) and sent through
urllib3: botocore's request and response machinery costs more CPU than the GET itself, and the ingest
is bound by CPU (README.md, Benchmarks). So the retries of a GET are here, as botocore's standard mode
has them.
"""
import collections
import concurrent.futures
import functools
import gzip
import ipaddress
import json
import random
import re
import threading
import time
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.httpsession
import botocore.session
import simdjson
import urllib3

# Errors that no retry fixes and that would fail every track alike: stop at once, say what to do.
FATAL = {
    'NoSuchBucket': 'the bucket does not exist: check [s3] bucket and endpoint_url in luigi.cfg',
    'InvalidAccessKeyId': 'the credentials are not valid here: check the AWS credential chain (environment, ~/.aws)',
    'SignatureDoesNotMatch': 'the secret key is wrong: check the AWS credential chain (environment, ~/.aws)',
    'ExpiredToken': 'the credentials have expired: refresh them and run again',
    'InvalidToken': 'the session token is not valid: refresh the credentials and run again',
    'RequestTimeTooSkewed': "this machine's clock is more than 15 minutes off S3's: set it right (NTP)",
    'PermanentRedirect': 'the bucket is in another region: set [s3] region in luigi.cfg to its region',
    'AuthorizationQueryParametersError': 'the signed URL does not fit the bucket: check [s3] region in luigi.cfg',
}
# Answers another try may fix, as in botocore's standard retry mode: server errors and throttling.
RETRIED_STATUS = {429, 500, 502, 503, 504}
RETRIED_CODES = {'RequestTimeout', 'SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded'}
MAX_BACKOFF_S = 20


class S3Error(RuntimeError):
    pass


def client(settings, session=None, **config):
    """A boto3 S3 client for the [s3] settings, with botocore.config.Config(**config), of `session` (a new
    one by default: see `boto_session`)."""
    return (session or boto_session(settings)).client(
        's3', endpoint_url=settings['endpoint_url'] or None, region_name=settings['region'],
        config=botocore.config.Config(**config))


def boto_session(settings):
    """A boto3 session for the [s3] settings.

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
    return boto3.session.Session(botocore_session=core, **placeholders)


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
        session = boto_session(settings)
        self.client = client(
            settings, session,
            retries={'mode': settings['retry_mode'], 'total_max_attempts': settings['max_attempts']},  # the first too
            connect_timeout=settings['connect_timeout'],
            read_timeout=settings['read_timeout'],
        )
        self._credentials = session.get_credentials()
        if self._credentials is None:  # none in boto3's chain (a loopback endpoint gets placeholders)
            raise S3Error(f'no AWS credentials found for {self}: set them in the environment or ~/.aws')
        self._prefix, self._scope = self._get_object_target()
        self.http = _pool(self._prefix, settings)
        self._requests = collections.Counter()
        self._lock = threading.Lock()
        # Registered after _get_object_target, whose GET is never sent: it is no request to count.
        self.client.meta.events.register('before-send.s3', self._count_request)

    def __repr__(self):
        where = self.settings['endpoint_url'] or 'AWS'
        return f's3://{self.bucket} at {where}'

    def _count_request(self, request, event_name, **kwargs):
        # Fires once per HTTP attempt of boto3's, so retries are counted as the requests they are; a
        # listing is a GET over HTTP but is priced as a LIST.
        self._count('LIST' if event_name.endswith('.ListObjectsV2') else request.method)

    def _count(self, kind):
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
        except botocore.exceptions.ClientError as e:
            status = e.response.get('ResponseMetadata', {}).get('HTTPStatusCode')
            if status == 404:
                raise S3Error(f'{self}: {FATAL["NoSuchBucket"]}') from e
            if status == 403:
                raise S3Error(f'{self}: access denied: check the AWS credentials and the bucket policy') from e
            raise S3Error(f'{self}: {e}') from e

    def fetch(self, row):
        """The track's outcome with its body, or a failure; `decode` the body next. A failure another try
        may fix is tried again, [s3] max_attempts in all, after a random backoff (as botocore's)."""
        key = self.key(row)
        outcome = Outcome(row, key)
        attempts = self.settings['max_attempts']
        for attempt in range(1, attempts + 1):
            body, reason, detail, again = self._get(key, row)
            if body is not None:
                outcome.nbytes, outcome.body = len(body), body
                return outcome
            if not again:
                return _failed(outcome, reason, detail)
            if attempt < attempts:
                time.sleep(random.random() * min(MAX_BACKOFF_S, 2 ** (attempt - 1)))
        return _failed(outcome, reason, f'{detail} (after {attempts} attempts)')

    def _get(self, key, row):
        """One GET of `key`: (body, None, '', False) or (None, reason, detail, whether to try again)."""
        self._count('GET')
        try:
            url, headers = self._signed(key)
            response = self.http.request('GET', url, headers=headers, preload_content=False, decode_content=False,
                                         redirect=False)  # a redirected GET would carry the first host's signature
        except urllib3.exceptions.HTTPError as e:  # no answer: refused, reset, timed out
            return None, 'network', _described(e), True
        try:
            if response.status == 200:
                try:
                    return response.read(), None, '', False
                except urllib3.exceptions.ReadTimeoutError as e:
                    return None, 'network', _described(e), True
                except urllib3.exceptions.HTTPError as e:  # reset, or the end before the Content-Length
                    return None, 'truncated_body', _described(e), True
            try:
                error = response.read()
            except urllib3.exceptions.HTTPError:  # the status says enough
                error = b''
        finally:
            response.release_conn()
        code, message = _field(error, b'Code'), _field(error, b'Message')
        if code in FATAL:
            raise S3Error(f'{self}, key {key} (track {row["track_id"]}): {FATAL[code]}')
        if response.status == 404:
            return None, 'missing', 'no such key', False
        detail = f'HTTP {response.status} ({code or "no error code"}): {message}'
        if response.status == 403:
            return None, 'access_denied', detail, False
        return None, 'network', detail, response.status in RETRIED_STATUS or code in RETRIED_CODES

    def _get_object_target(self):
        """(where the URL of a key starts, (service, region) of its signature) as the client's get_object
        has them (its endpoint rules, addressing style, signing region): from a GET of the key '-' that the
        client prepares and signs, answered here before it is sent."""
        prepared = {}

        def answer(request, **kwargs):
            prepared.update(url=request.url, authorization=request.headers['Authorization'])
            return botocore.awsrequest.AWSResponse(request.url, 200, {}, urllib3.HTTPResponse(b''))
        self.client.meta.events.register('before-send.s3.GetObject', answer)
        try:
            self.client.get_object(Bucket=self.bucket, Key='-')
        finally:
            self.client.meta.events.unregister('before-send.s3.GetObject', answer)
        authorization = prepared['authorization']
        credential = (authorization.decode() if isinstance(authorization, bytes) else authorization).split(
            'Credential=')[1].split(',')[0]  # key ID/date/region/service/aws4_request
        _, _, region, service, _ = credential.split('/')
        return prepared['url'][:-1], (service, region)

    def _signed(self, key):
        """The URL and headers of a GET of `key`, signed as the client signs get_object (SigV4 headers) by
        the client's own signer class, without the request machinery around it (README.md, Benchmarks)."""
        request = botocore.awsrequest.AWSRequest('GET', self._prefix + urllib.parse.quote(key, safe='/~'))
        botocore.auth.S3SigV4Auth(self._credentials.get_frozen_credentials(), *self._scope).add_auth(request)
        return request.url, dict(request.headers.items())

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


def _pool(url, settings):
    """The connections for GETs of `url`'s scheme and host: through the proxy the environment names for
    them (HTTPS_PROXY, NO_PROXY), with the CA bundle (AWS_CA_BUNDLE), as botocore would."""
    where = urllib3.util.parse_url(url)
    proxy = None if urllib.request.proxy_bypass(where.host) else urllib.request.getproxies().get(where.scheme)
    options = {'maxsize': settings['max_concurrency'], 'retries': False,
               'timeout': urllib3.Timeout(connect=settings['connect_timeout'], read=settings['read_timeout']),
               'ca_certs': botocore.session.get_session().get_config_variable('ca_bundle')
               or botocore.httpsession.get_cert_path(True)}
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def _field(error, name):
    """The text of the first `name` element of an S3 error document, '' when it has none (or was cut)."""
    found = re.search(rb'<%s>([^<]*)</%s>' % (name, name), error)
    return found.group(1).decode(errors='replace') if found else ''


def _described(error):
    """An urllib3 error, named: ReadTimeoutError, ProtocolError (reset, cut short), ..."""
    return f'{type(error).__name__}: {error}'


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
