"""``vvtvctl``: the station operator's command line. Each command group registers itself."""

from __future__ import annotations

import typer

from . import (
    api_cmds,
    change_cmds,
    drill_cmds,
    evidence_cmds,
    flags_cmds,
    hibernation_cmds,
    incident_cmds,
    obs_cmds,
    oncall_cmds,
    ops_cmds,
    ritual_cmds,
    slo_cmds,
    station_cmds,
    streaming_cmds,
)
from .common import run_app
from .pool_cmds import register as register_pool
from .tenants_cmds import register as register_tenants
from .usage_cmds import register as register_usage

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Operate a VVTV station: station control, ritual, hibernation, drills.")

for module in (station_cmds, ritual_cmds, hibernation_cmds, evidence_cmds, drill_cmds, slo_cmds,
               flags_cmds, oncall_cmds, ops_cmds, streaming_cmds, change_cmds, incident_cmds):
    module.register(app)
register_pool(app)
api_cmds.register(app)
obs_cmds.register(app)
register_tenants(app)
register_usage(app)

main = run_app(app)

if __name__ == "__main__":
    main()
