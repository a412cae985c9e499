"""The public sealing API: seal / unseal / inspect, their streaming forms, SecureSerializer.

This module only joins the codec (sealpack.serialization) and the envelope
(sealpack.envelope); all cryptography lives in the envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from os import PathLike
from typing import IO, Any, TypeVar

from sealpack import primitives
from sealpack.envelope import fileio, files, opener, sealer
from sealpack.envelope import header as hdr
from sealpack.envelope.info import EnvelopeInfo, describe
from sealpack.envelope.opener import OpenOptions, UnsealedInfo
from sealpack.envelope.sealer import SealArgumentError, SealOptions
from sealpack.envelope.senders import Senders, sender_resolver
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.serialization import Codec, default_codec

__all__ = [
    "EnvelopeInfo",
    "SealArgumentError",
    "SecureSerializer",
    "UnsealedInfo",
    "inspect",
    "seal",
    "seal_buffer",
    "seal_frame_to",
    "seal_to",
    "unseal",
    "unseal_frame_to",
    "unseal_from",
]

Buffer = bytes | bytearray | memoryview
FileOrPath = fileio.FileOrPath
Progress = sealer.Progress
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_EXPIRES_IN = sealer.DEFAULT_EXPIRES_IN
DEFAULT_CONTENT_TYPE = sealer.DEFAULT_CONTENT_TYPE
DEFAULT_CLOCK_SKEW = opener.DEFAULT_CLOCK_SKEW


def _identity(holder: Identity | KeyStore) -> Identity:
    if isinstance(holder, KeyStore):
        return holder.identity
    if not isinstance(holder, Identity):
        raise SealArgumentError("expected an Identity or a KeyStore")
    return holder


def _options(metadata: Mapping[str, Any] | None, expires_in: int, content_type: str) -> SealOptions:
    return SealOptions(metadata=metadata, expires_in=expires_in, content_type=content_type)


def _open_options(now: int | None, clock_skew: int, progress: Progress | None) -> OpenOptions:
    return OpenOptions(now=now, clock_skew=clock_skew, progress=progress)


def _trust_of(recipient: Identity | KeyStore) -> TrustStore | None:
    return recipient.trust_store if isinstance(recipient, KeyStore) else None


def seal(
    obj: object,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    codec: Codec | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> bytes:
    """Serialize ``obj`` and seal it for ``recipients``, signed by ``sender``.

    Arguments and errors are those of :func:`seal_buffer`. Returning ``bytes`` costs one
    copy of the blob; for large payloads prefer :func:`seal_buffer` (no copy) or
    :func:`seal_to` (bounded memory).

    Returns:
        The sealed blob.
    """
    blob = seal_buffer(
        obj,
        sender=sender,
        recipients=recipients,
        metadata=metadata,
        expires_in=expires_in,
        content_type=content_type,
        codec=codec,
        rng=rng,
        now=now,
    )
    return bytes(blob)


def seal_buffer(
    obj: object,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    codec: Codec | None = None,
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> bytearray:
    """Like :func:`seal`, returning the blob as the bytearray it was encrypted into.

    The codec's buffers are encrypted chunk by chunk straight into one preallocated
    blob: extra memory is the blob itself, no joined plaintext, no final copy.

    Args:
        obj: any object the codec can encode.
        sender: the sealing identity (or a KeyStore holding it).
        recipients: verified KeyBundles of everyone who may open the blob.
        metadata: small app metadata (plain msgpack values), signed, readable by inspect.
        expires_in: seconds the blob stays valid.
        content_type: informational label in the signed header.
        codec: the codec (default: the fobs module codec).
        rng: randomness source (default os.urandom); now: seconds since the epoch.

    Returns:
        The sealed blob.

    Raises:
        SerializationTypeError: ``obj`` holds an unregistered type.
        SealArgumentError, PrekeyError, LimitExceededError: bad arguments or bundles.
    """
    buffers = (codec or default_codec()).dumps_buffers(obj)
    return sealer.seal_buffers(
        buffers,
        sender=_identity(sender),
        recipients=recipients,
        options=_options(metadata, expires_in, content_type),
        rng=rng,
        now=now,
    )


def unseal(
    blob: Buffer,
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    with_metadata: bool = False,
    codec: Codec | None = None,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
) -> Any:
    """Verify a sealed blob completely, then deserialize it.

    Args:
        blob: the sealed blob.
        recipient: the opening identity or KeyStore (its replay guard and trust pins apply).
        senders: bundles of accepted senders, or a TrustStore.
        with_metadata: also return the verified UnsealedInfo.
        codec: the codec (default: the fobs module codec).
        now: seconds since the epoch; clock_skew: allowed clock difference in seconds.

    Returns:
        The object, or ``(object, UnsealedInfo)`` when ``with_metadata``.

    Raises:
        TamperedError, UnknownSenderError, UntrustedSenderError, ExpiredError,
        NotARecipientError, ReplayError, PrekeyError, UnsupportedVersionError,
        LimitExceededError, DecodeError.
    """
    plaintext, info = opener.open_buffer(
        blob,
        recipient=_identity(recipient),
        resolve_sender=sender_resolver(senders, _trust_of(recipient)),
        options=_open_options(now, clock_skew, None),
    )
    obj = (codec or default_codec()).loads(plaintext)
    return (obj, info) if with_metadata else obj


def seal_frame_to(
    frame: Buffer | Sequence[Buffer],
    file_or_path: FileOrPath,
    *,
    sender: Identity | KeyStore,
    recipients: Sequence[KeyBundle],
    metadata: Mapping[str, Any] | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
    content_type: str = DEFAULT_CONTENT_TYPE,
    rng: primitives.Rng | None = None,
    now: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Seal already-encoded bytes (one buffer or a list of them) to a file, chunk by chunk.

    A path is written atomically (temp file + rename). Arguments as :func:`seal`;
    ``progress(done, total)`` is called after every chunk.
    """
    buffers: list[Buffer] = list(frame) if isinstance(frame, (list, tuple)) else [frame]  # type: ignore[list-item]
    options = _options(metadata, expires_in, content_type)
    with fileio.atomic_output(file_or_path) as sink:
        sealer.seal_buffers_to(
            buffers,
            sink.write,
            sender=_identity(sender),
            recipients=recipients,
            options=options,
            rng=rng,
            now=now,
            progress=progress,
        )


