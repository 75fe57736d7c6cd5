"""Quota and weights in the master core: UPDATE_QUOTA / UPDATE_WEIGHTS validated (400 naming
the field, nothing changed), persisted, recovered from the registry, enforced on offers; and
the read views (GET_QUOTA, GET_WEIGHTS, GET_ROLES, /roles)."""

from __future__ import annotations

import pytest
from master_builders import Harness, launch, new_state, persisted, task

from corral.coordination.interfaces import RegistrySnapshot
from corral.master import quota_views
from corral.master.allocator import Quota
from corral.master.core import events as ev
from corral.master.core.effects import StoreQuota, StoreWeights
from corral.master.errors import CallError
from corral.wire.codec import decode, encode
from corral.wire.common import Scalar
from corral.wire.quota import QuotaConfig, RoleQuotaView, UpdateQuota, WeightInfo


def config(role: str, guarantees: dict[str, float] | None = None, **limits: float) -> QuotaConfig:
    return QuotaConfig(
        role=role,
        guarantees={k: Scalar(value=v) for k, v in (guarantees or {}).items()},
        limits={k: Scalar(value=v) for k, v in limits.items()},
    )


def set_quota(h: Harness, *configs: QuotaConfig, force: bool = False) -> None:
    h.feed(ev.QuotaUpdate(None, tuple(configs), force=force))


def refused(h: Harness, *configs: QuotaConfig, force: bool = False) -> str:
    before = dict(h.state.quotas)
    with pytest.raises(CallError) as err:
        set_quota(h, *configs, force=force)
    assert err.value.status == 400
    assert h.state.quotas == before  # all or nothing
    return err.value.message


def test_validation_names_the_field() -> None:
    h = Harness()
    h.agent(resources="cpus:8;mem:8192")
    msg = refused(h, config("dev", {"cpus": 4}, cpus=2))
    assert msg.startswith("'update_quota.quota_configs[0].guarantees.cpus'") and "above" in msg
    msg = refused(h, config("dev", {"foo": 1}))
    assert "quota_configs[0].guarantees'" in msg and "'foo'" in msg
    msg = refused(h, config("ok", cpus=1), config("dev", mem=-1))
    assert "'update_quota.quota_configs[1].limits.mem.value'" in msg and ">= 0" in msg
    msg = refused(h, config("dev", cpus=float("inf")))
    assert "limits.cpus.value" in msg
    assert "nested" in refused(h, config("eng/prod", cpus=1))
    assert "'update_quota.quota_configs[0].role'" in refused(h, config("", cpus=1))
    assert "twice" in refused(h, config("dev", cpus=1), config("dev", cpus=2))


def test_guarantees_above_the_cluster_need_force() -> None:
    h = Harness()
    h.agent(resources="cpus:4;mem:4096")
    set_quota(h, config("a", {"cpus": 3}))
    msg = refused(h, config("b", {"cpus": 2}))
    assert msg.startswith("'update_quota.force'") and "cpus 5" in msg
    set_quota(h, config("b", {"cpus": 2}), force=True)
    assert set(h.state.quotas) == {"a", "b"}


def test_limit_below_what_the_role_uses_needs_force() -> None:
    h = Harness()
    fid = h.framework(roles=["dev"])
    aid = h.agent(resources="cpus:4;mem:4096")
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid, "cpus:3;mem:128")), refuse=0)
    msg = refused(h, config("dev", cpus=2))
    assert "'update_quota.quota_configs[0].limits.cpus'" in msg and "already uses 3" in msg
    set_quota(h, config("dev", cpus=2), force=True)
    assert h.state.quotas["dev"].limits == {"cpus": 2.0}


def test_update_persists_and_empty_config_removes() -> None:
    h = Harness()
    h.agent()
    set_quota(h, config("dev", {"cpus": 1, "mem": 256}, cpus=2))
    assert persisted(h.out) == [StoreQuota("dev", {"cpus": 1.0, "mem": 256.0}, {"cpus": 2.0})]
    assert h.allocation_asked
    set_quota(h, config("dev"))
    assert "dev" not in h.state.quotas
    assert persisted(h.out) == [StoreQuota("dev", {}, {})]


def test_limit_enforced_on_offers_and_offers_over_it_rescinded() -> None:
    h = Harness()
    h.framework(roles=["dev"])
    h.agent(1, "cpus:4;mem:4096")
    h.agent(2, "cpus:4;mem:4096")
    offers = h.allocate()
    assert sum(o.resources[0].scalar.value for o in offers if o.resources[0].name == "cpus") == 8
    set_quota(h, config("dev", cpus=3, mem=8192))
    assert not h.state.offers  # rescinded: they took dev past its new limit
    assert len(h.events("st1", "RESCIND")) == 2
    offered = h.allocate()
    cpus = sum(
        r.scalar.value for o in offered for r in o.resources if r.name == "cpus" and r.scalar
    )
    assert cpus == 3


