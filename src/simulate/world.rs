//! The causal model of one account's life, stepped week by week up to the as-of date.
//!
//! A latent health drifts around the account's own level. Health drives usage
//! (volume, duration, breadth, errors), ticket volume and priority, satisfaction,
//! expansion and downgrades, trial conversion and the weekly churn hazard. Onboarding
//! friction in the first 90 days lowers health and raises early churn; annual contracts
//! concentrate churn around renewal; growing companies (headcount growth, devices without
//! seats) buy seats. Noise stays in: the hazard also has an unobserved part no model can see.
//!
//! The product is four modules of ten features. An account starts with one or two and may
//! adopt more (more likely when healthy and growing); it uses only its modules' features,
//! so an adoption shows as the first usage of the module's features. Features differ in
//! effect: recent use of a sticky feature (integrations, API, reporting, automation) lowers
//! the hazard, recent errors on an error-prone feature raise it, the rest are neutral. These
//! effects act on the hazard, not on health, so only per-feature usage and errors reveal
//! them: the aggregates look alike. An expansion is a new module or an upgrade of at least
//! 20 % more seats; both are rare enough (about one account in six per 90 days) for a
//! model to tell who will expand.
//!
//! Point in time: a week is stepped in segments that end at each month-end and at the
//! trial's end, so a snapshot or decision dated on a day sees exactly the rows dated on or
//! before it. An account that leaves stops there: nothing is generated after its churn day
//! (unless it comes back), so no row is ever moved or truncated afterwards.

use super::rng::{SimRng, sigmoid};
use crate::workspace::contract::values;

/// Tuning knobs that set the data's volume (not its causal structure).
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub usage_per_week: f64,
    pub tickets_per_week: f64,
    /// Seat upgrades (expansions of at least 20 % more seats) per week at neutral state.
    pub upgrades_per_week: f64,
    /// Configured usage and ticket volumes relative to the defaults. Each error and ticket
    /// wears health down by that much less, so a volume knob changes how many rows there
    /// are, not how accounts fare (at 360x the usage, errors alone used to sink health in a
    /// week).
    pub usage_volume: f64,
    pub ticket_volume: f64,
}

/// The product's modules, ten features each, core features first: an account uses the
/// features of the modules it has adopted, so a team using feature_3 uses feature_12, not
/// feature_1. The import contract has no module column; a module's adoption shows as the
/// first usage of its features.
pub const MODULES: [[u8; 10]; 4] = [
    [3, 7, 12, 15, 21, 38, 26, 30, 33, 40],
    [1, 4, 9, 14, 18, 22, 27, 34, 37, 39],
    [2, 5, 6, 10, 13, 31, 19, 23, 28, 35],
    [8, 11, 16, 17, 20, 24, 25, 29, 32, 36],
];
/// Sticky features, one per module (by module): integrations (feature_7), API (feature_14),
/// reporting (feature_10), workflow automation (feature_20). Work wired into them is costly
/// to move, so their use in the recent weeks lowers the churn hazard. They are set up at some
/// point (with the module or later) and are not used before.
pub const STICKY: [u8; 4] = [7, 14, 10, 20];
/// Error-prone features, one per module (by module): bulk import (feature_38), bulk edit
/// (feature_22), sync (feature_31, a beta), export (feature_24), features of middling use
/// (sixth in their modules). They fail several times as often, and their recent errors
/// raise the churn hazard beyond the wear every error does to health. The other 32
/// features are neutral.
pub const ERROR_PRONE: [u8; 4] = [38, 22, 31, 24];
/// Beta features: newer ones in each module.
const BETA: [u8; 6] = [33, 37, 31, 36, 40, 39];

pub const TIERS: [&str; 3] = values::PLAN_TIERS;
const PRICE_PER_SEAT: [f64; 3] = [19.0, 49.0, 149.0];

