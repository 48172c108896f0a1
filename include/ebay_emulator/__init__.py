"""A local eBay for development, tests and benchmarks.

Run it:  ``python -m include.ebay_emulator --port 8765`` (``--help`` for the flags), or
in-process: ``EmulatorServer(EmulatorConfig(...), port=0).start()``.

What it emulates (real wire formats, see /work/shared/reference/ebay-apis.md):

* ``POST /ws/api.dll`` — Trading API ``GetMyeBaySelling`` (ActiveList with Sort
  ItemID|ItemIDDescending|StartTime|StartTimeDescending, EntriesPerPage 1..200,
  PageNumber), ``GetItem`` (IncludeWatchCount, DetailLevel ignored) and
  ``GetSellerList`` (EndTimeFrom/EndTimeTo and/or StartTimeFrom/StartTimeTo, each at
  most 120 days; Pagination EntriesPerPage 1..200 / PageNumber; IncludeWatchCount;
  every Item exactly GetItem's; ordered by EndTime then ItemID -- see ``server.py``).
  Active listings are Good-'Til-Cancelled: their EndTime is the next 30-day renewal,
  so one EndTime window [now, now + 120 days] holds every active listing, as on eBay.
  Headers X-EBAY-API-CALL-NAME / -SITEID / -COMPATIBILITY-LEVEL / -IAF-TOKEN and
  Content-Type text/xml are checked; errors come back as eBay Failure envelopes
  (2 unsupported call, 5 XML parse error incl. any DTD, 37 invalid input/header
  incl. a SITEID that does not match the seller's marketplace and a bad
  GetSellerList window, 17 item not found, 518 call limit (all three calls count),
  21916984 invalid token, 21917053 expired token, 932 revoked, 10007 injected
  internal error).
* ``POST /identity/v1/oauth2/token`` — refresh-token grant with Basic client auth
  (401 invalid_client, 400 invalid_grant / unsupported_grant_type / invalid_scope).
* ``GET /sell/analytics/v1/traffic_report`` — ``dimension=LISTING`` only: one record
  per listing with metric totals over ``date_range``.  Days after
  ``lastUpdatedDate`` (= today - traffic_lag_days, 23:59:59Z) carry partial (halved)
  numbers; a client must not store them as final.  The project client asks one
  complete day per call (``[X..X]``) to get per-day numbers.
* ``/admin/...`` — an emulator-only JSON API (no auth; never exists on eBay) to move
  the simulated day, switch faults, expire/revoke tokens and read call counters:
  GET/POST /admin/state, POST /admin/advance_day, /admin/expire_tokens,
  /admin/revoke, /admin/unrevoke, /admin/reset, GET /admin/calls, /admin/catalog,
  and GET /healthz.  See ``server.py`` and ``faults.py`` for shapes.

Demo credentials (emulator only): client id ``emulator-client-id``, secret
``emulator-client-secret``, refresh token ``emu-refresh-<seller>``.

What it does not emulate: other Trading calls and other lists (SoldList, ...),
GetSellerList's other filters (CategoryID, SKUArray, UserID, ...), its
GranularityLevel / OutputSelector trimming and its Seller element, variations, XML
namespaces other than eBLBaseComponents, the 25,000-entry ActiveList cap unless
``active_list_cap`` is set, the per-seller 300 calls / 15 s limits, REST 429s,
``dimension=DAY``, OAuth authorization-code flow, HTTPS, real auction durations
(auctions live, and renew, like fixed-price GTC listings), and exact eBay wording of
messages.  Expected values for tests come from ``catalog`` (pure functions, no HTTP).

Modules: ``config`` (EmulatorConfig), ``catalog`` (deterministic listings and the
truth functions), ``wire`` (XML/JSON formats), ``faults`` (fault spec and decisions),
``state`` (runtime state), ``server`` (HTTP), ``__main__`` (CLI).
"""
