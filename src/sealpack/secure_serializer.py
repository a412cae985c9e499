"""SecureSerializer: a drop-in for the fobs module that seals on dumps, verifies on loads.

It joins the codec (sealpack.serialization) and the envelope (sealpack.envelope) the
same way :mod:`sealpack.api` does (which re-exports it), for a fixed set of peers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import IO, Any, TypeVar

from sealpack import errors
from sealpack.envelope import opener, sealer
from sealpack.envelope.expect import ExpectMetadata
from sealpack.envelope.senders import identity_of, sender_resolver, trust_of
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.serialization import Codec, default_codec

__all__ = ["SecureSerializer"]

Buffer = bytes | bytearray | memoryview
Targets = Sequence[str | KeyBundle] | str | KeyBundle | None
F = TypeVar("F", bound=Callable[..., Any])


class SecureSerializer:
    """A drop-in for the fobs module that seals on ``dumps`` and verifies on ``loads``.

    Args:
        identity: this party's Identity (or a KeyStore holding it).
        peers: bundles of the parties it seals to and accepts blobs from.
        store: a TrustStore the peers are pinned in (trust on first use); defaults
            to the KeyStore's when ``identity`` is a KeyStore.
        codec: the codec whose registry is used (default: the fobs module codec).

    Raises:
        SealArgumentError: ``identity`` is not an Identity or KeyStore, or a peer is
            not a KeyBundle.
        IdentityChangedError: a peer's name is pinned to another identity key.
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
        identity_of(identity)
        self._store = store if store is not None else trust_of(identity)
        self.codec = codec or default_codec()
        self._peers: dict[str, KeyBundle] = {}
        for bundle in peers:
            self.add_peer(bundle)

    def __repr__(self) -> str:
        name = identity_of(self._holder).name
        return f"SecureSerializer(identity={name!r}, peers={self.peers})"

    @property
    def peers(self) -> list[str]:
        """Names of the known peers."""
        return sorted(self._peers)

    def add_peer(self, bundle: KeyBundle) -> None:
        """Add (or replace) a peer; with a TrustStore its identity must match the pin.

        Raises:
            SealArgumentError: ``bundle`` is not a KeyBundle.
            IdentityChangedError: the name is pinned to another identity key.
        """
        if not isinstance(bundle, KeyBundle):
            raise errors.SealArgumentError("peers must be KeyBundle objects")
        if self._store is not None:
            self._store.check(bundle)
        self._peers[bundle.name] = bundle

    def _recipients(self, to: Targets) -> list[KeyBundle]:
        if to is None:
            return list(self._peers.values())
        targets = [to] if isinstance(to, (str, KeyBundle)) else list(to)
        bundles = []
        for target in targets:
            if isinstance(target, KeyBundle):
                if self._store is not None:
                    self._store.check(target)  # the pins add_peer applies (issue 19.5)
                bundles.append(target)
            elif target in self._peers:
                bundles.append(self._peers[target])
            else:
                raise errors.SealArgumentError(f"no peer named {target!r}")
        return bundles

    def dumps(
        self,
        obj: object,
        to: Targets = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        expires_in: int = sealer.DEFAULT_EXPIRES_IN,
        allow_classical: bool = False,
    ) -> bytes:
        """Serialize and seal ``obj`` for ``to`` (peer names or bundles; all peers if None).

        A bundle given in ``to`` is checked against the trust pins like ``add_peer``.

        Returns:
            The sealed blob.

        Raises:
            SealArgumentError: an unknown peer name or bad arguments.
            IdentityChangedError: a bundle in ``to`` is pinned to another identity key.
            SerializationTypeError, PrekeyError, LimitExceededError, DowngradeError:
                as sealpack.seal (``allow_classical`` as there).
        """
        return sealer.seal_bytes(  # bytes filled in place, no copy (issue 18)
            self.codec.dumps_buffers(obj),
            sender=identity_of(self._holder),
            recipients=self._recipients(to),
            options=sealer.SealOptions(
                metadata=metadata, expires_in=expires_in, allow_classical=allow_classical
            ),
        )

    def loads(
        self,
        blob: Buffer,
        *,
        with_metadata: bool = False,
        expect_metadata: ExpectMetadata = None,
        expect: Any = None,
    ) -> Any:
        """Verify a blob from one of the peers completely, then deserialize it.

        ``expect_metadata`` as in sealpack.unseal (checked before anything is recorded);
        ``expect`` as in sealpack.unseal (the object's type, checked before it is built).

        Returns:
            The object, or ``(object, UnsealedInfo)`` when ``with_metadata``.

        Raises:
            The errors of sealpack.unseal.
        """
        obj, info = opener.open_buffer_then(
            blob,
            recipient=identity_of(self._holder),
            resolve_sender=sender_resolver(list(self._peers.values()), trust_of(self._holder)),
            options=opener.OpenOptions(expect_metadata=expect_metadata),
            decode=lambda plaintext: self.codec.loads(plaintext, expect=expect),
        )
        return (obj, info) if with_metadata else obj

    def dump(self, obj: object, stream: IO[bytes], to: Targets = None) -> None:
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
