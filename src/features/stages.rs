//! The golden record's aggregation stages: subscription status and renewal, the latest
//! account signals, and support load. SQL in `assets/sql/golden/` selects what is known
//! at the as-of date; polars aggregates it per account.
//!
//! Why not all in SQL: at 100,000 accounts these stages took 3.5 s (subscriptions),
//! 2.6 s (renewal), 2.4 s (signals) and 0.8 s (support) as SQLite CTEs; see the
//! README's benchmark table for the figures now.

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use rusqlite::Connection;

/// Interns account ids so frames group on integers.
#[derive(Default)]
pub struct Accounts {
    index: PlHashMap<String, u32>,
    pub ids: Vec<String>,
}

impl Accounts {
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.index.insert(id.to_string(), i);
        self.ids.push(id.to_string());
        i
    }
}

/// Days from a stored date (`YYYY-MM-DD...`) to the as-of date, cached per distinct date.
pub struct Ages {
    as_of: NaiveDate,
    cache: PlHashMap<String, i32>,
}

impl Ages {
    pub fn new(as_of: NaiveDate) -> Self {
        Ages {
            as_of,
            cache: PlHashMap::default(),
        }
    }

    pub fn age(&mut self, date: &str) -> Result<i32> {
        let key = &date[..date.len().min(10)];
        if let Some(&a) = self.cache.get(key) {
            return Ok(a);
        }
        let d = NaiveDate::parse_from_str(key, "%Y-%m-%d")
            .with_context(|| format!("{date:?} is not a date"))?;
        let a = (self.as_of - d).num_days() as i32;
        self.cache.insert(key.to_string(), a);
        Ok(a)
    }
}

fn tier_rank(tier: &str) -> i64 {
    match tier {
        "Enterprise" => 3,
        "Pro" => 2,
        "Basic" => 1,
        _ => 0,
    }
}

/// A stored date's day number, or an error naming the column and value.
use crate::workspace::dates::stored_day as day;

/// The subscriptions started by a batch's last date, by start day.
struct Subscriptions {
    account: Vec<u32>,
    start: Vec<i32>,
    end: Vec<Option<i32>>,
    tier: Vec<i64>,
    seats: Vec<i64>,
    mrr: Vec<f64>,
    arr: Vec<f64>,
    up: Vec<i64>,
    down: Vec<i64>,
    auto: Vec<i64>,
    annual: Vec<bool>,
    /// Rank of the subscription id: ties on the start date go by id.
    rank: Vec<u32>,
}

fn read_subscriptions(
    conn: &Connection,
    upto: NaiveDate,
    accounts: &mut Accounts,
) -> Result<Subscriptions> {
    let mut stmt =
        conn.prepare_cached(include_str!("../../assets/sql/golden/subscriptions.sql"))?;
    let mut t = Subscriptions {
        account: Vec::new(),
        start: Vec::new(),
        end: Vec::new(),
        tier: Vec::new(),
        seats: Vec::new(),
        mrr: Vec::new(),
        arr: Vec::new(),
        up: Vec::new(),
        down: Vec::new(),
        auto: Vec::new(),
        annual: Vec::new(),
        rank: Vec::new(),
    };
    let mut ids: Vec<String> = Vec::new();
    let mut q = stmt.query(rusqlite::named_params! {":as_of": date_str(upto)})?;
    while let Some(r) = q.next()? {
        t.account.push(accounts.intern(r.get_ref(0)?.as_str()?));
        t.start
            .push(day("subscriptions.start_date", r.get_ref(1)?.as_str()?)?);
        t.end.push(match r.get_ref(2)?.as_str_or_null()? {
            Some(d) => Some(day("subscriptions.end_date", d)?),
            None => None,
        });
        t.tier.push(tier_rank(r.get_ref(3)?.as_str()?));
        t.seats.push(r.get_ref(4)?.as_i64()?);
        t.mrr.push(r.get::<_, f64>(5)?);
        t.arr.push(r.get::<_, f64>(6)?);
        t.up.push(r.get_ref(7)?.as_i64()?);
        t.down.push(r.get_ref(8)?.as_i64()?);
        t.auto.push(r.get_ref(9)?.as_i64()?);
        t.annual.push(r.get_ref(10)?.as_str()? == "annual");
        ids.push(r.get_ref(11)?.as_str()?.to_string());
    }
    let mut by_id: Vec<usize> = (0..ids.len()).collect();
    by_id.sort_unstable_by(|&a, &b| ids[a].cmp(&ids[b]));
    t.rank = vec![0; ids.len()];
    for (rank, &i) in by_id.iter().enumerate() {
        t.rank[i] = rank as u32;
    }
    // By start day: the subscriptions started by a date are a prefix.
    let order = sorted_by_key(&t.start);
    t.account = permute(&t.account, &order);
    t.start = permute(&t.start, &order);
    t.end = permute(&t.end, &order);
    t.tier = permute(&t.tier, &order);
    t.seats = permute(&t.seats, &order);
    t.mrr = permute(&t.mrr, &order);
    t.arr = permute(&t.arr, &order);
    t.up = permute(&t.up, &order);
    t.down = permute(&t.down, &order);
    t.auto = permute(&t.auto, &order);
    t.annual = permute(&t.annual, &order);
    t.rank = permute(&t.rank, &order);
    Ok(t)
}

