-- Accounts that exist at the as-of date (signed up on or before it).
SELECT account_id, account_name, owner, industry, country, referral_source, plan_tier AS listed_tier, signup_date
FROM accounts
WHERE signup_date <= :as_of
