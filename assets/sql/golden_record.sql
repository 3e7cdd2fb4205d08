-- The golden record: one row per account signed up by :as_of, from data dated on or
-- before :as_of only. The heavy per-account aggregations (usage windows, subscriptions,
-- signals, support) are computed in polars into temp tables first (src/features/usage.rs,
-- stages.rs: several times faster than SQLite at 100,000 accounts; numbers in the README);
-- the composition stages below stay in SQL. Each stage reads only the stages above it.
WITH
params AS MATERIALIZED (
    SELECT :as_of AS as_of,
           date(:as_of, '+1 day') AS end_of_day,     -- timestamps before this are "by the as-of date"
           date(:as_of, '-90 days') AS d90
),

-- Accounts that exist at the as-of date.
account_base AS MATERIALIZED (
    SELECT a.account_id, a.account_name, a.owner, a.industry, a.country, a.referral_source,
           a.plan_tier AS listed_tier, a.signup_date,
           CAST(julianday(p.as_of) - julianday(a.signup_date) AS INTEGER) AS days_since_signup
    FROM accounts a, params p
    WHERE a.signup_date <= p.as_of
),

-- Aggregation stages computed in polars (src/features/stages.rs), one row per account:
-- subscription status and renewal calendar, latest account signals, support load.
subscription_status AS (SELECT * FROM temp.stage_subscriptions),
renewal AS (
    SELECT account_id, billing_frequency, days_to_next_renewal
    FROM temp.stage_subscriptions WHERE billing_frequency IS NOT NULL
),
signals AS (SELECT * FROM temp.stage_signals),
support AS (SELECT * FROM temp.stage_support),

-- Escalation intensity: one score of support strain, then a status.
escalation_intensity AS MATERIALIZED (
    SELECT b.account_id,
           coalesce(su.total_tickets_90d, 0) AS total_tickets_90d,
           coalesce(su.high_priority_tickets, 0) AS high_priority_tickets,
           coalesce(su.escalations_90d, 0) AS escalations_90d,
           coalesce(su.open_tickets, 0) AS open_tickets,
           su.oldest_open_ticket_hours,
           su.avg_satisfaction,
           su.avg_first_response_minutes,
           CASE WHEN su.total_tickets_90d > 0 THEN su.escalations_90d * 1.0 / su.total_tickets_90d END AS escalation_rate,
           coalesce(su.tickets_since_signup, 0) AS tickets_since_signup,
           min(100.0, 25.0 * coalesce(su.escalations_90d, 0) + 10.0 * coalesce(su.high_priority_tickets, 0)
                      + 5.0 * coalesce(su.open_tickets, 0) + 2.0 * coalesce(su.total_tickets_90d, 0)
                      + CASE WHEN su.avg_satisfaction < 3 THEN 15.0 ELSE 0.0 END) AS escalation_intensity_score
    FROM account_base b CROSS JOIN params p
    LEFT JOIN support su ON su.account_id = b.account_id
),

-- Usage velocity: windows computed in polars (usage_window); accounts idle for the whole
-- window fall back to an index seek for their last usage.
usage_velocity AS MATERIALIZED (
    SELECT b.account_id,
           coalesce(u.avg_daily_usage_count, 0.0) AS avg_daily_usage_count,
           coalesce(u.usage_velocity_7day, 0.0) AS usage_velocity_7day,
           coalesce(u.usage_velocity_30day, 0.0) AS usage_velocity_30day,
           coalesce(u.active_days_30d, 0) AS active_days_30d,
           coalesce(u.feature_breadth, 0) AS feature_breadth,
           coalesce(u.usage_minutes_30d, 0.0) AS usage_minutes_30d,
           u.error_rate,
           CASE WHEN u.last_usage_age IS NOT NULL THEN u.last_usage_age
                ELSE (SELECT CAST(julianday(p.as_of) - julianday(max(fu.usage_date)) AS INTEGER)
                      FROM subscriptions s JOIN feature_usage fu ON fu.subscription_id = s.subscription_id
                      WHERE s.account_id = b.account_id AND fu.usage_date <= p.as_of) END AS days_since_last_activity
    FROM account_base b CROSS JOIN params p
    LEFT JOIN temp.usage_window u ON u.account_id = b.account_id
),

