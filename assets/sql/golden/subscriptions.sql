-- Subscriptions started by the as-of date (the last date of a batch; earlier dates take a
-- prefix by start day in stages.rs). One that ends later counts as active then: its end
-- is future data. Aggregated per account in polars (stages.rs).
SELECT account_id, start_date, end_date, plan_tier, seats, mrr_amount, arr_amount, upgrade_flag,
       downgrade_flag, auto_renew_flag, billing_frequency, subscription_id
FROM subscriptions
WHERE start_date <= :as_of
