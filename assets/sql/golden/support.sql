-- Tickets submitted by the as-of date (the last date of a batch), compared as text like
-- every date here; closed_at and ratings are compared with the end of each as-of day in
-- stages.rs (a ticket closed later is open at the as-of date).
SELECT account_id, submitted_at, closed_at, priority, first_response_time_minutes, satisfaction_score, escalation_flag
FROM support_tickets
WHERE submitted_at <= :as_of
