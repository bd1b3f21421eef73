"""The web inbox: listing (scope, search, filters, orders, keyset pages), the rows' deadlines on
each case's business calendar, the per-owner summary, saved views, bulk actions and the people
picker. Each module changes for its own reason; the pages import from them directly."""
