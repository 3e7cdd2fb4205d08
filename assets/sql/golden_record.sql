-- The golden record: one row per account signed up by :as_of, from data dated on or
-- before :as_of only.
--
-- The heavy per-account aggregations (usage windows, subscriptions and renewal, latest
-- account signals, support load) are computed in polars first and wait in temp tables
-- keyed by account (src/features/usage.rs, stages.rs): as SQLite CTEs they took most of
-- the time at 100,000 accounts (numbers in the README). The stages below compose them
-- row by row; each stage adds its columns to the row of the stage before it, so SQLite
-- runs the whole chain as one scan with key lookups.
WITH
params AS (
    SELECT :as_of AS as_of
),

-- Accounts that exist at the as-of date, with every aggregate joined once.
account_base AS (
    SELECT a.account_id, a.account_name, a.owner, a.industry, a.country, a.referral_source,
           a.plan_tier AS listed_tier,
           CAST(julianday(p.as_of) - julianday(a.signup_date) AS INTEGER) AS days_since_signup,
           -- subscription status (stage_subscriptions)
           coalesce(ss.started, 0) AS started,
           coalesce(ss.active_product_count, 0) AS active_product_count,
           coalesce(ss.seats, 0) AS seats,
           coalesce(ss.total_mrr, 0.0) AS total_mrr,
           coalesce(ss.total_arr, 0.0) AS total_arr,
           coalesce(ss.mrr_90d_ago, 0.0) AS mrr_90d_ago,
           coalesce(ss.upgrade_count_12m, 0) AS upgrade_count_12m,
           coalesce(ss.downgrade_count_12m, 0) AS downgrade_count_12m,
           ss.auto_renew, ss.tier_rank, ss.billing_frequency, ss.days_to_next_renewal,
           -- latest account signals (stage_signals)
           g.hris_headcount, g.managed_devices, g.growth_rate_mom, g.spend_active_users,
           -- support load (stage_support); the data has no escalation time, so a flag
           -- counts as known when its ticket is submitted
           coalesce(su.total_tickets_90d, 0) AS total_tickets_90d,
           coalesce(su.high_priority_tickets, 0) AS high_priority_tickets,
           coalesce(su.escalations_90d, 0) AS escalations_90d,
           coalesce(su.open_tickets, 0) AS open_tickets,
           su.oldest_open_ticket_hours, su.avg_satisfaction, su.avg_first_response_minutes,
           coalesce(su.tickets_since_signup, 0) AS tickets_since_signup,
           -- usage windows (usage_window)
           u.avg_daily_usage_count AS w_avg, u.usage_velocity_7day AS w_v7, u.usage_velocity_30day AS w_v30,
           u.active_days_30d AS w_days, u.feature_breadth AS w_breadth, u.usage_minutes_30d AS w_minutes,
           u.error_rate, u.last_usage_age
    FROM accounts a
    CROSS JOIN params p
    LEFT JOIN temp.stage_subscriptions ss ON ss.account_id = a.account_id
    LEFT JOIN temp.stage_signals g ON g.account_id = a.account_id
    LEFT JOIN temp.stage_support su ON su.account_id = a.account_id
    LEFT JOIN temp.usage_window u ON u.account_id = a.account_id
    WHERE a.signup_date <= p.as_of
),

-- Escalation intensity: one score of support strain.
escalation_intensity AS (
    SELECT *,
           CASE WHEN total_tickets_90d > 0 THEN escalations_90d * 1.0 / total_tickets_90d END AS escalation_rate,
           min(100.0, 25.0 * escalations_90d + 10.0 * high_priority_tickets + 5.0 * open_tickets
                      + 2.0 * total_tickets_90d + CASE WHEN avg_satisfaction < 3 THEN 15.0 ELSE 0.0 END)
               AS escalation_intensity_score
    FROM account_base
),

-- Usage velocity: no usage in the window is zero usage; an account idle for the whole
-- window gets its last usage from an index seek.
usage_velocity AS MATERIALIZED (
    SELECT *,
           coalesce(w_avg, 0.0) AS avg_daily_usage_count,
           coalesce(w_v7, 0.0) AS usage_velocity_7day,
           coalesce(w_v30, 0.0) AS usage_velocity_30day,
           coalesce(w_days, 0) AS active_days_30d,
           coalesce(w_breadth, 0) AS feature_breadth,
           coalesce(w_minutes, 0.0) AS usage_minutes_30d,
           CASE WHEN last_usage_age IS NOT NULL THEN last_usage_age
                ELSE (SELECT CAST(julianday(:as_of) - julianday(max(fu.usage_date)) AS INTEGER)
                      FROM subscriptions s JOIN feature_usage fu ON fu.subscription_id = s.subscription_id
                      WHERE s.account_id = escalation_intensity.account_id AND fu.usage_date <= :as_of) END
               AS days_since_last_activity
    FROM escalation_intensity
),

engagement AS (
    SELECT *,
           CASE WHEN avg_daily_usage_count >= 1.5 THEN 'high'
                WHEN avg_daily_usage_count >= 0.5 THEN 'medium'
                WHEN avg_daily_usage_count > 0 THEN 'low'
                ELSE 'none' END AS engagement_level
    FROM usage_velocity
),