const WEEK: i32 = 7;
/// Latent health is a score of population standard deviation ~1, and every rate is an
/// exponential of it. Low health brings tickets and errors that lower it further: left
/// unbounded, that loop drove the weekly ticket mean past 10^20 within two weeks (issue 9).
/// Four standard deviations either side keep every rate within ~50x of its neutral value.
const HEALTH_MIN: f64 = -4.0;
const HEALTH_MAX: f64 = 4.0;
/// Onboarding: the first 90 days, harder for accounts with friction.
const ONBOARDING_DAYS: i32 = 90;
const FRICTION_HEALTH: f64 = 1.2;
/// Health lost per usage error, per ticket and per escalation, at the default volumes.
const ERROR_WEAR: f64 = 0.01;
const TICKET_WEAR: f64 = 0.03;
const ESCALATION_WEAR: f64 = 0.25;
/// Most rows one weekly draw may give, as a multiple of its mean at neutral health, plus a
/// few. Bounded health keeps every mean under ~50x, so the cap does not shape the data; it
/// guarantees every per-account loop a bound whatever the knobs or draws.
const DRAW_CAP: f64 = 64.0;
const DRAW_CAP_MIN: u32 = 4;
/// Weekly churn hazard of a neutral account, before its situation and product use.
const HAZARD_SCALE: f64 = 0.0024;
/// Weekly churn probability never exceeds this (even the unhappiest account may stay a while).
const MAX_WEEKLY_HAZARD: f64 = 0.6;
/// A share of sign-ups starts on a free trial of 14 to 30 days; at its end the account
/// converts to a paid plan or leaves. Conversion follows health (about 60 % convert).
const TRIAL_SHARE: f64 = 0.15;
const TRIAL_DAYS: (i64, i64) = (14, 31);
const CONVERSION_BIAS: f64 = 0.45;
const CONVERSION_HEALTH: f64 = 1.1;
/// Flags on a churn event look back this far for an upgrade or downgrade.
const PRECEDING_DAYS: i32 = 90;
/// Weekly chance that a churned account comes back (once).
const REACTIVATION_PER_WEEK: f64 = 0.006;
/// Share of accounts that start with two modules; the others start with one.
const TWO_MODULES_AT_START: f64 = 0.35;
/// Weekly chance of adopting the next module at neutral health and no growth, and how health
/// and company growth (per month) raise it.
const MODULE_ADOPTION_PER_WEEK: f64 = 0.005;
const MODULE_HEALTH: f64 = 0.5;
const MODULE_GROWTH: f64 = 15.0;
/// Usage share of a later module relative to the first (drawn per account and module).
const MODULE_WEIGHT: (f64, f64) = (0.4, 0.9);
/// Most features of one module a week's usage spreads over, by health: 2 to 8.
const BREADTH_MIN: f64 = 2.0;
const BREADTH_SPAN: f64 = 6.0;
/// Feature choice in a module: the next preferred feature is taken with this chance (a
/// truncated geometric preference); some uses go to any of the module's features.
const PREFERENCE: f64 = 0.75;
const EXPLORE: f64 = 0.08;
/// Each account ranks a module's features by their place in `MODULES` plus a normal noise of
/// this many places: teams share the core features and differ on the niche ones.
const TASTE_NOISE: f64 = 2.5;
/// A module's sticky feature is set up with the module with this chance; later each week
/// with the second, a little more often when healthy.
const STICKY_AT_ADOPTION: f64 = 0.3;
const STICKY_SETUP_PER_WEEK: f64 = 0.012;
const STICKY_SETUP_HEALTH: f64 = 0.3;
/// Recent use (sticky rows, error-prone errors) decays by this factor each week: a memory of
/// about seven weeks, so what counts is use in the last quarter.
const RECENT_MEMORY: f64 = 0.85;
/// Each sticky feature in steady use (its recent rows well above `STICKY_SCALE`) multiplies
/// the weekly hazard by up to e^-STICKY_HAZARD.
const STICKY_HAZARD: f64 = 2.0;
const STICKY_SCALE: f64 = 0.5;
/// Recent errors on error-prone features (in units of `FRUSTRATION_SCALE`) multiply it by up
/// to e^FRUSTRATION_HAZARD.
const FRUSTRATION_HAZARD: f64 = 3.0;
const FRUSTRATION_SCALE: f64 = 2.0;
/// Error-prone features fail this many times as often, times the account's own exposure (a
/// log-normal of mean ~1: some setups trip the bugs far more), capped.
const ERROR_PRONE_FACTOR: f64 = 4.0;
const EXPOSURE_SD: f64 = 0.5;
const EXPOSURE_MAX: f64 = 4.0;
/// An upgrade adds at least this share of seats: the expansion the models predict. Seats stop
/// growing at `SEAT_HEADROOM` times the company's devices.
const MIN_SEAT_INCREASE: f64 = 0.2;
const SEAT_HEADROOM: f64 = 1.5;
/// How health, company growth (per month) and unlicensed devices (per seat, capped) raise the
/// upgrade rate. Growth follows a random walk, so its effect is kept moderate: a strong one
/// made most accounts upgrade every quarter.
const UPGRADE_HEALTH: f64 = 0.5;
const UPGRADE_GROWTH: f64 = 12.0;
const UPGRADE_GAP: f64 = 0.5;
const UPGRADE_GAP_MAX: f64 = 2.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Sub {
    pub seq: u32,
    pub start: i32,
    pub end: Option<i32>,
    pub tier: usize,
    pub seats: i64,
    pub mrr: f64,
    pub is_trial: bool,
    pub upgrade: bool,
    pub downgrade: bool,
    pub annual: bool,
    pub auto_renew: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub sub_seq: u32,
    pub day: i32,
    pub feature: u8,
    pub count: i64,
    pub duration: i64,
    pub errors: i64,
    pub beta: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub day: i32,
    /// Hours after the submission day's midnight; `None` while open at the as-of date.
    pub closed_after_hours: Option<f64>,
    pub priority: usize,
    pub first_response_min: i64,
    pub satisfaction: Option<f64>,
    pub escalated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChurnEvent {
    pub day: i32,
    pub reason: &'static str,
    pub refund: f64,
    pub preceding_upgrade: bool,
    pub preceding_downgrade: bool,
    pub reactivation: bool,
    pub feedback: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    pub day: i32,
    pub headcount: i64,
    pub devices: i64,
    pub growth: f64,
    pub active_users: i64,
}

/// The oracle at a month-end (`sim_truth`): chances over the next 90 days if the state
/// stayed as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub day: i32,
    pub health: f64,
    /// Leaving (trial non-conversion or the weekly hazard).
    pub churn_90d: f64,
    /// An escalated ticket.
    pub escalation_90d: f64,
    /// An expansion: a new module or a seat upgrade (at least 20 % more seats).
    pub expansion_90d: f64,
}

