"""Composition root: the Chalice app, its middleware and blueprints. No logic lives here."""

from chalice.app import Chalice

from chalicelib.entrypoints import maintenance, schedules, workers
from chalicelib.entrypoints.api import BLUEPRINTS
from chalicelib.entrypoints.api.framework import wrap_foreign_errors

# configure_logs=False: Powertools owns logging (otherwise every line is printed twice).
app = Chalice(app_name="peerguard", configure_logs=False)
app.register_middleware(wrap_foreign_errors, "http")

for blueprint in BLUEPRINTS:
    app.register_blueprint(blueprint)
app.register_blueprint(workers.bp)
app.register_blueprint(schedules.bp)
app.register_blueprint(maintenance.bp)
