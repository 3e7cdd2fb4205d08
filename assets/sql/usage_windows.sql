-- The golden record's usage windows in plain SQLite: the baseline that the polars
-- stage (src/features/usage.rs) is measured against (`cargo bench --bench scale`)
-- and checked against in tests. Same columns as temp.usage_window.
SELECT s.account_id,
       round(sum(CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.usage_count ELSE 0 END) / 30.0, 4) AS avg_daily_usage_count,
       round((sum(CASE WHEN u.usage_date > date(:as_of, '-7 days') THEN u.usage_count ELSE 0 END)
            - sum(CASE WHEN u.usage_date > date(:as_of, '-14 days') AND u.usage_date <= date(:as_of, '-7 days') THEN u.usage_count ELSE 0 END))
           * 1.0 / max(1, sum(CASE WHEN u.usage_date > date(:as_of, '-14 days') AND u.usage_date <= date(:as_of, '-7 days') THEN u.usage_count ELSE 0 END)), 4) AS usage_velocity_7day,
       round((sum(CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.usage_count ELSE 0 END)
            - sum(CASE WHEN u.usage_date > date(:as_of, '-60 days') AND u.usage_date <= date(:as_of, '-30 days') THEN u.usage_count ELSE 0 END))
           * 1.0 / max(1, sum(CASE WHEN u.usage_date > date(:as_of, '-60 days') AND u.usage_date <= date(:as_of, '-30 days') THEN u.usage_count ELSE 0 END)), 4) AS usage_velocity_30day,
       count(DISTINCT CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.usage_date END) AS active_days_30d,
       count(DISTINCT CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.feature_name END) AS feature_breadth,
       round(sum(CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.usage_duration_secs ELSE 0 END) / 60.0, 4) AS usage_minutes_30d,
       round(CASE WHEN sum(CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.usage_count ELSE 0 END) > 0
            THEN sum(CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.error_count ELSE 0 END) * 1.0
               / sum(CASE WHEN u.usage_date > date(:as_of, '-30 days') THEN u.usage_count ELSE 0 END) END, 4) AS error_rate,
       CAST(julianday(:as_of) - julianday(max(u.usage_date)) AS INTEGER) AS last_usage_age
FROM feature_usage u
JOIN subscriptions s ON s.subscription_id = u.subscription_id
WHERE u.usage_date > date(:as_of, '-90 days') AND u.usage_date <= :as_of
GROUP BY s.account_id
ORDER BY s.account_id
