"""What a request may touch and who may send one: path roots, sender allow-list, per-sender rate limit.

Paths are resolved first (``..`` and every symlink, with :func:`os.path.realpath`)
and only then compared with the roots, component by component; a textual prefix
check would let ``/music-evil`` pass for the root ``/music`` and a symlink lead out.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from stembase.outputs import output_conflict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
OVERWRITE_REMEDY = "choose another output or start the server with --overwrite"


class PathRefused(ValueError):
    """A path in a request lies outside the allowed roots, or would overwrite a file."""


class PathPolicy:
    """Resolves the paths that arrive in messages and keeps them inside ``roots``.

    Args:
        roots: allowed directories; a relative path in a message is taken relative to the first.
        overwrite: whether an output may replace an existing file (an input never may).
    """

    def __init__(self, roots: Sequence[str | Path], overwrite: bool = False) -> None:
        if not roots:
            raise ValueError("at least one root directory is needed")
        self.roots = [Path(os.path.realpath(r)) for r in roots]
        missing = [str(r) for r in self.roots if not r.is_dir()]
        if missing:
            raise ValueError(f"root is not a directory: {', '.join(missing)}")
        self.overwrite = overwrite

    def describe_roots(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def resolve(self, text: str) -> Path:
        """The real path ``text`` names, if it lies inside a root.

        Raises:
            PathRefused: empty, a NUL byte, or outside every root once resolved.
        """
        if not text or "\x00" in text:
            raise PathRefused(f"{text!r}: not a usable path")
        candidate = Path(text) if os.path.isabs(text) else self.roots[0] / text
        real = Path(os.path.realpath(candidate))
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise PathRefused(
                f"{text}: outside the allowed roots ({self.describe_roots()}); start the server with --root DIR to allow another folder"
            )
        return real

    def input_file(self, text: str) -> Path:
        """An existing file inside a root.

        Raises:
            PathRefused: outside the roots, missing, or not a file.
        """
        path = self.resolve(text)
        if not path.is_file():
            raise PathRefused(f"{text}: {'is a directory, not a file' if path.is_dir() else 'file not found'}")
        return path

    def output_file(self, text: str, inputs: Iterable[Path] = ()) -> Path:
        """A file that may be written: inside a root, not an input, not an existing file unless ``overwrite``.

        Raises:
            PathRefused: outside the roots, a directory, an input, or an existing file.
        """
        path = self.resolve(text)
        if path.is_dir():
            raise PathRefused(f"{text}: is a directory; name the output file")
        self.check_outputs([path], inputs)
        return path

    def check_outputs(self, targets: Iterable[Path], inputs: Iterable[Path] = ()) -> None:
        """The output rule of every command (:func:`stembase.outputs.output_conflict`), with the server's remedy.

        Raises:
            PathRefused: an output would replace an input, or exists (without ``--overwrite``).
        """
        problem = output_conflict(targets, inputs, overwrite=self.overwrite, remedy=OVERWRITE_REMEDY)
        if problem:
            raise PathRefused(problem)

    def output_dir(self, text: str) -> Path:
        """A directory (existing or to be made) inside a root.

        Raises:
            PathRefused: outside the roots, or an existing file.
        """
        path = self.resolve(text)
        if path.exists() and not path.is_dir():
            raise PathRefused(f"{text}: is a file, not a directory")
        return path


class SenderPolicy:
    """The sender addresses that are served: everyone when ``allow`` is empty, else those inside an allowed network.

    UDP source addresses can be forged, so this keeps out mistakes and neighbours, not attackers.
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.networks: list[IPNetwork] = [parse_network(a) for a in allow]

    def allows(self, host: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", maxsplit=1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address.version == n.version and address in n for n in self.networks)


def parse_network(text: str) -> IPNetwork:
    """``"192.168.1.20"`` or ``"192.168.1.0/24"`` as a network.

    Raises:
        ValueError: not an IP address or network.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"--allow {text!r}: not an IP address or network such as 192.168.1.20 or 192.168.1.0/24") from None


class RateLimiter:
    """A token bucket per sender host: ``rate`` messages per second on average, bursts up to ``burst``.

    Keyed by host, not port, so one machine cannot dodge it by changing ports.
    At most ``max_senders`` buckets are kept; the oldest are dropped first.
    """

    def __init__(self, rate: float, burst: float | None = None, max_senders: int = 1024) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be above 0 messages per second, got {rate}")
        self.rate, self.burst, self.max_senders = rate, burst or 2 * rate, max_senders
        self._buckets: dict[str, tuple[float, float]] = {}  # host -> (tokens, time of last update in s)
        self._lock = threading.Lock()

    def allow(self, host: str, cost: float = 1.0, now: float | None = None) -> bool:
        """Take ``cost`` tokens from ``host``'s bucket; ``False`` (and nothing taken) when too few are left."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(host, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= cost
            self._buckets[host] = (tokens - cost if allowed else tokens, now)  # re-inserted: newest last
            if len(self._buckets) > self.max_senders:
                del self._buckets[next(iter(self._buckets))]
            return allowed
