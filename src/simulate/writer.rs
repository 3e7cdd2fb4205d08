//! Streams simulated accounts into the workspace with prepared statements, one transaction.

use anyhow::{Result, bail};
use rusqlite::{Transaction, TransactionBehavior, params};

use super::world::{Life, TIERS};
use super::{SimConfig, SimReport, from_day_number, names};
use crate::workspace::contract::values;
use crate::workspace::{self, Workspace};

pub struct Writer<'a> {
    tx: Transaction<'a>,
    /// Date strings by day offset from the history start (formatting is the hot path).
    days: Vec<String>,
    first_day: i32,
    report: SimReport,
    /// Secondary indexes dropped for the bulk load, rebuilt before commit.
    indexes: Vec<String>,
}

impl<'a> Writer<'a> {
    pub fn begin(
        ws: &'a mut Workspace,
        replace: bool,
        first_day: i32,
        last_day: i32,
    ) -> Result<Self> {
        let path = ws.path().display().to_string();
        let tx = ws
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let accounts: i64 = tx.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?;
        if accounts > 0 && !replace {
            bail!(
                "the workspace {path} already holds {accounts} accounts; pass --replace to overwrite it with simulated data"
            );
        }
        workspace::clear_derived(&tx)?;
        for t in workspace::contract::TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", t.name), [])?;
        }
        let mut tables: Vec<&str> = workspace::contract::TABLES.iter().map(|t| t.name).collect();
        tables.extend(["account_signals", "sim_truth"]);
        let indexes = workspace::drop_indexes(&tx, &tables)?;
        // Tickets can close a few weeks after the last day; keep a margin of formatted days.
        let days = (first_day..=last_day + 400)
            .map(|d| from_day_number(d).format("%Y-%m-%d").to_string())
            .collect();
        Ok(Writer {
            tx,
            days,
            first_day,
            report: SimReport::default(),
            indexes,
        })
    }

    fn date(&self, day: i32) -> &str {
        &self.days[(day - self.first_day) as usize]
    }

    pub fn account(&mut self, index: usize, name: &str, owner: &str, life: &Life) -> Result<()> {
        let account_id = names::id('A', index as u64);
        let (tier, seats) = life.current_plan();
        self.tx.prepare_cached(
            "INSERT INTO accounts (account_id, account_name, industry, country, signup_date, referral_source, \
             plan_tier, seats, is_trial, churn_flag, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            account_id,
            name,
            values::INDUSTRIES[life.industry],
            values::COUNTRIES[life.country],
            self.date(life.signup),
            values::REFERRAL_SOURCES[life.referral],
            TIERS[tier],
            seats,
            life.is_trial,
            life.churned,
            owner,
        ])?;
        self.report.accounts += 1;
        self.report.churned_accounts += life.churned as u64;

        let first_sub = self.report.subscriptions;
        {
            let mut stmt = self.tx.prepare_cached(
                "INSERT INTO subscriptions (subscription_id, account_id, start_date, end_date, plan_tier, seats, \
                 mrr_amount, arr_amount, is_trial, upgrade_flag, downgrade_flag, churn_flag, billing_frequency, \
                 auto_renew_flag) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for s in &life.subs {
                stmt.execute(params![
                    names::id('S', first_sub + s.seq as u64),
                    account_id,
                    self.days[(s.start - self.first_day) as usize],
                    s.end.map(|e| &self.days[(e - self.first_day) as usize]),
                    TIERS[s.tier],
                    s.seats,
                    s.mrr,
                    s.mrr * 12.0,
                    s.is_trial,
                    s.upgrade,
                    s.downgrade,
                    s.end.is_some(),
                    values::BILLING_FREQUENCIES[s.annual as usize],
                    s.auto_renew,
                ])?;
            }
        }
        self.report.subscriptions += life.subs.len() as u64;

        {
            let mut stmt = self.tx.prepare_cached(
                "INSERT INTO feature_usage (usage_id, subscription_id, usage_date, feature_name, usage_count, \
                 usage_duration_secs, error_count, is_beta_feature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut feature = String::with_capacity(12);
            for u in &life.usage {
                feature.clear();
                feature.push_str("feature_");
                feature.push_str(&u.feature.to_string());
                stmt.execute(params![
                    names::id('U', self.report.usage),
                    names::id('S', first_sub + u.sub_seq as u64),
                    self.days[(u.day - self.first_day) as usize],
                    feature,
                    u.count,
                    u.duration,
                    u.errors,
                    u.beta,
                ])?;
                self.report.usage += 1;
            }
        }

        {
            let mut stmt = self.tx.prepare_cached(
                "INSERT INTO support_tickets (ticket_id, account_id, submitted_at, closed_at, resolution_time_hours, \
                 priority, first_response_time_minutes, satisfaction_score, escalation_flag) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for t in &life.tickets {
                let closed = t.closed_after_hours.map(|h| {
                    let h = h as i64;
                    format!(
                        "{} {:02}:00:00",
                        self.days[(t.day + (h / 24) as i32 - self.first_day) as usize],
                        h % 24
                    )
                });
                stmt.execute(params![
                    names::id('T', self.report.tickets),
                    account_id,
                    self.days[(t.day - self.first_day) as usize],
                    closed,
                    t.closed_after_hours,
                    values::PRIORITIES[t.priority],
                    t.first_response_min,
                    t.satisfaction,
                    t.escalated,
                ])?;
                self.report.tickets += 1;
            }
        }

        {
            let mut stmt = self.tx.prepare_cached(
                "INSERT INTO churn_events (churn_event_id, account_id, churn_date, reason_code, refund_amount_usd, \
                 preceding_upgrade_flag, preceding_downgrade_flag, is_reactivation, feedback_text) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for c in &life.churns {
                stmt.execute(params![
                    names::id('C', self.report.churn_events),
                    account_id,
                    self.days[(c.day - self.first_day) as usize],
                    c.reason,
                    c.refund,
                    c.preceding_upgrade,
                    c.preceding_downgrade,
                    c.reactivation,
                    c.feedback,
                ])?;
                self.report.churn_events += 1;
            }
        }

        {
            let mut stmt = self.tx.prepare_cached(
                "INSERT INTO account_signals (account_id, snapshot_date, hris_headcount, managed_devices, \
                 growth_rate_mom, spend_active_users) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for s in &life.signals {
                stmt.execute(params![
                    account_id,
                    self.days[(s.day - self.first_day) as usize],
                    s.headcount,
                    s.devices,
                    s.growth,
                    s.active_users
                ])?;
            }
            let mut stmt = self.tx.prepare_cached(
                "INSERT INTO sim_truth (account_id, month_end, latent_health, churn_hazard_90d, \
                 escalation_propensity_90d, expansion_propensity_90d) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for t in &life.truth {
                stmt.execute(params![
                    account_id,
                    self.days[(t.day - self.first_day) as usize],
                    t.health,
                    t.churn_90d,
                    t.escalation_90d,
                    t.expansion_90d
                ])?;
            }
        }
        Ok(())
    }

    pub fn meta(&mut self, cfg: &SimConfig) -> Result<()> {
        let as_of = cfg.as_of.format("%Y-%m-%d").to_string();
        for (k, v) in [
            ("data_as_of", as_of.clone()),
            ("source", "simulate".to_string()),
            ("sim.seed", cfg.seed.to_string()),
            ("sim.accounts", cfg.accounts.to_string()),
            ("sim.as_of", as_of),
            ("sim.csms", cfg.csms.to_string()),
        ] {
            workspace::set_meta(&self.tx, k, &v)?;
        }
        Ok(())
    }

    pub fn commit(self) -> Result<SimReport> {
        workspace::create_indexes(&self.tx, &self.indexes)?;
        self.tx.commit()?;
        Ok(self.report)
    }
}