def seal_to(
    obj: object,
    file_or_path: FileOrPath,
    *,
    codec: Codec | None = None,
    **kwargs: Any,
) -> None:
    """Like :func:`seal`, but stream the blob to a file or path with bounded extra memory.

    The codec's out-of-band buffers go through the cipher chunk by chunk; nothing is
    concatenated. Keyword arguments are those of :func:`seal` (plus ``progress``).
    """
    buffers = (codec or default_codec()).dumps_buffers(obj)
    seal_frame_to(buffers, file_or_path, **kwargs)


def unseal_from(
    file_or_path: FileOrPath,
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    with_metadata: bool = False,
    codec: Codec | None = None,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    progress: Progress | None = None,
) -> Any:
    """Like :func:`unseal`, reading the blob from a file or path chunk by chunk.

    Extra memory is one plaintext buffer (the object's own memory) plus one chunk.
    """
    with fileio.seekable_input(file_or_path) as source:
        plaintext, info = files.open_file(
            source,
            recipient=_identity(recipient),
            resolve_sender=sender_resolver(senders, _trust_of(recipient)),
            options=_open_options(now, clock_skew, progress),
        )
    obj = (codec or default_codec()).loads(plaintext)
    return (obj, info) if with_metadata else obj


def unseal_frame_to(
    file_or_path: FileOrPath,
    destination: str | PathLike[str],
    *,
    recipient: Identity | KeyStore,
    senders: Senders,
    now: int | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    progress: Progress | None = None,
) -> UnsealedInfo:
    """Verify a sealed file and write its plaintext frame to ``destination``.

    The plaintext goes to a 0600 temp file renamed over ``destination`` only after
    every check passed; nothing is written on failure. Errors as :func:`unseal`.
    """
    with fileio.seekable_input(file_or_path) as source:
        return files.open_file_to_path(
            source,
            destination,
            recipient=_identity(recipient),
            resolve_sender=sender_resolver(senders, _trust_of(recipient)),
            options=_open_options(now, clock_skew, progress),
        )


def inspect(blob: Buffer | FileOrPath) -> EnvelopeInfo:
    """Read the header facts of a sealed blob without verifying or decrypting anything.

    Args:
        blob: the blob's bytes, a path or a binary file.

    Returns:
        EnvelopeInfo (``verified`` is False: these are claims, not facts).

    Raises:
        TamperedError: not a well-formed header. UnsupportedVersionError, LimitExceededError.
    """
    limits = hdr.EnvelopeLimits()
    if isinstance(blob, (bytes, bytearray, memoryview)):
        return describe(hdr.parse_header(memoryview(blob), limits))
    with fileio.seekable_input(blob) as source:
        return describe(files.read_header(source, limits))


