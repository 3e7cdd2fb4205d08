//! `cge simulate`: a B2B SaaS world with causes, written as a complete workspace.
//!
//! Accounts are simulated one at a time (each from its own seeded stream) and
//! streamed into the workspace in one transaction, so memory stays flat at any
//! scale and the same seed, size and as-of date give identical tables.

mod names;
pub mod rng;
pub mod world;
mod writer;

use anyhow::{Result, bail};
use chrono::{Datelike, NaiveDate};

use crate::workspace::Workspace;
use rng::SimRng;
use world::Rates;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub accounts: usize,
    pub seed: u64,
    pub as_of: NaiveDate,
    pub csms: usize,
    /// Days of history before the as-of date in which accounts sign up.
    pub history_days: i32,
    /// Average volumes per account over the history. Subscriptions: plans, trials,
    /// downgrades and comebacks give about 1.65; the rest are seat upgrades, whose rate this
    /// sets (a value below 1.65 means none). Upgrades stop once seats reach 1.5 times the
    /// company's devices, so large values saturate (10 gives about 5). Usage rows and
    /// tickets: as in the original data.
    pub subscriptions_per_account: f64,
    pub usage_rows_per_account: f64,
    pub tickets_per_account: f64,
}

/// Default volumes per account. Usage rows and tickets are the original data's; its ~10
/// subscriptions meant an upgrade nearly every quarter (a 90-day expansion base rate of
/// ~78 %), so upgrades are rarer here: about one account in ten buys seats in a quarter.
pub const DEFAULT_SUBSCRIPTIONS: f64 = 2.0;
pub const DEFAULT_USAGE_ROWS: f64 = 50.0;
pub const DEFAULT_TICKETS: f64 = 4.0;
/// Subscriptions per account without upgrades (plans, second plans, trials, downgrades,
/// comebacks; measured on 20,000 accounts), and the weekly upgrade rate at neutral health,
/// growth and devices that adds the rest of the default.
const PLAN_SUBSCRIPTIONS: f64 = 1.65;
const UPGRADES_PER_WEEK: f64 = 0.003;

impl SimConfig {
    pub fn new(accounts: usize, seed: u64, as_of: NaiveDate) -> Self {
        SimConfig {
            accounts,
            seed,
            as_of,
            csms: 8,
            history_days: 730,
            subscriptions_per_account: DEFAULT_SUBSCRIPTIONS,
            usage_rows_per_account: DEFAULT_USAGE_ROWS,
            tickets_per_account: DEFAULT_TICKETS,
        }
    }

    /// Refuse settings that cannot make a world (checked before any file is touched).
    pub fn validate(&self) -> Result<()> {
        if self.accounts == 0 {
            bail!("--accounts must be at least 1");
        }
        if self.csms == 0 {
            bail!("--csms must be at least 1");
        }
        Ok(())
    }

    /// Weekly event rates that give the configured averages (calibrated on 20,000 accounts).
    pub fn rates(&self) -> Rates {
        let usage_volume = self.usage_rows_per_account / DEFAULT_USAGE_ROWS;
        let ticket_volume = self.tickets_per_account / DEFAULT_TICKETS;
        Rates {
            usage_per_week: 0.5 * usage_volume,
            tickets_per_week: 0.06 * ticket_volume,
            upgrades_per_week: UPGRADES_PER_WEEK
                * (self.subscriptions_per_account - PLAN_SUBSCRIPTIONS).max(0.0)
                / (DEFAULT_SUBSCRIPTIONS - PLAN_SUBSCRIPTIONS),
            // A zero volume has no rows to wear health with; keep the division finite.
            usage_volume: usage_volume.max(1e-6),
            ticket_volume: ticket_volume.max(1e-6),
        }
    }
}

#[derive(Debug, Default)]
pub struct SimReport {
    pub accounts: u64,
    pub subscriptions: u64,
    pub usage: u64,
    pub tickets: u64,
    pub churn_events: u64,
    pub churned_accounts: u64,
}

/// Day number used throughout the simulator (days since 0001-01-01).
pub fn day_number(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

pub fn from_day_number(n: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(n).expect("simulated dates stay in range")
}

/// Month-end day numbers from `first` to `last` inclusive.
pub fn month_ends(first: i32, last: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let d = from_day_number(first);
    let (mut y, mut m) = (d.year(), d.month());
    loop {
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        let end = day_number(next.expect("valid month")) - 1;
        if end > last {
            break;
        }
        out.push(end);
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

/// Simulate `cfg.accounts` accounts into `ws`. Refuses a non-empty workspace unless `replace`.
pub fn simulate(ws: &mut Workspace, cfg: &SimConfig, replace: bool) -> Result<SimReport> {
    cfg.validate()?;
    let as_of = day_number(cfg.as_of);
    let owners: Vec<String> = (0..cfg.csms).map(names::csm).collect();
    let mut w = writer::Writer::begin(ws, replace, as_of - cfg.history_days, as_of)?;
    for a in accounts(cfg) {
        w.account(a.index, &names::company(a.index), &owners[a.owner], &a.life)?;
    }
    w.meta(cfg)?;
    w.commit()
}

/// One simulated account: its index (ids and names follow it), its owner (a CSM index) and life.
pub struct Account {
    pub index: usize,
    pub owner: usize,
    pub life: world::Life,
}

/// The accounts of `cfg` in order, each simulated when it is reached (memory stays flat).
/// Needs `cfg.csms >= 1` and `cfg.history_days >= 1`.
pub fn accounts(cfg: &SimConfig) -> impl Iterator<Item = Account> + '_ {
    accounts_from(cfg, 0)
}

/// The accounts of `cfg` from index `first` on, as in [`accounts`]; the ones before are
/// skipped without being simulated.
pub fn accounts_from(cfg: &SimConfig, first: usize) -> impl Iterator<Item = Account> + '_ {
    let as_of = day_number(cfg.as_of);
    let start = as_of - cfg.history_days;
    let ends = month_ends(start, as_of);
    let rates = cfg.rates();
    let mut setup = SimRng::new(cfg.seed, u64::MAX);
    (0..cfg.accounts)
        .map(move |index| {
            let signup = start + setup.int(0, cfg.history_days as i64) as i32;
            let owner = setup.int(0, cfg.csms as i64) as usize;
            (index, owner, signup)
        })
        .skip(first)
        .map(move |(index, owner, signup)| {
            let mut rng = SimRng::new(cfg.seed, index as u64);
            let life = world::live(&mut rng, signup, as_of, &ends, &rates);
            Account { index, owner, life }
        })
}
