-- Usage rows dated in (:from, :to]. A sequential scan beats the usage_date index here:
-- the days read are a large share of the table and index hits land on scattered pages
-- (10,000 accounts, one 60-day window: 0.05 s vs 0.25 s).
SELECT subscription_id, usage_date, feature_name, usage_count, usage_duration_secs, error_count
FROM feature_usage NOT INDEXED
WHERE usage_date > :from AND usage_date <= :to