engagement AS MATERIALIZED (
    SELECT account_id,
           CASE WHEN avg_daily_usage_count >= 1.5 THEN 'high'
                WHEN avg_daily_usage_count >= 0.5 THEN 'medium'
                WHEN avg_daily_usage_count > 0 THEN 'low'
                ELSE 'none' END AS engagement_level
    FROM usage_velocity
),

-- Onboarding friction: a young account that is struggling; a quick win: one getting value early.
onboarding_friction AS MATERIALIZED (
    SELECT b.account_id,
           CASE WHEN b.days_since_signup < 90 THEN 'onboarding'
                WHEN b.days_since_signup < 365 THEN 'adoption' ELSE 'mature' END AS onboarding_phase,
           CASE WHEN b.days_since_signup < 90 AND (e.tickets_since_signup >= 2 OR coalesce(u.error_rate, 0) >= 0.15)
                THEN 1 ELSE 0 END AS onboarding_friction_flag,
           CASE WHEN b.days_since_signup < 90 AND u.feature_breadth >= 3 AND u.days_since_last_activity <= 7
                     AND e.high_priority_tickets = 0 THEN 1 ELSE 0 END AS quick_win_flag
    FROM account_base b
    JOIN escalation_intensity e ON e.account_id = b.account_id
    JOIN usage_velocity u ON u.account_id = b.account_id
),

-- Cross-sell readiness: growth, room to expand, full seats, engagement, calm support.
crosssell_readiness AS MATERIALIZED (
    SELECT b.account_id,
           min(100.0,
               CASE WHEN g.growth_rate_mom > 0.02 THEN 25 WHEN g.growth_rate_mom > 0 THEN 10 ELSE 0 END
             + CASE WHEN g.managed_devices - coalesce(ss.seats, 0) > 0.2 * max(coalesce(ss.seats, 0), 1) THEN 25 ELSE 0 END
             + CASE WHEN coalesce(ss.seats, 0) > 0 AND g.spend_active_users * 1.0 / ss.seats > 0.8 THEN 20 ELSE 0 END
             + CASE en.engagement_level WHEN 'high' THEN 15 WHEN 'medium' THEN 8 ELSE 0 END
             + CASE WHEN e.escalation_intensity_score < 10 THEN 10 ELSE 0 END
             + CASE WHEN coalesce(ss.upgrade_count_12m, 0) > coalesce(ss.downgrade_count_12m, 0) THEN 5 ELSE 0 END
           ) AS crosssell_readiness_score
    FROM account_base b
    LEFT JOIN signals g ON g.account_id = b.account_id
    LEFT JOIN subscription_status ss ON ss.account_id = b.account_id
    JOIN engagement en ON en.account_id = b.account_id
    JOIN escalation_intensity e ON e.account_id = b.account_id
),

-- Compound churn risk: the rule-based score (the baseline every model must beat).
compound_churn_risk AS MATERIALIZED (
    SELECT b.account_id,
           min(100.0,
               CASE en.engagement_level WHEN 'none' THEN 25 WHEN 'low' THEN 15 ELSE 0 END
             + CASE WHEN u.usage_velocity_30day <= -0.3 THEN 15 ELSE 0 END
             + CASE WHEN u.days_since_last_activity IS NULL OR u.days_since_last_activity > 30 THEN 20
                    WHEN u.days_since_last_activity > 14 THEN 10 ELSE 0 END
             + CASE WHEN e.escalation_intensity_score >= 60 THEN 20 WHEN e.escalation_intensity_score >= 30 THEN 10 ELSE 0 END
             + CASE WHEN e.avg_satisfaction < 3 THEN 10 ELSE 0 END
             + CASE WHEN o.onboarding_friction_flag = 1 THEN 10 ELSE 0 END
             + CASE WHEN coalesce(ss.downgrade_count_12m, 0) > 0 THEN 10 ELSE 0 END
             + CASE WHEN coalesce(ss.total_mrr, 0) < coalesce(ss.mrr_90d_ago, 0) THEN 5 ELSE 0 END
             + CASE WHEN r.billing_frequency = 'annual' AND r.days_to_next_renewal <= 60 THEN 5 ELSE 0 END
           ) AS compound_churn_risk_score
    FROM account_base b
    JOIN engagement en ON en.account_id = b.account_id
    JOIN usage_velocity u ON u.account_id = b.account_id
    JOIN escalation_intensity e ON e.account_id = b.account_id
    JOIN onboarding_friction o ON o.account_id = b.account_id
    LEFT JOIN subscription_status ss ON ss.account_id = b.account_id
    LEFT JOIN renewal r ON r.account_id = b.account_id
)