/// Row order that sorts `keys` (stable).
fn sorted_by_key<K: Ord + Copy>(keys: &[K]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    order
}

/// `v` in the row order `order`.
pub(super) fn permute<T: Clone>(v: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|&i| v[i].clone()).collect()
}

fn date_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Subscription status and renewal calendar per account as of `as_of`.
fn subscriptions(t: &Subscriptions, as_of: NaiveDate) -> Result<DataFrame> {
    let today = as_of.num_days_from_ce();
    // Started by the as-of date. One that ends later counts as active then: its end is
    // future data.
    let n = t.start.partition_point(|&d| d <= today);
    let age = |d: &i32| today - d;
    let df = DataFrame::new(
        n,
        vec![
            Column::new("account".into(), &t.account[..n]),
            Column::new(
                "start_age".into(),
                t.start[..n].iter().map(age).collect::<Vec<i32>>(),
            ),
            Column::new(
                "end_age".into(),
                t.end[..n]
                    .iter()
                    .map(|e| e.as_ref().map(age))
                    .collect::<Vec<Option<i32>>>(),
            ),
            Column::new("tier".into(), &t.tier[..n]),
            Column::new("seats".into(), &t.seats[..n]),
            Column::new("mrr".into(), &t.mrr[..n]),
            Column::new("arr".into(), &t.arr[..n]),
            Column::new("up".into(), &t.up[..n]),
            Column::new("down".into(), &t.down[..n]),
            Column::new("auto".into(), &t.auto[..n]),
            Column::new("billing".into(), &t.annual[..n]),
            Column::new("sub".into(), &t.rank[..n]),
        ],
    )?;
    // Active at the as-of date: started by then (the query) and not ended by then.
    let active = || col("end_age").is_null().or(col("end_age").lt(lit(0)));
    let active_90d_ago = || {
        col("start_age")
            .gt_eq(lit(90))
            .and(col("end_age").is_null().or(col("end_age").lt(lit(90))))
    };
    let sum_if = |c: &str, cond: Expr| col(c).filter(cond).sum();
    // The oldest active subscription sets the renewal calendar: rows are sorted oldest
    // first (ties by subscription id), and group-by keeps row order within a group.
    let oldest = |c: &str| col(c).filter(active()).first();
    let out = df
        .lazy()
        .sort_by_exprs(
            [col("start_age"), col("sub")],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, false])
                .with_maintain_order(true),
        )
        .group_by([col("account")])
        .agg([
            len().cast(DataType::Int64).alias("started"),
            active()
                .cast(DataType::Int64)
                .sum()
                .alias("active_product_count"),
            sum_if("seats", active()).alias("seats"),
            sum_if("mrr", active()).alias("total_mrr"),
            sum_if("arr", active()).alias("total_arr"),
            sum_if("mrr", active_90d_ago()).alias("mrr_90d_ago"),
            sum_if(
                "up",
                col("up").eq(lit(1)).and(col("start_age").lt(lit(365))),
            )
            .alias("upgrade_count_12m"),
            sum_if(
                "down",
                col("down").eq(lit(1)).and(col("start_age").lt(lit(365))),
            )
            .alias("downgrade_count_12m"),
            col("auto").filter(active()).min().alias("auto_renew"),
            col("tier").filter(active()).max().alias("tier_rank"),
            oldest("billing").alias("annual"),
            oldest("start_age").alias("renewal_age"),
        ])
        .with_columns([
            when(col("annual").is_null())
                .then(lit(NULL).cast(DataType::String))
                .when(col("annual"))
                .then(lit("annual"))
                .otherwise(lit("monthly"))
                .alias("billing_frequency"),
            when(col("annual"))
                .then(lit(365) - col("renewal_age") % lit(365))
                .otherwise(lit(30) - col("renewal_age") % lit(30))
                .cast(DataType::Int64)
                .alias("days_to_next_renewal"),
        ])
        .drop(by_name(["annual", "renewal_age"], true, false))
        .collect()?;
    Ok(out)
}

