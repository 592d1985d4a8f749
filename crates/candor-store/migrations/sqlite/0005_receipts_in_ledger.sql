-- A consent request's signed receipt is kept on the first ledger row it covers (SQLite),
-- instead of in a row of its own in `receipts`, whose index by pid cost every request one
-- more randomly placed index page to write. `receipts` keeps the receipts of requests
-- that recorded no row (nothing changed) and those written before this version.
ALTER TABLE consent_records ADD COLUMN receipt_jws TEXT;