class SecureSerializer:
    """A drop-in for the fobs module that seals on ``dumps`` and verifies on ``loads``.

    Args:
        identity: this party's Identity (or a KeyStore holding it).
        peers: bundles of the parties it seals to and accepts blobs from.
        store: a TrustStore the peers are pinned in (trust on first use); defaults
            to the KeyStore's when ``identity`` is a KeyStore.
        codec: the codec whose registry is used (default: the fobs module codec).
    """

    def __init__(
        self,
        identity: Identity | KeyStore,
        peers: Sequence[KeyBundle] = (),
        store: TrustStore | None = None,
        *,
        codec: Codec | None = None,
    ) -> None:
        self._holder = identity
        _identity(identity)
        self._store = store if store is not None else _trust_of(identity)
        self.codec = codec or default_codec()
        self._peers: dict[str, KeyBundle] = {}
        for bundle in peers:
            self.add_peer(bundle)

    def __repr__(self) -> str:
        return f"SecureSerializer(identity={_identity(self._holder).name!r}, peers={self.peers})"

    @property
    def peers(self) -> list[str]:
        """Names of the known peers."""
        return sorted(self._peers)

    def add_peer(self, bundle: KeyBundle) -> None:
        """Add (or replace) a peer; with a TrustStore its identity must match the pin.

        Raises:
            IdentityChangedError: the name is pinned to another identity key.
        """
        if not isinstance(bundle, KeyBundle):
            raise SealArgumentError("peers must be KeyBundle objects")
        if self._store is not None:
            self._store.check(bundle)
        self._peers[bundle.name] = bundle

    def _recipients(
        self, to: Sequence[str | KeyBundle] | str | KeyBundle | None
    ) -> list[KeyBundle]:
        if to is None:
            return list(self._peers.values())
        targets = [to] if isinstance(to, (str, KeyBundle)) else list(to)
        bundles = []
        for target in targets:
            if isinstance(target, KeyBundle):
                bundles.append(target)
            elif target in self._peers:
                bundles.append(self._peers[target])
            else:
                raise SealArgumentError(f"no peer named {target!r}")
        return bundles

    def dumps(
        self,
        obj: object,
        to: Sequence[str | KeyBundle] | str | KeyBundle | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        expires_in: int = DEFAULT_EXPIRES_IN,
    ) -> bytes:
        """Serialize and seal ``obj`` for ``to`` (peer names or bundles; all peers if None)."""
        return seal(
            obj,
            sender=self._holder,
            recipients=self._recipients(to),
            metadata=metadata,
            expires_in=expires_in,
            codec=self.codec,
        )

    def loads(self, blob: Buffer, *, with_metadata: bool = False) -> Any:
        """Verify a blob from one of the peers completely, then deserialize it."""
        return unseal(
            blob,
            recipient=self._holder,
            senders=list(self._peers.values()),
            with_metadata=with_metadata,
            codec=self.codec,
        )

    def dump(
        self, obj: object, stream: IO[bytes], to: Sequence[str | KeyBundle] | None = None
    ) -> None:
        """Seal ``obj`` into a binary stream."""
        stream.write(self.dumps(obj, to))

    def load(self, stream: IO[bytes]) -> Any:
        """Read a whole sealed blob from a binary stream and open it."""
        return self.loads(stream.read())

    # --- the fobs registry API, on this serializer's codec -------------------

    def register(self, decomposer: Any) -> None:
        """Register a Decomposer class or instance (see fobs.register)."""
        self.codec.register(decomposer)

    def register_data_classes(self, *classes: type) -> None:
        """Register dataclasses by their fields."""
        self.codec.register_data_classes(*classes)

    def register_enum_types(self, *classes: type[Enum]) -> None:
        """Register Enum types."""
        self.codec.register_enum_types(*classes)

    def register_serializer(self, cls: type) -> Callable[[F], F]:
        """Decorator registering the encode function of ``cls``."""
        return self.codec.register_serializer(cls)

    def register_deserializer(self, cls: type) -> Callable[[F], F]:
        """Decorator registering the decode function of ``cls``."""
        return self.codec.register_deserializer(cls)

    def num_decomposers(self) -> int:
        """Number of registered decomposers."""
        return self.codec.num_decomposers()

    def reset(self) -> None:
        """Forget every registration of this serializer's codec."""
        self.codec.reset()
