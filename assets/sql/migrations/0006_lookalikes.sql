-- Per account, its nearest lookalikes (the cross-sell model's latent space) that use a
-- feature it does not, in words: ["Beta Ltd (uses reporting, api; expanded)", ...].
ALTER TABLE account_scores ADD COLUMN lookalikes_json TEXT;