/// Every account-signal snapshot up to a batch's last date, by account then day.
struct Signals {
    account: Vec<u32>,
    day: Vec<i32>,
    head: Vec<Option<i64>>,
    dev: Vec<Option<i64>>,
    growth: Vec<Option<f64>>,
    users: Vec<Option<i64>>,
}

fn read_signals(conn: &Connection, upto: NaiveDate, accounts: &mut Accounts) -> Result<Signals> {
    let mut stmt = conn.prepare_cached(include_str!("../../assets/sql/golden/signals.sql"))?;
    let mut t = Signals {
        account: Vec::new(),
        day: Vec::new(),
        head: Vec::new(),
        dev: Vec::new(),
        growth: Vec::new(),
        users: Vec::new(),
    };
    let mut q = stmt.query(rusqlite::named_params! {":as_of": date_str(upto)})?;
    while let Some(r) = q.next()? {
        t.account.push(accounts.intern(r.get_ref(0)?.as_str()?));
        t.day.push(day(
            "account_signals.snapshot_date",
            r.get_ref(1)?.as_str()?,
        )?);
        t.head.push(r.get::<_, Option<i64>>(2)?);
        t.dev.push(r.get::<_, Option<i64>>(3)?);
        t.growth.push(r.get::<_, Option<f64>>(4)?);
        t.users.push(r.get::<_, Option<i64>>(5)?);
    }
    let keys: Vec<(u32, i32)> = t
        .account
        .iter()
        .copied()
        .zip(t.day.iter().copied())
        .collect();
    let order = sorted_by_key(&keys);
    Ok(Signals {
        account: permute(&t.account, &order),
        day: permute(&t.day, &order),
        head: permute(&t.head, &order),
        dev: permute(&t.dev, &order),
        growth: permute(&t.growth, &order),
        users: permute(&t.users, &order),
    })
}

/// The latest account-signal snapshot on or before the as-of date, per account.
fn signals(t: &Signals, as_of: NaiveDate) -> Result<DataFrame> {
    let today = as_of.num_days_from_ce();
    // Rows run by account then day: an account's latest is the last row of its run dated
    // by the as-of date.
    let mut latest: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < t.account.len() {
        let mut j = i;
        let mut pick = None;
        while j < t.account.len() && t.account[j] == t.account[i] {
            if t.day[j] <= today {
                pick = Some(j);
            }
            j += 1;
        }
        latest.extend(pick);
        i = j;
    }
    Ok(DataFrame::new(
        latest.len(),
        vec![
            Column::new("account".into(), permute(&t.account, &latest)),
            Column::new("hris_headcount".into(), permute(&t.head, &latest)),
            Column::new("managed_devices".into(), permute(&t.dev, &latest)),
            Column::new("growth_rate_mom".into(), permute(&t.growth, &latest)),
            Column::new("spend_active_users".into(), permute(&t.users, &latest)),
        ],
    )?)
}

/// The support tickets submitted by a batch's last date, by the first as-of date that
/// sees them.
struct Tickets {
    account: Vec<u32>,
    /// The first as-of day whose record counts the ticket: a ticket counts once its
    /// `submitted_at` sorts at or before the as-of date as text, so a timestamp on the as-of
    /// day itself counts from the next day.
    seen_from: Vec<i32>,
    submitted: Vec<i32>,
    closed: Vec<Option<i32>>,
    severe: Vec<bool>,
    frt: Vec<Option<f64>>,
    sat: Vec<Option<f64>>,
    esc: Vec<bool>,
}

fn read_tickets(conn: &Connection, upto: NaiveDate, accounts: &mut Accounts) -> Result<Tickets> {
    let mut stmt = conn.prepare_cached(include_str!("../../assets/sql/golden/support.sql"))?;
    let mut t = Tickets {
        account: Vec::new(),
        seen_from: Vec::new(),
        submitted: Vec::new(),
        closed: Vec::new(),
        severe: Vec::new(),
        frt: Vec::new(),
        sat: Vec::new(),
        esc: Vec::new(),
    };
    let mut q = stmt.query(rusqlite::named_params! {":as_of": date_str(upto)})?;
    while let Some(r) = q.next()? {
        t.account.push(accounts.intern(r.get_ref(0)?.as_str()?));
        let submitted_at = r.get_ref(1)?.as_str()?;
        let submitted = day("support_tickets.submitted_at", submitted_at)?;
        t.submitted.push(submitted);
        t.seen_from
            .push(submitted + i32::from(submitted_at.len() > 10));
        t.closed.push(match r.get_ref(2)?.as_str_or_null()? {
            Some(c) => Some(day("support_tickets.closed_at", c)?),
            None => None,
        });
        t.severe
            .push(matches!(r.get_ref(3)?.as_str()?, "high" | "urgent"));
        t.frt.push(r.get::<_, Option<f64>>(4)?);
        t.sat.push(r.get::<_, Option<f64>>(5)?);
        t.esc.push(r.get::<_, i64>(6)? == 1);
    }
    let order = sorted_by_key(&t.seen_from);
    Ok(Tickets {
        account: permute(&t.account, &order),
        seen_from: permute(&t.seen_from, &order),
        submitted: permute(&t.submitted, &order),
        closed: permute(&t.closed, &order),
        severe: permute(&t.severe, &order),
        frt: permute(&t.frt, &order),
        sat: permute(&t.sat, &order),
        esc: permute(&t.esc, &order),
    })
}

