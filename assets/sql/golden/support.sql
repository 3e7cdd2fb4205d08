-- Tickets submitted by the as-of date; closed_at and ratings are compared with the end
-- of that day in polars (a ticket closed later is open at the as-of date).
SELECT account_id, submitted_at, closed_at, priority, first_response_time_minutes, satisfaction_score, escalation_flag
FROM support_tickets
WHERE submitted_at <= :as_of
