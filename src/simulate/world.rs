//! The causal model of one account's life, stepped week by week up to the as-of date.
//!
//! A latent health drifts around the account's own level. Health drives usage
//! (volume, duration, breadth, errors), ticket volume and priority, satisfaction,
//! expansion and downgrades, and the weekly churn hazard. Onboarding friction in the
//! first 90 days lowers health and raises early churn; annual contracts concentrate
//! churn around renewal; growing companies (headcount growth, devices without seats)
//! expand. Feature adoption follows correlated clusters. Noise stays in: the hazard
//! also has an unobserved part no model can see.

use super::rng::{SimRng, sigmoid};
use crate::workspace::contract::values;

/// Tuning knobs that set the data's volume (not its causal structure).
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub usage_per_week: f64,
    pub tickets_per_week: f64,
    pub expansions_per_week: f64,
}

/// Features in four adoption clusters: a team using feature_3 tends to use feature_7 and feature_12.
pub const CLUSTERS: [[u8; 10]; 4] = [
    [3, 7, 12, 15, 21, 26, 30, 33, 38, 40],
    [1, 4, 9, 14, 18, 22, 27, 34, 37, 39],
    [2, 5, 6, 10, 13, 19, 23, 28, 31, 35],
    [8, 11, 16, 17, 20, 24, 25, 29, 32, 36],
];
/// Beta features: newer ones in each cluster.
const BETA: [u8; 6] = [33, 37, 31, 36, 40, 39];

pub const TIERS: [&str; 3] = values::PLAN_TIERS;
const PRICE_PER_SEAT: [f64; 3] = [19.0, 49.0, 149.0];

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct Usage {
    pub sub_seq: u32,
    pub day: i32,
    pub feature: u8,
    pub count: i64,
    pub duration: i64,
    pub errors: i64,
    pub beta: bool,
}

#[derive(Debug, Clone)]
pub struct Ticket {
    pub day: i32,
    /// Hours after the submission day's midnight; `None` while open at the as-of date.
    pub closed_after_hours: Option<f64>,
    pub priority: usize,
    pub first_response_min: i64,
    pub satisfaction: Option<f64>,
    pub escalated: bool,
}

#[derive(Debug, Clone)]
pub struct ChurnEvent {
    pub day: i32,
    pub reason: &'static str,
    pub refund: f64,
    pub preceding_upgrade: bool,
    pub preceding_downgrade: bool,
    pub reactivation: bool,
    pub feedback: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Signals {
    pub day: i32,
    pub headcount: i64,
    pub devices: i64,
    pub growth: f64,
    pub active_users: i64,
}

#[derive(Debug, Clone)]
pub struct Truth {
    pub day: i32,
    pub health: f64,
    pub churn_90d: f64,
    pub escalation_90d: f64,
    pub expansion_90d: f64,
}

/// Everything the simulator records about one account.
#[derive(Debug, Clone)]
pub struct Life {
    pub signup: i32,
    pub industry: usize,
    pub country: usize,
    pub referral: usize,
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
}

struct State {
    base: f64,
    health: f64,
    friction: bool,
    growth: f64,
    headcount: f64,
    devices_ratio: f64,
    /// Preferred features, most preferred first.
    taste: Vec<u8>,
    /// Unobserved churn propensity (competitor offers, champion leaving...).
    hidden: f64,
    annual: bool,
    auto_renew: bool,
    tier: usize,
    last_upgrade: i32,
    last_downgrade: i32,
    reactivated: bool,
}

const WEEK: i32 = 7;

fn mrr(tier: usize, seats: i64, annual: bool) -> f64 {
    (seats as f64 * PRICE_PER_SEAT[tier] * if annual { 0.85 } else { 1.0 }).round()
}

/// Days from signup to the next annual renewal (365-day terms).
fn days_to_renewal(signup: i32, day: i32) -> i32 {
    let age = day - signup;
    365 - age.rem_euclid(365)
}

impl State {
    /// Health as it acts this week: onboarding friction weighs on the first 90 days.
    fn effective_health(&self, age: i32) -> f64 {
        if self.friction && age < 90 {
            self.health - 1.2
        } else {
            self.health
        }
    }

    fn seats(&self, subs: &[Sub]) -> i64 {
        subs.iter()
            .filter(|s| s.end.is_none())
            .map(|s| s.seats)
            .sum()
    }