/// Everything the simulator records about one account.
#[derive(Debug, Clone)]
pub struct Life {
    pub signup: i32,
    pub industry: usize,
    pub country: usize,
    pub referral: usize,
    /// On a trial at the as-of date.
    pub is_trial: bool,
    pub churned: bool,
    pub subs: Vec<Sub>,
    pub usage: Vec<Usage>,
    pub tickets: Vec<Ticket>,
    pub churns: Vec<ChurnEvent>,
    pub signals: Vec<Signals>,
    pub truth: Vec<Truth>,
}

impl Life {
    /// The plan tier and seats the account holds at the end (its highest active tier).
    pub fn current_plan(&self) -> (usize, i64) {
        let active: Vec<&Sub> = self.subs.iter().filter(|s| s.end.is_none()).collect();
        let pool = if active.is_empty() {
            self.subs.iter().collect()
        } else {
            active
        };
        let tier = pool.iter().map(|s| s.tier).max().unwrap_or(0);
        let seats = pool.iter().map(|s| s.seats).sum::<i64>().max(1);
        (tier, seats)
    }

    fn active_subs(&self) -> impl Iterator<Item = &Sub> {
        self.subs.iter().filter(|s| s.end.is_none())
    }

    fn seats(&self) -> i64 {
        self.active_subs().map(|s| s.seats).sum::<i64>().max(1)
    }

    /// The latest start among active subscriptions: a churn must come after it.
    fn latest_start(&self) -> i32 {
        self.active_subs()
            .map(|s| s.start)
            .max()
            .unwrap_or(i32::MIN)
    }
}

/// What a new subscription is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Trial,
    New,
    Upgrade,
    Downgrade,
}

struct State {
    signup: i32,
    /// Start of the paid contract (renewals count from it).
    contract_start: i32,
    base: f64,
    health: f64,
    friction: bool,
    growth: f64,
    headcount: f64,
    devices_ratio: f64,
    /// Modules in the order the account takes them on; the first `modules` are adopted.
    module_order: [usize; 4],
    modules: usize,
    /// Each module's share of usage, relative to the others (by module).
    module_weight: [f64; 4],
    /// The features of each module the account can use, most preferred first; a sticky
    /// feature joins (at the front) once it is set up.
    usable: [Vec<u8>; 4],
    sticky_set_up: [bool; 4],
    /// Recent rows on each module's sticky feature (decaying weekly), in rows at the default
    /// usage volume.
    sticky_use: [f64; 4],
    /// Recent errors on error-prone features (decaying weekly), at the default usage volume.
    frustration: f64,
    /// How often this account's setup trips the error-prone features.
    exposure: f64,
    /// Unobserved churn propensity (competitor offers, champion leaving...).
    hidden: f64,
    annual: bool,
    auto_renew: bool,
    tier: usize,
    seats0: i64,
    /// The last day of the trial while on one.
    trial_until: Option<i32>,
    active: bool,
    last_upgrade: i32,
    last_downgrade: i32,
    reactivated: bool,
    next_seq: u32,
}

fn mrr(tier: usize, seats: i64, annual: bool) -> f64 {
    (seats as f64 * PRICE_PER_SEAT[tier] * if annual { 0.85 } else { 1.0 }).round()
}

/// Days from the contract start to the next annual renewal (365-day terms).
fn days_to_renewal(contract_start: i32, day: i32) -> i32 {
    365 - (day - contract_start).rem_euclid(365)
}

/// Most rows a draw with neutral-health mean `base` (per week) may give over `span` weeks.
fn draw_cap(base: f64, span: f64) -> u32 {
    (DRAW_CAP * base * span).ceil() as u32 + DRAW_CAP_MIN
}

impl State {
    /// Health as it acts on `day`: onboarding friction weighs on the first 90 days.
    fn effective_health(&self, day: i32) -> f64 {
        let h = if self.friction && self.onboarding(day) {
            self.health - FRICTION_HEALTH
        } else {
            self.health
        };
        h.clamp(HEALTH_MIN, HEALTH_MAX)
    }

    fn onboarding(&self, day: i32) -> bool {
        day - self.signup < ONBOARDING_DAYS
    }

    fn in_trial(&self) -> bool {
        self.trial_until.is_some()
    }

    /// Events wear health down; the wear is scaled to the configured volume.
    fn wear(&mut self, amount: f64, volume: f64) {
        self.health = (self.health - amount / volume).clamp(HEALTH_MIN, HEALTH_MAX);
    }

    /// The week's company growth and health drift (dated on the week's first day).
    fn drift(&mut self, rng: &mut SimRng) {
        self.growth = (self.growth + 0.004 * rng.normal()).clamp(-0.06, 0.1);
        self.headcount *= (1.0 + self.growth).powf(7.0 / 30.4);
        self.health = (self.health + 0.07 * (self.base - self.health) + 0.22 * rng.normal())
            .clamp(HEALTH_MIN, HEALTH_MAX);
        for u in &mut self.sticky_use {
            *u *= RECENT_MEMORY;
        }
        self.frustration *= RECENT_MEMORY;
    }

    /// How many sticky features are in steady recent use (0 to 4, saturating).
    fn stickiness(&self) -> f64 {
        self.sticky_use
            .iter()
            .map(|u| 1.0 - (-u / STICKY_SCALE).exp())
            .sum()
    }

    /// How much recent errors on error-prone features weigh (0 to 1, saturating).
    fn frustration_level(&self) -> f64 {
        1.0 - (-self.frustration / FRUSTRATION_SCALE).exp()
    }

