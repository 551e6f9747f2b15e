"""Robocall campaigns: daily health checks, satisfaction call-backs and notices (issue 12).

The path of one resident through a campaign: an operator writes the campaign (``validation`` turns the file
into a :class:`~campaigns.model.CampaignSpec`), imports the target list (``targets``), starts it; each day the
store plans one *slot* per target and daily time (``schedule``); a dialler claims due slots as leased
*attempts* (``store.claims``), places the calls and reports each outcome (``store.outcomes``), which the retry
policy (``retry``) turns into a retry inside the window or a final state; whoever the robot cannot reach, or
whose answers are abnormal (``abnormal``), lands on the follow-up list for staff (人工补漏). ``states`` holds
the allowed transitions; ``python -m campaigns`` is the operator's CLI.
"""
