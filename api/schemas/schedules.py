"""JSON of ``/schedules``: weekly rules and date overrides, in the stored shape, camelCase outside."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, StrictBool, StrictInt, StrictStr, model_validator

from api.schemas.common import RequestModel, ResponseModel, UtcDateTime
from caldee_dav.models import Schedule
from caldee_dav.scheduling.schedules import ScheduleChanges

# GudCal's spelling (rules / dayOfWeek / startTime / endTime / isBlocked) is accepted as well.


class IntervalIn(RequestModel):
    start: StrictStr = Field(validation_alias=AliasChoices("start", "startTime"))
    end: StrictStr = Field(validation_alias=AliasChoices("end", "endTime"))

    def stored(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


class WeeklyRuleIn(IntervalIn):
    # "mon".."sun", "monday".., or 0..6 with 0 = Sunday.
    day: StrictStr | StrictInt = Field(validation_alias=AliasChoices("day", "dayOfWeek"))

    def stored(self) -> dict[str, Any]:
        return {"day": self.day, "start": self.start, "end": self.end}


class DateOverrideIn(RequestModel):
    date: StrictStr
    intervals: list[IntervalIn] | None = None
    is_blocked: StrictBool | None = None

    @model_validator(mode="after")
    def _intervals_or_blocked(self) -> DateOverrideIn:
        if self.is_blocked and self.intervals:
            raise ValueError("give intervals or isBlocked: true, not both")
        if not self.is_blocked and self.intervals is None:
            raise ValueError("intervals is required (an empty list closes the day)")
        return self

    def stored(self) -> dict[str, Any]:
        return {"date": self.date, "intervals": [i.stored() for i in self.intervals or []]}


class ScheduleIn(RequestModel):
    """POST and PATCH body; on PATCH only the fields sent change (lists are replaced whole)."""

    name: StrictStr | None = None
    timezone: StrictStr | None = None
    is_default: StrictBool | None = None
    weekly_rules: list[WeeklyRuleIn] | None = Field(
        None, validation_alias=AliasChoices("weeklyRules", "rules")
    )
    date_overrides: list[DateOverrideIn] | None = None

    def changes(self) -> ScheduleChanges:
        values: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            values[name] = [item.stored() for item in value] if isinstance(value, list) else value
        return ScheduleChanges(**values)


class IntervalOut(ResponseModel):
    start: str
    end: str


class WeeklyRuleOut(ResponseModel):
    day: str
    start: str
    end: str


class DateOverrideOut(ResponseModel):
    date: str
    intervals: list[IntervalOut]


class ScheduleOut(ResponseModel):
    id: str
    name: str
    timezone: str
    is_default: bool
    weekly_rules: list[WeeklyRuleOut]
    date_overrides: list[DateOverrideOut]
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def from_row(cls, schedule: Schedule) -> ScheduleOut:
        return cls(
            id=schedule.id,
            name=schedule.name,
            timezone=schedule.timezone,
            is_default=schedule.is_default,
            weekly_rules=[WeeklyRuleOut(**rule) for rule in schedule.weekly_rules or []],
            date_overrides=[
                DateOverrideOut(date=o["date"], intervals=[IntervalOut(**i) for i in o["intervals"]])
                for o in schedule.date_overrides or []
            ],
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        )
