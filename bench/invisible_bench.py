"""Time of ``lilith.core.invisible.clean_text`` on ordinary text and on text dense in invisible characters.

Each case is timed in interleaved rounds and the best round is kept (the machines are shared and noisy).
With ``--reference FILE`` (another version of ``invisible.py``, e.g. from ``git show``) both are timed
side by side in this one process, and each reference result is checked to be the very same.

    python -m bench.invisible_bench [--rounds 9] [--reference /tmp/invisible_before.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from lilith.core import invisible

Clean = Callable[[str, dict[str, int]], str]

_PROSE = "The quick brown fox jumps over the lazy dog; then it naps in the sun.\n"
_ACCENTED = "Le café était très animé ; déjà l'été à Noël, une façade naïve, Müller und Söhne.\n"
_EMOJI = "Family 👨\u200d👩\u200d👧 ok ❤\ufe0f 1\ufe0f\u20e3 🏳\ufe0f\u200d🌈 क्\u200dष می\u200cخواهم done.\n"

CASES: dict[str, str] = {
    "ascii 100 KB": _PROSE * 1_400,
    "ascii 100 KB, one ZWSP": _PROSE * 1_400 + "\u200b",
    "accented 100 KB": _ACCENTED * 1_200,
    "accented 100 KB, one ZWSP": _ACCENTED * 1_200 + "\u200b",
    "emoji 100 KB (joiners kept)": _EMOJI * 1_400,
    "short, one ZWSP": "pass\u200bword",
    "short, ANSI colour": "\x1b[31mred\x1b[0m text",
    "é+ZWJ x 2M (4M chars)": "é\u200d" * 2_000_000,
    "a+ZWSP x 2M (4M chars)": "a\u200b" * 2_000_000,
}


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("invisible_reference", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _best(clean: Clean, text: str, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        clean(text, {})
    return (time.perf_counter() - start) / repeat


def measure(cleaners: dict[str, Clean], rounds: int) -> dict[str, dict[str, float]]:
    """``case -> {cleaner: best seconds per call}``, the cleaners interleaved round by round."""
    results: dict[str, dict[str, float]] = {}
    for name, text in CASES.items():
        repeat = max(1, 200_000 // len(text))
        best = dict.fromkeys(cleaners, float("inf"))
        for _ in range(rounds if len(text) < 1_000_000 else max(3, rounds // 3)):
            for label, clean in cleaners.items():
                best[label] = min(best[label], _best(clean, text, repeat))
        results[name] = best
    return results


def _same(cleaners: dict[str, Clean]) -> None:
    for name, text in CASES.items():
        outcomes = []
        for clean in cleaners.values():
            removed: dict[str, int] = {}
            outcomes.append((clean(text, removed), removed))
        if any(outcome != outcomes[0] for outcome in outcomes):
            raise SystemExit(f"{name}: the cleaners disagree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--reference", type=Path, help="another invisible.py to time side by side")
    opts = parser.parse_args()
    cleaners: dict[str, Clean] = {"now": invisible.clean_text}
    if opts.reference:
        cleaners = {"reference": _load(opts.reference).clean_text, **cleaners}
        _same(cleaners)
    results = measure(cleaners, opts.rounds)
    print(f"{'case':30s}" + "".join(f"{label:>14s}" for label in cleaners))
    for name, best in results.items():
        cells = "".join(f"{_shown(seconds):>14s}" for seconds in best.values())
        ratio = f"  x{best['reference'] / best['now']:.2f}" if "reference" in best else ""
        print(f"{name:30s}{cells}{ratio}")


def _shown(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.2f} us"


if __name__ == "__main__":
    main()
