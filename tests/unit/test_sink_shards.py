"""The fee sink is split into SINK_ACCOUNTS accounts: which one a fee goes to is a pure rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.ledger import SINK, SINK_ACCOUNTS, SINK_SHARDS, SINKS, is_sink, sink_for


@given(st.text(max_size=80))
def test_a_key_always_goes_to_the_same_valid_sink_account(key: str) -> None:
    chosen = sink_for(key)
    assert chosen in SINK_SHARDS and is_sink(chosen)
    assert sink_for(key) == chosen  # a retried entry locks and credits the same row


@settings(max_examples=20)
@given(st.uuids())
def test_fee_keys_spread_over_every_shard(seed: object) -> None:
    keys = [f"submission:{seed}:{n}" for n in range(SINK_ACCOUNTS * 40)]
    counts = {shard: 0 for shard in SINK_SHARDS}
    for key in keys:
        counts[sink_for(key)] += 1
    # every shard takes its share: none idle, none taking twice its fair 40 (a hot row again)
    assert min(counts.values()) > 0
    assert max(counts.values()) < 2 * 40


def test_the_sink_is_the_old_account_and_its_shards() -> None:
    assert SINKS[0] == SINK and SINKS[1:] == SINK_SHARDS
    assert len(set(SINK_SHARDS)) == SINK_ACCOUNTS == 16
    assert not is_sink("system:faucet") and not is_sink("agent:system:sink:1")
