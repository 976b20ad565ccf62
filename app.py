"""Composition root: the Chalice app, its middleware and blueprints. No logic lives here."""

import gc

# The import builds some hundred thousand objects that live as long as the process (modules, pydantic
# validators, route tables): the cyclic collector would walk them again and again meanwhile, about a sixth
# of a cold start (bench/bench_cold_import.py). So no collection during the import, then they are frozen
# out of every later collection, and collection resumes for what requests allocate.
gc.disable()
try:
    from chalice.app import Chalice

    from chalicelib.entrypoints import maintenance, schedules, workers
    from chalicelib.entrypoints.api import BLUEPRINTS
    from chalicelib.entrypoints.api.envelope import wrap_foreign_errors

    # configure_logs=False: Powertools owns logging (otherwise every line is printed twice).
    app = Chalice(app_name="peerguard", configure_logs=False)
    app.register_middleware(wrap_foreign_errors, "http")

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(workers.bp)
    app.register_blueprint(schedules.bp)
    app.register_blueprint(maintenance.bp)
finally:
    gc.freeze()
    gc.enable()