-- Onboarding friction: a young account that is struggling; a quick win: one getting value early.
onboarding_friction AS (
    SELECT *,
           CASE WHEN days_since_signup < 90 THEN 'onboarding'
                WHEN days_since_signup < 365 THEN 'adoption' ELSE 'mature' END AS onboarding_phase,
           CASE WHEN days_since_signup < 90 AND (tickets_since_signup >= 2 OR coalesce(error_rate, 0) >= 0.15)
                THEN 1 ELSE 0 END AS onboarding_friction_flag,
           CASE WHEN days_since_signup < 90 AND feature_breadth >= 3 AND days_since_last_activity <= 7
                     AND high_priority_tickets = 0 THEN 1 ELSE 0 END AS quick_win_flag
    FROM engagement
),

-- Cross-sell readiness: growth, room to expand, full seats, engagement, calm support.
crosssell_readiness AS MATERIALIZED (
    SELECT *,
           min(100.0,
               CASE WHEN growth_rate_mom > 0.02 THEN 25 WHEN growth_rate_mom > 0 THEN 10 ELSE 0 END
             + CASE WHEN managed_devices - seats > 0.2 * max(seats, 1) THEN 25 ELSE 0 END
             + CASE WHEN seats > 0 AND spend_active_users * 1.0 / seats > 0.8 THEN 20 ELSE 0 END
             + CASE engagement_level WHEN 'high' THEN 15 WHEN 'medium' THEN 8 ELSE 0 END
             + CASE WHEN escalation_intensity_score < 10 THEN 10 ELSE 0 END
             + CASE WHEN upgrade_count_12m > downgrade_count_12m THEN 5 ELSE 0 END
           ) AS crosssell_readiness_score
    FROM onboarding_friction
),

-- Compound churn risk: the rule-based score (the baseline every model must beat).
compound_churn_risk AS (
    SELECT *,
           min(100.0,
               CASE engagement_level WHEN 'none' THEN 25 WHEN 'low' THEN 15 ELSE 0 END
             + CASE WHEN usage_velocity_30day <= -0.3 THEN 15 ELSE 0 END
             + CASE WHEN days_since_last_activity IS NULL OR days_since_last_activity > 30 THEN 20
                    WHEN days_since_last_activity > 14 THEN 10 ELSE 0 END
             + CASE WHEN escalation_intensity_score >= 60 THEN 20 WHEN escalation_intensity_score >= 30 THEN 10 ELSE 0 END
             + CASE WHEN avg_satisfaction < 3 THEN 10 ELSE 0 END
             + CASE WHEN onboarding_friction_flag = 1 THEN 10 ELSE 0 END
             + CASE WHEN downgrade_count_12m > 0 THEN 10 ELSE 0 END
             + CASE WHEN total_mrr < mrr_90d_ago THEN 5 ELSE 0 END
             + CASE WHEN billing_frequency = 'annual' AND days_to_next_renewal <= 60 THEN 5 ELSE 0 END
           ) AS compound_churn_risk_score
    FROM crosssell_readiness
)

SELECT
    :as_of AS as_of,
    account_id,
    account_name,
    owner,
    industry,
    country,
    CASE tier_rank WHEN 3 THEN 'Enterprise' WHEN 2 THEN 'Pro' WHEN 1 THEN 'Basic' ELSE listed_tier END AS plan_tier,
    referral_source,
    CASE WHEN active_product_count > 0 THEN 'active'
         WHEN started > 0 THEN 'churned'
         ELSE 'no_subscription' END AS lifecycle_status,
    billing_frequency,
    -- account
    seats,
    hris_headcount,
    managed_devices,
    managed_devices - seats AS device_gap,
    growth_rate_mom,
    spend_active_users,
    days_since_signup,
    onboarding_phase,
    -- subscription
    active_product_count,
    total_mrr,
    total_arr,
    upgrade_count_12m,
    downgrade_count_12m,
    CASE WHEN upgrade_count_12m > downgrade_count_12m THEN 'expanding'
         WHEN upgrade_count_12m < downgrade_count_12m THEN 'contracting'
         ELSE 'stable' END AS expansion_state,
    total_mrr - mrr_90d_ago AS mrr_change_90d,
    days_to_next_renewal,
    auto_renew,
    CASE WHEN seats > 0 THEN round(spend_active_users * 1.0 / seats, 4) END AS seat_utilization,
    -- usage
    avg_daily_usage_count,
    usage_velocity_7day,
    usage_velocity_30day,
    active_days_30d,
    feature_breadth,
    usage_minutes_30d,
    error_rate,
    days_since_last_activity,
    engagement_level,
    -- support
    total_tickets_90d,
    high_priority_tickets,
    escalations_90d,
    open_tickets,
    oldest_open_ticket_hours,
    avg_satisfaction,
    avg_first_response_minutes,
    escalation_rate,
    escalation_intensity_score,
    CASE WHEN escalation_intensity_score >= 60 THEN 'critical'
         WHEN escalation_intensity_score >= 30 THEN 'at_risk'
         WHEN escalation_intensity_score >= 10 THEN 'watch'
         ELSE 'healthy' END AS escalation_health_status,
    -- onboarding
    onboarding_friction_flag,
    quick_win_flag,
    -- cross-sell
    crosssell_readiness_score,
    CASE WHEN crosssell_readiness_score >= 60 THEN 'ready'
         WHEN crosssell_readiness_score >= 35 THEN 'warming'
         ELSE 'not_ready' END AS crosssell_readiness_status,
    -- risk
    compound_churn_risk_score
FROM compound_churn_risk
ORDER BY account_id
