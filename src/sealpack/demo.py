"""One federated-learning round over a datasite folder, end to end (``make demo``).

A server and three clients create key stores and publish their bundles in a
temporary datasite. The server broadcasts a global model (a dict of float32
arrays, ~100 MB by default) to all clients as ONE sealed blob; each client opens
and verifies it, changes the weights and seals its update back; the server opens
the updates and averages them (FedAvg). Finally an attacker with write access to
the datasite replays one update and tampers with another: both end up in the
server's quarantine with a reason. Run ``python -m sealpack.demo --help``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sealpack.demo_report import (
    MB,
    DemoReport,
    mb_text,
    print_verification,
    timed_step,
)
from sealpack.exchange import DirectoryTransport
from sealpack.exchange.peer import Message, Peer
from sealpack.exchange.transport import sender_hint
from sealpack.keys import Identity, KeyStore

__all__ = ["DemoReport", "fed_avg", "main", "make_model", "run"]

Model = dict[str, npt.NDArray[np.float32]]
SERVER = "server"


def make_model(size_mb: float, *, seed: int = 0) -> Model:
    """Build a global model: eight float32 layers totalling about ``size_mb`` MB.

    Args:
        size_mb: the model size in MB.
        seed: the random seed.

    Returns:
        Layer name to weights.
    """
    rng = np.random.default_rng(seed)
    per_layer = max(1, int(size_mb * MB / 4 / 8))
    return {
        f"layer{index}.weight": rng.standard_normal(per_layer, dtype=np.float32)
        for index in range(8)
    }


def model_bytes(model: Model) -> int:
    """Count the bytes in the model's arrays.

    Args:
        model: the model.

    Returns:
        The total ``nbytes``.
    """
    return sum(array.nbytes for array in model.values())


def local_update(model: Model, client_index: int) -> Model:
    """A stand-in for local training: a deterministic, client-specific change.

    Args:
        model: the global model.
        client_index: the client's number (1-based).

    Returns:
        The updated model.
    """
    factor = np.float32(1.0 + 0.01 * client_index)
    return {name: array * factor for name, array in model.items()}


def fed_avg(updates: Sequence[tuple[Model, int]]) -> Model:
    """Average models weighted by their number of examples (FedAvg).

    Args:
        updates: ``(model, number of examples)`` pairs, at least one.

    Returns:
        The weighted average.
    """
    total = sum(count for _, count in updates)
    averaged: Model = {}
    for name in updates[0][0]:
        layer = np.zeros_like(updates[0][0][name])
        for model, count in updates:
            layer += model[name] * np.float32(count / total)
        averaged[name] = layer
    return averaged


def _expected_factor(clients: int) -> float:
    weights = [100 * index for index in range(1, clients + 1)]
    scaled = sum(w * (1.0 + 0.01 * i) for i, w in enumerate(weights, start=1))
    return scaled / sum(weights)


def _make_peer(name: str, site: Path, keys: Path) -> Peer:
    identity = Identity.generate(name, one_time_prekeys=4)
    store = KeyStore.create(keys / name, identity, passphrase=f"demo {name}".encode())
    return Peer(name, site, store)


def _inbox_size(peer: Peer, owner: str) -> int:
    transport = peer.transport
    assert isinstance(transport, DirectoryTransport)
    inbox = transport.root / owner / "inbox"
    return sum(path.stat().st_size for path in inbox.glob("*.sealed"))


def _broadcast(server: Peer, clients: list[Peer], model: Model, report: DemoReport) -> None:
    size = model_bytes(model)
    with (
        timed_step(report, f"server seals + delivers to {len(clients)}", size),
        report.progress("sealing global model", size) as progress,
    ):
        server.send(
            model,
            to=[client.name for client in clients],
            metadata={"round": 1, "kind": "global-model"},
            stream=True,
            progress=progress,
        )
    blob = _inbox_size(server, clients[0].name)
    sizes = f"{mb_text(blob)} (model {mb_text(size)})"
    print(f"    ONE broadcast blob of {sizes} in {len(clients)} inboxes")


def _receive_one(peer: Peer, size: int, report: DemoReport) -> Message:
    with (
        timed_step(report, f"{peer.name} opens + verifies", size),
        report.progress(f"{peer.name} opening model", size) as progress,
    ):
        messages = peer.receive(progress=progress)
    if len(messages) != 1:
        raise RuntimeError(f"{peer.name} expected one message, got {len(messages)}")
    message = messages[0]
    report.verified.append(f"{peer.name} <- {message.sender}")
    print_verification(message)
    return message


def _client_round(client: Peer, index: int, model_size: int, report: DemoReport) -> None:
    message = _receive_one(client, model_size, report)
    update = local_update(message.obj, index)
    with timed_step(report, f"{client.name} seals update", model_bytes(update)):
        client.send(
            update,
            to=[SERVER],
            metadata={"round": 1, "kind": "update", "num_examples": 100 * index},
            stream=True,
        )


def _attacker_copies(inbox: Path) -> list[tuple[Path, str]]:
    """The datasite operator keeps copies of two sealed updates for later."""
    copies: list[tuple[Path, str]] = []
    for source in sorted(inbox.glob("*.sealed"))[:2]:
        target = inbox.parent / f"attacker-{len(copies)}.bin"
        target.write_bytes(source.read_bytes())
        copies.append((target, sender_hint(source.name.removesuffix(".sealed"))))
    return copies


def _server_aggregate(
    server: Peer, model: Model, clients: int, report: DemoReport
) -> list[tuple[Path, str]]:
    transport = server.transport
    assert isinstance(transport, DirectoryTransport)
    kept = _attacker_copies(transport.root / SERVER / "inbox")
    with (
        timed_step(report, "server opens + verifies updates", _inbox_size(server, SERVER)),
        report.progress("server opening updates", model_bytes(model) * clients) as progress,
    ):
        updates, verified = [], []
        for message in server.iter_messages(progress=progress):
            updates.append((message.obj, int(message.metadata["num_examples"])))
            report.verified.append(f"server <- {message.sender}")
            verified.append(message)
    for message in verified:  # after the step, so the lines do not cut the progress bar
        print_verification(message)
    if len(updates) != clients:
        raise RuntimeError(f"server expected {clients} updates, got {len(updates)}")
    with timed_step(report, "server FedAvg", model_bytes(model)):
        averaged = fed_avg(updates)
    factor = np.float32(_expected_factor(clients))
    report.max_abs_error = max(
        float(np.max(np.abs(averaged[name] - model[name] * factor))) for name in model
    )
    error = report.max_abs_error
    print(f"    FedAvg over {len(updates)} verified updates; max |error| {error:.2e}")
    return kept


def _attack(server: Peer, kept: list[tuple[Path, str]], report: DemoReport) -> None:
    (replayed, replayed_sender), (tampered, tampered_sender) = kept
    raw = bytearray(tampered.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    attacks = {
        server.transport.deliver(SERVER, replayed.read_bytes(), sender=replayed_sender): (
            f"replayed copy of {replayed_sender}'s update"
        ),
        server.transport.deliver(SERVER, bytes(raw), sender=tampered_sender): (
            f"{tampered_sender}'s update with one bit flipped"
        ),
    }
    if server.receive():
        raise RuntimeError("an attacked message was accepted")
    for record in server.quarantined():
        report.quarantined.append(record.reason)
        print(f"    {attacks.get(record.message_id, record.message_id)}: refused, in quarantine")
        print(f"      reason: {record.reason} ({record.detail})")


def run(
    size_mb: float = 100.0, clients: int = 3, workdir: Path | None = None, *, quiet: bool = False
) -> DemoReport:
    """Run the whole round and return what happened.

    Args:
        size_mb: size of the global model in MB.
        clients: number of clients.
        workdir: where to create the temporary folder; the system default when None.
        quiet: no progress bars (they are drawn only on a terminal anyway).

    Returns:
        The report (step timings, verifications, quarantine reasons).
    """
    report = DemoReport(quiet=quiet)
    with tempfile.TemporaryDirectory(prefix="sealpack-demo-", dir=workdir) as temp:
        site, keys = Path(temp) / "datasite", Path(temp) / "keys"
        print(f"datasite: {site}")
        with timed_step(report, f"identities + key stores for {clients + 1} peers", 0):
            server = _make_peer(SERVER, site, keys)
            peers = [_make_peer(f"client{i}", site, keys) for i in range(1, clients + 1)]
        for peer in [server, *peers]:
            print(f"    {peer.name:<8} fingerprint {peer.identity.fingerprint()}")
        model = make_model(size_mb)
        _broadcast(server, peers, model, report)
        for index, client in enumerate(peers, start=1):
            _client_round(client, index, model_bytes(model), report)
        kept = _server_aggregate(server, model, clients, report)
        print("attack: the datasite replays one update and flips one bit in another")
        _attack(server, kept, report)
        for peer in [server, *peers]:
            peer.close()
    total = sum(seconds for _, seconds, _ in report.steps)
    print(f"done: {len(report.verified)} verified messages, {total:.1f} s in the timed steps")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sealpack.demo``.

    Args:
        argv: arguments; ``sys.argv[1:]`` when None.

    Returns:
        0 when the round completed and both attacks were refused, else 1.
    """
    parser = argparse.ArgumentParser(description="sealpack federated-learning round demo")
    parser.add_argument("--size-mb", type=float, default=100.0, help="global model size")
    parser.add_argument("--clients", type=int, default=3, help="number of clients (>= 2)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.clients < 2:
        parser.error("--clients must be at least 2")
    report = run(size_mb=args.size_mb, clients=args.clients, quiet=args.quiet)
    return 0 if report.attacks_refused() else 1


if __name__ == "__main__":
    sys.exit(main())
