"""The leader link's decisions: backoff, redirects, elections, leader changes (no event loop)."""

from __future__ import annotations

import random

import pytest

from corral.agent.master_link import link_policy as agent_policy
from corral.scheduler_client.driver import link_policy as sdk_policy
from corral.testing.simagents import LINK_POLICY as SIM_POLICY
from corral.transport.link import (
    Backoff,
    Failure,
    LeaderLink,
    LeaderSource,
    LinkPolicy,
    LinkState,
    address_in,
    connected,
    decide,
)

POLICY = LinkPolicy(backoff=Backoff(base=0.1, cap=15.0))
UNREACHABLE = Failure()
NO_LEADER = Failure(503)


def fixed(
    state: LinkState, failure: Failure, policy: LinkPolicy = POLICY, rnd: float = 0.5
) -> tuple[LinkState, float, bool]:
    step = decide(
        policy, state, failure, following_zk=False, home="a:1", leader_changed=False, rnd=rnd
    )
    return step.state, step.delay, step.down


def zk(
    state: LinkState,
    failure: Failure,
    policy: LinkPolicy = POLICY,
    rnd: float = 0.5,
    leader: str | None = "a:1",
    changed: bool = False,
) -> tuple[LinkState, float, bool]:
    step = decide(
        policy, state, failure, following_zk=True, home=leader, leader_changed=changed, rnd=rnd
    )
    return step.state, step.delay, step.down


def test_backoff_doubles_to_its_cap_within_the_jitter() -> None:
    b = Backoff(base=0.1, cap=15.0, jitter_low=0.5, jitter_high=1.0)
    assert b.delay(1, 0.0) == pytest.approx(0.1)
    assert b.delay(1, 0.999999) == pytest.approx(0.2, rel=1e-5)
    assert b.delay(3, 0.0) == pytest.approx(0.4)
    assert b.delay(20, 0.0) == pytest.approx(7.5)
    assert b.delay(10_000, 0.999999) == pytest.approx(15.0, rel=1e-5)  # no overflow
    capped = Backoff(base=1.0, cap=60.0, max_exponent=6, jitter_low=0.0, jitter_high=1.0)
    assert capped.delay(50, 0.5) == capped.delay(6, 0.5) == 30.0  # min(60, 64) halved
    assert capped.delay(5, 0.5) == 16.0


def test_backoff_with_a_seeded_random_stays_in_bounds_and_grows() -> None:
    rng = random.Random(9)
    b = Backoff(base=0.05, cap=5.0, max_exponent=7, jitter_low=0.5, jitter_high=1.5)
    for attempt in range(1, 40):
        nominal = min(5.0, 0.05 * 2 ** min(attempt, 7))
        d = b.delay(attempt, rng.random())
        assert 0.5 * nominal <= d < 1.5 * nominal
    # the same seed gives the same schedule
    one, two = random.Random(3), random.Random(3)
    assert [b.delay(i, one.random()) for i in range(10)] == [
        b.delay(i, two.random()) for i in range(10)
    ]


def test_failures_back_off_and_a_connection_resets_the_count() -> None:
    rng = random.Random(1)
    state = LinkState("a:1")
    delays = []
    for _ in range(8):
        state, delay, down = fixed(state, UNREACHABLE, rnd=rng.random())
        assert down and state.address == "a:1"
        delays.append(delay)
    assert state.attempt == 8
    assert delays[-1] > delays[0]
    assert all(d <= 15.0 for d in delays)
    state = connected(state)
    assert state == LinkState("a:1")
    state, delay, _ = fixed(state, UNREACHABLE, rnd=0.0)
    assert state.attempt == 1 and delay == pytest.approx(0.1)


def test_a_fixed_address_follows_a_standbys_307_at_once() -> None:
    state, delay, down = fixed(LinkState("a:1"), Failure(307, "//b:2/api/v1/scheduler"))
    assert state.address == "b:2" and delay == 0.0 and not down
    # the followed leader fails: back to the given address, with backoff
    state, delay, down = fixed(state, UNREACHABLE)
    assert state.address == "a:1" and delay > 0 and down and state.redirects == 0


def test_redirects_in_circles_end_in_a_backoff_from_home() -> None:
    state = LinkState("a:1")
    for i in range(POLICY.max_redirects):
        state, delay, down = fixed(state, Failure(307, f"//m{i % 2}:1"))
        assert delay == 0.0 and not down
    state, delay, down = fixed(state, Failure(307, "//m0:1"), rnd=0.0)
    assert state.address == "a:1" and down
    assert delay == POLICY.backoff.delay(1, 0.0)