    /// Weekly churn probability, from state only (the oracle uses the same function).
    fn churn_hazard(&self, day: i32, seats: i64) -> f64 {
        let h = self.effective_health(day);
        let mut rate = HAZARD_SCALE * (-1.05 * h + self.hidden - 6.0 * self.growth).exp();
        if self.friction && self.onboarding(day) {
            rate *= 2.2;
        }
        if self.annual {
            // Annual customers leave at renewal: mostly in the month before it.
            rate *= if days_to_renewal(self.contract_start, day) <= 35 {
                if self.auto_renew { 2.5 } else { 5.0 }
            } else {
                0.35
            };
        }
        // Small footprints leave more easily.
        rate *= 1.25 - 0.08 * (seats.max(1) as f64).ln().min(3.0);
        // What the account does with the product: only per-feature usage and errors show it.
        rate *= (FRUSTRATION_HAZARD * self.frustration_level() - STICKY_HAZARD * self.stickiness())
            .exp();
        rate.min(MAX_WEEKLY_HAZARD)
    }

    /// Chance that a trial ending on `day` converts to a paid plan.
    fn conversion_chance(&self, day: i32) -> f64 {
        sigmoid(CONVERSION_BIAS + CONVERSION_HEALTH * self.effective_health(day))
    }

    fn ticket_rate(&self, rates: &Rates, day: i32) -> f64 {
        let h = self.effective_health(day);
        let onboarding = match (self.onboarding(day), self.friction) {
            (true, true) => 2.5,
            (true, false) => 1.4,
            (false, _) => 1.0,
        };
        rates.tickets_per_week * (-0.75 * h).exp() * onboarding
    }

    fn escalation_chance(&self, priority: usize, day: i32) -> f64 {
        let h = self.effective_health(day);
        let severe = if priority >= 2 { 1.0 } else { 0.25 };
        (0.02 + 0.3 * severe * (1.0 - sigmoid(h))).min(0.9)
    }

    /// Weekly rate of seat upgrades: growing companies with unlicensed devices buy seats.
    fn upgrade_rate(&self, rates: &Rates, seats: i64) -> f64 {
        let devices = self.headcount * self.devices_ratio;
        if seats as f64 >= SEAT_HEADROOM * devices {
            return 0.0;
        }
        let gap = (devices - seats as f64).max(0.0) / seats.max(1) as f64;
        rates.upgrades_per_week
            * (UPGRADE_HEALTH * self.health
                + UPGRADE_GROWTH * self.growth
                + UPGRADE_GAP * gap.min(UPGRADE_GAP_MAX))
            .exp()
    }

    /// Weekly rate of adopting the next module on `day`: none while onboarding or once the
    /// account has them all.
    fn module_rate(&self, day: i32) -> f64 {
        if self.modules == MODULES.len() || self.onboarding(day) {
            return 0.0;
        }
        MODULE_ADOPTION_PER_WEEK * (MODULE_HEALTH * self.health + MODULE_GROWTH * self.growth).exp()
    }

    fn adopted(&self) -> &[usize] {
        &self.module_order[..self.modules]
    }

    /// Take on the next module (its sticky feature may come with it); returns it.
    fn add_module(&mut self, rng: &mut SimRng) -> usize {
        let m = self.module_order[self.modules];
        self.modules += 1;
        if rng.chance(STICKY_AT_ADOPTION) {
            self.set_up_sticky(m);
        }
        m
    }

    fn set_up_sticky(&mut self, m: usize) {
        self.sticky_set_up[m] = true;
        self.usable[m].insert(0, STICKY[m]);
    }

    /// The feature of one use: a module by its share, then a feature among the `breadth` the
    /// account prefers there (or, sometimes, any of the module's).
    fn pick_feature(&self, rng: &mut SimRng, breadth: usize) -> u8 {
        let mut weights = [0.0; 4];
        for (w, &m) in weights.iter_mut().zip(self.adopted()) {
            *w = self.module_weight[m];
        }
        let m = self.module_order[rng.weighted(&weights[..self.modules])];
        let usable = &self.usable[m];
        if rng.chance(EXPLORE) {
            return *rng.pick(usable);
        }
        let last = breadth.min(usable.len()) - 1;
        let mut k = 0;
        while k < last && rng.chance(PREFERENCE) {
            k += 1;
        }
        usable[k]
    }

    /// One usage row of `feature` on `day`; its errors wear health down, and the recent use of
    /// sticky and error-prone features is counted for the hazard.
    #[allow(clippy::too_many_arguments)]
    fn use_feature(
        &mut self,
        rng: &mut SimRng,
        life: &mut Life,
        sub_seq: u32,
        day: i32,
        feature: u8,
        h: f64,
        rates: &Rates,
    ) {
        let count = (1 + rng.poisson(2.0 + 10.0 * sigmoid(h))).min(26) as i64;
        let duration =
            (count as f64 * rng.uniform(40.0, 420.0) * (0.5 + sigmoid(h))).round() as i64;
        let prone = ERROR_PRONE.contains(&feature);
        let err_rate = (0.05
            + 0.5 * (1.0 - sigmoid(h))
            + if self.friction && self.onboarding(day) {
                0.5
            } else {
                0.0
            })
            * if prone {
                ERROR_PRONE_FACTOR * self.exposure
            } else {
                1.0
            };
        // A use fails at most once per action.
        let errors = (rng.poisson(err_rate * (count as f64).sqrt()) as i64).min(count);
        life.usage.push(Usage {
            sub_seq,
            day,
            feature,
            count,
            duration,
            errors,
            beta: BETA.contains(&feature),
        });
        self.wear(ERROR_WEAR * errors as f64, rates.usage_volume);
        if let Some(m) = STICKY.iter().position(|&f| f == feature) {
            self.sticky_use[m] += 1.0 / rates.usage_volume;
        }
        if prone {
            self.frustration += errors as f64 / rates.usage_volume;
        }
    }

