//! The golden record's aggregation stages: subscription status and renewal, the latest
//! account signals, and support load. SQL in `assets/sql/golden/` selects what is known
//! at the as-of date; polars aggregates it per account.
//!
//! Why not all in SQL: at 100,000 accounts these stages took 3.5 s (subscriptions),
//! 2.6 s (renewal), 2.4 s (signals) and 0.8 s (support) as SQLite CTEs; see the
//! README's benchmark table for the figures now.

use anyhow::{Context, Result};
use chrono::NaiveDate;
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

/// Subscription status and renewal calendar per account.
pub fn subscriptions(
    conn: &Connection,
    as_of: NaiveDate,
    accounts: &mut Accounts,
) -> Result<DataFrame> {
    let as_of_s = as_of.format("%Y-%m-%d").to_string();
    let mut stmt =
        conn.prepare_cached(include_str!("../../assets/sql/golden/subscriptions.sql"))?;
    let mut ages = Ages::new(as_of);
    let (mut acc, mut start, mut end, mut tier, mut seats, mut mrr, mut arr) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut up, mut down, mut auto, mut billing) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sub = StringChunkedBuilder::new("sub".into(), 1 << 16);
    let mut q = stmt.query(rusqlite::named_params! {":as_of": as_of_s})?;
    while let Some(r) = q.next()? {
        acc.push(accounts.intern(r.get_ref(0)?.as_str()?));
        start.push(ages.age(r.get_ref(1)?.as_str()?)?);
        end.push(match r.get_ref(2)?.as_str_or_null()? {
            Some(d) => Some(ages.age(d)?),
            None => None,
        });
        tier.push(tier_rank(r.get_ref(3)?.as_str()?));
        seats.push(r.get_ref(4)?.as_i64()?);
        mrr.push(r.get::<_, f64>(5)?);
        arr.push(r.get::<_, f64>(6)?);
        up.push(r.get_ref(7)?.as_i64()?);
        down.push(r.get_ref(8)?.as_i64()?);
        auto.push(r.get_ref(9)?.as_i64()?);
        billing.push(r.get_ref(10)?.as_str()? == "annual");
        sub.append_value(r.get_ref(11)?.as_str()?);
    }
    let n = acc.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("account".into(), acc),
            Column::new("start_age".into(), start),
            Column::new("end_age".into(), end),
            Column::new("tier".into(), tier),
            Column::new("seats".into(), seats),
            Column::new("mrr".into(), mrr),
            Column::new("arr".into(), arr),
            Column::new("up".into(), up),
            Column::new("down".into(), down),
            Column::new("auto".into(), auto),
            Column::new("billing".into(), billing),
            sub.finish().into_column(),
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

/// The latest account-signal snapshot on or before the as-of date (chosen by SQLite).
pub fn signals(conn: &Connection, as_of: NaiveDate, accounts: &mut Accounts) -> Result<DataFrame> {
    let as_of_s = as_of.format("%Y-%m-%d").to_string();
    let mut stmt = conn.prepare_cached(include_str!("../../assets/sql/golden/signals.sql"))?;
    let mut ages = Ages::new(as_of);
    let (mut acc, mut age, mut head, mut dev, mut growth, mut users) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut q = stmt.query(rusqlite::named_params! {":as_of": as_of_s})?;
    while let Some(r) = q.next()? {
        acc.push(accounts.intern(r.get_ref(0)?.as_str()?));
        age.push(ages.age(r.get_ref(1)?.as_str()?)?);
        head.push(r.get::<_, Option<i64>>(2)?);
        dev.push(r.get::<_, Option<i64>>(3)?);
        growth.push(r.get::<_, Option<f64>>(4)?);
        users.push(r.get::<_, Option<i64>>(5)?);
    }
    let df = DataFrame::new(
        acc.len(),
        vec![
            Column::new("account".into(), acc),
            Column::new("age".into(), age),
            Column::new("hris_headcount".into(), head),
            Column::new("managed_devices".into(), dev),
            Column::new("growth_rate_mom".into(), growth),
            Column::new("spend_active_users".into(), users),
        ],
    )?;
    let latest = |c: &str| {
        col(c)
            .sort_by([col("age")], SortMultipleOptions::default())
            .first()
            .alias(c)
    };
    Ok(df
        .lazy()
        .group_by([col("account")])
        .agg([
            latest("hris_headcount"),
            latest("managed_devices"),
            latest("growth_rate_mom"),
            latest("spend_active_users"),
        ])
        .collect()?)
}

/// Support load: 90-day window, tickets open at the end of the as-of date, ratings of closed tickets.
pub fn support(conn: &Connection, as_of: NaiveDate, accounts: &mut Accounts) -> Result<DataFrame> {
    let as_of_s = as_of.format("%Y-%m-%d").to_string();
    let end_of_day = (as_of + chrono::Days::new(1))
        .format("%Y-%m-%d")
        .to_string();
    let mut stmt = conn.prepare_cached(include_str!("../../assets/sql/golden/support.sql"))?;
    let mut ages = Ages::new(as_of);
    let (mut acc, mut age, mut closed, mut severe, mut frt, mut sat, mut esc) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut q = stmt.query(rusqlite::named_params! {":as_of": as_of_s})?;
    while let Some(r) = q.next()? {
        acc.push(accounts.intern(r.get_ref(0)?.as_str()?));
        age.push(ages.age(r.get_ref(1)?.as_str()?)?);
        // Closed by the end of the as-of date (timestamps compare as text).
        closed.push(
            r.get_ref(2)?
                .as_str_or_null()?
                .is_some_and(|c| c < end_of_day.as_str()),
        );
        severe.push(matches!(r.get_ref(3)?.as_str()?, "high" | "urgent"));
        frt.push(r.get::<_, Option<f64>>(4)?);
        sat.push(r.get::<_, Option<f64>>(5)?);
        esc.push(r.get::<_, i64>(6)? == 1);
    }
    let df = DataFrame::new(
        acc.len(),
        vec![
            Column::new("account".into(), acc),
            Column::new("age".into(), age),
            Column::new("closed".into(), closed),
            Column::new("severe".into(), severe),
            Column::new("frt".into(), frt),
            Column::new("sat".into(), sat),
            Column::new("esc".into(), esc),
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

/// The aggregation frames of one as-of date, keyed by interned account.
pub struct StageFrames {
    pub accounts: Accounts,
    pub subscriptions: DataFrame,
    pub signals: DataFrame,
    pub support: DataFrame,
}

/// Compute every polars aggregation stage.
pub fn compute(conn: &Connection, as_of: NaiveDate) -> Result<StageFrames> {
    let mut accounts = Accounts::default();
    let subscriptions = subscriptions(conn, as_of, &mut accounts)?;
    let signals = signals(conn, as_of, &mut accounts)?;
    let support = support(conn, as_of, &mut accounts)?;
    Ok(StageFrames {
        accounts,
        subscriptions,
        signals,
        support,
    })
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
