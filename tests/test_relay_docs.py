"""docs/relays.md runs: its Python blocks in order, in one namespace, against a real
market-data relay in the default runtime directory ($XDG_RUNTIME_DIR/alphapulse); the
execution relay the examples name is left down, as the examples say."""
from __future__ import annotations

import re
from pathlib import Path

from relays import start

ROOT = Path(__file__).resolve().parent.parent
RELAYS_DOC = ROOT / "docs" / "relays.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
ELSEWHERE = "# on hosts of their own"  # a block of other machines' code: type-checked only


def test_the_relay_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.chdir(ROOT)  # the examples read examples/*.yml
    relay = start("market_data", tmp_path / "alphapulse")
    try:
        blocks = BLOCK.findall(RELAYS_DOC.read_text())
        assert len(blocks) >= 4
        namespace: dict = {"__name__": "relays_doc"}
        for code in blocks:
            if not code.startswith(ELSEWHERE):
                exec(compile(code, str(RELAYS_DOC), "exec"), namespace)
    finally:
        relay.terminate()
    out = capsys.readouterr().out.splitlines()
    # the blocking clients: no refusal, the first Trade, the last one, no gap
    assert out[:5] == ["[]", "[]", "18925000000 1", "18928000000 []", "[]"]
    # asyncio, then subscribe_many: market data up, execution down and named so
    assert out[5] == "18928000000"
    assert out[6] == "[]"
    assert out[7].startswith("{'market_data': 'up', 'execution': 'down: ")
    assert "no execution relay is running" in out[7]
    assert out[8] == "market_data BatchResult(Trade=3, errors=0)"
    assert out[9] == "{'market_data': [], 'execution': []}"
    assert out[10:13] == ["market_data 18926000000", "market_data 18927000000",
                          "market_data 18928000000"]
    # the configuration: the design's execution queue, the dashboard's enabled relays
    assert re.fullmatch(r"10000 \[('\w+', )*'\w+'\]", out[13])
    assert len(out) == 14