    fn open(&mut self, life: &mut Life, day: i32, seats: i64, kind: Kind) {
        let is_trial = kind == Kind::Trial;
        life.subs.push(Sub {
            seq: self.next_seq,
            start: day,
            end: None,
            tier: self.tier,
            seats,
            mrr: if is_trial {
                0.0
            } else {
                mrr(self.tier, seats, self.annual)
            },
            is_trial,
            upgrade: kind == Kind::Upgrade,
            downgrade: kind == Kind::Downgrade,
            annual: self.annual,
            auto_renew: self.auto_renew,
        });
        self.next_seq += 1;
    }

    /// A paid plan: the main subscription, sometimes with a second, smaller one.
    fn open_plan(&mut self, rng: &mut SimRng, life: &mut Life, day: i32) {
        self.contract_start = day;
        self.open(life, day, self.seats0, Kind::New);
        if rng.chance(0.35) {
            self.open(life, day, (self.seats0 / 3).max(1), Kind::New);
        }
    }
}

/// Draw the account's profile and open its first plan (or trial) on `signup`.
fn begin(rng: &mut SimRng, signup: i32) -> (State, Life) {
    let industry = rng.weighted(&[0.24, 0.22, 0.2, 0.18, 0.16]);
    let country = rng.weighted(&[0.38, 0.14, 0.12, 0.08, 0.1, 0.1, 0.08]);
    let referral = rng.weighted(&[0.35, 0.1, 0.25, 0.12, 0.18]);
    let tier = rng.weighted(&[0.5, 0.35, 0.15]);
    // Partner and event referrals fit better; organic a little; ads worst.
    let fit = [0.15, 0.0, -0.25, 0.2, 0.3][referral];
    let base = 0.3 + fit + 0.7 * rng.normal();
    let friction = rng.chance(0.25);
    let growth = 0.01 + 0.025 * rng.normal();
    let seats0 = match tier {
        0 => rng.int(1, 15),
        1 => rng.int(5, 60),
        _ => rng.int(20, 160),
    };
    let headcount = seats0 as f64 * rng.uniform(1.1, 3.5);
    // Modules: the first follows the industry; the order of the others is the account's own.
    let primary = (industry + rng.int(0, 2) as usize) % 4;
    let secondary = (primary + 1 + rng.int(0, 3) as usize) % 4;
    let mut rest: Vec<usize> = (0..4).filter(|&m| m != primary && m != secondary).collect();
    rng.shuffle(&mut rest);
    let module_order = [primary, secondary, rest[0], rest[1]];
    let mut module_weight = [1.0; 4];
    for &m in &module_order[1..] {
        module_weight[m] = rng.uniform(MODULE_WEIGHT.0, MODULE_WEIGHT.1);
    }
    let usable = std::array::from_fn(|m| {
        let mut ranked: Vec<(f64, u8)> = MODULES[m]
            .into_iter()
            .enumerate()
            .filter(|&(_, f)| f != STICKY[m])
            .map(|(place, f)| (place as f64 + TASTE_NOISE * rng.normal(), f))
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        ranked.into_iter().map(|(_, f)| f).collect()
    });
    let exposure = (EXPOSURE_SD * rng.normal() - EXPOSURE_SD * EXPOSURE_SD / 2.0)
        .exp()
        .min(EXPOSURE_MAX);
    let annual = rng.chance(0.4);
    let mut st = State {
        signup,
        contract_start: signup,
        base,
        health: (base + 0.3 * rng.normal()).clamp(HEALTH_MIN, HEALTH_MAX),
        friction,
        growth,
        headcount,
        devices_ratio: rng.uniform(0.9, 1.6),
        module_order,
        modules: 0,
        module_weight,
        usable,
        sticky_set_up: [false; 4],
        sticky_use: [0.0; 4],
        frustration: 0.0,
        exposure,
        hidden: 0.45 * rng.normal(),
        annual,
        auto_renew: rng.chance(if annual { 0.6 } else { 0.8 }),
        tier,
        seats0,
        trial_until: None,
        active: true,
        last_upgrade: i32::MIN / 2,
        last_downgrade: i32::MIN / 2,
        reactivated: false,
        next_seq: 0,
    };
    let mut life = Life {
        signup,
        industry,
        country,
        referral,
        is_trial: false,
        churned: false,
        subs: Vec::new(),
        usage: Vec::new(),
        tickets: Vec::new(),
        churns: Vec::new(),
        signals: Vec::new(),
        truth: Vec::new(),
    };
    if rng.chance(TRIAL_SHARE) {
        let days = rng.int(TRIAL_DAYS.0, TRIAL_DAYS.1) as i32;
        st.trial_until = Some(signup + days);
        st.open(&mut life, signup, seats0, Kind::Trial);
    } else {
        st.open_plan(rng, &mut life, signup);
    }
    let starting = if rng.chance(TWO_MODULES_AT_START) {
        2
    } else {
        1
    };
    for _ in 0..starting {
        st.add_module(rng);
    }
    (st, life)
}

