-- Last usage on or before the as-of date of the accounts idle for the whole usage
-- window (:account_ids, a JSON array): one index seek per subscription, in one statement.
SELECT s.account_id,
       max((SELECT max(fu.usage_date) FROM feature_usage fu
            WHERE fu.subscription_id = s.subscription_id AND fu.usage_date <= :as_of)) AS last_usage
FROM subscriptions s
WHERE s.account_id IN (SELECT value FROM json_each(:account_ids))
GROUP BY s.account_id