/// Support load: 90-day window, tickets open at the end of the as-of date, ratings of closed tickets.
fn support(t: &Tickets, as_of: NaiveDate) -> Result<DataFrame> {
    let today = as_of.num_days_from_ce();
    let n = t.seen_from.partition_point(|&d| d <= today);
    let df = DataFrame::new(
        n,
        vec![
            Column::new("account".into(), &t.account[..n]),
            Column::new(
                "age".into(),
                t.submitted[..n]
                    .iter()
                    .map(|d| today - d)
                    .collect::<Vec<i32>>(),
            ),
            // Closed by the end of the as-of date.
            Column::new(
                "closed".into(),
                t.closed[..n]
                    .iter()
                    .map(|c| c.is_some_and(|c| c <= today))
                    .collect::<Vec<bool>>(),
            ),
            Column::new("severe".into(), &t.severe[..n]),
            Column::new("frt".into(), &t.frt[..n]),
            Column::new("sat".into(), &t.sat[..n]),
            Column::new("esc".into(), &t.esc[..n]),
        ],
    )?;
    let recent = || col("age").lt(lit(90));
    let count = |cond: Expr| cond.cast(DataType::Int64).sum();
    Ok(df
        .lazy()
        .group_by([col("account")])
        .agg([
            count(recent()).alias("total_tickets_90d"),
            count(recent().and(col("severe"))).alias("high_priority_tickets"),
            // The data has no escalation time: a flag counts as known when the ticket is submitted.
            count(recent().and(col("esc"))).alias("escalations_90d"),
            count(col("closed").not()).alias("open_tickets"),
            // Hours from the oldest open ticket's submission day to the end of the as-of date.
            ((col("age").filter(col("closed").not()).max() + lit(1)) * lit(24))
                .cast(DataType::Float64)
                .alias("oldest_open_ticket_hours"),
            // A rating exists only once the ticket is closed: later ratings are future data.
            col("sat")
                .filter(recent().and(col("closed")))
                .mean()
                .alias("avg_satisfaction"),
            col("frt")
                .filter(recent())
                .mean()
                .alias("avg_first_response_minutes"),
            len().cast(DataType::Int64).alias("tickets_since_signup"),
        ])
        .collect()?)
}

/// A frame column as typed, single-chunk values for fast row access.
enum Typed {
    Str(StringChunked),
    Int(Int64Chunked),
    Real(Float64Chunked),
}

impl Typed {
    fn of(c: &Column) -> Result<Typed> {
        Ok(match c.dtype() {
            DataType::String => Typed::Str(c.str()?.rechunk().into_owned()),
            DataType::Float32 | DataType::Float64 => {
                Typed::Real(c.cast(&DataType::Float64)?.f64()?.rechunk().into_owned())
            }
            _ => Typed::Int(c.cast(&DataType::Int64)?.i64()?.rechunk().into_owned()),
        })
    }

    fn value(&self, i: usize) -> rusqlite::types::ValueRef<'_> {
        use rusqlite::types::ValueRef;
        match self {
            Typed::Str(c) => c
                .get(i)
                .map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes())),
            Typed::Int(c) => c.get(i).map_or(ValueRef::Null, ValueRef::Integer),
            Typed::Real(c) => c.get(i).map_or(ValueRef::Null, ValueRef::Real),
        }
    }
}

/// The aggregation frames of one as-of date, keyed by interned account (`ids`).
pub struct StageFrames {
    pub ids: Vec<String>,
    pub subscriptions: DataFrame,
    pub signals: DataFrame,
    pub support: DataFrame,
}

/// The rows the stages aggregate, read once for every as-of date up to `upto`: a batch of
/// month-ends costs one read of each table (at 100,000 accounts each read took 0.2-0.3 s,
/// three quarters of a stage's time).
pub struct StageTables {
    accounts: Accounts,
    subscriptions: Subscriptions,
    signals: Signals,
    tickets: Tickets,
    upto: NaiveDate,
}