/// The first use of module `m` on `day`, the day the account takes it on: its adoption is
/// dated in the data, not left to the next random use.
fn first_use(
    rng: &mut SimRng,
    st: &mut State,
    life: &mut Life,
    m: usize,
    day: i32,
    h: f64,
    rates: &Rates,
) {
    let subs: Vec<u32> = life.active_subs().map(|s| s.seq).collect();
    let sub = *rng.pick(&subs);
    let feature = st.usable[m][0];
    st.use_feature(rng, life, sub, day, feature, h, rates);
}

/// Simulate one account from `signup` to `as_of` (day numbers).
pub fn live(rng: &mut SimRng, signup: i32, as_of: i32, month_ends: &[i32], rates: &Rates) -> Life {
    let (mut st, mut life) = begin(rng, signup);
    let h = st.effective_health(signup);
    for k in 0..st.modules {
        let m = st.module_order[k];
        first_use(rng, &mut st, &mut life, m, signup, h, rates);
    }
    let mut next_month = month_ends.partition_point(|&m| m < signup);
    let mut day = signup;
    // Bounded: one pass per week of history, at most three segments a week.
    while day <= as_of {
        let week_end = (day + WEEK - 1).min(as_of);
        if st.active {
            st.drift(rng);
        }
        let mut from = day;
        while from <= week_end {
            let month_end = month_ends
                .get(next_month)
                .copied()
                .filter(|&m| m <= week_end);
            let trial_end = st.trial_until.filter(|&t| t <= week_end);
            let to = [Some(week_end), month_end, trial_end]
                .into_iter()
                .flatten()
                .min()
                .expect("the week's end is always there");
            step(rng, &mut st, &mut life, from, to, as_of, rates);
            if month_end == Some(to) {
                next_month += 1;
                if st.active {
                    snapshot(rng, &st, &mut life, to, rates);
                }
            }
            from = to + 1;
        }
        day += WEEK;
    }
    life.churned = !st.active;
    life.is_trial = st.active && st.in_trial();
    life
}

/// The days `from..=to` of one week: churn, usage, tickets, plan changes, the trial's end.
fn step(
    rng: &mut SimRng,
    st: &mut State,
    life: &mut Life,
    from: i32,
    to: i32,
    as_of: i32,
    rates: &Rates,
) {
    let span = (to - from + 1) as f64 / WEEK as f64;
    if !st.active {
        maybe_reactivate(rng, st, life, from, span);
        return;
    }
    // The churn day is drawn first, so the account's activity stops on it.
    let churn_day = if st.in_trial() {
        None
    } else {
        draw_churn_day(rng, st, life, from, to, span)
    };
    let last = churn_day.unwrap_or(to);
    let h = st.effective_health(from);
    use_product(rng, st, life, from, last, h, rates);
    file_tickets(rng, st, life, from, last, as_of, h, rates);
    if let Some(day) = churn_day {
        churn(rng, st, life, day);
        return;
    }
    if st.in_trial() {
        if st.trial_until == Some(to) {
            end_trial(rng, st, life, to);
        }
        return;
    }
    adopt(rng, st, life, from, h, span, rates);
    change_plan(rng, st, life, from, to, h, span, rates);
}

/// Product adoption from `from` on (paid accounts that stay): the next module, and sticky
/// features set up in the modules the account has.
fn adopt(
    rng: &mut SimRng,
    st: &mut State,
    life: &mut Life,
    from: i32,
    h: f64,
    span: f64,
    rates: &Rates,
) {
    if rng.chance(1.0 - (-st.module_rate(from) * span).exp()) {
        let m = st.add_module(rng);
        first_use(rng, st, life, m, from, h, rates);
    }
    let setup = STICKY_SETUP_PER_WEEK * (STICKY_SETUP_HEALTH * h).exp() * span;
    for k in 0..st.modules {
        let m = st.module_order[k];
        if !st.sticky_set_up[m] && rng.chance(setup) {
            st.set_up_sticky(m);
        }
    }
}

/// Whether the account leaves between `from` and `to`, and on which day (after its latest
/// subscription started, so no subscription ends the day it starts).
fn draw_churn_day(
    rng: &mut SimRng,
    st: &State,
    life: &Life,
    from: i32,
    to: i32,
    span: f64,
) -> Option<i32> {
    let p = st.churn_hazard(from, life.seats()) * span;
    if !rng.chance(p) {
        return None;
    }
    let first = from.max(life.latest_start() + 1);
    (first <= to).then(|| first + rng.int(0, (to - first + 1) as i64) as i32)
}

/// A uniformly drawn day in `from..=to`.
fn day_in(rng: &mut SimRng, from: i32, to: i32) -> i32 {
    from + rng.int(0, (to - from + 1) as i64) as i32
}

/// Usage rows on `from..=to`: volume, duration, breadth and errors follow health; the
/// features are those of the account's modules.
fn use_product(
    rng: &mut SimRng,
    st: &mut State,
    life: &mut Life,
    from: i32,
    to: i32,
    h: f64,
    rates: &Rates,
) {
    let span = (to - from + 1) as f64 / WEEK as f64;
    let seats = life.seats();
    let mean = rates.usage_per_week * span * (seats as f64).powf(0.15) * (0.6 * h).exp();
    let n = rng.poisson(mean).min(draw_cap(rates.usage_per_week, span));
    let breadth = (BREADTH_MIN + BREADTH_SPAN * sigmoid(h - 0.3)).round() as usize;
    let actives: Vec<u32> = life.active_subs().map(|s| s.seq).collect();
    for _ in 0..n {
        let feature = st.pick_feature(rng, breadth);
        let sub = *rng.pick(&actives);
        let day = day_in(rng, from, to);
        st.use_feature(rng, life, sub, day, feature, h, rates);
    }
}