def test_following_zookeeper_never_follows_a_standbys_307() -> None:
    state, delay, down = zk(LinkState("a:1", attempt=50), Failure(307, "//stale:1"))
    assert state.address == "a:1", "a standby may point at a stale leader"
    assert down and 0.1 <= delay < 0.25  # an election is under way: ask again soon


def test_an_election_retries_quickly_and_counts_the_attempts() -> None:
    state, delay, down = fixed(LinkState("a:1", attempt=30), NO_LEADER, rnd=0.0)
    assert delay == pytest.approx(0.1) and state.attempt == 31 and down
    _, delay, _ = fixed(LinkState("a:1"), Failure(307), rnd=0.99)  # a 307 with no Location
    assert delay == pytest.approx(0.1 + 0.15 * 0.99)
    # without an election retry (simulated agents), a 503 backs off like any failure
    _, delay, _ = fixed(LinkState("a:1", attempt=30), NO_LEADER, policy=SIM_POLICY, rnd=0.0)
    assert delay == pytest.approx(2.5)


def test_a_leader_zookeeper_just_named_gets_quick_retries_then_backoff() -> None:
    state = LinkState("a:1")
    for _ in range(POLICY.election_attempts or 0):
        state, delay, _ = zk(state, UNREACHABLE)
        assert 0.1 <= delay < 0.25
    state, delay, _ = zk(state, UNREACHABLE, rnd=0.0)
    assert delay == pytest.approx(7.5)  # backing off now (0.1 * 2**21, halved by the jitter)
    # the agent keeps retrying quickly for as long as ZooKeeper names that leader
    state = LinkState("a:1", attempt=1000)
    _, delay, _ = zk(state, UNREACHABLE, policy=agent_policy(1.0))
    assert 0.1 <= delay < 0.25


def test_a_leader_change_reconnects_at_once_with_a_fresh_count() -> None:
    state, delay, down = zk(LinkState("a:1", attempt=7), UNREACHABLE, leader="b:2", changed=True)
    assert state == LinkState("b:2") and delay == 0.0 and down
    state, delay, down = zk(LinkState("a:1", attempt=7), UNREACHABLE, leader=None, changed=True)
    assert state.address is None and delay == 0.0  # no leader: wait for one


def test_a_client_error_is_decided_like_any_failure_by_default() -> None:
    state, delay, down = fixed(LinkState("a:1"), Failure(404), rnd=0.0)
    assert down and delay == pytest.approx(0.1) and state.attempt == 1


def test_policies_of_the_three_clients() -> None:
    agent = agent_policy(2.0)
    assert agent.backoff.delay(1, 0.999999) == pytest.approx(4.0, rel=1e-5)
    assert agent.backoff.delay(100, 0.999999) == pytest.approx(60.0, rel=1e-5)
    assert agent.backoff.delay(1, 0.0) == 0.0
    _, delay, _ = fixed(LinkState("a:1"), UNREACHABLE, policy=agent, rnd=0.0)
    assert delay == agent.min_delay == 0.05
    sdk = sdk_policy(15.0)
    assert sdk.give_up_on_client_error and sdk.election_attempts == 20
    assert sdk.backoff.delay(200, 0.999999) == pytest.approx(15.0, rel=1e-5)
    assert SIM_POLICY.election_retry is None
    assert SIM_POLICY.backoff.delay(100, 0.0) == pytest.approx(2.5)


def test_addresses_in_locations_and_master_urls() -> None:
    assert address_in("//10.0.0.2:5050/api/v1/scheduler") == "10.0.0.2:5050"
    assert address_in("//10.0.0.2:5050") == "10.0.0.2:5050"
    assert address_in("http://h:1/master/agent") == "h:1"
    assert address_in("h:1") == "h:1"


def test_a_source_counts_leader_changes_and_tells_its_listeners() -> None:
    fixed_source = LeaderSource("http://h:5050")
    assert not fixed_source.following_zk and fixed_source.leader == "h:5050"
    source = LeaderSource("zk://127.0.0.1:2181/corral")
    assert source.following_zk and source.leader is None
    link = LeaderLink(source, POLICY)
    assert link.address is None
    heard: list[str | None] = []
    source.subscribe(heard.append)
    source.set_leader("a:1")
    source.set_leader("a:1")  # the same leader again is no change
    source.set_leader("b:2")
    assert heard == ["a:1", "b:2"] and source.generation == 2
