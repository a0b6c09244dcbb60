"""The atheris harness behind ``make fuzz``: coverage-guided fuzzing of one target for a long run.

    python -m fuzz.run TARGET [libFuzzer options, e.g. -max_total_time=600 -jobs=2]

New interesting inputs are saved in ``fuzz/corpus/TARGET/`` (kept between runs, not committed); the
committed seeds in ``fuzz/seeds/TARGET/`` are read too. A crash or a broken property is written to
``fuzz/findings/TARGET-crash-…``: turn it into a regression test (see ``tests/regressions/README.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULTS = ("-max_len=4096", "-timeout=10", "-rss_limit_mb=1536", "-print_final_stats=1")


def main(argv: list[str]) -> int:
    import atheris

    # Only our code is instrumented for coverage: PyYAML and orjson are dependencies, not targets.
    with atheris.instrument_imports(include=["lilith", "fuzz"]):
        from fuzz.targets import TARGETS

    if len(argv) < 2 or argv[1] not in TARGETS:
        print(f"usage: python -m fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options]", file=sys.stderr)
        return 2
    name = argv[1]
    corpus = HERE / "corpus" / name
    seeds = HERE / "seeds" / name
    findings = HERE / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(exist_ok=True)
    options = [arg for arg in argv[2:] if arg.startswith("-")]
    libfuzzer_argv = [argv[0], *DEFAULTS, *options, f"-artifact_prefix={findings}/{name}-", str(corpus)]
    if seeds.is_dir():
        libfuzzer_argv.append(str(seeds))
    atheris.Setup(libfuzzer_argv, TARGETS[name])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