/// Tickets on `from..=to`: more and more severe when health is low.
#[allow(clippy::too_many_arguments)]
fn file_tickets(
    rng: &mut SimRng,
    st: &mut State,
    life: &mut Life,
    from: i32,
    to: i32,
    as_of: i32,
    h: f64,
    rates: &Rates,
) {
    let span = (to - from + 1) as f64 / WEEK as f64;
    let n = rng
        .poisson(st.ticket_rate(rates, from) * span)
        .min(draw_cap(rates.tickets_per_week, span));
    let bad = 1.0 - sigmoid(h);
    for _ in 0..n {
        let priority = rng.weighted(&[0.4 - 0.2 * bad, 0.35, 0.15 + 0.2 * bad, 0.05 + 0.2 * bad]);
        let (resp_lo, resp_hi, res_mean) = [
            (30, 181, 60.0),
            (15, 121, 36.0),
            (5, 61, 20.0),
            (1, 31, 8.0),
        ][priority];
        let first_response_min = rng.int(resp_lo, resp_hi);
        let hours = (1.0 + rng.exponential(res_mean) * (1.0 + bad)).round();
        let escalated = rng.chance(st.escalation_chance(priority, from));
        let day = day_in(rng, from, to);
        let closed_after_hours = (day as f64 + hours / 24.0 < (as_of + 1) as f64).then_some(hours);
        let satisfaction = if rng.chance(0.4) {
            None
        } else {
            let s =
                3.8 + 2.2 * (sigmoid(h) - 0.5) - 0.006 * hours - if escalated { 0.8 } else { 0.0 }
                    + 0.6 * rng.normal();
            Some(s.round().clamp(1.0, 5.0))
        };
        life.tickets.push(Ticket {
            day,
            closed_after_hours,
            priority,
            first_response_min,
            satisfaction,
            escalated,
        });
        // A bad support experience hurts health.
        let hurt = if escalated {
            ESCALATION_WEAR
        } else {
            TICKET_WEAR
        } + satisfaction.map_or(0.0, |s| (3.0 - s).max(0.0) * 0.05);
        st.wear(hurt, rates.ticket_volume);
    }
}

/// Seat upgrade and downgrade on `from..=to` (paid accounts that stay).
#[allow(clippy::too_many_arguments)]
fn change_plan(
    rng: &mut SimRng,
    st: &mut State,
    life: &mut Life,
    from: i32,
    to: i32,
    h: f64,
    span: f64,
    rates: &Rates,
) {
    let seats = life.seats();
    // Upgrade: growing companies with unlicensed devices buy seats, a fifth more at least.
    if rng.chance(1.0 - (-st.upgrade_rate(rates, seats) * span).exp()) {
        if rng.chance(0.15) && st.tier < 2 {
            st.tier += 1;
        }
        let devices = st.headcount * st.devices_ratio;
        let gap = (devices - seats as f64).max(1.0);
        let least = (MIN_SEAT_INCREASE * seats as f64).ceil() as i64;
        let add = ((gap * rng.uniform(0.3, 0.8)).round() as i64).clamp(least, least.max(200));
        st.open(life, from, add, Kind::Upgrade);
        st.last_upgrade = from;
    }
    // Downgrade: shrinking, unhappy accounts cut seats.
    let down_rate = 0.004 * (-0.9 * h - 20.0 * st.growth).exp();
    if rng.chance(down_rate * span) {
        let biggest = life
            .subs
            .iter_mut()
            .filter(|s| s.end.is_none() && s.seats > 1 && s.start < to)
            .max_by_key(|s| s.seats);
        if let Some(old) = biggest {
            // At the segment's end, so its usage still falls inside the old term.
            old.end = Some(to);
            let kept = (old.seats as f64 * rng.uniform(0.4, 0.8)).round().max(1.0) as i64;
            if rng.chance(0.2) && st.tier > 0 {
                st.tier -= 1;
            }
            st.open(life, to, kept, Kind::Downgrade);
            st.last_downgrade = to;
        }
    }
}

/// The trial ends on `day`: the account converts to a paid plan or leaves.
fn end_trial(rng: &mut SimRng, st: &mut State, life: &mut Life, day: i32) {
    let converts = rng.chance(st.conversion_chance(day));
    st.trial_until = None;
    if converts {
        for s in life.subs.iter_mut().filter(|s| s.end.is_none()) {
            s.end = Some(day);
        }
        st.open_plan(rng, life, day);
    } else {
        churn(rng, st, life, day);
    }
}

/// A churned account sometimes comes back (once) with a small plan.
fn maybe_reactivate(rng: &mut SimRng, st: &mut State, life: &mut Life, day: i32, span: f64) {
    if st.reactivated || !rng.chance(REACTIVATION_PER_WEEK * span) {
        return;
    }
    st.reactivated = true;
    st.active = true;
    st.health = (st.base + 0.5).clamp(HEALTH_MIN, HEALTH_MAX);
    st.hidden -= 0.3;
    // It comes back to its modules, with no recent use of them.
    st.sticky_use = [0.0; 4];
    st.frustration = 0.0;
    st.seats0 = rng.int(1, 20);
    st.contract_start = day;
    st.open(life, day, st.seats0, Kind::New);
}