def test_weights_validated_persisted_and_used() -> None:
    h = Harness(state=new_state(weights={"a": 2.0}))
    assert h.state.weights == {"a": 2.0}
    with pytest.raises(CallError) as err:
        h.feed(ev.WeightsUpdate(None, (WeightInfo(role="b", weight=0),)))
    assert "'update_weights.weight_infos[0].weight'" in err.value.message
    with pytest.raises(CallError):
        h.feed(ev.WeightsUpdate(None, ()))
    h.feed(ev.WeightsUpdate(None, (WeightInfo(role="b", weight=3.5),)))
    assert h.state.weights == {"a": 2.0, "b": 3.5}
    assert persisted(h.out) == [StoreWeights({"b": 3.5})]
    got = quota_views.get_weights(h.state)
    assert [(w.role, w.weight) for w in got.weight_infos] == [("a", 2.0), ("b", 3.5)]


def test_recovered_from_the_registry() -> None:
    h = Harness(state=new_state(weights={"a": 2.0, "c": 1.5}))
    snap = RegistrySnapshot(
        quotas={"dev": {"guarantees": {"cpus": 1.0}, "limits": {"cpus": 2.0}}},
        weights={"a": 4.0},
    )
    h.feed(ev.RegistryRecovered(snap))
    assert h.state.quotas == {"dev": Quota(guarantees={"cpus": 1.0}, limits={"cpus": 2.0})}
    assert h.state.weights == {"a": 4.0, "c": 1.5}  # the registry wins over --weights


def test_views_quota_and_roles_with_reasons() -> None:
    h = Harness()
    fid = h.framework(roles=["dev"])
    aid = h.agent(resources="cpus:4;mem:4096")
    set_quota(h, config("dev", cpus=1), config("web", {"cpus": 2}))
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid, "cpus:1;mem:128")), refuse=60)
    q = quota_views.get_quota(h.state)
    body = decode(encode(q), dict)
    assert body["status"]["configs"] == [
        {"role": "dev", "guarantees": {}, "limits": {"cpus": {"value": 1.0}}},
        {"role": "web", "guarantees": {"cpus": {"value": 2.0}}, "limits": {}},
    ]
    assert body["status"]["infos"][0]["role"] == "web"
    reasons = {r["role"]: r["reason"] for r in body["corral_roles"]}
    assert reasons["dev"].startswith("at its limit (cpus 1 of 1")
    assert "no framework is subscribed in role web" in reasons["web"]
    roles = {r.name: r for r in quota_views.roles(h.state, h.state.frameworks.values()).roles}
    assert set(roles) == {"dev", "web"}
    assert [f.value for f in roles["dev"].frameworks] == [fid]
    assert roles["dev"].allocated == {"cpus": 1.0, "mem": 128.0}
    dq = roles["dev"].quota
    assert isinstance(dq, RoleQuotaView) and dq.consumed == {"cpus": 1.0, "mem": 128.0}
    assert roles["dev"].corral_quota_reason == reasons["dev"]
    r = quota_views.get_roles(h.state, h.state.frameworks.values())
    assert {x.name for x in r.roles} == {"dev", "web"}


def test_update_quota_payload_decodes_as_mesos_sends_it() -> None:
    body = (
        b'{"force": true, "quota_configs": [{"role": "dev", "guarantees": {"cpus": {"value": 1}},'
        b' "limits": {"cpus": {"value": 10}, "mem": {"value": 2048}}}]}'
    )
    u = decode(body, UpdateQuota)
    assert u.force and u.quota_configs[0].limits["mem"].value == 2048


def test_quota_metrics_mesos_names_and_prometheus() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from corral.master.metrics import MasterMetrics
    from corral.master.views import metrics_snapshot

    h = Harness()
    fid = h.framework(roles=["dev"])
    aid = h.agent(resources="cpus:4;mem:4096")
    set_quota(h, config("dev", {"cpus": 1}, cpus=2))
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid, "cpus:1;mem:128")), refuse=60)
    snap = metrics_snapshot(h.state)
    base = "allocator/mesos/quota/roles/dev/resources/cpus/"
    assert (snap[base + "guarantee"], snap[base + "limit"], snap[base + "consumed"]) == (1, 2, 1)
    state = h.state
    text = MasterMetrics(lambda: (metrics_snapshot(state), 0, 0)).exposition().decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    got = {
        (s.labels["role"], s.labels["kind"]): s.value for s in fams["corral_master_quota"].samples
    }
    assert got == {("dev", "guarantee"): 1.0, ("dev", "limit"): 2.0, ("dev", "consumed"): 1.0}