    /// Weekly churn probability, from state only (the oracle uses the same function).
    fn churn_hazard(&self, signup: i32, day: i32, seats: i64) -> f64 {
        let age = day - signup;
        let h = self.effective_health(age);
        let mut rate = 0.0042 * (-1.05 * h + self.hidden - 6.0 * self.growth).exp();
        if self.friction && age < 90 {
            rate *= 2.2;
        }
        if self.annual {
            // Annual customers leave at renewal: mostly in the month before it.
            let to_renewal = days_to_renewal(signup, day);
            rate *= if to_renewal <= 35 {
                if self.auto_renew { 2.5 } else { 5.0 }
            } else {
                0.35
            };
        }
        // Small footprints leave more easily.
        rate *= 1.25 - 0.08 * (seats.max(1) as f64).ln().min(3.0);
        rate.min(0.6)
    }

    fn ticket_rate(&self, rates: &Rates, age: i32) -> f64 {
        let h = self.effective_health(age);
        let onboarding = if age < 90 {
            if self.friction { 2.5 } else { 1.4 }
        } else {
            1.0
        };
        rates.tickets_per_week * (-0.75 * h).exp() * onboarding
    }

    fn escalation_chance(&self, priority: usize, age: i32) -> f64 {
        let h = self.effective_health(age);
        let severe = if priority >= 2 { 1.0 } else { 0.25 };
        (0.02 + 0.3 * severe * (1.0 - sigmoid(h))).min(0.9)
    }