/// Month-end `day`: the signals snapshot and the ground truth, from the state at the end of it.
fn snapshot(rng: &mut SimRng, st: &State, life: &mut Life, day: i32, rates: &Rates) {
    let seats = life.seats();
    let h = st.effective_health(day);
    let util = (0.25 + 0.7 * sigmoid(1.2 * h) + 0.05 * rng.normal()).clamp(0.05, 1.0);
    life.signals.push(Signals {
        day,
        headcount: st.headcount.round() as i64,
        devices: (st.headcount * st.devices_ratio).round() as i64,
        growth: ((st.growth + 0.01 * rng.normal()) * 1000.0).round() / 1000.0,
        active_users: (seats as f64 * util).round() as i64,
    });
    life.truth.push(truth(st, day, seats, rates));
}

/// The true 90-day outlook at `day` if the state stayed as it is: churn (through trial
/// non-conversion and the weekly hazard), an escalated ticket, an expansion (a new module or a
/// seat upgrade, in a week the paid account is still there).
fn truth(st: &State, day: i32, seats: i64, rates: &Rates) -> Truth {
    const WEEKS: i32 = 13;
    let mut survive = 1.0;
    let mut converts = 1.0;
    let mut expands = 0.0;
    let mut not_yet = 1.0;
    let upgrade_rate = st.upgrade_rate(rates, seats);
    for k in 0..WEEKS {
        let d = day + WEEK * k;
        match st.trial_until {
            Some(t) if d <= t => {
                if t < d + WEEK {
                    converts = st.conversion_chance(t);
                }
            }
            _ => {
                // A week's churn is drawn before its expansion.
                survive *= 1.0 - st.churn_hazard(d, seats);
                let weekly_expansion = 1.0 - (-(upgrade_rate + st.module_rate(d))).exp();
                expands += converts * survive * not_yet * weekly_expansion;
                not_yet *= 1.0 - weekly_expansion;
            }
        }
    }
    let tickets_90d = WEEKS as f64 * st.ticket_rate(rates, day);
    let h = st.effective_health(day);
    let severe = 0.4 + 0.2 * (1.0 - sigmoid(h));
    let esc = severe * st.escalation_chance(2, day) + (1.0 - severe) * st.escalation_chance(0, day);
    Truth {
        day,
        health: (st.health * 1000.0).round() / 1000.0,
        churn_90d: 1.0 - converts * survive,
        escalation_90d: 1.0 - (-tickets_90d * esc).exp(),
        expansion_90d: expands,
    }
}

/// The account leaves on `day`: a churn event, and every active subscription ends then.
fn churn(rng: &mut SimRng, st: &mut State, life: &mut Life, day: i32) {
    let recent = life.usage.iter().rev().take(20);
    let errors: i64 = recent.map(|u| u.errors).sum();
    let recent_tickets = life.tickets.iter().filter(|t| t.day > day - 120).count() as f64;
    let escalations = life
        .tickets
        .iter()
        .filter(|t| t.day > day - 120 && t.escalated)
        .count() as f64;
    let mrr: f64 = life.active_subs().map(|s| s.mrr).sum();
    let early = st.friction && day - st.signup < 120;
    // Reason weights follow what drove this account down.
    let weights = [
        0.3 + 0.08 * errors as f64 + if early { 1.0 } else { 0.0 }, // features
        0.2 + 0.5 * recent_tickets + 1.5 * escalations,             // support
        0.3 + (-25.0 * st.growth).exp().min(6.0) * 0.4,             // budget
        0.25,                                                       // unknown
        0.3 + st.hidden.max(0.0) * 2.0,                             // competitor
        0.3 + if st.annual { 0.8 } else { 0.2 } + if st.tier == 2 { 0.5 } else { 0.0 }, // pricing
    ];
    let reason = values::REASON_CODES[rng.weighted(&weights)];
    let feedback = if rng.chance(0.45) {
        None
    } else {
        match reason {
            "pricing" | "budget" => Some("too expensive"),
            "features" => Some("missing features"),
            "competitor" => Some("switched to competitor"),
            _ => Some(*rng.pick(&values::FEEDBACK_TEXTS)),
        }
    };
    let refund = if st.annual {
        (mrr * rng.uniform(0.0, 3.0) * 100.0).round() / 100.0
    } else {
        0.0
    };
    life.churns.push(ChurnEvent {
        day,
        reason,
        refund,
        preceding_upgrade: day - st.last_upgrade <= PRECEDING_DAYS,
        preceding_downgrade: day - st.last_downgrade <= PRECEDING_DAYS,
        reactivation: st.reactivated,
        feedback,
    });
    for s in life.subs.iter_mut().filter(|s| s.end.is_none()) {
        debug_assert!(s.start < day, "a subscription would end the day it starts");
        s.end = Some(day);
    }
    st.active = false;
    st.trial_until = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_split_the_features_and_each_has_one_sticky_and_one_error_prone() {
        let mut all: Vec<u8> = MODULES.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (1..=40).collect::<Vec<u8>>());
        for m in 0..MODULES.len() {
            assert!(MODULES[m].contains(&STICKY[m]), "module {m}");
            assert!(MODULES[m].contains(&ERROR_PRONE[m]), "module {m}");
            assert!(!ERROR_PRONE.contains(&STICKY[m]));
            // Sticky features are established ones, not betas.
            assert!(!BETA.contains(&STICKY[m]));
        }
    }
}
