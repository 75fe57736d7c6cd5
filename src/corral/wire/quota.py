"""Quota and weights on the operator API, as Mesos >= 1.9 (``mesos/v1/quota/quota.proto``):
UPDATE_QUOTA / GET_QUOTA, UPDATE_WEIGHTS / GET_WEIGHTS, and the ``/roles`` view.

A ``QuotaConfig`` maps resource kinds to ``{"value": x}`` for its guarantees and its limits;
empty guarantees and limits are a role's default quota (none). corral's additions are named
``corral_*``; a Mesos client ignores them.
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from corral.wire.base import ID, Message, View
from corral.wire.common import Resource, Scalar


class QuotaConfig(Message, kw_only=True):
    role: str
    guarantees: dict[str, Scalar] = {}
    limits: dict[str, Scalar] = {}


class UpdateQuota(Message, kw_only=True):
    """The payload of UPDATE_QUOTA: applied all or nothing; ``force`` skips the checks against
    the cluster's capacity and the roles' current consumption."""

    force: bool = False
    quota_configs: list[QuotaConfig] = []


class WeightInfo(Message, kw_only=True):
    role: str
    weight: float


class UpdateWeights(Message, kw_only=True):
    weight_infos: list[WeightInfo] = []


class QuotaInfo(View, kw_only=True):
    """The deprecated (pre-1.9) shape, still filled: the guarantees as resources."""

    role: str
    guarantee: list[Resource]


class QuotaConfigView(View, kw_only=True):
    role: str
    guarantees: dict[str, Scalar]
    limits: dict[str, Scalar]


class QuotaStatus(View, kw_only=True):
    infos: list[QuotaInfo]
    configs: list[QuotaConfigView]


class RoleQuotaState(View, kw_only=True):
    """corral's addition to GET_QUOTA: what each role with quota holds, and why it is short of
    its guarantee or at its limit (``reason`` is empty when neither)."""

    role: str
    consumed: dict[str, float]  # allocated + offered
    reason: str


class GetQuota(View, kw_only=True):
    status: QuotaStatus
    corral_roles: list[RoleQuotaState] = []


class GetWeights(View, kw_only=True):
    weight_infos: list[WeightInfo]


class RoleQuotaView(View, kw_only=True):
    """``/roles``' ``quota``: guarantee, limit and consumption as kind -> amount."""

    role: str
    guarantee: dict[str, float]
    limit: dict[str, float]
    consumed: dict[str, float]


class RoleView(View, kw_only=True):
    """One role in ``/roles`` (and GET_ROLES' ``Role``, with ``resources`` too)."""

    name: str
    weight: float
    frameworks: list[ID]
    allocated: dict[str, float]
    offered: dict[str, float]
    reserved: dict[str, float]
    quota: RoleQuotaView | UnsetType = UNSET
    corral_quota_reason: str | UnsetType = UNSET


class Roles(View, kw_only=True):
    roles: list[RoleView]