    fn expansion_rate(&self, rates: &Rates, seats: i64) -> f64 {
        let devices = self.headcount * self.devices_ratio;
        let gap = (devices - seats as f64).max(0.0) / seats.max(1) as f64;
        rates.expansions_per_week
            * (0.55 * self.health + 22.0 * self.growth + 0.6 * gap.min(3.0) - 0.2).exp()
    }
}

/// Simulate one account from `signup` to `as_of` (day numbers).
pub fn live(rng: &mut SimRng, signup: i32, as_of: i32, month_ends: &[i32], rates: &Rates) -> Life {
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
    let mut taste: Vec<u8> = Vec::with_capacity(40);
    let primary = (industry + rng.int(0, 2) as usize) % 4;
    let secondary = (primary + 1 + rng.int(0, 3) as usize) % 4;
    for c in [primary, secondary] {
        let mut f = CLUSTERS[c].to_vec();
        rng.shuffle(&mut f);
        taste.extend(f);
    }
    let mut rest: Vec<u8> = (1..=40).filter(|f| !taste.contains(f)).collect();
    rng.shuffle(&mut rest);
    taste.extend(rest);
    let annual = rng.chance(0.4);
    let mut st = State {
        base,
        health: base + 0.3 * rng.normal(),
        friction,
        growth,
        headcount,
        devices_ratio: rng.uniform(0.9, 1.6),
        taste,
        hidden: 0.45 * rng.normal(),
        annual,
        auto_renew: rng.chance(if annual { 0.6 } else { 0.8 }),
        tier,
        last_upgrade: i32::MIN / 2,
        last_downgrade: i32::MIN / 2,
        reactivated: false,
    };

    let trial = rng.chance(0.15);
    let mut life = Life {
        signup,
        industry,
        country,
        referral,
        is_trial: trial && as_of - signup < 30,
        churned: false,
        subs: Vec::new(),
        usage: Vec::new(),
        tickets: Vec::new(),
        churns: Vec::new(),
        signals: Vec::new(),
        truth: Vec::new(),
    };
    let in_trial = life.is_trial;
    let mut seq = 0u32;
    let mut open_sub =
        |life: &mut Life, st: &State, day: i32, seats: i64, upgrade: bool, downgrade: bool| {
            life.subs.push(Sub {
                seq,
                start: day,
                end: None,
                tier: st.tier,
                seats,
                mrr: if in_trial {
                    0.0
                } else {
                    mrr(st.tier, seats, st.annual)
                },
                is_trial: in_trial,
                upgrade,
                downgrade,
                annual: st.annual,
                auto_renew: st.auto_renew,
            });
            seq += 1;
        };
    open_sub(&mut life, &st, signup, seats0, false, false);
    if rng.chance(0.35) {
        let extra = (seats0 / 3).max(1);
        open_sub(&mut life, &st, signup, extra, false, false);
    }

    let mut active = true;
    let mut month_idx = month_ends.partition_point(|&m| m < signup);
    let mut day = signup;
    while day <= as_of {
        let age = day - signup;
        let week_end = (day + WEEK - 1).min(as_of);
        let span = (week_end - day + 1) as f64 / WEEK as f64;
        if active {
            // Company growth and latent health drift.
            st.growth = (st.growth + 0.004 * rng.normal()).clamp(-0.06, 0.1);
            st.headcount *= (1.0 + st.growth).powf(7.0 / 30.4);
            st.health += 0.07 * (st.base - st.health) + 0.22 * rng.normal();
            let h = st.effective_health(age);
            let seats = st.seats(&life.subs).max(1);

            // Usage: volume, duration, breadth and errors follow health.
            let n_usage = rng
                .poisson(rates.usage_per_week * span * (seats as f64).powf(0.15) * (0.6 * h).exp());
            let breadth = (2.0 + 10.0 * sigmoid(h - 0.3)).round() as usize;
            let actives: Vec<u32> = life
                .subs
                .iter()
                .filter(|s| s.end.is_none())
                .map(|s| s.seq)
                .collect();
            for _ in 0..n_usage {
                let mut r = rng.poisson(0.9 * breadth as f64) as usize % breadth;
                if rng.chance(0.08) {
                    r = rng.int(0, 40) as usize;
                }
                let feature = st.taste[r.min(39)];
                let count = (1 + rng.poisson(2.0 + 10.0 * sigmoid(h))).min(26) as i64;
                let duration =
                    (count as f64 * rng.uniform(40.0, 420.0) * (0.5 + sigmoid(h))).round() as i64;
                let err_rate = 0.05
                    + 0.5 * (1.0 - sigmoid(h))
                    + if st.friction && age < 90 { 0.5 } else { 0.0 };
                let errors = rng.poisson(err_rate * (count as f64).sqrt()) as i64;
                life.usage.push(Usage {
                    sub_seq: *rng.pick(&actives),
                    day: day + rng.int(0, (week_end - day + 1) as i64) as i32,
                    feature,
                    count,
                    duration,
                    errors,
                    beta: BETA.contains(&feature),
                });
                // Errors wear health down a little.
                st.health -= 0.01 * errors as f64;
            }

            // Tickets: more and more severe when health is low.
            let n_tickets = rng.poisson(st.ticket_rate(rates, age) * span);
            for _ in 0..n_tickets {
                let bad = 1.0 - sigmoid(h);
                let priority =
                    rng.weighted(&[0.4 - 0.2 * bad, 0.35, 0.15 + 0.2 * bad, 0.05 + 0.2 * bad]);
                let (resp_lo, resp_hi, res_mean) = [
                    (30, 181, 60.0),
                    (15, 121, 36.0),
                    (5, 61, 20.0),
                    (1, 31, 8.0),
                ][priority];
                let first_response_min = rng.int(resp_lo, resp_hi);
                let hours = (1.0 + rng.exponential(res_mean) * (1.0 + bad)).round();
                let escalated = rng.chance(st.escalation_chance(priority, age));
                let tday = day + rng.int(0, (week_end - day + 1) as i64) as i32;
                let closes = tday as f64 + hours / 24.0;
                let closed_after_hours = if closes < (as_of + 1) as f64 {
                    Some(hours)
                } else {
                    None
                };
                let satisfaction = if rng.chance(0.4) {
                    None
                } else {
                    let s = 3.8 + 2.2 * (sigmoid(h) - 0.5)
                        - 0.006 * hours
                        - if escalated { 0.8 } else { 0.0 }
                        + 0.6 * rng.normal();
                    Some(s.round().clamp(1.0, 5.0))
                };
                life.tickets.push(Ticket {
                    day: tday,
                    closed_after_hours,
                    priority,
                    first_response_min,
                    satisfaction,
                    escalated,
                });
                // A bad support experience hurts health.
                st.health -= if escalated { 0.25 } else { 0.03 }
                    + satisfaction.map_or(0.0, |s| (3.0 - s).max(0.0) * 0.05);
            }

            // Expansion: growing companies with unlicensed devices buy more.
            if !in_trial && rng.chance(1.0 - (-st.expansion_rate(rates, seats) * span).exp()) {
                if rng.chance(0.15) && st.tier < 2 {
                    st.tier += 1;
                }
                let devices = st.headcount * st.devices_ratio;
                let gap = (devices - seats as f64).max(1.0);
                let add = ((gap * rng.uniform(0.1, 0.5)).round() as i64).clamp(1, 200);
                open_sub(&mut life, &st, day, add, true, false);
                st.last_upgrade = day;
            }
            // Downgrade: shrinking, unhappy accounts cut seats.
            let down_rate = 0.004 * (-0.9 * h - 20.0 * st.growth).exp();
            if !in_trial && rng.chance(down_rate * span) {
                let biggest = life
                    .subs
                    .iter()
                    .filter(|s| s.end.is_none() && s.seats > 1)
                    .max_by_key(|s| s.seats)
                    .map(|s| s.seq);
                if let Some(q) = biggest {
                    // At the week's end, so this week's usage still falls inside the old term.
                    let old = life
                        .subs
                        .iter_mut()
                        .find(|s| s.seq == q)
                        .expect("active sub");
                    old.end = Some(week_end);
                    let kept = (old.seats as f64 * rng.uniform(0.4, 0.8)).round().max(1.0) as i64;
                    if rng.chance(0.2) && st.tier > 0 {
                        st.tier -= 1;
                    }
                    open_sub(&mut life, &st, week_end, kept, false, true);
                    st.last_downgrade = week_end;
                }
            }
        }

        // Month-ends passed this week: signals snapshot and ground truth.
        while month_idx < month_ends.len() && month_ends[month_idx] <= week_end {
            let m = month_ends[month_idx];
            month_idx += 1;
            if !active {
                continue;
            }
            let seats = st.seats(&life.subs).max(1);
            let h = st.effective_health(m - signup);
            let util = (0.25 + 0.7 * sigmoid(1.2 * h) + 0.05 * rng.normal()).clamp(0.05, 1.0);
            life.signals.push(Signals {
                day: m,
                headcount: st.headcount.round() as i64,
                devices: (st.headcount * st.devices_ratio).round() as i64,
                growth: ((st.growth + 0.01 * rng.normal()) * 1000.0).round() / 1000.0,
                active_users: (seats as f64 * util).round() as i64,
            });
            let mut survive = 1.0;
            for k in 0..13 {
                survive *= 1.0 - st.churn_hazard(signup, m + WEEK * k, seats);
            }
            let age = m - signup;
            let tickets_90d = 13.0 * st.ticket_rate(rates, age);
            let severe = 0.4 + 0.2 * (1.0 - sigmoid(h));
            let esc = severe * st.escalation_chance(2, age)
                + (1.0 - severe) * st.escalation_chance(0, age);
            life.truth.push(Truth {
                day: m,
                health: (st.health * 1000.0).round() / 1000.0,
                churn_90d: 1.0 - survive,
                escalation_90d: 1.0 - (-tickets_90d * esc).exp(),
                expansion_90d: if in_trial {
                    0.0
                } else {
                    1.0 - (-13.0 * st.expansion_rate(rates, seats)).exp()
                },
            });
        }

        if active {
            let seats = st.seats(&life.subs).max(1);
            let p = st.churn_hazard(signup, day, seats) * span;
            if rng.chance(p) {
                let cday = day + rng.int(0, (week_end - day + 1) as i64) as i32;
                churn(rng, &mut st, &mut life, cday, age);
                active = false;
            }
        } else if !st.reactivated && rng.chance(0.006 * span) {
            // A few churned customers come back.
            st.reactivated = true;
            st.health = st.base + 0.5;
            st.hidden -= 0.3;
            let seats = rng.int(1, 20);
            open_sub(&mut life, &st, day, seats, false, false);
            active = true;
        }
        day += WEEK;
    }
    life.churned = !active;
    life
}

fn churn(rng: &mut SimRng, st: &mut State, life: &mut Life, day: i32, age: i32) {
    let recent = life.usage.iter().rev().take(20);
    let errors: i64 = recent.map(|u| u.errors).sum();
    let recent_tickets = life.tickets.iter().filter(|t| t.day > day - 120).count() as f64;
    let escalations = life
        .tickets
        .iter()
        .filter(|t| t.day > day - 120 && t.escalated)
        .count() as f64;
    let mrr: f64 = life
        .subs
        .iter()
        .filter(|s| s.end.is_none())
        .map(|s| s.mrr)
        .sum();
    // Reason weights follow what drove this account down.
    let weights = [
        0.3 + 0.08 * errors as f64 + if st.friction && age < 120 { 1.0 } else { 0.0 }, // features
        0.2 + 0.5 * recent_tickets + 1.5 * escalations,                                // support
        0.3 + (-25.0 * st.growth).exp().min(6.0) * 0.4,                                // budget
        0.25,                                                                          // unknown
        0.3 + st.hidden.max(0.0) * 2.0,                                                // competitor
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
        preceding_upgrade: day - st.last_upgrade <= 90,
        preceding_downgrade: day - st.last_downgrade <= 90,
        reactivation: st.reactivated,
        feedback,
    });
    // Nothing of this account's week happens after it left.
    life.usage.retain(|u| u.day <= day);
    life.tickets.retain(|t| t.day <= day);
    life.truth.retain(|t| t.day < day);
    life.signals.retain(|s| s.day < day);
    for s in life.subs.iter_mut() {
        if s.start > day {
            s.start = day;
        }
        if s.end.is_none_or(|e| e > day) {
            s.end = Some(day);
        }
    }
}
