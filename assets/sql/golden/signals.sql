-- Account-signal snapshots on or before the as-of date (the last date of a batch): the
-- latest per account and as-of date is picked in memory (stages.rs), so one read serves
-- every date of the batch.
SELECT account_id, snapshot_date, hris_headcount, managed_devices, growth_rate_mom, spend_active_users
FROM account_signals
WHERE snapshot_date <= :as_of