impl StageTables {
    pub fn load(conn: &Connection, upto: NaiveDate) -> Result<StageTables> {
        let mut accounts = Accounts::default();
        let subscriptions = read_subscriptions(conn, upto, &mut accounts)?;
        let signals = read_signals(conn, upto, &mut accounts)?;
        let tickets = read_tickets(conn, upto, &mut accounts)?;
        Ok(StageTables {
            accounts,
            subscriptions,
            signals,
            tickets,
            upto,
        })
    }

    /// Every polars aggregation stage as of `as_of` (at most the date loaded up to).
    pub fn frames(&self, as_of: NaiveDate) -> Result<StageFrames> {
        if as_of > self.upto {
            anyhow::bail!(
                "the stage tables hold rows up to {}, not {as_of}",
                self.upto
            );
        }
        Ok(StageFrames {
            ids: self.accounts.ids.clone(),
            subscriptions: subscriptions(&self.subscriptions, as_of)?,
            signals: signals(&self.signals, as_of)?,
            support: support(&self.tickets, as_of)?,
        })
    }
}

/// Compute every polars aggregation stage for one date.
pub fn compute(conn: &Connection, as_of: NaiveDate) -> Result<StageFrames> {
    StageTables::load(conn, as_of)?.frames(as_of)
}

/// Accounts signed up by the as-of date, with their identity columns and age in days.
pub fn accounts(conn: &Connection, as_of: NaiveDate) -> Result<DataFrame> {
    let as_of_s = as_of.format("%Y-%m-%d").to_string();
    let mut stmt = conn.prepare_cached(include_str!("../../assets/sql/golden/accounts.sql"))?;
    let names = [
        "account_id",
        "account_name",
        "owner",
        "industry",
        "country",
        "referral_source",
        "listed_tier",
    ];
    let mut text: Vec<StringChunkedBuilder> = names
        .iter()
        .map(|n| StringChunkedBuilder::new((*n).into(), 1024))
        .collect();
    let mut days = Vec::new();
    let mut ages = Ages::new(as_of);
    let mut q = stmt.query(rusqlite::named_params! {":as_of": as_of_s})?;
    while let Some(r) = q.next()? {
        for (i, b) in text.iter_mut().enumerate() {
            b.append_option(r.get_ref(i)?.as_str_or_null()?);
        }
        days.push(ages.age(r.get_ref(7)?.as_str()?)? as i64);
    }
    let mut cols: Vec<Column> = text.into_iter().map(|b| b.finish().into_column()).collect();
    cols.push(Column::new("days_since_signup".into(), days));
    Ok(DataFrame::new_infer_height(cols)?)
}

/// Replace the interned `account` column by the `account_id` strings.
pub fn with_account_ids(df: &DataFrame, ids: &[String]) -> Result<DataFrame> {
    let account = df.column("account")?.u32()?;
    let mut b = StringChunkedBuilder::new("account_id".into(), df.height());
    for a in account.iter() {
        b.append_option(a.map(|i| ids[i as usize].as_str()));
    }
    let mut out = df.drop("account")?;
    out.with_column(b.finish().into_column())?;
    Ok(out)
}

/// Insert every row of `df` into `table` (columns by name), with an optional leading `as_of`.
pub fn insert_frame(
    conn: &Connection,
    table: &str,
    as_of: Option<&str>,
    df: &DataFrame,
) -> Result<()> {
    let typed: Vec<(&str, Typed)> = df
        .columns()
        .iter()
        .map(|c| Ok((c.name().as_str(), Typed::of(c)?)))
        .collect::<Result<_>>()?;
    let mut names: Vec<&str> = as_of.map(|_| "as_of").into_iter().collect();
    names.extend(typed.iter().map(|(n, _)| *n));
    let placeholders = vec!["?"; names.len()].join(", ");
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {table} ({}) VALUES ({placeholders})",
        names.join(", ")
    ))?;
    let mut row: Vec<rusqlite::types::ValueRef<'_>> = Vec::with_capacity(names.len());
    for i in 0..df.height() {
        row.clear();
        if let Some(d) = as_of {
            row.push(rusqlite::types::ValueRef::Text(d.as_bytes()));
        }
        row.extend(typed.iter().map(|(_, t)| t.value(i)));
        insert.execute(rusqlite::params_from_iter(
            row.iter()
                .map(|v| rusqlite::types::ToSqlOutput::Borrowed(*v)),
        ))?;
    }
    Ok(())
}