SELECT
    p.as_of AS as_of,
    b.account_id,
    b.account_name,
    b.owner,
    b.industry,
    b.country,
    CASE ss.tier_rank WHEN 3 THEN 'Enterprise' WHEN 2 THEN 'Pro' WHEN 1 THEN 'Basic' ELSE b.listed_tier END AS plan_tier,
    b.referral_source,
    CASE WHEN coalesce(ss.active_product_count, 0) > 0 THEN 'active'
         WHEN coalesce(ss.started, 0) > 0 THEN 'churned'
         ELSE 'no_subscription' END AS lifecycle_status,
    r.billing_frequency,
    -- account
    coalesce(ss.seats, 0) AS seats,
    g.hris_headcount,
    g.managed_devices,
    g.managed_devices - coalesce(ss.seats, 0) AS device_gap,
    g.growth_rate_mom,
    g.spend_active_users,
    b.days_since_signup,
    o.onboarding_phase,
    -- subscription
    coalesce(ss.active_product_count, 0) AS active_product_count,
    coalesce(ss.total_mrr, 0.0) AS total_mrr,
    coalesce(ss.total_arr, 0.0) AS total_arr,
    coalesce(ss.upgrade_count_12m, 0) AS upgrade_count_12m,
    coalesce(ss.downgrade_count_12m, 0) AS downgrade_count_12m,
    CASE WHEN coalesce(ss.upgrade_count_12m, 0) > coalesce(ss.downgrade_count_12m, 0) THEN 'expanding'
         WHEN coalesce(ss.upgrade_count_12m, 0) < coalesce(ss.downgrade_count_12m, 0) THEN 'contracting'
         ELSE 'stable' END AS expansion_state,
    coalesce(ss.total_mrr, 0.0) - coalesce(ss.mrr_90d_ago, 0.0) AS mrr_change_90d,
    r.days_to_next_renewal,
    ss.auto_renew,
    CASE WHEN coalesce(ss.seats, 0) > 0 THEN round(g.spend_active_users * 1.0 / ss.seats, 4) END AS seat_utilization,
    -- usage
    u.avg_daily_usage_count,
    u.usage_velocity_7day,
    u.usage_velocity_30day,
    u.active_days_30d,
    u.feature_breadth,
    u.usage_minutes_30d,
    u.error_rate,
    u.days_since_last_activity,
    en.engagement_level,
    -- support
    e.total_tickets_90d,
    e.high_priority_tickets,
    e.escalations_90d,
    e.open_tickets,
    e.oldest_open_ticket_hours,
    e.avg_satisfaction,
    e.avg_first_response_minutes,
    e.escalation_rate,
    e.escalation_intensity_score,
    CASE WHEN e.escalation_intensity_score >= 60 THEN 'critical'
         WHEN e.escalation_intensity_score >= 30 THEN 'at_risk'
         WHEN e.escalation_intensity_score >= 10 THEN 'watch'
         ELSE 'healthy' END AS escalation_health_status,
    -- onboarding
    o.onboarding_friction_flag,
    o.quick_win_flag,
    -- cross-sell
    cr.crosssell_readiness_score,
    CASE WHEN cr.crosssell_readiness_score >= 60 THEN 'ready'
         WHEN cr.crosssell_readiness_score >= 35 THEN 'warming'
         ELSE 'not_ready' END AS crosssell_readiness_status,
    -- risk
    cc.compound_churn_risk_score
FROM account_base b
CROSS JOIN params p
LEFT JOIN subscription_status ss ON ss.account_id = b.account_id
LEFT JOIN renewal r ON r.account_id = b.account_id
LEFT JOIN signals g ON g.account_id = b.account_id
JOIN escalation_intensity e ON e.account_id = b.account_id
JOIN usage_velocity u ON u.account_id = b.account_id
JOIN engagement en ON en.account_id = b.account_id
JOIN onboarding_friction o ON o.account_id = b.account_id
JOIN crosssell_readiness cr ON cr.account_id = b.account_id
JOIN compound_churn_risk cc ON cc.account_id = b.account_id
ORDER BY b.account_id
