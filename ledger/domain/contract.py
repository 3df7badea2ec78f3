"""Green-power contracts (绿电交易) and their monthly settlement (seed 001, §2.1).

Green power is settled first, monthly, with nothing rolled over (优先结算，月结月清). The settled
quantity is the minimum of the consumer's actual consumption, the contracted quantity and the
generator's on-grid quantity; that many GECs move from the generator to the consumer with the
settlement ("证电合一").
"""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.batch import check_units
from ledger.domain.participant import check_code
from ledger.domain.rules import KWH_PER_GEC
from ledger.domain.values import check_kwh, next_month, parse_month
from ledger.errors import Conflict, InvalidInput


def contract_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oneclaim:green-power-contract:{code}")


class GreenPowerContract(Aggregate):
    """A bilateral green-power contract: contracted MWh per month for one device's output."""

    @staticmethod
    def create_id(code: str, **_: object) -> UUID:
        return contract_id(code)

    @event("Signed")
    def __init__(
        self, code: str, device: str, generator_account: str, consumer_account: str, monthly_mwh: dict
    ) -> None:
        self.code = code
        self.device = device
        self.generator_account = generator_account
        self.consumer_account = consumer_account
        self.monthly_mwh = dict(monthly_mwh)
        self.settlements: dict[str, dict] = {}

    @classmethod
    def sign(
        cls, code: str, device: str, generator_account: str, consumer_account: str, monthly_mwh: dict
    ) -> GreenPowerContract:
        check_code("contract", code)
        if generator_account == consumer_account:
            raise InvalidInput("a contract needs two different accounts", code="SAME_ACCOUNT")
        if not monthly_mwh:
            raise InvalidInput("a contract needs contracted MWh for at least one month", code="CONTRACT_EMPTY")
        for month, mwh in monthly_mwh.items():
            parse_month(month)
            check_units(f"contracted MWh for {month}", mwh)
        return cls(
            code=code,
            device=device,
            generator_account=generator_account,
            consumer_account=consumer_account,
            monthly_mwh=dict(sorted(monthly_mwh.items())),
        )

    def settle(self, month: str, consumption_kwh: int, on_grid_kwh: int, on: date) -> tuple[dict, bool]:
        """The month's settlement on business date `on`, and whether it is new. `on_grid_kwh` is
        the month's on-grid kWh that its GECs certify (no other instrument claims them). Settling
        a month again with the same metered figures returns the first result; different figures
        are refused. A month is settled once it has ended (月结月清), never before."""
        check_kwh("consumption_kwh", consumption_kwh)
        first = self.settlements.get(month)
        if first is not None:
            if (first["consumption_kwh"], first["on_grid_kwh"]) != (consumption_kwh, on_grid_kwh):
                raise Conflict(
                    f"{self.code} was already settled for {month} on different figures"
                    f" (consumption {first['consumption_kwh']} kWh, on-grid {first['on_grid_kwh']} kWh);"
                    " months are settled once and nothing is rolled over",
                    code="ALREADY_SETTLED",
                    settlement=first,
                )
            return first, False
        self.check_contracted(month)
        if on < parse_month(next_month(month)):
            raise Conflict(
                f"{month} cannot be settled on {on.isoformat()}: a month is settled after it ends",
                code="MONTH_NOT_ENDED",
            )
        quantities = {
            "consumption": consumption_kwh // KWH_PER_GEC,
            "contract": self.monthly_mwh[month],
            "on_grid": on_grid_kwh // KWH_PER_GEC,
        }
        settled = min(quantities.values())
        limited_by = [name for name, mwh in quantities.items() if mwh == settled]
        self._settled(month, consumption_kwh, on_grid_kwh, self.monthly_mwh[month], settled, limited_by, on.isoformat())
        return self.settlements[month], True

    def check_contracted(self, month: str) -> None:
        if month not in self.monthly_mwh:
            raise Conflict(f"{self.code} has no contracted quantity for {month}", code="MONTH_NOT_CONTRACTED")

    @event("Settled")
    def _settled(
        self,
        month: str,
        consumption_kwh: int,
        on_grid_kwh: int,
        contracted_mwh: int,
        settled_mwh: int,
        limited_by: list,
        on: str | None = None,  # recorded since the settlement date became explicit
    ) -> None:
        self.settlements[month] = {
            "month": month,
            "consumption_kwh": consumption_kwh,
            "on_grid_kwh": on_grid_kwh,
            "contracted_mwh": contracted_mwh,
            "settled_mwh": settled_mwh,
            "limited_by": limited_by,
            "on": on,
        }
