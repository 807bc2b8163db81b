"""`icx demo`: an example company end to end, with no Slack workspace and no configuration.

company.py is the example company and plan.py what happens there; history.py seeds weeks of
it through the real core; live.py runs one request live over HTTP, with slack_side.py playing
Slack's part (signed requests) and render.py drawing Block Kit in a terminal; run.py puts it
together, database.py guards the database it recreates, narrate.py and clock.py are helpers.
"""
