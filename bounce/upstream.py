"""flufl.bounce as the last resort for recipients: its seventeen detectors, errors contained."""

from __future__ import annotations

import logging
from email.message import Message

from flufl.bounce import all_failures

from bounce.addresses import clean_address

logger = logging.getLogger(__name__)
# flufl.bounce logs (with tracebacks) what its detectors raise; we contain those errors, so keep
# its records out of Python's last-resort stderr handler. Configured handlers still get them.
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())


def upstream_failures(message: Message) -> list[tuple[str, bool]]:
    """(address, temporary) pairs flufl.bounce finds; [] when it finds none or fails."""
    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:  # its detectors raise on some malformed input
        logger.debug("flufl.bounce failed: %s", type(exc).__name__)
        return []
    found: dict[str, bool] = {}
    for raw, is_temporary in [(a, False) for a in permanent] + [(a, True) for a in temporary]:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        address = clean_address(text)
        if address and "@" in address:
            found.setdefault(address, is_temporary)
    return list(found.items())
