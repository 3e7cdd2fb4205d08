-- The golden record's usage stage in plain SQLite: the baseline that the polars stage
-- (src/features/usage.rs) is measured against (`cargo bench --bench scale`) and checked
-- against in tests. Same rows and columns as temp.usage_window: every account with a
-- subscription; window metrics over the 60 days up to :as_of (empty without usage
-- there), and days since the last usage on or before :as_of.
WITH usage_rows AS (
    SELECT s.account_id, u.feature_name, u.usage_count AS c, u.usage_duration_secs AS d, u.error_count AS e,
           u.usage_date, CAST(julianday(:as_of) - julianday(u.usage_date) AS INTEGER) AS age
    FROM subscriptions s
    LEFT JOIN feature_usage u ON u.subscription_id = s.subscription_id AND u.usage_date <= :as_of
)
SELECT account_id,
       CASE WHEN sum(age < 60) > 0 THEN round(sum(CASE WHEN age < 30 THEN c ELSE 0 END) / 30.0, 4) END AS avg_daily_usage_count,
       CASE WHEN sum(age < 60) > 0 THEN round((sum(CASE WHEN age < 7 THEN c ELSE 0 END) - sum(CASE WHEN age >= 7 AND age < 14 THEN c ELSE 0 END))
            * 1.0 / max(1, sum(CASE WHEN age >= 7 AND age < 14 THEN c ELSE 0 END)), 4) END AS usage_velocity_7day,
       CASE WHEN sum(age < 60) > 0 THEN round((sum(CASE WHEN age < 30 THEN c ELSE 0 END) - sum(CASE WHEN age >= 30 AND age < 60 THEN c ELSE 0 END))
            * 1.0 / max(1, sum(CASE WHEN age >= 30 AND age < 60 THEN c ELSE 0 END)), 4) END AS usage_velocity_30day,
       CASE WHEN sum(age < 60) > 0 THEN count(DISTINCT CASE WHEN age < 30 THEN usage_date END) END AS active_days_30d,
       CASE WHEN sum(age < 60) > 0 THEN count(DISTINCT CASE WHEN age < 30 THEN feature_name END) END AS feature_breadth,
       CASE WHEN sum(age < 60) > 0 THEN round(sum(CASE WHEN age < 30 THEN d ELSE 0 END) / 60.0, 4) END AS usage_minutes_30d,
       round(CASE WHEN sum(CASE WHEN age < 30 THEN c ELSE 0 END) > 0
            THEN sum(CASE WHEN age < 30 THEN e ELSE 0 END) * 1.0 / sum(CASE WHEN age < 30 THEN c ELSE 0 END) END, 4) AS error_rate,
       min(age) AS last_usage_age
FROM usage_rows
GROUP BY account_id
ORDER BY account_id
